/* Check suite for the SPSC sample ring (agent/ring.c): capacity rounding,
 * ordering, index and slot wrap-around, exact drop accounting, batch limits,
 * growth (samples in the old storage first, chains of grows), the half-full
 * wake, and two-thread stress runs (lossless with retry, lossy without, and
 * a producer that grows the ring while the consumer drains) that must also be
 * clean under ThreadSanitizer. RING_STRESS_N scales the stress size.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "ring.h"

#if defined(__SANITIZE_THREAD__) /* gcc */
#define RING_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) /* clang */
#define RING_TSAN 1
#endif
#endif

#ifdef RING_TSAN
/* Check runs each test in a forked child whose TSan report would otherwise
 * not fail the test: stop at the first race so the test errors out. */
const char *__tsan_default_options(void);
const char *__tsan_default_options(void)
{
	return "halt_on_error=1";
}
#endif

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define STRESS_N_DEFAULT 4000000u

/* Every field derives from the sequence number, so a torn or stale slot copy
 * shows up as a mismatch between fields, not only as a wrong order. */
static struct am_sample mk(uint32_t seq)
{
	struct am_sample s = {
		.series = seq,
		.flags = ~seq,
		.t_ns = (int64_t)seq * 1000 + 7,
		.value = (double)seq * 0.5,
	};
	return s;
}

static bool sample_ok(const struct am_sample *s, uint32_t seq)
{
	return s->series == seq && s->flags == ~seq &&
	       s->t_ns == (int64_t)seq * 1000 + 7 && s->value == (double)seq * 0.5;
}

/* Check's assertions log a mark point per call (a write per assertion), far
 * too slow for millions of samples: test plainly, abort only on failure. */
#define check_sample(s, seq)                                                  \
	do {                                                                  \
		const struct am_sample *s_ = (s);                             \
		uint32_t q_ = (seq);                                          \
		if (!sample_ok(s_, q_))                                       \
			ck_abort_msg("want sample %u, got series=%u flags=%#x " \
				     "t_ns=%lld value=%g",                    \
				     q_, s_->series, s_->flags,               \
				     (long long)s_->t_ns, s_->value);         \
	} while (0)
#define push_ok(r, seq)                                                       \
	do {                                                                  \
		struct am_sample p_ = mk(seq);                                \
		if (!ring_push((r), &p_))                                     \
			ck_abort_msg("push of %u refused", (unsigned)(seq));   \
	} while (0)

static uint32_t stress_n(void)
{
	const char *e = getenv("RING_STRESS_N");
	unsigned long v;

	if (!e || !*e)
		return STRESS_N_DEFAULT;
	v = strtoul(e, NULL, 0);
	return v ? (uint32_t)v : STRESS_N_DEFAULT;
}

/* ---- capacity ---- */

static const struct {
	uint32_t req, want;
} cap_cases[] = {
	{ 0, 2 },
	{ 1, 2 },
	{ 2, 2 },
	{ 3, 4 },
	{ 4, 4 },
	{ 5, 8 },
	{ 1000, 1024 },
	{ 1024, 1024 },
	{ 1025, 2048 },
	{ 65535, 65536 },
};

START_TEST(test_capacity_rounding)
{
	struct ring *r = ring_create(cap_cases[_i].req);

	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(ring_capacity(r), cap_cases[_i].want);
	ck_assert_uint_eq(ring_dropped(r), 0);
	ring_destroy(r);
}
END_TEST

START_TEST(test_capacity_too_large)
{
	/* 2^31 + 1 would round to 2^32, which a uint32_t cannot hold. */
	errno = 0;
	ck_assert_ptr_null(ring_create((UINT32_C(1) << 31) + 1));
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_ptr_null(ring_create(UINT32_MAX));
	ring_destroy(NULL); /* must be a no-op, like free(NULL) */
}
END_TEST

/* ---- ordering ---- */

START_TEST(test_push_pop_order)
{
	struct ring *r = ring_create(16);
	struct am_sample out[16];
	size_t n;

	ck_assert_uint_eq(ring_pop_batch(r, out, 16), 0);
	for (uint32_t i = 0; i < 10; i++) {
		struct am_sample s = mk(i);
		ck_assert(ring_push(r, &s));
	}
	n = ring_pop_batch(r, out, 16);
	ck_assert_uint_eq(n, 10);
	for (uint32_t i = 0; i < n; i++)
		check_sample(&out[i], i);
	ck_assert_uint_eq(ring_pop_batch(r, out, 16), 0);
	ck_assert_uint_eq(ring_dropped(r), 0);
	ring_destroy(r);
}
END_TEST

/* ---- wrap-around ----
 * A small ring cycled through many times the number of its slots: the slot
 * position wraps tens of thousands of times, and the free-running 32-bit
 * index (which starts just below 2^32) wraps too, at every fill level. */
static const struct {
	uint32_t cap, fill, batch;
} wrap_cases[] = {
	{ 2, 1, 1 }, { 2, 2, 2 }, { 4, 3, 1 }, { 4, 4, 3 },
	{ 8, 5, 2 }, { 8, 8, 8 }, { 8, 7, 16 },
};

START_TEST(test_wrap_around)
{
	const uint32_t cap = wrap_cases[_i].cap, fill = wrap_cases[_i].fill;
	const uint32_t batch = wrap_cases[_i].batch;
	const uint32_t total = 200000;
	struct ring *r = ring_create(cap);
	struct am_sample out[16];
	uint32_t pushed = 0, popped = 0;

	ck_assert_uint_eq(ring_capacity(r), cap);
	while (popped < total) {
		/* Top the ring up to `fill` samples, then drain one batch. */
		while (pushed < total && pushed - popped < fill) {
			push_ok(r, pushed);
			pushed++;
		}
		size_t n = ring_pop_batch(r, out, batch);
		size_t want = pushed - popped < batch ? pushed - popped : batch;
		if (n != want)
			ck_abort_msg("popped %zu, want %zu", n, want);
		for (size_t k = 0; k < n; k++)
			check_sample(&out[k], popped++);
	}
	ck_assert_uint_eq(ring_pop_batch(r, out, 16), 0);
	ck_assert_uint_eq(ring_dropped(r), 0);
	ring_destroy(r);
}
END_TEST

/* ---- drop accounting ----
 * Push `push1` into an empty ring, pop `pop`, push `push2`: exact counts of
 * accepted and dropped pushes, and the surviving samples in order. */
static const struct {
	uint32_t cap, push1, pop, push2;
	uint64_t dropped;
} drop_cases[] = {
	/* cap, push1, pop, push2, dropped */
	{ 4, 4, 0, 0, 0 },
	{ 4, 5, 0, 0, 1 },
	{ 4, 10, 0, 0, 6 },
	{ 4, 10, 2, 3, 7 },
	{ 4, 10, 4, 4, 6 },
	{ 2, 3, 1, 5, 5 },
	{ 16, 100, 16, 100, 168 },
	{ 8, 8, 3, 2, 0 },
};

START_TEST(test_drop_accounting)
{
	const uint32_t cap = drop_cases[_i].cap;
	struct ring *r = ring_create(cap);
	struct am_sample out[32];
	uint32_t seq = 0, accepted = 0, refused = 0;
	uint32_t expect_first, expect_n;
	size_t n;

	for (uint32_t i = 0; i < drop_cases[_i].push1; i++) {
		struct am_sample s = mk(seq++);
		bool ok = ring_push(r, &s);
		/* The first `cap` pushes into an empty ring must succeed. */
		ck_assert(ok == (i < cap));
		if (ok)
			accepted++;
		else
			refused++;
	}
	ck_assert_uint_eq(ring_dropped(r), refused);

	n = ring_pop_batch(r, out, drop_cases[_i].pop);
	ck_assert_uint_eq(n, drop_cases[_i].pop);
	for (size_t k = 0; k < n; k++)
		check_sample(&out[k], (uint32_t)k);

	for (uint32_t i = 0; i < drop_cases[_i].push2; i++) {
		struct am_sample s = mk(seq++);
		if (ring_push(r, &s))
			accepted++;
		else
			refused++;
	}
	ck_assert_uint_eq(ring_dropped(r), drop_cases[_i].dropped);
	ck_assert_uint_eq(ring_dropped(r), refused);

	/* What remains: the tail of phase 1, then the head of phase 2. */
	n = ring_pop_batch(r, out, 32);
	ck_assert_uint_eq(n, accepted - drop_cases[_i].pop);
	ck_assert_uint_le(n, cap);
	expect_first = drop_cases[_i].pop;
	expect_n = (drop_cases[_i].push1 < cap ? drop_cases[_i].push1 : cap) -
		   drop_cases[_i].pop;
	for (size_t k = 0; k < n; k++) {
		uint32_t want = k < expect_n ? expect_first + (uint32_t)k
					     : drop_cases[_i].push1 +
						       (uint32_t)(k - expect_n);
		check_sample(&out[k], want);
	}
	ring_destroy(r);
}
END_TEST

/* ---- pop_batch limits ---- */

static const struct {
	uint32_t cap, stored, max;
	size_t want;
} batch_cases[] = {
	/* cap, stored, max, want */
	{ 8, 0, 8, 0 },
	{ 8, 5, 0, 0 },
	{ 8, 5, 3, 3 },
	{ 8, 5, 5, 5 },
	{ 8, 5, 100, 5 },
	{ 8, 8, 8, 8 },
	{ 8, 8, 1, 1 },
	{ 2, 2, 64, 2 },
};

START_TEST(test_pop_batch_limits)
{
	struct ring *r = ring_create(batch_cases[_i].cap);
	struct am_sample out[128];
	size_t n, rest;

	for (uint32_t i = 0; i < batch_cases[_i].stored; i++) {
		struct am_sample s = mk(i);
		ck_assert(ring_push(r, &s));
	}
	/* Canary: pop must not write past `max`. */
	for (size_t k = 0; k < ARRAY_SIZE(out); k++)
		out[k] = mk(0xdead0000u);
	n = ring_pop_batch(r, out, batch_cases[_i].max);
	ck_assert_uint_eq(n, batch_cases[_i].want);
	for (size_t k = 0; k < n; k++)
		check_sample(&out[k], (uint32_t)k);
	check_sample(&out[n], 0xdead0000u);

	/* The remainder is still there, in order. */
	rest = ring_pop_batch(r, out, ARRAY_SIZE(out));
	ck_assert_uint_eq(rest, batch_cases[_i].stored - n);
	for (size_t k = 0; k < rest; k++)
		check_sample(&out[k], (uint32_t)(n + k));
	ring_destroy(r);
}
END_TEST

/* ---- growth ----
 * Pushes into an empty ring of `cap`, then for each step grows to grow[k] and
 * pushes push[k] more; with pops of `pop` samples taken after the first
 * phase. Everything arrives once, in order; nothing is dropped, since every
 * phase fits the capacity it was pushed into. */
static const struct {
	uint32_t cap, push0, pop;
	uint32_t grow[3], push[3];
	uint32_t want_cap;
} grow_cases[] = {
    /* cap, push0, pop, grow, push, final capacity */
    {8, 5, 0, {32, 0, 0}, {20, 0, 0}, 32},	   /* old still holds 5 */
    {8, 8, 3, {16, 0, 0}, {16, 0, 0}, 16},	   /* old full, partly read */
    {4, 3, 0, {8, 16, 0}, {6, 10, 0}, 16},	   /* two grows unread */
    {4, 4, 4, {8, 0, 0}, {8, 0, 0}, 8},		   /* old drained before */
    {16, 10, 2, {8, 16, 17}, {6, 0, 30}, 32},	   /* no-ops, then 17 -> 32 */
    {2, 2, 1, {3, 5, 1000}, {3, 4, 999}, 1024},	   /* rounding */
    {4, 300, 0, {1024, 0, 0}, {1000, 0, 0}, 1024}, /* drops before, none after */
};

START_TEST(test_grow)
{
	const __typeof__(grow_cases[0]) *c = &grow_cases[_i];
	struct ring *r = ring_create(c->cap);
	struct am_sample out[64];
	uint32_t seq = 0, next = 0, first_dropped_run = 0;
	uint64_t dropped = c->push0 > c->cap ? c->push0 - c->cap : 0;
	size_t n;

	for (uint32_t i = 0; i < c->push0; i++) {
		struct am_sample s = mk(seq++);
		ck_assert(ring_push(r, &s) == (i < c->cap));
	}
	/* The samples refused by the first, too small, ring: never delivered. */
	if (c->push0 > c->cap) {
		first_dropped_run = c->push0 - c->cap;
		ck_assert_uint_eq(ring_offered(r), c->push0);
	}
	n = ring_pop_batch(r, out, c->pop);
	ck_assert_uint_eq(n, c->pop);
	for (size_t k = 0; k < n; k++)
		check_sample(&out[k], next++);
	for (int k = 0; k < 3; k++) {
		ck_assert_int_eq(ring_grow(r, c->grow[k]), 0);
		for (uint32_t i = 0; i < c->push[k]; i++)
			push_ok(r, seq++);
	}
	ck_assert_uint_eq(ring_capacity(r), c->want_cap);
	ck_assert_uint_eq(ring_dropped(r), dropped);
	ck_assert_uint_eq(ring_offered(r), seq);
	while ((n = ring_pop_batch(r, out, ARRAY_SIZE(out))) > 0)
		for (size_t k = 0; k < n; k++) {
			if (next == c->cap && first_dropped_run) {
				next += first_dropped_run; /* skip the refused */
				first_dropped_run = 0;
			}
			check_sample(&out[k], next++);
		}
	ck_assert_uint_eq(next, seq);
	ck_assert_uint_eq(ring_pop_batch(r, out, ARRAY_SIZE(out)), 0);
	/* The grown ring goes on wrapping like any other. */
	for (uint32_t round = 0; round < 3 * c->want_cap; round++) {
		push_ok(r, seq++);
		ck_assert_uint_eq(ring_pop_batch(r, out, 1), 1);
		check_sample(&out[0], next++);
	}
	ring_destroy(r);
}
END_TEST

START_TEST(test_grow_refused)
{
	struct ring *r = ring_create(4);
	struct am_sample out[4];

	push_ok(r, 0);
	ck_assert_int_eq(ring_grow(r, (UINT32_C(1) << 31) + 1), -EINVAL);
	ck_assert_int_eq(ring_grow(r, 2), 0); /* smaller: nothing to do */
	ck_assert_uint_eq(ring_capacity(r), 4);
	push_ok(r, 1);
	ck_assert_uint_eq(ring_pop_batch(r, out, 4), 2);
	check_sample(&out[0], 0);
	check_sample(&out[1], 1);
	ring_destroy(r);
	/* A grown ring destroyed before the consumer moved on frees both. */
	r = ring_create(4);
	push_ok(r, 0);
	ck_assert_int_eq(ring_grow(r, 64), 0);
	push_ok(r, 1);
	ring_destroy(r);
}
END_TEST

/* ---- half-full wake ---- */

static void count_wake(void *arg)
{
	(*(unsigned *)arg)++;
}

START_TEST(test_wake_half_full)
{
	struct ring *r = ring_create(16);
	struct am_sample out[16];
	unsigned wakes = 0;
	uint32_t seq = 0;

	ring_set_wake(r, count_wake, &wakes);
	for (; seq < 7; seq++)
		push_ok(r, seq);
	ck_assert_uint_eq(wakes, 0);
	push_ok(r, seq++); /* 8 of 16: half full */
	ck_assert_uint_eq(wakes, 1);
	for (; seq < 11; seq++)
		push_ok(r, seq);
	ck_assert_uint_eq(wakes, 1);
	push_ok(r, seq++); /* 12: a quarter more and still unread: again */
	ck_assert_uint_eq(wakes, 2);
	ck_assert_uint_eq(ring_pop_batch(r, out, 16), 12);
	/* Drained: the next wake is at half full again, counted from head. */
	for (int k = 0; k < 7; k++)
		push_ok(r, seq++);
	ck_assert_uint_eq(wakes, 2);
	push_ok(r, seq++);
	ck_assert_uint_eq(wakes, 3);
	/* A consumer that keeps up is never woken by the fill level. */
	ck_assert_uint_eq(ring_pop_batch(r, out, 16), 8);
	for (int k = 0; k < 1000; k++) {
		push_ok(r, seq++);
		ck_assert_uint_eq(ring_pop_batch(r, out, 16), 1);
	}
	ck_assert_uint_eq(wakes, 3);
	ring_wake_consumer(r);
	ck_assert_uint_eq(wakes, 4);
	/* Overload: the full ring drops and counts, wakes stay bounded. */
	for (int k = 0; k < 100; k++) {
		struct am_sample s = mk(seq++);
		ring_push(r, &s);
	}
	ck_assert_uint_eq(ring_dropped(r), 100 - 16);
	ck_assert_uint_eq(wakes, 4 + 3); /* at 8, 12, 16 */
	ring_destroy(r);
}
END_TEST

/* ---- two-thread stress ---- */

struct stress {
	struct ring *r;
	uint32_t n;
	bool retry;	    /* lossless: yield and retry on full */
	atomic_bool done;   /* producer finished (release) */
	uint32_t pushed_ok; /* producer's own count of accepted pushes */
	uint64_t refused;   /* ... and of refused ones, retries included */
};

static void *stress_producer(void *arg)
{
	struct stress *st = arg;

	for (uint32_t i = 0; i < st->n; i++) {
		struct am_sample s = mk(i);
		if (ring_push(st->r, &s)) {
			st->pushed_ok++;
			continue;
		}
		st->refused++;
		if (!st->retry)
			continue;
		while (!ring_push(st->r, &s)) {
			st->refused++;
			sched_yield();
		}
		st->pushed_ok++;
	}
	/* Release: everything pushed above happens-before the consumer's
	 * final drain that follows its acquire load of done. */
	atomic_store_explicit(&st->done, true, memory_order_release);
	return NULL;
}

/* The consumer runs on the test's own thread (so ck_assert works) while the
 * producer runs on a second one. */
static void run_stress(uint32_t cap, bool retry, size_t batch)
{
	struct stress st = { .r = ring_create(cap), .n = stress_n(), .retry = retry };
	struct am_sample out[256];
	uint64_t received = 0, last_dropped = 0, polls = 0;
	int64_t last = -1;
	pthread_t th;

	ck_assert_ptr_nonnull(st.r);
	ck_assert_uint_le(batch, ARRAY_SIZE(out));
	atomic_init(&st.done, false);
	ck_assert_int_eq(pthread_create(&th, NULL, stress_producer, &st), 0);

	for (;;) {
		bool fin = atomic_load_explicit(&st.done, memory_order_acquire);
		size_t n = ring_pop_batch(st.r, out, batch);

		for (size_t k = 0; k < n; k++) {
			uint32_t seq = out[k].series;
			/* Strictly increasing; lossless mode: no gaps at all. */
			if ((int64_t)seq <= last || (retry && seq != last + 1))
				ck_abort_msg("got %u after %lld", seq, (long long)last);
			check_sample(&out[k], seq);
			last = seq;
		}
		received += n;
		/* The drop counter is read concurrently: monotonic. */
		if ((++polls & 63) == 0) {
			uint64_t d = ring_dropped(st.r);
			if (d < last_dropped)
				ck_abort_msg("dropped went back: %llu < %llu",
					     (unsigned long long)d,
					     (unsigned long long)last_dropped);
			last_dropped = d;
		}
		/* done was read before this pop, so an empty pop after it
		 * means the producer's last push has been drained. */
		if (n == 0 && fin)
			break;
		if (n == 0)
			sched_yield();
	}
	ck_assert_int_eq(pthread_join(th, NULL), 0);

	/* Every refused push, retries included, is counted as a drop. */
	ck_assert_uint_eq(received, st.pushed_ok);
	ck_assert_uint_eq(ring_dropped(st.r), st.refused);
	if (retry) {
		ck_assert_uint_eq(received, st.n);
		ck_assert_int_eq(last, (int64_t)st.n - 1);
	} else {
		ck_assert_uint_eq(received + ring_dropped(st.r), st.n);
	}
	ring_destroy(st.r);
}

static const struct {
	uint32_t cap;
	size_t batch;
} stress_cases[] = {
	{ 1024, 256 }, /* the agent's shape: roomy ring, big batches */
	{ 8, 3 },      /* tiny ring: constant full/empty transitions */
};

START_TEST(test_stress_lossless)
{
	run_stress(stress_cases[_i].cap, true, stress_cases[_i].batch);
}
END_TEST

START_TEST(test_stress_lossy)
{
	run_stress(stress_cases[_i].cap, false, stress_cases[_i].batch);
}
END_TEST

/* The scheduler's shape: the producer pushes "polls" of growing size and,
 * between polls, grows the ring when a poll offered more than half of it,
 * while the consumer drains concurrently (woken through the wake function or
 * by yielding). Lossless with retry, so every sample must arrive exactly
 * once and in order, across every handover. */
struct grow_stress {
	struct ring *r;
	uint32_t n, grows;
	atomic_uint wakes;
	atomic_bool done;
};

static void stress_wake(void *arg)
{
	struct grow_stress *st = arg;

	/* Relaxed: a count, read after the join. */
	atomic_fetch_add_explicit(&st->wakes, 1, memory_order_relaxed);
}

static void *grow_producer(void *arg)
{
	struct grow_stress *st = arg;
	uint32_t seq = 0, poll = 1;

	while (seq < st->n) {
		uint32_t before = ring_offered(st->r), offered;

		for (uint32_t k = 0; k < poll && seq < st->n; k++, seq++) {
			struct am_sample s = mk(seq);
			while (!ring_push(st->r, &s))
				sched_yield();
		}
		offered = ring_offered(st->r) - before;
		ring_wake_consumer(st->r);
		if (offered > ring_capacity(st->r) / 2 &&
		    ring_capacity(st->r) < (1u << 16)) {
			if (ring_grow(st->r, 2 * offered) == 0)
				st->grows++;
		}
		poll = poll < 40000 ? poll * 3 / 2 + 1 : 1;
	}
	/* Release: every push above happens-before the consumer's final
	 * drain that follows its acquire load of done. */
	atomic_store_explicit(&st->done, true, memory_order_release);
	return NULL;
}

START_TEST(test_stress_grow)
{
	struct grow_stress st = {.r = ring_create(4), .n = stress_n()};
	struct am_sample out[256];
	int64_t last = -1;
	pthread_t th;

	ck_assert_ptr_nonnull(st.r);
	atomic_init(&st.done, false);
	atomic_init(&st.wakes, 0);
	ring_set_wake(st.r, stress_wake, &st);
	ck_assert_int_eq(pthread_create(&th, NULL, grow_producer, &st), 0);
	for (;;) {
		bool fin = atomic_load_explicit(&st.done, memory_order_acquire);
		/* Batch sizes vary so handovers meet partly drained segments. */
		size_t n = ring_pop_batch(st.r, out, 1 + (size_t)(last & 255));

		for (size_t k = 0; k < n; k++) {
			if ((int64_t)out[k].series != last + 1)
				ck_abort_msg("got %u after %lld", out[k].series,
					     (long long)last);
			check_sample(&out[k], out[k].series);
			last = out[k].series;
		}
		if (n == 0 && fin)
			break;
		if (n == 0)
			sched_yield();
	}
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(last, (int64_t)st.n - 1);
	/* Producer retried instead of losing: refused pushes count as drops. */
	ck_assert_uint_eq(ring_offered(st.r) - (uint32_t)ring_dropped(st.r), st.n);
	/* 4 -> 65536 in doublings at least; a poll of ~40000 never fits 4. */
	ck_assert_uint_ge(st.grows, 2);
	ck_assert_uint_eq(ring_capacity(st.r), 1u << 16);
	ck_assert_uint_gt(atomic_load(&st.wakes), 0);
	ring_destroy(st.r);
}
END_TEST

static Suite *ring_suite(void)
{
	Suite *s = suite_create("ring");
	TCase *tc = tcase_create("single");
	TCase *ts = tcase_create("stress");

	tcase_add_loop_test(tc, test_capacity_rounding, 0, ARRAY_SIZE(cap_cases));
	tcase_add_test(tc, test_capacity_too_large);
	tcase_add_test(tc, test_push_pop_order);
	tcase_add_loop_test(tc, test_wrap_around, 0, ARRAY_SIZE(wrap_cases));
	tcase_add_loop_test(tc, test_drop_accounting, 0, ARRAY_SIZE(drop_cases));
	tcase_add_loop_test(tc, test_pop_batch_limits, 0, ARRAY_SIZE(batch_cases));
	tcase_add_loop_test(tc, test_grow, 0, ARRAY_SIZE(grow_cases));
	tcase_add_test(tc, test_grow_refused);
	tcase_add_test(tc, test_wake_half_full);
	suite_add_tcase(s, tc);

	/* Generous: the stress runs are slow under TSan on a loaded box. */
	tcase_set_timeout(ts, 120);
	tcase_add_loop_test(ts, test_stress_lossless, 0, ARRAY_SIZE(stress_cases));
	tcase_add_loop_test(ts, test_stress_lossy, 0, ARRAY_SIZE(stress_cases));
	tcase_add_test(ts, test_stress_grow);
	suite_add_tcase(s, ts);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(ring_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
