/* accelmon-audit internals: reading record files and accounting what each
 * accelerator did (audit_read.c), and writing the report (audit_out.c).
 * State is kept per device and per series, never per sample, so memory does
 * not grow with the length of the input. Tests drive this API directly.
 */
#ifndef ACCELMON_AUDIT_H
#define ACCELMON_AUDIT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define AUDIT_HEAT_BUCKETS 96

enum audit_metric {
	AUDIT_BUSY = 0, /* accel_busy_seconds_total */
	AUDIT_SM,	/* accel_sm_active_seconds_total */
	AUDIT_TENSOR,	/* accel_tensor_active_seconds_total */
	AUDIT_ENERGY,	/* accel_energy_joules_total */
	AUDIT_MEM,	/* accel_memory_used_bytes (gauge) */
	AUDIT_NMETRICS,
	AUDIT_INFO = AUDIT_NMETRICS, /* accel_info (model label) */
};

struct audit_totals {
	unsigned devices;
	double observed_s, busy_s, sm_s, tensor_s, idle_s;
	double energy_j, idle_energy_j, peak_mem;
	bool has_sm, has_tensor, has_energy, has_mem;
	uint64_t resets, gaps, clock_jumps;
	double gap_s;
};

struct audit_device {
	char *node, *device, *uuid, *model;
	/* a job on a device (accel_job_* series, collectors/attribution.md):
	 * device is then "<device>/<kind>/<job>"; NULL for devices */
	char *job, *kind, *user, *jobkey; /* jobkey: "<kind>/<job>" */
	char *ns; /* a pod's namespace (accel_job_info), NULL otherwise */
	char *tenant_user; /* "user:<uid>": the tenant of a job not a pod */
	struct audit_totals t;
	/* accounting state */
	int64_t last_ms; /* time of the previous sample, INT64_MIN: none */
	uint64_t run_id; /* agent run of the previous sample */
	/* where in its run the previous sample was: (file_seq, batch seq),
	 * strictly increasing within one run whatever the clock does */
	uint64_t last_fseq, last_bseq;
	bool has_pos;
	double prev[AUDIT_NMETRICS], cur[AUDIT_NMETRICS];
	double carry[AUDIT_NMETRICS]; /* time counters: over the last interval */
	unsigned prev_mask, cur_mask;
	bool touched;
	float heat_busy[AUDIT_HEAT_BUCKETS], heat_obs[AUDIT_HEAT_BUCKETS];
};

struct audit_group {
	char *name; /* node or model */
	struct audit_totals t;
	float heat_busy[AUDIT_HEAT_BUCKETS], heat_obs[AUDIT_HEAT_BUCKETS];
};

struct audit_opts {
	int64_t from_ms, to_ms; /* INT64_MIN / INT64_MAX: open */
	double idle_below;	/* busy fraction below which an interval is idle */
	unsigned top;		/* least-used nodes listed */
	double gap_intervals;	/* a step longer than this many intervals is a gap */
};

struct audit_input {
	uint64_t files, files_failed, frames, batches;
	uint64_t samples;	 /* values of every series in the batches read */
	uint64_t device_samples; /* of those, the ones the report uses */
	uint64_t corrupt_regions, corrupt_bytes, torn_tails, bad_records;
	uint64_t skipped_batches;
	uint64_t duplicate_files; /* same (node, run, file_seq) read before */
	uint64_t overlap_batches; /* batches of a run already counted */
};

struct audit {
	struct audit_opts o;
	struct audit_input in;
	struct audit_device **dev;
	size_t ndev, devcap;
	void *index; /* (node, device) -> device */
	void *seen;  /* (node, run_id, file_seq) of the files read */
	/* per-file scratch */
	struct audit_device **touched;
	size_t ntouched, touchedcap;
	/* heat map: bucket i covers [origin + i*w, origin + (i+1)*w) */
	int64_t heat_origin_ms, heat_w_ms;
	int64_t first_ms, last_ms; /* span of counted intervals */
	bool skipped;		   /* something was not read: exit status 1 */
	FILE *warn;		   /* warnings (stderr; NULL: silent) */
	/* after audit_finish */
	struct audit_group total;
	struct audit_group *nodes, *models;
	size_t nnodes, nmodels;
	/* jobs on devices, from the accel_job_* series: observed is the time
	 * held, idle the held time below idle_below; rolled up per job
	 * ("<kind>/<job>"), per user (uid) and per tenant (a pod's
	 * namespace, else "user:<uid>") */
	struct audit_device **jdev;
	size_t njdev, jdevcap;
	void *jindex;
	struct audit_group *jobs, *users, *tenants;
	size_t njobs, nusers, ntenants;
};

void audit_init(struct audit *a, const struct audit_opts *o);
void audit_free(struct audit *a);

/* Read one record file; problems are warnings (a->skipped set). Files of the
 * same node must come in time order: audit_sort_files() does that. */
int audit_file(struct audit *a, const char *path);

/* Reorder paths by (node, start time) from their headers; files whose header
 * cannot be read go last. Sets the heat map origin to the earliest start. */
void audit_sort_files(struct audit *a, char **paths, size_t n);

/* Roll devices up into nodes, models and the total. */
int audit_finish(struct audit *a);

double audit_period_s(const struct audit *a);

enum audit_format { AUDIT_TABLE, AUDIT_CSV, AUDIT_JSON, AUDIT_HTML };
int audit_write(const struct audit *a, enum audit_format f, FILE *out);

#endif
