/* Check suite for the InfiniBand/RoCE collector through the core: the real
 * infiniband_collector in agent/harness.c (real ring, aggregator and
 * exposition, fake clock): exact exposed values, x4 bytes, resets, wraps,
 * saturation, the peak window. The unit part is tests/test_infiniband.c.
 */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agg.h"
#include "fixture_tree.h"
#include "harness.h"
#include "series.h"

/* Read-only trees shared by the test case, and each test's own copies. */
static struct fixture_set shared, copies;

static void teardown(void)
{
	fixture_set_clear(&copies);
}

#define copy_fixture(name) fixture_set_get(&copies, "infiniband/" name)
#define tree(name) fixture_set_get(&shared, "infiniband/" name)

static void shared_setup(void)
{
	tree("ndr8");
	tree("garbage");
}

static void shared_teardown(void)
{
	fixture_set_clear(&shared);
}

#define put(root, rel, text)                                                             \
	fixture_put(fixture_file(root, "class/infiniband", rel), text)
#define put_u64(root, rel, v)                                                            \
	fixture_put_u64(fixture_file(root, "class/infiniband", rel), v)

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

static Suite *ib_agent_suite(void)
{
	Suite *s = suite_create("infiniband_agent");
	TCase *c = tcase_create("core");

	tcase_add_unchecked_fixture(c, shared_setup, shared_teardown);
	tcase_add_checked_fixture(c, NULL, teardown);
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
	SRunner *sr = srunner_create(ib_agent_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
