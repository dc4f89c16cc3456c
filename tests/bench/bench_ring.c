/* Ring throughput benchmark (not a test): items/s through one producer and one
 * consumer thread for accelmon's SPSC ring, ck_ring's typed SPSC ring and a
 * mutex-protected circular queue, all carrying the same 24-byte am_sample at
 * the same capacity. Prints best and median items/s and the ratios, for two
 * consumer behaviours: "tight" (drains as fast as it can, so it sits right
 * behind the producer: the worst case for cache-line traffic) and "paced"
 * (pauses ~1 us after a small batch, like the aggregator's periodic drain).
 * Usage: bench_ring [items (50000000)] [repetitions (5)] [capacity (4096)]
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* pthread_setaffinity_np, CPU_SET */
#endif
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ck_ring.h>

#include "ring.h"

/* The consumer drains up to this many samples per call, as the aggregator
 * does. ck_ring's SPSC dequeue has no batch form: it loops one at a time. */
#define BENCH_BATCH 256
#define BENCH_CACHELINE 64
/* Paced mode: after a pop of fewer than BENCH_PACE_MIN samples, spin
 * BENCH_PACE_SPINS pause instructions before the next pop. */
#define BENCH_PACE_MIN (BENCH_BATCH / 4)
#define BENCH_PACE_SPINS 32

static inline void bench_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/* Spin briefly, then yield: the box is shared, so a waiting thread must not
 * burn a core the other side (or another process) needs. */
static inline void bench_backoff(unsigned *spins)
{
	if (++*spins < 64) {
		bench_relax();
	} else {
		*spins = 0;
		sched_yield();
	}
}

static double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *bench_alloc(size_t size)
{
	void *p;

	size = (size + BENCH_CACHELINE - 1) & ~(size_t)(BENCH_CACHELINE - 1);
	p = aligned_alloc(BENCH_CACHELINE, size);
	if (!p) {
		perror("aligned_alloc");
		exit(1);
	}
	memset(p, 0, size);
	return p;
}

/* ---- (b) ck_ring, typed SPSC interface with the same struct ---- */

CK_RING_PROTOTYPE(am_sample, am_sample)

struct ckq {
	struct ck_ring ring; /* ck pads c_head and p_tail onto separate lines */
	struct am_sample *buf;
};

/* ---- (c) mutex-protected circular queue ---- */

struct mq {
	pthread_mutex_t lock;
	uint32_t head, tail, mask, cap;
	struct am_sample *buf;
};

static bool mq_push(struct mq *q, const struct am_sample *s)
{
	bool ok = false;

	pthread_mutex_lock(&q->lock);
	if (q->tail - q->head != q->cap) {
		q->buf[q->tail & q->mask] = *s;
		q->tail++;
		ok = true;
	}
	pthread_mutex_unlock(&q->lock);
	return ok;
}

/* Same batching as ours: one lock round trip per batch. */
static size_t mq_pop_batch(struct mq *q, struct am_sample *out, size_t max)
{
	uint32_t n, h, first;

	pthread_mutex_lock(&q->lock);
	n = q->tail - q->head;
	if (n > max)
		n = (uint32_t)max;
	h = q->head & q->mask;
	first = q->cap - h < n ? q->cap - h : n;
	memcpy(out, &q->buf[h], first * sizeof(*out));
	memcpy(out + first, q->buf, (n - first) * sizeof(*out));
	q->head += n;
	pthread_mutex_unlock(&q->lock);
	return n;
}

/* ---- harness ---- */

enum impl { IMPL_OURS, IMPL_CK, IMPL_MUTEX, IMPL_N };
static const char *const impl_name[IMPL_N] = { "accelmon ring", "ck_ring spsc", "mutex queue" };

enum mode { MODE_TIGHT, MODE_PACED, MODE_N };
static const char *const mode_name[MODE_N] = { "tight", "paced" };

struct run {
	enum impl impl;
	uint64_t n;
	int cpu_prod, cpu_cons;
	pthread_barrier_t start;
	struct ring *ours;
	struct ckq *ck;
	struct mq *mq;
};

static int bench_pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return 0;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return -pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static void *bench_producer(void *arg)
{
	struct run *r = arg;
	struct am_sample s = { 0 };
	unsigned spins = 0;

	bench_pin(r->cpu_prod);
	pthread_barrier_wait(&r->start);
	for (uint64_t i = 0; i < r->n; i++) {
		s.series = (uint32_t)i;
		s.t_ns = (int64_t)i;
		s.value = (double)i;
		switch (r->impl) {
		case IMPL_OURS:
			while (!ring_push(r->ours, &s))
				bench_backoff(&spins);
			break;
		case IMPL_CK:
			while (!ck_ring_enqueue_spsc_am_sample(&r->ck->ring, r->ck->buf, &s))
				bench_backoff(&spins);
			break;
		case IMPL_MUTEX:
			while (!mq_push(r->mq, &s))
				bench_backoff(&spins);
			break;
		default:
			abort();
		}
	}
	return NULL;
}

static size_t ck_pop_batch(struct ckq *q, struct am_sample *out, size_t max)
{
	size_t n = 0;

	while (n < max && ck_ring_dequeue_spsc_am_sample(&q->ring, q->buf, &out[n]))
		n++;
	return n;
}

/* Runs the consumer on the calling thread; returns items/s. */
static double bench_once(enum impl impl, enum mode mode, uint64_t n, uint32_t cap, int cpu_prod,
			 int cpu_cons)
{
	static struct am_sample out[BENCH_BATCH];
	struct run r = { .impl = impl, .n = n, .cpu_prod = cpu_prod, .cpu_cons = cpu_cons };
	uint64_t got = 0;
	unsigned spins = 0;
	pthread_t th;
	double t0, t1;
	int err;

	switch (impl) {
	case IMPL_OURS:
		r.ours = ring_create(cap);
		if (!r.ours || ring_capacity(r.ours) != cap) {
			fprintf(stderr, "ring_create(%u) failed\n", cap);
			exit(1);
		}
		break;
	case IMPL_CK:
		r.ck = bench_alloc(sizeof(*r.ck));
		r.ck->buf = bench_alloc((size_t)cap * sizeof(struct am_sample));
		/* ck keeps one slot empty: it holds cap - 1 samples, we hold cap. */
		ck_ring_init(&r.ck->ring, cap);
		break;
	case IMPL_MUTEX:
		r.mq = bench_alloc(sizeof(*r.mq));
		pthread_mutex_init(&r.mq->lock, NULL);
		r.mq->cap = cap;
		r.mq->mask = cap - 1;
		r.mq->buf = bench_alloc((size_t)cap * sizeof(struct am_sample));
		break;
	default:
		abort();
	}

	pthread_barrier_init(&r.start, NULL, 2);
	err = pthread_create(&th, NULL, bench_producer, &r);
	if (err) {
		fprintf(stderr, "pthread_create: %s\n", strerror(err));
		exit(1);
	}
	bench_pin(cpu_cons);
	pthread_barrier_wait(&r.start);
	t0 = bench_now();
	while (got < n) {
		size_t k;

		switch (impl) {
		case IMPL_OURS:
			k = ring_pop_batch(r.ours, out, BENCH_BATCH);
			break;
		case IMPL_CK:
			k = ck_pop_batch(r.ck, out, BENCH_BATCH);
			break;
		default:
			k = mq_pop_batch(r.mq, out, BENCH_BATCH);
			break;
		}
		if (k == 0) {
			bench_backoff(&spins);
			continue;
		}
		/* Check order too: a fast wrong queue must not win. */
		for (size_t j = 0; j < k; j++) {
			if (out[j].series != (uint32_t)(got + j) || out[j].t_ns != (int64_t)(got + j)) {
				fprintf(stderr, "%s: item %llu out of order (got %u)\n", impl_name[impl],
					(unsigned long long)(got + j), out[j].series);
				exit(1);
			}
		}
		got += k;
		if (mode == MODE_PACED && k < BENCH_PACE_MIN)
			for (int z = 0; z < BENCH_PACE_SPINS; z++)
				bench_relax();
	}
	t1 = bench_now();
	pthread_join(th, NULL);
	pthread_barrier_destroy(&r.start);

	if (r.ours) {
		ring_destroy(r.ours);
	} else if (r.ck) {
		free(r.ck->buf);
		free(r.ck);
	} else {
		pthread_mutex_destroy(&r.mq->lock);
		free(r.mq->buf);
		free(r.mq);
	}
	return (double)n / (t1 - t0);
}

static int bench_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 0) : 50000000ull;
	int reps = argc > 2 ? atoi(argv[2]) : 5;
	unsigned long capl = argc > 3 ? strtoul(argv[3], NULL, 0) : 4096;
	double best[MODE_N][IMPL_N], med[MODE_N][IMPL_N], *res[MODE_N][IMPL_N];
	int cpu_prod = -1, cpu_cons = -1;
	uint32_t cap;
	cpu_set_t set;

	if (n == 0 || reps < 1 || capl < 2 || capl > (1ul << 30) || (capl & (capl - 1))) {
		fprintf(stderr, "usage: %s [items>0] [reps>=1] [capacity: power of two]\n", argv[0]);
		return 2;
	}
	cap = (uint32_t)capl;

	/* Pin producer and consumer to the first two CPUs we may run on. */
	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) >= 2) {
		for (int c = 0; c < CPU_SETSIZE && cpu_cons < 0; c++) {
			if (!CPU_ISSET(c, &set))
				continue;
			if (cpu_prod < 0)
				cpu_prod = c;
			else
				cpu_cons = c;
		}
	}
	printf("bench_ring: %llu items x %d reps, capacity %u, item %zu bytes, "
	       "consumer batch %d, producer cpu %d, consumer cpu %d\n",
	       (unsigned long long)n, reps, cap, sizeof(struct am_sample), BENCH_BATCH, cpu_prod,
	       cpu_cons);

	for (int m = 0; m < MODE_N; m++) {
		for (int i = 0; i < IMPL_N; i++) {
			res[m][i] = calloc((size_t)reps, sizeof(double));
			if (!res[m][i])
				return 1;
		}
	}
	/* Interleave implementations so drift in machine load hits all. */
	for (int rep = 0; rep < reps; rep++)
		for (int m = 0; m < MODE_N; m++)
			for (int i = 0; i < IMPL_N; i++)
				res[m][i][rep] = bench_once((enum impl)i, (enum mode)m, n, cap,
							    cpu_prod, cpu_cons);

	printf("%-6s %-14s %15s %15s\n", "mode", "implementation", "best items/s",
	       "median items/s");
	for (int m = 0; m < MODE_N; m++) {
		for (int i = 0; i < IMPL_N; i++) {
			double *v = res[m][i];

			qsort(v, (size_t)reps, sizeof(double), bench_cmp);
			best[m][i] = v[reps - 1];
			med[m][i] = reps % 2 ? v[reps / 2] : (v[reps / 2 - 1] + v[reps / 2]) / 2;
			printf("%-6s %-14s %15.4g %15.4g\n", mode_name[m], impl_name[i], best[m][i],
			       med[m][i]);
			free(v);
		}
	}
	for (int m = 0; m < MODE_N; m++) {
		printf("%-6s ours/ck_ring: best %.2fx, median %.2fx; ours/mutex: best %.2fx, "
		       "median %.2fx\n",
		       mode_name[m], best[m][IMPL_OURS] / best[m][IMPL_CK],
		       med[m][IMPL_OURS] / med[m][IMPL_CK], best[m][IMPL_OURS] / best[m][IMPL_MUTEX],
		       med[m][IMPL_OURS] / med[m][IMPL_MUTEX]);
	}
	return 0;
}
