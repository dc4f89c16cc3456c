/* Aggregator tests on fake time: counter wrap, reset and saturation, time
 * integration of ratios, windowed gauges, staleness, rendering of both
 * exposition formats from the same state; released series (am_series_release)
 * reclaimed only when no snapshot or final-value consumer can refer to them. */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agg.h"
#include "clock.h"
#include "ring.h"
#include "series.h"
#include "snapshot.h"

#define S(x) ((int64_t)((x) * 1e9))

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define AGG_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define AGG_SANITIZED 1
#endif
#endif

#ifdef AGG_SANITIZED
/* Sanitizer builds check memory and thread safety, not scale: fewer churn
 * cycles, the same bound. */
#define CHURN_JOBS 10000
#else
#define CHURN_JOBS 100000
#endif

#if defined(__SANITIZE_THREAD__)
/* Check runs each test in a forked child whose TSan report would otherwise
 * not fail the test: stop at the first race so the test errors out. */
const char *__tsan_default_options(void);
const char *__tsan_default_options(void)
{
	return "halt_on_error=1";
}
#endif

static double test_interval = 1.0;

static double interval_cb(void *arg, int owner)
{
	(void)arg;
	return owner == 0 ? test_interval : 0;
}

static struct agg *new_agg(void)
{
	struct agg_opts o = {NULL, interval_cb, NULL, 0};

	test_interval = 1.0;
	series_reset();
	return agg_new(&o);
}

static uint32_t one_series(const struct am_family_def *d, const char *label)
{
	int f = series_family_register(d, 0);
	const char *v[1] = {label};

	ck_assert_int_ge(f, 0);
	return series_intern(f, v, 0);
}

static void feed_u64(struct agg *a, uint32_t id, int64_t t, uint64_t raw)
{
	struct am_sample s = {id, SAMPLE_U64, t, 0};

	memcpy(&s.value, &raw, sizeof(raw));
	agg_ingest(a, &s, 1);
}

static void feed(struct agg *a, uint32_t id, int64_t t, double v)
{
	struct am_sample s = {id, 0, t, v};

	agg_ingest(a, &s, 1);
}

static double value(struct agg *a, uint32_t id)
{
	double v = -1;

	ck_assert_int_eq(agg_value(a, id, &v), 0);
	return v;
}

/* Table: a counter of given width read as a sequence; expected exported
 * values after each reading, and how many resets and wraps were seen. */
static const struct {
	const char *what;
	unsigned bits;
	int saturating;
	double scale;
	uint64_t raw[6];
	uint64_t want[6];
	int n;
	uint64_t resets, wraps;
} counter_cases[] = {
	{"monotonic 64-bit", 64, 0, 1, {10, 20, 35}, {10, 20, 35}, 3, 0, 0},
	{"64-bit goes backwards = reset", 64, 0, 1, {1000, 1500, 200, 300},
	 {1000, 1500, 1700, 1800}, 4, 1, 0},
	{"32-bit wrap from the top half", 32, 0, 1,
	 {4294967000u, 4294967295u, 100, 300}, {4294967000u, 4294967295u,
						 4294967396u, 4294967596u}, 4, 0, 1},
	{"32-bit backwards from the bottom half = reset", 32, 0, 1,
	 {1000, 2000000000u, 50}, {1000, 2000000000u, 2000000050u}, 3, 1, 0},
	{"IB words x4 stay exact integers", 64, 0, 4,
	 {1, 2500000000000000ull, 2500000000000001ull},
	 {4, 10000000000000000ull, 10000000000000004ull}, 3, 0, 0},
	{"16-bit saturating sticks at 65535", 16, 1, 1, {65000, 65535, 65535, 65535},
	 {65000, 65535, 65535, 65535}, 4, 0, 0},
	{"saturated counter cleared = reset", 16, 1, 1, {65535, 3, 10},
	 {65535, 65538, 65545}, 3, 1, 0},
	{"32-bit small step back in the top half = reset, not a wrap", 32, 0, 1,
	 {0x90000000u, 0x8FFF0000u}, {0x90000000u, 0x90000000ull + 0x8FFF0000ull}, 2, 1, 0},
	{"64-bit total saturates instead of overflowing", 64, 0, 1,
	 {UINT64_MAX - 10, 100}, {UINT64_MAX - 10, UINT64_MAX}, 2, 1, 0},
	{"exact beyond 2^53", 64, 0, 1,
	 {9007199254740993ull, 9007199254740995ull},
	 {9007199254740993ull, 9007199254740995ull}, 2, 0, 0},
};

START_TEST(test_counter_table)
{
	struct agg *a = new_agg();
	struct am_family_def d = {.name = "t_counter_total", .help = "h",
				  .kind = AM_COUNTER, .labels = {"device"}};
	struct agg_counts c;
	uint32_t id;
	struct snapshot *snap;
	char want[64];

	d.bits = counter_cases[_i].bits;
	d.saturating = counter_cases[_i].saturating;
	d.scale = counter_cases[_i].scale;
	id = one_series(&d, "x");
	for (int k = 0; k < counter_cases[_i].n; k++) {
		feed_u64(a, id, S(k + 1), counter_cases[_i].raw[k]);
		snap = agg_render(a, S(k + 1));
		/* Compare the rendered text: doubles lose bits past 2^53. */
		snprintf(want, sizeof(want), "t_counter_total{device=\"x\"} %llu\n",
			 (unsigned long long)counter_cases[_i].want[k]);
		ck_assert_msg(strstr(snap->text, want), "%s, step %d: want %s got %s",
			      counter_cases[_i].what, k, want, snap->text);
		snapshot_release(snap);
	}
	agg_counts(a, &c);
	ck_assert_uint_eq(c.resets, counter_cases[_i].resets);
	ck_assert_uint_eq(c.wraps, counter_cases[_i].wraps);
	agg_free(a);
}
END_TEST

START_TEST(test_saturation_flag)
{
	struct agg *a = new_agg();
	struct am_family_def d = {.name = "t_sat_total", .help = "h", .kind = AM_COUNTER,
				  .labels = {"device"}, .bits = 8, .saturating = true};
	uint32_t id = one_series(&d, "x");
	struct agg_counts c;

	feed_u64(a, id, S(1), 200);
	ck_assert(!agg_saturated(a, id));
	feed_u64(a, id, S(2), 255);
	ck_assert(agg_saturated(a, id));
	feed_u64(a, id, S(3), 255);
	ck_assert(agg_saturated(a, id));
	ck_assert_double_eq(value(a, id), 255);
	feed_u64(a, id, S(4), 0); /* cleared by an admin: a reset */
	ck_assert(!agg_saturated(a, id));
	agg_counts(a, &c);
	ck_assert_uint_eq(c.saturations, 1);
	ck_assert_uint_eq(c.resets, 1);
	/* A reading wider than the declared width is refused, not wrapped. */
	feed_u64(a, id, S(5), 256);
	agg_counts(a, &c);
	ck_assert_uint_eq(c.bad_values, 1);
	agg_free(a);
}
END_TEST

/* A series whose only reading was refused is not exported at all. */
START_TEST(test_refused_first_reading)
{
	struct agg *a = new_agg();
	struct am_family_def d = {.name = "t_narrow_total", .help = "h", .kind = AM_COUNTER,
				  .labels = {"device"}, .bits = 8};
	uint32_t id = one_series(&d, "x");
	struct snapshot *snap;
	double v;

	feed_u64(a, id, S(1), 1000);
	ck_assert_int_eq(agg_value(a, id, &v), -ENOENT);
	snap = agg_render(a, S(1));
	ck_assert_ptr_null(strstr(snap->text, "t_narrow"));
	snapshot_release(snap);
	feed_u64(a, id, S(2), 7);
	snap = agg_render(a, S(2));
	ck_assert_ptr_nonnull(strstr(snap->text, "t_narrow_total{device=\"x\"} 7\n"));
	/* once: the refused reading did not list it a second time */
	ck_assert_ptr_null(strstr(strstr(snap->text, "} 7\n"), "t_narrow_total{"));
	snapshot_release(snap);
	agg_free(a);
}
END_TEST

START_TEST(test_counter_from_double_and_negative)
{
	struct agg *a = new_agg();
	struct am_family_def d = {.name = "t_dbl_total", .help = "h", .kind = AM_COUNTER,
				  .labels = {"device"}};
	uint32_t id = one_series(&d, "x");
	struct agg_counts c;

	feed(a, id, S(1), 100);
	feed(a, id, S(2), -5);   /* never a negative counter */
	feed(a, id, S(3), 1.5);  /* not an integer reading */
	feed(a, id, S(4), NAN);
	feed(a, id, S(5), 150);
	ck_assert_double_eq(value(a, id), 150);
	agg_counts(a, &c);
	ck_assert_uint_eq(c.bad_values, 3);
	agg_free(a);
}
END_TEST

/* A 30% duty cycle sampled every 100 ms for 60 s integrates to 18 s. */
START_TEST(test_integration_accuracy)
{
	struct agg *a = new_agg();
	struct am_family_def d = {.name = "t_busy_seconds_total", .help = "h",
				  .kind = AM_INTEGRAL, .unit = "seconds",
				  .labels = {"device"}};
	uint32_t id = one_series(&d, "x");

	test_interval = 0.1;
	for (int k = 0; k <= 600; k++)
		feed(a, id, S(k * 0.1), (k % 10) < 3 ? 1.0 : 0.0);
	/* Samples cover (t-0.1, t]: the first one opens the integral. */
	ck_assert_double_eq_tol(value(a, id), 18.0, 1e-6);
	agg_free(a);
}
END_TEST

/* Watts integrate to joules with the scale applied (mW -> W). */
START_TEST(test_integration_scale_and_gap)
{
	struct agg *a = new_agg();
	struct am_family_def d = {.name = "t_energy_joules_total", .help = "h",
				  .kind = AM_INTEGRAL, .labels = {"device"},
				  .scale = 1e-3};
	uint32_t id = one_series(&d, "x");

	feed(a, id, S(0), 250000); /* 250 W */
	feed(a, id, S(1), 250000);
	feed(a, id, S(2), 250000);
	ck_assert_double_eq_tol(value(a, id), 500, 1e-9);
	/* A 10 s silence is longer than 3 intervals: nobody observed it. */
	feed(a, id, S(12), 250000);
	ck_assert_double_eq_tol(value(a, id), 500, 1e-9);
	feed(a, id, S(13), 100000);
	ck_assert_double_eq_tol(value(a, id), 600, 1e-9);
	/* Time going backwards adds nothing. */
	feed(a, id, S(12.5), 100000);
	ck_assert_double_eq_tol(value(a, id), 600, 1e-9);
	/* A negative rate is refused: the counter never goes down. */
	feed(a, id, S(14), -100000);
	ck_assert_double_eq_tol(value(a, id), 600, 1e-9);
	agg_free(a);
}
END_TEST

/* A refused rate (negative, NaN) integrates nothing over its interval: the
 * next accepted sample stands only for the time since the refused one, not
 * for the refused intervals too. */
START_TEST(test_integration_refused_interval)
{
	struct agg *a = new_agg();
	struct am_family_def d = {.name = "t_energy2_joules_total", .help = "h",
				  .kind = AM_INTEGRAL, .labels = {"device"}};
	uint32_t id = one_series(&d, "x");
	const double w[] = {100, 100, -50, NAN, 100};
	const double want[] = {0, 100, 100, 100, 200};
	struct agg_counts c;

	for (int k = 0; k < 5; k++) {
		feed(a, id, S(k + 1), w[k]);
		ck_assert_msg(fabs(value(a, id) - want[k]) < 1e-9,
			      "t=%d: want %g got %g", k + 1, want[k], value(a, id));
	}
	agg_counts(a, &c);
	ck_assert_uint_eq(c.bad_values, 2);
	agg_free(a);
}
END_TEST

/* am_emit_u64 on a gauge: the reading's value, not its bit pattern read as
 * a double (85520809984 would read 4.2e-313). */
START_TEST(test_u64_on_gauge)
{
	struct agg *a = new_agg();
	uint32_t g = one_series(&(struct am_family_def){.name = "t_mem_bytes",
							.help = "h",
							.kind = AM_GAUGE,
							.labels = {"device"}},
				"x");
	uint32_t w = one_series(&(struct am_family_def){.name = "t_mem_peak_bytes",
							.help = "h",
							.kind = AM_WINDOW_MAX,
							.labels = {"device"}},
				"x");
	struct snapshot *snap;

	feed_u64(a, g, S(1), 85520809984ull);
	feed_u64(a, w, S(1), 7);
	ck_assert_double_eq(value(a, g), 85520809984.0);
	ck_assert_double_eq(value(a, w), 7);
	snap = agg_render(a, S(1));
	ck_assert_ptr_nonnull(strstr(snap->text, "t_mem_bytes{device=\"x\"} 85520809984\n"));
	snapshot_release(snap);
	agg_free(a);
}
END_TEST

START_TEST(test_window_max_mean)
{
	struct agg *a = new_agg();
	struct am_family_def dmax = {.name = "t_peak_ratio", .help = "h",
				     .kind = AM_WINDOW_MAX, .labels = {"device"},
				     .window_s = 5};
	struct am_family_def dmean = {.name = "t_mean_ratio", .help = "h",
				      .kind = AM_WINDOW_MEAN, .labels = {"device"},
				      .window_s = 5};
	uint32_t mx = one_series(&dmax, "x");
	int fmean = series_family_register(&dmean, 0);
	const char *v[1] = {"x"};
	uint32_t mn = series_intern(fmean, v, 0);
	const double seq[] = {0.1, 0.9, 0.2, 0.2, 0.2, 0.2, 0.2, 0.3};

	for (int k = 0; k < 8; k++) {
		feed(a, mx, S(k + 1), seq[k]);
		feed(a, mn, S(k + 1), seq[k]);
	}
	/* Window (3, 8]: 0.2 0.2 0.2 0.2 0.3 -> the 0.9 at t=2 has left. */
	ck_assert_double_eq_tol(value(a, mx), 0.3, 1e-12);
	ck_assert_double_eq_tol(value(a, mn), 1.1 / 5, 1e-12);
	feed(a, mx, S(9), 0.95);
	ck_assert_double_eq_tol(value(a, mx), 0.95, 1e-12);
	/* Many samples in the window: the buffer grows, the max stays right. */
	for (int k = 0; k < 3000; k++)
		feed(a, mx, S(10) + k * 1000000LL, k == 1500 ? 0.99 : 0.5);
	ck_assert_double_eq_tol(value(a, mx), 0.99, 1e-12);
	agg_free(a);
}
END_TEST

START_TEST(test_staleness)
{
	struct agg *a = new_agg();
	struct am_family_def d = {.name = "t_gauge", .help = "h", .kind = AM_GAUGE,
				  .labels = {"device"}};
	uint32_t id = one_series(&d, "x");
	int fother = series_family_register(
		&(struct am_family_def){.name = "t_other", .help = "h",
					.kind = AM_GAUGE, .labels = {"device"}},
		5);
	const char *v[1] = {"y"};
	uint32_t other = series_intern(fother, v, 5);
	struct snapshot *snap;

	feed(a, id, S(10), 1);
	feed(a, other, S(10), 2);
	snap = agg_render(a, S(12.9));
	ck_assert_ptr_nonnull(strstr(snap->text, "t_gauge{device=\"x\"} 1\n"));
	/* Owner 5 is not running: its series are not exported at all. */
	ck_assert_ptr_null(strstr(snap->text, "t_other"));
	ck_assert_uint_eq(snap->nvalues, 1);
	snapshot_release(snap);
	/* Three missed 1 s intervals later the series is gone, header too. */
	snap = agg_render(a, S(13.01));
	ck_assert_ptr_null(strstr(snap->text, "t_gauge"));
	snapshot_release(snap);
	/* It comes back with the next sample. */
	feed(a, id, S(14), 3);
	snap = agg_render(a, S(14));
	ck_assert_ptr_nonnull(strstr(snap->text, "t_gauge{device=\"x\"} 3\n"));
	snapshot_release(snap);
	agg_free(a);
}
END_TEST

START_TEST(test_render_both_formats)
{
	struct agg *a = new_agg();
	uint32_t c = one_series(&(struct am_family_def){.name = "t_bytes_total",
							.help = "Bytes \\ moved\nin total.",
							.kind = AM_COUNTER,
							.unit = "bytes",
							.labels = {"device"}},
				"a\"b\\c\nd");
	uint32_t i = one_series(&(struct am_family_def){.name = "t_port_info",
							.help = "Info.",
							.kind = AM_INFO,
							.labels = {"device"}},
				"p");
	uint32_t u = series_intern(series_family_register(&(struct am_family_def){
						   .name = "t_unknown_unit",
						   .help = "x", .kind = AM_GAUGE,
						   .unit = "bytes"}, 0),
				   (const char *const[]){NULL}, 0);
	struct snapshot *snap;

	feed_u64(a, c, S(1), 42);
	feed(a, i, S(1), 7);
	feed(a, u, S(1), 0.5);
	snap = agg_render(a, S(1));
	ck_assert_str_eq(snap->text,
			 "# HELP t_bytes_total Bytes \\\\ moved\\nin total.\n"
			 "# TYPE t_bytes_total counter\n"
			 "t_bytes_total{device=\"a\\\"b\\\\c\\nd\"} 42\n"
			 "# HELP t_port_info Info.\n"
			 "# TYPE t_port_info gauge\n"
			 "t_port_info{device=\"p\"} 1\n"
			 "# HELP t_unknown_unit x\n"
			 "# TYPE t_unknown_unit gauge\n"
			 "t_unknown_unit 0.5\n");
	ck_assert_str_eq(snap->om,
			 "# HELP t_bytes Bytes \\\\ moved\\nin total.\n"
			 "# TYPE t_bytes counter\n"
			 "# UNIT t_bytes bytes\n"
			 "t_bytes_total{device=\"a\\\"b\\\\c\\nd\"} 42\n"
			 "# HELP t_port Info.\n"
			 "# TYPE t_port info\n"
			 "t_port_info{device=\"p\"} 1\n"
			 "# HELP t_unknown_unit x\n"
			 "# TYPE t_unknown_unit gauge\n"
			 "t_unknown_unit 0.5\n"
			 "# EOF\n");
	snapshot_release(snap);
	agg_free(a);
}
END_TEST

START_TEST(test_unknown_series_counted)
{
	struct agg *a = new_agg();
	struct agg_counts c;

	feed(a, 12345, S(1), 1);
	agg_counts(a, &c);
	ck_assert_uint_eq(c.unknown_series, 1);
	agg_free(a);
}
END_TEST

/* What am_series_release does (plugin_api.c): out of the hash, then the
 * release through the ring. */
static void release(struct agg *a, uint32_t id, int64_t t)
{
	struct am_sample r = {id, SAMPLE_RETIRE | SAMPLE_RELEASE, t, 0};

	ck_assert_int_eq(series_release(id, 0), 0);
	agg_ingest(a, &r, 1);
}

/* 100,000 jobs of two series each, started and released: the registry
 * holds the live ones only (CHURN_JOBS). */
START_TEST(test_release_churn_bounded)
{
	struct agg *a = new_agg();
	struct am_family_def g = {.name = "job_mem_bytes", .help = "h",
				  .kind = AM_GAUGE, .labels = {"job"}};
	struct am_family_def c = {.name = "job_busy_seconds_total", .help = "h",
				  .kind = AM_INTEGRAL, .labels = {"job"}};
	int fg = series_family_register(&g, 0), fc = series_family_register(&c, 0);
	uint32_t most = 0;

	ck_assert_int_ge(fg, 0);
	ck_assert_int_ge(fc, 0);
	for (long j = 1; j <= CHURN_JOBS; j++) {
		char job[24];
		const char *v[1] = {job};
		uint32_t ids[2];

		snprintf(job, sizeof(job), "%ld", j);
		ids[0] = series_intern(fg, v, 0);
		ids[1] = series_intern(fc, v, 0);
		ck_assert_uint_ne(ids[0], AM_SERIES_INVALID);
		ck_assert_uint_ne(ids[1], AM_SERIES_INVALID);
		feed(a, ids[0], S(j), 1);
		feed(a, ids[1], S(j), 0.5);
		snapshot_release(agg_render(a, S(j)));
		release(a, ids[0], S(j));
		release(a, ids[1], S(j));
		if (series_live_count() > most)
			most = series_live_count();
	}
	ck_assert_uint_eq(series_count(), 2 * CHURN_JOBS);
	/* The last job's two, and the two before them (reclaimed at the
	 * render after their release). */
	ck_assert_uint_le(most, 4);
	snapshot_release(agg_render(a, S(CHURN_JOBS + 1)));
	ck_assert_uint_eq(series_live_count(), 0);
	agg_free(a);
}
END_TEST

/* A series retired, back and retired again before the records writer saw
 * the first: one final, the latest value (a writer keeps the first of an
 * id listed twice). */
START_TEST(test_finals_latest)
{
	struct agg *a = new_agg();
	struct am_family_def d = {.name = "job_busy_s", .help = "h",
				  .kind = AM_GAUGE, .labels = {"job"}};
	uint32_t id = one_series(&d, "7");
	struct am_sample r = {id, SAMPLE_RETIRE, S(2), 0};
	int slot = snapshot_final_consumer_add();
	struct snapshot *s;

	ck_assert_int_ge(slot, 0);
	feed(a, id, S(1), 10);
	agg_ingest(a, &r, 1);
	feed(a, id, S(3), 20);
	r.t_ns = S(4);
	agg_ingest(a, &r, 1);
	s = agg_render(a, S(4));
	ck_assert_uint_eq(s->nfinals, 1);
	ck_assert_uint_eq(s->finals[0].series, id);
	ck_assert(s->finals[0].value == 20);
	snapshot_release(s);
	snapshot_final_consumer_remove(slot);
	agg_free(a);
}
END_TEST

/* A records writer that never catches up (a hung disk): the finals stop at
 * max_finals, and the ones past it are counted. */
START_TEST(test_finals_bounded)
{
	struct agg_opts o = {NULL, interval_cb, NULL, 0, 3};
	struct am_family_def d = {.name = "job_mem_b", .help = "h",
				  .kind = AM_GAUGE, .labels = {"job"}};
	int slot = snapshot_final_consumer_add();
	struct agg_counts c;
	struct snapshot *s;
	struct agg *a;
	int f;

	ck_assert_int_ge(slot, 0);
	test_interval = 1.0;
	series_reset();
	a = agg_new(&o);
	f = series_family_register(&d, 0);
	for (int i = 0; i < 5; i++) {
		char job[8];
		const char *v[1] = {job};
		uint32_t id;
		struct am_sample r = {0, SAMPLE_RETIRE, S(2), 0};

		snprintf(job, sizeof(job), "%d", i);
		id = series_intern(f, v, 0);
		feed(a, id, S(1), i);
		r.series = id;
		agg_ingest(a, &r, 1);
		snapshot_release(agg_render(a, S(2 + i)));
	}
	s = agg_render(a, S(9));
	ck_assert_uint_eq(s->nfinals, 3);
	agg_counts(a, &c);
	ck_assert_uint_eq(c.finals_dropped, 2);
	snapshot_release(s);
	snapshot_final_consumer_remove(slot);
	agg_free(a);
}
END_TEST

/* A released series whose final was dropped past max_finals still waits
 * for every final-value consumer to report past its release (remote write
 * sends its stale marker from ids and labels kept since the last push):
 * before, it was freed at the next render, and a consumer read freed
 * labels. */
START_TEST(test_release_dropped_final_waits)
{
	struct agg_opts o = {NULL, interval_cb, NULL, 0, 1};
	struct am_family_def d = {.name = "job_mem_d", .help = "h",
				  .kind = AM_GAUGE, .labels = {"job"}};
	int slot = snapshot_final_consumer_add();
	const char *v1[1] = {"1"}, *v2[1] = {"2"};
	struct agg_counts c;
	uint32_t kept, dropped;
	struct agg *a;
	int f;

	ck_assert_int_ge(slot, 0);
	test_interval = 1.0;
	series_reset();
	a = agg_new(&o);
	f = series_family_register(&d, 0);
	kept = series_intern(f, v1, 0);
	dropped = series_intern(f, v2, 0);
	feed(a, kept, S(1), 1);
	feed(a, dropped, S(1), 2);
	snapshot_release(agg_render(a, S(1)));
	release(a, kept, S(2));
	release(a, dropped, S(2)); /* past max_finals 1: its final is dropped */
	agg_counts(a, &c);
	ck_assert_uint_eq(c.finals_dropped, 1);
	for (int i = 0; i < 3; i++)
		snapshot_release(agg_render(a, S(3 + i)));
	ck_assert_ptr_nonnull(series_get(dropped));
	ck_assert_ptr_nonnull(series_get(kept));
	snapshot_final_seen(slot, 100);
	snapshot_release(agg_render(a, S(7)));
	snapshot_release(agg_render(a, S(8)));
	ck_assert_ptr_null(series_get(dropped));
	ck_assert_ptr_null(series_get(kept));
	snapshot_final_consumer_remove(slot);
	agg_free(a);
}
END_TEST

/* A released series' entry stays while a snapshot that holds it is live or
 * a final-value consumer has not seen its last value; its labels intern a
 * new series at once, and a scrape never shows the old one again. */
START_TEST(test_release_waits_for_readers)
{
	struct agg *a = new_agg();
	struct am_family_def d = {.name = "job_mem_bytes", .help = "h",
				  .kind = AM_GAUGE, .labels = {"job"}};
	int f = series_family_register(&d, 0);
	const char *v[1] = {"7"};
	uint32_t old, neu;
	struct snapshot *held, *s;
	uint64_t gen = 0;
	int slot = snapshot_final_consumer_add();

	ck_assert_int_ge(slot, 0);
	old = series_intern(f, v, 0);
	feed(a, old, S(1), 41);
	held = agg_render(a, S(1)); /* a reader holds it (a slow scrape) */
	ck_assert_ptr_nonnull(strstr(held->text, "job_mem_bytes{job=\"7\"} 41"));
	release(a, old, S(2));
	/* Same labels: a new series, the old one is out of the hash. */
	neu = series_intern(f, v, 0);
	ck_assert_uint_ne(neu, old);
	ck_assert_uint_ne(neu, AM_SERIES_INVALID);
	/* A late sample for the released id is dropped, not exported. */
	feed(a, old, S(2), 99);
	feed(a, neu, S(2), 5);
	s = agg_render(a, S(2));
	ck_assert_ptr_nonnull(strstr(s->text, "job_mem_bytes{job=\"7\"} 5\n"));
	ck_assert_ptr_null(strstr(s->text, " 41\n"));
	ck_assert_ptr_null(strstr(s->text, " 99\n"));
	/* Its last value is in the finals for the consumer. */
	ck_assert_uint_eq(s->nfinals, 1);
	ck_assert_uint_eq(s->finals[0].series, old);
	ck_assert(s->finals[0].value == 41);
	snapshot_release(s);
	/* Not seen by the consumer, and held: kept. */
	snapshot_release(agg_render(a, S(3)));
	ck_assert_ptr_nonnull(series_get(old));
	snapshot_final_seen(slot, 2);
	snapshot_release(agg_render(a, S(4)));
	/* Seen, but the first snapshot is still held by its reader. */
	ck_assert_ptr_nonnull(series_get(old));
	ck_assert_str_eq(series_get(old)->label_text, "{job=\"7\"}");
	snapshot_release(held);
	s = agg_render(a, S(5));
	ck_assert_ptr_null(series_get(old));
	ck_assert_ptr_nonnull(series_get(neu));
	ck_assert_ptr_nonnull(strstr(s->text, "job_mem_bytes{job=\"7\"} 5\n"));
	snapshot_release(s);
	/* Nothing holds the next one's snapshots: its final value alone,
	 * not seen by the consumer, keeps it. */
	release(a, neu, S(6));
	for (int k = 0; k < 3; k++) {
		s = agg_render(a, S(6 + k));
		gen = s->generation;
		snapshot_release(s);
		ck_assert_ptr_nonnull(series_get(neu));
	}
	snapshot_final_seen(slot, gen);
	snapshot_release(agg_render(a, S(9)));
	ck_assert_ptr_null(series_get(neu));
	neu = series_intern(f, v, 0);
	/* Released twice, or by another owner: refused. */
	ck_assert_int_eq(series_release(old, 0), -ENOENT);
	ck_assert_int_eq(series_release(neu, 1), -EPERM);
	snapshot_final_consumer_remove(slot);
	agg_free(a);
}
END_TEST

/* A derived series' input keeps its id (the derived series reads its state
 * by id): series_release refuses it, am_series_release retires it. */
START_TEST(test_release_refuses_derived_input)
{
	struct agg *a = new_agg();
	struct am_family_def c = {.name = "busy_total", .help = "h",
				  .kind = AM_COUNTER, .labels = {"dev"}};
	struct am_family_def r = {.name = "util_ratio", .help = "h",
				  .kind = AM_GAUGE, .labels = {"dev"}};
	int fc = series_family_register(&c, 0), fr = series_family_register(&r, 0);
	const char *v[1] = {"0"};
	uint32_t in = series_intern(fc, v, 0), plain;
	struct series_derive d = {AM_DERIVE_RATIO, in, AM_SERIES_INVALID,
				  AM_SERIES_INVALID};
	uint32_t ratio = series_intern_derived(fr, v, 0, &d);

	ck_assert_uint_ne(ratio, AM_SERIES_INVALID);
	ck_assert_int_eq(series_release(in, 0), -EBUSY);
	ck_assert_int_eq(series_release(ratio, 0), -EBUSY);
	v[0] = "1";
	plain = series_intern(fc, v, 0);
	ck_assert_int_eq(series_release(plain, 0), 0);
	/* A released series cannot become an input. */
	d.a = plain;
	ck_assert_uint_eq(series_intern_derived(fr, v, 0, &d), AM_SERIES_INVALID);
	agg_free(a);
}
END_TEST

/* Threads as in the agent: a collector interning job series and releasing
 * them through its ring, the aggregator publishing snapshots, a reader (a
 * records writer: a final-value consumer) looking up every series its
 * snapshot holds. A released entry is never freed under the reader (ASan,
 * TSan builds) and a lookup never fails. */
struct churn {
	struct ring *ring;
	int view;
	atomic_int done, stop;
	long looked_up, missing;
};

static void *churn_collector(void *arg)
{
	struct churn *c = arg;

	for (long j = 1; j <= 5000; j++) {
		char job[24];
		const char *v[1] = {job};
		uint32_t id;

		snprintf(job, sizeof(job), "%ld", j);
		id = series_intern(c->view, v, 0);
		if (id == AM_SERIES_INVALID)
			break;
		struct am_sample s = {id, 0, S(j), (double)j};
		while (!ring_push(c->ring, &s))
			;
		if (series_release(id, 0) < 0)
			break;
		s.flags = SAMPLE_RETIRE | SAMPLE_RELEASE;
		while (!ring_push(c->ring, &s))
			;
	}
	atomic_store(&c->done, 1);
	return NULL;
}

static void *churn_reader(void *arg)
{
	struct churn *c = arg;
	int slot = snapshot_final_consumer_add();

	while (!atomic_load(&c->stop)) {
		struct snapshot *s = snapshot_acquire();

		if (!s)
			continue;
		for (size_t i = 0; i < s->nvalues + s->nfinals; i++) {
			const struct snap_value *v = i < s->nvalues ? &s->values[i]
								    : &s->finals[i - s->nvalues];
			const struct series *se = series_get(v->series);

			if (!se || strncmp(se->label_text, "{job=\"", 6) != 0)
				c->missing++;
			c->looked_up++;
		}
		snapshot_final_seen(slot, s->generation);
		snapshot_release(s);
	}
	snapshot_final_consumer_remove(slot);
	return NULL;
}

START_TEST(test_release_threads)
{
	struct agg *a = new_agg();
	struct am_family_def d = {.name = "job_mem_bytes", .help = "h",
				  .kind = AM_GAUGE, .labels = {"job"}};
	struct churn c = {.ring = ring_create(1024)};
	struct am_sample buf[256];
	pthread_t col, rd;
	int64_t t = S(1);

	c.view = series_family_register(&d, 0);
	ck_assert_int_ge(c.view, 0);
	ck_assert_ptr_nonnull(c.ring);
	ck_assert_int_eq(pthread_create(&rd, NULL, churn_reader, &c), 0);
	ck_assert_int_eq(pthread_create(&col, NULL, churn_collector, &c), 0);
	for (;;) {
		int done = atomic_load(&c.done);
		size_t n = ring_pop_batch(c.ring, buf, 256);

		agg_ingest(a, buf, n);
		snapshot_publish(agg_render(a, t += S(1)));
		if (done && n == 0)
			break;
	}
	atomic_store(&c.stop, 1);
	pthread_join(col, NULL);
	pthread_join(rd, NULL);
	ck_assert_uint_eq(series_count(), 5000);
	ck_assert_int_eq(c.missing, 0);
	ck_assert_int_gt(c.looked_up, 0);
	/* The reader is gone: the next renders free what is left. */
	snapshot_publish(agg_render(a, t += S(1)));
	snapshot_publish(agg_render(a, t += S(1)));
	ck_assert_uint_eq(series_live_count(), 0);
	snapshot_shutdown();
	ring_destroy(c.ring);
	agg_free(a);
}
END_TEST

static Suite *agg_suite(void)
{
	Suite *s = suite_create("agg");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_counter_table, 0,
			    sizeof(counter_cases) / sizeof(counter_cases[0]));
	tcase_add_test(tc, test_saturation_flag);
	tcase_add_test(tc, test_refused_first_reading);
	tcase_add_test(tc, test_counter_from_double_and_negative);
	tcase_add_test(tc, test_integration_accuracy);
	tcase_add_test(tc, test_integration_scale_and_gap);
	tcase_add_test(tc, test_integration_refused_interval);
	tcase_add_test(tc, test_u64_on_gauge);
	tcase_add_test(tc, test_window_max_mean);
	tcase_add_test(tc, test_staleness);
	tcase_add_test(tc, test_render_both_formats);
	tcase_add_test(tc, test_unknown_series_counted);
	suite_add_tcase(s, tc);
	tc = tcase_create("release");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_release_churn_bounded);
	tcase_add_test(tc, test_release_waits_for_readers);
	tcase_add_test(tc, test_finals_latest);
	tcase_add_test(tc, test_finals_bounded);
	tcase_add_test(tc, test_release_dropped_final_waits);
	tcase_add_test(tc, test_release_refuses_derived_input);
	tcase_add_test(tc, test_release_threads);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(agg_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
