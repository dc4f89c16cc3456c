/* Benchmark: CPU time of one poll of the InfiniBand collector over a sysfs
 * tree (default: the 8-HCA NDR fixture). The collector's .c is included and
 * am_emit stores into an array (the cost of the agent's ring push, a few ns
 * per sample, is not the subject here). Prints mean CPU and wall time per
 * poll; tests/bench/bench_ib.sh compares it with node_exporter.
 * Usage: bench_ib SYSFS_ROOT [POLLS]
 */
#include "../../collectors/infiniband.c"

#include <time.h>

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

static double secs(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
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
	ib_fini(st);
	return 0;
}
