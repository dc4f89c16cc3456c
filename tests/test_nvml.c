/* Check suite for the nvml collector, driven against the fake
 * libnvidia-ml.so.1 (tests/fake_nvml) and its scenario files
 * (tests/fixtures/nvml). The collector runs against the fake of the
 * collector API (tests/fake_am.c), so poll time is injected and every
 * emitted sample can be asserted exactly; the agent-level checks live in
 * tests/integration/nvml_scenarios.sh.
 */
#include <check.h>
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "accelmon/collector.h"
#include "fake_am.h"

#ifndef FAKE_NVML_DIR
#error "FAKE_NVML_DIR must name the build directory of the fake library"
#endif
#define FAKE_LIB FAKE_NVML_DIR "/libnvidia-ml.so.1"
#define FAKE_OLD_LIB FAKE_NVML_DIR "/old/libnvidia-ml.so.1"
#define FIX TEST_SRCDIR "/fixtures/nvml/"

extern const struct am_collector nvml_collector;

/* ---- the collector API: tests/fake_am.c ---- */

static struct am_ctx *ctx;
static int cur_poll;

static void violation(const char *msg)
{
	ck_abort_msg("%s", msg);
}

static void setup(void)
{
	ctx = fake_am_new("nvml", FIX "sysfs");
	fake_am_on_violation(violation);
	cur_poll = 0;
}

static void teardown(void)
{
	fake_am_free(ctx);
	ctx = NULL;
}

/* The section as the agent gives it: library, and a 1 ms event wait so
 * polls do not sleep. */
static const struct am_config *config(const char *lib)
{
	char yaml[1024], err[256] = "";
	const struct am_config *cfg;

	if (lib)
		snprintf(yaml, sizeof(yaml), "{library: '%s', event_wait: 1ms}", lib);
	else
		snprintf(yaml, sizeof(yaml), "{event_wait: 1ms}");
	cfg = fake_am_config(ctx, &nvml_collector, yaml, err, sizeof(err));
	ck_assert_msg(cfg != NULL, "config: %s", err);
	return cfg;
}

/* ---- helpers ---- */

static void *start(const char *lib, const char *scenario)
{
	const struct am_config *cfg = config(lib);
	void *st = NULL;
	int rc;

	if (scenario)
		setenv("FAKE_NVML_SCENARIO", scenario, 1);
	else
		unsetenv("FAKE_NVML_SCENARIO");
	rc = nvml_collector.init(ctx, cfg, &st);
	ck_assert_msg(rc == 0, "init: %d (%s)", rc, fake_am_found(ctx));
	ck_assert_ptr_nonnull(st);
	return st;
}

/* Poll number k happens at k seconds of fake time; GPM needs >= 100 ms of
 * real time between samples, so polls are spaced by 110 ms. */
static void poll_once(void *st)
{
	if (cur_poll > 0)
		usleep(110000);
	cur_poll++;
	fake_am_set_time(ctx, (int64_t)cur_poll * 1000000000LL);
	ck_assert_int_eq(nvml_collector.poll(ctx, st), 0);
}

/* Value of the series emitted in the latest poll, matching family name,
 * device and (when non-NULL) the third label; NAN when absent. */
static double get(const char *fam, const char *dev, const char *extra)
{
	for (size_t i = 0; i < fake_am_nseries(ctx); i++) {
		const struct fake_series *s = fake_am_series(ctx, (am_series_t)i);
		const struct am_family_def *f = fake_am_view(ctx, s->view);

		if (strcmp(f->name, fam) != 0 || strcmp(s->values[0], dev))
			continue;
		if (extra && (s->nlabels < 3 || strcmp(s->values[2], extra) != 0))
			continue;
		if (!s->nsamples || s->last_ns != fake_am_now(ctx))
			continue;
		return s->last;
	}
	return NAN;
}

/* Label value `label` of the accel_info series of dev. */
static const char *info(const char *dev, const char *label)
{
	for (size_t i = 0; i < fake_am_nseries(ctx); i++) {
		const struct fake_series *s = fake_am_series(ctx, (am_series_t)i);

		if (strcmp(fake_am_view(ctx, s->view)->name, "accel_info") != 0 ||
		    strcmp(s->values[0], dev) != 0)
			continue;
		return fake_am_label(ctx, s, label);
	}
	return NULL;
}

static long calls(const char *fn)
{
	void *h = dlopen(FAKE_LIB, RTLD_NOW | RTLD_NOLOAD);
	long (*f)(const char *);

	if (!h)
		h = dlopen(FAKE_OLD_LIB, RTLD_NOW | RTLD_NOLOAD);
	ck_assert_ptr_nonnull(h);
	*(void **)&f = dlsym(h, "fake_nvml_calls");
	ck_assert_ptr_nonnull(f);
	dlclose(h);
	return f(fn);
}

static const struct am_family_def *family(const char *name)
{
	return fake_am_family(ctx, name);
}

#define ABSENT(x) ck_assert_msg(isnan(x), "%s should be absent, is %g", #x, x)
#define EQ(x, v)                                                                         \
	ck_assert_msg(fabs((double)(x) - (double)(v)) < 1e-9 * (fabs((double)(v)) + 1),  \
		      "%s = %.9g, want %.9g", #x, (double)(x), (double)(v))

/* Without NVML's energy counter, accel_energy_joules_total of dev is a
 * derived series: the core's integral of its power gauge (AM_DERIVE_INTEGRAL,
 * scale 1: the input carries watts), never samples of the collector's own. */
static void energy_is_integral(const char *dev)
{
	char key[160];
	const struct fake_series *e, *p;

	snprintf(key, sizeof(key), "%s,%s", dev, info(dev, "uuid"));
	e = fake_am_find(ctx, "accel_energy_joules_total", key);
	p = fake_am_find(ctx, "accel_power_watts", key);
	ck_assert_ptr_nonnull(e);
	ck_assert_ptr_nonnull(p);
	ck_assert(e->derived);
	ck_assert_int_eq(e->derive.op, AM_DERIVE_INTEGRAL);
	ck_assert_ptr_eq(fake_am_series(ctx, e->derive.a), p);
	ck_assert_uint_eq(e->nsamples, 0);
	ck_assert_int_eq(fake_am_view(ctx, e->view)->kind, AM_COUNTER);
	EQ(fake_am_view(ctx, e->view)->scale, 0);
	ck_assert_int_eq(fake_am_view(ctx, p->view)->kind, AM_GAUGE);
}

/* ---- scenarios: one table row per expected sample ---- */

struct expect {
	const char *fam, *dev, *extra;
	double value; /* NAN: must be absent */
};

struct scenario {
	const char *file;
	const char *lib;
	int polls;
	struct expect e[64];
};

#define END                                                                              \
	{                                                                                \
		NULL, NULL, NULL, 0                                                      \
	}
static const struct scenario scenarios[] = {
    {"h100.ini",
     FAKE_LIB,
     2,
     {{"accel_up", "nvidia0", NULL, 1},
      {"accel_up", "nvidia1", NULL, 1},
      {"accel_utilization_ratio", "nvidia0", NULL, 0.37},
      {"accel_busy_seconds_total", "nvidia0", NULL, 0.37},
      {"accel_memory_utilization_ratio", "nvidia0", NULL, 0.12},
      {"accel_memory_used_bytes", "nvidia0", NULL, 42949672960.0},
      {"accel_memory_total_bytes", "nvidia0", NULL, 85520809984.0},
      {"accel_power_watts", "nvidia0", NULL, 312500},
      {"accel_power_limit_watts", "nvidia0", NULL, 700000},
      /* tick 3 at the 2nd poll: 1000000 + 3 x 5000 mJ */
      {"accel_energy_joules_total", "nvidia0", NULL, 1015000},
      {"accel_temperature_celsius", "nvidia0", "gpu", 45},
      {"accel_temperature_celsius", "nvidia0", "memory", 52},
      {"accel_clock_hertz", "nvidia0", "graphics", 1980},
      {"accel_clock_hertz", "nvidia0", "memory", 2619},
      {"accel_throttled_seconds_total", "nvidia0", "sw_power_cap", 1},
      {"accel_throttled_seconds_total", "nvidia0", "hw_thermal_slowdown", 1},
      {"accel_throttled_seconds_total", "nvidia0", "gpu_idle", 0},
      {"accel_pcie_transmit_bytes_total", "nvidia0", NULL, 1000},
      {"accel_pcie_receive_bytes_total", "nvidia0", NULL, 2000},
      {"accel_ecc_errors_total", "nvidia0", "corrected", 3},
      {"accel_ecc_errors_total", "nvidia0", "uncorrected", 0},
      {"accel_compute_processes", "nvidia0", NULL, 2},
      {"accel_compute_processes", "nvidia1", NULL, 0},
      /* link L carries (L+1) x (1000 + 100 x tick) KiB */
      {"fabric_nvlink_transmit_bytes_total", "nvidia0", "0", 1300},
      {"fabric_nvlink_transmit_bytes_total", "nvidia0", "17", 18 * 1300},
      {"fabric_nvlink_transmit_bytes_total", "nvidia0", "all", 171 * 1300},
      {"fabric_nvlink_receive_bytes_total", "nvidia0", "1", 2 * 2300},
      {"fabric_nvlink_transmit_bytes_total", "nvidia0", "18", NAN},
      {"accel_sm_active_ratio", "nvidia0", NULL, 0.455},
      {"accel_sm_active_seconds_total", "nvidia0", NULL, 0.455},
      {"accel_sm_occupancy_ratio", "nvidia0", NULL, 0.30},
      {"accel_tensor_active_ratio", "nvidia0", NULL, 0.20},
      {"accel_tensor_active_seconds_total", "nvidia0", NULL, 0.20},
      {"accel_memory_bandwidth_utilization_ratio", "nvidia0", NULL, 0.60},
      {"accel_sm_active_ratio", "nvidia1", NULL, 0.90},
      /* gpu1's GPM answers NOT_SUPPORTED for this one metric only */
      {"accel_tensor_active_ratio", "nvidia1", NULL, NAN},
      {"accel_error_events_total", "nvidia0", "79", 1},
      {"accel_error_events_total", "nvidia1", "79", NAN},
      END}},
    {"a100.ini",
     FAKE_LIB,
     3,
     {{"accel_up", "nvidia0", NULL, 1},
      {"accel_utilization_ratio", "nvidia0", NULL, 0.80},
      {"accel_energy_joules_total", "nvidia0", NULL, 5000000 + 4 * 2500},
      {"accel_ecc_errors_total", "nvidia0", "uncorrected", 1},
      {"accel_throttled_seconds_total", "nvidia0", "gpu_idle", 1},
      {"fabric_nvlink_transmit_bytes_total", "nvidia0", "11", 12 * 300},
      {"fabric_nvlink_transmit_bytes_total", "nvidia0", "12", NAN},
      {"fabric_nvlink_receive_bytes_total", "nvidia0", "all", 78 * 400},
      {"accel_temperature_celsius", "nvidia0", "memory", NAN},
      {"accel_sm_active_ratio", "nvidia0", NULL, NAN},
      {"accel_tensor_active_ratio", "nvidia0", NULL, NAN},
      {"accel_memory_bandwidth_utilization_ratio", "nvidia0", NULL, NAN},
      END}},
    {"t4.ini",
     FAKE_LIB,
     3,
     {{"accel_up", "nvidia0", NULL, 1},
      {"accel_power_watts", "nvidia0", NULL, 70000},
      /* no energy counter: the core integrates power (test_energy_derived) */
      {"accel_energy_joules_total", "nvidia0", NULL, NAN},
      {"accel_ecc_errors_total", "nvidia0", "corrected", NAN},
      {"accel_throttled_seconds_total", "nvidia0", "gpu_idle", NAN},
      {"fabric_nvlink_transmit_bytes_total", "nvidia0", "all", NAN},
      {"accel_temperature_celsius", "nvidia0", "memory", NAN},
      {"accel_sm_active_ratio", "nvidia0", NULL, NAN},
      {"accel_compute_processes", "nvidia0", NULL, 3},
      END}},
    {"old.ini",
     FAKE_OLD_LIB,
     2,
     {{"accel_up", "nvidia0", NULL, 1},
      {"accel_utilization_ratio", "nvidia0", NULL, 0.60},
      {"accel_memory_used_bytes", "nvidia0", NULL, 4294967296.0},
      {"accel_energy_joules_total", "nvidia0", NULL, NAN},
      {"accel_throttled_seconds_total", "nvidia0", "sw_power_cap", 1},
      {"accel_compute_processes", "nvidia0", NULL, 1},
      {"accel_sm_active_ratio", "nvidia0", NULL, NAN},
      {"fabric_nvlink_transmit_bytes_total", "nvidia0", "all", NAN},
      END}},
    /* 535.43-style 32-byte _v3 entries and more processes than any buffer
     * the collector could have passed: counted, nothing overwritten (run
     * under ASan: make check with --enable-sanitizers) */
    {"procs535.ini",
     FAKE_LIB,
     2,
     {{"accel_up", "nvidia0", NULL, 1},
      {"accel_compute_processes", "nvidia0", NULL, 60},
      {"accel_compute_processes", "nvidia1", NULL, 49},
      {"accel_utilization_ratio", "nvidia0", NULL, 0.90},
      END}},
    {"mig.ini",
     FAKE_LIB,
     2,
     {{"accel_up", "nvidia0", NULL, 1},
      {"accel_up", "nvidia0-gi1-ci0", NULL, 1},
      {"accel_up", "nvidia0-gi1-ci1", NULL, 1},
      {"accel_up", "nvidia0-gi2-ci0", NULL, 1},
      {"accel_memory_used_bytes", "nvidia0-gi1-ci0", NULL, 10737418240.0},
      {"accel_memory_total_bytes", "nvidia0-gi2-ci0", NULL, 42949672960.0},
      {"accel_sm_active_ratio", "nvidia0-gi1-ci0", NULL, 0.50},
      {"accel_tensor_active_ratio", "nvidia0-gi1-ci0", NULL, 0.10},
      {"accel_sm_active_ratio", "nvidia0-gi2-ci0", NULL, 0.05},
      /* GPU instance figures once per GPU instance: not on its ci1 */
      {"accel_memory_used_bytes", "nvidia0-gi1-ci1", NULL, NAN},
      {"accel_sm_active_ratio", "nvidia0-gi1-ci1", NULL, NAN},
      {"accel_compute_processes", "nvidia0-gi1-ci1", NULL, 2},
      {"accel_utilization_ratio", "nvidia0-gi1-ci0", NULL, NAN},
      {"accel_power_watts", "nvidia0-gi1-ci0", NULL, NAN},
      {"accel_power_watts", "nvidia0", NULL, 200000},
      END}},
};

START_TEST(test_scenario)
{
	const struct scenario *sc = &scenarios[_i];
	char path[512];
	void *st;

	snprintf(path, sizeof(path), FIX "%s", sc->file);
	st = start(sc->lib, path);
	for (int p = 0; p < sc->polls; p++)
		poll_once(st);
	for (const struct expect *e = sc->e; e->fam; e++) {
		double v = get(e->fam, e->dev, e->extra);

		if (isnan(e->value))
			ck_assert_msg(isnan(v), "%s: %s{%s,%s} should be absent, is %g",
				      sc->file, e->fam, e->dev, e->extra ? e->extra : "",
				      v);
		else
			ck_assert_msg(fabs(v - e->value) <= 1e-9 * fabs(e->value),
				      "%s: %s{%s,%s} = %.10g, want %.10g", sc->file,
				      e->fam, e->dev, e->extra ? e->extra : "", v,
				      e->value);
	}
	ck_assert_int_eq(fake_am_read_errors(ctx), 0);
	nvml_collector.fini(ctx, st);
}
END_TEST

START_TEST(test_missing_library)
{
	void *st = NULL;

	ck_assert_int_eq(
	    nvml_collector.init(ctx, config("/nonexistent/libnvidia-ml.so.1"), &st),
	    -ENODEV);
	ck_assert_msg(strncmp(fake_am_found(ctx),
			      "/nonexistent/libnvidia-ml.so.1 not found: ", 42) == 0,
		      "found: %s", fake_am_found(ctx));
	ck_assert_ptr_null(strchr(fake_am_found(ctx), '\n'));
	/* the default name is what the message shows on a plain machine */
	if (!dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_NOLOAD) &&
	    nvml_collector.init(ctx, config(NULL), &st) == -ENODEV)
		ck_assert_msg(strncmp(fake_am_found(ctx), "libnvidia-ml.so.1 ", 18) == 0,
			      "found: %s", fake_am_found(ctx));
}
END_TEST

START_TEST(test_no_driver)
{
	void *st = NULL;

	unsetenv("FAKE_NVML_SCENARIO");
	ck_assert_int_eq(nvml_collector.init(ctx, config(FAKE_LIB), &st), -ENODEV);
	ck_assert_ptr_nonnull(strstr(fake_am_found(ctx), "DRIVER_NOT_LOADED"));
}
END_TEST

START_TEST(test_info_and_families)
{
	void *st = start(FAKE_LIB, FIX "h100.ini");

	poll_once(st);
	ck_assert_str_eq(info("nvidia0", "uuid"),
			 "GPU-5b1c7e6a-0000-4000-8000-000000000000");
	ck_assert_str_eq(info("nvidia0", "vendor"), "nvidia");
	ck_assert_str_eq(info("nvidia0", "model"), "NVIDIA H100 80GB HBM3");
	ck_assert_str_eq(info("nvidia0", "pci_bus_id"), "00000000:18:00.0");
	ck_assert_str_eq(info("nvidia0", "driver_version"), "550.54.15");
	ck_assert_str_eq(info("nvidia0", "serial"), "1650123456789");
	ck_assert_str_eq(info("nvidia1", "numa_node"), "1");
	EQ(get("accel_info", "nvidia1", NULL), 1);
	/* raw units reach the core with the family's scale */
	EQ(family("accel_power_watts")->scale, 1e-3);
	EQ(family("accel_energy_joules_total")->scale, 1e-3);
	ck_assert_int_eq(family("accel_energy_joules_total")->kind, AM_COUNTER);
	EQ(family("accel_clock_hertz")->scale, 1e6);
	EQ(family("accel_pcie_transmit_bytes_total")->scale, 1024);
	ck_assert_int_eq(family("accel_pcie_transmit_bytes_total")->kind, AM_INTEGRAL);
	EQ(family("fabric_nvlink_receive_bytes_total")->scale, 1024);
	ck_assert_int_eq(family("accel_busy_seconds_total")->kind, AM_INTEGRAL);
	ck_assert_int_eq(family("accel_throttled_seconds_total")->kind, AM_INTEGRAL);
	ck_assert_int_eq(family("accel_info")->kind, AM_INFO);
	/* first poll: GPM has one sample only, nothing to report yet */
	ABSENT(get("accel_sm_active_ratio", "nvidia0", NULL));
	/* versioned symbols were preferred */
	ck_assert_int_eq(calls("nvmlInit_v2"), 1);
	ck_assert_int_eq(calls("nvmlInit"), 0);
	ck_assert_int_gt(calls("nvmlDeviceGetCount_v2"), 0);
	ck_assert_int_eq(calls("nvmlDeviceGetCount"), 0);
	ck_assert_int_gt(calls("nvmlDeviceGetHandleByIndex_v2"), 0);
	ck_assert_int_gt(calls("nvmlDeviceGetPciInfo_v3"), 0);
	ck_assert_int_eq(calls("nvmlDeviceGetPciInfo_v2"), 0);
	ck_assert_int_gt(calls("nvmlDeviceGetMemoryInfo_v2"), 0);
	ck_assert_int_eq(calls("nvmlDeviceGetMemoryInfo"), 0);
	ck_assert_int_gt(calls("nvmlDeviceGetComputeRunningProcesses_v3"), 0);
	ck_assert_int_gt(calls("nvmlDeviceGetCurrentClocksEventReasons"), 0);
	ck_assert_int_eq(calls("nvmlDeviceGetCurrentClocksThrottleReasons"), 0);
	nvml_collector.fini(ctx, st);
}
END_TEST

START_TEST(test_old_driver_fallbacks)
{
	void *st = start(FAKE_OLD_LIB, FIX "old.ini");

	poll_once(st);
	poll_once(st);
	energy_is_integral("nvidia0");
	ck_assert_int_eq(calls("nvmlInit"), 1);
	ck_assert_int_gt(calls("nvmlDeviceGetHandleByIndex"), 0);
	ck_assert_int_gt(calls("nvmlDeviceGetPciInfo_v2"), 0);
	ck_assert_int_gt(calls("nvmlDeviceGetMemoryInfo"), 0);
	ck_assert_int_gt(calls("nvmlDeviceGetCurrentClocksThrottleReasons"), 0);
	ck_assert_int_gt(calls("nvmlDeviceGetComputeRunningProcesses"), 0);
	/* NUMA node from sysfs when NVML has no call for it */
	ck_assert_str_eq(info("nvidia0", "numa_node"), "1");
	ck_assert_str_eq(info("nvidia0", "pci_bus_id"), "00000000:04:00.0");
	nvml_collector.fini(ctx, st);
}
END_TEST

/* NOT_SUPPORTED is asked once per device, then never again. */
START_TEST(test_probe_once)
{
	void *st = start(FAKE_LIB, FIX "t4.ini");

	for (int i = 0; i < 4; i++)
		poll_once(st);
	ck_assert_int_eq(calls("nvmlDeviceGetTotalEnergyConsumption"), 1);
	ck_assert_int_eq(calls("nvmlDeviceGetCurrentClocksEventReasons"), 1);
	ck_assert_int_eq(calls("nvmlDeviceGetTotalEccErrors"), 2);
	ck_assert_int_eq(calls("nvmlDeviceGetFieldValues"), 1);
	ck_assert_int_eq(calls("nvmlGpmQueryDeviceSupport"), 1);
	ck_assert_int_eq(calls("nvmlGpmSampleGet"), 0);
	ck_assert_int_eq(calls("nvmlDeviceRegisterEvents"), 0);
	ck_assert_int_eq(calls("nvmlDeviceGetPowerUsage"), 4);
	energy_is_integral("nvidia0");
	/* _v2 answered ARGUMENT_VERSION_MISMATCH once: v1 from then on */
	ck_assert_int_eq(calls("nvmlDeviceGetMemoryInfo_v2"), 1);
	ck_assert_int_eq(calls("nvmlDeviceGetMemoryInfo"), 4);
	EQ(get("accel_memory_used_bytes", "nvidia0", NULL), 2147483648.0);
	ck_assert_int_eq(fake_am_read_errors(ctx), 0);
	nvml_collector.fini(ctx, st);
}
END_TEST

/* GPM: samples closer than 100 ms are not paired; the older one is kept. */
START_TEST(test_gpm_gap)
{
	void *st = start(FAKE_LIB, FIX "h100.ini");

	cur_poll = 1;
	fake_am_set_time(ctx, 1000000000LL);
	ck_assert_int_eq(nvml_collector.poll(ctx, st), 0);
	cur_poll = 2;
	fake_am_advance(ctx, 50000000LL); /* 50 ms later */
	ck_assert_int_eq(nvml_collector.poll(ctx, st), 0);
	ABSENT(get("accel_sm_active_ratio", "nvidia0", NULL));
	ck_assert_int_eq(calls("nvmlGpmMetricsGet"), 0);
	usleep(110000);
	cur_poll = 3;
	fake_am_advance(ctx, 100000000LL); /* 150 ms after the first sample */
	ck_assert_int_eq(nvml_collector.poll(ctx, st), 0);
	EQ(get("accel_sm_active_ratio", "nvidia0", NULL), 0.455);
	ck_assert_int_eq(calls("nvmlGpmMetricsGet"), 2);
	ck_assert_int_eq(fake_am_read_errors(ctx), 0);
	nvml_collector.fini(ctx, st);
}
END_TEST

/* gpu1 is lost at polls 2-3 and back at poll 4; gpu0 reports throughout. */
START_TEST(test_gpu_lost_and_back)
{
	void *st = start(FAKE_LIB, FIX "lost.ini");
	static const double up1[] = {1, 0, 0, 1};

	for (int p = 0; p < 4; p++) {
		poll_once(st);
		EQ(get("accel_up", "nvidia0", NULL), 1);
		EQ(get("accel_utilization_ratio", "nvidia0", NULL), 0.80);
		EQ(get("accel_up", "nvidia1", NULL), up1[p]);
		if (up1[p])
			EQ(get("accel_utilization_ratio", "nvidia1", NULL), 0.10);
		else
			ABSENT(get("accel_utilization_ratio", "nvidia1", NULL));
	}
	/* the Xid queued while it was lost arrives once it is back */
	EQ(get("accel_error_events_total", "nvidia1", "79"), 1);
	ck_assert_str_eq(info("nvidia1", "uuid"),
			 "GPU-a100a100-0000-4000-8000-000000000001");
	nvml_collector.fini(ctx, st);
}
END_TEST

/* The driver goes away at poll 2: every device is down, NVML is shut down
 * and initialised again on later polls until it works. */
START_TEST(test_driver_fault_reinit)
{
	void *st = start(FAKE_LIB, FIX "driver.ini");
	static const double up[] = {1, 0, 0, 1, 1};

	for (int p = 0; p < 5; p++) {
		poll_once(st);
		EQ(get("accel_up", "nvidia0", NULL), up[p]);
		if (up[p])
			EQ(get("accel_temperature_celsius", "nvidia0", "gpu"), 45);
		else
			ABSENT(get("accel_temperature_celsius", "nvidia0", "gpu"));
	}
	ck_assert_int_ge(calls("nvmlShutdown"), 1);
	ck_assert_int_ge(calls("nvmlInit_v2"), 3);
	nvml_collector.fini(ctx, st);
}
END_TEST

START_TEST(test_mig_info)
{
	void *st = start(FAKE_LIB, FIX "mig.ini");

	poll_once(st);
	poll_once(st);
	/* one device per compute instance, each with its own name and UUID */
	ck_assert_str_eq(info("nvidia0-gi1-ci0", "uuid"),
			 "MIG-11111111-0000-4000-8000-000000000000");
	ck_assert_str_eq(info("nvidia0-gi1-ci1", "uuid"),
			 "MIG-33333333-0000-4000-8000-000000000000");
	ck_assert_str_eq(info("nvidia0-gi1-ci0", "model"),
			 "NVIDIA H100 80GB HBM3 MIG 3g.40gb");
	ck_assert_str_eq(info("nvidia0-gi2-ci0", "pci_bus_id"), "00000000:18:00.0");
	ck_assert_ptr_null(info("nvidia0-gi1", "uuid"));
	/* GPM of GPU instance 1 sampled once per poll (by ci0), of 2 too */
	ck_assert_int_eq(calls("nvmlGpmMigSampleGet"), 2 * 2);
	ck_assert_uint_eq(fake_am_log_count(ctx, "sm_active"), 0);
	/* device-level figures asked on the parent only: one GPU, two polls */
	ck_assert_int_eq(calls("nvmlDeviceGetPowerUsage"), 2);
	/* the parent answers NOT_SUPPORTED once; MIG handles are never asked */
	ck_assert_int_eq(calls("nvmlDeviceGetUtilizationRates"), 1);
	ck_assert_int_eq(calls("nvmlDeviceGetTotalEnergyConsumption"), 2);
	ck_assert_int_eq(calls("nvmlDeviceGetClockInfo"), 2 * 3);
	ck_assert_int_eq(calls("nvmlDeviceGetFieldValues"), 1);
	ck_assert_int_eq(fake_am_read_errors(ctx), 0);
	nvml_collector.fini(ctx, st);
}
END_TEST

/* The value of job's series of fam on dev emitted in the latest poll (as
 * the core scales it); NAN when absent. */
static double job(const char *fam, const char *dev, const char *jobid)
{
	for (size_t i = 0; i < fake_am_nseries(ctx); i++) {
		const struct fake_series *s = fake_am_series(ctx, (am_series_t)i);

		if (strcmp(fake_am_view(ctx, s->view)->name, fam) != 0 ||
		    strcmp(s->values[0], dev) != 0 || s->nlabels < 3 ||
		    (jobid && strcmp(s->values[2], jobid) != 0) || !s->nsamples ||
		    s->last_ns != fake_am_now(ctx))
			continue;
		return fake_am_scaled(ctx, s);
	}
	return NAN;
}

/* MIG attribution (collectors/attribution.md): each instance's processes
 * on the instance; busy time from the GPU instance's GPM SM activity where
 * it is the only compute instance, else none; no energy (the GPU's is not
 * per instance); nothing on the parent GPU, whose list is the aggregate. */
START_TEST(test_mig_attribution)
{
	const char *pod = "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b";
	const char *gi1 = "nvidia0-gi1-ci0", *gi2c1 = "nvidia0-gi2-ci1";
	void *st;

	fake_am_set_procfs(ctx, TEST_SRCDIR "/fixtures/procfs/node");
	st = start(FAKE_LIB, TEST_SRCDIR "/fixtures/procfs/nvml_mig.ini");
	poll_once(st);
	/* jobs and memory from the first poll; busy once GPM has an interval */
	EQ(job("accel_job_memory_used_bytes", gi1, "4242"), 8589934592.0);
	EQ(job("accel_job_memory_used_bytes", gi1, pod), 4294967296.0);
	ABSENT(job("accel_job_busy_seconds_total", gi1, NULL));
	poll_once(st);
	/* the first GPM figure: accel_sm_active_seconds_total, the
	 * aggregator's integral of it, starts at 0 here; the jobs get no time
	 * the instance did not count */
	EQ(get("accel_sm_active_ratio", gi1, NULL), 0.5);
	EQ(job("accel_job_busy_seconds_total", gi1, "4242"), 0);
	EQ(job("accel_job_busy_seconds_total", gi1, pod), 0);
	poll_once(st);
	/* one 1 s interval at 50 % SM activity: the seconds total is
	 * 0.5 s, the jobs' sum the same, half each */
	EQ(get("accel_sm_active_ratio", gi1, NULL), 0.5);
	EQ(job("accel_job_busy_seconds_total", gi1, "4242") +
	       job("accel_job_busy_seconds_total", gi1, pod),
	   0.5 * 1.0);
	EQ(job("accel_job_busy_seconds_total", gi1, "4242"), 0.25);
	EQ(job("accel_job_busy_seconds_total", gi1, pod), 0.25);
	ABSENT(job("accel_job_energy_joules_total", gi1, NULL));
	ck_assert_ptr_nonnull(fake_am_match(ctx, "accel_job_info", "job=\"4242\""));
	/* GPU instance 2 has two compute instances: memory, no busy figure */
	EQ(job("accel_job_memory_used_bytes", gi2c1, pod), 2147483648.0);
	ABSENT(job("accel_job_busy_seconds_total", gi2c1, NULL));
	ABSENT(job("accel_job_energy_joules_total", gi2c1, NULL));
	/* the parent's aggregate list is not attributed a second time */
	ABSENT(job("accel_job_memory_used_bytes", "nvidia0", NULL));
	ABSENT(job("accel_job_info", "nvidia0", NULL));
	ck_assert_int_eq(fake_am_read_errors(ctx), 0);
	nvml_collector.fini(ctx, st);
}
END_TEST

/* rescan.ini: devices come and go; desc->rescan runs before every poll from
 * the second on (a rescan interval of one poll). New ones are reported from
 * the poll after the rescan that finds them; gone ones read accel_up 0,
 * never nothing, until they return. */
START_TEST(test_rescan)
{
	void *st = start(FAKE_LIB, FIX "rescan.ini");
	/* per poll 1..10 (tick = poll + 1); -1: absent */
	static const double gpu1[] = {-1, -1, -1, 1, 1, 1, 0, 0, 1, 1};
	static const double ci1[] = {-1, -1, -1, -1, 1, 1, 1, 1, 1, 1};
	static const double gi2[] = {1, 1, 1, 1, 0, 0, 0, 0, 0, 0};
	struct mallinfo2 m0, m1;
	uint64_t interns;

	ck_assert_ptr_nonnull(nvml_collector.rescan);
	for (int p = 0; p < 10; p++) {
		if (p > 0)
			ck_assert_int_eq(nvml_collector.rescan(ctx, st), 0);
		poll_once(st);
		EQ(get("accel_up", "nvidia0", NULL), 1);
		EQ(get("accel_up", "nvidia0-gi1-ci0", NULL), 1);
		if (gpu1[p] < 0)
			ABSENT(get("accel_up", "nvidia1", NULL));
		else
			ck_assert_msg(get("accel_up", "nvidia1", NULL) == gpu1[p],
				      "poll %d: nvidia1 up %g", p + 1,
				      get("accel_up", "nvidia1", NULL));
		if (gpu1[p] == 1)
			EQ(get("accel_utilization_ratio", "nvidia1", NULL), 0.70);
		else
			ABSENT(get("accel_utilization_ratio", "nvidia1", NULL));
		if (ci1[p] < 0)
			ABSENT(get("accel_up", "nvidia0-gi1-ci1", NULL));
		else
			EQ(get("accel_up", "nvidia0-gi1-ci1", NULL), ci1[p]);
		ck_assert_msg(get("accel_up", "nvidia0-gi2-ci0", NULL) == gi2[p],
			      "poll %d: gi2 up %g", p + 1,
			      get("accel_up", "nvidia0-gi2-ci0", NULL));
		if (gi2[p] == 0)
			ABSENT(get("accel_memory_used_bytes", "nvidia0-gi2-ci0", NULL));
	}
	EQ(get("accel_compute_processes", "nvidia0-gi1-ci1", NULL), 3);
	/* ci0 stays the one that carries GPU instance 1's memory */
	EQ(get("accel_memory_used_bytes", "nvidia0-gi1-ci0", NULL), 10737418240.0);
	ABSENT(get("accel_memory_used_bytes", "nvidia0-gi1-ci1", NULL));
	ck_assert_str_eq(info("nvidia1", "pci_bus_id"), "00000000:2A:00.0");
	ck_assert_uint_eq(fake_am_log_count(ctx, "nvidia1: new GPU"), 1);
	ck_assert_uint_eq(fake_am_log_count(ctx, "nvidia0-gi1-ci1: new MIG instance"), 1);
	ck_assert_uint_eq(fake_am_log_count(ctx, "nvidia1: available again"), 1);
	/* nothing changed: a rescan allocates nothing and interns nothing */
	interns = fake_am_interns(ctx);
	ck_assert_int_eq(nvml_collector.rescan(ctx, st), 0);
	m0 = mallinfo2();
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(nvml_collector.rescan(ctx, st), 0);
	m1 = mallinfo2();
	ck_assert_uint_eq(m1.uordblks, m0.uordblks);
	ck_assert_uint_eq(fake_am_interns(ctx), interns);
	ck_assert_int_eq(fake_am_read_errors(ctx), 0);
	nvml_collector.fini(ctx, st);
}
END_TEST

/* Driver samples (nvmlDeviceGetSamples) in the shapes a driver answers: a
 * ring that wrapped between polls (4 entries, 6 samples a second), an
 * empty answer (NOT_FOUND) for three polls, and NOT_SUPPORTED. A constant
 * 50% busy GPU: the busy counter reads half the driver time between two
 * polls exactly in every shape where samples answer. */
static const struct smp_case {
	const char *name, *extra;
	const char *log; /* a line that must appear once per quantity, or NULL */
	int tick_ms;
	double busy; /* busy seconds from poll 1 to poll 11 */
} smp_cases[] = {
    {"ring", "sample_buffer = 120\n", NULL, 1000, 5.0},
    {"wrapped", "sample_buffer = 4\n", "s without samples (the driver keeps 4 of 167 ms)",
     1000, 5.0},
    {"empty", "samples_answer = NOT_FOUND@4-6\n", NULL, 1000, 5.0},
    /* one tick is 2000 s: 12000 new samples a poll in a ring of 100000,
     * sized at 24000 by the driver's first answer: every one counted */
    {"big ring", "sample_buffer = 100000\n", NULL, 2000000, 10000.0},
    /* 120 samples a tick into a ring still filling: the first answer is
     * empty (the buffer a guess of 64), then INSUFFICIENT_SIZE: grown with
     * headroom, counting starts at poll 3 (tick 4): 8 ticks x 20 s / 2 */
    {"growing ring", "sample_buffer = 100000\nsamples_answer = NOT_FOUND@2-2\n", NULL,
     20000, 80.0},
    {"not supported", "samples_answer = NOT_SUPPORTED@0-1000\n", NULL, 1000, 0},
};

START_TEST(test_samples_shapes)
{
	const struct smp_case *c = &smp_cases[_i];
	char path[] = "/tmp/nvml_smp_XXXXXX";
	const struct fake_series *b;
	double b1 = 0, prev = 0;
	int fd = mkstemp(path);
	FILE *f;
	void *st;

	ck_assert_int_ge(fd, 0);
	f = fdopen(fd, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f,
		"[global]\ndriver_version = 550.54.15\ntick_ms = %d\n[gpu0]\n"
		"uuid = GPU-s\nsample_period_ms = 166.6666667\nutil_gpu = 50\n"
		"util_memory = 20\n%s",
		c->tick_ms, c->extra);
	fclose(f);
	st = start(FAKE_LIB, path);
	for (int p = 1; p <= 11; p++) {
		cur_poll = p;
		fake_am_set_time(ctx, (int64_t)p * 1000000000LL);
		ck_assert_int_eq(nvml_collector.poll(ctx, st), 0);
		b = fake_am_find(ctx, "accel_busy_seconds_total", "nvidia0,GPU-s");
		ck_assert_ptr_nonnull(b);
		if (b->kind != AM_COUNTER)
			continue;
		if (p == 1) {
			/* the first answer only says where to go on from */
			b1 = fake_am_scaled(ctx, b);
			EQ(b1, 0);
		}
		/* ticks 4-6 (polls 3-5) answer nothing new: the counter stays */
		if (strcmp(c->name, "empty") == 0 && p >= 3 && p <= 5)
			EQ(fake_am_scaled(ctx, b), prev);
		prev = fake_am_scaled(ctx, b);
		if (p == 1 || (strcmp(c->name, "growing ring") == 0 && p <= 3)) {
			/* no sample interval yet: no gauge either */
			ABSENT(get("accel_memory_utilization_ratio", "nvidia0", NULL));
			ABSENT(get("accel_utilization_ratio", "nvidia0", NULL));
		} else {
			EQ(get("accel_memory_utilization_ratio", "nvidia0", NULL), 0.20);
			EQ(get("accel_utilization_ratio", "nvidia0", NULL), 0.50);
		}
	}
	b = fake_am_find(ctx, "accel_busy_seconds_total", "nvidia0,GPU-s");
	if (strcmp(c->name, "not supported") == 0) {
		/* the fallback: utilization rates, integrated by the core */
		ck_assert_int_eq(b->kind, AM_INTEGRAL);
		EQ(b->last, 0.50);
		ck_assert_int_eq(calls("nvmlDeviceGetSamples"), 2); /* probed once each */
		ck_assert_int_eq(calls("nvmlDeviceGetUtilizationRates"), 11);
	} else {
		ck_assert_int_eq(b->kind, AM_COUNTER);
		/* driver time from poll 1 (tick 2) to poll 11 (tick 12): 10
		 * ticks; half of it busy */
		EQ(fake_am_scaled(ctx, b) - b1, c->busy);
		ck_assert_int_eq(calls("nvmlDeviceGetUtilizationRates"), 0);
	}
	if (c->log)
		/* once per quantity: GPU and memory utilization samples */
		ck_assert_msg(fake_am_log_count(ctx, c->log) == 2,
			      "%s: log '%s' seen %u times", c->name, c->log,
			      fake_am_log_count(ctx, c->log));
	else
		ck_assert_uint_eq(fake_am_log_count(ctx, "without samples"), 0);
	ck_assert_int_eq(fake_am_read_errors(ctx), 0);
	nvml_collector.fini(ctx, st);
	unlink(path);
}
END_TEST

/* Every fault code the collector must survive, from a scenario written here:
 * per-device codes hit gpu1 at ticks 3-4 (polls 2-3), library-wide ones
 * every call at tick 3 (poll 2; NVML comes back from poll 4). */
static const struct fault_case {
	const char *code;
	int global;
	double up0[5], up1[5];
} fault_cases[] = {
    {"GPU_IS_LOST", 0, {1, 1, 1, 1, 1}, {1, 0, 0, 1, 1}},
    {"GPU_NOT_FOUND", 0, {1, 1, 1, 1, 1}, {1, 0, 0, 1, 1}},
    {"RESET_REQUIRED", 0, {1, 1, 1, 1, 1}, {1, 0, 0, 1, 1}},
    {"UNINITIALIZED", 1, {1, 0, 0, 1, 1}, {1, 0, 0, 1, 1}},
    {"DRIVER_NOT_LOADED", 1, {1, 0, 0, 1, 1}, {1, 0, 0, 1, 1}},
    {"LIB_RM_VERSION_MISMATCH", 1, {1, 0, 0, 1, 1}, {1, 0, 0, 1, 1}},
};

START_TEST(test_fault_codes)
{
	const struct fault_case *fc = &fault_cases[_i];
	char path[] = "/tmp/nvml_fault_XXXXXX";
	int fd = mkstemp(path);
	FILE *f;
	void *st;

	ck_assert_int_ge(fd, 0);
	f = fdopen(fd, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "[global]\ndriver_version = 1.0\n%s%s%s\n",
		fc->global ? "global_fault = " : "", fc->global ? fc->code : "",
		fc->global ? "@3-3" : "");
	for (int g = 0; g < 2; g++)
		fprintf(
		    f, "[gpu%d]\nuuid = GPU-%d\nutil_gpu = %d\nutil_memory = 1\n%s%s%s\n",
		    g, g, 10 + g, !fc->global && g == 1 ? "fault = " : "",
		    !fc->global && g == 1 ? fc->code : "",
		    !fc->global && g == 1 ? "@3-4" : "");
	fclose(f);
	st = start(FAKE_LIB, path);
	for (int p = 0; p < 5; p++) {
		poll_once(st);
		ck_assert_msg(get("accel_up", "nvidia0", NULL) == fc->up0[p],
			      "%s poll %d: nvidia0 up %g", fc->code, p + 1,
			      get("accel_up", "nvidia0", NULL));
		ck_assert_msg(get("accel_up", "nvidia1", NULL) == fc->up1[p],
			      "%s poll %d: nvidia1 up %g", fc->code, p + 1,
			      get("accel_up", "nvidia1", NULL));
		/* a device that is up reports; one that is down reports nothing */
		ck_assert(isnan(get("accel_utilization_ratio", "nvidia1", NULL)) ==
			  !fc->up1[p]);
	}
	ck_assert_int_eq(fake_am_read_errors(ctx), 0);
	nvml_collector.fini(ctx, st);
	unlink(path);
}
END_TEST

/* accel_info defined with other labels by another collector: the rest
 * still reports. */
START_TEST(test_family_refused)
{
	void *st;

	fake_am_refuse_family(ctx, "accel_info");
	st = start(FAKE_LIB, FIX "a100.ini");
	poll_once(st);
	ck_assert_ptr_null(info("nvidia0", "uuid"));
	EQ(get("accel_up", "nvidia0", NULL), 1);
	EQ(get("accel_utilization_ratio", "nvidia0", NULL), 0.80);
	nvml_collector.fini(ctx, st);
}
END_TEST

static Suite *nvml_suite(void)
{
	Suite *s = suite_create("nvml");
	TCase *tc = tcase_create("fake");

	tcase_set_timeout(tc, 30);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_scenario, 0,
			    sizeof(scenarios) / sizeof(scenarios[0]));
	tcase_add_test(tc, test_missing_library);
	tcase_add_test(tc, test_no_driver);
	tcase_add_test(tc, test_info_and_families);
	tcase_add_test(tc, test_old_driver_fallbacks);
	tcase_add_test(tc, test_probe_once);
	tcase_add_test(tc, test_gpm_gap);
	tcase_add_test(tc, test_gpu_lost_and_back);
	tcase_add_test(tc, test_driver_fault_reinit);
	tcase_add_test(tc, test_mig_info);
	tcase_add_test(tc, test_mig_attribution);
	tcase_add_test(tc, test_rescan);
	tcase_add_loop_test(tc, test_samples_shapes, 0,
			    sizeof(smp_cases) / sizeof(smp_cases[0]));
	tcase_add_test(tc, test_family_refused);
	tcase_add_loop_test(tc, test_fault_codes, 0,
			    sizeof(fault_cases) / sizeof(fault_cases[0]));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(nvml_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
