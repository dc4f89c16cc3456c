/* Check suite for the InfiniBand/RoCE collector (collectors/infiniband.c),
 * in two parts:
 *  - unit: the collector's .c is included (its am_* calls renamed to a small
 *    recording fake) so parsers, discovery, error handling and open counts
 *    are tested directly, with an open() hook that counts opens and injects
 *    errors root cannot otherwise get;
 *  - core: the real infiniband_collector through agent/harness.c (real ring,
 *    aggregator and exposition, fake clock): exact exposed values, x4 bytes,
 *    resets, wraps, saturation, the peak window.
 */
#define am_family fake_am_family
#define am_std_family fake_am_std_family
#define am_series fake_am_series
#define am_emit fake_am_emit
#define am_emit_u64 fake_am_emit_u64
#define am_found fake_am_found
#define am_log fake_am_log
#define am_read_error fake_am_read_error
#define am_sysfs fake_am_sysfs
#define am_procfs fake_am_procfs
#define am_poll_time_ns fake_am_poll_time_ns
#define am_interval_s fake_am_interval_s
#define am_cfg_bool fake_am_cfg_bool
#define am_cfg_int fake_am_cfg_int
#define am_cfg_duration fake_am_cfg_duration
#define am_cfg_string fake_am_cfg_string
#define am_cfg_list_len fake_am_cfg_list_len
#define am_cfg_list_at fake_am_cfg_list_at
#define am_ctx fake_am_ctx
#define am_config fake_am_config
#define infiniband_collector ib_unit_copy_collector
#include "../collectors/infiniband.c"
#undef infiniband_collector
#undef am_ctx
#undef am_config

#include <check.h>
#include <math.h>
#include <sys/stat.h>

#include "agg.h"
#include "harness.h"
#include "schema.h"
#include "series.h"
#include <sys/wait.h>

#ifndef TEST_SRCDIR
#define TEST_SRCDIR "tests"
#endif
#define FIX TEST_SRCDIR "/fixtures/infiniband"

/* ---- the fake agent ---- */

#define FAKE_MAX_SERIES 4096

struct fake_series {
	int fam;       /* the view it was interned with */
	char key[256]; /* label values joined with ',' */
	double value;
	unsigned nemit;
};

struct fake_am_ctx {
	const char *sysfs;
	int64_t now;
	struct am_family_def fams[64];
	int nfams;
	struct fake_series series[FAKE_MAX_SERIES];
	unsigned nseries;
	unsigned nintern; /* am_series calls */
	unsigned read_errors;
};

struct fake_am_config {
	const char *key[8];
	const char *val[8];
	double peak;
};

static struct fake_am_ctx *C;

/* Like the core: one view per (name, width, saturation, scale, window). */
am_family_t am_family(struct fake_am_ctx *ctx, const struct am_family_def *def)
{
	for (int i = 0; i < ctx->nfams; i++)
		if (strcmp(ctx->fams[i].name, def->name) == 0 &&
		    ctx->fams[i].bits == def->bits &&
		    ctx->fams[i].saturating == def->saturating &&
		    ctx->fams[i].scale == def->scale &&
		    ctx->fams[i].window_s == def->window_s)
			return i;
	ck_assert_int_lt(ctx->nfams, 64);
	ctx->fams[ctx->nfams] = *def;
	return ctx->nfams++;
}

/* Schema families as the core defines them (agent/schema.c). */
am_family_t am_std_family(struct fake_am_ctx *ctx, enum am_std which,
			  const struct am_std_use *use)
{
	struct am_family_def d;
	const char *why;

	if (schema_family_def(which, use, &d, &why) < 0)
		return -EINVAL;
	return am_family(ctx, &d);
}

am_series_t am_series(struct fake_am_ctx *ctx, am_family_t fam, const char *const *lv)
{
	char key[256] = "";
	size_t n = 0;

	ctx->nintern++;
	for (int i = 0; i < AM_MAX_LABELS && ctx->fams[fam].labels[i]; i++)
		n += (size_t)snprintf(key + n, sizeof key - n, "%s%s", i ? "," : "",
				      lv[i]);
	for (unsigned i = 0; i < ctx->nseries; i++)
		if (strcmp(ctx->fams[ctx->series[i].fam].name, ctx->fams[fam].name) ==
			0 &&
		    strcmp(ctx->series[i].key, key) == 0)
			return i;
	ck_assert_uint_lt(ctx->nseries, FAKE_MAX_SERIES);
	ctx->series[ctx->nseries].fam = fam;
	snprintf(ctx->series[ctx->nseries].key, 256, "%s", key);
	return ctx->nseries++;
}

void am_emit(struct fake_am_ctx *ctx, am_series_t s, double v)
{
	ck_assert_uint_lt(s, ctx->nseries);
	ctx->series[s].value = v;
	ctx->series[s].nemit++;
}

void am_emit_u64(struct fake_am_ctx *ctx, am_series_t s, uint64_t raw)
{
	am_emit(ctx, s, (double)raw);
}

void am_found(struct fake_am_ctx *ctx, const char *fmt, ...)
{
	(void)ctx;
	(void)fmt;
}

void am_log(struct fake_am_ctx *ctx, enum am_log_level level, const char *fmt, ...)
{
	(void)ctx;
	(void)level;
	(void)fmt;
}

void am_read_error(struct fake_am_ctx *ctx)
{
	ctx->read_errors++;
}

const char *am_sysfs(const struct fake_am_ctx *ctx)
{
	return ctx->sysfs;
}

const char *am_procfs(const struct fake_am_ctx *ctx)
{
	(void)ctx;
	return "/proc";
}

int64_t am_poll_time_ns(const struct fake_am_ctx *ctx)
{
	return ctx->now;
}

double am_interval_s(const struct fake_am_ctx *ctx)
{
	(void)ctx;
	return 1.0;
}

bool am_cfg_bool(const struct fake_am_config *cfg, const char *key, bool dflt)
{
	(void)cfg;
	(void)key;
	return dflt;
}

long long am_cfg_int(const struct fake_am_config *cfg, const char *key, long long dflt)
{
	(void)cfg;
	(void)key;
	return dflt;
}

double am_cfg_duration(const struct fake_am_config *cfg, const char *key, double dflt_s)
{
	if (cfg && strcmp(key, "peak_window") == 0 && cfg->peak > 0)
		return cfg->peak;
	return dflt_s;
}

const char *am_cfg_string(const struct fake_am_config *cfg, const char *key,
			  const char *dflt)
{
	for (int i = 0; cfg && i < 8 && cfg->key[i]; i++)
		if (strcmp(cfg->key[i], key) == 0)
			return cfg->val[i];
	return dflt;
}

size_t am_cfg_list_len(const struct fake_am_config *cfg, const char *key)
{
	(void)cfg;
	(void)key;
	return 0;
}

const char *am_cfg_list_at(const struct fake_am_config *cfg, const char *key, size_t i)
{
	(void)cfg;
	(void)key;
	(void)i;
	return NULL;
}

/* ---- open hook: count opens, inject errno by path suffix ---- */

static unsigned n_opens;
static const char *open_log_match; /* count opens whose path contains this */
static unsigned n_match_opens;
static const char *inject_suffix[4];
static int inject_errno[4];

static int fake_open(const char *path, int flags)
{
	size_t pl = strlen(path);

	n_opens++;
	if (open_log_match && strstr(path, open_log_match))
		n_match_opens++;
	for (int i = 0; i < 4 && inject_suffix[i]; i++) {
		size_t sl = strlen(inject_suffix[i]);

		if (pl >= sl && strcmp(path + pl - sl, inject_suffix[i]) == 0) {
			errno = inject_errno[i];
			return -1;
		}
	}
	return open(path, flags);
}

/* ---- helpers ---- */

static char tmpdir[PATH_MAX];
static char tmptrees[4][PATH_MAX + 64];
static unsigned ntmptrees;

static void setup(void)
{
	C = calloc(1, sizeof *C);
	ck_assert_ptr_nonnull(C);
	C->now = 1000000000;
	ib_open = fake_open;
	n_opens = n_match_opens = 0;
	open_log_match = NULL;
	memset(inject_suffix, 0, sizeof inject_suffix);
	tmpdir[0] = '\0';
	ntmptrees = 0;
}

static void teardown(void)
{
	if (tmpdir[0]) {
		char cmd[PATH_MAX + 16];

		snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
		ck_assert_int_eq(system(cmd), 0);
	}
	free(C);
	C = NULL;
}

/* Build a fixture tree as a writable sysfs root in a temp dir (the
 * committed trees keep their symlinks in TREE.links, see mktree.sh). Asking
 * again for the same tree in a test returns the same copy. */

static const char *copy_fixture(const char *name)
{
	char cmd[3 * PATH_MAX];
	char *tmptree;

	if (!tmpdir[0]) {
		snprintf(tmpdir, sizeof tmpdir, "/tmp/test_ib.XXXXXX");
		ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	}
	for (unsigned i = 0; i < ntmptrees && i < 4; i++) {
		const char *base = strrchr(tmptrees[i], '/');

		if (base && strcmp(base + 1, name) == 0)
			return tmptrees[i];
	}
	ck_assert_uint_lt(ntmptrees, 4);
	tmptree = tmptrees[ntmptrees++];
	snprintf(tmptree, PATH_MAX + 64, "%s/%s", tmpdir, name);
	snprintf(cmd, sizeof cmd, "sh '%s/mktree.sh' '%s/%s' '%s'", FIX, FIX, name,
		 tmptree);
	ck_assert_int_eq(system(cmd), 0);
	return tmptree;
}

/* Read-only tests share one build of every tree, made once per test case
 * (an unchecked fixture runs in the parent, before the forked tests). */
static char shared_dir[PATH_MAX];
static const char *const shared_trees[] = {"ndr8", "roce",	"oldkernel",
					   "down", "saturated", "garbage"};

static void shared_setup(void)
{
	snprintf(shared_dir, sizeof shared_dir, "/tmp/test_ib_ro.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(shared_dir));
	for (size_t i = 0; i < sizeof shared_trees / sizeof shared_trees[0]; i++) {
		char cmd[3 * PATH_MAX];

		snprintf(cmd, sizeof cmd, "sh '%s/mktree.sh' '%s/%s' '%s/%s'", FIX, FIX,
			 shared_trees[i], shared_dir, shared_trees[i]);
		ck_assert_int_eq(system(cmd), 0);
	}
}

static void shared_teardown(void)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", shared_dir);
	if (shared_dir[0] && system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", shared_dir);
}

/* A tree the test only reads. */
static const char *tree(const char *name)
{
	static char path[4][PATH_MAX + 64];
	static unsigned n;
	char *p = path[n++ % 4];

	snprintf(p, PATH_MAX + 64, "%s/%s", shared_dir, name);
	return p;
}

/* Overwrite a file in place (same inode: held fds see the new value). */
static void put(const char *root, const char *rel, const char *text)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof path, "%s/class/infiniband/%s", root, rel);
	f = fopen(path, "r+");
	ck_assert_msg(f != NULL, "%s", path);
	ck_assert_int_eq(ftruncate(fileno(f), 0), 0);
	fputs(text, f);
	fclose(f);
}

static void put_u64(const char *root, const char *rel, uint64_t v)
{
	char buf[32];

	snprintf(buf, sizeof buf, "%llu\n", (unsigned long long)v);
	put(root, rel, buf);
}

static int fam_id(const char *name)
{
	for (int i = 0; i < C->nfams; i++)
		if (strcmp(C->fams[i].name, name) == 0)
			return i;
	return -1;
}

static struct fake_series *find(const char *fam, const char *key)
{
	for (unsigned i = 0; i < C->nseries; i++)
		if (strcmp(C->fams[C->series[i].fam].name, fam) == 0 &&
		    strcmp(C->series[i].key, key) == 0)
			return &C->series[i];
	return NULL;
}

/* The registration (width, saturation) a series was interned with. */
static const struct am_family_def *view_of(const char *fam, const char *key)
{
	struct fake_series *s = find(fam, key);

	ck_assert_msg(s != NULL, "no series %s{%s}", fam, key);
	return &C->fams[s->fam];
}

/* Value of a series that must have been emitted. */
static double val(const char *fam, const char *key)
{
	struct fake_series *s = find(fam, key);

	ck_assert_msg(s != NULL, "no series %s{%s}", fam, key);
	ck_assert_msg(s->nemit > 0, "series %s{%s} never emitted", fam, key);
	return s->value;
}

static unsigned nemit(const char *fam, const char *key)
{
	struct fake_series *s = find(fam, key);

	return s ? s->nemit : 0;
}

static struct ib_state *start(const char *root, struct fake_am_config *cfg)
{
	void *st = NULL;

	C->sysfs = root;
	ck_assert_int_eq(ib_init(C, cfg, &st), 0);
	ck_assert_ptr_nonnull(st);
	return st;
}

static void poll_at(struct ib_state *st, double t_s)
{
	C->now = (int64_t)(t_s * 1e9);
	ck_assert_int_eq(ib_poll(C, st), 0);
}

/* ---- parser tables ---- */

START_TEST(t_parse_u64)
{
	static const struct {
		const char *in;
		int ret;
		uint64_t v;
	} t[] = {
	    {"0\n", 0, 0},
	    {"42", 0, 42},
	    {"4000034819001\n", 0, 4000034819001ull},
	    {"18446744073709551615\n", 0, UINT64_MAX},
	    {"18446744073709551616\n", -EINVAL, 0}, /* 2^64 */
	    {"123456789012345678901", -EINVAL, 0},  /* 21 digits */
	    {"", -EINVAL, 0},
	    {"\n", -EINVAL, 0},
	    {"N/A (no PMA)\n", -EINVAL, 0},
	    {"12abc\n", -EINVAL, 0},
	    {"-5\n", -EINVAL, 0},
	    {"0x10\n", -EINVAL, 0},
	    {" 7", -EINVAL, 0},
	};

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		uint64_t v = 999;
		int r = ib_parse_u64(t[i].in, strlen(t[i].in), &v);

		ck_assert_msg(r == t[i].ret, "\"%s\": %d", t[i].in, r);
		if (r == 0)
			ck_assert_uint_eq(v, t[i].v);
	}
}
END_TEST

START_TEST(t_parse_state)
{
	static const struct {
		const char *in;
		int ret;
		unsigned id;
	} t[] = {
	    {"4: ACTIVE\n", 0, 4},	{"1: DOWN", 0, 1},	 {"5: LinkUp\n", 0, 5},
	    {"2: Polling\n", 0, 2},	{"3: Disabled\n", 0, 3}, {"ACTIVE\n", -EINVAL, 0},
	    {"4 ACTIVE\n", -EINVAL, 0}, {"", -EINVAL, 0},	 {"4", -EINVAL, 0},
	};

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		unsigned id = 99;
		int r = ib_parse_state(t[i].in, strlen(t[i].in), &id);

		ck_assert_msg(r == t[i].ret, "\"%s\": %d", t[i].in, r);
		if (r == 0)
			ck_assert_uint_eq(id, t[i].id);
	}
}
END_TEST

START_TEST(t_parse_rate)
{
	static const struct {
		const char *in;
		int ret;
		double bps;
		unsigned lanes;
	} t[] = {
	    {"400 Gb/sec (4X NDR)\n", 0, 50e9, 4},
	    {"800 Gb/sec (4X XDR)\n", 0, 100e9, 4},
	    {"200 Gb/sec (4X HDR)\n", 0, 25e9, 4},
	    {"200 Gb/sec (2X NDR)\n", 0, 25e9, 2},
	    {"100 Gb/sec (4X EDR)\n", 0, 12.5e9, 4},
	    {"25 Gb/sec (1X EDR)\n", 0, 3.125e9, 1},
	    {"56 Gb/sec (4X FDR)\n", 0, 7e9, 4},
	    {"40 Gb/sec (4X QDR)\n", 0, 5e9, 4},
	    {"20 Gb/sec (4X DDR)\n", 0, 2.5e9, 4},
	    {"10 Gb/sec (4X SDR)\n", 0, 1.25e9, 4},
	    {"2.5 Gb/sec (1X SDR)\n", 0, 312500000, 1},
	    {"14 Gb/sec (1X FDR)\n", 0, 1.75e9, 1},
	    {"13.64 Gb/sec (1X FDR)\n", 0, 1705000000, 1},
	    {"300 Gb/sec (12X EDR)\n", 0, 37.5e9, 12},
	    {"100 Gb/sec\n", 0, 12.5e9, 0}, /* no width part */
	    {"", -EINVAL, 0, 0},
	    {"Gb/sec (4X NDR)", -EINVAL, 0, 0},
	    {"400 Mb/sec (4X NDR)", -EINVAL, 0, 0},
	    {"400\n", -EINVAL, 0, 0},
	    {"4. Gb/sec (4X NDR)", -EINVAL, 0, 0},
	    {"Invalid argument\n", -EINVAL, 0, 0},
	};

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		double bps = -1;
		unsigned lanes = 99;
		int r = ib_parse_rate(t[i].in, strlen(t[i].in), &bps, &lanes);

		ck_assert_msg(r == t[i].ret, "\"%s\": %d", t[i].in, r);
		if (r == 0) {
			ck_assert_msg(bps == t[i].bps, "\"%s\": %.1f", t[i].in, bps);
			ck_assert_uint_eq(lanes, t[i].lanes);
		}
	}
}
END_TEST

START_TEST(t_util_ratio)
{
	static const struct {
		uint64_t prev, cur;
		unsigned bits;
		bool sat;
		double dt, speed;
		int ret;
		double r;
	} t[] = {
	    /* 6.25e9 words = 25 GB in 1 s on 50 GB/s: half */
	    {1000, 1000 + 6250000000ull, 64, false, 1, 50e9, 0, 0.5},
	    {0, 0, 64, false, 1, 50e9, 0, 0.0},
	    /* same bytes over 2 s: a quarter */
	    {0, 6250000000ull, 64, false, 2, 50e9, 0, 0.25},
	    /* 5% over line rate: timing jitter, clamped */
	    {0, 13125000000ull, 64, false, 1, 50e9, 0, 1.0},
	    /* 50% over: an unseen reset or wrap, no ratio */
	    {0, 18750000000ull, 64, false, 1, 50e9, -ERANGE, 0},
	    /* backwards: reset */
	    {5000, 10, 64, false, 1, 50e9, -ERANGE, 0},
	    /* 32-bit saturating, at max now or before */
	    {100, 4294967295ull, 32, true, 1, 50e9, -EOVERFLOW, 0},
	    {4294967295ull, 4294967295ull, 32, true, 1, 50e9, -EOVERFLOW, 0},
	    /* 32-bit below max is fine */
	    {100, 100 + 312500000ull, 32, true, 1, 12.5e9, 0, 0.1},
	    {0, 10, 64, false, 0, 50e9, -EAGAIN, 0},
	    {0, 10, 64, false, 1, 0, -ENODATA, 0},
	};

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		double r = -1;
		int ret = ib_util_ratio(t[i].prev, t[i].cur, t[i].bits, t[i].sat, t[i].dt,
					t[i].speed, &r);

		ck_assert_msg(ret == t[i].ret, "row %zu: %d", i, ret);
		if (ret == 0)
			ck_assert_double_eq_tol(r, t[i].r, 1e-12);
	}
}
END_TEST

START_TEST(t_is_accel)
{
	ck_assert(ib_is_accel(0x030200, 0x10de));  /* H100 */
	ck_assert(ib_is_accel(0x038000, 0x1002));  /* MI250X */
	ck_assert(ib_is_accel(0x120000, 0x1da3));  /* Gaudi */
	ck_assert(ib_is_accel(0x030000, 0x10de));  /* VGA GPU */
	ck_assert(!ib_is_accel(0x030000, 0x1a03)); /* ASPEED BMC VGA */
	ck_assert(!ib_is_accel(0x040300, 0x10de)); /* GPU HDMI audio */
	ck_assert(!ib_is_accel(0x060400, 0x10de)); /* bridge */
	ck_assert(!ib_is_accel(0x068000, 0x10de)); /* NVSwitch */
	ck_assert(!ib_is_accel(0x020700, 0x15b3)); /* HCA */
	ck_assert(!ib_is_accel(0, 0));
}
END_TEST

/* ---- fixtures through init/poll ---- */

START_TEST(t_ndr8)
{
	struct ib_state *st = start(tree("ndr8"), NULL);

	ck_assert_uint_eq(st->ndevs, 8);
	ck_assert_uint_eq(st->nports, 8);
	poll_at(st, 1);
	ck_assert_uint_eq(C->read_errors, 0);
	/* raw 4-octet words; the family scales by 4 (never by lanes) */
	ck_assert_double_eq(val("fabric_port_transmit_bytes_total", "mlx5_3,1"),
			    4000034819001.0);
	ck_assert_double_eq(C->fams[fam_id("fabric_port_transmit_bytes_total")].scale,
			    4.0);
	ck_assert_double_eq(val("fabric_port_link_speed_bytes_per_second", "mlx5_7,1"),
			    50e9);
	ck_assert_double_eq(val("fabric_port_link_lanes", "mlx5_7,1"), 4);
	ck_assert_double_eq(val("fabric_port_up", "mlx5_0,1"), 1);
	ck_assert_double_eq(val("fabric_port_state", "mlx5_0,1"), 4);
	ck_assert_double_eq(val("fabric_port_physical_state", "mlx5_0,1"), 5);
	/* info: the GPU under the same PCIe switch, not its neighbour's */
	ck_assert_double_eq(val("fabric_port_info",
				"mlx5_0,1,InfiniBand,,400 Gb/sec (4X NDR),28.39.1002,"
				"b83f:d203:00a1:1000,0000:14:00.0"),
			    1);
	ck_assert_double_eq(val("fabric_port_info",
				"mlx5_1,1,InfiniBand,,400 Gb/sec (4X NDR),28.39.1002,"
				"b83f:d203:00a1:1001,0000:18:00.0"),
			    1);
	ck_assert_double_eq(val("fabric_device_info",
				"mlx5_5,MT_0000000838,MT4129,1,0000:57:00.0,"
				"28.39.1002"),
			    1);
	ck_assert_uint_eq(view_of("fabric_port_transmit_bytes_total", "mlx5_0,1")->bits,
			  64);
	ck_assert(!view_of("fabric_port_transmit_bytes_total", "mlx5_0,1")->saturating);
	/* 64-bit port (unicast_xmit_packets exists): no saturation series
	 * for data, but one for every saturating error counter */
	ck_assert_ptr_null(find("fabric_port_stat_saturated", "mlx5_0,1,port_xmit_data"));
	ck_assert_double_eq(val("fabric_port_stat_saturated", "mlx5_0,1,symbol_error"), 0);
	ck_assert_double_eq(val("fabric_roce_lifespan_seconds", "mlx5_0,1"), 10);
	ck_assert_double_eq(C->fams[fam_id("fabric_roce_lifespan_seconds")].scale, 1e-3);
	/* no utilization on the first poll */
	ck_assert_uint_eq(nemit("fabric_port_utilization_ratio", "mlx5_0,1,transmit"), 0);
	ib_fini(NULL, st);
}
END_TEST

START_TEST(t_utilization_and_peak)
{
	const char *root = copy_fixture("ndr8");
	struct ib_state *st;
	struct fake_am_config cfg = {.peak = 30};
	const char *tx = "mlx5_2/ports/1/counters/port_xmit_data";
	const char *rx = "mlx5_2/ports/1/counters/port_rcv_data";
	uint64_t t0 = 1000000000000ull, r0 = 7;
	unsigned polls_before;

	put_u64(root, tx, t0);
	put_u64(root, rx, r0);
	st = start(root, &cfg);
	ck_assert_double_eq(C->fams[fam_id("fabric_port_utilization_peak_"
					   "ratio")]
				.window_s,
			    30);
	ck_assert_int_eq(C->fams[fam_id("fabric_port_utilization_peak_ratio")].kind,
			 AM_WINDOW_MAX);
	poll_at(st, 10);
	/* 1 s later: 25 GB sent (half of 50 GB/s), 5 GB received (0.1) */
	put_u64(root, tx, t0 + 6250000000ull);
	put_u64(root, rx, r0 + 1250000000ull);
	poll_at(st, 11);
	ck_assert_double_eq_tol(val("fabric_port_utilization_ratio", "mlx5_2,1,transmit"),
				0.5, 1e-12);
	ck_assert_double_eq_tol(val("fabric_port_utilization_ratio", "mlx5_2,1,receive"),
				0.1, 1e-12);
	ck_assert_double_eq_tol(
	    val("fabric_port_utilization_peak_ratio", "mlx5_2,1,transmit"), 0.5, 1e-12);
	/* idle ports: 0, not absent */
	ck_assert_double_eq(val("fabric_port_utilization_ratio", "mlx5_0,1,transmit"), 0);
	/* 2 s later, 12.5 GB more: 0.125; every per-poll value feeds the
	 * window max */
	put_u64(root, tx, t0 + 6250000000ull + 3125000000ull);
	poll_at(st, 13);
	ck_assert_double_eq_tol(val("fabric_port_utilization_ratio", "mlx5_2,1,transmit"),
				0.125, 1e-12);
	ck_assert_double_eq_tol(
	    val("fabric_port_utilization_peak_ratio", "mlx5_2,1,transmit"), 0.125, 1e-12);
	ck_assert_uint_eq(
	    nemit("fabric_port_utilization_peak_ratio", "mlx5_2,1,transmit"), 2);
	/* counter reset (driver reload): no ratio from a backwards delta,
	 * the raw value still goes to the core (which treats it as a reset) */
	polls_before = nemit("fabric_port_utilization_ratio", "mlx5_2,1,transmit");
	put_u64(root, tx, 1000);
	poll_at(st, 14);
	ck_assert_uint_eq(nemit("fabric_port_utilization_ratio", "mlx5_2,1,transmit"),
			  polls_before);
	ck_assert_double_eq(val("fabric_port_transmit_bytes_total", "mlx5_2,1"), 1000);
	/* and the poll after the reset measures from the new base */
	put_u64(root, tx, 1000 + 625000000ull);
	poll_at(st, 15);
	ck_assert_double_eq_tol(val("fabric_port_utilization_ratio", "mlx5_2,1,transmit"),
				0.05, 1e-12);
	/* an impossible jump (3x line rate): skipped, not clamped */
	polls_before = nemit("fabric_port_utilization_ratio", "mlx5_2,1,transmit");
	put_u64(root, tx, 1000 + 625000000ull + 37500000000ull);
	poll_at(st, 16);
	ck_assert_uint_eq(nemit("fabric_port_utilization_ratio", "mlx5_2,1,transmit"),
			  polls_before);
	ib_fini(NULL, st);
}
END_TEST

START_TEST(t_saturated)
{
	const char *root = copy_fixture("saturated");
	struct ib_state *st = start(root, NULL);

	poll_at(st, 1);
	ck_assert_uint_eq(C->read_errors, 0);
	static const struct {
		const char *ctr;
		double sat;
	} t[] = {
	    {"symbol_error", 1},
	    {"port_rcv_errors", 1},
	    {"VL15_dropped", 1},
	    {"link_downed", 1},
	    {"link_error_recovery", 1},
	    {"local_link_integrity_errors", 1},
	    {"excessive_buffer_overrun_errors", 1},
	    {"port_xmit_wait", 1},
	    /* 32-bit PortCounters (no unicast_xmit_packets) */
	    {"port_xmit_data", 1},
	    {"port_xmit_packets", 1},
	    {"port_rcv_data", 0},
	    {"port_xmit_discards", 0},
	    {"port_xmit_constraint_errors", 0},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		char key[96];

		snprintf(key, sizeof key, "mlx5_0,1,%s", t[i].ctr);
		ck_assert_msg(val("fabric_port_stat_saturated", key) == t[i].sat, "%s",
			      t[i].ctr);
	}
	/* each counter is registered with its own width (a view of the family)
	 * so the core detects its saturation at the right maximum */
	static const struct {
		const char *fam, *key;
		unsigned bits;
	} wv[] = {
	    {"fabric_port_errors_total", "mlx5_0,1,symbol_error", 16},
	    {"fabric_port_errors_total", "mlx5_0,1,VL15_dropped", 16},
	    {"fabric_port_errors_total", "mlx5_0,1,link_downed", 8},
	    {"fabric_port_errors_total", "mlx5_0,1,port_rcv_constraint_errors", 8},
	    {"fabric_port_errors_total", "mlx5_0,1,local_link_integrity_errors", 4},
	    {"fabric_port_errors_total", "mlx5_0,1,excessive_buffer_overrun_errors", 4},
	    {"fabric_port_transmit_wait_total", "mlx5_0,1", 32},
	    {"fabric_port_transmit_bytes_total", "mlx5_0,1", 32},
	    {"fabric_port_receive_packets_total", "mlx5_0,1", 32},
	};
	for (size_t i = 0; i < sizeof wv / sizeof wv[0]; i++) {
		const struct am_family_def *d = view_of(wv[i].fam, wv[i].key);

		ck_assert_msg(d->bits == wv[i].bits && d->saturating, "%s{%s}: %u %d",
			      wv[i].fam, wv[i].key, d->bits, d->saturating);
	}
	ck_assert_double_eq(
	    view_of("fabric_port_transmit_bytes_total", "mlx5_0,1")->scale, 4.0);
	/* the saturated value is exported as read; the core stops its growth */
	ck_assert_double_eq(val("fabric_port_errors_total", "mlx5_0,1,symbol_error"),
			    65535);
	ck_assert_int_eq(C->fams[fam_id("fabric_port_errors_total")].saturating, 1);
	ck_assert_uint_eq(C->fams[fam_id("fabric_port_transmit_wait_total")].bits, 32);
	ck_assert_int_eq(C->fams[fam_id("fabric_port_transmit_wait_total")].saturating,
			 1);
	/* second poll: transmit data is stuck at max, so no transmit
	 * utilization; receive still moves and has one */
	put_u64(root, "mlx5_0/ports/1/counters/port_rcv_data", 1234567 + 312500000);
	poll_at(st, 2);
	ck_assert_uint_eq(nemit("fabric_port_utilization_ratio", "mlx5_0,1,transmit"), 0);
	ck_assert_double_eq_tol(val("fabric_port_utilization_ratio", "mlx5_0,1,receive"),
				0.1, 1e-12);
	/* a value wider than the 32-bit counter: an error for that value */
	put(root, "mlx5_0/ports/1/counters/port_rcv_packets", "5000000000\n");
	poll_at(st, 2.5);
	ck_assert_uint_eq(C->read_errors, 1);
	ck_assert_double_eq(val("fabric_port_receive_packets_total", "mlx5_0,1"),
			    3000000000.0);
	/* cleared with perfquery -R: flag drops */
	put(root, "mlx5_0/ports/1/counters/symbol_error", "0\n");
	poll_at(st, 3);
	ck_assert_double_eq(val("fabric_port_stat_saturated", "mlx5_0,1,symbol_error"), 0);
	ib_fini(NULL, st);
}
END_TEST

START_TEST(t_roce_widths)
{
	struct ib_state *st = start(tree("roce"), NULL);

	poll_at(st, 1);
	ck_assert_uint_eq(C->read_errors, 0);
	ck_assert_uint_eq(st->nports, 2);
	ck_assert_double_eq(val("fabric_port_info",
				"mlx5_0,1,Ethernet,ens1f0np0,100 Gb/sec (4X EDR),"
				"22.36.1010,0c42:a103:0011:2230,"),
			    1); /* the BMC's VGA is not an accelerator */
	/* renamed device: read like any other */
	ck_assert_double_eq(val("fabric_port_info",
				"rocep23s0f1,1,Ethernet,ens1f1np1,25 Gb/sec (1X EDR),"
				"22.36.1010,0c42:a103:0011:2231,"),
			    1);
	ck_assert_double_eq(val("fabric_roce_cnp_sent_total", "mlx5_0,1"),
			    123456789012.0);
	ck_assert_double_eq(val("fabric_roce_cnp_handled_total", "mlx5_0,1"),
			    5000000000.0);
	ck_assert_double_eq(val("fabric_roce_out_of_sequence_total", "mlx5_0,1"),
			    4294967290.0);
	ck_assert(nemit("fabric_roce_retransmits_total",
			"rocep23s0f1,1,local_ack_timeout_err") > 0);
	ck_assert(
	    nemit("fabric_roce_completion_errors_total", "mlx5_0,1,resp_cqe_error") > 0);
	ck_assert(nemit("fabric_roce_duplicate_requests_total", "mlx5_0,1") > 0);
	ck_assert(nemit("fabric_roce_ecn_marked_packets_total", "mlx5_0,1") > 0);
	ck_assert(nemit("fabric_roce_cnp_ignored_total", "mlx5_0,1") > 0);
	ck_assert(nemit("fabric_roce_out_of_buffer_total", "mlx5_0,1") > 0);
	ck_assert(nemit("fabric_roce_icrc_encapsulated_packets_total", "mlx5_0,1") > 0);
	/* widths: 64-bit congestion counters, 32-bit wrapping others */
	static const struct {
		const char *fam;
		unsigned bits;
	} w[] = {
	    {"fabric_roce_cnp_sent_total", 64},
	    {"fabric_roce_cnp_handled_total", 64},
	    {"fabric_roce_cnp_ignored_total", 64},
	    {"fabric_roce_ecn_marked_packets_total", 64},
	    {"fabric_roce_icrc_encapsulated_packets_total", 64},
	    {"fabric_roce_out_of_sequence_total", 32},
	    {"fabric_roce_out_of_buffer_total", 32},
	    {"fabric_roce_retransmits_total", 32},
	    {"fabric_roce_duplicate_requests_total", 32},
	    {"fabric_roce_completion_errors_total", 32},
	    {"fabric_port_transmit_bytes_total", 64},
	};
	for (size_t i = 0; i < sizeof w / sizeof w[0]; i++) {
		const struct am_family_def *d = &C->fams[fam_id(w[i].fam)];

		ck_assert_msg(d->kind == AM_COUNTER, "%s", w[i].fam);
		ck_assert_msg((d->bits ? d->bits : 64) == w[i].bits, "%s", w[i].fam);
		ck_assert_msg(!d->saturating, "%s", w[i].fam);
	}
	ib_fini(NULL, st);
}
END_TEST

START_TEST(t_oldkernel_counters_ext)
{
	struct ib_state *st;

	open_log_match = "/counters/port_xmit_data";
	st = start(tree("oldkernel"), NULL);
	poll_at(st, 1);
	poll_at(st, 2);
	ck_assert_uint_eq(C->read_errors, 0);
	/* bytes and packets come from the 64-bit counters_ext files ... */
	ck_assert_double_eq(val("fabric_port_transmit_bytes_total", "mlx4_0,1"),
			    25000201118001.0);
	ck_assert_double_eq(val("fabric_port_link_speed_bytes_per_second", "mlx4_0,1"),
			    7e9);
	ck_assert_double_eq(val("fabric_port_link_speed_bytes_per_second", "mlx4_0,2"),
			    5e9);
	/* ... and the saturated 32-bit ones are never opened */
	ck_assert_uint_eq(n_match_opens, 0);
	ck_assert_ptr_null(find("fabric_port_stat_saturated", "mlx4_0,1,port_xmit_data"));
	ck_assert_double_eq(val("fabric_port_unicast_transmit_packets_total", "mlx4_0,2"),
			    26000232815.0);
	/* the 64-bit source gives a utilization on the second poll */
	ck_assert_double_eq(val("fabric_port_utilization_ratio", "mlx4_0,1,transmit"), 0);
	ck_assert_double_eq(val("fabric_device_info",
				"mlx4_0,MT_1090120019,MT4099,,0000:04:00.0,"
				"2.42.5000"),
			    1); /* numa_node -1: unknown, empty */
	ib_fini(NULL, st);
}
END_TEST

START_TEST(t_down)
{
	struct ib_state *st = start(tree("down"), NULL);

	poll_at(st, 1);
	ck_assert_uint_eq(st->nports, 3);
	ck_assert_double_eq(val("fabric_port_up", "ibp2s0f0,1"), 0);
	ck_assert_double_eq(val("fabric_port_state", "ibp2s0f0,1"), 1);
	ck_assert_double_eq(val("fabric_port_physical_state", "ibp2s0f0,1"), 2);
	ck_assert_double_eq(val("fabric_port_up", "ibp2s0f1,1"), 0);
	ck_assert_double_eq(val("fabric_port_state", "ibp2s0f1,1"), 2);
	ck_assert_double_eq(val("fabric_port_physical_state", "ibp2s0f1,2"), 3);
	/* counters of a down port are still reported */
	ck_assert(nemit("fabric_port_transmit_bytes_total", "ibp2s0f0,1") > 0);
	ib_fini(NULL, st);
}
END_TEST

/* A port that comes up: state, speed and lanes follow, and the info series
 * moves to the new rate text (the old one is no longer emitted and goes
 * stale in the core). */
START_TEST(t_link_comes_up)
{
	const char *root = copy_fixture("down");
	struct ib_state *st = start(root, NULL);
	const char *old_info = "ibp2s0f0,1,InfiniBand,,10 Gb/sec (4X SDR),28.39.1002,"
			       "b83f:d203:00a1:0000,";
	const char *new_info = "ibp2s0f0,1,InfiniBand,,200 Gb/sec (4X HDR),28.39.1002,"
			       "b83f:d203:00a1:0000,";
	unsigned interned;

	poll_at(st, 1);
	ck_assert_double_eq(val("fabric_port_up", "ibp2s0f0,1"), 0);
	ck_assert_uint_eq(nemit("fabric_port_info", old_info), 1);
	put(root, "ibp2s0f0/ports/1/state", "4: ACTIVE\n");
	put(root, "ibp2s0f0/ports/1/phys_state", "5: LinkUp\n");
	put(root, "ibp2s0f0/ports/1/rate", "200 Gb/sec (4X HDR)\n");
	poll_at(st, 2);
	interned = C->nintern;
	poll_at(st, 3);
	ck_assert_uint_eq(C->nintern, interned); /* once per change only */
	ck_assert_double_eq(val("fabric_port_up", "ibp2s0f0,1"), 1);
	ck_assert_double_eq(val("fabric_port_physical_state", "ibp2s0f0,1"), 5);
	ck_assert_double_eq(val("fabric_port_link_speed_bytes_per_second", "ibp2s0f0,1"),
			    25e9);
	ck_assert_uint_eq(nemit("fabric_port_info", old_info), 1);
	ck_assert_uint_eq(nemit("fabric_port_info", new_info), 2);
	ib_fini(NULL, st);
}
END_TEST

START_TEST(t_garbage)
{
	struct ib_state *st;
	unsigned opens;

	st = start(tree("garbage"), NULL);
	poll_at(st, 1);
	/* symbol_error (empty), port_rcv_errors (N/A), link_downed (21
	 * digits), port_xmit_discards (12abc), VL15_dropped (-5),
	 * port_rcv_switch_relay_errors (300 digits), out_of_sequence (0x10) */
	ck_assert_uint_eq(C->read_errors, 7);
	ck_assert_ptr_nonnull(find("fabric_port_errors_total", "mlx5_0,1,symbol_error"));
	ck_assert_uint_eq(nemit("fabric_port_errors_total", "mlx5_0,1,symbol_error"), 0);
	ck_assert_uint_eq(
	    nemit("fabric_port_errors_total", "mlx5_0,1,port_rcv_switch_relay_errors"),
	    0);
	ck_assert_uint_eq(nemit("fabric_roce_out_of_sequence_total", "mlx5_0,1"), 0);
	/* the rest of the port is reported */
	ck_assert(nemit("fabric_port_errors_total", "mlx5_0,1,link_error_recovery") > 0);
	ck_assert(nemit("fabric_port_transmit_bytes_total", "mlx5_0,1") > 0);
	ck_assert(nemit("fabric_roce_out_of_buffer_total", "mlx5_0,1") > 0);
	/* remembered: not read again before the backoff ends */
	opens = n_opens;
	poll_at(st, 2);
	ck_assert_uint_eq(C->read_errors, 7);
	ck_assert_uint_eq(n_opens, opens);
	poll_at(st, 10.5);
	ck_assert_uint_eq(C->read_errors, 7);
	/* retried after 10 s: still bad, counted again, next wait 20 s */
	poll_at(st, 11);
	ck_assert_uint_eq(C->read_errors, 14);
	poll_at(st, 30);
	ck_assert_uint_eq(C->read_errors, 14);
	poll_at(st, 31);
	ck_assert_uint_eq(C->read_errors, 21);
	ib_fini(NULL, st);
}
END_TEST

/* Files that fail even for root: a directory (EISDIR), a FIFO (ESPIPE
 * with O_NONBLOCK), a dangling symlink (ENOENT, the file vanished), and
 * through the open hook EACCES, EOPNOTSUPP and EINVAL as the kernel returns
 * them for restricted or unsupported counters. chmod 000 is not used: root
 * reads through it. */
START_TEST(t_unreadable)
{
	const char *root = copy_fixture("ndr8");
	char p[PATH_MAX];
	struct ib_state *st;
	const char *cdir;

	snprintf(p, sizeof p, "%s/class/infiniband/mlx5_1/ports/1/counters", root);
	cdir = p;
	{
		char f[PATH_MAX + 64];

		snprintf(f, sizeof f, "%s/symbol_error", cdir);
		ck_assert_int_eq(unlink(f), 0);
		ck_assert_int_eq(mkdir(f, 0755), 0);
		snprintf(f, sizeof f, "%s/link_downed", cdir);
		ck_assert_int_eq(unlink(f), 0);
		ck_assert_int_eq(mkfifo(f, 0644), 0);
		snprintf(f, sizeof f, "%s/port_rcv_errors", cdir);
		ck_assert_int_eq(unlink(f), 0);
		ck_assert_int_eq(symlink("/nonexistent/accelmon", f), 0);
	}
	inject_suffix[0] = "mlx5_1/ports/1/counters/port_xmit_wait";
	inject_errno[0] = EACCES;
	inject_suffix[1] = "mlx5_1/ports/1/hw_counters/out_of_sequence";
	inject_errno[1] = EOPNOTSUPP;
	inject_suffix[2] = "mlx5_1/ports/1/hw_counters/lifespan";
	inject_errno[2] = EINVAL;
	st = start(root, NULL);
	poll_at(st, 1);
	ck_assert_uint_eq(C->read_errors, 6);
	ck_assert_uint_eq(nemit("fabric_port_errors_total", "mlx5_1,1,symbol_error"), 0);
	ck_assert_uint_eq(nemit("fabric_port_transmit_wait_total", "mlx5_1,1"), 0);
	ck_assert(nemit("fabric_port_transmit_bytes_total", "mlx5_1,1") > 0);
	ck_assert(nemit("fabric_port_errors_total", "mlx5_1,1,port_xmit_discards") > 0);
	ck_assert(nemit("fabric_port_up", "mlx5_1,1") > 0);
	/* the file comes back (permission fixed): picked up at the retry */
	inject_suffix[0] = "no-such-suffix";
	poll_at(st, 5);
	ck_assert_uint_eq(nemit("fabric_port_transmit_wait_total", "mlx5_1,1"), 0);
	poll_at(st, 11);
	ck_assert(nemit("fabric_port_transmit_wait_total", "mlx5_1,1") > 0);
	ck_assert_uint_eq(C->read_errors, 11);
	ib_fini(NULL, st);
}
END_TEST

START_TEST(t_exclude_before_open)
{
	const char *root = copy_fixture("down");
	struct fake_am_config cfg = {
	    .key = {"exclude_ports"},
	    .val = {"^ibp2s0f1:2$"},
	};
	struct ib_state *st;
	char f[PATH_MAX];

	/* every file of the excluded port fails if opened */
	snprintf(f, sizeof f,
		 "%s/class/infiniband/ibp2s0f1/ports/2/counters/symbol_error", root);
	ck_assert_int_eq(unlink(f), 0);
	ck_assert_int_eq(mkdir(f, 0755), 0);
	open_log_match = "/ibp2s0f1/ports/2/";
	st = start(root, &cfg);
	ck_assert_uint_eq(st->nports, 2);
	poll_at(st, 1);
	poll_at(st, 2);
	ck_assert_uint_eq(C->read_errors, 0);
	ck_assert_uint_eq(n_match_opens, 0);
	ck_assert_ptr_null(find("fabric_port_up", "ibp2s0f1,2"));
	ck_assert(nemit("fabric_port_up", "ibp2s0f1,1") > 0);
	ib_fini(NULL, st);
}
END_TEST

START_TEST(t_device_filters)
{
	struct fake_am_config inc = {.key = {"include", "exclude"},
				     .val = {"^mlx5_[0-3]$", "^mlx5_2$"}};
	struct ib_state *st;

	open_log_match = "/mlx5_2/";
	st = start(tree("ndr8"), &inc);
	poll_at(st, 1);
	ck_assert_uint_eq(st->ndevs, 3);
	ck_assert_uint_eq(n_match_opens, 0);
	ck_assert_ptr_null(find("fabric_port_up", "mlx5_2,1"));
	ck_assert_ptr_null(find("fabric_port_up", "mlx5_4,1"));
	ck_assert(nemit("fabric_port_up", "mlx5_3,1") > 0);
	ib_fini(NULL, st);

	/* include_ports narrows to DEVICE:PORT */
	struct fake_am_config pinc = {.key = {"include_ports"}, .val = {"^mlx5_[67]:1$"}};
	st = start(tree("ndr8"), &pinc);
	ck_assert_uint_eq(st->nports, 2);
	ib_fini(NULL, st);
}
END_TEST

START_TEST(t_nodev)
{
	void *st = NULL;
	struct fake_am_config all = {.key = {"exclude"}, .val = {"."}};

	C->sysfs = "/nonexistent-accelmon-sysfs";
	ck_assert_int_eq(ib_init(C, NULL, &st), -ENODEV);
	C->sysfs = tree("ndr8");
	n_opens = 0;
	ck_assert_int_eq(ib_init(C, &all, &st), -ENODEV);
	ck_assert_uint_eq(n_opens, 0);
}
END_TEST

/* After the first poll: no interning, no allocation, no new opens for held
 * files; and beyond the fd budget files are opened per read. */
START_TEST(t_steady_state)
{
	struct ib_state *st = start(tree("ndr8"), NULL);
	unsigned interned, opens;

	poll_at(st, 1);
	interned = C->nintern;
	opens = n_opens;
	poll_at(st, 2);
	poll_at(st, 3);
	ck_assert_uint_eq(C->nintern, interned);
	ck_assert_uint_eq(n_opens, opens);
	ib_fini(NULL, st);

	{
		struct rlimit old, low;

		ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
		low = old;
		low.rlim_cur = 64; /* budget 32 held fds */
		ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
		st = start(tree("ndr8"), NULL);
		ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
		ck_assert_uint_eq(st->fd_budget, 32);
		poll_at(st, 1);
		opens = n_opens;
		poll_at(st, 2);
		ck_assert_uint_gt(n_opens, opens);
		ck_assert_uint_eq(C->read_errors, 0);
		ck_assert_double_eq(val("fabric_port_transmit_bytes_total", "mlx5_3,1"),
				    4000034819001.0);
		ib_fini(NULL, st);
	}
}
END_TEST

/* ---- through the core (harness: real ring, aggregator, exposition) ---- */

extern const struct am_collector infiniband_collector;
#define S(x) ((int64_t)((x)*1e9))

static struct harness *hstart(const char *yaml, const char *sysfs)
{
	char err[512] = "";
	struct harness *h;

	series_reset();
	h = harness_new(&infiniband_collector, yaml, sysfs, NULL, S(1), err, sizeof err);
	ck_assert_msg(h != NULL, "harness: %s", err);
	return h;
}

static double hget(struct harness *h, const char *fam, const char *labels)
{
	double v = -1;

	ck_assert_msg(harness_value(h, fam, labels, &v) == 0, "missing %s%s", fam,
		      labels);
	return v;
}

static bool hhas(struct harness *h, const char *fam, const char *labels)
{
	double v;

	return harness_value(h, fam, labels, &v) == 0;
}

/* The core's saturation flag of a series (internal, not exported). */
static int hsat(struct harness *h, const char *fam, const char *labels)
{
	for (uint32_t id = 0; id < series_count(); id++) {
		const struct series *s = series_get(id);

		if (strcmp(s->fam->name, fam) == 0 && strcmp(s->label_text, labels) == 0)
			return agg_saturated(harness_agg(h), id);
	}
	ck_abort_msg("no series %s%s", fam, labels);
	return -1;
}

#define PL(dev) "{device=\"" dev "\",port=\"1\"}"
#define PLD(dev, d) "{device=\"" dev "\",port=\"1\",direction=\"" d "\"}"

START_TEST(h_exposition)
{
	struct harness *h = hstart(NULL, tree("ndr8"));
	struct snapshot *snap;

	ck_assert_int_eq(harness_init_rc(h), 0);
	ck_assert_int_eq(harness_poll(h, S(1)), 0);
	ck_assert_int_eq(harness_poll(h, S(2)), 0);
	snap = harness_render(h, S(2));
	ck_assert_ptr_nonnull(snap);
	/* 4-octet words x 4, exact integer text */
	ck_assert_ptr_nonnull(strstr(
	    snap->text, "fabric_port_transmit_bytes_total{device=\"mlx5_3\",port=\"1\"} "
			"16000139276004\n"));
	ck_assert_ptr_nonnull(strstr(
	    snap->text, "fabric_port_link_speed_bytes_per_second{device=\"mlx5_0\","
			"port=\"1\"} 50000000000\n"));
	ck_assert_ptr_nonnull(
	    strstr(snap->text,
		   "fabric_port_info{device=\"mlx5_0\",port=\"1\",link_layer="
		   "\"InfiniBand\",netdev=\"\",rate=\"400 Gb/sec (4X NDR)\","
		   "firmware_version=\"28.39.1002\",node_guid=\"b83f:d203:00a1:1000\","
		   "accelerator=\"0000:14:00.0\"} 1\n"));
	ck_assert_ptr_nonnull(
	    strstr(snap->text, "fabric_port_stat_saturated{device=\"mlx5_0\",port=\"1\","
			       "counter=\"symbol_error\"} 0\n"));
	ck_assert_ptr_nonnull(strstr(snap->text,
				     "fabric_roce_lifespan_seconds{device=\"mlx5_0\","
				     "port=\"1\"} 0.01\n"));
	ck_assert_ptr_nonnull(strstr(
	    snap->text, "fabric_port_utilization_ratio{device=\"mlx5_0\",port=\"1\","
			"direction=\"transmit\"} 0\n"));
	ck_assert_double_eq(hget(h, "fabric_port_errors_total",
				 "{device=\"mlx5_0\",port=\"1\",type=\"symbol_error\"}"),
			    507);
	ck_assert_uint_eq(harness_read_errors(h), 0);
	ck_assert_uint_eq(harness_dropped(h), 0);
	snapshot_release(snap);
	harness_free(h);
}
END_TEST

START_TEST(h_reset_and_wrap)
{
	const char *root = copy_fixture("roce");
	struct harness *h = hstart(NULL, root);
	const char *tx = "mlx5_0/ports/1/counters/port_xmit_data";
	const char *oos = "mlx5_0/ports/1/hw_counters/out_of_sequence";

	put_u64(root, tx, 1000000);
	ck_assert_int_eq(harness_poll(h, S(1)), 0);
	put_u64(root, tx, 1000100);
	ck_assert_int_eq(harness_poll(h, S(2)), 0);
	ck_assert_double_eq(hget(h, "fabric_port_transmit_bytes_total", PL("mlx5_0")),
			    4000400);
	/* driver reload: the counter restarts at 50; never a negative step */
	put_u64(root, tx, 50);
	ck_assert_int_eq(harness_poll(h, S(3)), 0);
	ck_assert_double_eq(hget(h, "fabric_port_transmit_bytes_total", PL("mlx5_0")),
			    4000400 + 200);
	/* out_of_sequence is 32-bit and wraps: 4294967290 -> 5 is +11 */
	ck_assert_double_eq(hget(h, "fabric_roce_out_of_sequence_total", PL("mlx5_0")),
			    4294967290.0);
	put_u64(root, oos, 5);
	ck_assert_int_eq(harness_poll(h, S(4)), 0);
	ck_assert_double_eq(hget(h, "fabric_roce_out_of_sequence_total", PL("mlx5_0")),
			    4294967301.0);
	/* np_cnp_sent is 64-bit: going backwards is a reset, not a wrap */
	put_u64(root, "mlx5_0/ports/1/hw_counters/np_cnp_sent", 7);
	ck_assert_int_eq(harness_poll(h, S(5)), 0);
	ck_assert_double_eq(hget(h, "fabric_roce_cnp_sent_total", PL("mlx5_0")),
			    123456789012.0 + 7);
	harness_free(h);
}
END_TEST

START_TEST(h_saturation)
{
	const char *root = copy_fixture("saturated");
	struct harness *h = hstart(NULL, root);

	ck_assert_int_eq(harness_poll(h, S(1)), 0);
	ck_assert_int_eq(harness_poll(h, S(2)), 0);
	ck_assert_double_eq(hget(h, "fabric_port_errors_total",
				 "{device=\"mlx5_0\",port=\"1\",type=\"symbol_error\"}"),
			    65535);
	ck_assert_double_eq(
	    hget(h, "fabric_port_stat_saturated",
		 "{device=\"mlx5_0\",port=\"1\",counter=\"link_downed\"}"),
	    1);
	ck_assert_double_eq(
	    hget(h, "fabric_port_stat_saturated",
		 "{device=\"mlx5_0\",port=\"1\",counter=\"port_xmit_data\"}"),
	    1);
	ck_assert_double_eq(hget(h, "fabric_port_transmit_wait_total", PL("mlx5_0")),
			    4294967295.0);
	/* the core, given each counter's own width, sees the same saturation */
	ck_assert_int_eq(hsat(h, "fabric_port_errors_total",
			      "{device=\"mlx5_0\",port=\"1\",type=\"link_downed\"}"),
			 1);
	ck_assert_int_eq(
	    hsat(h, "fabric_port_errors_total",
		 "{device=\"mlx5_0\",port=\"1\",type=\"local_link_integrity_errors\"}"),
	    1);
	ck_assert_int_eq(
	    hsat(h, "fabric_port_errors_total",
		 "{device=\"mlx5_0\",port=\"1\",type=\"port_xmit_discards\"}"),
	    0);
	ck_assert_int_eq(hsat(h, "fabric_port_transmit_bytes_total", PL("mlx5_0")), 1);
	/* no transmit utilization from a stuck counter */
	ck_assert(!hhas(h, "fabric_port_utilization_ratio", PLD("mlx5_0", "transmit")));
	ck_assert(hhas(h, "fabric_port_utilization_ratio", PLD("mlx5_0", "receive")));
	/* perfquery -R clears it: the exported total keeps what it had */
	put(root, "mlx5_0/ports/1/counters/symbol_error", "3\n");
	ck_assert_int_eq(harness_poll(h, S(3)), 0);
	ck_assert_double_eq(hget(h, "fabric_port_errors_total",
				 "{device=\"mlx5_0\",port=\"1\",type=\"symbol_error\"}"),
			    65535 + 3);
	ck_assert_double_eq(
	    hget(h, "fabric_port_stat_saturated",
		 "{device=\"mlx5_0\",port=\"1\",counter=\"symbol_error\"}"),
	    0);
	harness_free(h);
}
END_TEST

/* A 1-poll burst at 80% stays visible as the peak for the window (5 s
 * here), while the per-poll ratio is back to 10% at once. */
START_TEST(h_peak_window)
{
	const char *root = copy_fixture("ndr8");
	struct harness *h = hstart("{peak_window: 5s}", root);
	const char *tx = "mlx5_4/ports/1/counters/port_xmit_data";
	uint64_t w = 1000;
	/* words per 1 s poll at 50 GB/s line rate for a given ratio */
	const uint64_t full = 12500000000ull;

	put_u64(root, tx, w);
	ck_assert_int_eq(harness_poll(h, S(1)), 0);
	for (int t = 2; t <= 12; t++) {
		w += t == 4 ? full / 10 * 8 : full / 10;
		put_u64(root, tx, w);
		ck_assert_int_eq(harness_poll(h, S(t)), 0);
		ck_assert_double_eq_tol(
		    hget(h, "fabric_port_utilization_ratio", PLD("mlx5_4", "transmit")),
		    t == 4 ? 0.8 : 0.1, 1e-9);
		ck_assert_msg(fabs(hget(h, "fabric_port_utilization_peak_ratio",
					PLD("mlx5_4", "transmit")) -
				   (t >= 4 && t < 9 ? 0.8 : 0.1)) < 1e-9,
			      "t=%d peak %f", t,
			      hget(h, "fabric_port_utilization_peak_ratio",
				   PLD("mlx5_4", "transmit")));
	}
	harness_free(h);
}
END_TEST

START_TEST(h_errors_and_nodev)
{
	struct harness *h = hstart(NULL, tree("garbage"));

	ck_assert_int_eq(harness_poll(h, S(1)), 0);
	ck_assert_uint_eq(harness_read_errors(h), 7);
	ck_assert(!hhas(h, "fabric_port_errors_total",
			"{device=\"mlx5_0\",port=\"1\",type=\"symbol_error\"}"));
	ck_assert(hhas(h, "fabric_port_errors_total",
		       "{device=\"mlx5_0\",port=\"1\",type=\"link_error_recovery\"}"));
	harness_free(h);

	h = hstart(NULL, "/nonexistent-accelmon-sysfs");
	ck_assert_int_eq(harness_init_rc(h), -ENODEV);
	ck_assert_ptr_nonnull(strstr(harness_found(h), "infiniband"));
	harness_free(h);

	h = hstart("{exclude: 'mlx5'}", tree("ndr8"));
	ck_assert_int_eq(harness_init_rc(h), -ENODEV);
	harness_free(h);
}
END_TEST

static Suite *ib_suite(void)
{
	Suite *s = suite_create("infiniband");
	TCase *p = tcase_create("parsers");
	TCase *f = tcase_create("fixtures");
	TCase *c = tcase_create("core");

	tcase_add_test(p, t_parse_u64);
	tcase_add_test(p, t_parse_state);
	tcase_add_test(p, t_parse_rate);
	tcase_add_test(p, t_util_ratio);
	tcase_add_test(p, t_is_accel);
	suite_add_tcase(s, p);

	tcase_add_unchecked_fixture(f, shared_setup, shared_teardown);
	tcase_add_checked_fixture(f, setup, teardown);
	tcase_add_test(f, t_ndr8);
	tcase_add_test(f, t_utilization_and_peak);
	tcase_add_test(f, t_saturated);
	tcase_add_test(f, t_roce_widths);
	tcase_add_test(f, t_oldkernel_counters_ext);
	tcase_add_test(f, t_down);
	tcase_add_test(f, t_link_comes_up);
	tcase_add_test(f, t_garbage);
	tcase_add_test(f, t_unreadable);
	tcase_add_test(f, t_exclude_before_open);
	tcase_add_test(f, t_device_filters);
	tcase_add_test(f, t_nodev);
	tcase_add_test(f, t_steady_state);
	suite_add_tcase(s, f);

	tcase_add_unchecked_fixture(c, shared_setup, shared_teardown);
	tcase_add_checked_fixture(c, setup, teardown);
	tcase_add_test(c, h_exposition);
	tcase_add_test(c, h_reset_and_wrap);
	tcase_add_test(c, h_saturation);
	tcase_add_test(c, h_peak_window);
	tcase_add_test(c, h_errors_and_nodev);
	suite_add_tcase(s, c);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(ib_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
