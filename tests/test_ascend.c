/* Check suite for the ascend collector, driven against the fake libdcmi.so
 * (tests/fake_dcmi) and its scenario files (tests/fixtures/ascend). The
 * collector runs against the fake of the collector API (tests/fake_am.c),
 * so poll time is injected and every emitted sample is asserted exactly;
 * the agent-level checks live in tests/integration/ascend_scenarios.sh.
 */
#include <check.h>
#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accelmon/collector.h"
#include "fake_am.h"

#ifndef FAKE_DCMI_DIR
#error "FAKE_DCMI_DIR must name the build directory of the fake library"
#endif
#define FAKE_LIB FAKE_DCMI_DIR "/libdcmi.so"
#define FAKE_OLD_LIB FAKE_DCMI_DIR "/old/libdcmi.so"
#define FIX TEST_SRCDIR "/fixtures/ascend/"

extern const struct am_collector ascend_collector;

static struct am_ctx *ctx;
static int cur_poll;

static void violation(const char *msg)
{
	ck_abort_msg("%s", msg);
}

static void setup(void)
{
	ctx = fake_am_new("ascend", FIX "sysfs");
	fake_am_on_violation(violation);
	cur_poll = 0;
}

static void teardown(void)
{
	fake_am_free(ctx);
	ctx = NULL;
}

static const struct am_config *config(const char *lib)
{
	char yaml[1024], err[256] = "";
	const struct am_config *cfg;

	snprintf(yaml, sizeof(yaml), "{library: '%s'}", lib);
	cfg = fake_am_config(ctx, &ascend_collector, yaml, err, sizeof(err));
	ck_assert_msg(cfg != NULL, "config: %s", err);
	return cfg;
}

static int try_start(const char *lib, const char *scenario, void **st)
{
	const struct am_config *cfg = config(lib);

	if (scenario)
		setenv("FAKE_DCMI_SCENARIO", scenario, 1);
	else
		unsetenv("FAKE_DCMI_SCENARIO");
	*st = NULL;
	return ascend_collector.init(ctx, cfg, st);
}

static void *start(const char *lib, const char *file)
{
	char path[512];
	void *st;
	int rc;

	snprintf(path, sizeof(path), FIX "%s", file);
	rc = try_start(lib, path, &st);
	ck_assert_msg(rc == 0, "init: %d (%s)", rc, fake_am_found(ctx));
	ck_assert_ptr_nonnull(st);
	return st;
}

/* Poll number k at k seconds of fake time (the fake's tick k + 1). */
static void poll_once(void *st)
{
	cur_poll++;
	fake_am_set_time(ctx, (int64_t)cur_poll * 1000000000LL);
	ck_assert_int_eq(ascend_collector.poll(ctx, st), 0);
}

/* The series of family fam for dev whose label text holds `labels`
 * (NULL: any), emitted in the latest poll. */
static const struct fake_series *find(const char *fam, const char *dev,
				      const char *labels)
{
	char want[128];

	snprintf(want, sizeof(want), "device=\"%s\",", dev);
	for (size_t i = 0; i < fake_am_nseries(ctx); i++) {
		const struct fake_series *s = fake_am_series(ctx, (am_series_t)i);

		if (strcmp(fake_am_view(ctx, s->view)->name, fam) != 0 ||
		    !strstr(s->label_text, want) ||
		    (labels && !strstr(s->label_text, labels)))
			continue;
		return s;
	}
	return NULL;
}

/* Value in base units (scaled as the core scales it) of the latest poll;
 * NAN when absent or not emitted in that poll. */
static double get(const char *fam, const char *dev, const char *labels)
{
	const struct fake_series *s = find(fam, dev, labels);

	if (!s || !s->nsamples || s->last_ns != fake_am_now(ctx) || s->retired)
		return NAN;
	return fake_am_scaled(ctx, s);
}

static const char *info(const char *dev, const char *label)
{
	const struct fake_series *s = find("accel_info", dev, NULL);

	return s ? fake_am_label(ctx, s, label) : NULL;
}

static long calls(const char *lib, const char *fn)
{
	void *h = dlopen(lib, RTLD_NOW | RTLD_NOLOAD);
	long (*f)(const char *);

	ck_assert_ptr_nonnull(h);
	*(void **)&f = dlsym(h, "fake_dcmi_calls");
	ck_assert_ptr_nonnull(f);
	dlclose(h);
	return f(fn);
}

#define EQ(x, v)                                                                         \
	ck_assert_msg(fabs((double)(x) - (double)(v)) < 1e-9 * (fabs((double)(v)) + 1),  \
		      "%s = %.12g, want %.12g", #x, (double)(x), (double)(v))
#define ABSENT(x) ck_assert_msg(isnan(x), "%s should be absent, is %g", #x, (double)(x))

/* ---- scenarios: exact values ---- */

struct expect {
	const char *fam, *dev, *labels;
	double value; /* NAN: absent */
};

static const struct scenario {
	const char *file, *lib;
	int polls;
	struct expect e[48];
} scenarios[] = {
    {"node910b.ini",
     FAKE_LIB,
     2,
     {{"accel_up", "ascend0", NULL, 1},
      {"accel_up", "ascend7", NULL, 1},
      {"accel_utilization_ratio", "ascend0", NULL, 0.30},
      {"accel_utilization_ratio", "ascend7", NULL, 0.37},
      {"accel_engine_utilization_ratio", "ascend1", "engine=\"aicpu\"", 0.01},
      {"accel_engine_utilization_ratio", "ascend1", "engine=\"ctrlcpu\"", 0.11},
      {"accel_engine_utilization_ratio", "ascend1", "engine=\"vector\"", 0.16},
      {"accel_engine_utilization_ratio", "ascend1", "engine=\"npu\"", 0.41},
      {"accel_engine_utilization_ratio", "ascend1", "engine=\"aicube\"", 0.26},
      {"accel_memory_bandwidth_utilization_ratio", "ascend2", NULL, 0.22},
      {"accel_memory_total_bytes", "ascend0", NULL, 65536.0 * 1048576},
      {"accel_memory_used_bytes", "ascend4", NULL, 3400.0 * 1048576},
      {"accel_temperature_celsius", "ascend4", "sensor=\"hbm\"", 44},
      {"accel_temperature_celsius", "ascend4", "sensor=\"die\"", 54},
      {"accel_power_watts", "ascend6", NULL, 109},
      {"accel_clock_hertz", "ascend0", "clock=\"aicore\"", 1.8e9},
      /* ecc_sbe = 5+1 at tick 3 */
      {"accel_ecc_errors_total", "ascend5", "type=\"corrected\"", 8},
      {"accel_ecc_errors_total", "ascend5", "type=\"uncorrected\"", 0},
      {"ascend_hbm_isolated_pages", "ascend5", "type=\"single_bit\"", 2},
      {"accel_compute_processes", "ascend5", NULL, 2},
      {"ascend_health", "ascend3", NULL, 2},
      {"ascend_health", "ascend0", NULL, 0},
      {"ascend_error_codes", "ascend3", NULL, 1},
      {"ascend_error_code", "ascend3", "code=\"0x81078603\"", 1},
      {"ascend_error_codes", "ascend0", NULL, 0},
      {"ascend_network_health", "ascend3", NULL, 3},
      {"ascend_network_health", "ascend7", NULL, 0},
      {NULL, NULL, NULL, 0}}},
    {"card310p.ini",
     FAKE_LIB,
     2,
     {{"accel_up", "ascend1", NULL, 1},
      {"accel_utilization_ratio", "ascend0", NULL, 0.12},
      {"accel_engine_utilization_ratio", "ascend0", "engine=\"vector\"", 0.04},
      {"accel_engine_utilization_ratio", "ascend0", "engine=\"npu\"", NAN},
      {"accel_engine_utilization_ratio", "ascend0", "engine=\"aicube\"", NAN},
      /* DDR bandwidth, as there is no HBM */
      {"accel_memory_bandwidth_utilization_ratio", "ascend0", NULL, 0.09},
      {"accel_memory_total_bytes", "ascend0", NULL, 44280.0 * 1048576},
      {"accel_memory_used_bytes", "ascend0", NULL, 4096.0 * 1048576},
      {"accel_memory_used_bytes", "ascend1", NULL, 280.0 * 1048576},
      {"accel_temperature_celsius", "ascend0", "sensor=\"hbm\"", NAN},
      {"accel_temperature_celsius", "ascend0", "sensor=\"die\"", 41},
      {"accel_power_watts", "ascend0", NULL, 25.6},
      {"accel_clock_hertz", "ascend1", NULL, 1.08e9},
      {"accel_ecc_errors_total", "ascend0", NULL, NAN},
      {"ascend_network_health", "ascend0", NULL, NAN},
      {"accel_compute_processes", "ascend0", NULL, 1},
      {NULL, NULL, NULL, 0}}},
    {"old.ini",
     FAKE_OLD_LIB,
     2,
     {{"accel_up", "ascend0", NULL, 1},
      {"accel_up", "ascend1", NULL, 1},
      {"accel_utilization_ratio", "ascend0", NULL, 0.55},
      {"accel_engine_utilization_ratio", "ascend0", "engine=\"aicpu\"", 0.02},
      {"accel_power_watts", "ascend0", NULL, 210},
      {"accel_power_watts", "ascend1", NULL, 70},
      {"accel_temperature_celsius", "ascend0", "sensor=\"die\"", 62},
      {"ascend_health", "ascend1", NULL, 1},
      {"accel_memory_total_bytes", "ascend0", NULL, NAN},
      {"accel_ecc_errors_total", "ascend0", NULL, NAN},
      {"accel_clock_hertz", "ascend0", NULL, NAN},
      {"ascend_error_codes", "ascend0", NULL, NAN},
      {NULL, NULL, NULL, 0}}},
};

START_TEST(test_scenario)
{
	const struct scenario *sc = &scenarios[_i];
	void *st = start(sc->lib, sc->file);

	for (int p = 0; p < sc->polls; p++)
		poll_once(st);
	for (const struct expect *e = sc->e; e->fam; e++) {
		double v = get(e->fam, e->dev, e->labels);

		if (isnan(e->value))
			ck_assert_msg(isnan(v), "%s: %s{%s,%s} should be absent, is %g",
				      sc->file, e->fam, e->dev,
				      e->labels ? e->labels : "", v);
		else
			ck_assert_msg(fabs(v - e->value) <= 1e-9 * fabs(e->value),
				      "%s: %s{%s,%s} = %.12g, want %.12g", sc->file,
				      e->fam, e->dev, e->labels ? e->labels : "", v,
				      e->value);
	}
	ck_assert_int_eq(fake_am_read_errors(ctx), 0);
	ascend_collector.fini(ctx, st);
}
END_TEST

/* ---- identity ---- */

START_TEST(test_identity)
{
	void *st = start(FAKE_LIB, "node910b.ini");

	poll_once(st);
	ck_assert_str_eq(info("ascend0", "uuid"),
			 "5A5A0000-00001111-00002222-00003333-00000000");
	ck_assert_str_eq(info("ascend0", "vendor"), "huawei");
	ck_assert_str_eq(info("ascend0", "model"), "910B3");
	ck_assert_str_eq(info("ascend0", "serial"), "102244618000");
	ck_assert_str_eq(info("ascend0", "pci_bus_id"), "0000:c1:00.0");
	ck_assert_str_eq(info("ascend0", "numa_node"), "0"); /* fixture sysfs */
	ck_assert_str_eq(info("ascend4", "numa_node"), "1");
	ck_assert_str_eq(info("ascend1", "numa_node"), "");
	ck_assert_str_eq(info("ascend7", "pci_bus_id"), "0000:42:00.0");
	ck_assert_ptr_null(info("ascend8", "uuid"));
	ck_assert_str_eq(fake_am_found(ctx),
			 "8 Ascend chip(s) on 8 card(s) (8 answering, "
			 "model 910B3), via " FAKE_LIB);
	ascend_collector.fini(ctx, st);

	/* two chips on one card: the board serial with the chip index */
	teardown();
	setup();
	st = start(FAKE_LIB, "card310p.ini");
	poll_once(st);
	ck_assert_str_eq(info("ascend0", "uuid"), "033VNY10M8000123-chip0");
	ck_assert_str_eq(info("ascend1", "uuid"), "033VNY10M8000123-chip1");
	ck_assert_str_eq(info("ascend1", "model"), "310P3");
	ck_assert_str_eq(info("ascend1", "pci_bus_id"), "0000:3c:00.0");
	ascend_collector.fini(ctx, st);

	/* nothing but the card list: card<c>-chip<d> */
	teardown();
	setup();
	st = start(FAKE_LIB, "unsupported.ini");
	poll_once(st);
	ck_assert_str_eq(info("ascend1", "uuid"), "card1-chip0");
	ck_assert_str_eq(info("ascend1", "model"), "");
	ascend_collector.fini(ctx, st);

	/* a chip name filling its field without a NUL is cut at 32 bytes; the
	 * serial is passed on as read */
	teardown();
	setup();
	st = start(FAKE_LIB, "odd.ini");
	poll_once(st);
	ck_assert_str_eq(info("ascend0", "model"), "Ascend910B3-with-a-name-longer-t");
	/* the 0xff byte is U+FFFD in the label (fake_am, as the agent) */
	ck_assert_str_eq(info("ascend0", "uuid"), "SN\"1\\2\xef\xbf\xbd"
						  "3");
	ascend_collector.fini(ctx, st);
}
END_TEST

/* Busy seconds and energy are the core's integrals of the gauges
 * (AM_DERIVE_INTEGRAL), never samples of the collector's own. */
static void is_integral_of(const char *fam, const char *in, const char *dev,
			   const char *labels)
{
	const struct fake_series *d = find(fam, dev, labels), *g = find(in, dev, labels);

	ck_assert_msg(d && g, "%s / %s of %s", fam, in, dev);
	ck_assert(d->derived);
	ck_assert_int_eq(d->derive.op, AM_DERIVE_INTEGRAL);
	ck_assert_ptr_eq(fake_am_series(ctx, d->derive.a), g);
	ck_assert_uint_eq(d->nsamples, 0);
	ck_assert_int_eq(fake_am_view(ctx, d->view)->kind, AM_COUNTER);
	ck_assert_int_eq(fake_am_view(ctx, g->view)->kind, AM_GAUGE);
}

START_TEST(test_integrals)
{
	void *st = start(FAKE_LIB, "node910b.ini");

	poll_once(st);
	poll_once(st);
	is_integral_of("accel_busy_seconds_total", "accel_utilization_ratio", "ascend2",
		       NULL);
	is_integral_of("accel_energy_joules_total", "accel_power_watts", "ascend2", NULL);
	is_integral_of("accel_engine_busy_seconds_total",
		       "accel_engine_utilization_ratio", "ascend2", "engine=\"aicube\"");
	is_integral_of("accel_engine_busy_seconds_total",
		       "accel_engine_utilization_ratio", "ascend2", "engine=\"ctrlcpu\"");
	ascend_collector.fini(ctx, st);
}
END_TEST

/* ---- absent metrics are probed once ---- */

START_TEST(test_unsupported_probed_once)
{
	static const char *const optional[] = {
	    "dcmi_get_device_hbm_info",	     "dcmi_get_device_memory_info_v3",
	    "dcmi_get_device_power_info",    "dcmi_get_device_temperature",
	    "dcmi_get_device_frequency",     "dcmi_get_device_ecc_info",
	    "dcmi_get_device_health",	     "dcmi_get_device_errorcode_v2",
	    "dcmi_get_device_resource_info", "dcmi_get_device_network_health",
	    "dcmi_get_device_chip_info",     "dcmi_get_device_die_v2",
	    "dcmi_get_device_pcie_info_v2",
	};
	void *st = start(FAKE_LIB, "unsupported.ini");
	size_t n = 0;

	for (int p = 0; p < 4; p++)
		poll_once(st);
	for (size_t i = 0; i < sizeof(optional) / sizeof(optional[0]); i++)
		ck_assert_msg(calls(FAKE_LIB, optional[i]) == 2, "%s called %ld times",
			      optional[i], calls(FAKE_LIB, optional[i]));
	/* 8 input types (AI Core, 5 engines, HBM and DDR bandwidth) x 2 */
	ck_assert_int_eq(calls(FAKE_LIB, "dcmi_get_device_utilization_rate"), 16);
	/* once at init, once per poll */
	ck_assert_int_eq(calls(FAKE_LIB, "dcmi_get_card_list"), 5);
	EQ(get("accel_up", "ascend0", NULL), 1);
	EQ(get("accel_up", "ascend1", NULL), 1);
	for (size_t i = 0; i < fake_am_nseries(ctx); i++) {
		const char *name =
		    fake_am_view(ctx, fake_am_series(ctx, (am_series_t)i)->view)->name;

		ck_assert_msg(!strcmp(name, "accel_up") || !strcmp(name, "accel_info"),
			      "unexpected series of %s", name);
		n++;
	}
	ck_assert_uint_eq(n, 4);
	ck_assert_int_eq(fake_am_read_errors(ctx), 0);
	ascend_collector.fini(ctx, st);
}
END_TEST

/* The old driver has dcmi_get_card_num_list and few symbols: the missing
 * ones are never called, their metrics absent. */
START_TEST(test_old_driver)
{
	void *st = start(FAKE_OLD_LIB, "old.ini");

	poll_once(st);
	ck_assert_int_eq(calls(FAKE_OLD_LIB, "dcmi_get_card_num_list"), 2);
	ck_assert_str_eq(info("ascend0", "uuid"), "card1-chip0");
	ck_assert_str_eq(info("ascend1", "uuid"), "card4-chip0");
	ck_assert_str_eq(info("ascend1", "model"), "910ProB");
	ck_assert_str_eq(info("ascend1", "pci_bus_id"), "");
	ascend_collector.fini(ctx, st);
}
END_TEST

/* ---- errors ---- */

START_TEST(test_missing_library)
{
	void *st;

	ck_assert_int_eq(try_start(FAKE_DCMI_DIR "/nonexistent/libdcmi.so", NULL, &st),
			 -ENODEV);
	ck_assert_ptr_null(st);
	ck_assert_msg(strstr(fake_am_found(ctx), "/nonexistent/libdcmi.so not found: "),
		      "found: %s", fake_am_found(ctx));
	ck_assert_uint_eq(fake_am_nlogs(ctx), 1); /* one line, nothing else */
}
END_TEST

START_TEST(test_not_dcmi)
{
	void *st;

	/* a library without the required symbols */
	ck_assert_int_eq(try_start("libm.so.6", NULL, &st), -ENODEV);
	ck_assert_msg(
	    strstr(fake_am_found(ctx), "missing required symbol dcmi_init: not DCMI"),
	    "found: %s", fake_am_found(ctx));
}
END_TEST

START_TEST(test_init_fails)
{
	void *st;

	ck_assert_int_eq(try_start(FAKE_LIB, NULL, &st), -ENODEV);
	ck_assert_msg(strstr(fake_am_found(ctx), "dcmi_init failed: DCMI error -8005"),
		      "found: %s", fake_am_found(ctx));
}
END_TEST

START_TEST(test_lost_and_back)
{
	void *st = start(FAKE_LIB, "lost.ini");
	const struct fake_series *u1, *u2;

	poll_once(st); /* tick 2 */
	EQ(get("accel_up", "ascend1", NULL), 1);
	EQ(get("accel_up", "ascend2", NULL), 1);
	u1 = find("accel_utilization_ratio", "ascend1", NULL);
	u2 = find("accel_utilization_ratio", "ascend2", NULL);
	poll_once(st); /* tick 3: ascend1 unlisted, ascend2 answers -8007 */
	EQ(get("accel_up", "ascend0", NULL), 1);
	EQ(get("accel_up", "ascend1", NULL), 0);
	EQ(get("accel_up", "ascend2", NULL), 0);
	ABSENT(get("accel_utilization_ratio", "ascend1", NULL));
	ABSENT(get("accel_utilization_ratio", "ascend2", NULL));
	EQ(get("accel_utilization_ratio", "ascend0", NULL), 0.8);
	ck_assert_uint_eq(
	    fake_am_log_count(ctx, "ascend1: no longer listed; reporting it down"), 1);
	ck_assert_uint_eq(fake_am_log_count(ctx,
					    "ascend2: AI Core utilization: DCMI error "
					    "-8007; reporting it down"),
			  1);
	poll_once(st); /* tick 4: still gone */
	EQ(get("accel_up", "ascend1", NULL), 0);
	EQ(get("accel_up", "ascend2", NULL), 0);
	poll_once(st); /* tick 5: both back, same chips, same series */
	EQ(get("accel_up", "ascend1", NULL), 1);
	EQ(get("accel_up", "ascend2", NULL), 1);
	EQ(get("accel_utilization_ratio", "ascend1", NULL), 0.1);
	EQ(get("accel_utilization_ratio", "ascend2", NULL), 0.2);
	ck_assert_ptr_eq(find("accel_utilization_ratio", "ascend1", NULL), u1);
	ck_assert_ptr_eq(find("accel_utilization_ratio", "ascend2", NULL), u2);
	ck_assert_uint_eq(fake_am_log_count(ctx, "available again"), 2);
	ck_assert_uint_eq(fake_am_log_count(ctx, "uuid changed"), 0);
	/* going away is not a read error */
	ck_assert_int_eq(fake_am_read_errors(ctx), 0);
	ascend_collector.fini(ctx, st);
}
END_TEST

/* Another chip under the same logic id (a new die id): new series, the old
 * ones retired, once. */
START_TEST(test_replaced)
{
	void *st = start(FAKE_LIB, "replaced.ini");
	const struct fake_series *old_up, *old_util, *old_info;

	poll_once(st); /* tick 2 */
	ck_assert_str_eq(info("ascend0", "uuid"),
			 "0000000A-0000000B-0000000C-0000000D-00000001");
	old_up = find("accel_up", "ascend0", NULL);
	old_util = find("accel_utilization_ratio", "ascend0", NULL);
	old_info = find("accel_info", "ascend0", NULL);
	poll_once(st); /* tick 3: off the list */
	EQ(get("accel_up", "ascend0", NULL), 0);
	poll_once(st); /* tick 4: the new chip */
	ck_assert_uint_eq(
	    fake_am_log_count(ctx, "ascend0: uuid changed from "
				   "0000000A-0000000B-0000000C-0000000D-00000001 to "
				   "0000000A-0000000B-0000000C-0000000D-00000002"),
	    1);
	ck_assert(old_up->retired && old_util->retired && old_info->retired);
	EQ(fake_am_scaled(
	       ctx,
	       fake_am_match(ctx, "accel_utilization_ratio",
			     "uuid=\"0000000A-0000000B-0000000C-0000000D-00000002\"")),
	   0.2);
	EQ(fake_am_scaled(
	       ctx,
	       fake_am_match(ctx, "accel_up",
			     "uuid=\"0000000A-0000000B-0000000C-0000000D-00000002\"")),
	   1);
	/* the derived busy seconds went with their input */
	ck_assert_ptr_nonnull(
	    fake_am_match(ctx, "accel_busy_seconds_total",
			  "uuid=\"0000000A-0000000B-0000000C-0000000D-00000002\""));
	ascend_collector.fini(ctx, st);
}
END_TEST

START_TEST(test_fault_codes)
{
	void *st = start(FAKE_LIB, "faults.ini");

	poll_once(st); /* tick 2 */
	/* -8012 twice, then an answer: retried within the poll */
	EQ(get("accel_temperature_celsius", "ascend0", "sensor=\"die\""), 50);
	ck_assert_int_eq(calls(FAKE_LIB, "dcmi_get_device_temperature"), 3);
	/* -8012 on every try (3), -8006: read errors, the chip stays up */
	ABSENT(get("ascend_health", "ascend0", NULL));
	ABSENT(get("accel_power_watts", "ascend0", NULL));
	ck_assert_int_eq(calls(FAKE_LIB, "dcmi_get_device_health"), 3);
	ck_assert_int_eq(fake_am_read_errors(ctx), 2);
	EQ(get("accel_up", "ascend0", NULL), 1);
	/* the 28-byte ECC struct of an older driver */
	EQ(get("accel_ecc_errors_total", "ascend0", "type=\"corrected\""), 4);
	EQ(get("accel_ecc_errors_total", "ascend0", "type=\"uncorrected\""), 1);
	EQ(get("ascend_hbm_isolated_pages", "ascend0", "type=\"single_bit\""), 3);
	EQ(get("ascend_hbm_isolated_pages", "ascend0", "type=\"double_bit\""), 1);
	poll_once(st); /* tick 3: answers again (not marked unsupported) */
	EQ(get("ascend_health", "ascend0", NULL), 0);
	EQ(get("accel_power_watts", "ascend0", NULL), 100);
	ck_assert_int_eq(fake_am_read_errors(ctx), 2);
	poll_once(st); /* tick 4: the card list fails */
	EQ(get("accel_up", "ascend0", NULL), 0);
	ABSENT(get("accel_power_watts", "ascend0", NULL));
	ck_assert_int_eq(fake_am_read_errors(ctx), 3);
	ck_assert_uint_eq(fake_am_log_count(ctx, "dcmi_get_card_list: DCMI error -8005; "
						 "chips reported down"),
			  1);
	poll_once(st); /* tick 5: back, same series */
	EQ(get("accel_up", "ascend0", NULL), 1);
	EQ(get("accel_power_watts", "ascend0", NULL), 100);
	ck_assert_int_eq(fake_am_read_errors(ctx), 3);
	ascend_collector.fini(ctx, st);
}
END_TEST

/* Active error codes: a series per code, gone when the code clears. */
START_TEST(test_error_codes)
{
	void *st = start(FAKE_LIB, "errcodes.ini");
	const struct fake_series *link;

	poll_once(st); /* tick 2: link down */
	EQ(get("ascend_error_codes", "ascend0", NULL), 1);
	EQ(get("ascend_error_code", "ascend0", "code=\"0x81078603\""), 1);
	ABSENT(get("ascend_error_code", "ascend0", "code=\"0x40F84E00\""));
	EQ(get("ascend_health", "ascend0", NULL), 2);
	poll_once(st); /* tick 3: both */
	EQ(get("ascend_error_codes", "ascend0", NULL), 2);
	EQ(get("ascend_error_code", "ascend0", "code=\"0x81078603\""), 1);
	EQ(get("ascend_error_code", "ascend0", "code=\"0x40F84E00\""), 1);
	poll_once(st); /* tick 4: the link is back */
	EQ(get("ascend_error_codes", "ascend0", NULL), 1);
	link = find("ascend_error_code", "ascend0", "code=\"0x81078603\"");
	ck_assert_ptr_nonnull(link);
	ck_assert(link->retired);
	ck_assert_uint_eq(link->retires, 1);
	EQ(get("ascend_error_code", "ascend0", "code=\"0x40F84E00\""), 1);
	ascend_collector.fini(ctx, st);
}
END_TEST

START_TEST(test_rescan)
{
	void *st = start(FAKE_LIB, "rescan.ini");

	poll_once(st); /* tick 2 */
	ck_assert_int_eq(ascend_collector.rescan(ctx, st), 0);
	ck_assert_ptr_null(info("ascend1", "uuid"));
	poll_once(st); /* tick 3 */
	poll_once(st); /* tick 4: listed now */
	ck_assert_int_eq(ascend_collector.rescan(ctx, st), 0);
	ck_assert_uint_eq(fake_am_log_count(ctx, "ascend1: new chip (card 1 chip 0)"), 1);
	poll_once(st);
	EQ(get("accel_up", "ascend1", NULL), 1);
	EQ(get("accel_utilization_ratio", "ascend1", NULL), 0.6);
	EQ(get("accel_utilization_ratio", "ascend0", NULL), 0.3);
	/* nothing new: nothing added or logged */
	ck_assert_int_eq(ascend_collector.rescan(ctx, st), 0);
	ck_assert_uint_eq(fake_am_log_count(ctx, "new chip"), 1);
	ascend_collector.fini(ctx, st);
}
END_TEST

/* ---- identity only from an answer; accel_up only when answered ---- */

/* Number of accel_info series of dev not retired. */
static int live_infos(const char *dev)
{
	char want[64];
	int n = 0;

	snprintf(want, sizeof(want), "device=\"%s\",", dev);
	for (size_t i = 0; i < fake_am_nseries(ctx); i++) {
		const struct fake_series *s = fake_am_series(ctx, (am_series_t)i);

		if (!strcmp(fake_am_view(ctx, s->view)->name, "accel_info") &&
		    strstr(s->label_text, want) && !s->retired)
			n++;
	}
	return n;
}

#define DIE_11 "00000011-00000022-00000033-00000044-00000055"

/* The die id call times out once when the chip is re-acquired: the chip
 * stays lost for that poll (a read error) and keeps its uuid and series,
 * rather than coming back under its serial. */
START_TEST(test_identity_transient)
{
	void *st = start(FAKE_LIB, "uuid_transient.ini");
	const struct fake_series *up;

	poll_once(st); /* tick 2 */
	ck_assert_str_eq(info("ascend0", "uuid"), DIE_11);
	up = find("accel_up", "ascend0", NULL);
	poll_once(st); /* tick 3: the card list fails */
	EQ(get("accel_up", "ascend0", NULL), 0);
	poll_once(st); /* tick 4: -8006 from the die id call */
	EQ(get("accel_up", "ascend0", NULL), 0);
	ck_assert_str_eq(info("ascend0", "uuid"), DIE_11);
	ck_assert_int_eq(fake_am_read_errors(ctx), 2);
	ck_assert_uint_eq(
	    fake_am_log_count(ctx,
			      "ascend0: die id: DCMI error -8006; identity not taken"),
	    1);
	poll_once(st); /* tick 5: back, the same chip */
	EQ(get("accel_up", "ascend0", NULL), 1);
	EQ(get("accel_power_watts", "ascend0", NULL), 200);
	ck_assert_ptr_eq(find("accel_up", "ascend0", NULL), up);
	ck_assert(!up->retired);
	ck_assert_uint_eq(fake_am_log_count(ctx, "uuid changed"), 0);
	ck_assert_str_eq(info("ascend0", "serial"), "102244618000");
	ck_assert_int_eq(live_infos("ascend0"), 1);
	ascend_collector.fini(ctx, st);
}
END_TEST

/* chip_info times out at init: nothing empty is committed; the chip is
 * taken at the first poll, with its model. */
START_TEST(test_identity_transient_init)
{
	void *st = start(FAKE_LIB, "model_transient.ini");

	ck_assert_int_eq(fake_am_read_errors(ctx), 1);
	poll_once(st); /* tick 2 */
	EQ(get("accel_up", "ascend0", NULL), 1);
	ck_assert_str_eq(info("ascend0", "model"), "910B3");
	ck_assert_str_eq(info("ascend0", "uuid"), DIE_11);
	ck_assert_int_eq(live_infos("ascend0"), 1);
	ascend_collector.fini(ctx, st);
}
END_TEST

/* A model that said -8255 at init and answers when the chip is re-acquired
 * (same uuid): accel_info is interned again with it, the old one retired. */
START_TEST(test_info_refreshed)
{
	void *st = start(FAKE_LIB, "model_late.ini");
	const struct fake_series *old;

	poll_once(st); /* tick 2 */
	ck_assert_str_eq(info("ascend0", "model"), "");
	old = find("accel_info", "ascend0", NULL);
	poll_once(st); /* tick 3: the card list fails */
	poll_once(st); /* tick 4: re-acquired */
	ck_assert(old->retired);
	ck_assert_int_eq(live_infos("ascend0"), 1);
	EQ(fake_am_scaled(ctx, fake_am_match(ctx, "accel_info", "model=\"910B3\"")), 1);
	ck_assert_str_eq(
	    fake_am_label(ctx, fake_am_match(ctx, "accel_info", "model=\"910B3\""),
			  "uuid"),
	    DIE_11);
	ascend_collector.fini(ctx, st);
}
END_TEST

/* -8255 from a metric that answered before is a read error, asked again;
 * a re-acquired chip is probed afresh (temperature, -8255 from the start,
 * is asked once more after the chip is back). */
START_TEST(test_not_supported_after_answer)
{
	void *st = start(FAKE_LIB, "ns_transient.ini");

	poll_once(st); /* tick 2 */
	EQ(get("accel_power_watts", "ascend0", NULL), 200);
	EQ(get("accel_utilization_ratio", "ascend0", NULL), 0.4);
	ck_assert_int_eq(calls(FAKE_LIB, "dcmi_get_device_temperature"), 1);
	poll_once(st); /* tick 3: -8255 from both */
	ABSENT(get("accel_power_watts", "ascend0", NULL));
	ABSENT(get("accel_utilization_ratio", "ascend0", NULL));
	/* still listed, but nothing it was asked answered */
	EQ(get("accel_up", "ascend0", NULL), 0);
	ck_assert_int_eq(fake_am_read_errors(ctx), 2);
	poll_once(st); /* tick 4: answering again */
	EQ(get("accel_power_watts", "ascend0", NULL), 200);
	EQ(get("accel_utilization_ratio", "ascend0", NULL), 0.4);
	ck_assert_int_eq(calls(FAKE_LIB, "dcmi_get_device_temperature"), 1);
	poll_once(st); /* tick 5: gone */
	EQ(get("accel_up", "ascend0", NULL), 0);
	poll_once(st); /* tick 6: back, probed again */
	EQ(get("accel_up", "ascend0", NULL), 1);
	EQ(get("accel_power_watts", "ascend0", NULL), 200);
	ck_assert_int_eq(calls(FAKE_LIB, "dcmi_get_device_temperature"), 2);
	ck_assert_int_eq(fake_am_read_errors(ctx), 2);
	ascend_collector.fini(ctx, st);
}
END_TEST

/* A chip still listed whose every call fails has not answered the poll:
 * accel_up 0 (and read errors), 1 again once it answers. */
START_TEST(test_up_means_answered)
{
	void *st = start(FAKE_LIB, "allfail.ini");

	poll_once(st); /* tick 2 */
	EQ(get("accel_up", "ascend0", NULL), 1);
	poll_once(st); /* tick 3: -8005 from every call */
	EQ(get("accel_up", "ascend0", NULL), 0);
	ABSENT(get("accel_power_watts", "ascend0", NULL));
	ck_assert_int_gt(fake_am_read_errors(ctx), 0);
	poll_once(st);
	EQ(get("accel_up", "ascend0", NULL), 0);
	ascend_collector.fini(ctx, st);

	/* a chip with nothing left to ask still answers its listing: up */
	teardown();
	setup();
	st = start(FAKE_LIB, "unsupported.ini");
	for (int p = 0; p < 3; p++)
		poll_once(st);
	EQ(get("accel_up", "ascend0", NULL), 1);
	ascend_collector.fini(ctx, st);
}
END_TEST

/* The chip of ascend0 comes back as logic id 4 (same die id), found by the
 * rescan: it is ascend4 now, and ascend0's series leave the exposition
 * (no phantom accel_up 0 for it). */
START_TEST(test_renumbered)
{
	void *st = start(FAKE_LIB, "renumber.ini");
	const struct fake_series *up0;

	poll_once(st); /* tick 2 */
	up0 = find("accel_up", "ascend0", NULL);
	poll_once(st); /* tick 3: gone */
	EQ(get("accel_up", "ascend0", NULL), 0);
	poll_once(st); /* tick 4: listed as logic id 4 */
	ck_assert_int_eq(ascend_collector.rescan(ctx, st), 0);
	ck_assert_uint_eq(fake_am_log_count(ctx, "ascend0: now ascend4 (same uuid " DIE_11
						 "); its series retired"),
			  1);
	poll_once(st); /* tick 5 */
	ck_assert(up0->retired);
	ck_assert_int_eq(live_infos("ascend0"), 0);
	EQ(get("accel_up", "ascend4", NULL), 1);
	EQ(get("accel_utilization_ratio", "ascend4", NULL), 0.4);
	ck_assert_str_eq(info("ascend4", "uuid"), DIE_11);
	EQ(get("accel_up", "ascend1", NULL), 1);
	/* later polls and rescans do not bring ascend0 back */
	ck_assert_int_eq(ascend_collector.rescan(ctx, st), 0);
	poll_once(st);
	ABSENT(get("accel_up", "ascend0", NULL));
	ascend_collector.fini(ctx, st);
}
END_TEST

/* Logic ids swapped (a driver reload, the card list the same): polls keep
 * reading the chips at their card and chip; the rescan notices, and each
 * name takes the chip its logic id has now (a new uuid: new series). */
START_TEST(test_swapped_at_rescan)
{
	void *st = start(FAKE_LIB, "swap.ini");

	poll_once(st); /* tick 2 */
	ck_assert_str_eq(info("ascend0", "uuid"),
			 "0000000A-00000000-00000000-00000000-00000000");
	poll_once(st);
	poll_once(st); /* tick 4: swapped, not noticed yet */
	EQ(get("accel_utilization_ratio", "ascend0", NULL), 0.1);
	ck_assert_int_eq(ascend_collector.rescan(ctx, st), 0);
	poll_once(st);
	ck_assert_uint_eq(fake_am_log_count(ctx, "uuid changed"), 2);
	EQ(fake_am_scaled(
	       ctx, fake_am_match(ctx, "accel_utilization_ratio",
				  "device=\"ascend0\",uuid=\"0000000B-00000000-00000000-"
				  "00000000-00000000\"")),
	   0.2);
	EQ(fake_am_scaled(
	       ctx, fake_am_match(ctx, "accel_utilization_ratio",
				  "device=\"ascend1\",uuid=\"0000000A-00000000-00000000-"
				  "00000000-00000000\"")),
	   0.1);
	EQ(fake_am_scaled(ctx, fake_am_match(ctx, "accel_up",
					     "device=\"ascend0\",uuid=\"0000000B-")),
	   1);
	EQ(fake_am_scaled(ctx, fake_am_match(ctx, "accel_up",
					     "device=\"ascend1\",uuid=\"0000000A-")),
	   1);
	ascend_collector.fini(ctx, st);
}
END_TEST

/* A passing error listing the logic ids keeps the placement: a read error,
 * not a chip reported down and taken again. */
START_TEST(test_enumeration_error)
{
	void *st = start(FAKE_LIB, "enum_transient.ini");

	poll_once(st); /* tick 2 */
	poll_once(st); /* tick 3 */
	ck_assert_int_eq(ascend_collector.rescan(ctx, st), 0);
	ck_assert_int_eq(fake_am_read_errors(ctx), 1);
	ck_assert_uint_eq(fake_am_log_count(ctx, "card 0 chip 0: logic id: DCMI error "
						 "-8006; placement kept"),
			  1);
	poll_once(st); /* tick 4 */
	EQ(get("accel_up", "ascend0", NULL), 1);
	EQ(get("accel_utilization_ratio", "ascend0", NULL), 0.1);
	ck_assert_uint_eq(fake_am_log_count(ctx, "no longer listed"), 0);
	ck_assert_uint_eq(fake_am_log_count(ctx, "available again"), 0);
	ascend_collector.fini(ctx, st);
}
END_TEST

/* HBM usage above its size, an HBM temperature below 0, DDR available
 * above its size: dropped with a read error each, the chip still up. */
START_TEST(test_bad_values)
{
	void *st = start(FAKE_LIB, "bad_values.ini");

	poll_once(st);
	ABSENT(get("accel_memory_used_bytes", "ascend0", NULL));
	ABSENT(get("accel_memory_total_bytes", "ascend0", NULL));
	ABSENT(get("accel_temperature_celsius", "ascend0", "sensor=\"hbm\""));
	ABSENT(get("accel_memory_used_bytes", "ascend1", NULL));
	ABSENT(get("accel_memory_total_bytes", "ascend1", NULL));
	EQ(get("accel_up", "ascend0", NULL), 1);
	EQ(get("accel_up", "ascend1", NULL), 1);
	ck_assert_int_eq(fake_am_read_errors(ctx), 3);
	ck_assert_uint_eq(fake_am_log_count(ctx, "ascend0: HBM info: usage above size; "
						 "dropped"),
			  1);
	ck_assert_uint_eq(fake_am_log_count(ctx, "ascend0: HBM info: temperature below "
						 "0; dropped"),
			  1);
	ck_assert_uint_eq(fake_am_log_count(ctx, "ascend1: memory info: available above "
						 "size; dropped"),
			  1);
	ascend_collector.fini(ctx, st);
}
END_TEST

/* The chip count of a card answers -8006 in a poll that enumerates (another
 * card's chip dropped): its chip keeps its place and is polled; a read
 * error. */
START_TEST(test_enumeration_error_card)
{
	void *st = start(FAKE_LIB, "enum_card.ini");

	poll_once(st); /* tick 2 */
	poll_once(st); /* tick 3: card 1 gone, card 0 not listed */
	EQ(get("accel_up", "ascend0", NULL), 1);
	EQ(get("accel_utilization_ratio", "ascend0", NULL), 0.1);
	EQ(get("accel_up", "ascend1", NULL), 0);
	ck_assert_int_eq(fake_am_read_errors(ctx), 1);
	ck_assert_uint_eq(fake_am_log_count(ctx, "card 0: chips not listed: DCMI error "
						 "-8006; placement kept"),
			  1);
	ck_assert_uint_eq(fake_am_log_count(ctx, "ascend0: no longer listed"), 0);
	poll_once(st); /* tick 4: card 1 back */
	EQ(get("accel_up", "ascend0", NULL), 1);
	EQ(get("accel_up", "ascend1", NULL), 1);
	EQ(get("accel_utilization_ratio", "ascend1", NULL), 0.2);
	ck_assert_int_eq(fake_am_read_errors(ctx), 1);
	ascend_collector.fini(ctx, st);
}
END_TEST

static Suite *ascend_suite(void)
{
	Suite *s = suite_create("ascend");
	TCase *tc = tcase_create("fake");

	tcase_set_timeout(tc, 30);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_scenario, 0,
			    sizeof(scenarios) / sizeof(scenarios[0]));
	tcase_add_test(tc, test_identity);
	tcase_add_test(tc, test_integrals);
	tcase_add_test(tc, test_unsupported_probed_once);
	tcase_add_test(tc, test_old_driver);
	tcase_add_test(tc, test_missing_library);
	tcase_add_test(tc, test_not_dcmi);
	tcase_add_test(tc, test_init_fails);
	tcase_add_test(tc, test_lost_and_back);
	tcase_add_test(tc, test_replaced);
	tcase_add_test(tc, test_fault_codes);
	tcase_add_test(tc, test_error_codes);
	tcase_add_test(tc, test_rescan);
	tcase_add_test(tc, test_identity_transient);
	tcase_add_test(tc, test_identity_transient_init);
	tcase_add_test(tc, test_info_refreshed);
	tcase_add_test(tc, test_not_supported_after_answer);
	tcase_add_test(tc, test_up_means_answered);
	tcase_add_test(tc, test_renumbered);
	tcase_add_test(tc, test_swapped_at_rescan);
	tcase_add_test(tc, test_enumeration_error);
	tcase_add_test(tc, test_enumeration_error_card);
	tcase_add_test(tc, test_bad_values);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(ascend_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
