/* Benchmark: CPU time of one poll of the InfiniBand collector over a sysfs
 * tree (default: the 8-HCA NDR fixture). Two builds:
 *  - default: the collector's .c is included and am_emit stores into an
 *    array: the collector's own cost;
 *  - -DBENCH_IB_CORE (make bench-ib links it with libaccelmon.a): the real
 *    collector through agent/harness.c, so each cycle also pays the ring
 *    push and the aggregator's ingestion of every sample.
 * Prints mean CPU and wall time per poll; tests/bench/bench_ib.sh compares
 * them with node_exporter. Usage: bench_ib SYSFS_ROOT [POLLS]
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* asprintf, strverscmp in the included collector */
#endif
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double secs(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#ifdef BENCH_IB_CORE
#include "harness.h"

extern const struct am_collector infiniband_collector;

int main(int argc, char **argv)
{
	long polls = argc > 2 ? atol(argv[2]) : 20000;
	int64_t t = 1000000000;
	char err[256] = "";
	struct harness *h;
	double c0, w0, c1, w1;

	if (argc < 2) {
		fprintf(stderr, "usage: %s SYSFS_ROOT [POLLS]\n", argv[0]);
		return 2;
	}
	h = harness_new(&infiniband_collector, NULL, argv[1], NULL, t, err, sizeof err);
	if (!h || harness_init_rc(h) != 0) {
		fprintf(stderr, "bench_ib: %s\n", h ? harness_found(h) : err);
		return 1;
	}
	harness_poll(h, t);
	c0 = secs(CLOCK_PROCESS_CPUTIME_ID);
	w0 = secs(CLOCK_MONOTONIC);
	for (long i = 0; i < polls; i++) {
		t += 1000000000;
		harness_poll(h, t);
	}
	c1 = secs(CLOCK_PROCESS_CPUTIME_ID);
	w1 = secs(CLOCK_MONOTONIC);
	printf("with_core: polls=%ld read_errors=%llu dropped=%llu\n", polls,
	       (unsigned long long)harness_read_errors(h),
	       (unsigned long long)harness_dropped(h));
	printf("core_cpu_seconds_per_poll=%.9f\n", (c1 - c0) / (double)polls);
	printf("core_wall_seconds_per_poll=%.9f\n", (w1 - w0) / (double)polls);
	harness_free(h);
	return 0;
}
#else
#include "../../collectors/infiniband.c"

static double values[65536];
static unsigned nseries, nemits, nerrors;
static int64_t now_ns;

am_family_t am_family(struct am_ctx *c, const struct am_family_def *d)
{
	static int n;
	(void)c;
	(void)d;
	return n++;
}
am_family_t am_std_family(struct am_ctx *c, enum am_std w, const struct am_std_use *u)
{
	(void)w;
	(void)u;
	return am_family(c, NULL);
}
am_series_t am_series(struct am_ctx *c, am_family_t f, const char *const *l)
{
	(void)c;
	(void)f;
	(void)l;
	return nseries++ & 65535;
}
void am_emit(struct am_ctx *c, am_series_t s, double v)
{
	(void)c;
	values[s & 65535] = v;
	nemits++;
}
void am_emit_u64(struct am_ctx *c, am_series_t s, uint64_t raw)
{
	(void)c;
	values[s & 65535] = (double)raw;
	nemits++;
}
void am_found(struct am_ctx *c, const char *fmt, ...)
{
	(void)c;
	(void)fmt;
}
void am_log(struct am_ctx *c, enum am_log_level l, const char *fmt, ...)
{
	(void)c;
	(void)l;
	(void)fmt;
}
void am_read_error(struct am_ctx *c)
{
	(void)c;
	nerrors++;
}
static const char *root;
const char *am_sysfs(const struct am_ctx *c)
{
	(void)c;
	return root;
}
int64_t am_poll_time_ns(const struct am_ctx *c)
{
	(void)c;
	return now_ns;
}
double am_cfg_duration(const struct am_config *c, const char *k, double d)
{
	(void)c;
	(void)k;
	return d;
}
const char *am_cfg_string(const struct am_config *c, const char *k, const char *d)
{
	(void)c;
	(void)k;
	return d;
}

int main(int argc, char **argv)
{
	void *st = NULL;
	long polls = argc > 2 ? atol(argv[2]) : 20000;
	double c0, w0, c1, w1;
	unsigned first;

	if (argc < 2) {
		fprintf(stderr, "usage: %s SYSFS_ROOT [POLLS]\n", argv[0]);
		return 2;
	}
	root = argv[1];
	if (ib_init(NULL, NULL, &st) != 0) {
		fprintf(stderr, "bench_ib: no InfiniBand device under %s\n", root);
		return 1;
	}
	/* first poll interns series and opens the files: not measured */
	now_ns = 1000000000;
	ib_poll(NULL, st);
	first = nemits;
	c0 = secs(CLOCK_PROCESS_CPUTIME_ID);
	w0 = secs(CLOCK_MONOTONIC);
	for (long i = 0; i < polls; i++) {
		now_ns += 1000000000;
		ib_poll(NULL, st);
	}
	c1 = secs(CLOCK_PROCESS_CPUTIME_ID);
	w1 = secs(CLOCK_MONOTONIC);
	printf("ports=%zu samples_per_poll=%u read_errors=%u polls=%ld\n",
	       ((struct ib_state *)st)->nports, first, nerrors, polls);
	printf("cpu_seconds_per_poll=%.9f\n", (c1 - c0) / (double)polls);
	printf("wall_seconds_per_poll=%.9f\n", (w1 - w0) / (double)polls);
	ib_fini(NULL, st);
	return 0;
}
#endif /* BENCH_IB_CORE */
