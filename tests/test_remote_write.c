/* Tests of the remote write exporter's layers: labels (sorting, external
 * labels, empty values, the 30-label limit), the protobuf + snappy request
 * round trip, the retry policy as a table, Retry-After, and the spool
 * (order across segments, replay after reopen, torn tail, bad CRC, the size
 * bound, a full disk), and the config check's words (no secret quoted).
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <snappy-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exporters/records_format/records_frame.h"
#include "exporters/remote_write_codec.h"
#include "exporters/remote_write_spool.h"
#include "exporter.h"
#include "fixture_tree.h"
#include "options.h"

extern const struct am_exporter remote_write_exporter;

/* ---- labels ---- */

START_TEST(test_labels_sorted)
{
	const char *names[] = {"uuid", "device", "bus"};
	const char *values[] = {"U-1", "gpu0", ""};
	struct rw_label ext[] = {{"node", "n1"}, {"cluster", "c"}, {"device", "ext"}};
	struct rw_label out[RW_MAX_LABELS];
	int n = rw_labels_build("accel_power_watts", 3, names, values, ext, 3, out,
				RW_MAX_LABELS);
	static const char *const want[][2] = {
	    {"__name__", "accel_power_watts"},
	    {"cluster", "c"},
	    {"device", "gpu0"}, /* the series' own label wins */
	    {"node", "n1"},
	    {"uuid", "U-1"},
	};

	/* bus has an empty value: left out */
	ck_assert_int_eq(n, 5);
	for (int i = 0; i < n; i++) {
		ck_assert_str_eq(out[i].name, want[i][0]);
		ck_assert_str_eq(out[i].value, want[i][1]);
	}
}
END_TEST

START_TEST(test_labels_limits)
{
	char nb[40][8], vb[40][8];
	const char *names[40], *values[40];
	struct rw_label out[RW_MAX_LABELS];
	struct rw_label ext[] = {{"zone", "z"}};

	for (int i = 0; i < 40; i++) {
		snprintf(nb[i], sizeof(nb[i]), "l%02d", i);
		snprintf(vb[i], sizeof(vb[i]), "v%d", i);
		names[i] = nb[i];
		values[i] = vb[i];
	}
	/* 29 labels + __name__ = 30: fits */
	ck_assert_int_eq(rw_labels_build("m", 29, names, values, NULL, 0, out, 30), 30);
	/* ... and one external label more does not */
	ck_assert_int_eq(rw_labels_build("m", 29, names, values, ext, 1, out, 30),
			 -E2BIG);
	ck_assert_int_eq(rw_labels_build("m", 30, names, values, NULL, 0, out, 30),
			 -E2BIG);
	/* empty values do not count */
	values[0] = "";
	ck_assert_int_eq(rw_labels_build("m", 30, names, values, NULL, 0, out, 30), 30);
	names[1] = names[2];
	ck_assert_int_eq(rw_labels_build("m", 3, names, values, NULL, 0, out, 30),
			 -EINVAL);
	ck_assert_int_eq(rw_labels_build("", 0, names, values, NULL, 0, out, 30),
			 -EINVAL);
	ck_assert(rw_label_name_ok("cluster"));
	ck_assert(rw_label_name_ok("_x9"));
	ck_assert(!rw_label_name_ok("9x"));
	ck_assert(!rw_label_name_ok("a-b"));
	ck_assert(!rw_label_name_ok("__name__"));
	ck_assert(!rw_label_name_ok(""));
}
END_TEST

/* ---- protobuf + snappy ---- */

START_TEST(test_request_roundtrip)
{
	Prometheus__Label la[2], lb[3], *pa[2], *pb[3];
	struct rw_encoder e;
	const uint8_t *body;
	size_t len;
	Prometheus__WriteRequest *r;
	double stale = rw_stale_nan();

	for (int i = 0; i < 2; i++)
		prometheus__label__init(&la[i]), pa[i] = &la[i];
	for (int i = 0; i < 3; i++)
		prometheus__label__init(&lb[i]), pb[i] = &lb[i];
	la[0].name = "__name__", la[0].value = "accel_up";
	la[1].name = "device", la[1].value = "gpu0";
	lb[0].name = "__name__", lb[0].value = "fabric_port_receive_bytes_total";
	lb[1].name = "device", lb[1].value = "mlx5_0";
	lb[2].name = "port", lb[2].value = "1";
	rw_enc_init(&e);
	ck_assert_int_eq(rw_enc_begin(&e, 3), 0);
	rw_enc_add(&e, pa, 2, 1, 1700000000123);
	rw_enc_add(&e, pb, 3, 1.5e15, 1700000000123);
	rw_enc_add(&e, pa, 2, stale, 1700000001123);
	ck_assert_int_eq(rw_enc_finish(&e, &body, &len), 0);
	ck_assert_uint_gt(len, 0);
	ck_assert_int_eq(rw_decode(body, len, &r), 0);
	ck_assert_uint_eq(r->n_timeseries, 3);
	ck_assert_uint_eq(r->timeseries[1]->n_labels, 3);
	ck_assert_str_eq(r->timeseries[1]->labels[0]->name, "__name__");
	ck_assert_str_eq(r->timeseries[1]->labels[2]->value, "1");
	ck_assert_uint_eq(r->timeseries[1]->n_samples, 1);
	ck_assert(r->timeseries[1]->samples[0]->value == 1.5e15);
	ck_assert_int_eq(r->timeseries[0]->samples[0]->timestamp, 1700000000123);
	ck_assert(rw_is_stale_nan(r->timeseries[2]->samples[0]->value));
	ck_assert_int_eq(r->timeseries[2]->samples[0]->timestamp, 1700000001123);
	prometheus__write_request__free_unpacked(r, NULL);
	/* A second request reuses the encoder. */
	ck_assert_int_eq(rw_enc_begin(&e, 1), 0);
	rw_enc_add(&e, pa, 2, 0, 5);
	ck_assert_int_eq(rw_enc_finish(&e, &body, &len), 0);
	ck_assert_int_eq(rw_decode(body, len, &r), 0);
	ck_assert_uint_eq(r->n_timeseries, 1);
	ck_assert(r->timeseries[0]->samples[0]->value == 0);
	prometheus__write_request__free_unpacked(r, NULL);
	/* Not snappy, and snappy of something that is not a WriteRequest. */
	ck_assert_int_eq(rw_decode((const uint8_t *)"\xff\xff\xff\xff\xff", 5, &r),
			 -EINVAL);
	{
		char junk[64];
		size_t jl = sizeof(junk);
		ck_assert_int_eq(
		    snappy_compress("\x0a\xff\xff\xff\xff\x0f", 6, junk, &jl), SNAPPY_OK);
		ck_assert_int_eq(rw_decode((const uint8_t *)junk, jl, &r), -EINVAL);
	}
	rw_enc_free(&e);
}
END_TEST

START_TEST(test_snappy_roundtrip)
{
	size_t n = 1 << 20, clen = snappy_max_compressed_length(n), dlen;
	char *in = malloc(n), *c = malloc(clen), *d;
	static const char text[] = "accel_busy_seconds_total{device=\"gpu";
	unsigned x = 12345;

	/* half text-like (repetitive), half random */
	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245 + 12345;
		in[i] = i < n / 2 ? text[i % (sizeof(text) - 1)] : (char)(x >> 16);
	}
	ck_assert_int_eq(snappy_compress(in, n, c, &clen), SNAPPY_OK);
	ck_assert_uint_lt(clen, n);
	/* Block format: the stream starts with the varint length, no frame
	 * identifier (0xff 's' 'N' 'a' 'P' 'p' 'Y'). */
	ck_assert_int_ne((unsigned char)c[0], 0xff);
	ck_assert_int_eq(snappy_uncompressed_length(c, clen, &dlen), SNAPPY_OK);
	ck_assert_uint_eq(dlen, n);
	d = malloc(dlen);
	ck_assert_int_eq(snappy_uncompress(c, clen, d, &dlen), SNAPPY_OK);
	ck_assert_int_eq(memcmp(in, d, n), 0);
	free(in);
	free(c);
	free(d);
}
END_TEST

/* ---- retry policy ---- */

START_TEST(test_retry_table)
{
	static const struct {
		long status;
		int retry_429;
		enum rw_action want;
	} t[] = {
	    {200, 1, RW_DONE},	{204, 1, RW_DONE},  {0, 1, RW_RETRY},
	    {500, 1, RW_RETRY}, {502, 1, RW_RETRY}, {503, 1, RW_RETRY},
	    {504, 1, RW_RETRY}, {429, 1, RW_RETRY}, {429, 0, RW_DROP},
	    {400, 1, RW_DROP},	{401, 1, RW_DROP},  {403, 1, RW_DROP},
	    {404, 1, RW_DROP},	{409, 1, RW_DROP},  {413, 1, RW_DROP},
	    {415, 1, RW_DROP},	{301, 1, RW_DROP},  {100, 1, RW_DROP},
	    {599, 1, RW_RETRY},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		ck_assert_msg(rw_classify(t[i].status, t[i].retry_429) == t[i].want,
			      "status %ld", t[i].status);
}
END_TEST

/* A section with one string list value. */
static struct am_config *one_list(const char *key, const char *a, const char *b)
{
	struct am_config *c = opts_new();
	struct cfg_value *v;

	ck_assert_ptr_nonnull(c);
	v = opts_slot(c, key);
	v->type = AM_OPT_STRLIST;
	v->u.list.n = b ? 2 : 1;
	v->u.list.v = calloc(2, sizeof(char *));
	v->u.list.v[0] = strdup(a);
	if (b)
		v->u.list.v[1] = strdup(b);
	return c;
}

START_TEST(test_check_words)
{
	char key[64], why[512];
	struct am_config *c;

	ck_assert_ptr_nonnull(remote_write_exporter.check);
	c = one_list("url", "http://a/w", "ftp://node:pw-secret@b/w");
	ck_assert_int_eq(
	    remote_write_exporter.check(c, key, sizeof(key), why, sizeof(why)), -EINVAL);
	ck_assert_str_eq(key, "url[1]");
	ck_assert_ptr_null(strstr(why, "pw-secret"));
	ck_assert_ptr_nonnull(strstr(why, "ftp://b/w"));
	opts_free(c);
	c = one_list("url", "http://a/w", "http://a/w");
	ck_assert_int_eq(
	    remote_write_exporter.check(c, key, sizeof(key), why, sizeof(why)), -EINVAL);
	ck_assert_str_eq(key, "url[1]");
	opts_free(c);
	c = one_list("url", "http://u:pw@a/w", NULL);
	ck_assert_int_eq(
	    remote_write_exporter.check(c, key, sizeof(key), why, sizeof(why)), 0);
	opts_free(c);
}
END_TEST

/* The agent's own lines of /metrics, read back for self_metrics: escapes
 * undone, values of every form, anything else refused. */
START_TEST(test_sample_line)
{
	const char *m, *nm[4], *vl[4];
	unsigned n;
	double v;
	char l1[] = "accelmon_collector_up{collector=\"a\\\"b\\\\c\\nd\",x=\"\"} 1";
	char l2[] = "process_cpu_seconds_total 0.25";
	char l3[] = "accelmon_x{a=\"1\"} NaN";
	char l4[] = "accelmon_x{a=\"1\",b=\"2\",c=\"3\"} +Inf";
	const char *bad[] = {
	    "# HELP x y",     "x",     "x{a=\"1} 2",  "x{a=1} 2", "x{a=\"1\"}2",
	    "x{a=\"\\q\"} 2", "x 2 3", "x{a=\"1\"} ", "9x 1",	  "x{9a=\"1\"} 1"};

	ck_assert_int_eq(rw_parse_sample_line(l1, &m, nm, vl, 4, &n, &v), 0);
	ck_assert_str_eq(m, "accelmon_collector_up");
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(nm[0], "collector");
	ck_assert_str_eq(vl[0], "a\"b\\c\nd");
	ck_assert_str_eq(nm[1], "x");
	ck_assert_str_eq(vl[1], "");
	ck_assert(v == 1);
	ck_assert_int_eq(rw_parse_sample_line(l2, &m, nm, vl, 4, &n, &v), 0);
	ck_assert_str_eq(m, "process_cpu_seconds_total");
	ck_assert_uint_eq(n, 0);
	ck_assert(v == 0.25);
	ck_assert_int_eq(rw_parse_sample_line(l3, &m, nm, vl, 4, &n, &v), 0);
	ck_assert(isnan(v));
	ck_assert_int_eq(rw_parse_sample_line(l4, &m, nm, vl, 2, &n, &v), -E2BIG);
	{
		/* A line that names a label __name__ (found by fuzz-rw-line):
		 * parsed, but no label set with two names is built. */
		char l5[] = "accelmon_x{__name__=\"y\"} 1";
		struct rw_label out[4];
		ck_assert_int_eq(rw_parse_sample_line(l5, &m, nm, vl, 4, &n, &v), 0);
		ck_assert_int_eq(rw_labels_build(m, n, nm, vl, NULL, 0, out, 4), -EINVAL);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char b[64];
		snprintf(b, sizeof(b), "%s", bad[i]);
		ck_assert_msg(rw_parse_sample_line(b, &m, nm, vl, 4, &n, &v) < 0, "%s",
			      bad[i]);
	}
}
END_TEST

START_TEST(test_backoff)
{
	/* upper end (rnd -> 1): doubles from min, capped at max */
	static const double want[] = {0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5, 5, 5};
	for (unsigned a = 0; a < sizeof(want) / sizeof(want[0]); a++) {
		double hi = rw_backoff_s(a, 0.1, 5, 0, 300, 0.999999);
		double lo = rw_backoff_s(a, 0.1, 5, 0, 300, 0);
		ck_assert_msg(fabs(hi - want[a]) < 1e-4, "attempt %u: %g", a, hi);
		ck_assert_msg(fabs(lo - want[a] / 2) < 1e-9, "attempt %u: %g", a, lo);
	}
	/* jitter stays in the upper half */
	for (int i = 0; i < 100; i++) {
		double d = rw_backoff_s(3, 0.1, 5, 0, 300, i / 100.0);
		ck_assert(d >= 0.4 && d < 0.8);
	}
	/* Retry-After wins when longer, capped */
	ck_assert(rw_backoff_s(0, 0.1, 5, 30, 300, 0.5) == 30);
	ck_assert(rw_backoff_s(0, 0.1, 5, 3000, 300, 0.5) == 300);
	ck_assert(rw_backoff_s(6, 0.1, 5, 1, 300, 0.999999) > 4.9);
	/* no overflow after many attempts */
	ck_assert(rw_backoff_s(100000, 0.1, 5, 0, 300, 0.5) <= 5);
}
END_TEST

START_TEST(test_retry_after)
{
	double s;
	time_t now = 1700000000; /* Tue, 14 Nov 2023 22:13:20 GMT */

	ck_assert_int_eq(rw_parse_retry_after("7", now, &s), 0);
	ck_assert(s == 7);
	ck_assert_int_eq(rw_parse_retry_after(" 120\r\n", now, &s), 0);
	ck_assert(s == 120);
	ck_assert_int_eq(rw_parse_retry_after("Tue, 14 Nov 2023 22:13:50 GMT", now, &s),
			 0);
	ck_assert(s == 30);
	ck_assert_int_eq(rw_parse_retry_after("Tue, 14 Nov 2023 22:00:00 GMT", now, &s),
			 0);
	ck_assert(s == 0);
	ck_assert_int_eq(rw_parse_retry_after("soon", now, &s), -EINVAL);
	ck_assert_int_eq(rw_parse_retry_after("5s", now, &s), -EINVAL);
	ck_assert_int_eq(rw_parse_retry_after("-1", now, &s), -EINVAL);
	ck_assert_int_eq(rw_parse_retry_after("", now, &s), -EINVAL);
}
END_TEST

START_TEST(test_stale_nan)
{
	double v = rw_stale_nan();
	uint64_t b;

	memcpy(&b, &v, sizeof(b));
	ck_assert(b == 0x7ff0000000000002ull);
	ck_assert(isnan(v));
	ck_assert(!rw_is_stale_nan(NAN));
	ck_assert(!rw_is_stale_nan(1));
}
END_TEST

/* ---- spool ---- */

static void push_n(struct rw_spool *q, int64_t ts0, int n, size_t len)
{
	char body[4096];

	ck_assert_uint_le(len, sizeof(body));
	for (int i = 0; i < n; i++) {
		struct rw_pos p = {ts0 + i, (uint32_t)(i % 3)};
		memset(body, 'a' + (i % 26), len);
		snprintf(body, len, "rec %lld", (long long)(ts0 + i));
		ck_assert_int_eq(rw_spool_push(q, &p, 10, body, len), 0);
	}
}

/* Pop everything, checking order and contents; returns the count. */
static int drain_check(struct rw_spool *q, int64_t first_ts, size_t len)
{
	struct rw_pos p;
	uint32_t ns;
	const uint8_t *b;
	size_t l;
	int n = 0;
	int64_t want = first_ts;

	while (rw_spool_peek(q, &p, &ns, &b, &l) == 0) {
		char head[32];
		snprintf(head, sizeof(head), "rec %lld", (long long)p.ts_ms);
		ck_assert_int_eq(p.ts_ms, want);
		ck_assert_uint_eq(l, len);
		ck_assert_uint_eq(ns, 10);
		ck_assert_int_eq(memcmp(b, head, strlen(head)), 0);
		rw_spool_pop(q, 1);
		want++;
		n++;
	}
	return n;
}

static int count_segments(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d)))
		n += strstr(e->d_name, ".rws") != NULL;
	if (d)
		closedir(d);
	return n;
}

START_TEST(test_spool_memory)
{
	struct rw_spool *q;
	struct rw_spool_stats st;

	ck_assert_int_eq(rw_spool_open(NULL, 65536, &q), 0);
	push_n(q, 1000, 50, 1000);
	rw_spool_stats(q, &st);
	/* 65536 bytes hold 65 records of 1000: none dropped yet */
	ck_assert_uint_eq(st.records, 50);
	push_n(q, 1050, 50, 1000);
	rw_spool_stats(q, &st);
	ck_assert_uint_eq(st.dropped_records, 100 - 65);
	ck_assert_uint_eq(st.dropped_samples, (100 - 65) * 10);
	ck_assert_int_eq(drain_check(q, 1035, 1000), 65);
	ck_assert(rw_spool_empty(q));
	rw_spool_close(q);
}
END_TEST

START_TEST(test_spool_replay)
{
	char *d = fixture_tmpdir("amrw-test");
	struct rw_spool *q;
	struct rw_spool_stats st;
	struct rw_pos p;
	uint32_t ns;
	const uint8_t *b;
	size_t l;

	ck_assert_int_eq(rw_spool_open(d, 1 << 20, &q), 0);
	push_n(q, 1000, 100, 2000); /* 200 KB: several 128 KiB segments */
	rw_spool_stats(q, &st);
	ck_assert_uint_ge(st.segments, 2);
	ck_assert_int_eq(count_segments(d), (int)st.segments);
	/* send 30 */
	for (int i = 0; i < 30; i++) {
		ck_assert_int_eq(rw_spool_peek(q, &p, &ns, &b, &l), 0);
		ck_assert_int_eq(p.ts_ms, 1000 + i);
		rw_spool_pop(q, 1);
	}
	ck_assert_int_eq(rw_spool_sent(q).ts_ms, 1029);
	/* the directory is locked while open (the lock is per open file
	 * description, so a second open in this process sees it too) */
	{
		struct rw_spool *q2;
		ck_assert_int_eq(rw_spool_open(d, 1 << 20, &q2), -EBUSY);
	}
	rw_spool_close(q);
	/* a restart replays exactly the other 70 */
	ck_assert_int_eq(rw_spool_open(d, 1 << 20, &q), 0);
	ck_assert_int_eq(rw_spool_sent(q).ts_ms, 1029);
	rw_spool_stats(q, &st);
	ck_assert_uint_eq(st.records, 70);
	push_n(q, 1100, 5, 2000); /* new records after the replayed ones */
	ck_assert_int_eq(drain_check(q, 1030, 2000), 75);
	/* all sent: the segments are gone */
	ck_assert_int_eq(count_segments(d), 0);
	rw_spool_close(q);
	ck_assert_int_eq(rw_spool_open(d, 1 << 20, &q), 0);
	ck_assert(rw_spool_empty(q));
	ck_assert_int_eq(rw_spool_sent(q).ts_ms, 1104);
	rw_spool_close(q);
	fixture_rmdir_files(d);
	free(d);
}
END_TEST

static char *only_segment(const char *dir)
{
	DIR *dd = opendir(dir);
	struct dirent *e;
	char *path = NULL;

	while ((e = readdir(dd)))
		if (strstr(e->d_name, ".rws")) {
			ck_assert_ptr_null(path);
			path = malloc(512);
			snprintf(path, 512, "%s/%s", dir, e->d_name);
		}
	closedir(dd);
	ck_assert_ptr_nonnull(path);
	return path;
}

START_TEST(test_spool_torn_and_corrupt)
{
	char *d = fixture_tmpdir("amrw-test"), *seg;
	struct rw_spool *q;
	struct rw_spool_stats st;
	struct stat sb;
	size_t frame = REC_FRAME_HDR + 16 + 500;
	int fd;

	ck_assert_int_eq(rw_spool_open(d, 1 << 20, &q), 0);
	push_n(q, 1000, 10, 500);
	rw_spool_close(q);
	seg = only_segment(d);
	/* torn tail: the last frame loses its end */
	ck_assert_int_eq(stat(seg, &sb), 0);
	ck_assert_int_eq(sb.st_size, (off_t)(10 * frame));
	ck_assert_int_eq(truncate(seg, sb.st_size - 100), 0);
	/* bad CRC: one byte of record 3's body flipped */
	fd = open(seg, O_RDWR);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, "X", 1, (off_t)(3 * frame + REC_FRAME_HDR + 16 + 40)),
			 1);
	close(fd);
	ck_assert_int_eq(rw_spool_open(d, 1 << 20, &q), 0);
	rw_spool_stats(q, &st);
	/* records 0-2 and 4-8 survive; 3 (bad CRC) and 9 (torn) do not */
	ck_assert_uint_eq(st.records, 8);
	ck_assert_uint_eq(st.corrupt, 2);
	{
		static const int64_t want[] = {1000, 1001, 1002, 1004,
					       1005, 1006, 1007, 1008};
		struct rw_pos p;
		uint32_t ns;
		const uint8_t *b;
		size_t l;
		for (int i = 0; i < 8; i++) {
			ck_assert_int_eq(rw_spool_peek(q, &p, &ns, &b, &l), 0);
			ck_assert_int_eq(p.ts_ms, want[i]);
			ck_assert_uint_eq(l, 500);
			rw_spool_pop(q, 1);
		}
	}
	ck_assert(rw_spool_empty(q));
	rw_spool_close(q);
	fixture_rmdir_files(d);
	free(seg);
	free(d);
}
END_TEST

START_TEST(test_spool_bound)
{
	char *d = fixture_tmpdir("amrw-test");
	struct rw_spool *q;
	struct rw_spool_stats st;

	/* 64 KiB: 16 KiB segments of 7 records of 2032 bytes */
	ck_assert_int_eq(rw_spool_open(d, 65536, &q), 0);
	push_n(q, 1000, 100, 2000);
	rw_spool_stats(q, &st);
	ck_assert_uint_le(st.bytes, 65536);
	ck_assert_uint_gt(st.dropped_records, 0);
	ck_assert_uint_eq(st.dropped_samples, st.dropped_records * 10);
	ck_assert_uint_eq(st.records + st.dropped_records, 100);
	ck_assert_int_eq(count_segments(d), (int)st.segments);
	/* the newest are kept, in order, and the oldest went first */
	ck_assert_int_eq(drain_check(q, 1000 + (int64_t)st.dropped_records, 2000),
			 (int)st.records);
	rw_spool_close(q);
	fixture_rmdir_files(d);
	free(d);
}
END_TEST

static int fail_writes;
static ssize_t enospc_write(int fd, const void *p, size_t n)
{
	if (fail_writes) {
		/* half a frame lands, then the disk is full */
		if (write(fd, p, n / 2) < 0)
			return -1;
		errno = ENOSPC;
		return -1;
	}
	return write(fd, p, n);
}

START_TEST(test_spool_disk_full)
{
	char *d = fixture_tmpdir("amrw-test");
	struct rw_spool *q;
	struct rw_spool_stats st;
	struct rw_pos p = {5000, 0};

	ck_assert_int_eq(rw_spool_open(d, 1 << 20, &q), 0);
	rw_spool_set_write_fn(q, enospc_write);
	push_n(q, 1000, 3, 500);
	fail_writes = 1;
	ck_assert_int_eq(rw_spool_push(q, &p, 10, "x", 1), -ENOSPC);
	fail_writes = 0;
	rw_spool_stats(q, &st);
	ck_assert_uint_eq(st.write_errors, 1);
	ck_assert_uint_eq(st.dropped_samples, 10);
	push_n(q, 1003, 2, 500);
	rw_spool_close(q);
	/* the half-written frame was cut off: all 5 good records replay */
	ck_assert_int_eq(rw_spool_open(d, 1 << 20, &q), 0);
	rw_spool_stats(q, &st);
	ck_assert_uint_eq(st.corrupt, 0);
	ck_assert_int_eq(drain_check(q, 1000, 500), 5);
	rw_spool_close(q);
	fixture_rmdir_files(d);
	free(d);
}
END_TEST

static Suite *rw_suite(void)
{
	Suite *s = suite_create("remote_write");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_labels_sorted);
	tcase_add_test(tc, test_labels_limits);
	tcase_add_test(tc, test_request_roundtrip);
	tcase_add_test(tc, test_snappy_roundtrip);
	tcase_add_test(tc, test_retry_table);
	tcase_add_test(tc, test_backoff);
	tcase_add_test(tc, test_check_words);
	tcase_add_test(tc, test_sample_line);
	tcase_add_test(tc, test_retry_after);
	tcase_add_test(tc, test_stale_nan);
	tcase_add_test(tc, test_spool_memory);
	tcase_add_test(tc, test_spool_replay);
	tcase_add_test(tc, test_spool_torn_and_corrupt);
	tcase_add_test(tc, test_spool_bound);
	tcase_add_test(tc, test_spool_disk_full);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(rw_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
