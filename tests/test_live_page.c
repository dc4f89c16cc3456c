/* Check suite for the live page (exporters/live_page.c, included for its
 * sampler): snapshots made by hand from the real series registry. Outside
 * data (label values) is HTML-escaped; values and the preferred temperature
 * sensor; the history stays bounded (LP_POINTS per chart) and so do the rows
 * (LP_MAX_ROWS, the page saying some are left out); a device gone from the
 * snapshot reads "not reported". The page through the agent and Chromium:
 * tests/integration/live_page.sh.
 */
#include "../exporters/live_page.c"

#include <check.h>

static int fam(const char *name, enum am_kind kind, const char *l3, const char *l4,
	       const char *l5)
{
	struct am_family_def d = {.name = name,
				  .help = "test",
				  .kind = kind,
				  .labels = {"device", "uuid", l3, l4, l5}};
	int v;

	if (strncmp(name, "fabric_port_", 12) == 0) {
		d.labels[1] = "port";
		d.labels[2] = l3;
	}
	v = series_family_register(&d, 0);
	ck_assert_int_ge(v, 0);
	return v;
}

static struct snap_value vals[2048];
static size_t nvals;

static void val(int view, const char *const *labels, double v)
{
	uint32_t id = series_intern(view, labels, 0);

	ck_assert_uint_ne(id, AM_SERIES_INVALID);
	ck_assert_uint_lt(nvals, 2048);
	vals[nvals].series = id;
	vals[nvals++].value = v;
}

static void publish(void)
{
	struct snapshot *s = snapshot_new();

	ck_assert_ptr_nonnull(s);
	s->values = malloc(nvals * sizeof(*vals) + 1);
	ck_assert_ptr_nonnull(s->values);
	memcpy(s->values, vals, nvals * sizeof(*vals));
	s->nvalues = nvals;
	snapshot_publish(s);
}

static char *page(void)
{
	char *p;
	size_t len;

	ck_assert_int_eq(live_page_render(&p, &len), 0);
	ck_assert_uint_eq(strlen(p), len);
	return p;
}

static void reset(void)
{
	series_reset();
	nvals = 0;
	free(lp.rows);
	lp.rows = NULL;
	lp.nrows = lp.dropped = 0;
	memset(lp.slot, 0, sizeof(lp.slot));
	lp.head = lp.count = 0;
}

START_TEST(escapes_and_values)
{
	int info, up, util, used, total, power, temp, pup, putil;
	const char *bad = "<b>\"x\"&'y'";

	reset();
	info = fam("accel_info", AM_INFO, "model", NULL, NULL);
	up = fam("accel_up", AM_GAUGE, NULL, NULL, NULL);
	util = fam("accel_utilization_ratio", AM_GAUGE, NULL, NULL, NULL);
	used = fam("accel_memory_used_bytes", AM_GAUGE, NULL, NULL, NULL);
	total = fam("accel_memory_total_bytes", AM_GAUGE, NULL, NULL, NULL);
	power = fam("accel_power_watts", AM_GAUGE, NULL, NULL, NULL);
	temp = fam("accel_temperature_celsius", AM_GAUGE, "sensor", NULL, NULL);
	pup = fam("fabric_port_up", AM_GAUGE, NULL, NULL, NULL);
	putil = fam("fabric_port_utilization_ratio", AM_GAUGE, "direction", NULL, NULL);
	val(info, (const char *const[]){bad, "U1", "</td><script>alert(1)</script>"}, 1);
	val(up, (const char *const[]){bad, "U1"}, 1);
	val(util, (const char *const[]){bad, "U1"}, 0.42);
	val(used, (const char *const[]){bad, "U1"}, 8 * 1073741824.0);
	val(total, (const char *const[]){bad, "U1"}, 16 * 1073741824.0);
	val(power, (const char *const[]){bad, "U1"}, 250.4);
	/* the die's sensor wins over one listed before it */
	val(temp, (const char *const[]){bad, "U1", "memory"}, 80);
	val(temp, (const char *const[]){bad, "U1", "gpu"}, 61);
	val(pup, (const char *const[]){"mlx5_0", "1"}, 0);
	val(putil, (const char *const[]){"mlx5_0", "1", "transmit"}, 0.25);
	publish();

	char *p = page();

	ck_assert_ptr_null(strstr(p, "<b>"));
	ck_assert_ptr_null(strstr(p, "<script"));
	ck_assert_ptr_nonnull(
	    strstr(p, "data-name=\"&lt;b&gt;&quot;x&quot;&amp;&#39;y&#39;\""));
	ck_assert_ptr_nonnull(
	    strstr(p, "&lt;/td&gt;&lt;script&gt;alert(1)&lt;/script&gt;"));
	ck_assert_ptr_nonnull(strstr(p, "<span class=\"v\">42%</span>"));
	ck_assert_ptr_nonnull(strstr(p, "<span class=\"v\">8.0 / 16 GiB</span>"));
	ck_assert_ptr_nonnull(strstr(p, "<span class=\"v\">250 W</span>"));
	ck_assert_ptr_nonnull(strstr(p, "<span class=\"v\">61 &#8451;</span>"));
	ck_assert_ptr_nonnull(
	    strstr(p, "mlx5_0 port 1</td><td class=\"down\">down</td>"));
	ck_assert_ptr_nonnull(strstr(p, "<span class=\"v\">25%</span>"));
	ck_assert_ptr_nonnull(strstr(p, "1 accelerator, 1 port"));
	free(p);

	/* gone from the next snapshot: the row stays, not reported */
	nvals = 0;
	val(pup, (const char *const[]){"mlx5_0", "1"}, 1);
	publish();
	p = page();
	ck_assert_ptr_nonnull(strstr(p, "<td class=\"gone\">not reported</td>"));
	free(p);
}
END_TEST

START_TEST(history_is_bounded)
{
	int util = 0;
	struct lp_now *now = calloc(LP_MAX_ROWS, sizeof(*now));
	char *p, *q;
	unsigned most = 0;

	ck_assert_ptr_nonnull(now);
	reset();
	lp.rows = calloc(LP_MAX_ROWS, sizeof(*lp.rows));
	util = fam("accel_utilization_ratio", AM_GAUGE, NULL, NULL, NULL);
	/* more devices than rows: the first LP_MAX_ROWS are kept */
	for (int i = 0; i < LP_MAX_ROWS + 40; i++) {
		char d[16];

		snprintf(d, sizeof(d), "d%d", i);
		val(util, (const char *const[]){d, "u"}, (i % 10) / 10.0);
	}
	publish();
	for (int k = 0; k < LP_POINTS + 30; k++)
		lp_sample(now);
	ck_assert_uint_eq(lp.count, LP_POINTS);
	ck_assert_uint_eq(lp.nrows, LP_MAX_ROWS);
	ck_assert_uint_gt(lp.dropped, 0);
	p = page();
	ck_assert_ptr_nonnull(strstr(p, "some are left out"));
	ck_assert_ptr_null(strstr(p, "data-name=\"d512\""));
	ck_assert_ptr_nonnull(strstr(p, "data-name=\"d511\""));
	/* every chart has at most LP_POINTS points, inside its 240 px */
	for (q = p; (q = strstr(q, "points=\""));) {
		unsigned n = 1;

		q += 8;
		for (const char *e = q; *e != '"'; e++)
			n += *e == ' ';
		if (n > most)
			most = n;
	}
	ck_assert_uint_eq(most, LP_POINTS);
	ck_assert_ptr_null(strstr(p, "points=\"-"));
	ck_assert_ptr_nonnull(strstr(p, " 239,"));
	free(p);
	free(now);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("live_page");
	TCase *tc = tcase_create("live_page");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, escapes_and_values);
	tcase_add_test(tc, history_is_bounded);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
