/* Check suite for the InfiniBand/RoCE collector (collectors/infiniband.c),
 * unit part: the collector's .c is included (for its parsers, its state and
 * its open() hook, which counts opens and injects errors root cannot
 * otherwise get) and runs against the fake of the collector API
 * (tests/fake_am.c), so parsers, discovery, error handling and open counts
 * are tested directly. The same collector through the real ring, aggregator
 * and exposition is tests/test_infiniband_agent.c.
 */
#include "../collectors/infiniband.c"

#include <check.h>
#include <math.h>
#include <sys/stat.h>

#include "fake_am.h"
#include "fixture_tree.h"

/* ---- the collector API: tests/fake_am.c ---- */

static struct am_ctx *C;

static void violation(const char *msg)
{
	ck_abort_msg("%s", msg);
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

/* Read-only trees shared by a test case, and the test's own copies. */
static struct fixture_set shared, copies;
static const char *const shared_trees[] = {"ndr8", "roce",	"oldkernel",
					   "down", "saturated", "garbage"};

static void setup(void)
{
	C = fake_am_new("infiniband", NULL);
	fake_am_on_violation(violation);
	fake_am_set_time(C, 1000000000);
	ib_open = fake_open;
	n_opens = n_match_opens = 0;
	open_log_match = NULL;
	memset(inject_suffix, 0, sizeof inject_suffix);
}

static void teardown(void)
{
	fixture_set_clear(&copies);
	fake_am_free(C);
	C = NULL;
}

/* A writable copy for this test (asked again, the same copy), and a tree
 * the test only reads (built once, in the unchecked fixture). */
#define copy_fixture(name) fixture_set_get(&copies, "infiniband/" name)
#define tree(name) fixture_set_get(&shared, "infiniband/" name)

static void shared_setup(void)
{
	for (size_t i = 0; i < sizeof shared_trees / sizeof shared_trees[0]; i++) {
		char t[64];

		snprintf(t, sizeof t, "infiniband/%s", shared_trees[i]);
		fixture_set_get(&shared, t);
	}
}

static void shared_teardown(void)
{
	fixture_set_clear(&shared);
}

/* Rewrite a file of the tree in place (held fds see the new value). */
#define put(root, rel, text)                                                             \
	fixture_put(fixture_file(root, "class/infiniband", rel), text)
#define put_u64(root, rel, v)                                                            \
	fixture_put_u64(fixture_file(root, "class/infiniband", rel), v)

/* The first registration of a family. */
static const struct am_family_def *fam(const char *name)
{
	const struct am_family_def *d = fake_am_family(C, name);

	ck_assert_msg(d != NULL, "no family %s", name);
	return d;
}

static const struct fake_series *find(const char *fam, const char *key)
{
	return fake_am_find(C, fam, key);
}

/* The registration (width, saturation) a series was interned with. */
static const struct am_family_def *view_of(const char *fam, const char *key)
{
	const struct fake_series *s = find(fam, key);

	ck_assert_msg(s != NULL, "no series %s{%s}", fam, key);
	return fake_am_view(C, s->view);
}

/* Value of a series that must have been emitted. */
static double val(const char *fam, const char *key)
{
	const struct fake_series *s = find(fam, key);

	ck_assert_msg(s != NULL, "no series %s{%s}", fam, key);
	ck_assert_msg(s->nsamples > 0, "series %s{%s} never emitted", fam, key);
	return s->last;
}

static unsigned nemit(const char *fam, const char *key)
{
	const struct fake_series *s = find(fam, key);

	return s ? s->nsamples : 0;
}

/* The section as the agent gives it, from YAML (NULL: empty). */
static const struct am_config *config(const char *yaml)
{
	char err[256] = "";
	const struct am_config *cfg =
	    fake_am_config(C, &infiniband_collector, yaml, err, sizeof err);

	ck_assert_msg(cfg != NULL, "config %s: %s", yaml, err);
	return cfg;
}

static struct ib_state *start(const char *root, const char *yaml)
{
	void *st = NULL;

	fake_am_set_sysfs(C, root);
	ck_assert_int_eq(ib_init(C, config(yaml), &st), 0);
	ck_assert_ptr_nonnull(st);
	return st;
}

static void poll_at(struct ib_state *st, double t_s)
{
	fake_am_set_time(C, (int64_t)(t_s * 1e9));
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
	ck_assert_uint_eq(fake_am_read_errors(C), 0);
	/* raw 4-octet words; the family scales by 4 (never by lanes) */
	ck_assert_double_eq(val("fabric_port_transmit_bytes_total", "mlx5_3,1"),
			    4000034819001.0);
	ck_assert_double_eq(fam("fabric_port_transmit_bytes_total")->scale, 4.0);
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
	ck_assert_double_eq(fam("fabric_roce_lifespan_seconds")->scale, 1e-3);
	/* no utilization on the first poll */
	ck_assert_uint_eq(nemit("fabric_port_utilization_ratio", "mlx5_0,1,transmit"), 0);
	ib_fini(NULL, st);
}
END_TEST

START_TEST(t_utilization_and_peak)
{
	const char *root = copy_fixture("ndr8");
	struct ib_state *st;
	const char *tx = "mlx5_2/ports/1/counters/port_xmit_data";
	const char *rx = "mlx5_2/ports/1/counters/port_rcv_data";
	uint64_t t0 = 1000000000000ull, r0 = 7;
	unsigned polls_before;

	put_u64(root, tx, t0);
	put_u64(root, rx, r0);
	st = start(root, "{peak_window: 30s}");
	ck_assert_double_eq(fam("fabric_port_utilization_peak_"
				"ratio")
				->window_s,
			    30);
	ck_assert_int_eq(fam("fabric_port_utilization_peak_ratio")->kind, AM_WINDOW_MAX);
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
	ck_assert_uint_eq(fake_am_read_errors(C), 0);
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
	ck_assert_int_eq(fam("fabric_port_errors_total")->saturating, 1);
	ck_assert_uint_eq(fam("fabric_port_transmit_wait_total")->bits, 32);
	ck_assert_int_eq(fam("fabric_port_transmit_wait_total")->saturating, 1);
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
	ck_assert_uint_eq(fake_am_read_errors(C), 1);
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
	ck_assert_uint_eq(fake_am_read_errors(C), 0);
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
		const struct am_family_def *d = fam(w[i].fam);

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
	ck_assert_uint_eq(fake_am_read_errors(C), 0);
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
	interned = fake_am_interns(C);
	poll_at(st, 3);
	ck_assert_uint_eq(fake_am_interns(C), interned); /* once per change only */
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
	ck_assert_uint_eq(fake_am_read_errors(C), 7);
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
	ck_assert_uint_eq(fake_am_read_errors(C), 7);
	ck_assert_uint_eq(n_opens, opens);
	poll_at(st, 10.5);
	ck_assert_uint_eq(fake_am_read_errors(C), 7);
	/* retried after 10 s: still bad, counted again, next wait 20 s */
	poll_at(st, 11);
	ck_assert_uint_eq(fake_am_read_errors(C), 14);
	poll_at(st, 30);
	ck_assert_uint_eq(fake_am_read_errors(C), 14);
	poll_at(st, 31);
	ck_assert_uint_eq(fake_am_read_errors(C), 21);
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
	ck_assert_uint_eq(fake_am_read_errors(C), 6);
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
	ck_assert_uint_eq(fake_am_read_errors(C), 11);
	ib_fini(NULL, st);
}
END_TEST

START_TEST(t_exclude_before_open)
{
	const char *root = copy_fixture("down");
	struct ib_state *st;
	char f[PATH_MAX];

	/* every file of the excluded port fails if opened */
	snprintf(f, sizeof f,
		 "%s/class/infiniband/ibp2s0f1/ports/2/counters/symbol_error", root);
	ck_assert_int_eq(unlink(f), 0);
	ck_assert_int_eq(mkdir(f, 0755), 0);
	open_log_match = "/ibp2s0f1/ports/2/";
	st = start(root, "{exclude_ports: '^ibp2s0f1:2$'}");
	ck_assert_uint_eq(st->nports, 2);
	poll_at(st, 1);
	poll_at(st, 2);
	ck_assert_uint_eq(fake_am_read_errors(C), 0);
	ck_assert_uint_eq(n_match_opens, 0);
	ck_assert_ptr_null(find("fabric_port_up", "ibp2s0f1,2"));
	ck_assert(nemit("fabric_port_up", "ibp2s0f1,1") > 0);
	ib_fini(NULL, st);
}
END_TEST

START_TEST(t_device_filters)
{
	struct ib_state *st;

	open_log_match = "/mlx5_2/";
	st = start(tree("ndr8"), "{include: '^mlx5_[0-3]$', exclude: '^mlx5_2$'}");
	poll_at(st, 1);
	ck_assert_uint_eq(st->ndevs, 3);
	ck_assert_uint_eq(n_match_opens, 0);
	ck_assert_ptr_null(find("fabric_port_up", "mlx5_2,1"));
	ck_assert_ptr_null(find("fabric_port_up", "mlx5_4,1"));
	ck_assert(nemit("fabric_port_up", "mlx5_3,1") > 0);
	ib_fini(NULL, st);

	/* include_ports narrows to DEVICE:PORT */
	st = start(tree("ndr8"), "{include_ports: '^mlx5_[67]:1$'}");
	ck_assert_uint_eq(st->nports, 2);
	ib_fini(NULL, st);
}
END_TEST

START_TEST(t_nodev)
{
	void *st = NULL;

	fake_am_set_sysfs(C, "/nonexistent-accelmon-sysfs");
	ck_assert_int_eq(ib_init(C, NULL, &st), -ENODEV);
	fake_am_set_sysfs(C, tree("ndr8"));
	n_opens = 0;
	ck_assert_int_eq(ib_init(C, config("{exclude: '.'}"), &st), -ENODEV);
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
	interned = fake_am_interns(C);
	opens = n_opens;
	poll_at(st, 2);
	poll_at(st, 3);
	ck_assert_uint_eq(fake_am_interns(C), interned);
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
		ck_assert_uint_eq(fake_am_read_errors(C), 0);
		ck_assert_double_eq(val("fabric_port_transmit_bytes_total", "mlx5_3,1"),
				    4000034819001.0);
		ib_fini(NULL, st);
	}
}
END_TEST

static Suite *ib_suite(void)
{
	Suite *s = suite_create("infiniband");
	TCase *p = tcase_create("parsers");
	TCase *f = tcase_create("fixtures");

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
