/* Benchmark: CPU time of one poll of the InfiniBand collector over a sysfs
 * tree (default: the 8-HCA NDR fixture). Two builds (make bench-ib makes
 * both):
 *  - default: the collector against the fake of the collector API
 *    (tests/fake_am.c), whose emit stores into an array: the collector's own
 *    cost;
 *  - -DBENCH_IB_CORE: the real collector through agent/harness.c, so each
 *    cycle also pays the ring push and the aggregator's ingestion of every
 *    sample.
 * Prints mean CPU and wall time per poll; tests/bench/bench_ib.sh compares
 * them with node_exporter. Usage: bench_ib SYSFS_ROOT [POLLS]
 */
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
#include <string.h>

#include "fake_am.h"

extern const struct am_collector infiniband_collector;

int main(int argc, char **argv)
{
	struct am_ctx *ctx;
	void *st = NULL;
	long polls = argc > 2 ? atol(argv[2]) : 20000;
	double c0, w0, c1, w1;
	uint64_t first;
	size_t ports = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s SYSFS_ROOT [POLLS]\n", argv[0]);
		return 2;
	}
	ctx = fake_am_new("infiniband", argv[1]);
	if (infiniband_collector.init(ctx, NULL, &st) != 0) {
		fprintf(stderr, "bench_ib: no InfiniBand device under %s\n", argv[1]);
		return 1;
	}
	/* first poll interns series and opens the files: not measured */
	fake_am_set_time(ctx, 1000000000);
	infiniband_collector.poll(ctx, st);
	first = fake_am_samples(ctx);
	c0 = secs(CLOCK_PROCESS_CPUTIME_ID);
	w0 = secs(CLOCK_MONOTONIC);
	for (long i = 0; i < polls; i++) {
		fake_am_advance(ctx, 1000000000);
		infiniband_collector.poll(ctx, st);
	}
	c1 = secs(CLOCK_PROCESS_CPUTIME_ID);
	w1 = secs(CLOCK_MONOTONIC);
	for (size_t i = 0; i < fake_am_nseries(ctx); i++) {
		const struct fake_series *s = fake_am_series(ctx, (am_series_t)i);

		ports += strcmp(fake_am_view(ctx, s->view)->name, "fabric_port_up") == 0;
	}
	printf("ports=%zu samples_per_poll=%llu read_errors=%llu polls=%ld\n", ports,
	       (unsigned long long)first, (unsigned long long)fake_am_read_errors(ctx),
	       polls);
	printf("cpu_seconds_per_poll=%.9f\n", (c1 - c0) / (double)polls);
	printf("wall_seconds_per_poll=%.9f\n", (w1 - w0) / (double)polls);
	infiniband_collector.fini(ctx, st);
	fake_am_free(ctx);
	return 0;
}
#endif /* BENCH_IB_CORE */
