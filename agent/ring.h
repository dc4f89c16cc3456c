/* Single-producer single-consumer lock-free ring of samples.
 *
 * One ring per collector thread (the producer); the aggregator thread is the
 * only consumer. The producer never blocks: a full ring drops the sample and
 * counts it. Between polls the producer may grow the ring (ring_grow): the
 * samples already in it are delivered first, in order, and the consumer frees
 * the old storage once it has drained it. The producer wakes the consumer
 * (ring_set_wake) when the ring becomes half full, so one poll's burst is
 * drained while it is still being pushed. Capacities are powers of two; head
 * and tail live on separate cache lines so the two threads do not
 * false-share.
 */
#ifndef ACCELMON_RING_H
#define ACCELMON_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A sample as it travels from a collector to the aggregator. */
struct am_sample {
	uint32_t series; /* am_series_t */
	uint32_t flags;  /* SAMPLE_* */
	int64_t t_ns;    /* poll time, monotonic ns */
	double value;
};

/* am_sample.flags: value holds the bits of a uint64_t (exact counters). */
#define SAMPLE_U64 0x1u
/* am_series_retire: no value; the aggregator drops the series' state. It
 * travels in the ring so it is ordered with the samples of the same poll. */
#define SAMPLE_RETIRE 0x2u
/* With SAMPLE_RETIRE: am_series_release, the id is given up for good. */
#define SAMPLE_RELEASE 0x4u

/* Largest capacity: tail - head must stay below 2^32. */
#define RING_MAX_CAPACITY (UINT32_C(1) << 31)

struct ring;

/* Capacity is rounded up to a power of two (minimum 2). NULL with errno
 * EINVAL (above RING_MAX_CAPACITY) or ENOMEM. */
struct ring *ring_create(uint32_t capacity);
/* Frees the ring and any storage not yet retired; neither side may be using
 * it any more. */
void ring_destroy(struct ring *r);

/* Called by the producer when the ring reaches half full (and again every
 * quarter ring while it stays above half), and by ring_wake_consumer. Set it
 * before the producer starts; fn must not block (an eventfd write, a futex
 * wake). NULL: nobody is woken. */
void ring_set_wake(struct ring *r, void (*fn)(void *arg), void *arg);

/* ---- producer side (one thread) ---- */

/* Returns false (and counts a drop) when the ring is full. */
bool ring_push(struct ring *r, const struct am_sample *s);
/* Calls the wake function (e.g. at the end of a poll). */
void ring_wake_consumer(struct ring *r);
/* Samples offered so far, pushed or dropped, modulo 2^32: the difference of
 * two readings is what a poll emitted. */
uint32_t ring_offered(const struct ring *r);
/* Make room for at least capacity samples (rounded up to a power of two)
 * for the pushes that follow. Samples already in the ring stay and reach the
 * consumer before any later one. 0 (also when it is already that large),
 * -EINVAL above RING_MAX_CAPACITY, -ENOMEM (the ring stays as it was). */
int ring_grow(struct ring *r, uint32_t capacity);

/* ---- consumer side (one thread) ---- */

/* Move up to max samples into out; returns how many. */
size_t ring_pop_batch(struct ring *r, struct am_sample *out, size_t max);

/* ---- any thread ---- */

/* Capacity the producer is pushing into now. */
uint32_t ring_capacity(const struct ring *r);
/* Samples dropped because the ring was full. */
uint64_t ring_dropped(const struct ring *r);

#endif
