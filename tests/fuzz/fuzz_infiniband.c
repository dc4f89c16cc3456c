/* libFuzzer target for what the InfiniBand collector reads from sysfs: the
 * input, split at 0xff bytes, becomes the contents of one port's files (state,
 * rate, link layer, counters, ...) in a scratch tree, which the real
 * collector reads at init and over two polls through the fake of the
 * collector API (tests/fake_am.c); every emitted value is then checked
 * (finite, counters within their width, ratios in [0, 1]). The raw input
 * also goes through am_parse_u64 (round trip). Not built by `make`:
 *   make fuzz-infiniband && tests/fuzz/fuzz_infiniband -max_total_time=60
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "accelmon/util.h"
#include "fake_am.h"

extern const struct am_collector infiniband_collector;

/* Relative to the device directory; the first fields are the likeliest to
 * be fuzzed (the rest default to "0\n"). */
static const char *const fuzz_files[] = {
    "ports/1/state",
    "ports/1/rate",
    "ports/1/counters/port_xmit_data",
    "ports/1/counters/symbol_error",
    "ports/1/phys_state",
    "ports/1/link_layer",
    "ports/1/counters/port_rcv_data",
    "ports/1/counters/unicast_xmit_packets",
    "ports/1/counters/link_downed",
    "ports/1/counters/port_xmit_wait",
    "ports/1/hw_counters/out_of_sequence",
    "ports/1/hw_counters/np_cnp_sent",
    "ports/1/hw_counters/lifespan",
    "ports/1/gid_attrs/ndevs/0",
    "fw_ver",
    "node_guid",
};
#define FUZZ_NFILES (sizeof(fuzz_files) / sizeof(fuzz_files[0]))

static char fuzz_root[64];
static int fuzz_fd[FUZZ_NFILES];

static void fuzz_fail(const char *msg)
{
	fprintf(stderr, "fuzz_infiniband: %s\n", msg);
	__builtin_trap();
}

static void fuzz_cleanup(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fuzz_root);
	if (fuzz_root[0] && system(cmd) != 0)
		fprintf(stderr, "fuzz_infiniband: cannot remove %s\n", fuzz_root);
}

/* The scratch tree, made once: the files stay open and are rewritten in
 * place for every input; removed at exit. */
static void fuzz_tree(void)
{
	char dev[PATH_MAX];

	snprintf(fuzz_root, sizeof(fuzz_root), "/tmp/fuzz_ib.XXXXXX");
	if (!mkdtemp(fuzz_root))
		fuzz_fail("mkdtemp");
	atexit(fuzz_cleanup);
	snprintf(dev, sizeof(dev), "%s/class/infiniband/mlx5_0", fuzz_root);
	for (size_t i = 0; i < FUZZ_NFILES; i++) {
		char path[PATH_MAX + 64], cmd[2 * PATH_MAX + 128];

		snprintf(path, sizeof(path), "%s/%s", dev, fuzz_files[i]);
		snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname '%s')\"", path);
		if (system(cmd) != 0)
			fuzz_fail("mkdir");
		fuzz_fd[i] = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
		if (fuzz_fd[i] < 0)
			fuzz_fail("open");
	}
	fake_am_on_violation(fuzz_fail);
}

static void fuzz_put(int fd, const uint8_t *p, size_t n)
{
	if (ftruncate(fd, 0) != 0 || (n && pwrite(fd, p, n, 0) != (ssize_t)n))
		fuzz_fail("write");
}

/* What a sample may be, whatever the files held. */
static void fuzz_check(const struct am_ctx *ctx)
{
	for (size_t i = 0; i < fake_am_nseries(ctx); i++) {
		const struct fake_series *s = fake_am_series(ctx, (am_series_t)i);
		const struct am_family_def *d = fake_am_view(ctx, s->view);
		unsigned bits = d->bits ? d->bits : 64;

		if (!s->nsamples)
			continue;
		if (!isfinite(s->last))
			fuzz_fail("value not finite");
		if (d->kind == AM_COUNTER && s->last_is_u64 && bits < 64 &&
		    s->last_u64 > ((uint64_t)1 << bits) - 1)
			fuzz_fail("counter wider than its view");
		if (strstr(d->name, "_ratio") && !(s->last >= 0 && s->last <= 1))
			fuzz_fail("ratio outside [0, 1]");
		if (strcmp(d->name, "fabric_port_up") == 0 && s->last != 0 &&
		    s->last != 1)
			fuzz_fail("port_up not 0 or 1");
		if (strcmp(d->name, "fabric_port_link_speed_bytes_per_second") == 0 &&
		    s->last < 0)
			fuzz_fail("negative link speed");
	}
}

static void fuzz_parse(const uint8_t *data, size_t size)
{
	uint64_t v, w;
	char buf[40];

	if (am_parse_u64((const char *)data, size, &v) != 0)
		return;
	/* printed back, in both forms, it parses the same */
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
	if (am_parse_u64(buf, (size_t)-1, &w) != 0 || w != v)
		fuzz_fail("decimal round trip");
	snprintf(buf, sizeof(buf), " 0x%llx\n", (unsigned long long)v);
	if (am_parse_u64(buf, (size_t)-1, &w) != 0 || w != v)
		fuzz_fail("hex round trip");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *end = data + size;
	struct am_ctx *ctx;
	void *st = NULL;

	if (!fuzz_root[0])
		fuzz_tree();
	fuzz_parse(data, size);
	for (size_t i = 0; i < FUZZ_NFILES; i++) {
		const uint8_t *sep = p < end ? memchr(p, 0xff, (size_t)(end - p)) : NULL;
		size_t n = p < end ? (size_t)((sep ? sep : end) - p) : 0;

		if (p < end)
			fuzz_put(fuzz_fd[i], p, n);
		else
			fuzz_put(fuzz_fd[i], (const uint8_t *)"0\n", 2);
		p = sep ? sep + 1 : end;
	}
	ctx = fake_am_new("infiniband", fuzz_root);
	if (infiniband_collector.init(ctx, NULL, &st) == 0) {
		infiniband_collector.poll(ctx, st);
		fake_am_advance(ctx, 1000000000);
		infiniband_collector.poll(ctx, st);
		fuzz_check(ctx);
		infiniband_collector.fini(ctx, st);
	}
	fake_am_free(ctx);
	return 0;
}
