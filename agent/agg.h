/* Aggregator: turns samples drained from the collector rings into exported
 * values (counters unwrapped and reset-safe, rates integrated over time,
 * windowed gauges) and renders immutable snapshots for the exporters.
 * Only one thread (the aggregator thread, or a test) touches an agg.
 */
#ifndef ACCELMON_AGG_H
#define ACCELMON_AGG_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "ring.h"
#include "snapshot.h"

struct agg;

/* What the scheduler tells the aggregator about each running collector. */
struct agg_collector_status {
	const char *name;
	int up;
	double duration_s; /* last poll; < 0 before the first */
	double interval_s; /* its poll interval; <= 0 when not known */
	uint64_t dropped;
	uint64_t read_errors;
};

struct agg_opts {
	/* Fill up to max statuses; returns how many. NULL: none. */
	size_t (*status)(void *arg, struct agg_collector_status *out, size_t max);
	/* Poll interval of collector slot `owner` in seconds, or <= 0 when that
	 * collector is not running (its series are then stale). NULL: never stale. */
	double (*interval)(void *arg, int owner);
	void *arg;
	int self_metrics; /* render accelmon_* and process_* families */
	/* Most last values of retired series kept for the final-value
	 * consumers (records) while one lags (a stalled writer); past it a
	 * retired series' last value is dropped and counted
	 * (accelmon_records_final_values_dropped_total). 0: AGG_MAX_FINALS. */
	size_t max_finals;
};
#define AGG_MAX_FINALS 65536

struct agg *agg_new(const struct agg_opts *opts);
void agg_free(struct agg *a);

/* Apply samples (in order). Unknown series ids are counted and skipped. */
void agg_ingest(struct agg *a, const struct am_sample *s, size_t n);

/* Render a snapshot of every live series at time now_ns (monotonic). */
struct snapshot *agg_render(struct agg *a, int64_t now_ns);

/* Inspection, for tests and the records exporter. */
int agg_value(const struct agg *a, uint32_t series, double *out);
int agg_saturated(const struct agg *a, uint32_t series);
struct agg_counts {
	uint64_t samples, resets, wraps, saturations, unknown_series, bad_values;
	uint64_t finals_dropped; /* past max_finals */
};
void agg_counts(const struct agg *a, struct agg_counts *out);

/* Names the agent renders itself: accelmon_* (build info, collector
 * status, agg_stat_register) and process_* (process metrics). A collector
 * family may not take one (am_family refuses it). */
int agg_reserved_name(const char *name);

/* Agent-wide counters owned by other components (exporters), rendered in the
 * self-metrics block: `name{labels} value`. value is read with relaxed order.
 * name must start with accelmon_ (so no collector family holds it): else
 * -EINVAL. */
int agg_stat_register(const char *name, const char *help, int is_counter,
		      const char *labels, const _Atomic uint64_t *value);
/* A histogram in the self-metrics block: name_bucket{labels,le="..."},
 * name_sum{labels}, name_count{labels}. counts[i] counts the observations
 * in (le[i-1], le[i]] (not cumulative; the agent sums them); le[nb-1] must
 * be +Inf; *sum times sum_scale is the _sum (e.g. microseconds and 1e-6).
 * labels "{k=\"v\"}" or "". le, counts and sum must outlive the agent's
 * rendering (until agg_stat_clear). 0, -EINVAL or -ENOMEM. */
int agg_stat_register_histogram(const char *name, const char *help,
				const char *labels, unsigned nb, const double *le,
				const _Atomic uint64_t *counts,
				const _Atomic uint64_t *sum, double sum_scale);
void agg_stat_clear(void);

#endif
