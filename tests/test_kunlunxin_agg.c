/* The kunlunxin plugin's source through the real ring and aggregator
 * (agent/harness.c) on a fake clock, against the fake libxpuml.so: exact
 * integrals (busy seconds, energy from power) that the agent-level test
 * can only check against each other, and a lost XPU coming back at a
 * rescan with nothing integrated over its outage.
 */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "series.h"

extern const struct am_collector accelmon_collector;

#define FIX TEST_SRCDIR "/fixtures/kunlunxin/"
#define S(x) ((int64_t)((x)*1000000000LL))
#define K0 "{device=\"kunlunxin0\",uuid=\"02K00Y6217V00009\"}"
#define K1 "{device=\"kunlunxin1\",uuid=\"02K00Y6217V00010\"}"
#define L1 "{device=\"kunlunxin1\",uuid=\"02K00Y6217V00021\"}"

static struct harness *start(const char *scenario, const char *extra)
{
	char yaml[512], err[512] = "";
	struct harness *h;

	setenv("FAKE_XPUML_SCENARIO", scenario, 1);
	snprintf(yaml, sizeof(yaml), "{library: '%s'%s}", FAKE_XPUML_LIB, extra);
	series_reset();
	h = harness_new(&accelmon_collector, yaml, NULL, NULL, S(0), err, sizeof(err));
	ck_assert_msg(h != NULL, "harness: %s", err);
	ck_assert_msg(harness_init_rc(h) == 0, "init: %s", harness_found(h));
	return h;
}

static void expect(struct harness *h, const char *fam, const char *labels, double want)
{
	double v = NAN;

	ck_assert_msg(harness_value(h, fam, labels, &v) == 0, "missing %s%s", fam,
		      labels);
	ck_assert_msg(fabs(v - want) <= 1e-9 * fabs(want) + 1e-12,
		      "%s%s = %.12g, want %.12g", fam, labels, v, want);
}

START_TEST(test_node_integrals)
{
	struct harness *h = start(FIX "node.ini", "");

	/* polls at 1, 2, 3 s are ticks 2, 3, 4 (init is tick 1) */
	for (int p = 1; p <= 3; p++)
		ck_assert_int_eq(harness_poll(h, S(p)), 0);
	/* kunlunxin0 draws 85 W + 1 W a tick: 89 W now; the first sample
	 * starts the integral, then 88 W and 89 W for 1 s each */
	expect(h, "accel_power_watts", K0, 89);
	expect(h, "accel_energy_joules_total", K0, 177);
	expect(h, "accel_busy_seconds_total", K0, 0.74);
	expect(h, "accel_utilization_ratio", K0, 0.37);
	expect(h, "accel_energy_joules_total", K1, 300);
	expect(h, "accel_busy_seconds_total", K1, 2);
	expect(h, "accel_clock_hertz",
	       "{device=\"kunlunxin0\",uuid=\"02K00Y6217V00009\","
	       "clock=\"xpu\"}",
	       1.3e9);
	ck_assert_uint_eq(harness_read_errors(h), 0);
	ck_assert_uint_eq(harness_dropped(h), 0);
	harness_free(h);
}
END_TEST

START_TEST(test_lost_and_back)
{
	struct harness *h = start(FIX "lost.ini", ", rescan: 1s");
	double v;

	/* kunlunxin1 answers XPU_IS_LOST in ticks 3..5 (polls 2..4); the
	 * rescan before poll 6 (tick 6) acquires it again */
	for (int p = 1; p <= 5; p++) {
		ck_assert_int_eq(harness_poll(h, S(p)), 0);
		expect(h, "accel_up", L1, p == 1 ? 1 : 0);
	}
	ck_assert_int_eq(harness_poll(h, S(6)), 0);
	expect(h, "accel_up", L1, 1);
	/* 5 s since its last sample, more than three intervals: nothing is
	 * integrated over the outage */
	expect(h, "accel_busy_seconds_total", L1, 0);
	expect(h, "accel_energy_joules_total", L1, 0);
	ck_assert_int_eq(harness_poll(h, S(7)), 0);
	expect(h, "accel_busy_seconds_total", L1, 0.1);
	expect(h, "accel_energy_joules_total", L1, 60);
	ck_assert_int_eq(
	    harness_value(h, "accel_up",
			  "{device=\"kunlunxin0\",uuid=\"02K00Y6217V00020\"}", &v),
	    0);
	ck_assert(v == 1);
	ck_assert_uint_ge(harness_rescans(h), 5);
	ck_assert_uint_eq(harness_read_errors(h), 0);
	harness_free(h);
}
END_TEST

#define W0 "{device=\"kunlunxin0\",uuid=\"02K00Y6217V00050\"}"
#define W1 "{device=\"kunlunxin1\",uuid=\"02K00Y6217V00051\"}"
#define W1NEW "{device=\"kunlunxin1\",uuid=\"02K00Y6217V00099\"}"

/* swap.ini: the driver gone for one tick (XPUML initialised again and the
 * XPUs acquired again in the next poll), then kunlunxin1 lost, still
 * failing while a rescan probes it, and back as another card: the old
 * card's series leave the exposition, the new one's come. */
START_TEST(test_reinit_and_swap)
{
	static const struct {
		int up0, up1;
	} want[] = {{1, 1}, {0, 0}, {1, 1}, {1, 0}, {1, 0}, {1, 0}, {1, 0}};
	struct harness *h = start(FIX "swap.ini", ", rescan: 1s");
	double v;

	for (int p = 1; p <= 7; p++) {
		ck_assert_int_eq(harness_poll(h, S(p)), 0);
		expect(h, "accel_up", W0, want[p - 1].up0);
		expect(h, "accel_up", W1, want[p - 1].up1);
	}
	/* the rescan before poll 7 met XPU_IS_LOST from the serial call: no
	 * series under the PCI address as uuid */
	ck_assert_int_eq(
	    harness_value(h, "accel_up",
			  "{device=\"kunlunxin1\",uuid=\"00000000:5E:00.0\"}", &v),
	    -ENOENT);
	ck_assert_int_eq(harness_poll(h, S(8)), 0);
	expect(h, "accel_up", W0, 1);
	expect(h, "accel_up", W1NEW, 1);
	expect(h, "accel_utilization_ratio", W1NEW, 0.2);
	ck_assert_int_eq(harness_value(h, "accel_up", W1, &v), -ENOENT);
	ck_assert_int_eq(harness_value(h, "accel_memory_used_bytes", W1, &v), -ENOENT);
	ck_assert_int_eq(
	    harness_value(
		h, "accel_info",
		"{device=\"kunlunxin1\",uuid=\"02K00Y6217V00051\","
		"vendor=\"kunlunxin\",model=\"R200\",serial=\""
		"02K00Y6217V00051\",pci_bus_id=\"00000000:5E:00.0\","
		"numa_node=\"\",driver_version=\"4.0.25\",firmware_version=\"\"}",
		&v),
	    -ENOENT);
	ck_assert_uint_eq(harness_read_errors(h), 0);
	harness_free(h);
}
END_TEST

/* Calls of sym in the fake's trace file. */
static int trace_calls(const char *path, const char *sym)
{
	char line[128];
	size_t n = strlen(sym);
	int calls = 0;
	FILE *f = fopen(path, "r");

	ck_assert_msg(f != NULL, "no trace %s", path);
	while (fgets(line, sizeof(line), f))
		calls += !strncmp(line, sym, n) && line[n] == ' ';
	fclose(f);
	return calls;
}

/* The driver gone for one poll with `rescan: 0`: XPUML initialised again
 * and both XPUs acquired again in the next poll, not left down for good;
 * every xpumlInit is matched by an xpumlShutdown (XPUML counts them). */
START_TEST(test_reinit_without_rescan)
{
	static const int up0[] = {1, 0, 1, 1, 1, 1}, up1[] = {1, 0, 1, 0, 0, 0};
	const char *trace = "kunlunxin_agg_reinit.trace";
	struct harness *h;

	unlink(trace);
	setenv("FAKE_XPUML_TRACE", trace, 1);
	h = start(FIX "swap.ini", ", rescan: 0");
	for (int p = 1; p <= 6; p++) {
		ck_assert_int_eq(harness_poll(h, S(p)), 0);
		expect(h, "accel_up", W0, up0[p - 1]);
		/* lost from poll 4 on, and no rescan to take it back */
		expect(h, "accel_up", W1, up1[p - 1]);
	}
	ck_assert_uint_eq(harness_rescans(h), 0);
	harness_free(h);
	unsetenv("FAKE_XPUML_TRACE");
	ck_assert_int_eq(trace_calls(trace, "xpumlInit"), 2);
	ck_assert_int_eq(trace_calls(trace, "xpumlShutdown"), 2);
	unlink(trace);
}
END_TEST

/* With the default rescan (30 s) the one-poll driver fault costs one poll
 * of accel_up 0, not the 28 polls until the rescan. */
START_TEST(test_reinit_default_rescan)
{
	struct harness *h = start(FIX "swap.ini", "");
	double v = -1;
	int down = 0;

	for (int p = 1; p <= 40; p++) {
		ck_assert_int_eq(harness_poll(h, S(p)), 0);
		ck_assert_int_eq(harness_value(h, "accel_up", W0, &v), 0);
		down += v == 0;
	}
	ck_assert_int_eq(down, 1);
	harness_free(h);
}
END_TEST

#define L1BUS "{device=\"kunlunxin1\",uuid=\"00000000:5E:00.0\"}"

/* A TIMEOUT of xpumlDeviceGetSerial at the rescan that re-acquires a lost
 * XPU is not "no serial": the XPU stays lost under its uuid (one read
 * error), and the next rescan takes it back with the same series. */
START_TEST(test_serial_timeout_at_reacquire)
{
	struct harness *h = start(FIX "serial_timeout.ini", ", rescan: 1s");
	double v;

	for (int p = 1; p <= 6; p++)
		ck_assert_int_eq(harness_poll(h, S(p)), 0);
	/* the rescan before poll 6 (tick 6) met the TIMEOUT */
	expect(h, "accel_up", L1, 0);
	ck_assert_int_eq(harness_value(h, "accel_up", L1BUS, &v), -ENOENT);
	ck_assert_uint_eq(harness_read_errors(h), 1);
	ck_assert_int_eq(harness_poll(h, S(7)), 0);
	expect(h, "accel_up", L1, 1);
	expect(h, "accel_utilization_ratio", L1, 0.1);
	ck_assert_int_eq(harness_value(h, "accel_up", L1BUS, &v), -ENOENT);
	ck_assert_int_eq(harness_value(h, "accel_info",
				       "{device=\"kunlunxin1\",uuid=\"00000000:5E:00.0\","
				       "vendor=\"kunlunxin\",model=\"R200\",serial=\"\","
				       "pci_bus_id=\"00000000:5E:00.0\",numa_node=\"\","
				       "driver_version=\"4.0.25\",firmware_version=\"\"}",
				       &v),
			 -ENOENT);
	ck_assert_uint_eq(harness_read_errors(h), 1);
	harness_free(h);
}
END_TEST

/* Every call failing with UNKNOWN: the XPU answered nothing, so accel_up
 * reads 0 (it kept reading 1), and each failed call is a read error. */
START_TEST(test_unknown_reads_down)
{
	struct harness *h = start(FIX "unknown.ini", "");

	ck_assert_int_eq(harness_poll(h, S(1)), 0);
	expect(h, "accel_up", L1, 1);
	for (int p = 2; p <= 10; p++) {
		ck_assert_int_eq(harness_poll(h, S(p)), 0);
		expect(h, "accel_up", L1, 0);
		expect(h, "accel_up", "{device=\"kunlunxin0\",uuid=\"02K00Y6217V00020\"}",
		       1);
	}
	/* utilization, memory, power, temperature, state (no clock key: absent
	 * since poll 1) in each of polls 2..10 */
	ck_assert_uint_eq(harness_read_errors(h), 5 * 9);
	harness_free(h);
}
END_TEST

/* NO_PERMISSION for one poll from calls that answered before is a passing
 * error: read errors that poll, the metrics back at the next one. */
START_TEST(test_noperm_once)
{
	struct harness *h = start(FIX "noperm.ini", "");

	ck_assert_int_eq(harness_poll(h, S(1)), 0);
	ck_assert_int_eq(harness_poll(h, S(2)), 0);
	expect(h, "accel_up", L1, 0);
	ck_assert_uint_eq(harness_read_errors(h), 5);
	for (int p = 3; p <= 10; p++) {
		ck_assert_int_eq(harness_poll(h, S(p)), 0);
		expect(h, "accel_up", L1, 1);
	}
	expect(h, "accel_utilization_ratio", L1, 0.1);
	expect(h, "accel_power_watts", L1, 60);
	expect(h, "accel_temperature_celsius",
	       "{device=\"kunlunxin1\",uuid=\"02K00Y6217V00021\",sensor=\"xpu\"}", 40);
	ck_assert_uint_eq(harness_read_errors(h), 5);
	harness_free(h);
}
END_TEST

#define D0 "{device=\"kunlunxin0\",uuid=\"02K00Y6217V00070-00000000:3B:00.0\"}"
#define D1 "{device=\"kunlunxin1\",uuid=\"02K00Y6217V00070-00000000:3C:00.0\"}"
#define D2 "{device=\"kunlunxin2\",uuid=\"02K00Y6217V00071\"}"

/* Two XPUs of one board share its serial: each gets the serial and its PCI
 * address as uuid, the single card keeps its serial. A count of 300 is
 * taken as 256 XPUs. */
START_TEST(test_dual_board_and_count_cap)
{
	struct harness *h = start(FIX "dual.ini", "");
	double v;

	ck_assert_msg(strstr(harness_found(h), "256 Kunlunxin XPU(s) (3 answering)"),
		      "found line: %s", harness_found(h));
	ck_assert_int_eq(harness_poll(h, S(1)), 0);
	expect(h, "accel_utilization_ratio", D0, 0.3);
	expect(h, "accel_utilization_ratio", D1, 0.4);
	expect(h, "accel_utilization_ratio", D2, 0.5);
	ck_assert_int_eq(
	    harness_value(h, "accel_up",
			  "{device=\"kunlunxin0\",uuid=\"02K00Y6217V00070\"}", &v),
	    -ENOENT);
	expect(h, "accel_up", "{device=\"kunlunxin255\",uuid=\"kunlunxin255\"}", 0);
	ck_assert_int_eq(harness_value(h, "accel_up",
				       "{device=\"kunlunxin256\",uuid=\"kunlunxin256\"}",
				       &v),
			 -ENOENT);
	harness_free(h);
}
END_TEST

/* The board partner found only at a later rescan: the XPU that had the
 * bare serial as uuid moves to SERIAL-PCI_ADDRESS, its old series retired. */
START_TEST(test_dual_board_partner_late)
{
	const char *bare = "{device=\"kunlunxin0\",uuid=\"02K00Y6217V00070\"}";
	struct harness *h = start(FIX "dual_late.ini", ", rescan: 1s");
	double v;

	ck_assert_int_eq(harness_poll(h, S(1)), 0);
	expect(h, "accel_up", bare, 1);
	expect(h, "accel_utilization_ratio", bare, 0.3);
	ck_assert_int_eq(harness_poll(h, S(2)), 0);
	ck_assert_int_eq(harness_poll(h, S(3)), 0);
	expect(h, "accel_up", D0, 1);
	expect(h, "accel_up", D1, 1);
	expect(h, "accel_utilization_ratio", D0, 0.3);
	ck_assert_int_eq(harness_value(h, "accel_up", bare, &v), -ENOENT);
	ck_assert_int_eq(harness_value(h, "accel_utilization_ratio", bare, &v), -ENOENT);
	harness_free(h);
}
END_TEST

START_TEST(test_no_library)
{
	char err[512] = "";
	struct harness *h;

	series_reset();
	h = harness_new(&accelmon_collector, "{library: /nonexistent/libxpuml.so}", NULL,
			NULL, S(0), err, sizeof(err));
	ck_assert_msg(h != NULL, "harness: %s", err);
	ck_assert_int_eq(harness_init_rc(h), -ENODEV);
	ck_assert_msg(strstr(harness_found(h), "/nonexistent/libxpuml.so not found: ") !=
			  NULL,
		      "found line: %s", harness_found(h));
	harness_free(h);
}
END_TEST

static Suite *kunlunxin_suite(void)
{
	Suite *s = suite_create("kunlunxin_agg");
	TCase *tc = tcase_create("harness");

	tcase_add_test(tc, test_node_integrals);
	tcase_add_test(tc, test_lost_and_back);
	tcase_add_test(tc, test_reinit_and_swap);
	tcase_add_test(tc, test_no_library);
	tcase_add_test(tc, test_reinit_without_rescan);
	tcase_add_test(tc, test_reinit_default_rescan);
	tcase_add_test(tc, test_serial_timeout_at_reacquire);
	tcase_add_test(tc, test_unknown_reads_down);
	tcase_add_test(tc, test_noperm_once);
	tcase_add_test(tc, test_dual_board_and_count_cap);
	tcase_add_test(tc, test_dual_board_partner_late);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(kunlunxin_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
