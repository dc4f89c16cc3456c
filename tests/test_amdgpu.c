/* Check suite for the amdgpu collector: the gpu_metrics parser against
 * blobs built here from the kernel's documented layouts (offsets written out
 * by hand, independent of the parser's own tables), and the collector on the
 * sysfs fixture trees under tests/fixtures/amdgpu, driven through the fake
 * of the collector API (tests/fake_am.c).
 */
#include <check.h>
#include <errno.h>
#include <malloc.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "accelmon/collector.h"
#include "amdgpu_metrics.h"
#include "fake_am.h"

#ifndef TEST_SRCDIR
#define TEST_SRCDIR "tests"
#endif

extern const struct am_collector amdgpu_collector;

/* ---- the documented layouts, by hand ---- */

struct layout {
	unsigned frev, crev;
	size_t size;
	long energy, power, gfx, umc, vcn, acc, res, xrd, xwr;
};

/* From kgd_pp_interface.h: natural alignment, offsets in bytes. */
static const struct layout layouts[] = {
    {1, 1, 96, 24, 22, 16, 18, -1, -1, -1, -1, -1},
    {1, 2, 104, 24, 22, 16, 18, -1, -1, -1, -1, -1},
    {1, 3, 120, 24, 22, 16, 18, -1, -1, -1, -1, -1},
    {1, 4, 288, 24, 10, 12, 14, 16, -1, -1, 104, 168},
    {1, 5, 360, 88, 10, 12, 14, 16, -1, -1, 176, 240},
    {1, 6, 1664, 16, 10, 12, 14, -1, 32, 36, 128, 192},
    {1, 7, 2208, 24, 10, 12, 14, -1, 40, 44, 136, 200},
    {1, 8, 3872, 24, 10, 12, 14, -1, 40, 44, 136, 200},
};
#define NLAYOUTS ((int)(sizeof(layouts) / sizeof(layouts[0])))

static void put16(uint8_t *b, long off, uint16_t v)
{
	memcpy(b + off, &v, 2);
}
static void put32(uint8_t *b, long off, uint32_t v)
{
	memcpy(b + off, &v, 4);
}
static void put64(uint8_t *b, long off, uint64_t v)
{
	memcpy(b + off, &v, 8);
}

struct blob_vals {
	uint64_t energy;
	uint16_t power, gfx, umc;
	uint32_t acc, res[5];
	uint64_t xrd0, xwr7;
};

/* A blob of the given layout: every byte 0xff (what the driver pre-fills
 * with), then the header and the values we mean to read back. */
static uint8_t *make_blob(const struct layout *l, const struct blob_vals *v)
{
	uint8_t *b = malloc(l->size);
	ck_assert_ptr_nonnull(b);
	memset(b, 0xff, l->size);
	put16(b, 0, (uint16_t)l->size);
	b[2] = (uint8_t)l->frev;
	b[3] = (uint8_t)l->crev;
	put64(b, l->energy, v->energy);
	put16(b, l->power, v->power);
	put16(b, l->gfx, v->gfx);
	put16(b, l->umc, v->umc);
	if (l->vcn >= 0)
		put16(b, l->vcn + 2, 9); /* vcn1 valid, the others 0xffff */
	if (l->acc >= 0) {
		put32(b, l->acc, v->acc);
		for (int i = 0; i < 5; i++)
			put32(b, l->res + 4 * i, v->res[i]);
	}
	if (l->xrd >= 0) {
		put64(b, l->xrd, v->xrd0);
		put64(b, l->xwr + 8 * 7, v->xwr7);
	}
	return b;
}

static const struct blob_vals std_vals = {
    .energy = 1000ull * 65536 + 32768, /* 1000.5 J */
    .power = 612,
    .gfx = 42,
    .umc = 17,
    .acc = 5000,
    .res = {1, 2, 3, 4, 0xffffffffu},
    .xrd0 = 123456789,
    .xwr7 = 42,
};

START_TEST(test_gm_each_version)
{
	const struct layout *l = &layouts[_i];
	uint8_t *b = make_blob(l, &std_vals);
	struct amdgpu_gm gm;

	ck_assert_uint_eq(amdgpu_gm_layout_size(l->frev, l->crev), l->size);
	ck_assert_int_eq(amdgpu_gm_field_offset(l->frev, l->crev, AMDGPU_GM_F_ENERGY),
			 l->energy);
	ck_assert_int_eq(amdgpu_gm_field_offset(l->frev, l->crev, AMDGPU_GM_F_XGMI_WRITE),
			 l->xwr);
	ck_assert_int_eq(amdgpu_gm_parse(b, l->size, &gm), 0);
	ck_assert_uint_eq(gm.format_revision, l->frev);
	ck_assert_uint_eq(gm.content_revision, l->crev);
	ck_assert(gm.have & AMDGPU_GM_HAVE_ENERGY);
	ck_assert_uint_eq(gm.energy_raw, std_vals.energy);
	ck_assert(gm.have & AMDGPU_GM_HAVE_POWER);
	ck_assert_uint_eq(gm.socket_power_w, 612);
	ck_assert_uint_eq(gm.gfx_activity, 42);
	ck_assert_uint_eq(gm.umc_activity, 17);
	if (l->vcn >= 0) {
		ck_assert_uint_eq(gm.vcn_mask, 0x2);
		ck_assert_uint_eq(gm.vcn_activity[1], 9);
	} else {
		ck_assert_uint_eq(gm.vcn_mask, 0);
	}
	if (l->acc >= 0) {
		ck_assert(gm.have & AMDGPU_GM_HAVE_RESIDENCY);
		ck_assert_uint_eq(gm.accumulation_counter, 5000);
		ck_assert_uint_eq(gm.residency_mask, 0x0f); /* hbm is 0xffffffff */
		ck_assert_uint_eq(gm.residency[AMDGPU_GM_RES_PPT], 2);
	} else {
		ck_assert(!(gm.have & AMDGPU_GM_HAVE_RESIDENCY));
	}
	if (l->xrd >= 0) {
		ck_assert(gm.have & AMDGPU_GM_HAVE_XGMI);
		ck_assert_uint_eq(gm.xgmi_read_mask, 0x01);
		ck_assert_uint_eq(gm.xgmi_write_mask, 0x80);
		ck_assert_uint_eq(gm.xgmi_read_kib[0], 123456789);
		ck_assert_uint_eq(gm.xgmi_write_kib[7], 42);
	} else {
		ck_assert(!(gm.have & AMDGPU_GM_HAVE_XGMI));
	}
	free(b);
}
END_TEST

/* Every proper prefix of a valid blob is refused, never half-read. */
START_TEST(test_gm_truncated_every_length)
{
	const struct layout *l = &layouts[_i];
	uint8_t *b = make_blob(l, &std_vals);
	struct amdgpu_gm gm;

	for (size_t n = 0; n < l->size; n++) {
		/* exact-size copy so a sanitizer catches any over-read */
		uint8_t *p = malloc(n ? n : 1);
		memcpy(p, b, n);
		ck_assert_msg(amdgpu_gm_parse(p, n, &gm) == -EBADMSG,
			      "v%u.%u truncated to %zu accepted", l->frev, l->crev, n);
		ck_assert_uint_eq(gm.have, 0);
		free(p);
	}
	free(b);
}
END_TEST

/* Bytes after structure_size are ignored. */
START_TEST(test_gm_oversized)
{
	const struct layout *l = &layouts[_i];
	uint8_t *b = make_blob(l, &std_vals);
	uint8_t *big = malloc(l->size + 4096);
	struct amdgpu_gm gm;

	memcpy(big, b, l->size);
	memset(big + l->size, 0x5a, 4096);
	ck_assert_int_eq(amdgpu_gm_parse(big, l->size + 4096, &gm), 0);
	ck_assert_uint_eq(gm.energy_raw, std_vals.energy);
	free(big);
	free(b);
}
END_TEST

/* v1.3's ASIC-independent throttler mask: 16 bits per class. */
START_TEST(test_gm_indep_throttle)
{
	const struct layout *l = &layouts[2];
	uint8_t *b = make_blob(l, &std_vals);
	struct amdgpu_gm gm;

	ck_assert_uint_eq(l->crev, 3);
	ck_assert_int_eq(amdgpu_gm_parse(b, l->size, &gm), 0);
	ck_assert(!(gm.have & AMDGPU_GM_HAVE_INDEP_THROTTLE)); /* all-ones */
	put64(b, 112, (1ull << 1) | (1ull << 36));	       /* PPT1 + hotspot */
	ck_assert_int_eq(amdgpu_gm_parse(b, l->size, &gm), 0);
	ck_assert(gm.have & AMDGPU_GM_HAVE_INDEP_THROTTLE);
	ck_assert_uint_eq(gm.indep_throttle_status, (1ull << 1) | (1ull << 36));
	free(b);
	/* no other layout has the field */
	for (int i = 0; i < NLAYOUTS; i++)
		ck_assert_int_eq(amdgpu_gm_field_offset(layouts[i].frev, layouts[i].crev,
							AMDGPU_GM_F_INDEP_THROTTLE),
				 layouts[i].crev == 3 ? 112 : -1);
}
END_TEST

/* A table of header lies and unknown versions. */
struct bad_case {
	const char *what;
	unsigned frev, crev;
	size_t claim; /* structure_size written into the header */
	size_t len;   /* bytes given to the parser */
	int want;
};

static const struct bad_case bad_cases[] = {
    {"empty", 1, 8, 0, 0, -EBADMSG},
    {"header only, claims 3872", 1, 8, 3872, 4, -EBADMSG},
    {"claims more than given", 1, 8, 3872, 3871, -EBADMSG},
    {"claims 65535", 1, 7, 65535, 2208, -EBADMSG},
    {"claims less than a header", 1, 7, 2, 2208, -EBADMSG},
    {"claims 0", 1, 6, 0, 1664, -EBADMSG},
    {"v1.8 claiming 100 bytes", 1, 8, 100, 3872, -ENOTSUP},
    {"v1.8 claiming v1.7's size", 1, 8, 2208, 3872, -ENOTSUP},
    {"reverted early v1.6 (384 bytes)", 1, 6, 384, 384, -ENOTSUP},
    {"v1.0 (unaligned, unsupported)", 1, 0, 100, 100, -ENOTSUP},
    {"v1.9", 1, 9, 64, 64, -ENOTSUP},
    {"v2.1 (APU)", 2, 1, 120, 120, -ENOTSUP},
    {"v3.0 (APU)", 3, 0, 256, 256, -ENOTSUP},
    {"format 0", 0, 0, 16, 16, -ENOTSUP},
    {"format 255", 255, 255, 4096, 4096, -ENOTSUP},
};

START_TEST(test_gm_bad_headers)
{
	const struct bad_case *c = &bad_cases[_i];
	size_t alloc = c->len > 4 ? c->len : 4;
	uint8_t *b = malloc(alloc);
	struct amdgpu_gm gm;

	memset(b, 0, alloc);
	put16(b, 0, (uint16_t)c->claim);
	b[2] = (uint8_t)c->frev;
	b[3] = (uint8_t)c->crev;
	ck_assert_msg(amdgpu_gm_parse(b, c->len, &gm) == c->want, "%s", c->what);
	ck_assert_uint_eq(gm.have, 0);
	free(b);
}
END_TEST

/* All-ones fields are "not supported by this firmware": absent. */
START_TEST(test_gm_all_ones_is_absent)
{
	const struct layout *l = &layouts[_i];
	uint8_t *b = malloc(l->size);
	struct amdgpu_gm gm;

	memset(b, 0xff, l->size);
	put16(b, 0, (uint16_t)l->size);
	b[2] = (uint8_t)l->frev;
	b[3] = (uint8_t)l->crev;
	ck_assert_int_eq(amdgpu_gm_parse(b, l->size, &gm), 0);
	ck_assert_uint_eq(gm.have, 0);
	ck_assert_uint_eq(gm.xgmi_read_mask | gm.xgmi_write_mask, 0);
	/* and an activity above 100 % is not a reading either */
	put16(b, l->gfx, 101);
	ck_assert_int_eq(amdgpu_gm_parse(b, l->size, &gm), 0);
	ck_assert(!(gm.have & AMDGPU_GM_HAVE_GFX));
	free(b);
}
END_TEST

/* Values past the plausibility bounds are not readings: a valid header
 * over a random body gave 4.6e13 J. */
START_TEST(test_gm_implausible)
{
	const struct layout *l = &layouts[NLAYOUTS - 1]; /* v1.8 */
	struct blob_vals v = std_vals;
	struct amdgpu_gm gm;
	uint8_t *b;

	v.energy = (uint64_t)(4.6e13 * 65536);
	v.power = 10001;
	v.xrd0 = (1ull << 50) + 1;
	b = make_blob(l, &v);
	ck_assert_int_eq(amdgpu_gm_parse(b, l->size, &gm), 0);
	ck_assert(!(gm.have & AMDGPU_GM_HAVE_ENERGY));
	ck_assert(!(gm.have & AMDGPU_GM_HAVE_POWER));
	ck_assert_uint_eq(gm.implausible, AMDGPU_GM_HAVE_ENERGY | AMDGPU_GM_HAVE_POWER |
					      AMDGPU_GM_HAVE_XGMI);
	ck_assert_uint_eq(gm.xgmi_read_mask, 0);
	ck_assert_uint_eq(gm.xgmi_write_mask, 0x80); /* link 7's 42 KiB is fine */
	free(b);
	/* at the bounds: readings */
	v.energy = (uint64_t)1e12 * 65536;
	v.power = 10000;
	v.xrd0 = 1ull << 50;
	b = make_blob(l, &v);
	ck_assert_int_eq(amdgpu_gm_parse(b, l->size, &gm), 0);
	ck_assert(gm.have & AMDGPU_GM_HAVE_ENERGY);
	ck_assert(gm.have & AMDGPU_GM_HAVE_POWER);
	ck_assert_uint_eq(gm.implausible, 0);
	ck_assert_uint_eq(gm.xgmi_read_kib[0], 1ull << 50);
	free(b);
}
END_TEST

/* ---- the collector API: tests/fake_am.c ---- */

static struct am_ctx *A; /* the context of the current run */

static void violation(const char *msg)
{
	ck_abort_msg("%s", msg);
}

/* Scaled last value of the series of `fam` whose labels contain `want`;
 * *count gets its number of samples. NAN when absent. */
static double rec_get(const char *fam, const char *want, int *count)
{
	const struct fake_series *s = fake_am_match(A, fam, want);

	if (count)
		*count = s ? (int)s->nsamples : 0;
	if (!s || !s->nsamples)
		return NAN;
	return fake_am_scaled(A, s);
}

static int rec_log_count(const char *needle)
{
	return (int)fake_am_log_count(A, needle);
}

#define ck_near(a, b)                                                                    \
	do {                                                                             \
		double got_ = (a), want_ = (double)(b);                                  \
		ck_assert_msg(fabs(got_ - want_) <= 1e-9 * fabs(want_) + 1e-12,          \
			      "%s = %.17g, want %.17g", #a, got_, want_);                \
	} while (0)

/* The energy series of `dev` is derived by the aggregator as the integral
 * of the same device's power gauge, with no samples of its own. */
static void check_energy_from_power(const char *dev)
{
	const struct fake_series *e = fake_am_match(A, "accel_energy_joules_total", dev);

	ck_assert_msg(e != NULL, "no energy for %s", dev);
	ck_assert(e->derived);
	ck_assert_int_eq(e->derive.op, AM_DERIVE_INTEGRAL);
	ck_assert_uint_eq(e->nsamples, 0);
	ck_assert_ptr_eq(fake_am_series(A, e->derive.a),
			 fake_am_match(A, "accel_power_watts", dev));
}

/* ---- fixtures in a temp copy ---- */

static char tmp_root[256];

static const char *copy_fixture(const char *name)
{
	char cmd[1024];
	snprintf(tmp_root, sizeof(tmp_root), "/tmp/test_amdgpu.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmp_root));
	snprintf(cmd, sizeof(cmd), "cp -R '%s/fixtures/amdgpu/%s/.' '%s/'", TEST_SRCDIR,
		 name, tmp_root);
	ck_assert_int_eq(system(cmd), 0);
	/* the copy must be writable even from a read-only (distcheck) tree */
	snprintf(cmd, sizeof(cmd), "chmod -R u+w '%s'", tmp_root);
	ck_assert_int_eq(system(cmd), 0);
	return tmp_root;
}

static void drop_fixture(void)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp_root);
	ck_assert_int_eq(system(cmd), 0);
}

static void write_file(const char *root, const char *rel, const void *data, size_t n)
{
	char path[1024];
	FILE *f;
	snprintf(path, sizeof(path), "%s/class/drm/%s", root, rel);
	f = fopen(path, "wb");
	ck_assert_msg(f != NULL, "open %s: %s", path, strerror(errno));
	ck_assert_uint_eq(fwrite(data, 1, n, f), n);
	fclose(f);
}

static void write_blob(const char *root, int card, const struct layout *l,
		       const struct blob_vals *v)
{
	char rel[64];
	uint8_t *b = make_blob(l, v);
	snprintf(rel, sizeof(rel), "card%d/device/gpu_metrics", card);
	write_file(root, rel, b, l->size);
	free(b);
}

static const struct layout *layout_of(unsigned frev, unsigned crev)
{
	for (int i = 0; i < NLAYOUTS; i++)
		if (layouts[i].frev == frev && layouts[i].crev == crev)
			return &layouts[i];
	ck_abort_msg("no layout %u.%u", frev, crev);
	return NULL;
}

struct run {
	struct am_ctx *ctx;
	void *state;
};

static int run_init_pcie(struct run *r, const char *root, double pcie_s)
{
	char yaml[64], err[256] = "";
	const struct am_config *cfg;

	fake_am_free(A);
	memset(r, 0, sizeof(*r));
	r->ctx = A = fake_am_new("amdgpu", root);
	fake_am_on_violation(violation);
	snprintf(yaml, sizeof(yaml), "{pcie_interval: %gs}", pcie_s);
	cfg = fake_am_config(A, &amdgpu_collector, yaml, err, sizeof(err));
	ck_assert_msg(cfg != NULL, "config: %s", err);
	return amdgpu_collector.init(r->ctx, cfg, &r->state);
}

static int run_init(struct run *r, const char *root)
{
	return run_init_pcie(r, root, 10.0);
}

static void run_poll(struct run *r)
{
	ck_assert_int_eq(amdgpu_collector.poll(r->ctx, r->state), 0);
	fake_am_advance(r->ctx, 1000000000LL); /* polls 1 s apart */
}

/* ---- collector tests ---- */

START_TEST(test_mi300x_node)
{
	const char *root = copy_fixture("mi300x");
	struct run r;
	struct blob_vals v = std_vals;
	int n;

	/* cards 0..5 get v1.8, 1.7, 1.6, 1.5, 1.4, 1.3; card6 an unknown
	 * version; card7 none */
	static const unsigned ver[6][2] = {{1, 8}, {1, 7}, {1, 6},
					   {1, 5}, {1, 4}, {1, 3}};
	for (int c = 0; c < 6; c++) {
		v.energy = (uint64_t)(c + 1) * 1000 * 65536;
		write_blob(root, c, layout_of(ver[c][0], ver[c][1]), &v);
	}
	uint8_t unk[64] = {64, 0, 1, 9};
	write_file(root, "card6/device/gpu_metrics", unk, sizeof(unk));

	ck_assert_int_eq(run_init(&r, root), 0);
	run_poll(&r);
	/* one second later: +500 J, acc +1000 ticks, ppt +250, prochot +0 */
	for (int c = 0; c < 6; c++) {
		struct blob_vals w = std_vals;
		w.energy = (uint64_t)(c + 1) * 1000 * 65536 + 500 * 65536;
		w.acc = std_vals.acc + 1000;
		w.res[AMDGPU_GM_RES_PPT] = std_vals.res[AMDGPU_GM_RES_PPT] + 250;
		write_blob(root, c, layout_of(ver[c][0], ver[c][1]), &w);
	}
	run_poll(&r);

	/* eight devices named after their card, uuid from unique_id */
	for (int c = 0; c < 8; c++) {
		char want[96];
		snprintf(want, sizeof(want),
			 "device=\"amdgpu%d\",uuid=\"5c3a1f07a1b2c30%d\"", c, c);
		ck_assert_msg(!isnan(rec_get("accel_info", want, &n)), "%s", want);
		ck_assert_int_eq(n, 2);
		ck_assert_double_eq(rec_get("accel_up", want, NULL), 1);
	}
	ck_assert_ptr_nonnull(strstr(fake_am_log(A, 0), "8 card(s) (8 AMD, 0 Hygon)"));
	ck_assert(!isnan(rec_get("accel_info",
				 "model=\"AMD Instinct MI300X\",serial=\"\",pci_bus_id="
				 "\"0000:35:00.0\",numa_node=\"0\",driver_version=\"\","
				 "firmware_version=\"113-M3000100-102\"",
				 NULL)));

	/* busy: file value / 100, on every poll */
	ck_near(rec_get("accel_utilization_ratio", "amdgpu3\"", &n), 0.42);
	ck_assert_int_eq(n, 2);
	ck_near(rec_get("accel_busy_seconds_total", "amdgpu6\"", NULL), 0.99);
	ck_near(rec_get("accel_memory_bandwidth_utilization_ratio", "amdgpu3\"", NULL),
		0.21);
	/* memory as in the files */
	ck_near(rec_get("accel_memory_total_bytes", "amdgpu0\"", NULL), 206158430208.0);
	ck_near(rec_get("accel_memory_used_bytes", "amdgpu2\"", NULL),
		9.0 * (1 << 30) + 12345);
	ck_near(rec_get("accel_memory_pool_used_bytes", "amdgpu2\",uuid", NULL),
		9.0 * (1 << 30) + 12345);
	ck_near(rec_get("accel_memory_pool_used_bytes",
			"amdgpu4\",uuid=\"5c3a1f07a1b2c304\",pool=\"gtt\"", NULL),
		4.0 * 1048576 + 4096);
	/* hwmon: power1_input in uW, temps in m degC, labels kept */
	ck_near(rec_get("accel_power_watts", "amdgpu1\"", NULL), 360.0);
	ck_near(rec_get("accel_power_limit_watts", "amdgpu1\"", NULL), 750.0);
	ck_near(rec_get("accel_temperature_celsius",
			"amdgpu2\",uuid=\"5c3a1f07a1b2c302\",sensor=\"mem\"", NULL),
		39.0);
	ck_assert(isnan(rec_get("accel_temperature_celsius", "sensor=\"edge\"", NULL)));
	/* no hwmon freq: pp_dpm_* starred line */
	ck_near(rec_get("accel_clock_hertz",
			"amdgpu0\",uuid=\"5c3a1f07a1b2c300"
			"\",clock=\"graphics\"",
			NULL),
		1.3e9);
	/* ECC per block and type */
	ck_near(rec_get("accel_ecc_errors_total",
			"amdgpu5\",uuid=\"5c3a1f07a1b2c305\",type=\"uncorrected\","
			"block=\"xgmi_wafl\"",
			NULL),
		1);
	ck_near(rec_get("accel_ecc_errors_total",
			"amdgpu3\",uuid=\"5c3a1f07a1b2c303\",type=\"corrected\","
			"block=\"umc\"",
			NULL),
		3);
	ck_assert(isnan(rec_get("accel_ecc_errors_total", "block=\"features\"", NULL)));
	/* pcie_bw on its own 10 s interval, one device per poll: card0 read
	 * at poll 1, card1 at poll 2; the rate (received packets x max payload
	 * in bytes/s, which the aggregator integrates) is emitted at every poll
	 * after a device's first reading */
	ck_near(rec_get("accel_pcie_receive_bytes_total", "amdgpu0\"", &n), 1000.0 * 256);
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(
	    fake_am_match(A, "accel_pcie_receive_bytes_total", "amdgpu0\"")->kind,
	    AM_INTEGRAL);
	ck_near(rec_get("accel_pcie_receive_bytes_total", "amdgpu1\"", &n), 2000.0 * 256);
	ck_assert_int_eq(n, 1);
	ck_assert(isnan(rec_get("accel_pcie_receive_bytes_total", "amdgpu2\"", NULL)));

	/* energy from the accumulator, in joules, for every known layout */
	for (int c = 0; c < 6; c++) {
		char want[32];
		snprintf(want, sizeof(want), "amdgpu%d\"", c);
		ck_near(rec_get("accel_energy_joules_total", want, &n),
			(c + 1) * 1000.0 + 500.0);
		/* chosen at the second reading, when it has advanced */
		ck_assert_int_eq(n, 1);
	}
	/* unknown version: one log line, then energy from power: a series
	 * the aggregator derives (the integral of the power gauge; the agent
	 * test checks the joules) */
	ck_assert_int_eq(rec_log_count("gpu_metrics v1.9 (64 bytes) is not a "
				       "layout accelmon knows"),
			 1);
	check_energy_from_power("amdgpu6\"");
	check_energy_from_power("amdgpu7\"");

	/* throttle residency (v1.6+): the raw 32-bit counters, and a ratio
	 * the aggregator derives (delta residency / delta accumulation,
	 * integrated into seconds); hbm absent (0xffffffff) */
	ck_near(rec_get("amdgpu_throttle_residency_total",
			"amdgpu0\",uuid=\"5c3a1f07a1b2c300\",reason=\"ppt\"", &n),
		252);
	ck_assert_int_eq(n, 2);
	ck_near(rec_get("amdgpu_metrics_accumulation_total", "amdgpu0\"", NULL), 6000);
	{
		const struct fake_series *t =
		    fake_am_match(A, "accel_throttled_seconds_total",
				  "amdgpu0\",uuid=\"5c3a1f07a1b2c300\",reason=\"ppt\"");
		ck_assert_ptr_nonnull(t);
		ck_assert(t->derived && t->derive.op == AM_DERIVE_RATIO);
		ck_assert_ptr_eq(
		    fake_am_series(A, t->derive.a),
		    fake_am_match(A, "amdgpu_throttle_residency_total",
				  "amdgpu0\",uuid=\"5c3a1f07a1b2c300\",reason=\"ppt\""));
		ck_assert_ptr_eq(
		    fake_am_series(A, t->derive.b),
		    fake_am_match(A, "amdgpu_metrics_accumulation_total", "amdgpu0\""));
		ck_assert_uint_eq(t->derive.capacity, AM_SERIES_INVALID);
	}
	ck_assert_ptr_null(
	    fake_am_match(A, "accel_throttled_seconds_total", "reason=\"hbm_thermal\""));
	ck_assert_ptr_null(
	    fake_am_match(A, "accel_throttled_seconds_total", "amdgpu3\""));
	/* v1.3 (card5): make_blob leaves indep_throttle_status all-ones,
	 * i.e. not supported: no throttle series either */
	ck_assert(isnan(rec_get("accel_throttled_seconds_total", "amdgpu5\"", NULL)));
	/* XGMI (v1.4+): KiB x 1024 */
	ck_near(rec_get("fabric_xgmi_read_bytes_total", "device=\"amdgpu4\",link=\"0\"",
			NULL),
		123456789.0 * 1024);
	ck_near(rec_get("fabric_xgmi_write_bytes_total", "device=\"amdgpu1\",link=\"7\"",
			NULL),
		42.0 * 1024);
	ck_assert(isnan(rec_get("fabric_xgmi_read_bytes_total",
				"device=\"amdgpu4\",link=\"1\"", NULL)));
	ck_assert(
	    isnan(rec_get("fabric_xgmi_read_bytes_total", "device=\"amdgpu5\"", NULL)));

	ck_assert_int_eq((int)fake_am_read_errors(r.ctx), 0);
	amdgpu_collector.fini(r.ctx, r.state);
	drop_fixture();
}
END_TEST

/* pcie_bw every poll: each reading's rate holds until the next one. */
START_TEST(test_pcie_interval)
{
	const char *root = copy_fixture("mi300x");
	char cmd[600];
	struct run r;
	int n;

	/* one card left, so it gets the read at every poll */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'/class/drm/card[02-7]", root);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(run_init_pcie(&r, root, 1.0), 0);
	run_poll(&r);
	write_file(root, "card1/device/pcie_bw", "4000 0 256\n", 11);
	run_poll(&r);
	run_poll(&r);
	/* the rate of each reading: 4000 x 256 B/s now (2000 before) */
	ck_near(rec_get("accel_pcie_receive_bytes_total", "amdgpu1\"", &n), 4000.0 * 256);
	ck_assert_int_eq(n, 3);
	ck_near(rec_get("accel_pcie_transmit_bytes_total", "amdgpu1\"", NULL), 0);
	amdgpu_collector.fini(r.ctx, r.state);
	drop_fixture();
}
END_TEST

/* A Navi2x/MI200-style v1.3 table on the Radeon: energy from it, and the
 * throttler mask sampled into per-class throttled time. */
/* Eight cards due at once: one pcie_bw read per poll, round-robin. */
START_TEST(test_pcie_one_read_per_poll)
{
	const char *root = copy_fixture("mi300x");
	struct run r;
	char want[32];

	ck_assert_int_eq(run_init_pcie(&r, root, 1.0), 0);
	for (int p = 1; p <= 8; p++) {
		run_poll(&r);
		for (int c = 0; c < 8; c++) {
			snprintf(want, sizeof(want), "amdgpu%d\"", c);
			/* after p polls exactly cards 0..p-1 have had a reading */
			ck_assert_msg(isnan(rec_get("accel_pcie_receive_bytes_total",
						    want, NULL)) == (c >= p),
				      "poll %d card %d", p, c);
		}
	}
	/* the ninth poll goes back to card0 (due again): 9 readings of card0
	 * emitted, one of them new */
	run_poll(&r);
	int n0;
	ck_near(rec_get("accel_pcie_receive_bytes_total", "amdgpu0\"", &n0),
		1000.0 * 256);
	ck_assert_int_eq(n0, 9);
	ck_near(rec_get("accel_pcie_receive_bytes_total", "amdgpu1\"", &n0),
		2000.0 * 256);
	ck_assert_int_eq(n0, 8);
	amdgpu_collector.fini(r.ctx, r.state);
	drop_fixture();
}
END_TEST

START_TEST(test_v13_throttle_mask)
{
	const char *root = copy_fixture("radeon");
	const struct layout *l = layout_of(1, 3);
	uint8_t *b = make_blob(l, &std_vals);
	struct run r;
	int n;

	put64(b, 112, (1ull << 1) | (1ull << 36)); /* PPT1 + hotspot */
	write_file(root, "card0/device/gpu_metrics", b, l->size);
	free(b);
	ck_assert_int_eq(run_init(&r, root), 0);
	run_poll(&r);
	run_poll(&r);
	ck_near(rec_get("accel_throttled_seconds_total", "reason=\"power\"", &n), 1);
	ck_assert_int_eq(n, 2);
	ck_near(rec_get("accel_throttled_seconds_total", "reason=\"thermal\"", NULL), 1);
	ck_near(rec_get("accel_throttled_seconds_total", "reason=\"current\"", NULL), 0);
	ck_near(rec_get("accel_throttled_seconds_total", "reason=\"other\"", NULL), 0);
	/* the table's energy stands still over the two polls while hwmon
	 * reads 63 W: not a source, power is integrated instead */
	check_energy_from_power("amdgpu0");
	ck_assert_int_eq(rec_log_count("amdgpu0: gpu_metrics energy_accumulator does not "
				       "advance while power is 63.0 W: energy is "
				       "integrated from power instead"),
			 1);
	/* hwmon power wins over the table's socket power */
	ck_near(rec_get("accel_power_watts", "amdgpu0", NULL), 63.0);
	ck_assert_int_eq((int)fake_am_read_errors(r.ctx), 0);
	amdgpu_collector.fini(r.ctx, r.state);
	drop_fixture();
}
END_TEST

/* Identity strings longer than 63 bytes reach accel_info whole: the device
 * buffers hold AM_LABEL_VALUE_MAX bytes (64-byte ones cut the model, vbios
 * and uuid). */
START_TEST(test_long_identity)
{
	const char *root = copy_fixture("radeon");
	char model[201], vbios[121], uuid[101], want[512];
	struct run r;

	memset(model, 'm', sizeof(model) - 1);
	model[sizeof(model) - 1] = '\0';
	memset(vbios, 'v', sizeof(vbios) - 1);
	vbios[sizeof(vbios) - 1] = '\0';
	memset(uuid, 'u', sizeof(uuid) - 1);
	uuid[sizeof(uuid) - 1] = '\0';
	write_file(root, "card0/device/product_name", model, strlen(model));
	write_file(root, "card0/device/vbios_version", vbios, strlen(vbios));
	write_file(root, "card0/device/unique_id", uuid, strlen(uuid));
	ck_assert_int_eq(run_init(&r, root), 0);
	run_poll(&r);
	snprintf(want, sizeof(want), "uuid=\"%s\"", uuid);
	ck_assert_msg(!isnan(rec_get("accel_info", want, NULL)), "%s", want);
	snprintf(want, sizeof(want), "model=\"%s\"", model);
	ck_assert_msg(!isnan(rec_get("accel_info", want, NULL)), "%s", want);
	snprintf(want, sizeof(want), "firmware_version=\"%s\"", vbios);
	ck_assert_msg(!isnan(rec_get("accel_info", want, NULL)), "%s", want);
	amdgpu_collector.fini(r.ctx, r.state);
	drop_fixture();
}
END_TEST

START_TEST(test_radeon_consumer)
{
	const char *root = copy_fixture("radeon");
	struct run r;
	const char *id = "device=\"amdgpu0\",uuid=\"0000:03:00.0\"";
	int n;

	ck_assert_int_eq(run_init(&r, root), 0);
	run_poll(&r);
	run_poll(&r);
	/* the Intel iGPU, connectors and render nodes are not devices */
	ck_assert(isnan(rec_get("accel_info", "amdgpu1", NULL)));
	ck_assert_ptr_nonnull(strstr(fake_am_log(A, 0), "1 card(s) (1 AMD, 0 Hygon)"));
	/* no unique_id: uuid is the PCI address */
	ck_assert(!isnan(rec_get("accel_info", id, NULL)));
	ck_assert(!isnan(
	    rec_get("accel_info", "vendor=\"AMD\",model=\"AMD 1002:744c\"", NULL)));
	ck_near(rec_get("accel_utilization_ratio", id, NULL), 0.23);
	ck_near(rec_get("accel_engine_utilization_ratio", "engine=\"vcn\"", NULL), 0.12);
	ck_near(rec_get("accel_power_watts", id, NULL), 63.0);
	/* hwmon freq wins over pp_dpm_sclk */
	ck_near(rec_get("accel_clock_hertz", "clock=\"graphics\"", &n), 2.482e9);
	ck_assert_int_eq(n, 2);
	ck_near(rec_get("accel_clock_hertz", "clock=\"memory\"", NULL), 1.249e9);
	ck_near(rec_get("accel_temperature_celsius", "sensor=\"edge\"", NULL), 51.0);
	/* energy from power: derived by the aggregator */
	check_energy_from_power(id);
	ck_assert(isnan(rec_get("accel_ecc_errors_total", id, NULL)));
	ck_assert(isnan(rec_get("accel_pcie_receive_bytes_total", id, NULL)));
	ck_assert_int_eq((int)fake_am_read_errors(r.ctx), 0);
	amdgpu_collector.fini(r.ctx, r.state);
	drop_fixture();
}
END_TEST

START_TEST(test_hygon_dcu)
{
	const char *root = copy_fixture("hygon");
	struct run r;
	const char *id = "device=\"amdgpu0\",uuid=\"0d94c0ffee000001\"";

	ck_assert_int_eq(run_init(&r, root), 0);
	run_poll(&r);
	ck_assert_ptr_nonnull(strstr(fake_am_log(A, 0), "1 card(s) (0 AMD, 1 Hygon)"));
	ck_assert(!isnan(rec_get("accel_info",
				 "vendor=\"Hygon\",model=\"Hygon 1d94:55b7\",serial=\"\","
				 "pci_bus_id=\"0000:41:00.0\"",
				 NULL)));
	ck_near(rec_get("accel_utilization_ratio", id, NULL), 0.64);
	ck_near(rec_get("accel_power_watts", id, NULL), 210.5);
	/* no labels: temp1 is "edge", freq1 is the graphics clock */
	ck_near(rec_get("accel_temperature_celsius", "sensor=\"edge\"", NULL), 55.0);
	ck_near(rec_get("accel_clock_hertz", "clock=\"graphics\"", NULL), 1.5e9);
	ck_near(rec_get("accel_ecc_errors_total", "type=\"corrected\"", NULL), 3);
	amdgpu_collector.fini(r.ctx, r.state);
	drop_fixture();
}
END_TEST

START_TEST(test_bad_values)
{
	const char *root = copy_fixture("bad");
	struct run r;
	const struct layout *l8 = layout_of(1, 8);
	uint8_t *b = make_blob(l8, &std_vals);
	uint8_t *big = calloc(1, AMDGPU_GM_MAX_BYTES + 4096);
	const char *c1 = "device=\"amdgpu1\"";

	/* card2: a v1.8 table cut short; card3: more than 128 KiB */
	write_file(root, "card2/device/gpu_metrics", b, l8->size - 1);
	memcpy(big, b, l8->size);
	write_file(root, "card3/device/gpu_metrics", big, AMDGPU_GM_MAX_BYTES + 4096);

	ck_assert_int_eq(run_init(&r, root), 0);
	run_poll(&r);
	/* 11 bad text files on card1 (busy, mem busy, vcn > 100, vram used
	 * and total, vis_vram used, gtt total, power, temp2, umc ras,
	 * pp_dpm_sclk) + the two gpu_metrics; this poll's pcie_bw read went to
	 * card0 (no file: off) */
	ck_assert_int_eq((int)fake_am_read_errors(r.ctx), 14);
	run_poll(&r);
	/* with the file layer's back-off a bad file is read again only after
	 * 10 s (before: every poll, 13 or 14 errors each) */
	ck_assert_int_eq((int)fake_am_read_errors(r.ctx), 14);
	for (int i = 0; i < 9; i++)
		run_poll(&r);
	/* 11 s: every bad text file and table once more (pcie_bw's 10 s
	 * interval is due again too) */
	ck_assert_int_eq((int)fake_am_read_errors(r.ctx), 28);

	/* card0: nothing to read, but it is still a device */
	ck_assert(!isnan(rec_get("accel_info", "amdgpu0", NULL)));
	ck_assert_double_eq(rec_get("accel_up", "amdgpu0", NULL), 0);
	ck_assert(isnan(rec_get("accel_utilization_ratio", "amdgpu0", NULL)));
	ck_assert(isnan(rec_get("accel_memory_used_bytes", "amdgpu0", NULL)));
	ck_assert(isnan(rec_get("accel_power_watts", "amdgpu0", NULL)));
	ck_assert(isnan(rec_get("accel_energy_joules_total", "amdgpu0", NULL)));

	/* card1: the garbage is absent, the good values are there */
	ck_assert(isnan(rec_get("accel_utilization_ratio", c1, NULL)));
	ck_assert(isnan(rec_get("accel_memory_bandwidth_utilization_ratio", c1, NULL)));
	ck_assert(isnan(rec_get("accel_engine_utilization_ratio", c1, NULL)));
	ck_assert(isnan(rec_get("accel_memory_used_bytes", c1, NULL)));
	ck_assert(isnan(rec_get("accel_memory_total_bytes", c1, NULL)));
	ck_assert(isnan(rec_get("accel_power_watts", c1, NULL)));
	ck_assert(isnan(rec_get("accel_clock_hertz", c1, NULL)));
	ck_assert(isnan(rec_get("accel_ecc_errors_total", "block=\"umc\"", NULL)));
	ck_near(rec_get("accel_memory_pool_used_bytes", "pool=\"gtt\"", NULL), 1048576.0);
	ck_assert(
	    isnan(rec_get("accel_memory_pool_used_bytes", "pool=\"vis_vram\"", NULL)));
	/* the path is the card's (its PCI directory, or a copy of it in the
	 * dist tarball, where links are dereferenced) */
	ck_assert_int_ge(rec_log_count("/mem_info_vis_vram_used: not an unsigned number"),
			 1);
	ck_assert(isnan(rec_get("accel_memory_pool_total_bytes", "pool=\"gtt\"", NULL)));
	ck_near(rec_get("accel_power_limit_watts", c1, NULL), 300.0);
	ck_near(rec_get("accel_temperature_celsius", "sensor=\"edge\"", NULL), 45.0);
	ck_assert(
	    isnan(rec_get("accel_temperature_celsius", "sensor=\"junction\"", NULL)));
	ck_near(
	    rec_get("accel_ecc_errors_total", "type=\"uncorrected\",block=\"gfx\"", NULL),
	    1);
	ck_assert_double_eq(rec_get("accel_up", c1, NULL), 1);

	/* truncated and oversized tables: no energy, logged, rest reported */
	ck_assert(isnan(rec_get("accel_energy_joules_total", "amdgpu2", NULL)));
	ck_assert(isnan(rec_get("accel_energy_joules_total", "amdgpu3", NULL)));
	ck_near(rec_get("accel_utilization_ratio", "amdgpu2", NULL), 0.5);
	ck_near(rec_get("accel_utilization_ratio", "amdgpu3", NULL), 0.5);
	ck_assert_int_ge(rec_log_count("\"123456789012345678901234567890\""), 1);
	ck_assert_int_ge(rec_log_count("mem_info_vram_used: not an unsigned "
				       "number: \"-5\""),
			 1);

	free(big);
	free(b);
	amdgpu_collector.fini(r.ctx, r.state);
	drop_fixture();
}
END_TEST

START_TEST(test_no_devices)
{
	struct run r;
	/* a root without class/drm, and one whose cards are not ours */
	ck_assert_int_eq(run_init(&r, "/nonexistent-accelmon"), -ENODEV);
	const char *root = copy_fixture("radeon");
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s/class/drm/card0'", root);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(run_init(&r, root), -ENODEV);
	ck_assert_int_ge(rec_log_count("no amdgpu/hydcu cards"), 1);
	drop_fixture();
}
END_TEST

/* ---- rescan and the shapes of issue 10 ---- */

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	ck_assert_msg(system(cmd) == 0, "%s", cmd);
}

static double up_of(const char *dev)
{
	return rec_get("accel_up", dev, NULL);
}

/* A card that appears after init is found at the next rescan, one that
 * disappears reads accel_up 0 (its other series retired) until it returns;
 * a rescan that finds nothing new allocates nothing. */
START_TEST(test_rescan)
{
	const char *root = copy_fixture("mi300x");
	struct run r;
	struct mallinfo2 m0, m1;
	uint64_t interns;

	sh("mv '%s/class/drm/card7' '%s/card7.away'", root, root);
	ck_assert_int_eq(run_init(&r, root), 0);
	ck_assert_ptr_nonnull(strstr(fake_am_log(A, 0), "7 card(s)"));
	run_poll(&r);
	ck_assert_ptr_null(fake_am_match(A, "accel_up", "amdgpu7\""));

	/* nothing changed: no allocation, no new series */
	interns = fake_am_interns(A);
	m0 = mallinfo2();
	ck_assert_int_eq(amdgpu_collector.rescan(r.ctx, r.state), 0);
	m1 = mallinfo2();
	ck_assert_uint_eq(m1.uordblks, m0.uordblks);
	ck_assert_uint_eq(fake_am_interns(A), interns);

	/* card7 arrives, card3 goes */
	sh("mv '%s/card7.away' '%s/class/drm/card7' && mv '%s/class/drm/card3' "
	   "'%s/card3.away'",
	   root, root, root, root);
	ck_assert_int_eq(amdgpu_collector.rescan(r.ctx, r.state), 0);
	run_poll(&r);
	ck_assert_double_eq(up_of("amdgpu7\""), 1);
	ck_near(rec_get("accel_utilization_ratio", "amdgpu7\"", NULL), 1.0);
	ck_assert_int_eq(
	    rec_log_count("amdgpu7: new card 0000:75:00.0 (AMD Instinct MI300X)"), 1);
	ck_assert_double_eq(up_of("amdgpu3\""), 0);
	ck_assert(fake_am_match(A, "accel_utilization_ratio", "amdgpu3\"")->retired);
	ck_assert(fake_am_match(A, "accel_power_watts", "amdgpu3\"")->retired);
	ck_assert(!fake_am_match(A, "accel_info", "amdgpu3\"")->retired);
	ck_assert_int_eq(
	    rec_log_count("amdgpu3: card3 is gone; reporting accel_up 0 until "
			  "it returns"),
	    1);
	/* still gone at the next rescan: one line, still 0 */
	ck_assert_int_eq(amdgpu_collector.rescan(r.ctx, r.state), 0);
	run_poll(&r);
	ck_assert_double_eq(up_of("amdgpu3\""), 0);
	ck_assert_int_eq(rec_log_count("card3 is gone"), 1);

	/* card3 returns: the same series again */
	const struct fake_series *u3 =
	    fake_am_match(A, "accel_utilization_ratio", "amdgpu3\"");
	sh("mv '%s/card3.away' '%s/class/drm/card3'", root, root);
	ck_assert_int_eq(amdgpu_collector.rescan(r.ctx, r.state), 0);
	run_poll(&r);
	ck_assert_double_eq(up_of("amdgpu3\""), 1);
	ck_assert_ptr_eq(fake_am_match(A, "accel_utilization_ratio", "amdgpu3\""), u3);
	ck_assert(!u3->retired);
	ck_near(rec_get("accel_utilization_ratio", "amdgpu3\"", NULL), 0.42);
	ck_assert_int_eq(rec_log_count("amdgpu3: card3 is back"), 1);
	ck_assert_int_eq((int)fake_am_read_errors(r.ctx), 0);
	amdgpu_collector.fini(r.ctx, r.state);
	drop_fixture();
}
END_TEST

/* An AMD card bound to the old radeon driver is not an amdgpu device. */
START_TEST(test_radeon_driver)
{
	const char *root = copy_fixture("radeon");
	const char *dev = "class/drm/card0/device";
	struct run r;

	sh("cd '%s/%s' && ln -sfn ../../../bus/pci/drivers/radeon driver && "
	   "sed -i 's/^DRIVER=.*/DRIVER=radeon/' uevent",
	   root, dev);
	ck_assert_int_eq(run_init(&r, root), -ENODEV);
	ck_assert_int_eq(
	    rec_log_count("card0: AMD card (vendor 0x1002) with driver radeon "
			  "is not an amdgpu device; skipped"),
	    1);
	ck_assert_int_eq(rec_log_count("no amdgpu/hydcu cards"), 1);
	drop_fixture();
}
END_TEST

/* Pad a file of the fixture with NUL bytes up to a page. */
static void pad_nul(const char *root, const char *rel)
{
	sh("cd '%s/class/drm/card0/device' && f='%s' && s=$(stat -c %%s \"$f\") && "
	   "head -c $((4096 - s)) /dev/zero >>\"$f\"",
	   root, rel);
}

/* Files padded with NUL bytes (dump tools, some drivers) read as their
 * text, not as garbage nor a vanished card. */
START_TEST(test_nul_padded)
{
	const char *root = copy_fixture("radeon");
	const char *id = "device=\"amdgpu0\",uuid=\"0000:03:00.0\"";
	struct run r;

	pad_nul(root, "vendor");
	pad_nul(root, "device");
	pad_nul(root, "uevent");
	pad_nul(root, "gpu_busy_percent");
	pad_nul(root, "mem_info_vram_total");
	pad_nul(root, "hwmon/hwmon4/power1_average");
	ck_assert_int_eq(run_init(&r, root), 0);
	run_poll(&r);
	ck_assert(!isnan(
	    rec_get("accel_info", "vendor=\"AMD\",model=\"AMD 1002:744c\"", NULL)));
	ck_near(rec_get("accel_utilization_ratio", id, NULL), 0.23);
	ck_near(rec_get("accel_power_watts", id, NULL), 63.0);
	ck_assert(!isnan(rec_get("accel_memory_total_bytes", id, NULL)));
	ck_assert_int_eq((int)fake_am_read_errors(r.ctx), 0);
	amdgpu_collector.fini(r.ctx, r.state);
	drop_fixture();
}
END_TEST

/* RDNA3/RDNA4 tables carry energy_accumulator 0 while hwmon reads power:
 * energy is integrated from power; a random body's energy (4.6e13 J) and a
 * VRAM size of 2^64-1 are refused as implausible. */
START_TEST(test_energy_zero_and_implausible)
{
	const char *root = copy_fixture("radeon");
	const struct layout *l = layout_of(1, 3);
	struct blob_vals v = std_vals;
	struct run r;
	const char *id = "device=\"amdgpu0\",uuid=\"0000:03:00.0\"";

	v.energy = 0;
	write_blob(root, 0, l, &v);
	ck_assert_int_eq(run_init(&r, root), 0);
	run_poll(&r);
	check_energy_from_power(id);
	ck_assert_int_eq(rec_log_count("amdgpu0: gpu_metrics energy_accumulator reads 0 "
				       "while power is 63.0 W: energy is integrated from "
				       "power instead"),
			 1);
	amdgpu_collector.fini(r.ctx, r.state);

	v.energy = (uint64_t)(4.6e13 * 65536);
	write_blob(root, 0, l, &v);
	write_file(root, "card0/device/mem_info_vram_total", "18446744073709551615\n",
		   21);
	ck_assert_int_eq(run_init(&r, root), 0);
	run_poll(&r);
	check_energy_from_power(id);
	ck_assert_int_eq(rec_log_count("amdgpu0: gpu_metrics v1.3: implausible "
				       "energy_accumulator ignored"),
			 1);
	ck_assert(isnan(rec_get("accel_memory_total_bytes", id, NULL)));
	ck_assert_int_eq(rec_log_count("mem_info_vram_total: 18446744073709551615 is not "
				       "plausible (above 70368744177664)"),
			 1);
	ck_assert_int_eq((int)fake_am_read_errors(r.ctx), 1);
	amdgpu_collector.fini(r.ctx, r.state);
	drop_fixture();
}
END_TEST

/* class/drm as a plain file or a symlink loop is an error, not "nothing
 * found". */
START_TEST(test_class_not_a_dir)
{
	const char *root = copy_fixture("radeon");
	struct run r;

	sh("rm -rf '%s/class/drm' && echo x >'%s/class/drm'", root, root);
	ck_assert_int_eq(run_init(&r, root), -ENOTDIR);
	ck_assert_int_eq(rec_log_count("class/drm: cannot open as a directory: Not a "
				       "directory"),
			 1);
	sh("rm -f '%s/class/drm' && ln -s drm '%s/class/drm'", root, root);
	ck_assert_int_eq(run_init(&r, root), -ELOOP);
	ck_assert_int_eq(rec_log_count("class/drm: cannot open as a directory: Too many "
				       "levels of symbolic links"),
			 1);
	drop_fixture();
}
END_TEST

/* driver_version: /sys/module/<driver>/version under the sysfs root. */
START_TEST(test_driver_version)
{
	const char *root = copy_fixture("radeon");
	struct run r;

	sh("mkdir -p '%s/module/amdgpu' && printf '6.7.0\\n' >'%s/module/amdgpu/version'",
	   root, root);
	ck_assert_int_eq(run_init(&r, root), 0);
	run_poll(&r);
	ck_assert(!isnan(rec_get("accel_info", "driver_version=\"6.7.0\"", NULL)));
	amdgpu_collector.fini(r.ctx, r.state);
	drop_fixture();
}
END_TEST

static Suite *amdgpu_suite(void)
{
	Suite *s = suite_create("amdgpu");
	TCase *tp = tcase_create("gpu_metrics");
	TCase *tc = tcase_create("collector");

	tcase_add_loop_test(tp, test_gm_each_version, 0, NLAYOUTS);
	tcase_add_loop_test(tp, test_gm_truncated_every_length, 0, NLAYOUTS);
	tcase_add_loop_test(tp, test_gm_oversized, 0, NLAYOUTS);
	tcase_add_loop_test(tp, test_gm_all_ones_is_absent, 0, NLAYOUTS);
	tcase_add_test(tp, test_gm_indep_throttle);
	tcase_add_test(tp, test_gm_implausible);
	tcase_add_loop_test(tp, test_gm_bad_headers, 0,
			    (int)(sizeof(bad_cases) / sizeof(bad_cases[0])));
	suite_add_tcase(s, tp);

	tcase_add_test(tc, test_mi300x_node);
	tcase_add_test(tc, test_pcie_interval);
	tcase_add_test(tc, test_pcie_one_read_per_poll);
	tcase_add_test(tc, test_v13_throttle_mask);
	tcase_add_test(tc, test_radeon_consumer);
	tcase_add_test(tc, test_long_identity);
	tcase_add_test(tc, test_hygon_dcu);
	tcase_add_test(tc, test_bad_values);
	tcase_add_test(tc, test_no_devices);
	tcase_add_test(tc, test_rescan);
	tcase_add_test(tc, test_radeon_driver);
	tcase_add_test(tc, test_nul_padded);
	tcase_add_test(tc, test_energy_zero_and_implausible);
	tcase_add_test(tc, test_class_not_a_dir);
	tcase_add_test(tc, test_driver_version);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(amdgpu_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
