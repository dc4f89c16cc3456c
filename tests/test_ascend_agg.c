/* The ascend collector through the real ring and aggregator
 * (agent/harness.c) on a fake clock, against the fake libdcmi.so: exact
 * busy seconds and energy (the core's integrals of the utilization and
 * power gauges), and nothing integrated over a chip's outage.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "harness.h"
#include "series.h"

extern const struct am_collector ascend_collector;

#define FIX TEST_SRCDIR "/fixtures/ascend/"
#define S(x) ((int64_t)((x)*1000000000LL))
#define A0 "{device=\"ascend0\",uuid=\"00000011-00000022-00000033-00000044-00000055\"}"

static struct harness *start(const char *scenario)
{
	char yaml[512], err[512] = "";
	struct harness *h;

	setenv("FAKE_DCMI_SCENARIO", scenario, 1);
	snprintf(yaml, sizeof(yaml), "{library: '%s'}", FAKE_DCMI_LIB);
	series_reset();
	h = harness_new(&ascend_collector, yaml, NULL, NULL, S(0), err, sizeof(err));
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

START_TEST(test_integrals_and_outage)
{
	struct harness *h = start(FIX "agg.ini");

	/* polls at 1, 2, 3 s are ticks 2, 3, 4 (init is tick 1): 120, 130,
	 * 140 W; the first sample starts the integral, then 130 W and 140 W
	 * for 1 s each */
	for (int p = 1; p <= 3; p++)
		ck_assert_int_eq(harness_poll(h, S(p)), 0);
	expect(h, "accel_power_watts", A0, 140);
	expect(h, "accel_energy_joules_total", A0, 270);
	expect(h, "accel_busy_seconds_total", A0, 0.8);
	expect(h, "accel_up", A0, 1);
	/* ticks 5-7: off the bus */
	for (int p = 4; p <= 6; p++) {
		ck_assert_int_eq(harness_poll(h, S(p)), 0);
		expect(h, "accel_up", A0, 0);
	}
	/* tick 8: back, 4 s after its last sample (more than three
	 * intervals): nothing integrated over the outage */
	ck_assert_int_eq(harness_poll(h, S(7)), 0);
	expect(h, "accel_up", A0, 1);
	expect(h, "accel_power_watts", A0, 180);
	expect(h, "accel_energy_joules_total", A0, 270);
	expect(h, "accel_busy_seconds_total", A0, 0.8);
	ck_assert_int_eq(harness_poll(h, S(8)), 0);
	expect(h, "accel_energy_joules_total", A0, 270 + 190);
	expect(h, "accel_busy_seconds_total", A0, 1.2);
	/* going away is not a read error */
	ck_assert_uint_eq(harness_read_errors(h), 0);
	ck_assert_uint_eq(harness_dropped(h), 0);
	harness_free(h);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ascend_agg");
	TCase *tc = tcase_create("harness");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_integrals_and_outage);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
