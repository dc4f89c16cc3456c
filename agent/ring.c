/* Single-producer single-consumer lock-free ring of samples (see ring.h).
 *
 * Data flow: a collector thread pushes samples one at a time, the aggregator
 * thread drains them in batches. Neither side ever blocks or takes a lock.
 */
#include <errno.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "ring.h"

#define RING_CACHELINE 64
/* Largest power of two a uint32_t holds; tail - head must stay below 2^32. */
#define RING_MAX_CAPACITY (UINT32_C(1) << 31)
/*
 * head and tail are free-running 32-bit counters (slot = index & mask), so
 * "used" is simply tail - head modulo 2^32. They start just below the wrap
 * point, as Linux's jiffies do, so every ring crosses the 2^32 boundary after
 * 256 samples and the wrap path is exercised in every run, not once in days.
 */
#define RING_INDEX_START (UINT32_C(0) - 256)

struct ring {
	/* Read-only after ring_create: shared freely by both threads. */
	uint32_t mask;
	uint32_t capacity;

	/*
	 * Consumer's line. head is written only by the consumer and read by
	 * the producer only when its cached copy says the ring is full.
	 * tail_cache is the consumer's private copy of tail: it reloads tail
	 * (touching the producer's line) only when the cached copy cannot
	 * satisfy a whole batch.
	 */
	alignas(RING_CACHELINE) atomic_uint_least32_t head;
	uint32_t tail_cache;

	/*
	 * Producer's line. tail is written only by the producer; head_cache
	 * is its private copy of head, refreshed only when the ring looks
	 * full. dropped is written only by the producer too, so it lives here
	 * rather than on a line of its own.
	 */
	alignas(RING_CACHELINE) atomic_uint_least32_t tail;
	uint32_t head_cache;
	atomic_uint_least64_t dropped;

	/* Samples stored inline; starts on its own line (struct is padded). */
	alignas(RING_CACHELINE) struct am_sample slots[];
};

struct ring *ring_create(uint32_t capacity)
{
	struct ring *r;
	uint32_t cap = 2;
	size_t size;

	if (capacity > RING_MAX_CAPACITY) {
		errno = EINVAL;
		return NULL;
	}
	while (cap < capacity)
		cap <<= 1;

	/* aligned_alloc wants a size that is a multiple of the alignment. */
	size = sizeof(*r) + (size_t)cap * sizeof(r->slots[0]);
	size = (size + RING_CACHELINE - 1) & ~(size_t)(RING_CACHELINE - 1);
	r = aligned_alloc(RING_CACHELINE, size);
	if (!r) {
		errno = ENOMEM;
		return NULL;
	}
	memset(r, 0, sizeof(*r));
	r->mask = cap - 1;
	r->capacity = cap;
	atomic_init(&r->head, RING_INDEX_START);
	atomic_init(&r->tail, RING_INDEX_START);
	r->tail_cache = RING_INDEX_START;
	r->head_cache = RING_INDEX_START;
	atomic_init(&r->dropped, 0);
	return r;
}

void ring_destroy(struct ring *r)
{
	free(r);
}

bool ring_push(struct ring *r, const struct am_sample *s)
{
	/* Only this thread writes tail: a relaxed load reads our own store. */
	uint32_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);

	if (t - r->head_cache == r->capacity) {
		/*
		 * Acquire pairs with the consumer's release store of head in
		 * ring_pop_batch: it publishes that the consumer has finished
		 * copying out every slot below head, so we may overwrite them.
		 */
		r->head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
		if (t - r->head_cache == r->capacity) {
			/*
			 * Single writer: load + store instead of a locked
			 * fetch_add. Relaxed: the count orders nothing, it only
			 * has to be tear-free for readers on other threads.
			 */
			uint64_t d = atomic_load_explicit(&r->dropped, memory_order_relaxed);
			atomic_store_explicit(&r->dropped, d + 1, memory_order_relaxed);
			return false;
		}
	}
	r->slots[t & r->mask] = *s;
	/*
	 * Release pairs with the consumer's acquire load of tail in
	 * ring_pop_batch: it publishes the sample just written into slot t.
	 */
	atomic_store_explicit(&r->tail, t + 1, memory_order_release);
	return true;
}

size_t ring_pop_batch(struct ring *r, struct am_sample *out, size_t max)
{
	/* Only this thread writes head: a relaxed load reads our own store. */
	uint32_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint32_t avail = r->tail_cache - h;
	uint32_t n, first;

	if (avail < max) {
		/*
		 * Acquire pairs with the producer's release store of tail in
		 * ring_push: every slot below the tail we read is fully
		 * written and visible to us.
		 */
		r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
		avail = r->tail_cache - h;
	}
	n = avail < max ? avail : (uint32_t)max;
	if (n == 0)
		return 0;

	/* At most two runs: up to the end of the array, then from slot 0. */
	first = r->capacity - (h & r->mask);
	if (first > n)
		first = n;
	memcpy(out, &r->slots[h & r->mask], (size_t)first * sizeof(*out));
	memcpy(out + first, &r->slots[0], (size_t)(n - first) * sizeof(*out));

	/*
	 * Release pairs with the producer's acquire load of head in ring_push:
	 * it publishes that all n slots have been copied out and may be
	 * reused. One store per batch, not one per sample.
	 */
	atomic_store_explicit(&r->head, h + n, memory_order_release);
	return n;
}

uint32_t ring_capacity(const struct ring *r)
{
	return r->capacity;
}

uint64_t ring_dropped(const struct ring *r)
{
	/* Relaxed: a statistic; atomicity only guarantees no torn read. */
	return atomic_load_explicit(&r->dropped, memory_order_relaxed);
}
