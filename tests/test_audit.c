/* accelmon-audit against record files with known truth: a device busy
 * exactly 30% of the time, one idle, one lost for an hour, one whose
 * counters reset, a clock that jumps back, an agent restart; plus damaged
 * files. The report's figures must match within 0.1%.
 */
#include <check.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/audit.h"
#include "exporters/records_format/records_frame.h"
#include "rec_gen.h"

#define T0 1764028800000LL /* 2025-11-25T00:00:00Z */
#define IV 15000
#define NB 5761 /* batches: 5760 intervals = 24 h */

static char dir[64];

static void mkdir_tmp(void)
{
	snprintf(dir, sizeof(dir), "/tmp/amaudit-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void rm_dir(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

struct tdev {
	uint32_t info, busy, sm, tensor, energy, mem;
	double vbusy, venergy, vsm, vtensor;
};

static void def_dev(struct recgen *g, struct tdev *d, const char *name, const char *model)
{
	char dl[64], ul[64], ml[96];
	snprintf(dl, sizeof(dl), "device=%s", name);
	snprintf(ul, sizeof(ul), "uuid=GPU-%s", name);
	snprintf(ml, sizeof(ml), "model=%s", model);
	const char *info[] = {dl, ul, "vendor=nvidia", ml, NULL};
	const char *l[] = {dl, ul, NULL};
	memset(d, 0, sizeof(*d));
	d->info =
	    recgen_series(g, "accel_info", AMREC__SERIES_TYPE__SERIES_INFO, NULL, info);
	d->busy = recgen_series(g, "accel_busy_seconds_total",
				AMREC__SERIES_TYPE__SERIES_COUNTER, "seconds", l);
	d->sm = recgen_series(g, "accel_sm_active_seconds_total",
			      AMREC__SERIES_TYPE__SERIES_COUNTER, "seconds", l);
	d->tensor = recgen_series(g, "accel_tensor_active_seconds_total",
				  AMREC__SERIES_TYPE__SERIES_COUNTER, "seconds", l);
	d->energy = recgen_series(g, "accel_energy_joules_total",
				  AMREC__SERIES_TYPE__SERIES_COUNTER, "joules", l);
	d->mem = recgen_series(g, "accel_memory_used_bytes",
			       AMREC__SERIES_TYPE__SERIES_GAUGE, "bytes", l);
}

/* Append d's six values to refs/vals (refs ascending by construction). */
static size_t put_dev(const struct tdev *d, double mem, uint32_t *refs, double *vals,
		      size_t k)
{
	uint32_t r[] = {d->info, d->busy, d->sm, d->tensor, d->energy, d->mem};
	double v[] = {1, d->vbusy, d->vsm, d->vtensor, d->venergy, mem};
	for (int i = 0; i < 6; i++) {
		refs[k] = r[i];
		vals[k++] = v[i];
	}
	return k;
}

/* Node "truth": gpu0 busy 30%, gpu1 idle, gpu2 lost for an hour, gpu3
 * reset. Interval k runs from batch k-1 to batch k. */
static void write_truth(const char *path)
{
	struct recgen g;
	struct tdev d[4];
	uint32_t refs[64];
	double vals[64];

	ck_assert_int_eq(recgen_open(&g, path, "truth", T0, IV, 0), 0);
	def_dev(&g, &d[0], "nvidia0", "NVIDIA A100-SXM4-40GB");
	def_dev(&g, &d[1], "nvidia1", "NVIDIA A100-SXM4-40GB");
	def_dev(&g, &d[2], "nvidia2", "NVIDIA H100 80GB HBM3");
	def_dev(&g, &d[3], "nvidia3", "NVIDIA H100 80GB HBM3");
	d[3].vbusy = 1000; /* counters need not start at 0 */
	d[3].venergy = 5e6;
	for (int k = 0; k < NB; k++) {
		size_t n = 0;
		if (k > 0) {
			bool busy = (k % 10) < 3;
			d[0].vbusy += busy ? 15 : 0;
			d[0].vsm += busy ? 12 : 0;
			d[0].vtensor += busy ? 7.5 : 0;
			d[0].venergy += busy ? 6000 : 900;
			d[1].venergy += 55 * 15;
			d[2].vbusy += 7.5;
			d[2].venergy += 250 * 15;
			if (k == 3000) {
				/* driver reload: counters restart from 0 and
				 * already counted this interval */
				d[3].vbusy = 9;
				d[3].venergy = 300 * 15;
			} else {
				d[3].vbusy += 9;
				d[3].venergy += 300 * 15;
			}
		}
		bool busy0 = k > 0 && (k % 10) < 3;
		n = put_dev(&d[0], busy0 ? 40 * 1073741824.0 : 1073741824.0, refs, vals,
			    n);
		n = put_dev(&d[1], 0, refs, vals, n);
		if (k < 2000 || k >= 2240)
			n = put_dev(&d[2], 2e9, refs, vals, n);
		n = put_dev(&d[3], 3e9, refs, vals, n);
		ck_assert_int_eq(recgen_batch(&g, T0 + (int64_t)k * IV, refs, vals, n),
				 0);
	}
	ck_assert_int_gt(recgen_close(&g), 0);
}

/* Node "jumpy": busy 100%; at batch 1000 the clock steps back 5 min. Then
 * an agent restart: a second file starting 10 min after the first ends,
 * counters from 0 again. */
static void write_jumpy(const char *path1, const char *path2)
{
	struct recgen g;
	struct tdev d;
	uint32_t refs[8];
	double vals[8];
	int64_t t = T0;

	ck_assert_int_eq(recgen_open(&g, path1, "jumpy", T0, IV, 0), 0);
	def_dev(&g, &d, "nvidia0", "NVIDIA L4");
	for (int k = 0; k < 2000; k++) {
		if (k > 0) {
			t += k == 1000 ? -300000 : IV;
			d.vbusy += 15;
			d.venergy += 72 * 15;
		}
		put_dev(&d, 1e9, refs, vals, 0);
		ck_assert_int_eq(recgen_batch(&g, t, refs, vals, 6), 0);
	}
	ck_assert_int_gt(recgen_close(&g), 0);
	t += 600000;
	ck_assert_int_eq(recgen_open(&g, path2, "jumpy", t, IV, 1), 0);
	def_dev(&g, &d, "nvidia0", "NVIDIA L4");
	for (int k = 0; k < 1001; k++) {
		if (k > 0) {
			t += IV;
			d.vbusy += 15;
			d.venergy += 72 * 15;
		}
		put_dev(&d, 1e9, refs, vals, 0);
		ck_assert_int_eq(recgen_batch(&g, t, refs, vals, 6), 0);
	}
	ck_assert_int_gt(recgen_close(&g), 0);
}

static const struct audit_opts dflt = {
    .from_ms = INT64_MIN,
    .to_ms = INT64_MAX,
    .idle_below = 0.05,
    .top = 10,
    .gap_intervals = 3,
};

static void run_audit(struct audit *a, const struct audit_opts *o, char **paths, size_t n)
{
	audit_init(a, o);
	a->warn = NULL;
	audit_sort_files(a, paths, n);
	for (size_t i = 0; i < n; i++)
		audit_file(a, paths[i]);
	ck_assert_int_eq(audit_finish(a), 0);
}

static const struct audit_device *dev(const struct audit *a, const char *node,
				      const char *name)
{
	for (size_t i = 0; i < a->ndev; i++)
		if (!strcmp(a->dev[i]->node, node) && !strcmp(a->dev[i]->device, name))
			return a->dev[i];
	ck_abort_msg("no device %s/%s", node, name);
	return NULL;
}

#define NEAR(got, want)                                                                  \
	ck_assert_msg(fabs((double)(got) - (double)(want)) <=                            \
			  1e-3 * fabs((double)(want)) + 1e-9,                            \
		      "%s = %.9g, want %.9g", #got, (double)(got), (double)(want))

struct truth {
	const char *device;
	double observed_h, busy_h, idle_h, energy_kwh, idle_kwh, peak;
	double sm_h, tensor_h;
	unsigned resets, gaps;
	double gap_h;
};

START_TEST(test_known_truth)
{
	char p1[128], *paths[1] = {p1};
	struct audit a;
	mkdir_tmp();
	snprintf(p1, sizeof(p1), "%s/truth.amrec", dir);
	write_truth(p1);
	run_audit(&a, &dflt, paths, 1);
	ck_assert(!a.skipped);
	ck_assert_uint_eq(a.in.batches, NB);
	static const struct truth want[] = {
	    {"nvidia0", 24, 7.2, 16.8, (1728 * 6000 + 4032 * 900) / 3.6e6,
	     4032 * 900 / 3.6e6, 40 * 1073741824.0, 5.76, 3.6, 0, 0, 0},
	    {"nvidia1", 24, 0, 24, 55 * 86400 / 3.6e6, 55 * 86400 / 3.6e6, 0, 0, 0, 0, 0,
	     0},
	    {"nvidia2", (5760 - 241) * 15 / 3600.0, (5760 - 241) * 7.5 / 3600.0, 0,
	     (5760 - 241) * 3750 / 3.6e6, 0, 2e9, 0, 0, 0, 1, 241 * 15 / 3600.0},
	    {"nvidia3", 24, 14.4, 0, 7.2, 0, 3e9, 0, 0, 2, 0, 0},
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const struct audit_device *d = dev(&a, "truth", want[i].device);
		const struct audit_totals *t = &d->t;
		NEAR(t->observed_s / 3600, want[i].observed_h);
		NEAR(t->busy_s / 3600, want[i].busy_h);
		NEAR(t->idle_s / 3600, want[i].idle_h);
		NEAR(t->energy_j / 3.6e6, want[i].energy_kwh);
		NEAR(t->idle_energy_j / 3.6e6, want[i].idle_kwh);
		NEAR(t->peak_mem, want[i].peak);
		NEAR(t->sm_s / 3600, want[i].sm_h);
		NEAR(t->tensor_s / 3600, want[i].tensor_h);
		ck_assert_uint_eq(t->resets, want[i].resets);
		ck_assert_uint_eq(t->gaps, want[i].gaps);
		NEAR(t->gap_s / 3600, want[i].gap_h);
		ck_assert_uint_eq(t->clock_jumps, 0);
	}
	/* roll-ups: models, node, total, equivalent busy accelerators */
	ck_assert_uint_eq(a.nmodels, 2);
	ck_assert_str_eq(a.models[0].name, "NVIDIA A100-SXM4-40GB");
	NEAR(a.models[0].t.busy_s / 3600, 7.2);
	ck_assert_uint_eq(a.models[1].t.devices, 2);
	ck_assert_uint_eq(a.nnodes, 1);
	NEAR(a.total.t.busy_s / 3600, 7.2 + 0 + (5760 - 241) * 7.5 / 3600.0 + 14.4);
	NEAR(audit_period_s(&a) / 3600, 24);
	NEAR(a.total.t.busy_s / audit_period_s(&a),
	     (7.2 + (5760 - 241) * 7.5 / 3600.0 + 14.4) / 24);
	ck_assert_uint_eq(a.total.t.resets, 2);
	ck_assert_uint_eq(a.total.t.gaps, 1);
	audit_free(&a);

	/* a threshold above 30% makes gpu2 (50%) busy but nothing of gpu0's
	 * idle intervals changes; 0.55 makes gpu2 idle all the time */
	struct audit_opts o = dflt;
	o.idle_below = 0.55;
	run_audit(&a, &o, paths, 1);
	NEAR(dev(&a, "truth", "nvidia2")->t.idle_s / 3600, (5760 - 241) * 15 / 3600.0);
	NEAR(dev(&a, "truth", "nvidia0")->t.idle_s / 3600, 16.8);
	audit_free(&a);

	/* time range: hour 1 to 2 holds 24 whole periods of gpu0's pattern */
	o = dflt;
	o.from_ms = T0 + 3600000;
	o.to_ms = T0 + 7200000;
	run_audit(&a, &o, paths, 1);
	NEAR(dev(&a, "truth", "nvidia0")->t.observed_s, 3600);
	NEAR(dev(&a, "truth", "nvidia0")->t.busy_s, 0.3 * 3600);
	NEAR(audit_period_s(&a), 3600);
	audit_free(&a);
	rm_dir();
}
END_TEST

START_TEST(test_clock_jump_and_restart)
{
	char p1[128], p2[128], *paths[2] = {p2, p1};
	struct audit a;
	mkdir_tmp();
	snprintf(p1, sizeof(p1), "%s/j1.amrec", dir);
	snprintf(p2, sizeof(p2), "%s/j2.amrec", dir);
	write_jumpy(p1, p2);
	/* given in the wrong order: audit_sort_files puts them right */
	run_audit(&a, &dflt, paths, 2);
	const struct audit_totals *t = &dev(&a, "jumpy", "nvidia0")->t;
	ck_assert_uint_eq(t->clock_jumps, 1);
	ck_assert_uint_eq(t->gaps, 1);
	ck_assert_uint_eq(t->resets, 0);
	/* 1999 steps in file 1 minus the jump, 1000 in file 2 */
	NEAR(t->observed_s, (1998 + 1000) * 15.0);
	NEAR(t->busy_s, (1998 + 1000) * 15.0);
	NEAR(t->gap_s, 600);
	NEAR(t->energy_j, (1998 + 1000) * 15.0 * 72);
	ck_assert_uint_eq(a.in.files, 2);
	audit_free(&a);
	rm_dir();
}
END_TEST

/* A file given twice under different names (a backup copy next to it): it
 * is read once and the figures are those of the file alone; the clock jump
 * inside it is still counted once. With the file check off, the accounting
 * alone skips the copy's batches as an overlap of the same run rather than
 * counting a clock jump and the same hours again. */
START_TEST(test_duplicate_file)
{
	char p1[128], p2[128], cp[128], cmd[512];
	char *paths[3] = {cp, p2, p1};
	struct audit a;

	mkdir_tmp();
	snprintf(p1, sizeof(p1), "%s/j1.amrec", dir);
	snprintf(p2, sizeof(p2), "%s/j2.amrec", dir);
	snprintf(cp, sizeof(cp), "%s/backup-of-j1.amrec", dir);
	write_jumpy(p1, p2);
	snprintf(cmd, sizeof(cmd), "cp %s %s", p1, cp);
	ck_assert_int_eq(system(cmd), 0);
	for (int check_files = 1; check_files >= 0; check_files--) {
		void *seen;
		audit_init(&a, &dflt);
		a.warn = NULL;
		seen = a.seen;
		if (!check_files)
			a.seen = NULL;
		audit_sort_files(&a, paths, 3);
		for (size_t i = 0; i < 3; i++)
			audit_file(&a, paths[i]);
		ck_assert_int_eq(audit_finish(&a), 0);
		const struct audit_totals *t = &dev(&a, "jumpy", "nvidia0")->t;
		ck_assert_msg(t->clock_jumps == 1, "check_files %d: clock jumps %llu",
			      check_files, (unsigned long long)t->clock_jumps);
		ck_assert_uint_eq(t->gaps, 1);
		ck_assert_uint_eq(t->resets, 0);
		NEAR(t->observed_s, (1998 + 1000) * 15.0);
		NEAR(t->busy_s, (1998 + 1000) * 15.0);
		NEAR(t->gap_s, 600);
		NEAR(t->energy_j, (1998 + 1000) * 15.0 * 72);
		ck_assert_uint_eq(a.in.duplicate_files, check_files ? 1 : 0);
		ck_assert_uint_eq(a.in.overlap_batches, check_files ? 0 : 2000);
		ck_assert(!a.skipped);
		{
			/* The report says what was set aside, not only the counts. */
			char *js = NULL, want[96];
			size_t jl = 0;
			FILE *jf = open_memstream(&js, &jl);

			ck_assert_int_eq(audit_write(&a, AUDIT_JSON, jf), 0);
			fclose(jf);
			snprintf(want, sizeof(want),
				 "\"duplicate_files\": %d, \"overlap_batches\": %d",
				 check_files ? 1 : 0, check_files ? 0 : 2000);
			ck_assert_msg(strstr(js, want), "JSON lacks %s", want);
			free(js);
		}
		a.seen = seen;
		audit_free(&a);
	}
	rm_dir();
}
END_TEST

/* Two files 15 s apart: a rotation (same run, counters go on) is bridged;
 * a fast restart (new run, counters from 0) is a gap, not a reset. */
START_TEST(test_rotation_and_restart)
{
	static const struct {
		const char *what;
		bool same_run;
		double observed_s;
		unsigned gaps, resets;
	} cases[] = {
	    {"rotation", true, 1999 * 15.0, 0, 0},
	    {"restart", false, 1998 * 15.0, 1, 0},
	};
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		char p1[128], p2[128], *paths[2] = {p1, p2};
		struct recgen g;
		struct tdev d;
		uint32_t refs[8];
		double vals[8];
		struct audit a;
		mkdir_tmp();
		snprintf(p1, sizeof(p1), "%s/r1.amrec", dir);
		snprintf(p2, sizeof(p2), "%s/r2.amrec", dir);
		for (int f = 0; f < 2; f++) {
			int64_t t0 = T0 + f * 1000LL * IV;
			ck_assert_int_eq(
			    recgen_open_run(&g, f ? p2 : p1, "rot", t0, IV, (uint64_t)f,
					    cases[c].same_run ? 42 : 42 + (uint64_t)f),
			    0);
			double busy = d.vbusy, energy = d.venergy;
			def_dev(&g, &d, "nvidia0", "NVIDIA L4");
			if (f && cases[c].same_run) {
				d.vbusy = busy;
				d.venergy = energy;
			}
			for (int k = 0; k < 1000; k++) {
				if (k > 0 || f) {
					d.vbusy += 6;
					d.venergy += 30 * 15;
				}
				put_dev(&d, 1e9, refs, vals, 0);
				ck_assert_int_eq(
				    recgen_batch(&g, t0 + (int64_t)k * IV, refs, vals, 6),
				    0);
			}
			ck_assert_int_gt(recgen_close(&g), 0);
		}
		run_audit(&a, &dflt, paths, 2);
		const struct audit_totals *t = &dev(&a, "rot", "nvidia0")->t;
		ck_assert_msg(t->gaps == cases[c].gaps, "%s: gaps %llu", cases[c].what,
			      (unsigned long long)t->gaps);
		ck_assert_uint_eq(t->resets, cases[c].resets);
		NEAR(t->observed_s, cases[c].observed_s);
		NEAR(t->busy_s, cases[c].observed_s * 0.4);
		NEAR(t->energy_j, cases[c].observed_s * 30);
		audit_free(&a);
		rm_dir();
	}
}
END_TEST

/* A device busy all the time whose polls straddle the snapshots: busy time
 * moves between neighbouring intervals (15.2 s, 14.8 s, ...) but the device
 * reads 100%, never more in an interval and not less in total. */
START_TEST(test_straddling_polls)
{
	char p1[128], *paths[1] = {p1};
	struct recgen g;
	struct tdev d;
	uint32_t refs[8];
	double vals[8];
	struct audit a;

	mkdir_tmp();
	snprintf(p1, sizeof(p1), "%s/s.amrec", dir);
	ck_assert_int_eq(recgen_open(&g, p1, "straddle", T0, IV, 0), 0);
	def_dev(&g, &d, "nvidia0", "NVIDIA L4");
	for (int k = 0; k < 1001; k++) {
		if (k > 0)
			d.vbusy += k % 2 ? 15.2 : 14.8;
		put_dev(&d, 1e9, refs, vals, 0);
		ck_assert_int_eq(recgen_batch(&g, T0 + (int64_t)k * IV, refs, vals, 6),
				 0);
	}
	ck_assert_int_gt(recgen_close(&g), 0);
	run_audit(&a, &dflt, paths, 1);
	const struct audit_totals *t = &dev(&a, "straddle", "nvidia0")->t;
	NEAR(t->observed_s, 1000 * 15.0);
	NEAR(t->busy_s, 1000 * 15.0);
	ck_assert(t->busy_s <= t->observed_s);
	audit_free(&a);
	rm_dir();
}
END_TEST

/* Busy time over the interval is carried forward, but boundedly: one step
 * far over its interval (a damaged or reset counter) is counted as a reset
 * and does not make the device read busy for hours; a moderate excess, and
 * the chunks of a collector polled every minute, are carried in full. 400
 * steps of 15 s; extra busy seconds are added at step 100. */
START_TEST(test_busy_carry_bounded)
{
	static const struct {
		const char *what;
		double per_step, extra;
		int chunk; /* busy time arrives every chunk steps */
		double busy_s;
		unsigned resets;
	} cases[] = {
	    {"odd step", 7.5, 3600, 1, 399 * 7.5 + 15, 1},
	    {"moderate step", 7.5, 40, 1, 400 * 7.5 + 40, 0},
	    {"1 min collector", 15, 0, 4, 400 * 15.0 - 45, 0},
	};
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		char p1[128], *paths[1] = {p1};
		struct recgen g;
		struct tdev d;
		uint32_t refs[8];
		double vals[8];
		struct audit a;

		mkdir_tmp();
		snprintf(p1, sizeof(p1), "%s/c.amrec", dir);
		ck_assert_int_eq(recgen_open(&g, p1, "carry", T0, IV, 0), 0);
		def_dev(&g, &d, "nvidia0", "NVIDIA L4");
		for (int k = 0; k <= 400; k++) {
			if (k > 0 && k % cases[c].chunk == 0)
				d.vbusy += cases[c].per_step * cases[c].chunk;
			if (k == 100)
				d.vbusy += cases[c].extra;
			put_dev(&d, 1e9, refs, vals, 0);
			ck_assert_int_eq(
			    recgen_batch(&g, T0 + (int64_t)k * IV, refs, vals, 6), 0);
		}
		ck_assert_int_gt(recgen_close(&g), 0);
		run_audit(&a, &dflt, paths, 1);
		const struct audit_totals *t = &dev(&a, "carry", "nvidia0")->t;
		NEAR(t->observed_s, 400 * 15.0);
		ck_assert_msg(fabs(t->busy_s - cases[c].busy_s) < 1e-3,
			      "%s: busy %.3f s, want %.3f", cases[c].what, t->busy_s,
			      cases[c].busy_s);
		ck_assert_msg(t->resets == cases[c].resets, "%s: resets %llu",
			      cases[c].what, (unsigned long long)t->resets);
		ck_assert(t->busy_s <= t->observed_s);
		audit_free(&a);
		rm_dir();
	}
}
END_TEST

/* One series definition with ref 2^24-1 (86 bytes that used to cost the
 * audit ~790 MB): skipped with a warning naming the file and the offset;
 * the definitions and batches after it are read as usual. */
START_TEST(test_far_series_ref)
{
	char p1[128], *paths[1] = {p1}, *msg = NULL;
	size_t msglen = 0;
	struct recgen g;
	struct tdev d0, d1;
	uint32_t refs[16];
	double vals[16];
	struct audit a;
	Amrec__Record rec = AMREC__RECORD__INIT;
	Amrec__SeriesDef def = AMREC__SERIES_DEF__INIT;
	char *names[] = {(char *)"device"}, *values[] = {(char *)"nvidia9"};
	uint8_t buf[256], hdr[16];
	long bad_off;

	mkdir_tmp();
	snprintf(p1, sizeof(p1), "%s/far.amrec", dir);
	ck_assert_int_eq(recgen_open(&g, p1, "far", T0, IV, 0), 0);
	def_dev(&g, &d0, "nvidia0", "NVIDIA L4");
	def.has_ref = true;
	def.ref = (1u << 24) - 1;
	def.family = (char *)"accel_busy_seconds_total";
	def.n_label_names = def.n_label_values = 1;
	def.label_names = names;
	def.label_values = values;
	def.has_resolution = true;
	def.resolution = 1e-3;
	rec.body_case = AMREC__RECORD__BODY_SERIES;
	rec.series = &def;
	size_t n = amrec__record__pack(&rec, buf);
	ck_assert_uint_lt(n, sizeof(buf));
	rec_frame_header(hdr, buf, n);
	fflush(g.f);
	bad_off = ftell(g.f);
	ck_assert_uint_eq(fwrite(hdr, 1, 16, g.f), 16);
	ck_assert_uint_eq(fwrite(buf, 1, n, g.f), n);
	def_dev(&g, &d1, "nvidia1", "NVIDIA L4");
	for (int k = 0; k <= 100; k++) {
		if (k > 0) {
			d0.vbusy += 3;
			d1.vbusy += 12;
		}
		size_t m = put_dev(&d0, 1e9, refs, vals, 0);
		m = put_dev(&d1, 2e9, refs, vals, m);
		ck_assert_int_eq(recgen_batch(&g, T0 + (int64_t)k * IV, refs, vals, m),
				 0);
	}
	ck_assert_int_gt(recgen_close(&g), 0);

	audit_init(&a, &dflt);
	a.warn = open_memstream(&msg, &msglen);
	ck_assert_ptr_nonnull(a.warn);
	audit_sort_files(&a, paths, 1);
	audit_file(&a, p1);
	ck_assert_int_eq(audit_finish(&a), 0);
	fclose(a.warn);
	a.warn = NULL;
	char want[256];
	snprintf(want, sizeof(want),
		 "%s: offset %ld: series definition with ref 16777215", p1, bad_off);
	ck_assert_msg(strstr(msg, want), "warnings: %s", msg);
	ck_assert_uint_eq(a.in.bad_records, 1);
	ck_assert(a.skipped);
	ck_assert_uint_eq(a.ndev, 2); /* no device for the bad definition */
	NEAR(dev(&a, "far", "nvidia0")->t.busy_s, 100 * 3.0);
	NEAR(dev(&a, "far", "nvidia1")->t.busy_s, 100 * 12.0);
	NEAR(dev(&a, "far", "nvidia1")->t.observed_s, 100 * 15.0);
	audit_free(&a);
	free(msg);
	rm_dir();
}
END_TEST

static void flip(const char *path, long off, uint8_t mask)
{
	int fd = open(path, O_RDWR);
	uint8_t b;
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, &b, 1, off), 1);
	b ^= mask;
	ck_assert_int_eq(pwrite(fd, &b, 1, off), 1);
	close(fd);
}

/* Damage one node's file; the other node's figures are unchanged, and the
 * damage is reported and counted. */
START_TEST(test_damaged_files)
{
	char p1[128], p2[128], p3[128], *paths[3] = {p1, p2, p3};
	struct audit a, ref;
	struct stat st;
	mkdir_tmp();
	snprintf(p1, sizeof(p1), "%s/truth.amrec", dir);
	snprintf(p2, sizeof(p2), "%s/j1.amrec", dir);
	snprintf(p3, sizeof(p3), "%s/j2.amrec", dir);
	write_truth(p1);
	write_jumpy(p2, p3);
	run_audit(&ref, &dflt, paths, 3);
	ck_assert(!ref.skipped);

	static const struct {
		const char *what;
		long off; /* from the middle of j1; -1: truncate */
		uint8_t mask;
	} cases[] = {
	    {"bit flip in a payload", 0, 0x10},
	    {"bit flip in a length", 4, 0x01},
	    {"truncated", -1, 0},
	};
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		write_jumpy(p2, p3);
		ck_assert_int_eq(stat(p2, &st), 0);
		if (cases[c].off >= 0) {
			/* find a frame header near the middle */
			int fd = open(p2, O_RDONLY);
			uint8_t *buf = malloc((size_t)st.st_size);
			ck_assert_int_eq(read(fd, buf, (size_t)st.st_size), st.st_size);
			close(fd);
			long pos = st.st_size / 2;
			while (pos < st.st_size - 4 && memcmp(buf + pos, "AMF1", 4) != 0)
				pos++;
			free(buf);
			flip(p2, pos + (cases[c].off ? cases[c].off : 20), cases[c].mask);
		} else {
			ck_assert_int_eq(truncate(p2, st.st_size - 7), 0);
		}
		run_audit(&a, &dflt, paths, 3);
		ck_assert_msg(a.skipped, "%s: not reported", cases[c].what);
		ck_assert_msg(a.in.corrupt_regions + a.in.torn_tails >= 1, "%s",
			      cases[c].what);
		if (cases[c].off < 0)
			ck_assert_uint_eq(a.in.torn_tails, 1);
		/* the intact node is reported exactly as before */
		for (size_t i = 0; i < 4; i++) {
			static const char *const n[] = {"nvidia0", "nvidia1", "nvidia2",
							"nvidia3"};
			ck_assert(dev(&a, "truth", n[i])->t.busy_s ==
				  dev(&ref, "truth", n[i])->t.busy_s);
		}
		/* the damaged one loses at most a keyframe span and a bit */
		double lost = dev(&ref, "jumpy", "nvidia0")->t.observed_s -
			      dev(&a, "jumpy", "nvidia0")->t.observed_s;
		ck_assert_msg(lost >= 0 && lost <= 100 * 15.0, "%s: lost %g s",
			      cases[c].what, lost);
		audit_free(&a);
	}
	audit_free(&ref);
	rm_dir();
}
END_TEST

START_TEST(test_outputs)
{
	char p1[128], *paths[1] = {p1};
	struct audit a;
	char *buf = NULL;
	size_t len = 0;
	mkdir_tmp();
	snprintf(p1, sizeof(p1), "%s/truth.amrec", dir);
	write_truth(p1);
	run_audit(&a, &dflt, paths, 1);
	static const struct {
		enum audit_format f;
		const char *must[4];
	} cases[] = {
	    {AUDIT_JSON,
	     {"\"busy_hours\": 7.2", "\"least_used_nodes\"", "\"counter_resets\": 2",
	      "\"complete\": true"}},
	    {AUDIT_CSV,
	     {"level,node,device",
	      "device,truth,nvidia0,GPU-nvidia0,NVIDIA A100-SXM4-40GB,1,24,7.2,0.3,",
	      "total,", "model,"}},
	    {AUDIT_TABLE, {"LEAST-USED NODES", "truth/nvidia3", "TOTAL", "util%"}},
	    {AUDIT_HTML, {"<svg", "utilization heat map", "<title>", "</html>"}},
	};
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		FILE *f = open_memstream(&buf, &len);
		ck_assert_int_eq(audit_write(&a, cases[c].f, f), 0);
		fclose(f);
		for (int m = 0; m < 4; m++)
			ck_assert_msg(strstr(buf, cases[c].must[m]), "format %d lacks %s",
				      cases[c].f, cases[c].must[m]);
		if (cases[c].f == AUDIT_HTML) {
			/* self-contained: no scripts, no links out */
			ck_assert_ptr_null(strstr(buf, "<script"));
			ck_assert_ptr_null(strstr(buf, "http://www.w3.org/1999"));
			ck_assert_ptr_null(strstr(buf, "https://"));
			ck_assert_ptr_null(strstr(buf, "@font-face"));
		}
		free(buf);
		buf = NULL;
	}
	audit_free(&a);
	rm_dir();
}
END_TEST

/* ---- jobs (accel_job_*, collectors/attribution.md) ---- */

/* The four series of a job on a device; refs ascending. */
struct tjob {
	uint32_t busy, energy, mem, info;
	double vbusy, venergy;
};

static void def_job(struct recgen *g, struct tjob *j, const char *dev, const char *kind,
		    const char *job, const char *user)
{
	char dl[64], ul[64], jl[96], kl[64], usl[32], nsl[80];
	snprintf(dl, sizeof(dl), "device=%s", dev);
	snprintf(ul, sizeof(ul), "uuid=GPU-%s", dev);
	snprintf(jl, sizeof(jl), "job=%s", job);
	snprintf(kl, sizeof(kl), "kind=%s", kind);
	snprintf(usl, sizeof(usl), "user=%s", user);
	/* a pod's namespace: its tenant */
	snprintf(nsl, sizeof(nsl), "namespace=%s", strcmp(kind, "kubernetes") ? "" : "team-b");
	const char *l[] = {dl, ul, jl, kl, NULL};
	const char *info[] = {dl, ul, jl, kl, usl, "step=", "container=", nsl, "pod=", NULL};
	memset(j, 0, sizeof(*j));
	j->busy = recgen_series(g, "accel_job_busy_seconds_total",
				AMREC__SERIES_TYPE__SERIES_COUNTER, "seconds", l);
	j->energy = recgen_series(g, "accel_job_energy_joules_total",
				  AMREC__SERIES_TYPE__SERIES_COUNTER, "joules", l);
	j->mem = recgen_series(g, "accel_job_memory_used_bytes",
			       AMREC__SERIES_TYPE__SERIES_GAUGE, "bytes", l);
	j->info = recgen_series(g, "accel_job_info", AMREC__SERIES_TYPE__SERIES_INFO,
				NULL, info);
}

static size_t put_job(const struct tjob *j, double mem, uint32_t *refs, double *vals,
		      size_t k)
{
	uint32_t r[] = {j->busy, j->energy, j->mem, j->info};
	double v[] = {j->vbusy, j->venergy, mem, 1};
	for (int i = 0; i < 4; i++) {
		refs[k] = r[i];
		vals[k++] = v[i];
	}
	return k;
}

/* Node "jobs", one hour: Slurm job 4242 (uid 1000) on both GPUs for the
 * first half hour (40 % and 20 % busy, 200 W and 50 W), then gone; a pod
 * (uid 0) on nvidia0 from 15 min on, 10 % busy for 15 min, then held but
 * idle for the last 30 min (50 W). */
static void write_jobs(const char *path)
{
	struct recgen g;
	struct tdev d[2];
	struct tjob a0, a1, b;
	uint32_t refs[64];
	double vals[64];

	ck_assert_int_eq(recgen_open(&g, path, "jobs", T0, IV, 0), 0);
	def_dev(&g, &d[0], "nvidia0", "NVIDIA H100 80GB HBM3");
	def_dev(&g, &d[1], "nvidia1", "NVIDIA H100 80GB HBM3");
	def_job(&g, &a0, "nvidia0", "slurm", "4242", "1000");
	def_job(&g, &a1, "nvidia1", "slurm", "4242", "1000");
	def_job(&g, &b, "nvidia0", "kubernetes", "pod-b", "0");
	for (int k = 0; k <= 240; k++) {
		size_t n = 0;

		if (k > 0) {
			d[0].vbusy += 7.5;
			d[0].venergy += 300 * 15;
			d[1].vbusy += 3;
			d[1].venergy += 100 * 15;
			a0.vbusy += 6;
			a0.venergy += 200 * 15;
			a1.vbusy += 3;
			a1.venergy += 50 * 15;
		}
		if (k > 60) {
			b.vbusy += k <= 120 ? 1.5 : 0;
			b.venergy += 50 * 15;
		}
		n = put_dev(&d[0], 1e9, refs, vals, n);
		n = put_dev(&d[1], 1e9, refs, vals, n);
		if (k <= 120) {
			n = put_job(&a0, 4e9, refs, vals, n);
			n = put_job(&a1, 2e9, refs, vals, n);
		}
		if (k >= 60)
			n = put_job(&b, 1e9, refs, vals, n);
		ck_assert_int_eq(recgen_batch(&g, T0 + (int64_t)k * IV, refs, vals, n),
				 0);
	}
	ck_assert_int_gt(recgen_close(&g), 0);
}

static const struct audit_group *group(const struct audit_group *g, size_t n,
				       const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(g[i].name, name) == 0)
			return &g[i];
	ck_abort_msg("no group %s", name);
	return NULL;
}

START_TEST(test_jobs)
{
	char p1[128], p2[128], *paths[1] = {p1}, *old[1] = {p2};
	const struct audit_group *j;
	struct audit a;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	mkdir_tmp();
	snprintf(p1, sizeof(p1), "%s/jobs.amrec", dir);
	write_jobs(p1);
	run_audit(&a, &dflt, paths, 1);
	ck_assert(!a.skipped);
	/* the devices as without jobs */
	ck_assert_uint_eq(a.ndev, 2);
	NEAR(dev(&a, "jobs", "nvidia0")->t.observed_s, 3600);
	NEAR(dev(&a, "jobs", "nvidia0")->t.busy_s, 1800);
	NEAR(audit_period_s(&a), 3600);
	NEAR(a.total.t.busy_s, 1800 + 720);
	/* the Slurm job: two GPUs for half an hour */
	ck_assert_uint_eq(a.njobs, 2);
	j = group(a.jobs, a.njobs, "slurm/4242");
	ck_assert_uint_eq(j->t.devices, 2);
	NEAR(j->t.observed_s / 3600, 1.0); /* accelerator-hours held */
	NEAR(j->t.busy_s / 3600, 0.3);
	NEAR(j->t.busy_s / j->t.observed_s, 0.3); /* mean utilization */
	NEAR(j->t.idle_s, 0);
	NEAR(j->t.energy_j, 120 * 15 * 250.0);
	NEAR(j->t.peak_mem, 4e9);
	/* the pod: held 45 min, 30 of them idle */
	j = group(a.jobs, a.njobs, "kubernetes/pod-b");
	ck_assert_uint_eq(j->t.devices, 1);
	NEAR(j->t.observed_s, 180 * 15);
	NEAR(j->t.busy_s, 90);
	NEAR(j->t.idle_s, 1800);
	NEAR(j->t.energy_j, 180 * 750);
	NEAR(j->t.idle_energy_j, 120 * 750);
	ck_assert_uint_eq(j->t.gaps, 0);
	ck_assert_uint_eq(j->t.resets, 0);
	/* per user (uid) */
	ck_assert_uint_eq(a.nusers, 2);
	NEAR(group(a.users, a.nusers, "1000")->t.busy_s, 1080);
	NEAR(group(a.users, a.nusers, "0")->t.idle_s, 1800);
	/* per tenant: the pod's namespace; the Slurm job's user */
	ck_assert_uint_eq(a.ntenants, 2);
	NEAR(group(a.tenants, a.ntenants, "team-b")->t.idle_s, 1800);
	NEAR(group(a.tenants, a.ntenants, "team-b")->t.energy_j, 180 * 750);
	NEAR(group(a.tenants, a.ntenants, "user:1000")->t.busy_s, 1080);
	/* every format carries them */
	static const struct {
		enum audit_format f;
		const char *must[4];
	} cases[] = {
	    {AUDIT_JSON,
	     {"\"jobs\": [",
	      "{\"job\": \"slurm/4242\", \"devices\": 2, \"observed_hours\": 1,",
	      "\"device\": \"nvidia1\", \"job\": \"4242\", \"kind\": \"slurm\", "
	      "\"user\": "
	      "\"1000\"",
	      "\"tenants\": [\n    {\"tenant\": \"team-b\""}},
	    {AUDIT_CSV,
	     {"job,,slurm/4242,,,2,1,0.3,0.3,", "user,,0,,,1,0.75,0.025,", "total,",
	      "tenant,,team-b,,,1,0.75,0.025,"}},
	    {AUDIT_TABLE,
	     {"JOB (obs h = held)", "kubernetes/pod-b", "USER (uid)", "TENANT (namespace)"}},
	    {AUDIT_HTML, {"<h2>Jobs", "slurm/4242", "<h2>Users", "<h2>Tenants"}},
	};
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		f = open_memstream(&buf, &len);
		ck_assert_int_eq(audit_write(&a, cases[c].f, f), 0);
		fclose(f);
		for (int m = 0; m < 4; m++)
			ck_assert_msg(strstr(buf, cases[c].must[m]),
				      "format %d lacks %s:\n%s", cases[c].f,
				      cases[c].must[m], buf);
		free(buf);
		buf = NULL;
	}
	audit_free(&a);
	/* records without jobs: no job section in any format */
	snprintf(p2, sizeof(p2), "%s/truth.amrec", dir);
	write_truth(p2);
	run_audit(&a, &dflt, old, 1);
	ck_assert_uint_eq(a.njobs, 0);
	for (int fmt = AUDIT_TABLE; fmt <= AUDIT_HTML; fmt++) {
		f = open_memstream(&buf, &len);
		ck_assert_int_eq(audit_write(&a, (enum audit_format)fmt, f), 0);
		fclose(f);
		ck_assert_ptr_null(strstr(buf, "JOB"));
		ck_assert_ptr_null(strstr(buf, "\"jobs\""));
		ck_assert_ptr_null(strstr(buf, "job,"));
		ck_assert_ptr_null(strstr(buf, "<h2>Jobs"));
		free(buf);
		buf = NULL;
	}
	audit_free(&a);
	rm_dir();
}
END_TEST

static Suite *audit_suite(void)
{
	Suite *s = suite_create("audit");
	TCase *tc = tcase_create("truth");
	tcase_add_test(tc, test_known_truth);
	tcase_add_test(tc, test_clock_jump_and_restart);
	tcase_add_test(tc, test_duplicate_file);
	tcase_add_test(tc, test_rotation_and_restart);
	tcase_add_test(tc, test_straddling_polls);
	tcase_add_test(tc, test_busy_carry_bounded);
	tcase_add_test(tc, test_damaged_files);
	tcase_add_test(tc, test_far_series_ref);
	tcase_add_test(tc, test_outputs);
	tcase_add_test(tc, test_jobs);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(audit_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
