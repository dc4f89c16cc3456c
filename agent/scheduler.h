/* Scheduler: one thread per collector instance (own interval, init and
 * polls on that thread), a watchdog that marks an overrunning poll down, and
 * the aggregator thread that drains every ring in batches and publishes
 * snapshots. Nothing here waits on a collector without a bounded deadline.
 */
#ifndef ACCELMON_SCHEDULER_H
#define ACCELMON_SCHEDULER_H

#include <stdint.h>
#include <stdio.h>

#include "agg.h"
#include "config.h"

#define SCHED_MAX_SLOTS CFG_MAX_INSTANCES
/* A ring starts at SCHED_RING_CAPACITY samples (96 KiB; a poll of 8 GPUs or
 * 8 HCAs emits < 1000) and grows between polls to four polls' worth, up
 * to SCHED_RING_MAX_CAPACITY (6 MiB): sim's 1024 devices emit 9216 samples a
 * poll, netdev's 256 interfaces 5120. Beyond that the half-full wake lets the
 * aggregator drain while the poll runs. */
#define SCHED_RING_CAPACITY 4096
#define SCHED_RING_MAX_CAPACITY (UINT32_C(1) << 18)

struct sched;

/* sysfs/procfs: roots in place of /sys and /proc (NULL for the real ones). */
struct sched *sched_new(const char *sysfs, const char *procfs);
void sched_free(struct sched *s);

/* Start the enabled collectors of cfg (each prints one line saying what it
 * found). once: each makes its once_polls polls and then stops. */
int sched_start_collectors(struct sched *s, const struct agent_config *cfg,
			   int once);
/* Ask every collector to stop and wait up to grace_s in total; collectors
 * still hung after that are abandoned (detached, never freed). The series of
 * a stopped collector go stale as usual, three intervals after its last
 * sample, so the snapshots rendered meanwhile (the final one at shutdown)
 * still hold them. */
void sched_stop_collectors(struct sched *s, double grace_s);
/* --once: wait until every collector finished its polls or overran its
 * deadline; returns the number that overran. */
int sched_wait_once(struct sched *s);

/* Aggregator: drain rings, run the watchdog, publish when something changed. */
int sched_start_aggregator(struct sched *s);
void sched_stop_aggregator(struct sched *s);
/* Drain every ring and publish a snapshot now (same thread rules as above:
 * only when the aggregator thread is not running). */
void sched_flush(struct sched *s);

struct agg *sched_agg(struct sched *s);

#endif
