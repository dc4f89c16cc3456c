/* Snapshots: what the aggregator publishes and every exporter reads.
 *
 * A snapshot is immutable once published: the rendered text exposition (0.0.4
 * and OpenMetrics) and the value of every live series: what every exporter
 * needs, and nothing any one exporter derives from it. The aggregator swaps
 * the current pointer; readers take a reference, so a scrape copies bytes and
 * never waits for a collector.
 */
#ifndef ACCELMON_SNAPSHOT_H
#define ACCELMON_SNAPSHOT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "series.h"

struct snap_value {
	uint32_t series;     /* id: series_get() gives family and labels */
	double value;        /* exported value (counters already unwrapped) */
};

struct snapshot {
	atomic_int refs;
	uint64_t generation;
	int64_t wall_ms;            /* wall-clock time of rendering */
	char *text;                 /* text format 0.0.4 */
	size_t text_len;
	size_t text_self;           /* offset of the agent's own series in text
	                               (accelmon_*, process_*): text_len if none */
	char *om;                   /* OpenMetrics 1.0.0, ends in "# EOF\n" */
	size_t om_len;
	struct snap_value *values;  /* live series, in exposition order */
	size_t nvalues;
	/* Last values of series retired (am_series_retire) that some final-value
	 * consumer has not seen yet: never in the exposition, only for the
	 * consumers that must record how a series ended (records). A series
	 * also live in values has come back: its entry here is its old run. */
	struct snap_value *finals;
	size_t nfinals;
	/* In the list of live snapshots (snapshot_track), under its lock. */
	struct snapshot *live_prev, *live_next;
	int tracked;
};

/* Final-value consumers: an exporter that must see every retired series'
 * last value registers, and tells after each snapshot it has handled that
 * it has seen that generation. The aggregator keeps a retired series in
 * finals until every registered consumer has seen a snapshot holding it.
 * add returns a slot >= 0 or -ENOSPC. */
int snapshot_final_consumer_add(void);
void snapshot_final_consumer_remove(int slot);
void snapshot_final_seen(int slot, uint64_t generation);
/* The newest generation every registered consumer has seen; UINT64_MAX
 * when none is registered (finals are then not kept). */
uint64_t snapshot_final_horizon(void);

/* The aggregator tracks each snapshot it renders (generation set) until
 * its last reference goes; oldest_live is the lowest generation of those
 * still held (UINT64_MAX when none), so the aggregator knows when no reader
 * can still look up a series that it holds (series_reclaim). */
void snapshot_track(struct snapshot *s);
uint64_t snapshot_oldest_live(void);

/* Current snapshot with a reference held (never NULL after agg start). */
struct snapshot *snapshot_acquire(void);
void snapshot_release(struct snapshot *s);

/* Aggregator side: publish s (takes ownership); the previous one is released. */
void snapshot_publish(struct snapshot *s);
struct snapshot *snapshot_new(void);
/* Drop the current snapshot (at exit). */
void snapshot_shutdown(void);

#endif
