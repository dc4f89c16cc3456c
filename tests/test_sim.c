/* Check suite for the sim collector (collectors/sim.c) on the fake of the
 * collector API (tests/fake_am.c), with poll time stepped by the test: each
 * scenario's figures, its means over a period, the failing device's outage
 * and return, the flapping, congested and errors ports, the marking of
 * everything simulated, and refused scenario names. The same collector
 * through the agent: tests/integration/simulate.sh.
 */
#include "../collectors/sim.c"

#include <check.h>
#include <math.h>

#include "fake_am.h"

#define S_NS 1000000000LL

static struct am_ctx *C;
static void *St;

static void violation(const char *msg)
{
	ck_abort_msg("%s", msg);
}

static void setup(void)
{
	fake_am_on_violation(violation);
	C = fake_am_new("sim", NULL);
	St = NULL;
}

static void teardown(void)
{
	if (St)
		sim_fini(C, St);
	fake_am_free(C);
}

static int start(const char *yaml)
{
	char err[256];
	const struct am_config *cfg =
	    fake_am_config(C, &sim_collector, yaml, err, sizeof(err));

	ck_assert_msg(cfg, "config %s: %s", yaml, err);
	return sim_init(C, cfg, &St);
}

/* poll at t seconds after the first poll (fake time starts at 1 s) */
static void poll_at(double t)
{
	fake_am_set_time(C, S_NS + (int64_t)(t * S_NS));
	ck_assert_int_eq(sim_poll(C, St), 0);
}

static const struct fake_series *dev(const char *fam, int i, const char *extra)
{
	char key[128];
	const struct fake_series *s;

	snprintf(key, sizeof(key), "sim%d,SIM-00000000-0000-0000-0000-%012d%s%s", i, i,
		 extra ? "," : "", extra ? extra : "");
	s = fake_am_find(C, fam, key);
	ck_assert_msg(s, "no %s{%s}", fam, key);
	return s;
}

static const struct fake_series *port(const char *fam, int i, const char *extra)
{
	char key[64];
	const struct fake_series *s;

	snprintf(key, sizeof(key), "simhca%d,1%s%s", i, extra ? "," : "",
		 extra ? extra : "");
	s = fake_am_find(C, fam, key);
	ck_assert_msg(s, "no %s{%s}", fam, key);
	return s;
}

START_TEST(fixed_is_the_default)
{
	ck_assert_int_eq(start("{devices: 5}"), 0);
	poll_at(0);
	for (int i = 0; i < 5; i++)
		ck_assert_double_eq_tol(dev("accel_utilization_ratio", i, NULL)->last,
					i / 4.0, 1e-12);
	/* series of nine families only, no ports */
	ck_assert_ptr_null(fake_am_match(C, "accel_sm_active_ratio", ""));
	ck_assert_ptr_null(fake_am_family(C, "fabric_port_info"));
	ck_assert_double_eq(dev("accel_power_watts", 4, NULL)->last, 400);
}
END_TEST

START_TEST(everything_is_marked_simulated)
{
	ck_assert_int_eq(start("{devices: 8, demo: true}"), 0);
	poll_at(0);
	for (int i = 0; i < 8; i++) {
		char key[128];
		const struct fake_series *s;

		snprintf(key, sizeof(key), "device=\"sim%d\"", i);
		s = fake_am_match(C, "accel_info", key);
		ck_assert_ptr_nonnull(s);
		ck_assert_str_eq(fake_am_label(C, s, "vendor"), "simulated");
		ck_assert_str_eq(fake_am_label(C, s, "driver_version"), "simulated");
		ck_assert_str_eq(fake_am_label(C, s, "firmware_version"), "simulated");
		ck_assert_str_eq(fake_am_label(C, s, "model"),
				 i % 2 ? "SIM-B40" : "SIM-A80");
		ck_assert_int_eq(strncmp(fake_am_label(C, s, "uuid"), "SIM-", 4), 0);
		snprintf(key, sizeof(key), "device=\"simhca%d\"", i);
		s = fake_am_match(C, "fabric_port_info", key);
		ck_assert_ptr_nonnull(s);
		ck_assert_str_eq(fake_am_label(C, s, "firmware_version"), "simulated");
	}
	ck_assert_str_eq(fake_am_found(C), "8 simulated accelerators, 8 simulated ports");
}
END_TEST

/* mean of a gauge's samples over whole seconds [0, n) */
static double mean_over(const char *fam, int i, int n)
{
	double sum = 0;

	for (int t = 0; t < n; t++) {
		poll_at(t);
		sum += dev(fam, i, NULL)->last;
	}
	return sum / n;
}

START_TEST(scenario_means)
{
	ck_assert_int_eq(start("{devices: 8, demo: true, fail_after: 1h}"), 0);
	/* sim1 inference: 0.9 for 6 s of 20, else 0.05 */
	ck_assert_double_eq_tol(mean_over("accel_utilization_ratio", 1, 40), 0.305,
				1e-12);
	ck_assert_double_eq_tol(mean_over("accel_utilization_ratio", 0, 20), 0.95, 1e-12);
	ck_assert_double_eq_tol(mean_over("accel_utilization_ratio", 2, 20), 0, 1e-12);
	ck_assert_double_eq_tol(mean_over("accel_utilization_ratio", 3, 20), 0.5, 1e-12);
	ck_assert_double_eq_tol(mean_over("accel_utilization_ratio", 4, 20), 0.9, 1e-12);
	/* throttle: thermal 40% of the time, the clock at 60% */
	ck_assert_double_eq_tol(
	    dev("accel_throttled_seconds_total", 4, "hw_thermal_slowdown")->last, 0.4,
	    1e-12);
	ck_assert_double_eq_tol(dev("accel_clock_hertz", 4, "graphics")->last, 1.188e9,
				1);
	/* idle_allocated holds 60% of 80 GB and a process; idle nothing */
	ck_assert_double_eq_tol(dev("accel_memory_used_bytes", 2, NULL)->last, 48e9, 1);
	ck_assert_double_eq(dev("accel_compute_processes", 2, NULL)->last, 1);
	ck_assert_double_eq(dev("accel_compute_processes", 7, NULL)->last, 0);
	ck_assert_double_eq(dev("accel_memory_used_bytes", 7, NULL)->last, 0);
}
END_TEST

START_TEST(failing_device_goes_and_returns)
{
	const struct fake_series *up, *util, *ecc, *xid;
	unsigned n;

	ck_assert_int_eq(start("{devices: 4, demo: true, fail_after: 3s, fail_for: 2s}"),
			 0);
	up = dev("accel_up", 3, NULL);
	util = dev("accel_utilization_ratio", 3, NULL);
	ecc = dev("accel_ecc_errors_total", 3, "uncorrected,");
	xid = dev("accel_error_events_total", 3, "79");
	for (int t = 0; t < 3; t++) {
		poll_at(t);
		ck_assert_double_eq(up->last, 1);
	}
	ck_assert_uint_eq(ecc->last_u64, 0);
	n = util->nsamples;
	poll_at(3);
	poll_at(4);
	/* down: accel_up 0 and nothing else (its series go stale) */
	ck_assert_double_eq(up->last, 0);
	ck_assert_uint_eq(util->nsamples, n);
	poll_at(5);
	ck_assert_double_eq(up->last, 1);
	ck_assert_uint_eq(util->nsamples, n + 1);
	ck_assert_uint_eq(ecc->last_u64, 1);
	ck_assert_uint_eq(xid->last_u64, 1);
	/* the other devices never stopped */
	ck_assert_uint_eq(dev("accel_utilization_ratio", 2, NULL)->nsamples, 6);
}
END_TEST

START_TEST(ports)
{
	const struct fake_series *flap_up, *downed, *sym, *rcv, *cnp, *tx;

	ck_assert_int_eq(
	    start("{devices: 4, demo: true, flap_period: 10s, fail_after: 1h}"), 0);
	flap_up = port("fabric_port_up", 1, NULL);
	downed = port("fabric_port_errors_total", 1, "link_downed");
	sym = port("fabric_port_errors_total", 3, "symbol_error");
	rcv = port("fabric_port_errors_total", 3, "port_rcv_errors");
	cnp = port("fabric_roce_cnp_handled_total", 2, NULL);
	tx = port("fabric_port_transmit_bytes_total", 2, NULL);
	/* utilization and the saturation flag are derived by the core */
	ck_assert(port("fabric_port_utilization_ratio", 2, "transmit")->derived);
	ck_assert(port("fabric_port_stat_saturated", 3, "port_rcv_errors")->derived);
	for (int t = 0; t <= 30; t++) {
		poll_at(t);
		/* down the last fifth of every 10 s: t mod 10 in 8, 9 */
		ck_assert_double_eq(flap_up->last, t % 10 >= 8 ? 0 : 1);
	}
	ck_assert_uint_eq(downed->last_u64, 3); /* at 8, 18, 28 */
	ck_assert_uint_eq(sym->last_u64, 60);	/* 2 a second */
	ck_assert_uint_eq(rcv->last_u64, 65535);
	ck_assert_uint_eq(cnp->last_u64, 150000); /* 5000 a second */
	/* congested: 0.95 of 50 GB/s for 30 s */
	ck_assert_double_eq_tol((double)tx->last_u64, 0.95 * 50e9 * 30, 2);
}
END_TEST

START_TEST(bad_scenario_names)
{
	ck_assert_int_eq(start("{scenarios: [training, juggling]}"), -EINVAL);
	ck_assert_str_eq(fake_am_found(C), "scenarios: no scenario \"juggling\"");
}
END_TEST

START_TEST(bad_port_scenario_names)
{
	ck_assert_int_eq(start("{ports: 1, port_scenarios: [jammed]}"), -EINVAL);
	ck_assert_str_eq(fake_am_found(C), "port_scenarios: no scenario \"jammed\"");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sim");
	TCase *tc = tcase_create("sim");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, fixed_is_the_default);
	tcase_add_test(tc, everything_is_marked_simulated);
	tcase_add_test(tc, scenario_means);
	tcase_add_test(tc, failing_device_goes_and_returns);
	tcase_add_test(tc, ports);
	tcase_add_test(tc, bad_scenario_names);
	tcase_add_test(tc, bad_port_scenario_names);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
