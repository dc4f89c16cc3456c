/* Tests of the record file layers: CRC32C, frames (torn tails, bit flips,
 * truncation, bad lengths), the delta codec, and the records exporter's
 * writer (rotation, retention, a full disk).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include "exporters/records.h"
#include "exporters/records_format/records_codec.h"
#include "exporters/records_format/records_frame.h"
#include "agent/audit/audit.h"
#include "agg.h"
#include "clock.h"
#include "fixture_tree.h"
#include "ring.h"
#include "series.h"
#include "snapshot.h"

/* ---- helpers ---- */

/* A buffer of n frames with payloads of the given sizes; offsets[i] is
 * where frame i starts. Payload bytes are a function of (i, j). */
static uint8_t *make_frames(const size_t *sizes, size_t n, size_t *len, size_t *offsets)
{
	size_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += REC_FRAME_HDR + sizes[i];
	uint8_t *b = malloc(total), *p = b;
	for (size_t i = 0; i < n; i++) {
		offsets[i] = (size_t)(p - b);
		uint8_t *pl = p + REC_FRAME_HDR;
		for (size_t j = 0; j < sizes[i]; j++)
			pl[j] = (uint8_t)(i * 131 + j * 7 + (j >> 8));
		rec_frame_header(p, pl, sizes[i]);
		p += REC_FRAME_HDR + sizes[i];
	}
	*len = total;
	return b;
}

static bool payload_ok(const uint8_t *p, size_t len, size_t i, const size_t *sizes)
{
	if (len != sizes[i])
		return false;
	for (size_t j = 0; j < len; j++)
		if (p[j] != (uint8_t)(i * 131 + j * 7 + (j >> 8)))
			return false;
	return true;
}

/* ---- CRC32C ---- */

START_TEST(test_crc32c_vectors)
{
	static const struct {
		const char *name;
		uint8_t fill; /* 0..255, or 256: ascending, 257: "123456789" */
		size_t len;
		uint32_t crc;
	} cases[] = {
	    {"check value \"123456789\"", 1, 9, 0xE3069283u},
	    {"empty", 0, 0, 0},
	    {"32 zero bytes", 0, 32, 0x8A9136AAu},
	    {"32 0xff bytes", 0xff, 32, 0x62A8AB43u},
	};
	uint8_t buf[64];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (i == 0)
			memcpy(buf, "123456789", 9);
		else
			memset(buf, cases[i].fill, cases[i].len);
		ck_assert_msg(rec_crc32c(0, buf, cases[i].len) == cases[i].crc,
			      "%s: got 0x%08x", cases[i].name,
			      rec_crc32c(0, buf, cases[i].len));
	}
	/* ascending 0..31 (RFC 3720 B.4) */
	for (int k = 0; k < 32; k++)
		buf[k] = (uint8_t)k;
	ck_assert_uint_eq(rec_crc32c(0, buf, 32), 0x46DD794Eu);
}
END_TEST

START_TEST(test_crc32c_chain_and_alignment)
{
	uint8_t big[1000 + 8];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 37 + 11);
	uint32_t whole = rec_crc32c(0, big, 1000);
	for (size_t cut = 0; cut <= 1000; cut += 37)
		ck_assert_uint_eq(
		    rec_crc32c(rec_crc32c(0, big, cut), big + cut, 1000 - cut), whole);
	/* every alignment of the slice-by-8 loop gives the same result */
	uint8_t shifted[1000 + 8];
	for (size_t a = 1; a < 8; a++) {
		memcpy(shifted + a, big, 1000);
		ck_assert_uint_eq(rec_crc32c(0, shifted + a, 1000), whole);
	}
}
END_TEST

/* ---- frames ---- */

static const size_t fsizes[] = {0, 1, 100, 70000, 5, 300000, 17, 8};
#define NF (sizeof(fsizes) / sizeof(fsizes[0]))

struct readout {
	size_t ok;    /* frames returned intact, in order */
	bool misread; /* a frame that is not one of ours */
	int torn, corrupt;
	uint64_t torn_off, corrupt_off;
	char why[96];
};

static void read_all(struct rec_frame_reader *r, struct readout *o)
{
	const uint8_t *p;
	size_t len;
	uint64_t off;
	size_t next = 0;
	enum rec_frame_status st;

	memset(o, 0, sizeof(*o));
	while ((st = rec_frame_next(r, &p, &len, &off)) != REC_FRAME_EOF) {
		if (st == REC_FRAME_OK) {
			/* a frame must be one of ours, at or after the next
			 * expected index */
			bool found = false;
			for (size_t i = next; i < NF; i++)
				if (payload_ok(p, len, i, fsizes)) {
					found = true;
					next = i + 1;
					break;
				}
			if (!found)
				o->misread = true;
			else
				o->ok++;
		} else if (st == REC_FRAME_TORN) {
			o->torn++;
			o->torn_off = off;
			snprintf(o->why, sizeof(o->why), "%s", r->why);
		} else if (st == REC_FRAME_CORRUPT) {
			if (!o->corrupt++)
				o->corrupt_off = off;
			snprintf(o->why, sizeof(o->why), "%s", r->why);
		} else {
			ck_abort_msg("I/O error");
		}
	}
}

static void read_file_bytes(const uint8_t *b, size_t len, struct readout *o)
{
	char path[] = "/tmp/amrec-frames-XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, b, len), (ssize_t)len);
	lseek(fd, 0, SEEK_SET);
	struct rec_frame_reader r;
	ck_assert_int_eq(rec_frame_reader_fd(&r, fd), 0);
	read_all(&r, o);
	rec_frame_reader_free(&r);
	close(fd);
	unlink(path);
}

START_TEST(test_frames_roundtrip)
{
	size_t len, off[NF];
	uint8_t *b = make_frames(fsizes, NF, &len, off);
	struct readout o;
	struct rec_frame_reader r;

	rec_frame_reader_mem(&r, b, len);
	read_all(&r, &o);
	ck_assert_uint_eq(o.ok, NF);
	ck_assert(!o.misread && !o.torn && !o.corrupt);
	read_file_bytes(b, len, &o);
	ck_assert_uint_eq(o.ok, NF);
	ck_assert(!o.misread && !o.torn && !o.corrupt);
	free(b);
}
END_TEST

/* Cut the file at every length inside the last two frames (as kill -9 can):
 * all frames before the cut read back, the rest is one torn tail. */
START_TEST(test_frames_truncation)
{
	size_t len, off[NF];
	uint8_t *b = make_frames(fsizes, NF, &len, off);

	for (size_t cut = off[NF - 3]; cut < len;) {
		struct readout o;
		struct rec_frame_reader r;
		size_t complete = 0;
		while (complete < NF &&
		       off[complete] + REC_FRAME_HDR + fsizes[complete] <= cut)
			complete++;
		rec_frame_reader_mem(&r, b, cut);
		read_all(&r, &o);
		ck_assert_msg(!o.misread, "cut %zu: misread", cut);
		ck_assert_uint_eq(o.ok, complete);
		ck_assert_int_eq(o.corrupt, 0);
		if (cut == off[complete]) {
			ck_assert_int_eq(o.torn, 0);
		} else {
			ck_assert_int_eq(o.torn, 1);
			ck_assert_uint_eq(o.torn_off, off[complete]);
		}
		/* every byte near frame boundaries, a sample inside big
		 * payloads (each cut rereads the whole buffer) */
		bool near = false;
		for (size_t i = NF - 3; i < NF; i++)
			if (cut + 40 >= off[i] && cut < off[i] + REC_FRAME_HDR + 40)
				near = true;
		if (cut + 40 >= len)
			near = true;
		cut += near ? 1 : 331;
	}
	/* one file-backed case through the buffered reader */
	struct readout o;
	read_file_bytes(b, off[NF - 1] + 10, &o);
	ck_assert_uint_eq(o.ok, NF - 1);
	ck_assert_int_eq(o.torn, 1);
	ck_assert_uint_eq(o.torn_off, off[NF - 1]);
	free(b);
}
END_TEST

/* Flip single bits anywhere in frames 2..4: a damaged frame is reported
 * (never returned with wrong bytes) and every other frame still reads. */
START_TEST(test_frames_bit_flips)
{
	size_t len, off[NF];
	uint8_t *b = make_frames(fsizes, NF, &len, off);
	size_t lo = off[2], hi = off[4] + REC_FRAME_HDR + fsizes[4];

	for (size_t pos = lo; pos < hi; pos += (pos < off[3] + 64 ? 1 : 997)) {
		for (int bit = 0; bit < 8; bit += 3) {
			struct readout o;
			struct rec_frame_reader r;
			b[pos] ^= (uint8_t)(1u << bit);
			rec_frame_reader_mem(&r, b, len);
			read_all(&r, &o);
			b[pos] ^= (uint8_t)(1u << bit);
			ck_assert_msg(!o.misread, "flip at %zu bit %d misread", pos, bit);
			ck_assert_msg(o.corrupt >= 1, "flip at %zu unnoticed", pos);
			ck_assert_uint_eq(o.ok, NF - 1);
			ck_assert_int_eq(o.torn, 0);
		}
	}
	free(b);
}
END_TEST

START_TEST(test_frames_length_larger_than_file)
{
	size_t len, off[NF];
	uint8_t *b = make_frames(fsizes, NF, &len, off);
	struct readout o;

	/* frame 2's length says 2 GiB */
	b[off[2] + 7] = 0x80;
	read_file_bytes(b, len, &o);
	ck_assert(!o.misread);
	ck_assert_int_eq(o.corrupt, 1);
	ck_assert_uint_eq(o.corrupt_off, off[2]);
	ck_assert_ptr_nonnull(strstr(o.why, "larger than the file"));
	ck_assert_uint_eq(o.ok, NF - 1);
	/* a length just past the end of the file, on the last frame, with a
	 * correct header checksum (as a writer killed mid-frame leaves it) is
	 * a torn tail; with a length beyond the whole file it is an error */
	free(b);
	b = make_frames(fsizes, NF, &len, off);
	size_t total = off[NF - 1] + REC_FRAME_HDR + 4;
	read_file_bytes(b, total, &o);
	ck_assert_int_eq(o.torn, 1);
	ck_assert_int_eq(o.corrupt, 0);
	free(b);
}
END_TEST

START_TEST(test_frames_garbage)
{
	/* random bytes never yield a frame */
	uint8_t junk[4096];
	uint64_t s = 42;
	for (size_t i = 0; i < sizeof(junk); i++) {
		s = s * 6364136223846793005ull + 1442695040888963407ull;
		junk[i] = (uint8_t)(s >> 56);
	}
	struct rec_frame_reader r;
	struct readout o;
	rec_frame_reader_mem(&r, junk, sizeof(junk));
	read_all(&r, &o);
	ck_assert_uint_eq(o.ok, 0);
	ck_assert(!o.misread);
	ck_assert_int_ge(o.corrupt + o.torn, 1);
}
END_TEST

/* ---- codec ---- */

struct cseries {
	const char *family, *unit;
	double step;
};

static const struct cseries cser[] = {
    {"accel_busy_seconds_total", "seconds", 0},
    {"accel_utilization_ratio", "ratio", 0},
    {"fabric_port_transmit_bytes_total", "bytes", 0},
    {"accel_power_watts", "watts", 0},
    {"odd_value", NULL, 0}, /* exact: non-integers as doubles, NaN, inf */
    {"appearing", NULL, 0},
    /* counted in KiB: whole multiples of 1024 as ticks, others exact */
    {"fabric_nvlink_transmit_bytes_total", "bytes", 1024},
};
#define NCS (sizeof(cser) / sizeof(cser[0]))

static double cvalue(size_t s, size_t b)
{
	switch (s) {
	case 0:
		return 4.5 * b + 0.0123 * (b % 7);
	case 1:
		return (b % 10) / 10.0 + 0.000123;
	case 2:
		return 1e12 + 1234567.0 * b * b;
	case 3:
		return 400 + (b % 3) * 0.125;
	case 4:
		return b % 5 == 0 ? NAN : b % 5 == 1 ? INFINITY : b * 0.1;
	case 5:
		return b;
	default:
		return 1024.0 * b * b * 977 + (b % 7 == 3 ? 1 : 0);
	}
}

/* Encode 300 batches; series 5 exists only in batches 50..149; frame
 * `lose` (if any) is dropped on the way to the decoder. */
static void codec_run(long lose)
{
	struct rec_encoder e;
	struct rec_decoder d;
	const uint8_t *p;
	size_t n;
	Amrec__Record *rec;
	int recovered = 0, decoded = 0;

	rec_enc_init(&e, 20);
	rec_dec_init(&d);
	for (size_t s = 0; s < NCS; s++) {
		const char *names[] = {"device"}, *vals[] = {"x"};
		struct rec_series_def def = {
		    .ref = (uint32_t)s,
		    .family = cser[s].family,
		    .nlabels = 1,
		    .names = names,
		    .values = vals,
		    .type = AMREC__SERIES_TYPE__SERIES_GAUGE,
		    .unit = cser[s].unit,
		    .resolution = rec_resolution(cser[s].family, cser[s].unit),
		    .step = cser[s].step,
		};
		ck_assert_int_eq(rec_enc_series(&e, &def, &p, &n), 0);
		struct rec_frame_reader r;
		const uint8_t *pl;
		size_t pl_len;
		uint64_t off;
		rec_frame_reader_mem(&r, p, n);
		ck_assert_int_eq(rec_frame_next(&r, &pl, &pl_len, &off), REC_FRAME_OK);
		rec = amrec__record__unpack(NULL, pl_len, pl);
		ck_assert_ptr_nonnull(rec);
		ck_assert_int_eq(rec_dec_series(&d, rec->series, true), 0);
		amrec__record__free_unpacked(rec, NULL);
	}
	for (size_t b = 0; b < 300; b++) {
		uint32_t refs[NCS];
		double vals[NCS];
		size_t k = 0;
		for (size_t s = 0; s < NCS; s++) {
			if (s == 5 && (b < 50 || b >= 150))
				continue;
			refs[k] = (uint32_t)s;
			vals[k++] = cvalue(s, b);
		}
		ck_assert_int_eq(rec_enc_batch(&e, 1000000 + (int64_t)b * 15000, refs,
					       vals, k, &p, &n),
				 0);
		if ((long)b == lose)
			continue;
		rec = amrec__record__unpack(NULL, n - REC_FRAME_HDR, p + REC_FRAME_HDR);
		ck_assert_ptr_nonnull(rec);
		int rc = rec_dec_batch(&d, rec->batch);
		bool key = rec->batch->keyframe;
		amrec__record__free_unpacked(rec, NULL);
		if (lose >= 0 && (long)b > lose && !key && !recovered) {
			ck_assert_int_eq(rc, -EAGAIN);
			continue;
		}
		if (key && (long)b > lose)
			recovered = 1;
		ck_assert_int_eq(rc, 0);
		decoded++;
		ck_assert_int_eq(d.time_ms, 1000000 + (int64_t)b * 15000);
		ck_assert_uint_eq(d.nlive, k);
		for (size_t i = 0; i < k; i++) {
			uint32_t s = refs[i];
			double want = vals[i], got = rec_dec_value(&d, s);
			double res = rec_resolution(cser[s].family, cser[s].unit);
			ck_assert_uint_eq(d.live[i], s);
			if (isnan(want))
				ck_assert(isnan(got));
			else if (res > 0)
				ck_assert_msg(fabs(got - want) <= res / 2 + 1e-12,
					      "series %u batch %zu: %.9g != %.9g", s, b,
					      got, want);
			else
				ck_assert_msg(got == want,
					      "series %u batch %zu: %.17g != %.17g", s, b,
					      got, want);
		}
	}
	ck_assert_int_gt(decoded, 200);
	rec_enc_free(&e);
	rec_dec_free(&d);
}

START_TEST(test_codec_roundtrip)
{
	codec_run(-1);
}
END_TEST

START_TEST(test_codec_lost_batch)
{
	codec_run(33); /* a delta batch: the rest waits for batch 40 */
}
END_TEST

/* A definition whose ref is far beyond the series defined so far is
 * corrupt input: refused (-ERANGE) without growing the decoder's arrays to
 * it; nearer refs, and definitions after it, still work. */
START_TEST(test_dec_far_ref)
{
	static const struct {
		uint32_t ref;
		int rc;
	} cases[] = {
	    {(1u << 24) - 1, -ERANGE}, /* the 86-byte file: 16M slots */
	    {0, 0},
	    {1, 0},
	    {1u << 23, -ERANGE},
	    {2, 0},
	    {3 * 4 + REC_DEC_REF_SLACK, 0},	      /* 3 defined: the bound */
	    {4 * 4 + REC_DEC_REF_SLACK + 1, -ERANGE}, /* 4 defined: just over */
	    {3, 0},
	    {1u << 24, -EINVAL}, /* beyond any writer's refs */
	};
	struct rec_decoder d;

	rec_dec_init(&d);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		Amrec__SeriesDef def = AMREC__SERIES_DEF__INIT;
		def.has_ref = true;
		def.ref = cases[i].ref;
		def.family = (char *)"accel_busy_seconds_total";
		def.has_resolution = true;
		def.resolution = 1e-3;
		ck_assert_msg(rec_dec_series(&d, &def, true) == cases[i].rc,
			      "case %zu: ref %u", i, (unsigned)cases[i].ref);
		ck_assert_msg(d.ns <= 4 * REC_DEC_REF_SLACK, "case %zu: %u slots", i,
			      (unsigned)d.ns);
	}
	ck_assert_uint_eq(d.ndefs, 5);
	rec_dec_free(&d);
}
END_TEST

START_TEST(test_resolution_table)
{
	static const struct {
		const char *family, *unit;
		double res;
	} cases[] = {
	    {"accel_busy_seconds_total", "seconds", 1e-3},
	    {"accel_energy_joules_total", "joules", 1e-3},
	    {"accel_utilization_ratio", "ratio", 1e-6},
	    {"accel_power_watts", NULL, 1e-3},
	    {"fabric_port_transmit_bytes_total", "bytes", 0},
	    {"accel_up", NULL, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ck_assert_msg(rec_resolution(cases[i].family, cases[i].unit) ==
				  cases[i].res,
			      "%s", cases[i].family);
}
END_TEST

START_TEST(test_parse_size)
{
	static const struct {
		const char *s;
		int rc;
		uint64_t v;
	} cases[] = {
	    {"1048576", 0, 1048576}, {"64MiB", 0, 64ull << 20},	 {"1GB", 0, 1000000000},
	    {"512k", 0, 512000},     {"1.5GiB", 0, 3ull << 29},	 {"", -EINVAL, 0},
	    {"-1", -EINVAL, 0},	     {"12 parsecs", -EINVAL, 0}, {"MiB", -EINVAL, 0},
	    /* beyond 2^63 bytes: refused, not wrapped to a small size */
	    {"99999999999TiB", -ERANGE, 0}, {"1e18tb", -ERANGE, 0},
	    {"8EiB", -EINVAL, 0}, {"8000000TiB", 0, 8000000ull << 40},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t v = 0;
		ck_assert_int_eq(rec_parse_size(cases[i].s, &v), cases[i].rc);
		if (cases[i].rc == 0)
			ck_assert_uint_eq(v, cases[i].v);
	}
}
END_TEST

/* ---- writer (the exporter without its thread) ---- */

#define WS 12

struct wfix {
	uint32_t ids[WS];
	struct snap_value vals[WS];
	struct snapshot snap;
};

static void wfix_init(struct wfix *f)
{
	static const char *const labels[] = {"device", NULL};
	struct am_family_def busy = {
	    .name = "accel_busy_seconds_total",
	    .help = "busy",
	    .kind = AM_INTEGRAL,
	    .unit = "seconds",
	    .labels = {"device"},
	};
	struct am_family_def bytes = {
	    .scale = 1024, /* read in KiB */
	    .name = "fabric_port_transmit_bytes_total",
	    .help = "tx",
	    .kind = AM_COUNTER,
	    .unit = "bytes",
	    .labels = {"device"},
	};
	(void)labels;
	series_reset();
	int fb = series_family_register(&busy, -1);
	int fx = series_family_register(&bytes, -1);
	ck_assert_int_ge(fb, 0);
	ck_assert_int_ge(fx, 0);
	for (int i = 0; i < WS; i++) {
		char name[16];
		snprintf(name, sizeof(name), "dev%d", i);
		const char *v[] = {name};
		f->ids[i] = series_intern(i % 2 ? fx : fb, v, -1);
		ck_assert_uint_ne(f->ids[i], AM_SERIES_INVALID);
	}
	memset(&f->snap, 0, sizeof(f->snap));
	f->snap.values = f->vals;
	f->snap.nvalues = WS;
}

static double wvalue(int i, uint64_t gen)
{
	/* odd: a counter read in KiB (whole multiples of 1024) */
	return i % 2 ? (double)(gen * 1000003 * (i + 1)) * 1024 : gen * 4.5 + i;
}

static void wfix_set(struct wfix *f, uint64_t gen)
{
	f->snap.generation = gen;
	f->snap.wall_ms = 1764000000000LL + (int64_t)gen * 15000;
	/* in family order, as the aggregator lists them: not by id */
	int k = 0;
	for (int fam = 0; fam < 2; fam++)
		for (int i = 1 - fam; i < WS; i += 2)
			f->vals[k++] = (struct snap_value){f->ids[i], wvalue(i, gen)};
}

/* Read every *.amrec in dir: count batches and check each value against
 * wvalue() at the generation its time stamp says. */
static void check_dir(const char *dir, uint64_t *batches, int *files, int *damaged)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	*batches = 0;
	*files = *damaged = 0;
	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d))) {
		char path[512];
		if (!strstr(e->d_name, ".amrec"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		int fd = open(path, O_RDONLY);
		struct rec_frame_reader r;
		struct rec_decoder dec;
		const uint8_t *p;
		size_t len;
		uint64_t off;
		enum rec_frame_status st;
		(*files)++;
		ck_assert_int_eq(rec_frame_reader_fd(&r, fd), 0);
		rec_dec_init(&dec);
		while ((st = rec_frame_next(&r, &p, &len, &off)) != REC_FRAME_EOF) {
			if (st != REC_FRAME_OK) {
				(*damaged)++;
				continue;
			}
			Amrec__Record *rec = amrec__record__unpack(NULL, len, p);
			ck_assert_ptr_nonnull(rec);
			if (rec->body_case == AMREC__RECORD__BODY_SERIES) {
				const Amrec__SeriesDef *sd = rec->series;
				/* the KiB counter is stored in steps of 1024 */
				bool kib =
				    strcmp(sd->family,
					   "fabric_port_transmit_bytes_total") == 0;
				ck_assert(sd->has_step == kib);
				if (kib)
					ck_assert(sd->step == 1024);
				ck_assert_int_eq(rec_dec_series(&dec, sd, true), 0);
			}
			if (rec->body_case == AMREC__RECORD__BODY_BATCH) {
				ck_assert_int_eq(rec_dec_batch(&dec, rec->batch), 0);
				uint64_t gen =
				    (uint64_t)((dec.time_ms - 1764000000000LL) / 15000);
				ck_assert_uint_eq(dec.nlive, WS);
				for (size_t i = 0; i < dec.nlive; i++) {
					double want = wvalue((int)i, gen);
					double got = rec_dec_value(&dec, dec.live[i]);
					ck_assert_msg(fabs(got - want) <= 5e-4,
						      "gen %llu series %zu: %g != %g",
						      (unsigned long long)gen, i, got,
						      want);
				}
				(*batches)++;
			}
			amrec__record__free_unpacked(rec, NULL);
		}
		rec_dec_free(&dec);
		rec_frame_reader_free(&r);
		close(fd);
	}
	closedir(d);
}

START_TEST(test_writer_rotation_retention)
{
	char *dir = fixture_tmpdir("amrec-test");
	struct rec_opts o = {
	    .dir = dir,
	    .interval_s = 15,
	    .max_file_size = 4096,
	    .retention_size = 1 << 20,
	    .fsync_interval_s = 60,
	    .keyframe_every = 10,
	    .hostname = "node/1",
	};
	struct rec_writer *w;
	struct wfix f;
	struct rec_stats st;
	uint64_t batches;
	int files, damaged;

	wfix_init(&f);
	ck_assert_int_eq(rec_writer_new(&o, &w), 0);
	for (uint64_t g = 1; g <= 200; g++) {
		wfix_set(&f, g);
		ck_assert_int_eq(rec_writer_write(w, &f.snap, f.snap.wall_ms), 0);
		/* the same snapshot again is not written twice */
		ck_assert_int_eq(rec_writer_write(w, &f.snap, f.snap.wall_ms), 0);
	}
	ck_assert_ptr_nonnull(strstr(rec_writer_path(w), "/node_1-"));
	rec_writer_free(w);
	check_dir(dir, &batches, &files, &damaged);
	ck_assert_uint_eq(batches, 200);
	ck_assert_int_gt(files, 3);
	ck_assert_int_eq(damaged, 0);

	/* retention by total size keeps the newest files under the limit */
	o.retention_size = 3 * 4096;
	ck_assert_int_eq(rec_writer_new(&o, &w), 0);
	for (uint64_t g = 201; g <= 260; g++) {
		wfix_set(&f, g);
		ck_assert_int_eq(rec_writer_write(w, &f.snap, f.snap.wall_ms), 0);
	}
	rec_writer_stats(w, &st);
	rec_writer_free(w);
	ck_assert_uint_gt(st.files_deleted, 0);
	ck_assert_uint_eq(st.batches, 60);
	check_dir(dir, &batches, &files, &damaged);
	ck_assert_int_le(files, 5);
	ck_assert_int_eq(damaged, 0);
	fixture_rmdir_files(dir);
	free(dir);
}
END_TEST

/* Count the files of dir whose name starts with prefix. */
static int count_prefix(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)))
		if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
			n++;
	closedir(d);
	return n;
}

/* Several nodes share one directory: a writer's retention counts and
 * deletes only its own files. node1's small files and small limit must not
 * touch node10's (a host that node1 is a prefix of) nor node1-b's (a host
 * that "node1-" is a prefix of), including the files they are writing. */
START_TEST(test_writer_retention_shared_dir)
{
	char *dir = fixture_tmpdir("amrec-test");
	struct rec_opts o = {
	    .dir = dir,
	    .interval_s = 15,
	    .max_file_size = 2048,
	    .retention_size = 3 * 2048,
	    .fsync_interval_s = 60,
	    .keyframe_every = 10,
	    .hostname = "node1",
	};
	struct rec_opts o10 = o, ob = o;
	struct rec_writer *w, *w10, *wb;
	struct wfix f;
	struct rec_stats st;
	char p10[512], pb[512], junk[512];
	struct stat sb;

	o10.hostname = "node10";
	o10.max_file_size = 1 << 20;
	ob.hostname = "node1-b";
	ob.max_file_size = 1 << 20;
	/* not a record file of node1's own shape: left alone */
	snprintf(junk, sizeof(junk), "%s/node1-notes.amrec", dir);
	FILE *j = fopen(junk, "w");
	ck_assert_ptr_nonnull(j);
	fputs("x", j);
	fclose(j);
	wfix_init(&f);
	ck_assert_int_eq(rec_writer_new(&o, &w), 0);
	ck_assert_int_eq(rec_writer_new(&o10, &w10), 0);
	ck_assert_int_eq(rec_writer_new(&ob, &wb), 0);
	for (uint64_t g = 1; g <= 60; g++) {
		wfix_set(&f, g);
		ck_assert_int_eq(rec_writer_write(w10, &f.snap, f.snap.wall_ms), 0);
		ck_assert_int_eq(rec_writer_write(wb, &f.snap, f.snap.wall_ms), 0);
		ck_assert_int_eq(rec_writer_write(w, &f.snap, f.snap.wall_ms), 0);
	}
	snprintf(p10, sizeof(p10), "%s", rec_writer_path(w10));
	snprintf(pb, sizeof(pb), "%s", rec_writer_path(wb));
	rec_writer_stats(w, &st);
	ck_assert_msg(stat(p10, &sb) == 0, "node10's current file %s was deleted", p10);
	ck_assert_msg(stat(pb, &sb) == 0, "node1-b's current file %s was deleted", pb);
	ck_assert_msg(stat(junk, &sb) == 0, "%s was deleted", junk);
	ck_assert_int_eq(count_prefix(dir, "node10-"), 1);
	ck_assert_int_eq(count_prefix(dir, "node1-b-"), 1);
	/* node1 did rotate and delete, and only its own files */
	ck_assert_uint_gt(st.files_deleted, 0);
	ck_assert_int_le(count_prefix(dir, "node1-2"), 4);
	rec_writer_free(w);
	rec_writer_free(w10);
	rec_writer_free(wb);
	fixture_rmdir_files(dir);
	free(dir);
}
END_TEST

/* accel_info registered by two collectors with different label names: each
 * series definition carries its own registration's names. */
START_TEST(test_writer_label_names_per_registration)
{
	char *dir = fixture_tmpdir("amrec-test");
	struct am_family_def a = {
	    .name = "accel_info",
	    .help = "i",
	    .kind = AM_INFO,
	    .labels = {"device", "uuid", "model"},
	};
	struct am_family_def b = {
	    .name = "accel_info",
	    .help = "i",
	    .kind = AM_INFO,
	    .labels = {"device", "uuid", "model", "vbios_version"},
	};
	struct rec_opts o = {.dir = dir, .interval_s = 15, .keyframe_every = 10};
	struct rec_writer *w;
	struct snap_value vals[2];
	struct snapshot snap = {
	    .generation = 1, .wall_ms = 1764000000000LL, .values = vals, .nvalues = 2};

	series_reset();
	int va = series_family_register(&a, 0), vb = series_family_register(&b, 1);
	ck_assert_int_ge(va, 0);
	ck_assert_int_ge(vb, 0);
	const char *x[] = {"nvidia0", "GPU-1", "H100"};
	const char *y[] = {"amdgpu0", "5c3a", "MI300X", "113-M3"};
	vals[0] = (struct snap_value){series_intern(vb, y, 1), 1};
	vals[1] = (struct snap_value){series_intern(va, x, 0), 1};
	ck_assert_int_eq(rec_writer_new(&o, &w), 0);
	ck_assert_int_eq(rec_writer_write(w, &snap, snap.wall_ms), 0);
	char path[512];
	snprintf(path, sizeof(path), "%s", rec_writer_path(w));
	rec_writer_free(w);

	int fd = open(path, O_RDONLY), defs = 0;
	struct rec_frame_reader r;
	const uint8_t *p;
	size_t len;
	uint64_t off;
	ck_assert_int_eq(rec_frame_reader_fd(&r, fd), 0);
	while (rec_frame_next(&r, &p, &len, &off) == REC_FRAME_OK) {
		Amrec__Record *rec = amrec__record__unpack(NULL, len, p);
		ck_assert_ptr_nonnull(rec);
		if (rec->body_case == AMREC__RECORD__BODY_SERIES) {
			const Amrec__SeriesDef *d = rec->series;
			bool amd = strcmp(d->label_values[0], "amdgpu0") == 0;
			ck_assert_uint_eq(d->n_label_names, amd ? 4 : 3);
			ck_assert_uint_eq(d->n_label_values, d->n_label_names);
			if (amd)
				ck_assert_str_eq(d->label_names[3], "vbios_version");
			ck_assert_int_eq(d->type, AMREC__SERIES_TYPE__SERIES_INFO);
			defs++;
		}
		amrec__record__free_unpacked(rec, NULL);
	}
	ck_assert_int_eq(defs, 2);
	rec_frame_reader_free(&r);
	close(fd);
	fixture_rmdir_files(dir);
	free(dir);
}
END_TEST

/* A job's series retired between two record frames: the file still holds
 * their last values, and accelmon-audit's reading of it gives the job
 * exactly the busy seconds and joules the aggregator counted (issue 17);
 * the series are gone from the batch after. Loop 1 releases them
 * (am_series_release, as agent/sdk/attrib.c does): the same file, and their
 * registry entries are freed once the writer has seen their final values. */
START_TEST(test_writer_final_value_of_retired_series)
{
	char *dir = fixture_tmpdir("amrec-test");
	struct am_family_def busy = {
	    .name = "accel_job_busy_seconds_total",
	    .help = "busy",
	    .kind = AM_INTEGRAL,
	    .unit = "seconds",
	    .labels = {"device", "uuid", "job", "kind"},
	};
	struct am_family_def energy = {
	    .name = "accel_job_energy_joules_total",
	    .help = "energy",
	    .kind = AM_INTEGRAL,
	    .unit = "joules",
	    .labels = {"device", "uuid", "job", "kind"},
	};
	struct rec_opts o = {.dir = dir, .interval_s = 15, .keyframe_every = 10};
	struct rec_writer *w;
	struct snapshot *snap;
	double counted[2] = {-1, -1}, first[2] = {-1, -1};
	const int64_t t0 = 1764000000000LL;

	series_reset();
	int fb = series_family_register(&busy, -1);
	int fe = series_family_register(&energy, -1);
	ck_assert_int_ge(fb, 0);
	ck_assert_int_ge(fe, 0);
	const char *job[] = {"nvidia0", "GPU-1", "42", "slurm"};
	uint32_t id[2] = {series_intern(fb, job, -1), series_intern(fe, job, -1)};
	ck_assert_uint_ne(id[0], AM_SERIES_INVALID);
	ck_assert_uint_ne(id[1], AM_SERIES_INVALID);
	struct agg *a = agg_new(NULL);
	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(rec_writer_new(&o, &w), 0);
	/* 0.5 busy and 300 W, one sample a second, from second 0 to 25;
	 * record frames at 0 (the job starts) and at 15; the job ends at 25,
	 * before the frame at 30. */
	for (int sec = 0; sec <= 25; sec++) {
		struct am_sample sm[2] = {{id[0], 0, (int64_t)sec * NS_PER_S, 0.5},
					  {id[1], 0, (int64_t)sec * NS_PER_S, 300}};
		agg_ingest(a, sm, 2);
		ck_assert_ptr_nonnull(snap = agg_render(a, sm[0].t_ns));
		if (sec % 15 == 0) {
			ck_assert_uint_eq(snap->nvalues, 2);
			snap->wall_ms = t0 + (int64_t)sec * 1000;
			ck_assert_int_eq(rec_writer_write(w, snap, snap->wall_ms), 0);
		}
		snapshot_release(snap); /* others: renders the writer skips */
		if (sec == 0)
			for (int k = 0; k < 2; k++)
				ck_assert_int_eq(agg_value(a, id[k], &first[k]), 0);
	}
	for (int k = 0; k < 2; k++) {
		ck_assert_int_eq(agg_value(a, id[k], &counted[k]), 0);
		struct am_sample ret = {id[k], SAMPLE_RETIRE, 25 * NS_PER_S, 0};
		if (_i) {
			ck_assert_int_eq(series_release(id[k], -1), 0);
			ret.flags |= SAMPLE_RELEASE;
		}
		agg_ingest(a, &ret, 1);
	}
	ck_assert(fabs(counted[0] - 12.5) < 1e-9 && fabs(counted[1] - 7500) < 1e-6);
	/* the job has ended: a scrape no longer shows it, records still must */
	ck_assert_ptr_nonnull(snap = agg_render(a, 26 * NS_PER_S));
	ck_assert_uint_eq(snap->nvalues, 0);
	ck_assert(!strstr(snap->text, "job=\"42\""));
	snapshot_release(snap);
	/* the writer has not seen the final values yet: still there */
	for (int k = 0; k < 2; k++)
		ck_assert_ptr_nonnull(series_get(id[k]));
	ck_assert_ptr_nonnull(snap = agg_render(a, 30 * NS_PER_S));
	snap->wall_ms = t0 + 30000;
	ck_assert_int_eq(rec_writer_write(w, snap, snap->wall_ms), 0);
	snapshot_release(snap);
	/* seen by the one consumer: not carried further */
	ck_assert_ptr_nonnull(snap = agg_render(a, 45 * NS_PER_S));
	ck_assert_uint_eq(snap->nfinals, 0);
	/* released: nothing can look them up any more, freed */
	for (int k = 0; k < 2; k++)
		ck_assert(_i ? series_get(id[k]) == NULL : series_get(id[k]) != NULL);
	snap->wall_ms = t0 + 45000;
	ck_assert_int_eq(rec_writer_write(w, snap, snap->wall_ms), 0);
	snapshot_release(snap);
	char path[512];
	snprintf(path, sizeof(path), "%s", rec_writer_path(w));
	rec_writer_free(w);
	agg_free(a);

	/* the batches: the job, the job, its final values, nothing */
	int fd = open(path, O_RDONLY), batches = 0;
	struct rec_frame_reader r;
	struct rec_decoder dec;
	const uint8_t *p;
	size_t len;
	uint64_t off;
	size_t live[4];
	ck_assert_int_eq(rec_frame_reader_fd(&r, fd), 0);
	rec_dec_init(&dec);
	while (rec_frame_next(&r, &p, &len, &off) == REC_FRAME_OK) {
		Amrec__Record *rec = amrec__record__unpack(NULL, len, p);
		ck_assert_ptr_nonnull(rec);
		if (rec->body_case == AMREC__RECORD__BODY_SERIES)
			ck_assert_int_eq(rec_dec_series(&dec, rec->series, true), 0);
		if (rec->body_case == AMREC__RECORD__BODY_BATCH) {
			ck_assert_int_eq(rec_dec_batch(&dec, rec->batch), 0);
			ck_assert_int_lt(batches, 4);
			live[batches++] = dec.nlive;
		}
		amrec__record__free_unpacked(rec, NULL);
	}
	rec_dec_free(&dec);
	rec_frame_reader_free(&r);
	close(fd);
	ck_assert_int_eq(batches, 4);
	ck_assert_uint_eq(live[0], 2);
	ck_assert_uint_eq(live[1], 2);
	ck_assert_uint_eq(live[2], 2); /* its final values */
	ck_assert_uint_eq(live[3], 0); /* then gone */

	/* what the audit makes of it: everything counted after the first
	 * frame (which the audit sees as the job's start) */
	struct audit au;
	struct audit_opts ao = {.from_ms = INT64_MIN, .to_ms = INT64_MAX,
				.idle_below = 0.05, .gap_intervals = 3};
	audit_init(&au, &ao);
	au.warn = NULL;
	ck_assert_int_eq(audit_file(&au, path), 0);
	ck_assert_int_eq(audit_finish(&au), 0);
	ck_assert_uint_eq(au.njobs, 1);
	ck_assert_msg(fabs(au.jobs[0].t.busy_s - (counted[0] - first[0])) < 1e-3,
		      "audit: %g busy seconds, agent counted %g", au.jobs[0].t.busy_s,
		      counted[0] - first[0]);
	ck_assert_msg(fabs(au.jobs[0].t.energy_j - (counted[1] - first[1])) < 1e-3,
		      "audit: %g J, agent counted %g", au.jobs[0].t.energy_j,
		      counted[1] - first[1]);
	audit_free(&au);
	fixture_rmdir_files(dir);
	free(dir);
}
END_TEST

/* Rotation by age (the snapshots' wall clock) and retention by age (file
 * modification times against the writer's clock). */
START_TEST(test_writer_age_limits)
{
	char *dir = fixture_tmpdir("amrec-test");
	struct rec_opts o = {
	    .dir = dir,
	    .interval_s = 15,
	    .max_file_age_s = 600,
	    .fsync_interval_s = 60,
	    .keyframe_every = 10,
	};
	struct rec_writer *w;
	struct wfix f;
	struct rec_stats st;
	uint64_t batches;
	int files, damaged;

	wfix_init(&f);
	ck_assert_int_eq(rec_writer_new(&o, &w), 0);
	for (uint64_t g = 1; g <= 200; g++) { /* 50 min at 15 s */
		wfix_set(&f, g);
		ck_assert_int_eq(rec_writer_write(w, &f.snap, f.snap.wall_ms), 0);
	}
	rec_writer_free(w);
	check_dir(dir, &batches, &files, &damaged);
	ck_assert_uint_eq(batches, 200);
	ck_assert_int_eq(files, 5); /* a new file every 10 minutes */

	/* Two days later, with a one-day retention: the old files go. */
	o.retention_age_s = 86400;
	ck_assert_int_eq(rec_writer_new(&o, &w), 0);
	wfix_set(&f, 201);
	int64_t later = (int64_t)time(NULL) * 1000 + 2 * 86400000LL;
	ck_assert_int_eq(rec_writer_write(w, &f.snap, later), 0);
	rec_writer_stats(w, &st);
	rec_writer_free(w);
	ck_assert_uint_eq(st.files_deleted, 5);
	check_dir(dir, &batches, &files, &damaged);
	ck_assert_int_eq(files, 1);
	fixture_rmdir_files(dir);
	free(dir);
}
END_TEST

/* A full disk, simulated by the writer's injectable write(): while "full",
 * a write stores a few bytes and then fails with ENOSPC, as a real one
 * does. Batches are dropped and counted, the partial frame is cut off, and
 * writing resumes in a new file once there is room. */
static bool disk_is_full;
static bool partial_done;

static ssize_t fake_write(int fd, const void *buf, size_t n)
{
	if (!disk_is_full)
		return write(fd, buf, n);
	if (!partial_done && n > 10) {
		partial_done = true;
		return write(fd, buf, n / 2);
	}
	errno = ENOSPC;
	return -1;
}

START_TEST(test_writer_disk_full)
{
	char *dir = fixture_tmpdir("amrec-test");
	struct rec_opts o = {
	    .dir = dir,
	    .interval_s = 15,
	    .fsync_interval_s = 0,
	    .keyframe_every = 10,
	    .write_fn = fake_write,
	};
	struct rec_writer *w;
	struct wfix f;
	struct rec_stats st;
	uint64_t batches;
	int files, damaged;

	wfix_init(&f);
	ck_assert_int_eq(rec_writer_new(&o, &w), 0);
	uint64_t ok = 0, failed = 0;
	for (uint64_t g = 1; g <= 60; g++) {
		wfix_set(&f, g);
		disk_is_full = g >= 20 && g < 40;
		if (rec_writer_write(w, &f.snap, f.snap.wall_ms) == 0)
			ok++;
		else
			failed++;
		rec_writer_stats(w, &st);
		ck_assert_msg(st.paused == disk_is_full, "batch %llu",
			      (unsigned long long)g);
	}
	rec_writer_stats(w, &st);
	ck_assert_uint_eq(failed, 20);
	ck_assert_uint_eq(ok, 40);
	ck_assert_uint_eq(st.dropped_batches, 20);
	ck_assert(!st.paused);
	ck_assert_uint_eq(st.files_opened, 2); /* retries leave no empty files */
	rec_writer_free(w);
	check_dir(dir, &batches, &files, &damaged);
	ck_assert_uint_eq(batches, 40);
	ck_assert_int_eq(files, 2);
	ck_assert_int_eq(damaged, 0); /* the partial write was cut off */
	fixture_rmdir_files(dir);
	free(dir);
}
END_TEST

/* A nearly full disk: the header of a new file fits, the first batch does
 * not. Every retry opens a file and fails; none may be left behind (each
 * would hold only a header), and the numbering has no gap once writing
 * resumes. */
static size_t disk_room;

static ssize_t nearly_full_write(int fd, const void *buf, size_t n)
{
	if (n > disk_room) {
		errno = ENOSPC;
		return -1;
	}
	return write(fd, buf, n);
}

START_TEST(test_writer_nearly_full_no_empty_files)
{
	char *dir = fixture_tmpdir("amrec-test");
	struct rec_opts o = {
	    .dir = dir,
	    .interval_s = 15,
	    .fsync_interval_s = 0,
	    .keyframe_every = 10,
	    .write_fn = nearly_full_write,
	};
	struct rec_writer *w;
	struct wfix f;
	struct rec_stats st;
	uint64_t batches;
	int files, damaged;

	wfix_init(&f);
	ck_assert_int_eq(rec_writer_new(&o, &w), 0);
	disk_room = SIZE_MAX;
	wfix_set(&f, 1);
	ck_assert_int_eq(rec_writer_write(w, &f.snap, f.snap.wall_ms), 0);
	rec_writer_close(w); /* a rotation: the next file starts with a header */
	disk_room = 200;     /* a header fits, a batch with its definitions not */
	for (uint64_t g = 2; g <= 21; g++) {
		wfix_set(&f, g);
		ck_assert_int_lt(rec_writer_write(w, &f.snap, f.snap.wall_ms), 0);
	}
	rec_writer_stats(w, &st);
	ck_assert(st.paused);
	ck_assert_uint_eq(st.dropped_batches, 20);
	check_dir(dir, &batches, &files, &damaged);
	ck_assert_int_eq(files, 1); /* no header-only file from 20 retries */
	disk_room = SIZE_MAX;
	wfix_set(&f, 22);
	ck_assert_int_eq(rec_writer_write(w, &f.snap, f.snap.wall_ms), 0);
	ck_assert_str_eq(strrchr(rec_writer_path(w), '-'), "-1.amrec");
	rec_writer_free(w);
	check_dir(dir, &batches, &files, &damaged);
	ck_assert_int_eq(files, 2);
	ck_assert_uint_eq(batches, 2);
	ck_assert_int_eq(damaged, 0);
	fixture_rmdir_files(dir);
	free(dir);
}
END_TEST

static Suite *records_suite(void)
{
	Suite *s = suite_create("records");
	TCase *tc = tcase_create("frames");
	tcase_add_test(tc, test_crc32c_vectors);
	tcase_add_test(tc, test_crc32c_chain_and_alignment);
	tcase_add_test(tc, test_frames_roundtrip);
	tcase_add_test(tc, test_frames_truncation);
	tcase_add_test(tc, test_frames_bit_flips);
	tcase_add_test(tc, test_frames_length_larger_than_file);
	tcase_add_test(tc, test_frames_garbage);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	tc = tcase_create("codec");
	tcase_add_test(tc, test_codec_roundtrip);
	tcase_add_test(tc, test_codec_lost_batch);
	tcase_add_test(tc, test_dec_far_ref);
	tcase_add_test(tc, test_resolution_table);
	tcase_add_test(tc, test_parse_size);
	suite_add_tcase(s, tc);
	tc = tcase_create("writer");
	tcase_add_test(tc, test_writer_rotation_retention);
	tcase_add_test(tc, test_writer_retention_shared_dir);
	tcase_add_test(tc, test_writer_age_limits);
	tcase_add_test(tc, test_writer_label_names_per_registration);
	tcase_add_loop_test(tc, test_writer_final_value_of_retired_series, 0, 2);
	tcase_add_test(tc, test_writer_disk_full);
	tcase_add_test(tc, test_writer_nearly_full_no_empty_files);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(records_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
