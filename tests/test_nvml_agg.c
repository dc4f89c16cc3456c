/* nvml collector through the real ring and aggregator (agent/harness.c) on a
 * fake clock, against the fake libnvidia-ml.so.1: checks what the families'
 * kinds and scales make of the raw NVML units (mW -> W, mJ -> J, KiB -> bytes,
 * MHz -> Hz) and the exact integrals (busy, throttled, PCIe, SM-active
 * seconds) that test_nvml's recording stub cannot see.
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

extern const struct am_collector nvml_collector;

#define FIX TEST_SRCDIR "/fixtures/nvml/"
#define S(x) ((int64_t)((x)*1000000000LL))
#define H0 "{device=\"nvidia0\",uuid=\"GPU-5b1c7e6a-0000-4000-8000-000000000000\""
#define T0 "{device=\"nvidia0\",uuid=\"GPU-7e47e470-0000-4000-8000-000000000000\""

struct expect {
	const char *fam, *labels;
	double value;
};

struct agg_case {
	const char *scenario;
	int polls; /* at 1 s, 2 s, ... of fake time */
	struct expect e[16];
};

static const struct agg_case cases[] = {
    {"h100.ini",
     3,
     {
	 {"accel_power_watts", H0 "}", 312.5},
	 {"accel_power_limit_watts", H0 "}", 700},
	 /* tick 4 at the 3rd poll: 1000000 + 4 x 5000 mJ */
	 {"accel_energy_joules_total", H0 "}", 1020},
	 {"accel_clock_hertz", H0 ",clock=\"sm\"}", 1.98e9},
	 /* 0.37 for 1 s, twice (the first sample starts the integral) */
	 {"accel_busy_seconds_total", H0 "}", 0.74},
	 {"accel_throttled_seconds_total", H0 ",reason=\"sw_power_cap\"}", 2},
	 {"accel_throttled_seconds_total", H0 ",reason=\"gpu_idle\"}", 0},
	 /* 1000 KiB/s for 2 s */
	 {"accel_pcie_transmit_bytes_total", H0 "}", 2048000},
	 /* GPM values from the 2nd poll on: one 1 s step integrated */
	 {"accel_sm_active_seconds_total", H0 "}", 0.455},
	 {"accel_tensor_active_seconds_total", H0 "}", 0.2},
	 /* (1000 + 100 x 4) KiB on link 0 */
	 {"fabric_nvlink_transmit_bytes_total", H0 ",link=\"0\"}", 1400 * 1024.0},
	 {"accel_ecc_errors_total", H0 ",type=\"corrected\",block=\"\"}", 3},
	 {"accel_error_events_total", H0 ",code=\"79\"}", 1},
	 {NULL, NULL, 0},
     }},
    {"t4.ini",
     3,
     {
	 /* no energy counter: 70 W integrated over 2 s */
	 {"accel_energy_joules_total", T0 "}", 140},
	 {"accel_power_watts", T0 "}", 70},
	 {"accel_memory_used_bytes", T0 "}", 2147483648.0},
	 {NULL, NULL, 0},
     }},
};

START_TEST(test_agg_values)
{
	const struct agg_case *c = &cases[_i];
	char yaml[512], path[512], err[512] = "";
	struct harness *h;

	snprintf(path, sizeof(path), FIX "%s", c->scenario);
	setenv("FAKE_NVML_SCENARIO", path, 1);
	snprintf(yaml, sizeof(yaml), "{library: '%s', event_wait: 1ms}",
		 FAKE_NVML_DIR "/libnvidia-ml.so.1");
	series_reset();
	h = harness_new(&nvml_collector, yaml, NULL, NULL, S(0), err, sizeof(err));
	ck_assert_msg(h != NULL, "harness: %s", err);
	ck_assert_msg(harness_init_rc(h) == 0, "init: %s", harness_found(h));
	for (int p = 1; p <= c->polls; p++) {
		if (p > 1)
			usleep(110000); /* GPM wants 100 ms of real time */
		ck_assert_int_eq(harness_poll(h, S(p)), 0);
	}
	for (const struct expect *e = c->e; e->fam; e++) {
		double v = NAN;

		ck_assert_msg(harness_value(h, e->fam, e->labels, &v) == 0,
			      "%s: missing %s%s", c->scenario, e->fam, e->labels);
		ck_assert_msg(fabs(v - e->value) <= 1e-9 * fabs(e->value) + 1e-12,
			      "%s: %s%s = %.12g, want %.12g", c->scenario, e->fam,
			      e->labels, v, e->value);
	}
	ck_assert_uint_eq(harness_read_errors(h), 0);
	ck_assert_uint_eq(harness_dropped(h), 0);
	harness_free(h);
}
END_TEST

/* The square wave of issue 10: a GPU busy 30% of the time in 2.1 s bursts
 * (7 s period), whose driver samples every 1/6 s, polled every 1 s of fake
 * time for six periods. Busy seconds from the driver's samples
 * (nvmlDeviceGetSamples) read 0.300 +- 0.005 of the time; the fallback
 * (nvmlDeviceGetUtilizationRates, a point reading per poll integrated by
 * the core) is printed beside it. */
static double square_wave_ratio(int samples)
{
	char path[] = "/tmp/nvml_wave_XXXXXX", yaml[512], err[512] = "";
	int fd = mkstemp(path);
	double b0 = NAN, b1 = NAN, v;
	struct harness *h;
	FILE *f;

	ck_assert_int_ge(fd, 0);
	f = fdopen(fd, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f,
		"[global]\ndriver_version = 550.54.15\n[gpu0]\nuuid = GPU-wave\n"
		"sample_period_ms = 166.6666667\nbusy_wave = 7,2.1\nutil_gpu = 0\n"
		"util_memory = 10\n%s",
		samples ? "" : "samples_answer = NOT_SUPPORTED@0-100000\n");
	fclose(f);
	setenv("FAKE_NVML_SCENARIO", path, 1);
	snprintf(yaml, sizeof(yaml), "{library: '%s', event_wait: 1ms, pcie: false}",
		 FAKE_NVML_DIR "/libnvidia-ml.so.1");
	series_reset();
	h = harness_new(&nvml_collector, yaml, NULL, NULL, S(0), err, sizeof(err));
	ck_assert_msg(h != NULL, "harness: %s", err);
	ck_assert_msg(harness_init_rc(h) == 0, "init: %s", harness_found(h));
	/* poll p at p s; the fake's driver time is p + 1 s (one tick per poll) */
	for (int p = 1; p <= 43; p++) {
		ck_assert_int_eq(harness_poll(h, S(p)), 0);
		if (p == 1 &&
		    harness_value(h, "accel_busy_seconds_total",
				  "{device=\"nvidia0\",uuid=\"GPU-wave\"}", &v) == 0)
			b0 = v;
	}
	ck_assert_int_eq(harness_value(h, "accel_busy_seconds_total",
				       "{device=\"nvidia0\",uuid=\"GPU-wave\"}", &b1),
			 0);
	ck_assert_msg(!isnan(b0), "no busy seconds at the first poll");
	ck_assert_uint_eq(harness_read_errors(h), 0);
	harness_free(h);
	unlink(path);
	return (b1 - b0) / 42.0;
}

START_TEST(test_busy_square_wave)
{
	double smp = square_wave_ratio(1), rates = square_wave_ratio(0);

	printf("square wave, 30%% busy in 2.1 s bursts, 1 s polls, six periods: "
	       "driver samples %.4f, utilization rates %.4f\n",
	       smp, rates);
	ck_assert_msg(fabs(smp - 0.300) <= 0.005, "busy ratio from samples %.4f", smp);
}
END_TEST

/* ---- attribution (collectors/attribution.md) ---- */

#define PROCFS TEST_SRCDIR "/fixtures/procfs/node"
#define SH0 "{device=\"nvidia0\",uuid=\"GPU-5a4ed000-0000-4000-8000-000000000000\""
#define POD "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"

static double value(struct harness *h, const char *fam, const char *labels)
{
	double v = NAN;

	ck_assert_msg(harness_value(h, fam, labels, &v) == 0, "missing %s%s", fam,
		      labels);
	return v;
}

static struct harness *attrib_harness(const char *scenario, const char *extra)
{
	char yaml[512], err[512] = "";
	struct harness *h;

	setenv("FAKE_NVML_SCENARIO", scenario, 1);
	snprintf(yaml, sizeof(yaml), "{library: '%s', event_wait: 1ms, pcie: false%s}",
		 FAKE_NVML_DIR "/libnvidia-ml.so.1", extra);
	series_reset();
	h = harness_new(&nvml_collector, yaml, NULL, PROCFS, S(0), err, sizeof(err));
	ck_assert_msg(h != NULL, "harness: %s", err);
	ck_assert_msg(harness_init_rc(h) == 0, "init: %s", harness_found(h));
	return h;
}

/* A GPU shared by a Slurm job and a Kubernetes pod with known utilization:
 * busy seconds split 60:20, energy by those busy seconds, and the shares
 * add up to the device's own exported counters. */
START_TEST(test_attrib_shared_gpu)
{
	struct harness *h =
	    attrib_harness(TEST_SRCDIR "/fixtures/procfs/nvml_shared.ini", "");
	const char *slurm = SH0 ",job=\"4242\",kind=\"slurm\"}";
	const char *pod = SH0 ",job=\"" POD "\",kind=\"kubernetes\"}";
	double e0, busy, jb_slurm, jb_pod, je_slurm, je_pod, de;

	ck_assert_int_eq(harness_poll(h, S(1)), 0);
	e0 = value(h, "accel_energy_joules_total", SH0 "}");
	ck_assert_int_eq(harness_poll(h, S(2)), 0);
	ck_assert_int_eq(harness_poll(h, S(3)), 0);
	busy = value(h, "accel_busy_seconds_total", SH0 "}");
	de = value(h, "accel_energy_joules_total", SH0 "}") - e0;
	jb_slurm = value(h, "accel_job_busy_seconds_total", slurm);
	jb_pod = value(h, "accel_job_busy_seconds_total", pod);
	je_slurm = value(h, "accel_job_energy_joules_total", slurm);
	je_pod = value(h, "accel_job_energy_joules_total", pod);
	printf("shared GPU, 2 s at 80 %%: device busy %.9f s, energy %.3f J; slurm 4242 "
	       "%.9f s %.3f J, pod %.9f s %.3f J\n",
	       busy, de, jb_slurm, je_slurm, jb_pod, je_pod);
	ck_assert_double_eq_tol(busy, 1.6, 1e-9);
	ck_assert_double_eq_tol(jb_slurm, 1.2, 1e-9);
	ck_assert_double_eq_tol(jb_pod, 0.4, 1e-9);
	ck_assert_double_eq_tol(jb_slurm + jb_pod, busy, 1e-9);
	ck_assert_double_eq_tol(de, 600, 1e-9);
	ck_assert_double_eq_tol(je_slurm, 450, 1e-9);
	ck_assert_double_eq_tol(je_pod, 150, 1e-9);
	ck_assert_double_eq_tol(je_slurm + je_pod, de, 1e-9);
	/* memory: the pod's two processes together */
	ck_assert_double_eq(value(h, "accel_job_memory_used_bytes", slurm), 8589934592.0);
	ck_assert_double_eq(value(h, "accel_job_memory_used_bytes", pod), 6442450944.0);
	ck_assert_double_eq(value(h, "accel_job_info",
				  SH0 ",job=\"4242\",kind=\"slurm\",user=\"1000\","
				      "step=\"0\",container=\"\",namespace=\"\",pod=\"\"}"),
			    1);
	/* the idle GPU has no job */
	ck_assert_int_eq(
	    harness_value(h, "accel_job_busy_seconds_total",
			  "{device=\"nvidia1\",uuid=\"GPU-5a4ed000-0000-4000-"
			  "8000-000000000001\",job=\"4242\",kind=\"slurm\"}",
			  &de),
	    -ENOENT);
	ck_assert_uint_eq(harness_read_errors(h), 0);
	harness_free(h);
}
END_TEST

/* The same GPU when the driver says no process used it since the last
 * poll (nvmlDeviceGetProcessUtilization answers NOT_FOUND) although the
 * device reads 80 % busy: equal shares of the two jobs, still adding up. */
START_TEST(test_attrib_no_process_samples)
{
	char path[] = "/tmp/nvml_attnf_XXXXXX", line[256];
	int fd = mkstemp(path);
	FILE *in = fopen(TEST_SRCDIR "/fixtures/procfs/nvml_shared.ini", "r"), *out;
	const char *slurm = SH0 ",job=\"4242\",kind=\"slurm\"}";
	const char *pod = SH0 ",job=\"" POD "\",kind=\"kubernetes\"}";
	struct harness *h;

	ck_assert_int_ge(fd, 0);
	ck_assert_ptr_nonnull(in);
	out = fdopen(fd, "w");
	ck_assert_ptr_nonnull(out);
	while (fgets(line, sizeof(line), in))
		fputs(strncmp(line, "process_sm_util", 15) == 0
			  ? "process_sm_util = 0,0,0\n"
			  : line,
		      out);
	fclose(in);
	fclose(out);
	h = attrib_harness(path, "");
	for (int p = 1; p <= 3; p++)
		ck_assert_int_eq(harness_poll(h, S(p)), 0);
	ck_assert_double_eq_tol(value(h, "accel_job_busy_seconds_total", slurm), 0.8,
				1e-9);
	ck_assert_double_eq_tol(value(h, "accel_job_busy_seconds_total", pod), 0.8, 1e-9);
	ck_assert_double_eq_tol(value(h, "accel_job_energy_joules_total", slurm), 300,
				1e-9);
	ck_assert_double_eq_tol(value(h, "accel_busy_seconds_total", SH0 "}"), 1.6, 1e-9);
	ck_assert_uint_eq(harness_read_errors(h), 0);
	harness_free(h);
	unlink(path);
}
END_TEST

/* Allocations from cgroup v1 device lists (tests/fixtures/cgroup_v1) and
 * Slurm's job environments (the procfs fixture's 1014 names GPU 1 by its
 * index in SLURM_JOB_GPUS, 1015 by its UUID in CUDA_VISIBLE_DEVICES): the
 * idle GPU 1 held by three Slurm jobs and a pod shares its energy between
 * them, and accel_job_allocated says who holds what. */
START_TEST(test_attrib_allocated)
{
	const char *g1 =
	    "{device=\"nvidia1\",uuid=\"GPU-a110c000-0000-4000-8000-000000000001\"";
	char yaml[512], err[512] = "", l1[256], l2[256];
	struct harness *h;
	double e0, e1;

	setenv("FAKE_NVML_SCENARIO", TEST_SRCDIR "/fixtures/procfs/nvml_alloc.ini", 1);
	snprintf(yaml, sizeof(yaml), "{library: '%s', event_wait: 1ms, pcie: false}",
		 FAKE_NVML_DIR "/libnvidia-ml.so.1");
	series_reset();
	h = harness_new(&nvml_collector, yaml, TEST_SRCDIR "/fixtures/cgroup_v1", PROCFS,
			S(0), err, sizeof(err));
	ck_assert_msg(h != NULL, "harness: %s", err);
	ck_assert_int_eq(harness_init_rc(h), 0);
	ck_assert_int_eq(harness_poll(h, S(1)), 0);
	snprintf(l1, sizeof(l1), "%s}", g1);
	e0 = value(h, "accel_energy_joules_total", l1);
	ck_assert_int_eq(harness_poll(h, S(2)), 0);
	ck_assert_int_eq(harness_poll(h, S(3)), 0);
	e1 = value(h, "accel_energy_joules_total", l1);
	snprintf(l1, sizeof(l1), "%s,job=\"4343\",kind=\"slurm\"}", g1);
	snprintf(l2, sizeof(l2), "%s,job=\"" POD "\",kind=\"kubernetes\"}", g1);
	ck_assert_double_eq(value(h, "accel_job_allocated", l1), 1);
	ck_assert_double_eq(value(h, "accel_job_allocated", l2), 1);
	ck_assert_double_eq(value(h, "accel_job_busy_seconds_total", l1), 0);
	/* The two holders by their cgroup device lists share the idle GPU's
	 * 140 J. The Slurm jobs 4545 and 4646 claim GPU 1 only in their
	 * environment (SLURM_JOB_GPUS), which a user can set: a device that a
	 * device list gives to other jobs is not theirs (collectors/
	 * attribution.md), so they hold nothing and take none of its energy. */
	ck_assert_double_eq_tol(value(h, "accel_job_energy_joules_total", l1), 70, 1e-9);
	ck_assert_double_eq_tol(value(h, "accel_job_energy_joules_total", l2), 70, 1e-9);
	for (int k = 0; k < 2; k++) {
		double v;

		snprintf(l1, sizeof(l1), "%s,job=\"%s\",kind=\"slurm\"}", g1,
			 k ? "4646" : "4545");
		ck_assert_msg(harness_value(h, "accel_job_allocated", l1, &v) != 0,
			      "an environment claim took a listed device: %s", l1);
	}
	ck_assert_double_eq_tol(e1 - e0, 140, 1e-9);
	ck_assert_double_eq(
	    value(h, "accel_job_allocated",
		  "{device=\"nvidia0\",uuid=\"GPU-a110c000-0000-4000-8000-"
		  "000000000000\",job=\"4242\",kind=\"slurm\"}"),
	    1);
	ck_assert_double_eq_tol(
	    value(h, "accel_job_busy_seconds_total",
		  "{device=\"nvidia0\",uuid=\"GPU-a110c000-0000-4000-8000-"
		  "000000000000\",job=\"4242\",kind=\"slurm\"}"),
	    1.0, 1e-9);
	harness_free(h);
}
END_TEST

/* A 535.43.02 driver's 32-byte process entries, read at their stride (a
 * 24-byte stride would take garbage for the second pid and overrun the
 * buffer, which ASan reports); and attribution: false turns it off. */
START_TEST(test_attrib_535_entries)
{
	char path[] = "/tmp/nvml_att535_XXXXXX";
	int fd = mkstemp(path);
	const char *dev = "{device=\"nvidia0\",uuid=\"GPU-535\"";
	char labels[256];
	struct harness *h;
	FILE *f;

	ck_assert_int_ge(fd, 0);
	f = fdopen(fd, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f,
		"[global]\ndriver_version = 535.43.02\nprocess_entry_size = 32\n"
		"[gpu0]\nuuid = GPU-535\nutil_gpu = 50\nutil_memory = 10\nprocesses = 3\n"
		"process_pids = 1008,1001,1008\nprocess_memory = 100,200,300\n");
	fclose(f);
	h = attrib_harness(path, "");
	ck_assert_int_eq(harness_poll(h, S(1)), 0);
	ck_assert_int_eq(harness_poll(h, S(2)), 0);
	snprintf(labels, sizeof(labels), "%s,job=\"4242\",kind=\"slurm\"}", dev);
	ck_assert_double_eq(value(h, "accel_job_memory_used_bytes", labels), 200);
	snprintf(labels, sizeof(labels), "%s,job=\"ollama.service\",kind=\"systemd\"}",
		 dev);
	ck_assert_double_eq(value(h, "accel_job_memory_used_bytes", labels), 400);
	/* no per-process utilization: equal shares of 0.5 s */
	ck_assert_double_eq_tol(value(h, "accel_job_busy_seconds_total", labels), 0.25,
				1e-9);
	ck_assert_double_eq(
	    value(h, "accel_compute_processes", "{device=\"nvidia0\",uuid=\"GPU-535\"}"),
	    3);
	harness_free(h);
	h = attrib_harness(path, ", attribution: false");
	ck_assert_int_eq(harness_poll(h, S(1)), 0);
	ck_assert_int_eq(harness_poll(h, S(2)), 0);
	ck_assert_int_eq(
	    harness_value(h, "accel_job_memory_used_bytes", labels, &(double){0}),
	    -ENOENT);
	ck_assert_double_eq(
	    value(h, "accel_compute_processes", "{device=\"nvidia0\",uuid=\"GPU-535\"}"),
	    3);
	harness_free(h);
	unlink(path);
}
END_TEST

static Suite *nvml_agg_suite(void)
{
	Suite *s = suite_create("nvml_agg");
	TCase *tc = tcase_create("harness");

	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, test_agg_values, 0, sizeof(cases) / sizeof(cases[0]));
	tcase_add_test(tc, test_busy_square_wave);
	tcase_add_test(tc, test_attrib_shared_gpu);
	tcase_add_test(tc, test_attrib_535_entries);
	tcase_add_test(tc, test_attrib_no_process_samples);
	tcase_add_test(tc, test_attrib_allocated);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(nvml_agg_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
