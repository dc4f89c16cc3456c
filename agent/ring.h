/* Single-producer single-consumer lock-free ring of samples.
 *
 * One ring per collector thread (the producer); the aggregator thread is the
 * only consumer. The producer never blocks: a full ring drops the sample and
 * counts it. Capacity is a power of two; head and tail live on separate cache
 * lines so the two threads do not false-share.
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

struct ring;

/* Capacity is rounded up to a power of two (minimum 2). NULL on ENOMEM. */
struct ring *ring_create(uint32_t capacity);
void ring_destroy(struct ring *r);

/* Producer side. Returns false (and counts a drop) when the ring is full. */
bool ring_push(struct ring *r, const struct am_sample *s);

/* Consumer side: move up to max samples into out; returns how many. */
size_t ring_pop_batch(struct ring *r, struct am_sample *out, size_t max);

uint32_t ring_capacity(const struct ring *r);
/* Samples dropped because the ring was full (readable from any thread). */
uint64_t ring_dropped(const struct ring *r);

#endif
