/* smi collector, internal interfaces: the profile model (what a vendor tool
 * is asked and how its output maps onto the schema), the small YAML tree the
 * profiles are read from (built-in text and user config alike), the output
 * parsers (csv, json, kv, columns) and the tool runner. See collectors/smi.md.
 */
#ifndef ACCELMON_SMI_H
#define ACCELMON_SMI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "accelmon/collector.h"

#define SMI_MAX_DEVICES 64
#define SMI_MAX_FIELDS 64
#define SMI_MAX_QUERIES 8
#define SMI_MAX_ARGS 32
#define SMI_MAX_VARS 4
#define SMI_OUT_CAP (1u << 20) /* stdout kept of one run */

/* ---- profiles ---- */

enum smi_format { SMI_CSV = 1, SMI_JSON, SMI_KV, SMI_COLUMNS };

/* What a field feeds: the vendor-neutral families (and a few RoCE ones of
 * the smi collector's own, for hccn_tool). */
enum smi_metric {
	SMI_M_NONE = 0,	      /* index / var only */
	SMI_M_INFO,	      /* text for an accel_info label (label: model, ...) */
	SMI_M_UUID,	      /* the device's uuid label */
	SMI_M_UTIL,	      /* accel_utilization_ratio + accel_busy_seconds_total */
	SMI_M_MEM_BW_UTIL,    /* accel_memory_bandwidth_utilization_ratio */
	SMI_M_MEM_USED,	      /* accel_memory_used_bytes */
	SMI_M_MEM_TOTAL,      /* accel_memory_total_bytes */
	SMI_M_MEM_USED_RATIO, /* used = ratio x total (tools that print a %) */
	SMI_M_POWER,	      /* accel_power_watts (+ energy) */
	SMI_M_POWER_LIMIT,    /* accel_power_limit_watts */
	SMI_M_TEMP,	      /* accel_temperature_celsius{sensor=label} */
	SMI_M_CLOCK,	      /* accel_clock_hertz{clock=label} */
	SMI_M_ENGINE_UTIL,    /* accel_engine_utilization_ratio{engine=label} */
	SMI_M_ECC,	      /* accel_ecc_errors_total{type=label} */
	SMI_M_HEALTH,	      /* accel_up from a health word (OK/True/UP...) */
	SMI_M_PORT_UP,	      /* fabric_port_up (UP/DOWN, 1/0) */
	SMI_M_PORT_SPEED,     /* fabric_port_link_speed_bytes_per_second */
	SMI_M_PORT_TX_PKTS,   /* fabric_port_transmit_packets_total */
	SMI_M_PORT_RX_PKTS,
	SMI_M_PORT_TX_BYTES,
	SMI_M_PORT_RX_BYTES,
	SMI_M_PORT_ERRORS, /* fabric_port_errors_total{type=label} */
	SMI_M_ROCE_PAUSE,  /* fabric_roce_pause_frames_total{direction=label} */
	SMI_M_ROCE_PFC,	   /* fabric_roce_pfc_frames_total{direction=label} */
	SMI_M_ROCE_CNP,	   /* fabric_roce_cnp_packets_total{direction=label} */
	SMI_M_ROCE_ECN,	   /* fabric_roce_ecn_packets_total */
	SMI_M_ROCE_RETRY,  /* fabric_roce_retries_total */
	SMI_M__COUNT
};

/* Dimensions of units: a value's printed unit must be of its metric's. */
enum smi_dim {
	SMI_D_TEXT = 0,
	SMI_D_COUNT,
	SMI_D_RATIO,
	SMI_D_BYTES,
	SMI_D_WATTS,
	SMI_D_CELSIUS,
	SMI_D_HERTZ,
	SMI_D_BITRATE, /* -> bytes per second */
	SMI_D_STATE,   /* words: UP/DOWN, OK/... -> 1/0 */
};

struct smi_metric_info {
	const char *name; /* in profiles: `metric: utilization` */
	enum smi_dim dim;
	const char *label; /* extra label the field's `label` fills, or NULL */
	bool fabric;
};
const struct smi_metric_info *smi_metric_info(enum smi_metric m);

struct smi_field {
	char *key;  /* csv column name, json path, kv key ("Sect/Key") */
	int column; /* csv/columns position (0-based), -1: by key */
	enum smi_metric metric;
	char *label;	/* value of the metric's extra label, or info label */
	char *unit;	/* unit the tool prints (or implies), NULL: none */
	double ufactor; /* the profile unit's factor to the base unit */
	double scale;	/* `scale:` extra multiplier (1) */
	bool index;	/* gives the device index */
	char *var;	/* enumeration: variable name for {var} */
};

struct smi_query {
	char *argv[SMI_MAX_ARGS + 1]; /* may hold {fields} and {var} */
	size_t argc;
	enum smi_format format;
	char *devices;	 /* json: path of the device list; kv: marker of a block */
	bool header;	 /* csv: the first line names the columns */
	bool per_device; /* run once per enumerated device */
	bool fallback;	 /* tried when the query before it fails (generations) */
	size_t width;	 /* columns: the exact field count of a line (0: any) */
	struct smi_field fields[SMI_MAX_FIELDS];
	size_t nfields;
	unsigned long line;
};

struct smi_profile {
	char *name;
	char *prefix;	/* device name prefix: iluvatar -> iluvatar0 */
	char *vendor;	/* accel_info vendor label */
	char *defer_to; /* a collector that reports these devices itself */
	char *dirs[4];	/* the vendor's usual folders, searched after search_path */
	bool has_enum;
	struct smi_query enumerate; /* lists devices and their vars */
	struct smi_query queries[SMI_MAX_QUERIES];
	size_t nqueries;
	double timeout_s; /* 0: min(interval, 10 s) */
};

/* Build a profile from its YAML tree (a map). 0, or -EINVAL with the path
 * below the profile ("fields.power.draw.unit") in key and the problem in
 * why; *line gets that node's line. */
int smi_profile_load(const char *name, const struct am_node *n, struct smi_profile **out,
		     char *key, size_t keylen, char *why, size_t whylen,
		     unsigned long *line);
void smi_profile_free(struct smi_profile *p);

/* Profiles as YAML text (a mapping: name -> profile), read by the agent's
 * config parser as the `profiles` option of an smi section. The tree lives
 * in *holder (smi_profiles_free). A node's line is SMI_PROFILES_LINE0 more
 * than its line in text. 0, or -EINVAL with "SOURCE:LINE: problem" in err. */
#define SMI_PROFILES_LINE0 3
int smi_profiles_parse(const char *text, void **holder, const struct am_node **tree,
		       char *err, size_t errlen);
void smi_profiles_free(void *holder);

/* The built-in profiles, as YAML text, and loaded. */
extern const char smi_builtin_yaml[];
/* Names in order, NULL-terminated. */
size_t smi_builtin_count(void);
/* Load built-in profile `name` (NULL: not one). Errors abort in tests. */
struct smi_profile *smi_builtin_load(const char *name);
const char *smi_builtin_name(size_t i);

/* ---- values ---- */

/* Words that mean "no value" (N/A, [N/A], [Not Supported], -, Unknown,
 * blank ...). */
bool smi_absent(const char *s, size_t n);
/* Factor of unit u for dimension dim; 0 when u is not a unit of dim. */
double smi_unit_factor(enum smi_dim dim, const char *u, size_t n);
/* Parse one value for field f: number, optional unit (checked against the
 * field's dimension and converted) or a state word. 0 and *out in base
 * units; -ENODATA when absent; -EINVAL (why set) when it does not parse or
 * its unit disagrees. */
int smi_value(const struct smi_field *f, const char *s, size_t n, double *out, char *why,
	      size_t whylen);

/* ---- parsers ---- */

/* One value of device `dev` (its index, or its order when no field is the
 * index) for field `field` of the query. `text` is not NUL-terminated. */
typedef void smi_value_fn(void *arg, int dev, size_t field, const char *text, size_t len);

/* Parse a tool's output by the query's format. single_dev >= 0: the whole
 * output is that device (per-device queries). Returns the number of devices
 * seen, or -EINVAL (why set) when the output is not of the format at all.
 * Garbage lines are skipped (counted in *skipped when not NULL). */
int smi_parse(const struct smi_query *q, const char *out, size_t len, int single_dev,
	      smi_value_fn *fn, void *arg, unsigned *skipped, char *why, size_t whylen);

/* ---- the runner ---- */

struct smi_run_opts {
	double timeout_s;
	size_t out_cap;	      /* stdout bytes kept (the rest is read and dropped) */
	const char *path_env; /* PATH=... for the child */
};

struct smi_run_result {
	char *out; /* stdout, NUL-terminated (malloc'd, out_cap + 1) */
	size_t len;
	bool truncated; /* more than out_cap */
	bool timed_out; /* killed at the timeout */
	int status;	/* exit code, or 128 + signal */
	int pid;	/* the child's (and its group's) id, reaped */
	char err[512];	/* first line(s) of stderr */
	size_t errlen;
};

/* Run argv[0] (an absolute path) with argv, no shell, in its own process
 * group, with env = {PATH, LANG=C, LC_ALL=C}; stdin /dev/null. Waits at
 * most timeout_s, then kills the whole group (SIGKILL) and reaps the child.
 * No descriptor of the agent leaks into the child (close_range / CLOEXEC)
 * nor stays open after. 0 (see res->status), or a negative errno when it
 * could not be started. */
int smi_run(const char *const *argv, const struct smi_run_opts *o,
	    struct smi_run_result *res);
void smi_run_result_free(struct smi_run_result *res);

/* Find a command: absolute path as is, else in dirs (NULL-terminated lists,
 * in order), else in PATH. Writes the path into out. 0 or -ENOENT. */
int smi_find_command(const char *cmd, const char *const *dirs1, const char *const *dirs2,
		     char *out, size_t outlen);

#endif
