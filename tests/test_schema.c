/* Schema families, retired series and derived series, through the real
 * collector API (plugin_api.c), ring and aggregator on fake time: exact
 * ratios over wraps and past 2^53, no value across resets, saturation or a
 * zero denominator, the saturation flag, power integrated into energy,
 * retire and revive, and HELP that does not depend on registration order.
 */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "accelmon/schema.h"
#include "agg.h"
#include "clock.h"
#include "plugin_api.h"
#include "series.h"

#define S(x) ((int64_t)((x)*1e9))
#define INV AM_SERIES_INVALID

static const struct am_collector test_desc = {.name = "schematest"};

/* Two collector instances (slots 0 and 1), each with its own ring. */
static struct am_ctx ctx[2];
static struct ring *rings[2];
static struct agg *ag;

static double interval_cb(void *arg, int owner)
{
	(void)arg;
	return owner == 0 || owner == 1 ? 1.0 : 0;
}

static void setup(void)
{
	struct agg_opts o = {NULL, interval_cb, NULL, 0};

	series_reset();
	for (int i = 0; i < 2; i++) {
		rings[i] = ring_create(1024);
		ck_assert_ptr_nonnull(rings[i]);
		ctx_init(&ctx[i], i, &test_desc, rings[i], NULL, NULL, 1.0);
	}
	ag = agg_new(&o);
	ck_assert_ptr_nonnull(ag);
}

static void teardown(void)
{
	agg_free(ag);
	for (int i = 0; i < 2; i++)
		ring_destroy(rings[i]);
	series_reset();
}

/* Hand both rings to the aggregator, as its loop does. */
static void drain(void)
{
	struct am_sample buf[256];
	size_t n;

	for (int i = 0; i < 2; i++)
		while ((n = ring_pop_batch(rings[i], buf, 256)) > 0)
			agg_ingest(ag, buf, n);
}

static void at(double t_s)
{
	ctx[0].poll_ns = ctx[1].poll_ns = S(t_s);
}

static double value(am_series_t id)
{
	double v = -1;

	ck_assert_int_eq(agg_value(ag, id, &v), 0);
	return v;
}

static int has_value(am_series_t id)
{
	double v;

	return agg_value(ag, id, &v) == 0;
}

static am_family_t fam(int c, const char *name, enum am_kind kind, unsigned bits,
		       bool sat)
{
	struct am_family_def d = {.name = name,
				  .help = "test",
				  .kind = kind,
				  .labels = {"k"},
				  .bits = bits,
				  .saturating = sat};
	am_family_t f = am_family(&ctx[c], &d);

	ck_assert_int_ge(f, 0);
	return f;
}

static am_series_t ser(int c, am_family_t f, const char *k)
{
	am_series_t id = am_series(&ctx[c], f, (const char *const[]){k});

	ck_assert_uint_ne(id, INV);
	return id;
}

static am_series_t derived(int c, am_family_t f, const char *k, enum am_derive_op op,
			   am_series_t a, am_series_t b, am_series_t cap)
{
	struct am_derive d = {.op = op, .a = a, .b = b, .capacity = cap};

	return am_series_derived(&ctx[c], f, (const char *const[]){k}, &d);
}

static char *render_text(double t_s)
{
	struct snapshot *s = agg_render(ag, S(t_s));
	char *txt;

	ck_assert_ptr_nonnull(s);
	txt = strdup(s->text);
	snapshot_release(s);
	return txt;
}

/* delta(a)/elapsed/capacity over a 32-bit wrap: exact. */
START_TEST(test_ratio_wrap32)
{
	am_family_t c32 = fam(0, "t_bytes_total", AM_COUNTER, 32, false);
	am_family_t g = fam(0, "t_speed", AM_GAUGE, 0, false);
	am_family_t r = fam(0, "t_util_ratio", AM_GAUGE, 0, false);
	am_series_t a = ser(0, c32, "p1"), cap = ser(0, g, "p1");
	am_series_t u = derived(0, r, "p1", AM_DERIVE_RATIO, a, INV, cap);

	ck_assert_uint_ne(u, INV);
	at(0);
	am_emit(&ctx[0], cap, 1024);
	am_emit_u64(&ctx[0], a, 0xFFFFFE00u);
	drain();
	ck_assert(!has_value(u)); /* one reading: no interval yet */
	at(2);
	am_emit(&ctx[0], cap, 1024);
	am_emit_u64(&ctx[0], a, 0x200u); /* wrapped: +0x400 = 1024 in 2 s */
	drain();
	ck_assert_double_eq(value(u), 0.5);
	ck_assert_double_eq(value(a), (double)0xFFFFFE00u + 1024);
}
END_TEST

/* delta(a)/delta(b) past 2^53, where doubles cannot tell the readings apart. */
START_TEST(test_ratio_past_2_53)
{
	am_family_t c = fam(0, "t_ticks_total", AM_COUNTER, 64, false);
	am_family_t r = fam(0, "t_share_ratio", AM_GAUGE, 0, false);
	am_series_t a = ser(0, c, "busy"), b = ser(0, c, "all");
	am_series_t u = derived(0, r, "x", AM_DERIVE_RATIO, a, b, INV);
	uint64_t base = (1ull << 60) + 1;

	ck_assert_uint_ne(u, INV);
	at(0);
	am_emit_u64(&ctx[0], b, base);
	am_emit_u64(&ctx[0], a, base);
	drain();
	at(1);
	am_emit_u64(&ctx[0], b, base + 8);
	am_emit_u64(&ctx[0], a, base + 3);
	drain();
	ck_assert((double)(base + 3) == (double)base); /* what a double loses */
	ck_assert_double_eq(value(u), 3.0 / 8.0);
}
END_TEST

/* A reset of a or b, or a zero denominator: no value for that interval;
 * the next interval is measured from the reading after the reset. */
START_TEST(test_ratio_no_value)
{
	am_family_t c = fam(0, "t_ticks_total", AM_COUNTER, 64, false);
	am_family_t r = fam(0, "t_share_ratio", AM_GAUGE, 0, false);
	am_series_t a = ser(0, c, "busy"), b = ser(0, c, "all");
	am_series_t u = derived(0, r, "x", AM_DERIVE_RATIO, a, b, INV);
	const uint64_t av[] = {100, 150, 10, 30, 60, 60};
	const uint64_t bv[] = {1000, 1100, 1200, 1300, 1300, 1400};
	/* expected after each poll; -1: unchanged (no value) */
	const double want[] = {-1, 0.5, -1, 0.2, -1, 0};
	double last = NAN;

	for (int i = 0; i < 6; i++) {
		at(i);
		am_emit_u64(&ctx[0], b, bv[i]);
		am_emit_u64(&ctx[0], a, av[i]);
		drain();
		if (want[i] >= 0) {
			last = want[i];
			ck_assert_double_eq(value(u), last);
		} else if (i == 0) {
			ck_assert(!has_value(u));
		} else {
			ck_assert_double_eq(value(u), last);
		}
	}
	/* b reset alone */
	at(6);
	am_emit_u64(&ctx[0], b, 5);
	am_emit_u64(&ctx[0], a, 70);
	drain();
	ck_assert_double_eq(value(u), 0);
	at(7);
	am_emit_u64(&ctx[0], b, 25);
	am_emit_u64(&ctx[0], a, 75);
	drain();
	ck_assert_double_eq(value(u), 0.25);
}
END_TEST

START_TEST(test_ratio_capacity_zero)
{
	am_family_t c = fam(0, "t_bytes_total", AM_COUNTER, 64, false);
	am_family_t g = fam(0, "t_speed", AM_GAUGE, 0, false);
	am_family_t r = fam(0, "t_util_ratio", AM_GAUGE, 0, false);
	am_series_t a = ser(0, c, "p"), cap = ser(0, g, "p");
	am_series_t u = derived(0, r, "p", AM_DERIVE_RATIO, a, INV, cap);

	for (int i = 0; i < 3; i++) {
		at(i);
		am_emit(&ctx[0], cap, 0); /* link down: speed 0 */
		am_emit_u64(&ctx[0], a, 100u * (unsigned)i);
		drain();
		ck_assert(!has_value(u));
	}
	at(3);
	am_emit(&ctx[0], cap, 400);
	am_emit_u64(&ctx[0], a, 500);
	drain();
	ck_assert_double_eq(value(u), 0.75);
}
END_TEST

/* b's read failed in one poll: no value there, and the next poll compares
 * the same two polls for a and b (0.5 stays 0.5, not one interval of a
 * over two of b = 0.25). */
START_TEST(test_ratio_b_missing)
{
	am_family_t c = fam(0, "t_ctr_total", AM_COUNTER, 64, false);
	am_family_t g = fam(0, "t_ratio", AM_GAUGE, 0, false);
	am_series_t a = ser(0, c, "a"), b = ser(0, c, "b");
	am_series_t r = derived(0, g, "r", AM_DERIVE_RATIO, a, b, INV);

	for (int p = 1; p <= 5; p++) {
		at(p);
		if (p != 2 && p != 4)
			am_emit_u64(&ctx[0], b, 100u * (unsigned)p);
		am_emit_u64(&ctx[0], a, 50u * (unsigned)p);
		drain();
		if (p <= 2) { /* the first interval ends in the poll without b */
			ck_assert(!has_value(r));
		} else {
			/* p 4 keeps poll 3's value: no new one without b */
			ck_assert_msg(fabs(value(r) - 0.5) < 1e-12, "poll %d: %g", p,
				      value(r));
		}
	}
}
END_TEST

/* Against a capacity, jitter up to 10% over line rate reads 1; more than
 * that is no value (the old InfiniBand collector's rule). */
START_TEST(test_ratio_capacity_jitter)
{
	am_family_t c = fam(0, "t_bytes_total", AM_COUNTER, 64, false);
	am_family_t g = fam(0, "t_speed", AM_GAUGE, 0, false);
	am_family_t r = fam(0, "t_util_ratio", AM_GAUGE, 0, false);
	am_series_t a = ser(0, c, "p"), cap = ser(0, g, "p");
	am_series_t u = derived(0, r, "p", AM_DERIVE_RATIO, a, INV, cap);
	am_family_t r2 = fam(0, "t_share_ratio", AM_GAUGE, 0, false);
	am_series_t b = ser(0, c, "q");
	am_series_t nocap = derived(0, r2, "p", AM_DERIVE_RATIO, a, b, INV);
	/* per poll: bytes moved at line rate 100 B/s, and what the ratio reads
	 * (-1: no value, the gauge keeps the last one) */
	const unsigned step[] = {0, 105, 50, 120, 110, 50};
	const double want[] = {-1, 1, 0.5, -1, 1, 0.5};
	uint64_t total = 0;
	double last = -1;

	for (int i = 0; i < 6; i++) {
		total += step[i];
		at(i);
		am_emit(&ctx[0], cap, 100);
		am_emit_u64(&ctx[0], b, 50 * (uint64_t)i);
		am_emit_u64(&ctx[0], a, total);
		drain();
		if (want[i] >= 0)
			last = want[i];
		if (last < 0)
			ck_assert(!has_value(u));
		else
			ck_assert_msg(value(u) == last, "poll %d: want %g got %g", i, last,
				      value(u));
		/* without a capacity a ratio over 1 is kept as it is (a/b) */
		if (i > 0)
			ck_assert_double_eq_tol(value(nocap), step[i] / 50.0, 1e-12);
	}
}
END_TEST

/* power -50 W does not lower the energy counter: the derived integral
 * refuses a negative rate as AM_INTEGRAL does, and that interval integrates
 * nothing. */
START_TEST(test_integral_negative)
{
	am_family_t w = fam(0, "t_power_watts", AM_GAUGE, 0, false);
	struct am_family_def ed = {
	    .name = "t_energy_joules_total", .help = "e", .kind = AM_COUNTER, .labels = {"k"}};
	am_family_t j = am_family(&ctx[0], &ed);
	am_series_t p = ser(0, w, "x"), e;
	const double watts[] = {100, 100, -50, -50, 100};
	const double want[] = {0, 100, 100, 100, 200};

	e = derived(0, j, "x", AM_DERIVE_INTEGRAL, p, INV, INV);
	ck_assert_uint_ne(e, INV);
	for (int i = 0; i < 5; i++) {
		at(i + 1);
		am_emit(&ctx[0], p, watts[i]);
		drain();
		ck_assert_msg(fabs(value(e) - want[i]) < 1e-9, "t=%d: want %g got %g",
			      i + 1, want[i], value(e));
	}
}
END_TEST

/* A retired derived series stays out while its input goes on; naming it
 * again with am_series_derived, or retiring and reviving its input, brings
 * it back. */
START_TEST(test_retire_derived)
{
	am_family_t c = fam(0, "t_bytes_total", AM_COUNTER, 64, false);
	am_family_t r = fam(0, "t_util_ratio", AM_GAUGE, 0, false);
	am_series_t a = ser(0, c, "p1");
	am_series_t u = derived(0, r, "p1", AM_DERIVE_RATIO, a, INV, INV);
	char *txt;

	for (int i = 0; i < 2; i++) {
		at(i);
		am_emit_u64(&ctx[0], a, 100u * (unsigned)i);
		drain();
	}
	ck_assert_double_eq(value(u), 100);
	am_series_retire(&ctx[0], u);
	drain();
	ck_assert(!has_value(u));
	for (int i = 2; i < 4; i++) {
		at(i);
		am_emit_u64(&ctx[0], a, 100u * (unsigned)i);
		drain();
		ck_assert(!has_value(u));
	}
	txt = render_text(3);
	ck_assert_ptr_null(strstr(txt, "t_util_ratio"));
	ck_assert_ptr_nonnull(strstr(txt, "t_bytes_total{k=\"p1\"} 300\n"));
	free(txt);
	/* named again: computed from the next update on */
	ck_assert_uint_eq(derived(0, r, "p1", AM_DERIVE_RATIO, a, INV, INV), u);
	at(4);
	am_emit_u64(&ctx[0], a, 400);
	drain();
	ck_assert(!has_value(u)); /* its first interval after coming back */
	at(5);
	am_emit_u64(&ctx[0], a, 500);
	drain();
	ck_assert_double_eq(value(u), 100);
	/* retired again; then its input goes and comes back: so does it */
	am_series_retire(&ctx[0], u);
	at(6);
	am_emit_u64(&ctx[0], a, 600);
	drain();
	ck_assert(!has_value(u));
	am_series_retire(&ctx[0], a);
	drain();
	for (int i = 7; i < 9; i++) {
		at(i);
		am_emit_u64(&ctx[0], a, 10u * (unsigned)i);
		drain();
	}
	ck_assert_double_eq(value(u), 10);
}
END_TEST

/* The agent's own names are not a collector's: a second HELP/TYPE of
 * process_open_fds would make the whole exposition invalid. */
START_TEST(test_reserved_names)
{
	const char *names[] = {"process_open_fds", "process_cpu_seconds_total",
			       "accelmon_collector_up", "accelmon_http_requests_total"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct am_family_def d = {.name = names[i],
					  .help = "mine",
					  .kind = strstr(names[i], "_total") ? AM_COUNTER
									     : AM_GAUGE};

		ck_assert_int_eq(am_family(&ctx[0], &d), -EINVAL);
	}
	ck_assert_int_eq(series_family_count(), 0);
	/* the exporters' stats must take reserved names */
	{
		static _Atomic uint64_t v;

		ck_assert_int_eq(agg_stat_register("vendor_stat", "h", 0, "", &v), -EINVAL);
	}
	/* a name that only starts alike is free */
	ck_assert_int_ge(am_family(&ctx[0], &(struct am_family_def){.name = "processor_temp",
								    .help = "h",
								    .kind = AM_GAUGE}),
			 0);
}
END_TEST

/* Two instances feeding one series (same family and labels) would
 * interleave two devices' readings: the second is refused, with one line
 * naming both instances and the series, and the first's counter is clean. */
START_TEST(test_two_owners)
{
	char path[] = "/tmp/accelmon-owners.XXXXXX", log[8192];
	int fd = mkstemp(path), saved = dup(2);
	am_family_t c0, c1, g0;
	am_series_t s0, s1, d1;
	const char *first;
	ssize_t n;

	ck_assert_int_ge(fd, 0);
	ctx_set_instance(&ctx[0], "schematest/a");
	ctx_set_instance(&ctx[1], "schematest/b");
	c0 = fam(0, "t_bytes_total", AM_COUNTER, 64, false);
	c1 = fam(1, "t_bytes_total", AM_COUNTER, 64, false);
	g0 = fam(1, "t_util_ratio", AM_GAUGE, 0, false);
	s0 = ser(0, c0, "mlx5_0");
	fflush(stderr);
	dup2(fd, 2);
	s1 = am_series(&ctx[1], c1, (const char *const[]){"mlx5_0"});
	ck_assert_uint_eq(s1, INV);
	ck_assert_uint_eq(am_series(&ctx[1], c1, (const char *const[]){"mlx5_0"}), INV);
	/* nor may it derive from it, or take its labels for a derived one */
	d1 = derived(1, g0, "x", AM_DERIVE_RATIO, s0, INV, INV);
	ck_assert_uint_eq(d1, INV);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	n = pread(fd, log, sizeof(log) - 1, 0);
	close(fd);
	unlink(path);
	ck_assert_int_gt(n, 0);
	log[n] = '\0';
	first = strstr(log, "schematest/b: cannot intern series t_bytes_total{k=\"mlx5_0\"}: "
			    "it is fed by collector instance schematest/a; two instances "
			    "feeding one series would corrupt it (refused for schematest/b)\n");
	ck_assert_msg(first != NULL, "log: %s", log);
	ck_assert_msg(!strstr(strchr(first, '\n'), "cannot intern series t_bytes_total"), "log: %s", log); /* once */
	/* instance a's counter sees only its own readings: no resets */
	for (int i = 0; i < 3; i++) {
		at(i);
		am_emit_u64(&ctx[0], s0, 1000u * (unsigned)(i + 1));
		am_emit_u64(&ctx[1], s1, 7); /* dropped: invalid id */
		drain();
	}
	ck_assert_double_eq(value(s0), 3000);
	/* the same owner still finds its series */
	ck_assert_uint_eq(ser(0, c0, "mlx5_0"), s0);
}
END_TEST

/* A saturating counter at its maximum gives no ratio (its delta is a
 * lower bound), and the SATURATED flag follows it. */
START_TEST(test_saturation)
{
	am_family_t c = fam(0, "t_errors_total", AM_COUNTER, 8, true);
	am_family_t r = fam(0, "t_err_ratio", AM_GAUGE, 0, false);
	am_family_t fl = fam(0, "t_stat_saturated", AM_GAUGE, 0, false);
	am_series_t a = ser(0, c, "e");
	am_series_t u = derived(0, r, "e", AM_DERIVE_RATIO, a, INV, INV);
	am_series_t s = derived(0, fl, "e", AM_DERIVE_SATURATED, a, INV, INV);
	const uint64_t av[] = {10, 20, 255, 255, 0, 4};
	const double want_flag[] = {0, 0, 1, 1, 0, 0};
	const double want_ratio[] = {-1, 10, 10, 10, 10, 4};

	ck_assert_uint_ne(u, INV);
	ck_assert_uint_ne(s, INV);
	for (int i = 0; i < 6; i++) {
		at(i);
		am_emit_u64(&ctx[0], a, av[i]);
		drain();
		ck_assert_double_eq(value(s), want_flag[i]);
		if (want_ratio[i] < 0)
			ck_assert(!has_value(u));
		else
			ck_assert_double_eq(value(u), want_ratio[i]);
	}
}
END_TEST

/* Ratios into a WINDOW_MAX family: the peak over the window. */
START_TEST(test_ratio_window_max)
{
	am_family_t c = fam(0, "t_bytes_total", AM_COUNTER, 64, false);
	struct am_family_def pd = {.name = "t_peak_ratio",
				   .help = "p",
				   .kind = AM_WINDOW_MAX,
				   .labels = {"k"},
				   .window_s = 3};
	am_family_t p = am_family(&ctx[0], &pd);
	am_series_t a = ser(0, c, "p");
	am_series_t pk = derived(0, p, "p", AM_DERIVE_RATIO, a, INV, INV);
	const uint64_t av[] = {0, 20, 100, 140, 150, 160};
	const double want[] = {-1, 20, 80, 80, 80, 40};

	ck_assert_int_ge(p, 0);
	for (int i = 0; i < 6; i++) {
		at(i);
		am_emit_u64(&ctx[0], a, av[i]);
		drain();
		if (want[i] < 0)
			ck_assert(!has_value(pk));
		else
			ck_assert_double_eq(value(pk), want[i]);
	}
}
END_TEST

/* A residency ratio into an AM_INTEGRAL family: seconds. */
START_TEST(test_ratio_integral)
{
	am_family_t c = fam(0, "t_ticks_total", AM_COUNTER, 32, false);
	am_family_t sec = fam(0, "t_throttled_seconds_total", AM_INTEGRAL, 0, false);
	am_series_t a = ser(0, c, "thr"), b = ser(0, c, "all");
	am_series_t s = derived(0, sec, "thr", AM_DERIVE_RATIO, a, b, INV);

	for (int i = 0; i < 4; i++) {
		at(i);
		am_emit_u64(&ctx[0], b, 1000u * (unsigned)i);
		am_emit_u64(&ctx[0], a, 250u * (unsigned)i);
		drain();
	}
	/* the first ratio starts the integral at 0, two more add 0.25 each */
	ck_assert_double_eq_tol(value(s), 0.5, 1e-12);
	/* a reset: that interval adds nothing, the next one adds its own */
	at(4);
	am_emit_u64(&ctx[0], b, 4000);
	am_emit_u64(&ctx[0], a, 0);
	drain();
	ck_assert_double_eq_tol(value(s), 0.5, 1e-12);
	at(5);
	am_emit_u64(&ctx[0], b, 5000);
	am_emit_u64(&ctx[0], a, 500);
	drain();
	ck_assert_double_eq_tol(value(s), 1.0, 1e-12);
}
END_TEST

/* Power integrated into energy by the AM_INTEGRAL rule: each sample's
 * value x seconds since a's previous sample, nothing over a long gap. */
START_TEST(test_integral_power)
{
	am_family_t w = am_std_family(
	    &ctx[0], AM_STD_POWER, &(struct am_std_use){.kind = AM_GAUGE, .scale = 1e-3});
	am_family_t j = am_std_family(&ctx[0], AM_STD_ENERGY, NULL);
	const char *lv[] = {"gpu0", "U0"};
	am_series_t p, e;
	const double mw[] = {100000, 200000, 300000};

	ck_assert_int_ge(w, 0);
	ck_assert_int_ge(j, 0);
	p = am_series(&ctx[0], w, lv);
	e = am_series_derived(
	    &ctx[0], j, lv,
	    &(struct am_derive){
		.op = AM_DERIVE_INTEGRAL, .a = p, .b = INV, .capacity = INV});
	ck_assert_uint_ne(e, INV);
	for (int i = 0; i < 3; i++) {
		at(i * 0.5);
		am_emit(&ctx[0], p, mw[i]);
		drain();
	}
	/* 0, + 200 W x 0.5 s, + 300 W x 0.5 s */
	ck_assert_double_eq_tol(value(e), 250, 1e-9);
	at(10); /* 9.5 s > 3 intervals: not observed, not integrated */
	am_emit(&ctx[0], p, 400000);
	drain();
	ck_assert_double_eq_tol(value(e), 250, 1e-9);
	at(11);
	am_emit(&ctx[0], p, 100000);
	drain();
	ck_assert_double_eq_tol(value(e), 350, 1e-9);
	{
		char *txt = render_text(11);

		ck_assert_ptr_nonnull(
		    strstr(txt, "# TYPE accel_energy_joules_total counter\n"));
		ck_assert_ptr_nonnull(strstr(
		    txt, "accel_energy_joules_total{device=\"gpu0\",uuid=\"U0\"} 350\n"));
		free(txt);
	}
}
END_TEST

/* Retire: out of the exposition at once, with the series derived from it;
 * a later sample starts a fresh counter from its reading. */
START_TEST(test_retire_revive)
{
	am_family_t c = fam(0, "t_bytes_total", AM_COUNTER, 64, false);
	am_family_t r = fam(0, "t_util_ratio", AM_GAUGE, 0, false);
	am_series_t a = ser(0, c, "p1"), keep = ser(0, c, "p2");
	am_series_t u = derived(0, r, "p1", AM_DERIVE_RATIO, a, INV, INV);
	char *txt;

	at(0);
	am_emit_u64(&ctx[0], a, 1000);
	am_emit_u64(&ctx[0], keep, 7);
	drain();
	at(1);
	am_emit_u64(&ctx[0], a, 1500);
	am_emit_u64(&ctx[0], keep, 8);
	am_series_retire(&ctx[0], a); /* after its sample, in the same poll */
	drain();
	ck_assert(!has_value(a));
	ck_assert(!has_value(u));
	ck_assert_double_eq(value(keep), 8);
	txt = render_text(1);
	ck_assert_ptr_null(strstr(txt, "k=\"p1\""));
	ck_assert_ptr_nonnull(strstr(txt, "t_bytes_total{k=\"p2\"} 8\n"));
	free(txt);
	at(2);
	am_emit_u64(&ctx[0], a, 40); /* the port is back, counter cleared */
	am_emit_u64(&ctx[0], keep, 9);
	drain();
	ck_assert_double_eq(value(a), 40);
	ck_assert(!has_value(u)); /* first interval of the new series */
	at(3);
	am_emit_u64(&ctx[0], a, 100);
	drain();
	ck_assert_double_eq(value(u), 60);
	txt = render_text(3);
	/* listed once, in id order again; the derived series too, though its
	 * first computation after the revival had no value */
	ck_assert_ptr_nonnull(strstr(txt, "t_bytes_total{k=\"p1\"} 100\n"
					  "t_bytes_total{k=\"p2\"} 9\n"));
	{
		const char *l = strstr(txt, "t_util_ratio{k=\"p1\"} 60\n");

		ck_assert_ptr_nonnull(l);
		ck_assert_ptr_null(strstr(l + 1, "t_util_ratio{"));
	}
	free(txt);
	/* retiring what was never seen, or twice, changes nothing */
	am_series_retire(&ctx[0], keep);
	am_series_retire(&ctx[0], keep);
	drain();
	ck_assert(!has_value(keep));
	ck_assert_double_eq(value(a), 100);
}
END_TEST

/* HELP, unit and labels come from the schema, whichever of two collectors
 * registers first and however they feed the family. */
START_TEST(test_help_order)
{
	const struct am_family_def *d = am_std_def(AM_STD_POWER);
	struct am_std_use mw = {.kind = AM_GAUGE, .scale = 1e-3};
	struct am_std_use uw = {.kind = AM_WINDOW_MAX, .scale = 1e-6};
	char *text[2];

	ck_assert_ptr_nonnull(d);
	for (int order = 0; order < 2; order++) {
		int first = order, second = 1 - order;
		am_family_t h[2];
		const char *lv[] = {"d", "u"};

		teardown();
		setup();
		/* instance 0 reports mW, instance 1 uW into a window */
		h[first] = am_std_family(&ctx[first], AM_STD_POWER, first ? &uw : &mw);
		h[second] = am_std_family(&ctx[second], AM_STD_POWER, second ? &uw : &mw);
		ck_assert_int_ge(h[0], 0);
		ck_assert_int_ge(h[1], 0);
		ck_assert_ptr_eq(series_view_get(h[0])->fam, series_view_get(h[1])->fam);
		ck_assert_str_eq(series_view_get(h[0])->fam->help, d->help);
		ck_assert_str_eq(series_view_get(h[0])->fam->unit, "watts");
		am_emit(&ctx[0], am_series(&ctx[0], h[0], lv), 1000);
		drain();
		text[order] = render_text(0);
	}
	ck_assert_str_eq(text[0], text[1]);
	ck_assert_ptr_nonnull(strstr(text[0], "# HELP accel_power_watts Power draw"));
	free(text[0]);
	free(text[1]);
}
END_TEST

START_TEST(test_refusals)
{
	struct am_family_def own = {.name = "accel_power_watts",
				    .help = "mine",
				    .kind = AM_GAUGE,
				    .labels = {"device", "uuid"}};
	am_family_t c, g, other;
	am_series_t a, ga, oa;

	/* a schema name through am_family: refused, whatever its definition */
	ck_assert_int_eq(am_family(&ctx[0], &own), -EINVAL);
	own.name = "fabric_port_stat_saturated";
	ck_assert_int_eq(am_family(&ctx[0], &own), -EINVAL);
	/* a vendor family of its own is fine */
	own.name = "accel_vendor_widget_ratio";
	ck_assert_int_ge(am_family(&ctx[0], &own), 0);
	/* kinds that do not expose the family's type */
	ck_assert_int_eq(
	    am_std_family(&ctx[0], AM_STD_ENERGY, &(struct am_std_use){.kind = AM_GAUGE}),
	    -EINVAL);
	ck_assert_int_eq(am_std_family(&ctx[0], AM_STD_POWER,
				       &(struct am_std_use){.kind = AM_INTEGRAL}),
			 -EINVAL);
	ck_assert_int_eq(am_std_family(&ctx[0], AM_STD_ACCEL_INFO,
				       &(struct am_std_use){.kind = AM_GAUGE}),
			 -EINVAL);
	ck_assert_int_eq(am_std_family(&ctx[0], AM_STD_UTILIZATION,
				       &(struct am_std_use){.kind = (enum am_kind)9}),
			 -EINVAL);
	ck_assert_int_eq(am_std_family(&ctx[0], AM_STD__COUNT, NULL), -EINVAL);
	ck_assert_int_ge(am_std_family(&ctx[0], AM_STD_BUSY_SECONDS,
				       &(struct am_std_use){.kind = AM_COUNTER}),
			 0);
	ck_assert_int_ge(am_std_family(&ctx[0], AM_STD_POWER,
				       &(struct am_std_use){.kind = AM_WINDOW_MEAN}),
			 0);
	ck_assert_ptr_null(am_std_def(AM_STD__COUNT));

	/* derived inputs of the wrong kind or another instance */
	c = fam(0, "t_bytes_total", AM_COUNTER, 64, false);
	g = fam(0, "t_speed", AM_GAUGE, 0, false);
	other = fam(1, "t_other_total", AM_COUNTER, 64, false);
	a = ser(0, c, "p");
	ga = ser(0, g, "p");
	oa = ser(1, other, "p");
	ck_assert_uint_eq(derived(0, g, "r1", AM_DERIVE_RATIO, ga, INV, INV), INV);
	ck_assert_uint_eq(derived(0, g, "r2", AM_DERIVE_RATIO, a, ga, INV), INV);
	ck_assert_uint_eq(derived(0, g, "r3", AM_DERIVE_RATIO, a, oa, INV), INV);
	ck_assert_uint_eq(derived(0, c, "r4", AM_DERIVE_RATIO, a, INV, INV), INV);
	ck_assert_uint_eq(derived(0, g, "r5", AM_DERIVE_SATURATED, a, INV, INV), INV);
	ck_assert_uint_eq(derived(0, c, "r6", AM_DERIVE_INTEGRAL, a, INV, INV), INV);
	ck_assert_uint_eq(derived(0, g, "r7", (enum am_derive_op)7, a, INV, INV), INV);
	/* labels of a plain series are not free for a derived one */
	ck_assert_uint_eq(derived(0, g, "p", AM_DERIVE_RATIO, a, INV, ga), INV);
	ck_assert_uint_ne(derived(0, g, "ok", AM_DERIVE_RATIO, a, INV, ga), INV);
	/* the same binding again: the same series */
	ck_assert_uint_eq(derived(0, g, "ok", AM_DERIVE_RATIO, a, INV, ga),
			  derived(0, g, "ok", AM_DERIVE_RATIO, a, INV, ga));
	ck_assert_uint_eq(derived(0, g, "ok", AM_DERIVE_RATIO, a, INV, INV), INV);
}
END_TEST

/* Each refusal is one line naming the instance, the family and the series
 * as the collector passed it. stderr (the log) goes to a file meanwhile. */
START_TEST(test_refusal_lines)
{
	char path[] = "/tmp/accelmon-refusals.XXXXXX", log[8192], want[160];
	struct am_family_def own = {.name = "accel_power_watts",
				    .help = "mine",
				    .kind = AM_GAUGE,
				    .labels = {"device"}};
	int fd = mkstemp(path), saved = dup(2);
	am_family_t c, g, other;
	am_series_t a, oa;
	ssize_t n;

	ck_assert_int_ge(fd, 0);
	ctx_set_instance(&ctx[0], "schematest/a");
	fflush(stderr);
	dup2(fd, 2);
	c = fam(0, "t_bytes_total", AM_COUNTER, 64, false);
	g = fam(0, "t_speed", AM_GAUGE, 0, false);
	other = fam(1, "t_other_total", AM_COUNTER, 64, false);
	a = ser(0, c, "p");
	oa = ser(1, other, "q");
	ser(0, g, "p");
	ck_assert_int_eq(am_family(&ctx[0], &own), -EINVAL);
	ck_assert_uint_eq(derived(0, g, "r3", AM_DERIVE_RATIO, a, oa, INV), INV);
	ck_assert_uint_eq(derived(0, g, "p", AM_DERIVE_RATIO, a, INV, INV), INV);
	ck_assert_uint_eq(am_series(&ctx[0], g, (const char *const[]){NULL}), INV);
	am_series_retire(&ctx[0], oa);
	am_series_retire(&ctx[0], 999999);
	am_series_retire(&ctx[0], a); /* its own: no line */
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	n = pread(fd, log, sizeof(log) - 1, 0);
	close(fd);
	unlink(path);
	ck_assert_int_gt(n, 0);
	log[n] = '\0';
	ck_assert_ptr_nonnull(strstr(log,
				     "schematest/a: cannot register family "
				     "accel_power_watts with am_family: it is a schema "
				     "family"));
	ck_assert_ptr_nonnull(strstr(log,
				     "schematest/a: cannot derive series "
				     "t_speed{k=\"r3\"}: an input belongs to another "
				     "collector instance\n"));
	ck_assert_ptr_nonnull(
	    strstr(log, "schematest/a: cannot derive series "
			"t_speed{k=\"p\"}: a label without a value, or these "
			"labels name a series with other inputs\n"));
	ck_assert_ptr_nonnull(strstr(log, "schematest/a: cannot intern series "
					  "t_speed{k=(none)}: "));
	snprintf(want, sizeof(want),
		 "schematest/a: cannot retire series %u (t_other_total{k=\"q\"}): it "
		 "belongs to another collector instance\n",
		 oa);
	ck_assert_ptr_nonnull(strstr(log, want));
	ck_assert_ptr_nonnull(
	    strstr(log, "schematest/a: cannot retire series 999999: no such series\n"));
	ck_assert_ptr_null(strstr(log, "t_bytes_total{k=\"p\"}")); /* own retire */
	/* the foreign retire was refused: the series is still there */
	drain();
	ck_assert_ptr_nonnull(series_get(oa));
}
END_TEST

/* Every schema family registers as defined, with DESIGN.md's conventions. */
START_TEST(test_table)
{
	for (int i = 0; i < AM_STD__COUNT; i++) {
		const struct am_family_def *d = am_std_def((enum am_std)i);
		int n = 0;

		ck_assert_ptr_nonnull(d);
		ck_assert_ptr_nonnull(d->name);
		ck_assert_msg(d->help && strlen(d->help) > 10, "%s: help", d->name);
		ck_assert_int_ge(am_std_family(&ctx[0], (enum am_std)i, NULL), 0);
		while (n < AM_MAX_LABELS && d->labels[n])
			n++;
		ck_assert_int_ge(n, 2);
		ck_assert_str_eq(d->labels[0], "device");
		/* per-peer families (pcap): device, then peer (or address) */
		ck_assert(strcmp(d->labels[1], "uuid") == 0 ||
			  strcmp(d->labels[1], "port") == 0 ||
			  (strncmp(d->name, "fabric_peer_", 12) == 0 &&
			   (strcmp(d->labels[1], "peer") == 0 ||
			    strcmp(d->labels[1], "address") == 0)));
		if (d->unit)
			ck_assert_msg(strstr(d->name, d->unit), "%s: unit %s", d->name,
				      d->unit);
		ck_assert_ptr_null(strstr(d->name, "_counter_"));
	}
	ck_assert_str_eq(am_std_def(AM_STD_PORT_STAT_SATURATED)->name,
			 "fabric_port_stat_saturated");
	ck_assert_str_eq(am_std_def(AM_STD_ACCEL_INFO)->labels[8], "firmware_version");
}
END_TEST

static Suite *schema_suite(void)
{
	Suite *s = suite_create("schema");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_ratio_wrap32);
	tcase_add_test(tc, test_ratio_past_2_53);
	tcase_add_test(tc, test_ratio_no_value);
	tcase_add_test(tc, test_ratio_capacity_zero);
	tcase_add_test(tc, test_saturation);
	tcase_add_test(tc, test_ratio_window_max);
	tcase_add_test(tc, test_ratio_integral);
	tcase_add_test(tc, test_integral_power);
	tcase_add_test(tc, test_retire_revive);
	tcase_add_test(tc, test_two_owners);
	tcase_add_test(tc, test_reserved_names);
	tcase_add_test(tc, test_retire_derived);
	tcase_add_test(tc, test_integral_negative);
	tcase_add_test(tc, test_ratio_capacity_jitter);
	tcase_add_test(tc, test_ratio_b_missing);
	tcase_add_test(tc, test_help_order);
	tcase_add_test(tc, test_refusals);
	tcase_add_test(tc, test_refusal_lines);
	tcase_add_test(tc, test_table);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(schema_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
