/* Prometheus exporter tests: Accept / Accept-Encoding negotiation, and the
 * gzip cache (one compression per snapshot and format, bodies that stay
 * valid while a response holds them, whatever is published meanwhile). */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "exporters/prometheus.h"
#include "snapshot.h"

static const struct {
	const char *accept;
	int om;
} accept_cases[] = {
    {NULL, 0},
    {"", 0},
    {"*/*", 0},
    {"text/plain", 0},
    {"text/plain;version=0.0.4", 0},
    /* What Prometheus 2.42+ sends. */
    {"application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
     "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
     1},
    {"application/openmetrics-text", 1},
    {"application/openmetrics-text; version=1.0.0; charset=utf-8", 1},
    /* Only the 0.0.1 draft: we do not speak it, fall back to text. */
    {"application/openmetrics-text;version=0.0.1", 0},
    {"application/openmetrics-text;q=0.2,text/plain;q=0.9", 0},
    {"text/plain;q=0.3, application/openmetrics-text;version=1.0.0;q=0.8", 1},
    {"application/openmetrics-text;q=0", 0},
    {"APPLICATION/OPENMETRICS-TEXT;VERSION=1.0.0", 1},
};

START_TEST(test_negotiation)
{
	ck_assert_msg(
	    prom_wants_openmetrics(accept_cases[_i].accept) == accept_cases[_i].om,
	    "Accept: %s", accept_cases[_i].accept ? accept_cases[_i].accept : "(none)");
}
END_TEST

static const struct {
	const char *enc;
	int gz;
} enc_cases[] = {
    {NULL, 0},
    {"", 0},
    {"identity", 0},
    {"gzip", 1},
    {"deflate, gzip", 1},
    {"gzip;q=0", 0},
    {"br;q=1.0, gzip;q=0.8, *;q=0.1", 1},
    {"*", 1},
    {"gzip;q=0, *", 0},
};

START_TEST(test_gzip_negotiation)
{
	ck_assert_msg(prom_accepts_gzip(enc_cases[_i].enc) == enc_cases[_i].gz,
		      "Accept-Encoding: %s",
		      enc_cases[_i].enc ? enc_cases[_i].enc : "(none)");
}
END_TEST

/* Inflate a whole gzip body into out (NUL-terminated); returns its length. */
static size_t gunzip(const char *in, size_t len, char *out, size_t cap)
{
	z_stream z;

	memset(&z, 0, sizeof(z));
	ck_assert_int_eq(inflateInit2(&z, 15 + 16), Z_OK);
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)len;
	z.next_out = (Bytef *)out;
	z.avail_out = (uInt)(cap - 1);
	ck_assert_int_eq(inflate(&z, Z_FINISH), Z_STREAM_END);
	inflateEnd(&z);
	out[cap - 1 - z.avail_out] = '\0';
	return cap - 1 - z.avail_out;
}

static void assert_gunzips_to(const char *in, size_t len, const char *want)
{
	char out[256];

	ck_assert_uint_eq(gunzip(in, len, out, sizeof(out)), strlen(want));
	ck_assert_str_eq(out, want);
}

static struct snapshot *publish(const char *text, const char *om)
{
	static uint64_t gen;
	struct snapshot *s = snapshot_new();

	ck_assert_ptr_nonnull(s);
	s->generation = ++gen; /* the cache knows a snapshot by it */
	s->text = strdup(text);
	s->text_len = strlen(text);
	s->om = strdup(om);
	s->om_len = strlen(om);
	snapshot_publish(s);
	return s;
}

START_TEST(test_gzip_cache)
{
	struct prom_gz_cache c;
	struct prom_gz *r1, *r2, *r3, *r4;
	const char *b1, *b2, *b3, *b4;
	size_t l1, l2, l3, l4;
	struct snapshot *s1;

	prom_gz_cache_init(&c);
	ck_assert_int_eq(prom_gz_get(&c, 0, &r1, &b1, &l1), -EAGAIN);
	ck_assert_ptr_null(r1);

	s1 = publish("a 1\nb 2\n", "a 1\nb 2\n# EOF\n");
	ck_assert_int_eq(prom_gz_get(&c, 1, &r1, &b1, &l1), 0);
	ck_assert_int_eq(prom_gz_get(&c, 1, &r2, &b2, &l2), 0);
	ck_assert_ptr_eq(r1, r2);
	ck_assert_ptr_eq(b1, b2); /* compressed once, shared */
	ck_assert_uint_eq(l1, l2);
	assert_gunzips_to(b1, l1, "a 1\nb 2\n# EOF\n");
	ck_assert_uint_eq(c.made, 1);
	ck_assert_int_eq(prom_gz_get(&c, 0, &r3, &b3, &l3), 0);
	ck_assert_uint_eq(c.made, 2); /* the other format */
	ck_assert_ptr_ne(b3, b1);
	assert_gunzips_to(b3, l3, "a 1\nb 2\n");
	prom_gz_release(r2);
	prom_gz_release(r3);
	/* Neither the cache nor a response holds the snapshot (only the
	 * current pointer does): if gzip scrapes stopped here, it would not
	 * keep released series from being freed. */
	ck_assert_int_eq(atomic_load(&s1->refs), 1);

	/* A new snapshot gets its own bodies; the old ones stay valid while a
	 * response holds them. */
	publish("a 3\n", "a 3\n# EOF\n");
	ck_assert_int_eq(prom_gz_get(&c, 1, &r4, &b4, &l4), 0);
	ck_assert_ptr_ne(r4, r1);
	assert_gunzips_to(b4, l4, "a 3\n# EOF\n");
	assert_gunzips_to(b1, l1, "a 1\nb 2\n# EOF\n");
	prom_gz_release(r1);
	prom_gz_release(r4);
	prom_gz_cache_fini(&c);
	snapshot_shutdown();
}
END_TEST

/* Scrapers and a publisher at once: every body inflates to a published
 * text, never older than the last one that scraper saw, and no snapshot is
 * compressed twice (the cache never goes back to an older one). */
#define N_SCRAPERS 4
#define N_PUBLISH 300

static struct prom_gz_cache race_cache;
static atomic_int race_done;

static void *scraper(void *arg)
{
	long last = -1, *seen = arg;

	while (!atomic_load(&race_done)) {
		struct prom_gz *r;
		const char *b;
		size_t l;
		char out[64];
		long v;

		if (prom_gz_get(&race_cache, 0, &r, &b, &l) != 0)
			continue;
		gunzip(b, l, out, sizeof(out));
		prom_gz_release(r);
		ck_assert_int_eq(sscanf(out, "v %ld\n", &v), 1);
		ck_assert_int_ge(v, last);
		last = v;
		(*seen)++;
	}
	return NULL;
}

START_TEST(test_gzip_cache_concurrent)
{
	pthread_t t[N_SCRAPERS];
	long seen[N_SCRAPERS] = {0};
	char text[32], om[40];

	prom_gz_cache_init(&race_cache);
	atomic_store(&race_done, 0);
	publish("v 0\n", "v 0\n# EOF\n");
	for (int i = 0; i < N_SCRAPERS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, scraper, &seen[i]), 0);
	for (int n = 1; n <= N_PUBLISH; n++) {
		snprintf(text, sizeof(text), "v %d\n", n);
		snprintf(om, sizeof(om), "v %d\n# EOF\n", n);
		publish(text, om);
		usleep(200);
	}
	atomic_store(&race_done, 1);
	for (int i = 0; i < N_SCRAPERS; i++) {
		pthread_join(t[i], NULL);
		ck_assert_int_gt(seen[i], 0);
	}
	ck_assert_uint_le(race_cache.made, N_PUBLISH + 1);
	ck_assert_uint_gt(race_cache.made, 1);
	prom_gz_cache_fini(&race_cache);
	snapshot_shutdown();
}
END_TEST

static Suite *prom_suite(void)
{
	Suite *s = suite_create("prometheus");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_negotiation, 0,
			    sizeof(accept_cases) / sizeof(accept_cases[0]));
	tcase_add_loop_test(tc, test_gzip_negotiation, 0,
			    sizeof(enc_cases) / sizeof(enc_cases[0]));
	tcase_add_test(tc, test_gzip_cache);
	tcase_add_test(tc, test_gzip_cache_concurrent);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(prom_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
