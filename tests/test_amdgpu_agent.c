/* amdgpu collector through the real agent pipeline (tests/harness: ring,
 * aggregator, exposition on a fake clock): the integrals, counters and
 * scales the collector relies on, as a scrape would see them. The fixture
 * is the 8-card MI300X tree with gpu_metrics tables built here.
 */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "amdgpu_metrics.h"
#include "harness.h"
#include "series.h"

extern const struct am_collector amdgpu_collector;

#define FIXTURES TEST_SRCDIR "/fixtures/amdgpu"
#define S(x) ((int64_t)((x)*1000000000LL))

static char root[256];

static void copy_tree(const char *name)
{
	char cmd[1024];

	snprintf(root, sizeof(root), "/tmp/test_amdgpu_agent.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(root));
	snprintf(cmd, sizeof(cmd), "cp -R '%s/%s/.' '%s/' && chmod -R u+w '%s'", FIXTURES,
		 name, root, root);
	ck_assert_int_eq(system(cmd), 0);
}

static void drop_tree(void)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	ck_assert_int_eq(system(cmd), 0);
}

/* A v1.8 table (layout from kgd_pp_interface.h): energy at 24, socket power
 * at 10, accumulation counter at 40, residencies from 44, XGMI read/write
 * KiB at 136/200; everything else 0xff as the driver pre-fills it. */
static void write_v18(int card, uint64_t energy, uint32_t acc, uint32_t ppt,
		      uint64_t xgmi_rd0)
{
	uint8_t b[3872];
	uint16_t size = sizeof(b);
	uint32_t zero = 0;
	char path[512];
	FILE *f;

	memset(b, 0xff, sizeof(b));
	memcpy(b, &size, 2);
	b[2] = 1;
	b[3] = 8;
	memcpy(b + 24, &energy, 8);
	memcpy(b + 40, &acc, 4);
	memcpy(b + 44, &zero, 4); /* prochot */
	memcpy(b + 48, &ppt, 4);
	memcpy(b + 136, &xgmi_rd0, 8);
	snprintf(path, sizeof(path), "%s/class/drm/card%d/device/gpu_metrics", root,
		 card);
	f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(b, 1, sizeof(b), f), sizeof(b));
	fclose(f);
}

static struct harness *start(const char *yaml)
{
	char err[512] = "";
	struct harness *h;

	series_reset();
	h = harness_new(&amdgpu_collector, yaml, root, NULL, S(1), err, sizeof(err));
	ck_assert_msg(h != NULL, "harness: %s", err);
	ck_assert_int_eq(harness_init_rc(h), 0);
	return h;
}

static double get(struct harness *h, const char *fam, const char *labels)
{
	double v = NAN;

	ck_assert_msg(harness_value(h, fam, labels, &v) == 0, "missing %s%s", fam,
		      labels);
	return v;
}

#define ID(n) "{device=\"amdgpu" #n "\",uuid=\"5c3a1f07a1b2c30" #n "\"}"

#define ck_near(a, b)                                                                    \
	do {                                                                             \
		double got_ = (a), want_ = (double)(b);                                  \
		ck_assert_msg(fabs(got_ - want_) <= 1e-9 * fabs(want_) + 1e-9,           \
			      "%s = %.17g, want %.17g", #a, got_, want_);                \
	} while (0)

START_TEST(test_pipeline)
{
	struct harness *h;
	struct snapshot *snap;

	copy_tree("mi300x");
	write_v18(0, 1000ull << 16, 100, 0, 10);
	h = start(NULL);
	ck_assert_ptr_nonnull(strstr(harness_found(h), "8 card(s)"));

	ck_assert_int_eq(harness_poll(h, S(1)), 0);
	write_v18(0, 1500ull << 16, 1100, 250, 20);
	ck_assert_int_eq(harness_poll(h, S(2)), 0);
	write_v18(0, 2250ull << 16, 2100, 750, 30);
	ck_assert_int_eq(harness_poll(h, S(3)), 0);
	snap = harness_render(h, S(3));
	ck_assert_ptr_nonnull(snap);

	/* gauges with the family scale applied */
	ck_near(get(h, "accel_utilization_ratio", ID(3)), 0.42);
	ck_near(get(h, "accel_power_watts", ID(1)), 360);
	ck_near(get(h, "accel_temperature_celsius",
		    "{device=\"amdgpu2\",uuid=\"5c3a1f07a1b2c302\",sensor=\"mem\"}"),
		39);
	/* busy 42 % over the 2 s between the three polls */
	ck_near(get(h, "accel_busy_seconds_total", ID(3)), 0.84);
	ck_near(get(h, "accel_busy_seconds_total", ID(7)), 2.0);
	/* energy: the accumulator (counter from its first reading: 1000 J,
	 * then +500, +750) and, without a table, 420 W x 2 s */
	ck_near(get(h, "accel_energy_joules_total", ID(0)), 2250);
	ck_near(get(h, "accel_energy_joules_total", ID(7)), 840);
	/* ppt residency: 250/1000 then 500/1000 of each second; the first
	 * window has no earlier sample to integrate from */
	ck_near(get(h, "accel_throttled_seconds_total",
		    "{device=\"amdgpu0\",uuid=\"5c3a1f07a1b2c300\",reason=\"ppt\"}"),
		0.5);
	ck_near(get(h, "accel_throttled_seconds_total",
		    "{device=\"amdgpu0\",uuid=\"5c3a1f07a1b2c300\",reason=\"prochot\"}"),
		0);
	/* XGMI: KiB x 1024, as a counter */
	ck_near(get(h, "fabric_xgmi_read_bytes_total", "{device=\"amdgpu0\",link=\"0\"}"),
		30.0 * 1024);
	/* accel_info carries the schema's nine labels through the real
	 * registry; the VBIOS is the firmware, unread values are empty */
	ck_near(get(h, "accel_info",
		    "{device=\"amdgpu4\",uuid=\"5c3a1f07a1b2c304\",vendor=\"AMD\","
		    "model=\"AMD Instinct MI300X\",serial=\"\","
		    "pci_bus_id=\"0000:45:00.0\",numa_node=\"1\","
		    "driver_version=\"\",firmware_version=\"113-M3000100-102\"}"),
		1);
	ck_assert_uint_eq(harness_read_errors(h), 0);
	ck_assert_uint_eq(harness_dropped(h), 0);
	snapshot_release(snap);
	harness_free(h);
	drop_tree();
}
END_TEST

START_TEST(test_config_options)
{
	struct harness *h;
	double v;

	copy_tree("mi300x");
	write_v18(0, 1000ull << 16, 100, 0, 10);
	/* gpu_metrics off: energy comes from power; pcie_bw off entirely */
	h = start("{gpu_metrics: false, pcie_interval: 0s}");
	ck_assert_int_eq(harness_poll(h, S(1)), 0);
	ck_assert_int_eq(harness_poll(h, S(2)), 0);
	ck_near(get(h, "accel_energy_joules_total", ID(0)), 350);
	ck_assert_int_eq(harness_value(h, "fabric_xgmi_read_bytes_total",
				       "{device=\"amdgpu0\",link=\"0\"}", &v),
			 -ENOENT);
	ck_assert_int_eq(harness_value(h, "accel_pcie_receive_bytes_total", ID(0), &v),
			 -ENOENT);
	harness_free(h);
	drop_tree();
}
END_TEST

/* Energy where the table is no source: RDNA3/RDNA4 carry 0 in
 * energy_accumulator (card0), a random body gave 4.6e13 J (card1), a stuck
 * accumulator stands still (card2) while hwmon reads power: the power gauge
 * integrated by the aggregator (W x 2 s over three polls 1 s apart). */
START_TEST(test_energy_fallback)
{
	struct harness *h;

	copy_tree("mi300x");
	write_v18(0, 0, 100, 0, 10);
	write_v18(1, (uint64_t)(4.6e13 * 65536), 100, 0, 10);
	write_v18(2, 1000ull << 16, 100, 0, 10);
	write_v18(3, 1000ull << 16, 100, 0, 10);
	h = start(NULL);
	ck_assert_int_eq(harness_poll(h, S(1)), 0);
	write_v18(3, 1100ull << 16, 200, 0, 10); /* advances: the source */
	ck_assert_int_eq(harness_poll(h, S(2)), 0);
	write_v18(3, 1200ull << 16, 300, 0, 10);
	ck_assert_int_eq(harness_poll(h, S(3)), 0);
	ck_near(get(h, "accel_energy_joules_total", ID(0)),
		get(h, "accel_power_watts", ID(0)) * 2);
	ck_near(get(h, "accel_energy_joules_total", ID(0)), 700);
	ck_near(get(h, "accel_energy_joules_total", ID(1)), 720);
	/* a stuck accumulator is seen at its second reading: power is
	 * integrated from then (1 s), the first interval is not counted */
	ck_near(get(h, "accel_energy_joules_total", ID(2)), 370);
	/* chosen at poll 2, exported from then: the accumulator's reading */
	ck_near(get(h, "accel_energy_joules_total", ID(3)), 1200);
	ck_assert_uint_eq(harness_read_errors(h), 0);
	harness_free(h);
	drop_tree();
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("amdgpu_agent");
	TCase *tc = tcase_create("pipeline");

	tcase_add_test(tc, test_pipeline);
	tcase_add_test(tc, test_config_options);
	tcase_add_test(tc, test_energy_fallback);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
