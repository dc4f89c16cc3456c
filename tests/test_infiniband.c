/* Check suite for the InfiniBand/RoCE collector (collectors/infiniband.c),
 * unit part: its parsers and counter table (collectors/infiniband_parse.c)
 * called directly, and the collector's descriptor run against the fake of
 * the collector API (tests/fake_am.c) on fixture trees the tests copy and
 * change (tests/fixture_tree.c); opens are counted and errors root cannot
 * otherwise get are injected by tests/fake_open.c. The same collector
 * through the real ring, aggregator and exposition is
 * tests/test_infiniband_agent.c.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../collectors/infiniband_parse.h"
#include "accelmon/collector.h"
#include "fake_am.h"
#include "fake_open.h"
#include "fixture_tree.h"

extern const struct am_collector infiniband_collector;
static const struct am_collector *const IB = &infiniband_collector;

/* ---- allocations, counted while count_allocs is set (a rescan that
 * finds nothing new must allocate nothing) ---- */

#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#define COUNT_ALLOCS 1
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t m);
extern void *__libc_realloc(void *p, size_t n);
static volatile int count_allocs;
static unsigned n_allocs;

void *malloc(size_t n)
{
	if (count_allocs)
		n_allocs++;
	return __libc_malloc(n);
}

void *calloc(size_t n, size_t m)
{
	if (count_allocs)
		n_allocs++;
	return __libc_calloc(n, m);
}

void *realloc(void *p, size_t n)
{
	if (count_allocs)
		n_allocs++;
	return __libc_realloc(p, n);
}
#endif

/* ---- the collector API: tests/fake_am.c ---- */

static struct am_ctx *C;

static void violation(const char *msg)
{
	ck_abort_msg("%s", msg);
}

/* Read-only trees shared by a test case, and the test's own copies. */
static struct fixture_set shared, copies;
static const char *const shared_trees[] = {"ndr8", "roce",	"oldkernel",
					   "down", "saturated", "garbage"};

static void setup(void)
{
	C = fake_am_new("infiniband", NULL);
	fake_am_on_violation(violation);
	fake_am_set_time(C, 1000000000);
	fake_open_reset();
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

/* Run a shell command built from fmt (tree surgery: cp -a, rm -rf). */
__attribute__((format(printf, 1, 2))) static void sh(const char *fmt, ...)
{
	char cmd[3 * PATH_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	ck_assert_msg(system(cmd) == 0, "%s", cmd);
}

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

static const struct fake_series *must(const char *fam, const char *key)
{
	const struct fake_series *s = find(fam, key);

	ck_assert_msg(s != NULL, "no series %s{%s}", fam, key);
	return s;
}

/* The registration (width, saturation) a series was interned with. */
static const struct am_family_def *view_of(const char *fam, const char *key)
{
	return fake_am_view(C, must(fam, key)->view);
}

/* Value of a series that must have been emitted. */
static double val(const char *fam, const char *key)
{
	const struct fake_series *s = must(fam, key);

	ck_assert_msg(s->nsamples > 0, "series %s{%s} never emitted", fam, key);
	return s->last;
}

static unsigned nemit(const char *fam, const char *key)
{
	const struct fake_series *s = find(fam, key);

	return s ? s->nsamples : 0;
}

/* Series of a family not retired (ports and devices being read). */
static unsigned nlive(const char *name)
{
	unsigned n = 0;

	for (size_t i = 0; i < fake_am_nseries(C); i++) {
		const struct fake_series *s = fake_am_series(C, (am_series_t)i);

		if (!s->retired && strcmp(fake_am_view(C, s->view)->name, name) == 0)
			n++;
	}
	return n;
}

/* The section as the agent gives it, from YAML (NULL: empty). */
static const struct am_config *config(const char *yaml)
{
	char err[256] = "";
	const struct am_config *cfg = fake_am_config(C, IB, yaml, err, sizeof err);

	ck_assert_msg(cfg != NULL, "config %s: %s", yaml, err);
	return cfg;
}

static void *start(const char *root, const char *yaml)
{
	void *st = NULL;

	fake_am_set_sysfs(C, root);
	ck_assert_int_eq(IB->init(C, config(yaml), &st), 0);
	ck_assert_ptr_nonnull(st);
	return st;
}

static void poll_at(void *st, double t_s)
{
	fake_am_set_time(C, (int64_t)(t_s * 1e9));
	ck_assert_int_eq(IB->poll(C, st), 0);
}

/* ---- parser tables ---- */

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

/* The PortCounters layout from the files and first readings. */
START_TEST(t_layout)
{
	uint8_t bits;
	bool sat;

	ck_assert_int_eq(ib_layout_of(true, false, 0), IBL_EXTENDED);
	ck_assert_int_eq(ib_layout_of(true, true, 7), IBL_EXTENDED);
	ck_assert_int_eq(ib_layout_of(false, true, 4294967296ull), IBL_NOIETF);
	ck_assert_int_eq(ib_layout_of(false, true, 1090000000000ull), IBL_NOIETF);
	ck_assert_int_eq(ib_layout_of(false, true, 4294967295ull), IBL_CLASSIC);
	ck_assert_int_eq(ib_layout_of(false, true, 4294967294ull), IBL_UNKNOWN);
	ck_assert_int_eq(ib_layout_of(false, false, 0), IBL_UNKNOWN);
	ib_layout_width(IBL_CLASSIC, &bits, &sat);
	ck_assert(bits == 32 && sat);
	ib_layout_width(IBL_NOIETF, &bits, &sat);
	ck_assert(bits == 64 && !sat);
	ib_layout_width(IBL_EXTENDED, &bits, &sat);
	ck_assert(bits == 64 && !sat);
	ib_layout_width(IBL_UNKNOWN, &bits, &sat);
	ck_assert(bits == 64 && !sat);
	ck_assert(ib_is_no_pma("N/A (no PMA)\n", 13));
	ck_assert(!ib_is_no_pma("17\n", 3));
	ck_assert(!ib_is_no_pma("", 0));
	ck_assert_uint_eq(ib_trim("12\n\0\0", 5), 2);
}
END_TEST

/* The counters issue 10 names are in the table, with the width the kernel
 * gives them (mlx5 queue counters: 32-bit). */
START_TEST(t_table)
{
	static const struct {
		const char *file;
		int dir;
		unsigned bits;
	} want[] = {
	    {"roce_adp_retrans", IBD_HW, 32},
	    {"roce_adp_retrans_to", IBD_HW, 32},
	    {"roce_slow_restart", IBD_HW, 32},
	    {"roce_slow_restart_cnps", IBD_HW, 32},
	    {"roce_slow_restart_trans", IBD_HW, 32},
	    {"rx_read_requests", IBD_HW, 32},
	    {"rx_write_requests", IBD_HW, 32},
	    {"rx_atomic_requests", IBD_HW, 32},
	    {"rx_dct_connect", IBD_HW, 32},
	    {"port_rcv_discards", IBD_COUNTERS, 64},
	};

	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		bool found = false;

		for (size_t j = 0; j < ib_nctrs; j++)
			if (strcmp(ib_ctrs[j].file, want[i].file) == 0 &&
			    ib_ctrs[j].dir == want[i].dir) {
				ck_assert_uint_eq(ib_ctrs[j].bits, want[i].bits);
				found = true;
			}
		ck_assert_msg(found, "%s not in the table", want[i].file);
	}
	ck_assert_uint_le(ib_nctrs, 128); /* the collector's listing arrays */
}
END_TEST

/* ---- fixtures through init/poll ---- */

START_TEST(t_ndr8)
{
	void *st = start(tree("ndr8"), NULL);

	poll_at(st, 1);
	ck_assert_uint_eq(fake_am_read_errors(C), 0);
	ck_assert_uint_eq(nlive("fabric_port_up"), 8);
	ck_assert_uint_eq(nlive("fabric_device_info"), 8);
	ck_assert_ptr_nonnull(strstr(fake_am_found(C), "8 RDMA device(s), 8 port(s)"));
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
	/* extended layout (unicast_xmit_packets exists): no saturation series
	 * for data, but one for every saturating error counter */
	ck_assert_ptr_null(find("fabric_port_stat_saturated", "mlx5_0,1,port_xmit_data"));
	ck_assert(must("fabric_port_stat_saturated", "mlx5_0,1,symbol_error")->derived);
	ck_assert_double_eq(val("fabric_roce_lifespan_seconds", "mlx5_0,1"), 10);
	ck_assert_double_eq(fam("fabric_roce_lifespan_seconds")->scale, 1e-3);
	IB->fini(C, st);
}
END_TEST

/* Identity strings longer than 63 bytes reach the label whole: the device
 * buffers hold AM_LABEL_VALUE_MAX bytes (a 64-byte buffer cut them, and
 * am_read_text_at refused the file with -EFBIG, leaving the label empty). */
START_TEST(t_long_identity)
{
	const char *root = copy_fixture("ndr8");
	char fw[201], board[151], key[512];
	void *st;

	memset(fw, 'f', sizeof fw - 1);
	fw[sizeof fw - 1] = '\0';
	memset(board, 'b', sizeof board - 1);
	board[sizeof board - 1] = '\0';
	put(root, "mlx5_0/fw_ver", fw);
	put(root, "mlx5_0/board_id", board);
	st = start(root, NULL);
	poll_at(st, 1);
	ck_assert_uint_eq(fake_am_read_errors(C), 0);
	snprintf(key, sizeof key, "mlx5_0,%s,MT4129,0,0000:13:00.0,%s", board, fw);
	ck_assert_double_eq(val("fabric_device_info", key), 1);
	IB->fini(C, st);
}
END_TEST

/* Utilization, its peak and the saturation flags are the core's: derived
 * series bound to the byte counter, the link speed and each saturating
 * counter; the collector emits none of them. */
START_TEST(t_derived)
{
	void *st = start(tree("ndr8"), "{peak_window: 30s}");
	const struct fake_series *tx, *rx, *speed, *u, *pk, *sat, *sym;

	ck_assert_double_eq(fam("fabric_port_utilization_peak_ratio")->window_s, 30);
	ck_assert_int_eq(fam("fabric_port_utilization_peak_ratio")->kind, AM_WINDOW_MAX);
	ck_assert_int_eq(fam("fabric_port_utilization_ratio")->kind, AM_GAUGE);
	poll_at(st, 1);
	poll_at(st, 2);
	tx = must("fabric_port_transmit_bytes_total", "mlx5_2,1");
	rx = must("fabric_port_receive_bytes_total", "mlx5_2,1");
	speed = must("fabric_port_link_speed_bytes_per_second", "mlx5_2,1");
	u = must("fabric_port_utilization_ratio", "mlx5_2,1,transmit");
	pk = must("fabric_port_utilization_peak_ratio", "mlx5_2,1,transmit");
	ck_assert(u->derived && pk->derived);
	ck_assert_int_eq(u->derive.op, AM_DERIVE_RATIO);
	ck_assert_ptr_eq(fake_am_series(C, u->derive.a), tx);
	ck_assert_uint_eq(u->derive.b, AM_SERIES_INVALID); /* per second */
	ck_assert_ptr_eq(fake_am_series(C, u->derive.capacity), speed);
	ck_assert_int_eq(pk->derive.op, AM_DERIVE_RATIO);
	ck_assert_ptr_eq(fake_am_series(C, pk->derive.a), tx);
	ck_assert_ptr_eq(fake_am_series(C, pk->derive.capacity), speed);
	ck_assert_ptr_eq(
	    fake_am_series(
		C, must("fabric_port_utilization_ratio", "mlx5_2,1,receive")->derive.a),
	    rx);
	sat = must("fabric_port_stat_saturated", "mlx5_2,1,symbol_error");
	sym = must("fabric_port_errors_total", "mlx5_2,1,symbol_error");
	ck_assert_int_eq(sat->derive.op, AM_DERIVE_SATURATED);
	ck_assert_ptr_eq(fake_am_series(C, sat->derive.a), sym);
	ck_assert_uint_eq(u->nsamples + pk->nsamples + sat->nsamples, 0);
	/* the capacity is emitted before the counter it divides */
	ck_assert(speed->nsamples == 2 && tx->nsamples == 2);
	IB->fini(C, st);
}
END_TEST

/* Classic 32-bit PortCounters: a data counter stuck at 2^32-1 tells the
 * layout; every counter gets its own width (a view) and the saturating ones
 * a flag. */
START_TEST(t_saturated)
{
	const char *root = copy_fixture("saturated");
	void *st = start(root, NULL);
	static const char *const flagged[] = {"symbol_error",
					      "port_rcv_errors",
					      "VL15_dropped",
					      "link_downed",
					      "link_error_recovery",
					      "local_link_integrity_errors",
					      "excessive_buffer_overrun_errors",
					      "port_xmit_wait",
					      "port_xmit_data",
					      "port_xmit_packets",
					      "port_rcv_data",
					      "port_xmit_discards",
					      "port_xmit_constraint_errors"};

	poll_at(st, 1);
	ck_assert_uint_eq(fake_am_read_errors(C), 0);
	for (size_t i = 0; i < sizeof flagged / sizeof flagged[0]; i++) {
		char key[96];

		snprintf(key, sizeof key, "mlx5_0,1,%s", flagged[i]);
		ck_assert_msg(must("fabric_port_stat_saturated", key)->derived, "%s",
			      flagged[i]);
	}
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
	    {"fabric_port_receive_bytes_total", "mlx5_0,1", 32},
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
	ck_assert_double_eq(val("fabric_port_transmit_bytes_total", "mlx5_0,1"),
			    4294967295.0);
	/* a value wider than the 32-bit counter: an error for that value */
	put(root, "mlx5_0/ports/1/counters/port_rcv_packets", "5000000000\n");
	poll_at(st, 2.5);
	ck_assert_uint_eq(fake_am_read_errors(C), 1);
	ck_assert_uint_eq(fake_am_log_count(C, "port_rcv_packets: value wider than the "
					       "counter"),
			  1);
	ck_assert_double_eq(val("fabric_port_receive_packets_total", "mlx5_0,1"),
			    3000000000.0);
	IB->fini(C, st);
}
END_TEST

/* The "noietf" layout (hfi1, mlx4): 64-bit data and packet counters without
 * unicast/multicast files. A reading above 2^32-1 proves 64 bits: every
 * value is exported as read, none is refused, no data counter is flagged. */
START_TEST(t_noietf)
{
	const char *root = copy_fixture("saturated");
	const char *c = "mlx5_0/ports/1/counters/";
	char p[256];
	void *st;

	snprintf(p, sizeof p, "%sport_xmit_data", c);
	put_u64(root, p, 272500000000ull); /* 1.09e12 bytes */
	snprintf(p, sizeof p, "%sport_rcv_data", c);
	put_u64(root, p, 4294967296ull);
	snprintf(p, sizeof p, "%sport_xmit_packets", c);
	put_u64(root, p, 9000000000ull);
	snprintf(p, sizeof p, "%sport_rcv_packets", c);
	put_u64(root, p, 12);
	st = start(root, NULL);
	ck_assert_uint_eq(fake_am_log_count(C, "64-bit (noietf PortCounters)"), 1);
	poll_at(st, 1);
	ck_assert_uint_eq(fake_am_read_errors(C), 0);
	ck_assert_uint_eq(fake_am_log_count(C, "wider than the counter"), 0);
	ck_assert_double_eq(val("fabric_port_transmit_bytes_total", "mlx5_0,1"),
			    272500000000.0);
	ck_assert_double_eq(val("fabric_port_receive_bytes_total", "mlx5_0,1"),
			    4294967296.0);
	ck_assert_double_eq(val("fabric_port_transmit_packets_total", "mlx5_0,1"),
			    9000000000.0);
	ck_assert_double_eq(val("fabric_port_receive_packets_total", "mlx5_0,1"), 12);
	for (int i = 0; i < 4; i++) {
		static const char *const fams[] = {"fabric_port_transmit_bytes_total",
						   "fabric_port_receive_bytes_total",
						   "fabric_port_transmit_packets_total",
						   "fabric_port_receive_packets_total"};
		const struct am_family_def *d = view_of(fams[i], "mlx5_0,1");

		ck_assert_msg(d->bits == 64 && !d->saturating, "%s", fams[i]);
	}
	ck_assert_ptr_null(find("fabric_port_stat_saturated", "mlx5_0,1,port_xmit_data"));
	/* the error counters keep their IBA widths and flags */
	ck_assert(must("fabric_port_stat_saturated", "mlx5_0,1,symbol_error")->derived);
	/* and the counter keeps counting past 2^32 */
	snprintf(p, sizeof p, "%sport_rcv_packets", c);
	put_u64(root, p, 5000000000ull);
	poll_at(st, 2);
	ck_assert_uint_eq(fake_am_read_errors(C), 0);
	ck_assert_double_eq(val("fabric_port_receive_packets_total", "mlx5_0,1"),
			    5000000000.0);
	IB->fini(C, st);
}
END_TEST

START_TEST(t_roce_widths)
{
	const char *root = copy_fixture("roce");
	const char *hw = "mlx5_0/ports/1/hw_counters/";
	static const struct {
		const char *file, *fam, *type;
		uint64_t v;
	} mlx5[] = {
	    {"roce_adp_retrans", "fabric_roce_adaptive_retransmits_total",
	     "roce_adp_retrans", 4101},
	    {"roce_adp_retrans_to", "fabric_roce_adaptive_retransmits_total",
	     "roce_adp_retrans_to", 4102},
	    {"roce_slow_restart", "fabric_roce_slow_restart_total", "roce_slow_restart",
	     4103},
	    {"roce_slow_restart_cnps", "fabric_roce_slow_restart_total",
	     "roce_slow_restart_cnps", 4104},
	    {"roce_slow_restart_trans", "fabric_roce_slow_restart_total",
	     "roce_slow_restart_trans", 4105},
	    {"rx_read_requests", "fabric_roce_received_requests_total", "read",
	     4294967295ull},
	    {"rx_write_requests", "fabric_roce_received_requests_total", "write", 4107},
	    {"rx_atomic_requests", "fabric_roce_received_requests_total", "atomic", 4108},
	    {"rx_dct_connect", "fabric_roce_dct_connects_total", NULL, 4109},
	};
	void *st;

	for (size_t i = 0; i < sizeof mlx5 / sizeof mlx5[0]; i++) {
		char p[256];

		snprintf(p, sizeof p, "%s%s", hw, mlx5[i].file);
		put_u64(root, p, mlx5[i].v);
	}
	st = start(root, NULL);
	poll_at(st, 1);
	ck_assert_uint_eq(fake_am_read_errors(C), 0);
	ck_assert_uint_eq(nlive("fabric_port_up"), 2);
	for (size_t i = 0; i < sizeof mlx5 / sizeof mlx5[0]; i++) {
		char key[128];

		snprintf(key, sizeof key, "mlx5_0,1%s%s", mlx5[i].type ? "," : "",
			 mlx5[i].type ? mlx5[i].type : "");
		ck_assert_msg(val(mlx5[i].fam, key) == (double)mlx5[i].v, "%s",
			      mlx5[i].file);
		ck_assert_uint_eq(view_of(mlx5[i].fam, key)->bits, 32);
		ck_assert(!view_of(mlx5[i].fam, key)->saturating);
	}
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
	IB->fini(C, st);
}
END_TEST

/* counters/port_rcv_discards, where a driver has it: an error type of its
 * own, taken as 64-bit (no documented width). */
START_TEST(t_port_rcv_discards)
{
	const char *root = copy_fixture("ndr8");
	void *st;

	fixture_put(fixture_file(root, "class/infiniband",
				 "mlx5_0/ports/1/counters/port_rcv_discards"),
		    "5000000123\n");
	st = start(root, NULL);
	poll_at(st, 1);
	ck_assert_uint_eq(fake_am_read_errors(C), 0);
	ck_assert_double_eq(val("fabric_port_errors_total", "mlx5_0,1,port_rcv_discards"),
			    5000000123.0);
	ck_assert_uint_eq(
	    view_of("fabric_port_errors_total", "mlx5_0,1,port_rcv_discards")->bits, 64);
	ck_assert_ptr_null(
	    find("fabric_port_errors_total", "mlx5_1,1,port_rcv_discards"));
	ck_assert_ptr_null(
	    find("fabric_port_stat_saturated", "mlx5_0,1,port_rcv_discards"));
	IB->fini(C, st);
}
END_TEST

START_TEST(t_oldkernel_counters_ext)
{
	void *st;

	fake_open_watch("/counters/port_xmit_data");
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
	/* ... and the 32-bit ones are never opened, not even to tell the
	 * layout */
	ck_assert_uint_eq(fake_open_watched(), 0);
	ck_assert_ptr_null(find("fabric_port_stat_saturated", "mlx4_0,1,port_xmit_data"));
	ck_assert_double_eq(val("fabric_port_unicast_transmit_packets_total", "mlx4_0,2"),
			    26000232815.0);
	ck_assert_double_eq(val("fabric_device_info",
				"mlx4_0,MT_1090120019,MT4099,,0000:04:00.0,"
				"2.42.5000"),
			    1); /* numa_node -1: unknown, empty */
	IB->fini(C, st);
}
END_TEST

START_TEST(t_down)
{
	void *st = start(tree("down"), NULL);

	poll_at(st, 1);
	ck_assert_uint_eq(nlive("fabric_port_up"), 3);
	ck_assert_double_eq(val("fabric_port_up", "ibp2s0f0,1"), 0);
	ck_assert_double_eq(val("fabric_port_state", "ibp2s0f0,1"), 1);
	ck_assert_double_eq(val("fabric_port_physical_state", "ibp2s0f0,1"), 2);
	ck_assert_double_eq(val("fabric_port_up", "ibp2s0f1,1"), 0);
	ck_assert_double_eq(val("fabric_port_state", "ibp2s0f1,1"), 2);
	ck_assert_double_eq(val("fabric_port_physical_state", "ibp2s0f1,2"), 3);
	/* counters of a down port are still reported */
	ck_assert(nemit("fabric_port_transmit_bytes_total", "ibp2s0f0,1") > 0);
	IB->fini(C, st);
}
END_TEST

/* A port that comes up: state, speed and lanes follow, and the info series
 * moves to the new rate text (the old one is retired). */
START_TEST(t_link_comes_up)
{
	const char *root = copy_fixture("down");
	void *st = start(root, NULL);
	const char *old_info = "ibp2s0f0,1,InfiniBand,,10 Gb/sec (4X SDR),28.39.1002,"
			       "b83f:d203:00a1:0000,";
	const char *new_info = "ibp2s0f0,1,InfiniBand,,200 Gb/sec (4X HDR),28.39.1002,"
			       "b83f:d203:00a1:0000,";
	uint64_t interned;

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
	ck_assert(must("fabric_port_info", old_info)->retired);
	ck_assert_uint_eq(nemit("fabric_port_info", new_info), 2);
	IB->fini(C, st);
}
END_TEST

START_TEST(t_garbage)
{
	void *st;
	unsigned opens;

	st = start(tree("garbage"), NULL);
	poll_at(st, 1);
	/* symbol_error (empty), port_rcv_errors (N/A), link_downed (21
	 * digits), port_xmit_discards (12abc), VL15_dropped (-5),
	 * port_rcv_switch_relay_errors (300 digits); out_of_sequence (0x10)
	 * is a number by the one rule of am_parse_u64 */
	ck_assert_uint_eq(fake_am_read_errors(C), 6);
	ck_assert_double_eq(val("fabric_roce_out_of_sequence_total", "mlx5_0,1"), 16);
	ck_assert_ptr_nonnull(find("fabric_port_errors_total", "mlx5_0,1,symbol_error"));
	ck_assert_uint_eq(nemit("fabric_port_errors_total", "mlx5_0,1,symbol_error"), 0);
	ck_assert_uint_eq(
	    nemit("fabric_port_errors_total", "mlx5_0,1,port_rcv_switch_relay_errors"),
	    0);
	ck_assert_uint_eq(fake_am_log_count(C, "VL15_dropped: not an unsigned number"),
			  1);
	/* the rest of the port is reported */
	ck_assert(nemit("fabric_port_errors_total", "mlx5_0,1,link_error_recovery") > 0);
	ck_assert(nemit("fabric_port_transmit_bytes_total", "mlx5_0,1") > 0);
	ck_assert(nemit("fabric_roce_out_of_buffer_total", "mlx5_0,1") > 0);
	/* remembered: not read again before the backoff ends */
	opens = fake_open_count();
	poll_at(st, 2);
	ck_assert_uint_eq(fake_am_read_errors(C), 6);
	ck_assert_uint_eq(fake_open_count(), opens);
	poll_at(st, 10.5);
	ck_assert_uint_eq(fake_am_read_errors(C), 6);
	/* retried after 10 s: still bad, counted again, next wait 20 s */
	poll_at(st, 11);
	ck_assert_uint_eq(fake_am_read_errors(C), 12);
	poll_at(st, 30);
	ck_assert_uint_eq(fake_am_read_errors(C), 12);
	poll_at(st, 31);
	ck_assert_uint_eq(fake_am_read_errors(C), 18);
	/* a streak of the same error is logged once */
	ck_assert_uint_eq(fake_am_log_count(C, "VL15_dropped: not an unsigned number"),
			  1);
	IB->fini(C, st);
}
END_TEST

/* Files that fail even for root: a directory (EISDIR), a FIFO (nothing to
 * read with O_NONBLOCK), a dangling symlink (ENOENT, the file vanished), and
 * through tests/fake_open.c EACCES, EOPNOTSUPP and EINVAL as the kernel
 * returns them for restricted or unsupported counters. */
START_TEST(t_unreadable)
{
	const char *root = copy_fixture("ndr8");
	char cdir[PATH_MAX], f[PATH_MAX + 64];
	void *st;

	snprintf(cdir, sizeof cdir, "%s/class/infiniband/mlx5_1/ports/1/counters", root);
	snprintf(f, sizeof f, "%s/symbol_error", cdir);
	ck_assert_int_eq(unlink(f), 0);
	ck_assert_int_eq(mkdir(f, 0755), 0);
	snprintf(f, sizeof f, "%s/link_downed", cdir);
	ck_assert_int_eq(unlink(f), 0);
	ck_assert_int_eq(mkfifo(f, 0644), 0);
	snprintf(f, sizeof f, "%s/port_rcv_errors", cdir);
	ck_assert_int_eq(unlink(f), 0);
	ck_assert_int_eq(symlink("/nonexistent/accelmon", f), 0);
	fake_open_fail("mlx5_1/ports/1/counters/port_xmit_wait", EACCES, true);
	fake_open_fail("mlx5_1/ports/1/hw_counters/out_of_sequence", EOPNOTSUPP, true);
	fake_open_fail("mlx5_1/ports/1/hw_counters/lifespan", EINVAL, true);
	st = start(root, NULL);
	poll_at(st, 1);
	ck_assert_uint_eq(fake_am_read_errors(C), 6);
	ck_assert_uint_eq(nemit("fabric_port_errors_total", "mlx5_1,1,symbol_error"), 0);
	ck_assert_uint_eq(nemit("fabric_port_transmit_wait_total", "mlx5_1,1"), 0);
	ck_assert(nemit("fabric_port_transmit_bytes_total", "mlx5_1,1") > 0);
	ck_assert(nemit("fabric_port_errors_total", "mlx5_1,1,port_xmit_discards") > 0);
	ck_assert(nemit("fabric_port_up", "mlx5_1,1") > 0);
	ck_assert_uint_eq(fake_am_log_count(C, "port_xmit_wait: Permission denied"), 1);
	/* the file comes back (permission fixed): picked up at the retry */
	fake_open_reset();
	poll_at(st, 5);
	ck_assert_uint_eq(nemit("fabric_port_transmit_wait_total", "mlx5_1,1"), 0);
	poll_at(st, 11);
	ck_assert(nemit("fabric_port_transmit_wait_total", "mlx5_1,1") > 0);
	ck_assert_uint_eq(fake_am_read_errors(C), 9);
	IB->fini(C, st);
}
END_TEST

/* iWARP (i40iw): every counter file answers "N/A (no PMA)". Said once at
 * discovery, never counted or retried; state and rate still reported. */
START_TEST(t_no_pma)
{
	const char *root = copy_fixture("down");
	void *st;

	sh("for f in '%s'/class/infiniband/ibp2s0f1/ports/2/counters/*; do "
	   "printf 'N/A (no PMA)\\n' > \"$f\"; done",
	   root);
	st = start(root, NULL);
	for (int t = 1; t <= 40; t += 3)
		poll_at(st, t);
	ck_assert_uint_eq(fake_am_read_errors(C), 0);
	ck_assert_uint_eq(fake_am_log_count(C, "no performance counters"), 1);
	ck_assert_uint_eq(
	    fake_am_log_count(C, "ibp2s0f1/ports/2/counters: \"N/A (no PMA)\""), 1);
	ck_assert_ptr_null(find("fabric_port_transmit_bytes_total", "ibp2s0f1,2"));
	ck_assert_ptr_null(find("fabric_port_errors_total", "ibp2s0f1,2,symbol_error"));
	ck_assert_double_eq(val("fabric_port_state", "ibp2s0f1,2"), 1);
	ck_assert_double_eq(val("fabric_port_physical_state", "ibp2s0f1,2"), 3);
	ck_assert(nemit("fabric_port_link_speed_bytes_per_second", "ibp2s0f1,2") > 0);
	/* its hw_counters are not PortCounters and still read */
	ck_assert(nemit("fabric_roce_out_of_sequence_total", "ibp2s0f1,2") > 0);
	/* the other ports are untouched */
	ck_assert(nemit("fabric_port_transmit_bytes_total", "ibp2s0f1,1") > 0);
	IB->fini(C, st);
}
END_TEST

/* Broadcom bnxt_re: no counters/ folder at all. Not an error. */
START_TEST(t_no_counters_dir)
{
	const char *root = copy_fixture("roce");
	void *st;

	sh("rm -rf '%s'/class/infiniband/rocep23s0f1/ports/1/counters", root);
	st = start(root, NULL);
	poll_at(st, 1);
	poll_at(st, 2);
	ck_assert_uint_eq(fake_am_read_errors(C), 0);
	ck_assert_uint_eq(fake_am_log_count(C, "rocep23s0f1"), 0);
	ck_assert_double_eq(val("fabric_port_up", "rocep23s0f1,1"), 1);
	ck_assert_double_eq(
	    val("fabric_port_link_speed_bytes_per_second", "rocep23s0f1,1"), 3.125e9);
	ck_assert_ptr_null(find("fabric_port_transmit_bytes_total", "rocep23s0f1,1"));
	ck_assert_ptr_null(
	    find("fabric_port_utilization_ratio", "rocep23s0f1,1,transmit"));
	ck_assert(nemit("fabric_roce_cnp_sent_total", "rocep23s0f1,1") > 0);
	IB->fini(C, st);
}
END_TEST

/* class/infiniband that is a plain file, a symlink loop or a dangling link:
 * an error naming it, not "nothing found"; absent: nothing found. */
START_TEST(t_class_not_dir)
{
	char *root = fixture_tree("infiniband/down");
	void *st = NULL;

	fake_am_set_sysfs(C, root);
	sh("rm -rf '%s/class/infiniband' && echo x > '%s/class/infiniband'", root, root);
	ck_assert_int_eq(IB->init(C, NULL, &st), -ENOTDIR);
	ck_assert_uint_eq(fake_am_log_count(C, "class/infiniband: Not a directory: not a "
					       "folder of RDMA devices"),
			  1);
	sh("rm -f '%s/class/infiniband' && ln -s infiniband '%s/class/infiniband'", root,
	   root);
	ck_assert_int_eq(IB->init(C, NULL, &st), -ELOOP);
	ck_assert_uint_eq(fake_am_log_count(C, "Too many levels of symbolic links: not a "
					       "folder of RDMA devices"),
			  1);
	sh("rm -f '%s/class/infiniband' && ln -s nowhere '%s/class/infiniband'", root,
	   root);
	ck_assert_int_eq(IB->init(C, NULL, &st), -ENOLINK);
	ck_assert_uint_eq(fake_am_log_count(C, "class/infiniband: a dangling symbolic "
					       "link: not a folder"),
			  1);
	sh("rm -f '%s/class/infiniband'", root);
	ck_assert_int_eq(IB->init(C, NULL, &st), -ENODEV);
	ck_assert_ptr_nonnull(strstr(fake_am_found(C), "no RDMA device"));
	ck_assert_uint_eq(fake_am_log_count(C, "not a folder"), 3);
	fixture_tree_remove(root);
}
END_TEST

START_TEST(t_exclude_before_open)
{
	const char *root = copy_fixture("down");
	void *st;
	char f[PATH_MAX];

	/* every file of the excluded port fails if opened */
	snprintf(f, sizeof f,
		 "%s/class/infiniband/ibp2s0f1/ports/2/counters/symbol_error", root);
	ck_assert_int_eq(unlink(f), 0);
	ck_assert_int_eq(mkdir(f, 0755), 0);
	fake_open_watch("/ibp2s0f1/ports/2/");
	st = start(root, "{exclude_ports: '^ibp2s0f1:2$'}");
	poll_at(st, 1);
	poll_at(st, 2);
	ck_assert_uint_eq(nlive("fabric_port_up"), 2);
	ck_assert_uint_eq(fake_am_read_errors(C), 0);
	ck_assert_uint_eq(fake_open_watched(), 0);
	ck_assert_ptr_null(find("fabric_port_up", "ibp2s0f1,2"));
	ck_assert(nemit("fabric_port_up", "ibp2s0f1,1") > 0);
	IB->fini(C, st);
}
END_TEST

START_TEST(t_device_filters)
{
	void *st;

	fake_open_watch("/mlx5_2/");
	st = start(tree("ndr8"), "{include: '^mlx5_[0-3]$', exclude: '^mlx5_2$'}");
	poll_at(st, 1);
	ck_assert_uint_eq(nlive("fabric_device_info"), 3);
	ck_assert_uint_eq(fake_open_watched(), 0);
	ck_assert_ptr_null(find("fabric_port_up", "mlx5_2,1"));
	ck_assert_ptr_null(find("fabric_port_up", "mlx5_4,1"));
	ck_assert(nemit("fabric_port_up", "mlx5_3,1") > 0);
	IB->fini(C, st);
	fake_am_free(C);
	C = fake_am_new("infiniband", NULL);

	/* include_ports narrows to DEVICE:PORT */
	st = start(tree("ndr8"), "{include_ports: '^mlx5_[67]:1$'}");
	poll_at(st, 1);
	ck_assert_uint_eq(nlive("fabric_port_up"), 2);
	ck_assert_ptr_nonnull(strstr(fake_am_found(C), "2 port(s)"));
	IB->fini(C, st);
}
END_TEST

START_TEST(t_nodev)
{
	void *st = NULL;

	fake_am_set_sysfs(C, "/nonexistent-accelmon-sysfs");
	ck_assert_int_eq(IB->init(C, NULL, &st), -ENODEV);
	fake_am_set_sysfs(C, tree("ndr8"));
	fake_open_reset();
	ck_assert_int_eq(IB->init(C, config("{exclude: '.'}"), &st), -ENODEV);
	ck_assert_uint_eq(fake_open_count(), 0);
	ck_assert_ptr_nonnull(strstr(fake_am_found(C), "8 device(s) excluded"));
}
END_TEST

/* After the first poll: no interning, no new opens for held files; and
 * beyond the fd budget (half the soft RLIMIT_NOFILE) files are opened per
 * read. */
START_TEST(t_steady_state)
{
	void *st = start(tree("ndr8"), NULL);
	uint64_t interned;
	unsigned opens;

	poll_at(st, 1);
	interned = fake_am_interns(C);
	opens = fake_open_count();
	poll_at(st, 2);
	poll_at(st, 3);
	ck_assert_uint_eq(fake_am_interns(C), interned);
	ck_assert_uint_eq(fake_open_count(), opens);
	IB->fini(C, st);

	{
		struct rlimit old, low;

		ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
		low = old;
		low.rlim_cur = 64; /* budget: 32 held fds of some 340 files */
		ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
		st = start(tree("ndr8"), NULL);
		poll_at(st, 1);
		opens = fake_open_count();
		poll_at(st, 2);
		ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
		/* every file but the 32 held is opened again */
		ck_assert_uint_ge(fake_open_count() - opens, 300);
		ck_assert_uint_eq(fake_am_read_errors(C), 0);
		ck_assert_double_eq(val("fabric_port_transmit_bytes_total", "mlx5_3,1"),
				    4000034819001.0);
		IB->fini(C, st);
	}
}
END_TEST

/* An HCA appears and a port vanishes while running: the rescan reports the
 * new one from the next poll and retires the vanished port's series, the
 * rest keeps its open files and series. */
START_TEST(t_rescan)
{
	const char *root = copy_fixture("down");
	void *st = start(root, NULL);
	unsigned opens;
	const struct fake_series *gone_tx, *gone_util, *gone_sat;

	ck_assert_ptr_nonnull(IB->rescan);
	poll_at(st, 1);
	ck_assert_uint_eq(nlive("fabric_port_up"), 3);
	sh("cd '%s/class/infiniband' && cp -a ibp2s0f0 ibp2s0f2 && "
	   "rm -rf ibp2s0f1/ports/2",
	   root);
	opens = fake_open_count();
	poll_at(st, 2);
	ck_assert_int_eq(IB->rescan(C, st), 0);
	poll_at(st, 3);
	ck_assert_uint_eq(fake_am_log_count(C, "ibp2s0f1 port 2 is gone"), 1);
	ck_assert_uint_eq(fake_am_log_count(C, "rescan: 2 RDMA device(s)"), 0);
	ck_assert_uint_eq(fake_am_log_count(C, "rescan: 3 RDMA device(s), 3 port(s) (1 "
					       "new)"),
			  1);
	ck_assert_uint_eq(nlive("fabric_port_up"), 3);
	ck_assert_uint_eq(nlive("fabric_device_info"), 3);
	ck_assert_double_eq(val("fabric_port_state", "ibp2s0f2,1"), 1);
	ck_assert_double_eq(val("fabric_port_transmit_bytes_total", "ibp2s0f2,1"),
			    val("fabric_port_transmit_bytes_total", "ibp2s0f0,1"));
	ck_assert(must("fabric_port_utilization_ratio", "ibp2s0f2,1,transmit")->derived);
	ck_assert(nemit("fabric_device_info", "ibp2s0f2,MT_0000000838,MT4123,0,"
					      "0000:02:00.0,28.39.1002") > 0);
	/* the vanished port: every series retired, derived ones too */
	gone_tx = must("fabric_port_transmit_bytes_total", "ibp2s0f1,2");
	gone_util = must("fabric_port_utilization_ratio", "ibp2s0f1,2,transmit");
	gone_sat = must("fabric_port_stat_saturated", "ibp2s0f1,2,symbol_error");
	ck_assert(gone_tx->retired && gone_util->retired && gone_sat->retired);
	ck_assert(must("fabric_port_up", "ibp2s0f1,2")->retired);
	ck_assert(must("fabric_port_info", "ibp2s0f1,2,InfiniBand,,10 Gb/sec (4X SDR),"
					   "28.39.1002,b83f:d203:00a1:0000,")
		      ->retired);
	/* the port that stayed: series and open files kept */
	ck_assert(!must("fabric_port_up", "ibp2s0f1,1")->retired);
	ck_assert_uint_eq(must("fabric_port_up", "ibp2s0f1,1")->nsamples, 3);
	/* opens since the change: the new port's files (held from then on),
	 * none of the old ports' */
	fake_open_watch("/ibp2s0f0/");
	poll_at(st, 4);
	ck_assert_uint_eq(fake_open_watched(), 0);
	ck_assert_uint_gt(fake_open_count(), opens);
	/* the HCA goes away as a whole: its device series too */
	sh("rm -rf '%s/class/infiniband/ibp2s0f2'", root);
	ck_assert_int_eq(IB->rescan(C, st), 0);
	ck_assert(must("fabric_device_info",
		       "ibp2s0f2,MT_0000000838,MT4123,0,0000:02:00.0,28.39.1002")
		      ->retired);
	ck_assert_uint_eq(nlive("fabric_port_up"), 2);
	IB->fini(C, st);
}
END_TEST

/* A rescan that finds nothing new reuses everything: no allocation, no
 * open of a counter file, no interning, no log line. */
START_TEST(t_rescan_nothing_changed)
{
	void *st = start(tree("ndr8"), NULL);
	uint64_t interned;
	unsigned opens;
	size_t logs;
	int rc1, rc2;

	poll_at(st, 1);
	interned = fake_am_interns(C);
	opens = fake_open_count();
	logs = fake_am_nlogs(C);
#ifdef COUNT_ALLOCS
	n_allocs = 0;
	count_allocs = 1;
#endif
	/* no check between the calls: Check's asserts allocate */
	rc1 = IB->rescan(C, st);
	rc2 = IB->rescan(C, st);
#ifdef COUNT_ALLOCS
	count_allocs = 0;
	ck_assert_uint_eq(n_allocs, 0);
#endif
	ck_assert_int_eq(rc1, 0);
	ck_assert_int_eq(rc2, 0);
	ck_assert_uint_eq(fake_open_count(), opens);
	poll_at(st, 2);
	ck_assert_uint_eq(fake_am_interns(C), interned);
	ck_assert_uint_eq(fake_am_nlogs(C), logs);
	ck_assert_uint_eq(nlive("fabric_port_up"), 8);
	/* lifespan (a setting) was read again after the rescan, from the
	 * file held open */
	ck_assert_uint_eq(fake_open_count() - opens, 0);
	IB->fini(C, st);
}
END_TEST

static Suite *ib_suite(void)
{
	Suite *s = suite_create("infiniband");
	TCase *p = tcase_create("parsers");
	TCase *f = tcase_create("fixtures");

	tcase_add_test(p, t_parse_state);
	tcase_add_test(p, t_parse_rate);
	tcase_add_test(p, t_layout);
	tcase_add_test(p, t_table);
	suite_add_tcase(s, p);

	tcase_add_unchecked_fixture(f, shared_setup, shared_teardown);
	tcase_add_checked_fixture(f, setup, teardown);
	tcase_add_test(f, t_ndr8);
	tcase_add_test(f, t_long_identity);
	tcase_add_test(f, t_derived);
	tcase_add_test(f, t_saturated);
	tcase_add_test(f, t_noietf);
	tcase_add_test(f, t_roce_widths);
	tcase_add_test(f, t_port_rcv_discards);
	tcase_add_test(f, t_oldkernel_counters_ext);
	tcase_add_test(f, t_down);
	tcase_add_test(f, t_link_comes_up);
	tcase_add_test(f, t_garbage);
	tcase_add_test(f, t_unreadable);
	tcase_add_test(f, t_no_pma);
	tcase_add_test(f, t_no_counters_dir);
	tcase_add_test(f, t_class_not_dir);
	tcase_add_test(f, t_exclude_before_open);
	tcase_add_test(f, t_device_filters);
	tcase_add_test(f, t_nodev);
	tcase_add_test(f, t_steady_state);
	tcase_add_test(f, t_rescan);
	tcase_add_test(f, t_rescan_nothing_changed);
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
