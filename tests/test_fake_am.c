/* Check suite for tests/fake_am.c, the fake of the collector API every unit
 * suite relies on: its family and series identity is compared with the
 * agent's own registry (agent/series.c, same inputs side by side), and its
 * policing of API misuse, retire and derived series, instances and options
 * are checked, so a suite passing on the fake means the same in the agent.
 */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accelmon/schema.h"
#include "fake_am.h"
#include "series.h"

static struct am_ctx *ctx;
static char violated[512];
static unsigned nviolations;

static void record_violation(const char *msg)
{
	snprintf(violated, sizeof(violated), "%s", msg);
	nviolations++;
}

static void setup(void)
{
	ctx = fake_am_new("fake", "/sys");
	fake_am_on_violation(record_violation);
	violated[0] = '\0';
	nviolations = 0;
	series_reset();
}

static void teardown(void)
{
	fake_am_free(ctx);
	series_reset();
}

#define DEF(n, k, ...)                                                                   \
	{                                                                                \
		.name = n, .help = "h", .kind = k, .labels = { __VA_ARGS__ }             \
	}

/* Registrations in order; each is given to the fake and to the agent's
 * registry, and both must accept, refuse and merge the same ones. */
static const struct am_family_def regs[] = {
    DEF("fabric_x_errors_total", AM_COUNTER, "device", "port", "type"),
    /* another width: a view of the same family */
    {.name = "fabric_x_errors_total",
     .help = "h",
     .kind = AM_COUNTER,
     .labels = {"device", "port", "type"},
     .bits = 8,
     .saturating = true},
    {.name = "fabric_x_errors_total",
     .help = "h",
     .kind = AM_COUNTER,
     .labels = {"device", "port", "type"},
     .bits = 8,
     .saturating = true},
    /* 64 and 0 bits, scale 1 and 0, window 15 and 0 are the same view */
    {.name = "fabric_x_errors_total",
     .help = "h",
     .kind = AM_COUNTER,
     .labels = {"device", "port", "type"},
     .bits = 64,
     .scale = 1},
    /* an integral view of a counter family: same family */
    DEF("fabric_x_errors_total", AM_INTEGRAL, "device", "port", "type"),
    /* a gauge with a counter's name: refused */
    DEF("fabric_x_errors_total", AM_GAUGE, "device", "port", "type"),
    DEF("accel_x_power_watts", AM_GAUGE, "device"),
    {.name = "accel_x_power_watts",
     .help = "h",
     .kind = AM_GAUGE,
     .labels = {"device"},
     .scale = 1e-3},
    DEF("accel_power_peak_watts", AM_WINDOW_MAX, "device"),
    {.name = "accel_power_peak_watts",
     .help = "h",
     .kind = AM_WINDOW_MAX,
     .labels = {"device"},
     .window_s = 15},
    /* other label names: another view, same family */
    DEF("accel_x_power_watts", AM_GAUGE, "gpu"),
    /* the core's refusals */
    DEF("accel_busy_seconds", AM_INTEGRAL, "device"), /* no _total */
    DEF("accel_x_up_total", AM_GAUGE, "device"),	      /* _total on a gauge */
    DEF("accel_identity", AM_INFO, "device"),	      /* no _info */
    DEF("9accel_up", AM_GAUGE, "device"),	      /* bad name */
    DEF("accel-up", AM_GAUGE, "device"),	      /* bad name */
    DEF("accel:up", AM_GAUGE, "device"),	      /* colons are fine */
    DEF("accel_x_up", AM_GAUGE, "device", "device"),    /* label twice */
    DEF("accel_x_up", AM_GAUGE, "__device"),	      /* reserved label */
    DEF("accel_x_up", AM_GAUGE, "dev-ice"),	      /* bad label */
    DEF("accel_x_info", AM_INFO, "device", "uuid", "model"),
    {.name = "accel_temp_celsius", .help = "h", .kind = AM_GAUGE, .scale = -1},
    {.name = "accel_temp_celsius", .help = "h", .kind = AM_GAUGE, .scale = NAN},
    {.name = "accel_temp_celsius", .help = "h", .kind = AM_GAUGE, .window_s = -1},
    {.name = "accel_x_total", .help = "h", .kind = AM_COUNTER, .bits = 65},
    {.name = "accel_temp_celsius", .help = "h", .kind = (enum am_kind)9},
    DEF("accel_temp_celsius", AM_GAUGE),
};
#define NREGS (sizeof(regs) / sizeof(regs[0]))

START_TEST(t_families_like_core)
{
	int fake[NREGS], core[NREGS];

	for (size_t i = 0; i < NREGS; i++) {
		fake[i] = am_family(ctx, &regs[i]);
		core[i] = series_family_register(&regs[i], 1);
		ck_assert_msg((fake[i] < 0) == (core[i] < 0),
			      "row %zu (%s): fake %d, core %d", i, regs[i].name, fake[i],
			      core[i]);
	}
	/* the same merges: view handles equal exactly when the core's are */
	for (size_t i = 0; i < NREGS; i++)
		for (size_t j = 0; j < i; j++)
			if (fake[i] >= 0 && fake[j] >= 0)
				ck_assert_msg((fake[i] == fake[j]) ==
						  (core[i] == core[j]),
					      "rows %zu and %zu", j, i);
	/* and each view keeps its own aggregation */
	ck_assert_uint_eq(fake_am_view(ctx, fake[1])->bits, 8);
	ck_assert(fake_am_view(ctx, fake[1])->saturating);
	ck_assert_int_eq(fake_am_view(ctx, fake[4])->kind, AM_INTEGRAL);
	ck_assert_ptr_eq(fake_am_family(ctx, "fabric_x_errors_total"),
			 fake_am_view(ctx, fake[0]));
	ck_assert_ptr_null(fake_am_family(ctx, "accel_busy_seconds"));
}
END_TEST

START_TEST(t_series_like_core)
{
	static const char *const vals[][3] = {
	    {"mlx5_0", "1", "symbol_error"}, {"mlx5_0", "1", "link_downed"},
	    {"mlx5_0", "1", "symbol_error"}, {"mlx5_1", "1", "symbol_error"},
	    {"a\"b\\c\nd", "1", "x"},
	};
	/* rows 0-4 of regs: views of one family; a series is one whatever the
	 * view it is interned with */
	int fv[5], cv[5];
	am_series_t fs[5][5], cs[5][5];

	for (int v = 0; v < 5; v++) {
		fv[v] = am_family(ctx, &regs[v]);
		cv[v] = series_family_register(&regs[v], 1);
	}
	for (int v = 0; v < 5; v++)
		for (int k = 0; k < 5; k++) {
			fs[v][k] = am_series(ctx, fv[v], vals[k]);
			cs[v][k] = series_intern(cv[v], vals[k], 1);
			ck_assert_uint_ne(fs[v][k], AM_SERIES_INVALID);
		}
	for (int a = 0; a < 25; a++)
		for (int b = 0; b < a; b++)
			ck_assert_msg((fs[a / 5][a % 5] == fs[b / 5][b % 5]) ==
					  (cs[a / 5][a % 5] == cs[b / 5][b % 5]),
				      "interning %d and %d", b, a);
	/* exported label text, escapes included */
	for (int k = 0; k < 5; k++)
		ck_assert_str_eq(fake_am_series(ctx, fs[0][k])->label_text,
				 series_get(cs[0][k])->label_text);
	ck_assert_uint_eq(fake_am_nseries(ctx), series_count());
	ck_assert_uint_eq(fake_am_interns(ctx), 25);
	/* the first registration stays the series' view */
	ck_assert_int_eq(fake_am_series(ctx, fs[1][0])->view, fv[0]);
	/* a missing value or an unknown view: no series */
	ck_assert_uint_eq(am_series(ctx, fv[0], (const char *const[]){"x", NULL, "y"}),
			  AM_SERIES_INVALID);
	ck_assert_uint_eq(am_series(ctx, 999, vals[0]), AM_SERIES_INVALID);
	ck_assert_str_eq(
	    fake_am_find(ctx, "fabric_x_errors_total", "mlx5_1,1,symbol_error")
		->label_text,
	    "{device=\"mlx5_1\",port=\"1\",type=\"symbol_error\"}");
	ck_assert_ptr_nonnull(
	    fake_am_match(ctx, "fabric_x_errors_total", "type=\"link"));
	ck_assert_str_eq(fake_am_label(ctx, fake_am_series(ctx, fs[0][1]), "type"),
			 "link_downed");
	ck_assert_ptr_null(fake_am_label(ctx, fake_am_series(ctx, fs[0][1]), "nope"));
}
END_TEST

START_TEST(t_samples_and_misuse)
{
	am_family_t c = am_family(ctx, &regs[0]);
	am_family_t g = am_family(ctx, &regs[7]); /* accel_power_watts, scale 1e-3 */
	am_series_t sc = am_series(ctx, c, (const char *const[]){"d", "1", "t"});
	am_series_t sg = am_series(ctx, g, (const char *const[]){"nvidia0"});

	fake_am_set_time(ctx, 5000000000LL);
	am_emit_u64(ctx, sc, 18446744073709551557ull);
	ck_assert(fake_am_series(ctx, sc)->last_u64 == 18446744073709551557ull);
	ck_assert(fake_am_series(ctx, sc)->last_is_u64);
	am_emit(ctx, sc, 42);
	am_emit(ctx, sg, 312500);
	ck_assert_uint_eq(nviolations, 0);
	ck_assert_double_eq(fake_am_scaled(ctx, fake_am_series(ctx, sg)), 312.5);
	ck_assert_int_eq(fake_am_series(ctx, sg)->last_ns, 5000000000LL);
	ck_assert_uint_eq(fake_am_series(ctx, sc)->nsamples, 2);
	ck_assert_uint_eq(fake_am_samples(ctx), 3);
	/* what the aggregator would drop or misread */
	am_emit(ctx, sc, 1.5);
	ck_assert_ptr_nonnull(strstr(violated, "got 1.5"));
	am_emit(ctx, sc, -1);
	am_emit_u64(ctx, sg, 7);
	ck_assert_ptr_nonnull(strstr(violated, "not an AM_COUNTER view"));
	am_emit(ctx, 12345, 1);
	ck_assert_ptr_nonnull(strstr(violated, "never interned"));
	ck_assert_uint_eq(nviolations, 4);
	/* AM_SERIES_INVALID is ignored, as by the agent */
	am_emit(ctx, AM_SERIES_INVALID, 1);
	am_emit_u64(ctx, AM_SERIES_INVALID, 1);
	ck_assert_uint_eq(nviolations, 4);
}
END_TEST

START_TEST(t_retire_and_derived)
{
	am_family_t tx =
	    am_family(ctx, &(struct am_family_def)DEF("fabric_x_transmit_bytes_total",
						      AM_COUNTER, "device"));
	am_family_t sat = am_family(ctx, &regs[1]);
	am_family_t speed =
	    am_family(ctx, &(struct am_family_def)DEF("fabric_port_link_speed_bytes",
						      AM_GAUGE, "device"));
	am_family_t util =
	    am_family(ctx, &(struct am_family_def)DEF("fabric_x_utilization_ratio",
						      AM_GAUGE, "device"));
	am_family_t flag =
	    am_family(ctx, &(struct am_family_def)DEF("fabric_x_stat_saturated",
						      AM_GAUGE, "device"));
	const char *const d0[] = {"mlx5_0"};
	am_series_t a = am_series(ctx, tx, d0), cap = am_series(ctx, speed, d0);
	am_series_t e = am_series(ctx, sat, (const char *const[]){"mlx5_0", "1", "x"});
	struct am_derive ratio = {AM_DERIVE_RATIO, a, AM_SERIES_INVALID, cap};
	struct am_derive bad = {AM_DERIVE_RATIO, cap, AM_SERIES_INVALID, a};
	struct am_derive satd = {AM_DERIVE_SATURATED, e, AM_SERIES_INVALID,
				 AM_SERIES_INVALID};
	struct am_derive nosat = {AM_DERIVE_SATURATED, a, AM_SERIES_INVALID,
				  AM_SERIES_INVALID};
	struct am_derive integ = {AM_DERIVE_INTEGRAL, cap, AM_SERIES_INVALID,
				  AM_SERIES_INVALID};
	am_series_t u, f;

	u = am_series_derived(ctx, util, d0, &ratio);
	ck_assert_uint_ne(u, AM_SERIES_INVALID);
	ck_assert(fake_am_series(ctx, u)->derived);
	ck_assert_uint_eq(fake_am_series(ctx, u)->derive.capacity, cap);
	f = am_series_derived(ctx, flag, d0, &satd);
	ck_assert_uint_ne(f, AM_SERIES_INVALID);
	/* inputs of the wrong kind: refused, logged */
	ck_assert_uint_eq(am_series_derived(ctx, util, (const char *const[]){"b"}, &bad),
			  AM_SERIES_INVALID);
	ck_assert_uint_eq(
	    am_series_derived(ctx, flag, (const char *const[]){"c"}, &nosat),
	    AM_SERIES_INVALID);
	/* an integral belongs to a counter family */
	ck_assert_uint_eq(
	    am_series_derived(ctx, util, (const char *const[]){"e"}, &integ),
	    AM_SERIES_INVALID);
	ck_assert_uint_ne(am_series_derived(ctx, tx, (const char *const[]){"e"}, &integ),
			  AM_SERIES_INVALID);
	ck_assert_uint_eq(fake_am_log_count(ctx, "derived series refused"), 3);
	/* a derived series gets no samples of its own */
	am_emit(ctx, u, 0.5);
	ck_assert_ptr_nonnull(strstr(violated, "derived series"));
	/* retire, and come back with the next sample */
	am_emit(ctx, a, 10);
	am_series_retire(ctx, a);
	ck_assert(fake_am_series(ctx, a)->retired);
	ck_assert_uint_eq(fake_am_series(ctx, a)->retires, 1);
	am_emit(ctx, a, 3);
	ck_assert(!fake_am_series(ctx, a)->retired);
	am_series_retire(ctx, AM_SERIES_INVALID);
	ck_assert_uint_eq(nviolations, 1);
	am_series_retire(ctx, 9999);
	ck_assert_uint_eq(nviolations, 2);
}
END_TEST

/* Schema families through am_std_family only; whatever the schema in the
 * build (agent/schema.c, or the stand-in that knows none). */
START_TEST(t_std_family)
{
	const struct am_family_def *up = am_std_def(AM_STD_ACCEL_UP);
	am_family_t h = am_std_family(ctx, AM_STD_ACCEL_UP, NULL);

	if (!up) {
		ck_assert_int_eq(h, -EINVAL);
		return;
	}
	ck_assert_int_ge(h, 0);
	ck_assert_str_eq(fake_am_view(ctx, h)->name, up->name);
	ck_assert_int_lt(am_family(ctx, up), 0);
	ck_assert_int_lt(am_std_family(ctx, AM_STD__COUNT, NULL), 0);
}
END_TEST

START_TEST(t_context)
{
	static const struct am_option opts[] = {
	    {"limit", AM_OPT_INT, "a number", 1, 10},
	    {NULL, 0, NULL},
	};
	static const struct am_collector desc = {
	    .abi_version = ACCELMON_COLLECTOR_ABI_VERSION,
	    .size = sizeof(struct am_collector),
	    .name = "smi",
	    .options = opts,
	};
	struct am_ctx *inst = fake_am_new("smi/ixsmi", NULL);
	const struct am_config *cfg;
	char err[256] = "";

	ck_assert_str_eq(am_instance(inst), "ixsmi");
	ck_assert_str_eq(am_instance_name(inst), "smi/ixsmi");
	ck_assert_ptr_null(am_instance(ctx));
	ck_assert_str_eq(am_sysfs(inst), "/sys");
	fake_am_set_procfs(inst, "/tmp/proc");
	ck_assert_str_eq(am_procfs(inst), "/tmp/proc");
	fake_am_set_interval(inst, 2.5);
	ck_assert_double_eq(am_interval_s(inst), 2.5);
	/* options as the agent checks them */
	cfg = fake_am_config(inst, &desc, "{limit: 7}", err, sizeof(err));
	ck_assert_ptr_nonnull(cfg);
	ck_assert_int_eq(am_cfg_int(cfg, "limit", 0), 7);
	ck_assert_ptr_null(fake_am_config(inst, &desc, "{limit: 70}", err, sizeof(err)));
	ck_assert_ptr_null(fake_am_config(inst, &desc, "{nope: 1}", err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "nope"));
	/* found and logged lines */
	am_found(inst, "%d card(s)", 3);
	am_log(inst, AM_LOG_WARN, "card%d: %s", 1, "lost");
	am_read_error(inst);
	ck_assert_str_eq(fake_am_found(inst), "3 card(s)");
	ck_assert_uint_eq(fake_am_nlogs(inst), 2);
	ck_assert_str_eq(fake_am_log(inst, 1), "card1: lost");
	ck_assert_uint_eq(fake_am_log_count(inst, "card"), 2);
	ck_assert_uint_eq(fake_am_read_errors(inst), 1);
	fake_am_free(inst);
}
END_TEST

static Suite *fake_suite(void)
{
	Suite *s = suite_create("fake_am");
	TCase *t = tcase_create("fake");

	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, t_families_like_core);
	tcase_add_test(t, t_series_like_core);
	tcase_add_test(t, t_samples_and_misuse);
	tcase_add_test(t, t_retire_and_derived);
	tcase_add_test(t, t_std_family);
	tcase_add_test(t, t_context);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(fake_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
