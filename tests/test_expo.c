/* Exposition tests: label-value and HELP escaping, number formatting,
 * OpenMetrics vs 0.0.4 family headers, and snapshot publication and
 * references. (HTTP negotiation and gzip: tests/test_prometheus.c.) */
#include <check.h>
#include <malloc.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expo.h"
#include "series.h"
#include "snapshot.h"

static const struct {
	const char *in, *label, *help;
} esc_cases[] = {
	{"plain", "plain", "plain"},
	{"back\\slash", "back\\\\slash", "back\\\\slash"},
	{"a \"quote\"", "a \\\"quote\\\"", "a \"quote\""},
	{"new\nline", "new\\nline", "new\\nline"},
	{"\\\"\n", "\\\\\\\"\\n", "\\\\\"\\n"},
	{"tab\tstays", "tab\tstays", "tab\tstays"},
	{"utf-8 \xc3\xa9", "utf-8 \xc3\xa9", "utf-8 \xc3\xa9"},
	{"", "", ""},
	{"x", "x", "x"},
};

START_TEST(test_escaping)
{
	char *l = expo_escape_label_value(esc_cases[_i].in);
	char *h = expo_escape_help(esc_cases[_i].in);

	ck_assert_str_eq(l, esc_cases[_i].label);
	ck_assert_str_eq(h, esc_cases[_i].help);
	free(l);
	free(h);
}
END_TEST

static const struct {
	double v;
	const char *text;
} num_cases[] = {
	{0, "0"}, {1, "1"}, {-3, "-3"}, {0.1, "0.1"}, {1e-7, "9.9999999999999995e-08"},
	{123456789012345.0, "123456789012345"}, {0.3, "0.3"},
	{1.0 / 3, "0.33333333333333331"}, {1e300, "1.0000000000000001e+300"},
};

START_TEST(test_numbers)
{
	char buf[40];

	expo_format_double(buf, sizeof(buf), num_cases[_i].v);
	/* The text must parse back to exactly the same double. */
	ck_assert_double_eq(strtod(buf, NULL), num_cases[_i].v);
	ck_assert_uint_le(strlen(buf), strlen(num_cases[_i].text));
}
END_TEST

/* A series' label text lives as long as the series: it must cost its
 * length, not a rendering buffer (4 KiB each made job churn cost 17 KB a
 * job of four series). */
START_TEST(test_label_text_fits)
{
	const char *names[] = {"device", "uuid", "job", "kind"};
	const char *values[] = {"nvidia0", "GPU-1", "12345", "slurm"};
	char *t = expo_label_text(4, names, values);

	ck_assert_ptr_nonnull(t);
	ck_assert_str_eq(t, "{device=\"nvidia0\",uuid=\"GPU-1\",job=\"12345\",kind=\"slurm\"}");
	ck_assert_msg(malloc_usable_size(t) < 2 * strlen(t) + 32,
		      "%zu bytes held for %zu", malloc_usable_size(t), strlen(t) + 1);
	free(t);
}
END_TEST

START_TEST(test_special_numbers)
{
	char buf[40];

	expo_format_double(buf, sizeof(buf), NAN);
	ck_assert_str_eq(buf, "NaN");
	expo_format_double(buf, sizeof(buf), INFINITY);
	ck_assert_str_eq(buf, "+Inf");
	expo_format_double(buf, sizeof(buf), -INFINITY);
	ck_assert_str_eq(buf, "-Inf");
	expo_format_u64(buf, sizeof(buf), UINT64_MAX);
	ck_assert_str_eq(buf, "18446744073709551615");
}
END_TEST

START_TEST(test_family_headers)
{
	struct buf t = {0}, o = {0};
	struct am_family_def d = {.name = "x_energy_joules_total",
				  .help = "Energy \"E\".", .kind = AM_COUNTER,
				  .unit = "joules"};
	int f;

	series_reset();
	f = series_family_register(&d, -1);
	ck_assert_int_ge(f, 0);
	expo_family_header(&t, series_view_get(f)->fam, 0);
	expo_family_header(&o, series_view_get(f)->fam, 1);
	ck_assert_str_eq(t.p, "# HELP x_energy_joules_total Energy \"E\".\n"
			      "# TYPE x_energy_joules_total counter\n");
	ck_assert_str_eq(o.p, "# HELP x_energy_joules Energy \\\"E\\\".\n"
			      "# TYPE x_energy_joules counter\n"
			      "# UNIT x_energy_joules joules\n");
	buf_free(&t);
	buf_free(&o);
}
END_TEST

/* Registration refuses names that would render invalid exposition. */
static const struct {
	const char *name;
	enum am_kind kind;
	const char *label;
	int ok;
} reg_cases[] = {
	{"ok_gauge", AM_GAUGE, "device", 1},
	{"ok_total", AM_COUNTER, "device", 1},
	{"counter_without_suffix", AM_COUNTER, "device", 0},
	{"gauge_total", AM_GAUGE, "device", 0},
	{"9starts_with_digit", AM_GAUGE, "device", 0},
	{"has-dash", AM_GAUGE, "device", 0},
	{"bad_label", AM_GAUGE, "__reserved", 0},
	{"bad_label2", AM_GAUGE, "a-b", 0},
	{"x_info", AM_INFO, "device", 1},
	{"x_not_info_suffix", AM_INFO, "device", 0},
	/* OpenMetrics family names "" */
	{"_total", AM_COUNTER, "device", 0},
	{"_info", AM_INFO, "device", 0},
};

START_TEST(test_registration_rules)
{
	struct am_family_def d = {.name = reg_cases[_i].name, .help = "h",
				  .kind = reg_cases[_i].kind,
				  .labels = {reg_cases[_i].label}};

	series_reset();
	ck_assert_int_eq(series_family_register(&d, 0) >= 0, reg_cases[_i].ok);
}
END_TEST

START_TEST(test_registration_bad_numbers)
{
	struct am_family_def d = {.name = "n_gauge", .help = "h", .kind = AM_GAUGE};

	series_reset();
	d.scale = -1;
	ck_assert_int_lt(series_family_register(&d, 0), 0);
	d.scale = NAN;
	ck_assert_int_lt(series_family_register(&d, 0), 0);
	d.scale = 0;
	d.window_s = -5;
	ck_assert_int_lt(series_family_register(&d, 0), 0);
	d.window_s = INFINITY;
	ck_assert_int_lt(series_family_register(&d, 0), 0);
	d.window_s = 0;
	ck_assert_int_ge(series_family_register(&d, 0), 0);
}
END_TEST

/* One OpenMetrics family name, one family: "x" and "x_total" would both
 * write "# TYPE x" (and "y" beside "y_info" too). */
START_TEST(test_openmetrics_name_collision)
{
	struct am_family_def g = {.name = "vendor_x", .help = "g", .kind = AM_GAUGE};
	struct am_family_def c = {.name = "vendor_x_total", .help = "c",
				  .kind = AM_COUNTER};
	struct am_family_def i = {.name = "vendor_y_info", .help = "i", .kind = AM_INFO};
	struct am_family_def y = {.name = "vendor_y", .help = "y", .kind = AM_GAUGE};

	series_reset();
	ck_assert_int_ge(series_family_register(&g, 0), 0);
	ck_assert_int_eq(series_family_register(&c, 0), -EINVAL);
	ck_assert_int_ge(series_family_register(&i, 0), 0);
	ck_assert_int_eq(series_family_register(&y, 0), -EINVAL);
	/* the other order: the counter first keeps its name, the gauge is refused */
	series_reset();
	ck_assert_int_ge(series_family_register(&c, 0), 0);
	ck_assert_int_eq(series_family_register(&g, 0), -EINVAL);
	/* the same family again is no collision */
	ck_assert_int_ge(series_family_register(&c, 0), 0);
	ck_assert_int_eq(series_family_count(), 1);
	series_reset();
}
END_TEST

/* HELP text is made valid UTF-8 once, at registration, like label values,
 * with no length limit. */
START_TEST(test_help_cleaned)
{
	struct am_family_def d = {.name = "vendor_y", .help = "bad \xff\xfe help \xc3\xa9",
				  .kind = AM_GAUGE};
	struct buf t = {0}, o = {0};
	char longh[1001];
	char *c;
	int f;

	series_reset();
	f = series_family_register(&d, 0);
	ck_assert_int_ge(f, 0);
	ck_assert_str_eq(series_view_get(f)->fam->help,
			 "bad \xef\xbf\xbd\xef\xbf\xbd help \xc3\xa9");
	expo_family_header(&t, series_view_get(f)->fam, 0);
	expo_family_header(&o, series_view_get(f)->fam, 1);
	ck_assert_ptr_nonnull(
	    strstr(t.p, "# HELP vendor_y bad \xef\xbf\xbd\xef\xbf\xbd help \xc3\xa9\n"));
	ck_assert_ptr_nonnull(
	    strstr(o.p, "# HELP vendor_y bad \xef\xbf\xbd\xef\xbf\xbd help \xc3\xa9\n"));
	buf_free(&t);
	buf_free(&o);
	memset(longh, 'h', 1000);
	longh[1000] = '\0';
	c = expo_clean_utf8(longh);
	ck_assert_str_eq(c, longh); /* not cut at the label-value limit */
	free(c);
	c = expo_clean_utf8("\xed\xa0\x80"); /* a surrogate: one U+FFFD per byte */
	ck_assert_str_eq(c, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	free(c);
	series_reset();
}
END_TEST

START_TEST(test_interning)
{
	struct am_family_def d = {.name = "i_gauge", .help = "h", .kind = AM_GAUGE,
				  .labels = {"a", "b"}};
	int f;
	uint32_t ids[2000];
	char a[16], b[16];

	series_reset();
	f = series_family_register(&d, 0);
	/* Same name, same definition: same handle. Another collector may
	 * register it with other help text (the first wins) and another
	 * aggregation of the same exposed type (a new view of one family). */
	ck_assert_int_eq(series_family_register(&d, 0), f);
	d.help = "other";
	ck_assert_int_eq(series_family_register(&d, 1), f);
	d.kind = AM_WINDOW_MAX;
	ck_assert_int_ne(series_family_register(&d, 1), f);
	ck_assert_ptr_eq(series_view_get(series_family_register(&d, 1))->fam,
			 series_view_get(f)->fam);
	/* ... but not as another type. */
	d.kind = AM_INFO;
	ck_assert_int_lt(series_family_register(&d, 1), 0);
	d.kind = AM_GAUGE;
	ck_assert_str_eq(series_view_get(f)->fam->help, "h");
	for (int i = 0; i < 2000; i++) {
		snprintf(a, sizeof(a), "%d", i / 7);
		snprintf(b, sizeof(b), "%d", i % 7);
		ids[i] = series_intern(f, (const char *const[]){a, b}, 0);
		ck_assert_uint_eq(ids[i], (uint32_t)i);
	}
	for (int i = 0; i < 2000; i++) {
		snprintf(a, sizeof(a), "%d", i / 7);
		snprintf(b, sizeof(b), "%d", i % 7);
		ck_assert_uint_eq(series_intern(f, (const char *const[]){a, b}, 0), ids[i]);
	}
	ck_assert_str_eq(series_get(ids[15])->label_text, "{a=\"2\",b=\"1\"}");
	/* A value of the pair split differently is a different series. */
	ck_assert_uint_ne(series_intern(f, (const char *const[]){"1", "23"}, 0),
			  series_intern(f, (const char *const[]){"12", "3"}, 0));
	ck_assert_uint_eq(series_intern(f, (const char *const[]){"x", NULL}, 0),
			  AM_SERIES_INVALID);
	/* Other label names: another view of the same family, whose series
	 * render their own names; same names and values: the same series. */
	{
		struct am_family_def d2 = {.name = "i_gauge", .help = "x",
					   .kind = AM_GAUGE, .labels = {"a", "c"}};
		int v2 = series_family_register(&d2, 1);
		uint32_t s2;

		ck_assert_int_ge(v2, 0);
		ck_assert_int_ne(v2, f);
		ck_assert_ptr_eq(series_view_get(v2)->fam, series_view_get(f)->fam);
		s2 = series_intern(v2, (const char *const[]){"0", "0"}, 1);
		ck_assert_uint_ne(s2, series_intern(f, (const char *const[]){"0", "0"}, 0));
		ck_assert_str_eq(series_get(s2)->label_text, "{a=\"0\",c=\"0\"}");
		ck_assert_uint_eq(s2, series_intern(v2, (const char *const[]){"0", "0"}, 1));
	}
}
END_TEST

/* Label values made valid UTF-8: each invalid sequence is one U+FFFD per
 * maximal subpart (Unicode 3.9), valid text passes unchanged. */
#define R "\xef\xbf\xbd"
static const struct {
	const char *in, *out;
	unsigned what;
} clean_cases[] = {
    {"MT_0000000838", "MT_0000000838", 0},
    {"", "", 0},
    {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
     "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 0},
    {"\xef\xbf\xbd", R, 0}, /* a real U+FFFD is valid text */
    {"a\xff"
     "b",
     "a" R "b", EXPO_CLEAN_REPLACED},
    {"\xfe\xff", R R, EXPO_CLEAN_REPLACED},
    {"\xc0\x80", R R, EXPO_CLEAN_REPLACED},	  /* overlong NUL */
    {"\xc1\xbf", R R, EXPO_CLEAN_REPLACED},	  /* overlong '\x7f' */
    {"\xe0\x80\xaf", R R R, EXPO_CLEAN_REPLACED}, /* overlong '/' */
    {"\xf0\x80\x80\xaf", R R R R, EXPO_CLEAN_REPLACED},
    {"\xed\xa0\x80", R R R, EXPO_CLEAN_REPLACED},	/* surrogate U+D800 */
    {"\xed\xbf\xbf", R R R, EXPO_CLEAN_REPLACED},	/* surrogate U+DFFF */
    {"\xed\x9f\xbf", "\xed\x9f\xbf", 0},		/* U+D7FF, just below */
    {"\xf4\x90\x80\x80", R R R R, EXPO_CLEAN_REPLACED}, /* above U+10FFFF */
    {"\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf", 0},	/* U+10FFFF */
    {"x\xe2\x82", "x" R, EXPO_CLEAN_REPLACED},		/* truncated at the end */
    {"\xe2\x82y", R "y", EXPO_CLEAN_REPLACED},		/* truncated mid-string */
    {"\xf0\x9f\x98", R, EXPO_CLEAN_REPLACED},
    {"\x80\xbf", R R, EXPO_CLEAN_REPLACED}, /* stray continuations */
    {"\xf5\x80", R R, EXPO_CLEAN_REPLACED},
};
#undef R

START_TEST(test_clean_label_value)
{
	char out[EXPO_LABEL_VALUE_MAX + 1];
	unsigned what = 99;
	size_t n = expo_clean_label_value(clean_cases[_i].in, out, &what);

	ck_assert_str_eq(out, clean_cases[_i].out);
	ck_assert_uint_eq(n, strlen(clean_cases[_i].out));
	ck_assert_uint_eq(what, clean_cases[_i].what);
}
END_TEST

/* Long values: kept whole up to the limit, cut beyond it at a character
 * boundary (never a partial character), also when the cut falls inside a
 * U+FFFD that replaced a bad byte. */
START_TEST(test_clean_label_value_long)
{
	char in[400], out[EXPO_LABEL_VALUE_MAX + 1];
	unsigned what;

	memset(in, 'a', 300);
	in[300] = '\0';
	ck_assert_uint_eq(expo_clean_label_value(in, out, &what), 256);
	ck_assert_uint_eq(what, EXPO_CLEAN_CUT);
	ck_assert_int_eq(memcmp(out, in, 256), 0);
	in[256] = '\0'; /* exactly the limit: whole */
	ck_assert_uint_eq(expo_clean_label_value(in, out, &what), 256);
	ck_assert_uint_eq(what, 0);
	/* 255 ASCII bytes then a 2-byte character: it does not fit, cut at 255. */
	memset(in, 'b', 255);
	memcpy(in + 255, "\xc3\xa9tail", 7);
	ck_assert_uint_eq(expo_clean_label_value(in, out, &what), 255);
	ck_assert_uint_eq(what, EXPO_CLEAN_CUT);
	/* 254 bytes then 0xff: its U+FFFD (3 bytes) does not fit either. */
	memset(in, 'c', 254);
	memcpy(in + 254,
	       "\xff"
	       "dd",
	       4);
	ck_assert_uint_eq(expo_clean_label_value(in, out, &what), 254);
	ck_assert_uint_eq(what, EXPO_CLEAN_REPLACED | EXPO_CLEAN_CUT);
	/* 300 bytes of 0xff: 85 replacement characters (255 bytes). */
	memset(in, 0xff, 300);
	in[300] = '\0';
	ck_assert_uint_eq(expo_clean_label_value(in, out, &what), 255);
	ck_assert_uint_eq(what, EXPO_CLEAN_REPLACED | EXPO_CLEAN_CUT);
}
END_TEST

/* The registry keys and exports the cleaned values: the same raw values find
 * the same id, the label text is valid, the note says what changed once. */
START_TEST(test_intern_cleans)
{
	struct am_family_def d = {.name = "clean_info",
				  .help = "h",
				  .kind = AM_INFO,
				  .labels = {"board_id", "serial"}};
	int f;
	struct series_note note;
	const char *raw[] = {"HPE\xff"
			     "board",
			     "ok"};
	char longv[301];
	uint32_t id;

	series_reset();
	f = series_family_register(&d, 0);
	ck_assert_int_ge(f, 0);
	id = series_intern_noted(f, raw, 0, NULL, &note);
	ck_assert_uint_ne(id, AM_SERIES_INVALID);
	ck_assert_int_eq(note.created, 1);
	ck_assert_uint_eq(note.any, EXPO_CLEAN_REPLACED);
	ck_assert_uint_eq(note.what[0], EXPO_CLEAN_REPLACED);
	ck_assert_uint_eq(note.what[1], 0);
	ck_assert_str_eq(series_get(id)->values[0], "HPE\xef\xbf\xbd"
						    "board");
	ck_assert_str_eq(series_get(id)->label_text, "{board_id=\"HPE\xef\xbf\xbd"
						     "board\",serial=\"ok\"}");
	ck_assert_uint_eq(series_intern_noted(f, raw, 0, NULL, &note), id);
	ck_assert_int_eq(note.created, 0);
	ck_assert_uint_eq(series_intern(f, raw, 0), id);
	memset(longv, 'x', 300);
	longv[300] = '\0';
	id = series_intern_noted(f, (const char *const[]){longv, "ok"}, 0, NULL, &note);
	ck_assert_uint_ne(id, AM_SERIES_INVALID);
	ck_assert_uint_eq(note.what[0], EXPO_CLEAN_CUT);
	ck_assert_uint_eq(strlen(series_get(id)->values[0]), AM_LABEL_VALUE_MAX);
	series_reset();
}
END_TEST

START_TEST(test_snapshot_refcount)
{
	struct snapshot *s = snapshot_new(), *got;

	s->text = strdup("a 1\nb 2\n");
	s->text_len = strlen(s->text);
	s->om = strdup("a 1\n# EOF\n");
	s->om_len = strlen(s->om);
	snapshot_publish(s);
	got = snapshot_acquire();
	ck_assert_ptr_eq(got, s);
	ck_assert_int_eq(atomic_load(&got->refs), 2); /* published + ours */
	/* A newer snapshot replaces it; ours stays valid until released. */
	snapshot_publish(snapshot_new());
	ck_assert_str_eq(got->text, "a 1\nb 2\n");
	snapshot_release(got);
	snapshot_shutdown();
	ck_assert_ptr_null(snapshot_acquire());
}
END_TEST

static Suite *expo_suite(void)
{
	Suite *s = suite_create("expo");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_escaping, 0, sizeof(esc_cases) / sizeof(esc_cases[0]));
	tcase_add_loop_test(tc, test_numbers, 0, sizeof(num_cases) / sizeof(num_cases[0]));
	tcase_add_test(tc, test_label_text_fits);
	tcase_add_test(tc, test_special_numbers);
	tcase_add_test(tc, test_family_headers);
	tcase_add_loop_test(tc, test_registration_rules, 0,
			    sizeof(reg_cases) / sizeof(reg_cases[0]));
	tcase_add_test(tc, test_registration_bad_numbers);
	tcase_add_test(tc, test_openmetrics_name_collision);
	tcase_add_test(tc, test_help_cleaned);
	tcase_add_test(tc, test_interning);
	tcase_add_loop_test(tc, test_clean_label_value, 0,
			    sizeof(clean_cases) / sizeof(clean_cases[0]));
	tcase_add_test(tc, test_clean_label_value_long);
	tcase_add_test(tc, test_intern_cleans);
	tcase_add_test(tc, test_snapshot_refcount);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(expo_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
