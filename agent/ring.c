/* Single-producer single-consumer lock-free ring of samples (see ring.h).
 *
 * Data flow: a collector thread pushes samples one at a time, the aggregator
 * thread drains them in batches. Neither side ever blocks or takes a lock.
 * A ring is a chain of segments: growing appends a bigger segment that the
 * producer moves to, and the consumer follows once the old one is empty.
 */
#include <errno.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "ring.h"

#define RING_CACHELINE 64
/*
 * head and tail are free-running 32-bit counters (slot = index & mask), so
 * "used" is simply tail - head modulo 2^32. They start just below the wrap
 * point, as Linux's jiffies do, so every ring crosses the 2^32 boundary after
 * 256 samples and the wrap path is exercised in every run, not once in days.
 * A grown segment continues from the index where the previous one ended.
 */
#define RING_INDEX_START (UINT32_C(0) - 256)

struct ring_seg {
	/* Read-only after ring_seg_new: shared freely by both threads. */
	uint32_t mask;
	uint32_t capacity;
	/*
	 * Set once, by the producer, when it moves on to a bigger segment;
	 * from then on the producer never touches this one again, and the
	 * consumer frees it once it has drained it.
	 */
	_Atomic(struct ring_seg *) next;

	/*
	 * Consumer's line. head is written only by the consumer and read by
	 * the producer only when its cached copy says the ring is full or at
	 * a fill check. tail_cache is the consumer's private copy of tail: it
	 * reloads tail (touching the producer's line) only when the cached
	 * copy cannot satisfy a whole batch.
	 */
	alignas(RING_CACHELINE) atomic_uint_least32_t head;
	uint32_t tail_cache;

	/*
	 * Producer's line. tail is written only by the producer; head_cache
	 * is its private copy of head, refreshed only when the ring looks
	 * full or at a fill check; wake_at is the tail at which it next looks
	 * at the fill level (a compare per push, no shared access).
	 */
	alignas(RING_CACHELINE) atomic_uint_least32_t tail;
	uint32_t head_cache;
	uint32_t wake_at;

	/* Samples stored inline; starts on its own line (struct is padded). */
	alignas(RING_CACHELINE) struct am_sample slots[];
};

struct ring {
	/* Read-only once the producer runs. */
	void (*wake)(void *arg);
	void *wake_arg;
	uint32_t start; /* index of the first sample ever pushed */

	/* Consumer's line: the segment it drains; it frees the ones it leaves. */
	alignas(RING_CACHELINE) struct ring_seg *cseg;

	/*
	 * Producer's line: the segment it pushes into. dropped and capacity
	 * are written only by the producer too; they are atomic because other
	 * threads read them.
	 */
	alignas(RING_CACHELINE) struct ring_seg *pseg;
	atomic_uint_least64_t dropped;
	atomic_uint_least32_t capacity;
};

static void *ring_alloc(size_t size)
{
	/* aligned_alloc wants a size that is a multiple of the alignment. */
	size = (size + RING_CACHELINE - 1) & ~(size_t)(RING_CACHELINE - 1);
	return aligned_alloc(RING_CACHELINE, size);
}

/* A segment of at least capacity slots whose first index is start. */
static struct ring_seg *ring_seg_new(uint32_t capacity, uint32_t start, int *err)
{
	struct ring_seg *g;
	uint32_t cap = 2;

	if (capacity > RING_MAX_CAPACITY) {
		*err = -EINVAL;
		return NULL;
	}
	while (cap < capacity)
		cap <<= 1;
	g = ring_alloc(sizeof(*g) + (size_t)cap * sizeof(g->slots[0]));
	if (!g) {
		*err = -ENOMEM;
		return NULL;
	}
	memset(g, 0, sizeof(*g));
	g->mask = cap - 1;
	g->capacity = cap;
	atomic_init(&g->next, NULL);
	atomic_init(&g->head, start);
	atomic_init(&g->tail, start);
	g->tail_cache = start;
	g->head_cache = start;
	g->wake_at = start + cap / 2;
	return g;
}

struct ring *ring_create(uint32_t capacity)
{
	struct ring *r;
	struct ring_seg *g;
	int err = 0;

	g = ring_seg_new(capacity, RING_INDEX_START, &err);
	if (!g) {
		errno = -err;
		return NULL;
	}
	r = ring_alloc(sizeof(*r));
	if (!r) {
		free(g);
		errno = ENOMEM;
		return NULL;
	}
	memset(r, 0, sizeof(*r));
	r->start = RING_INDEX_START;
	r->cseg = g;
	r->pseg = g;
	atomic_init(&r->dropped, 0);
	atomic_init(&r->capacity, g->capacity);
	return r;
}

void ring_destroy(struct ring *r)
{
	struct ring_seg *g, *next;

	if (!r)
		return;
	/* Both sides are done: relaxed, there is no one left to order with. */
	for (g = r->cseg; g; g = next) {
		next = atomic_load_explicit(&g->next, memory_order_relaxed);
		free(g);
	}
	free(r);
}

void ring_set_wake(struct ring *r, void (*fn)(void *arg), void *arg)
{
	r->wake = fn;
	r->wake_arg = arg;
}

void ring_wake_consumer(struct ring *r)
{
	if (r->wake)
		r->wake(r->wake_arg);
}

/*
 * The producer's tail reached wake_at: look at the fill level. At half full
 * or more, wake the consumer, and look again a quarter ring later (if it has
 * not caught up by then, it gets woken again); below half, the next look is
 * where the ring would be half full if the consumer took nothing more.
 * Out of line: it runs once per half ring of pushes at most.
 */
static __attribute__((noinline)) void ring_fill_check(struct ring *r, struct ring_seg *g,
						      uint32_t t)
{
	uint32_t half = g->capacity / 2;
	uint32_t quarter = half / 2 ? half / 2 : 1;

	/*
	 * Acquire pairs with the consumer's release store of head in
	 * ring_seg_pop, as in ring_push: head_cache also decides when slots
	 * may be overwritten, so it must never run ahead of what the consumer
	 * has finished copying out.
	 */
	g->head_cache = atomic_load_explicit(&g->head, memory_order_acquire);
	if (t - g->head_cache >= half) {
		ring_wake_consumer(r);
		g->wake_at = t + quarter;
	} else {
		g->wake_at = g->head_cache + half;
	}
}

bool ring_push(struct ring *r, const struct am_sample *s)
{
	/* Only this thread moves pseg: a plain read of our own write. */
	struct ring_seg *g = r->pseg;
	/* Only this thread writes tail: a relaxed load reads our own store. */
	uint32_t t = atomic_load_explicit(&g->tail, memory_order_relaxed);

	if (t - g->head_cache == g->capacity) {
		/*
		 * Acquire pairs with the consumer's release store of head in
		 * ring_seg_pop: it publishes that the consumer has finished
		 * copying out every slot below head, so we may overwrite them.
		 */
		g->head_cache = atomic_load_explicit(&g->head, memory_order_acquire);
		if (t - g->head_cache == g->capacity) {
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
	g->slots[t & g->mask] = *s;
	/*
	 * Release pairs with the consumer's acquire load of tail in
	 * ring_seg_pop: it publishes the sample just written into slot t.
	 */
	atomic_store_explicit(&g->tail, t + 1, memory_order_release);
	if (__builtin_expect(t + 1 == g->wake_at, 0))
		ring_fill_check(r, g, t + 1);
	return true;
}

uint32_t ring_offered(const struct ring *r)
{
	/* Producer only: relaxed loads of its own stores. */
	uint32_t t = atomic_load_explicit(&r->pseg->tail, memory_order_relaxed);
	uint64_t d = atomic_load_explicit(&r->dropped, memory_order_relaxed);

	return t - r->start + (uint32_t)d;
}

int ring_grow(struct ring *r, uint32_t capacity)
{
	struct ring_seg *old = r->pseg, *g;
	int err = 0;

	if (capacity <= old->capacity)
		return 0;
	/* The new segment continues the index sequence where old ends. */
	g = ring_seg_new(capacity, atomic_load_explicit(&old->tail, memory_order_relaxed),
			 &err);
	if (!g)
		return err;
	/*
	 * Release pairs with the consumer's acquire load of next in
	 * ring_pop_batch: it publishes old's final tail (so every sample
	 * pushed to old is drained before the consumer moves on) and g's
	 * initialised fields. After this store the producer never touches
	 * old again: the consumer may free it.
	 */
	atomic_store_explicit(&old->next, g, memory_order_release);
	r->pseg = g;
	/* Relaxed: a statistic for other threads; orders nothing. */
	atomic_store_explicit(&r->capacity, g->capacity, memory_order_relaxed);
	return 0;
}

static size_t ring_seg_pop(struct ring_seg *g, struct am_sample *out, size_t max)
{
	/* Only this thread writes head: a relaxed load reads our own store. */
	uint32_t h = atomic_load_explicit(&g->head, memory_order_relaxed);
	uint32_t avail = g->tail_cache - h;
	uint32_t n, first;

	if (avail < max) {
		/*
		 * Acquire pairs with the producer's release store of tail in
		 * ring_push: every slot below the tail we read is fully
		 * written and visible to us.
		 */
		g->tail_cache = atomic_load_explicit(&g->tail, memory_order_acquire);
		avail = g->tail_cache - h;
	}
	n = avail < max ? avail : (uint32_t)max;
	if (n == 0)
		return 0;

	/* At most two runs: up to the end of the array, then from slot 0. */
	first = g->capacity - (h & g->mask);
	if (first > n)
		first = n;
	memcpy(out, &g->slots[h & g->mask], (size_t)first * sizeof(*out));
	memcpy(out + first, &g->slots[0], (size_t)(n - first) * sizeof(*out));

	/*
	 * Release pairs with the producer's acquire loads of head in
	 * ring_push and ring_fill_check: it publishes that all n slots have
	 * been copied out and may be reused. One store per batch, not one per
	 * sample.
	 */
	atomic_store_explicit(&g->head, h + n, memory_order_release);
	return n;
}

size_t ring_pop_batch(struct ring *r, struct am_sample *out, size_t max)
{
	struct ring_seg *g = r->cseg;

	if (max == 0)
		return 0;
	for (;;) {
		struct ring_seg *next;
		size_t n = ring_seg_pop(g, out, max);

		if (n)
			return n;
		/*
		 * Empty. Acquire pairs with the release store of next in
		 * ring_grow: once we see the producer has moved on, we also
		 * see every sample it pushed here before moving, so the pop
		 * below that finds nothing means g is finished for good.
		 */
		next = atomic_load_explicit(&g->next, memory_order_acquire);
		if (!next)
			return 0;
		n = ring_seg_pop(g, out, max);
		if (n)
			return n;
		r->cseg = next;
		free(g);
		g = next;
	}
}

uint32_t ring_capacity(const struct ring *r)
{
	/* Relaxed: a statistic; atomicity only guarantees no torn read. */
	return atomic_load_explicit(&r->capacity, memory_order_relaxed);
}

uint64_t ring_dropped(const struct ring *r)
{
	/* Relaxed: a statistic; atomicity only guarantees no torn read. */
	return atomic_load_explicit(&r->dropped, memory_order_relaxed);
}
