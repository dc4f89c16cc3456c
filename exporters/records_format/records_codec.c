/* Record file codec (see records_codec.h): value encoding and the delta
 * state that the writer and the reader keep in step, one per file.
 * A value is stored as integer ticks of the series' resolution, delta-coded
 * against the previous batch, so a counter that grows by 15 s of busy time
 * costs two or three bytes instead of an eight-byte double.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "records_codec.h"
#include "records_frame.h"

/* Values are ticks of q: rounded when the series has a resolution, else
 * only when the value is a whole multiple (q is then the step, 1 by default). */
struct rec_enc_series {
	double q;
	bool rounds;
	bool defined;
	bool live;
	bool exact;    /* last value was stored as a double */
	int64_t ticks; /* last ticks (0 after a double) */
	uint64_t bits; /* last double's bits when exact */
	uint64_t seen; /* seq + 1 of the last batch that had it */
};

struct rec_dec_series {
	double q;
	bool rounds;
	bool defined;
	bool want;
	bool live;
	int64_t ticks;
	double value;
};

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

double rec_resolution(const char *family, const char *unit)
{
	static const struct {
		const char *unit, *suffix;
		double res;
	} table[] = {
	    {"seconds", "_seconds_total", 1e-3}, {"seconds", "_seconds", 1e-3},
	    {"joules", "_joules_total", 1e-3},	 {"watts", "_watts", 1e-3},
	    {"celsius", "_celsius", 1e-3},	 {"ratio", "_ratio", 1e-6},
	};
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if ((unit && strcmp(unit, table[i].unit) == 0) ||
		    ends_with(family, table[i].suffix))
			return table[i].res;
	return 0;
}

/* Value -> ticks; false when it must be stored as a double. */
static bool to_ticks(double v, double q, bool rounds, int64_t *ticks)
{
	double x = v / q;
	/* 2^53: beyond it a double no longer holds every integer. */
	if (!isfinite(x) || fabs(x) >= 9007199254740992.0)
		return false;
	if (rounds) {
		*ticks = llround(x);
		return true;
	}
	if (x != floor(x) || (x == 0 && signbit(x)) || x * q != v)
		return false;
	*ticks = (int64_t)x;
	return true;
}

static double from_ticks(int64_t ticks, double q)
{
	return (double)ticks * q;
}

/* The (q, rounds) pair of a definition; false for nonsense. */
static bool series_q(double resolution, double step, double *q, bool *rounds)
{
	if (!isfinite(resolution) || !isfinite(step))
		return false;
	*rounds = resolution > 0;
	*q = resolution > 0 ? resolution : step > 0 ? step : 1;
	return true;
}

void rec_enc_init(struct rec_encoder *e, unsigned keyframe_every)
{
	memset(e, 0, sizeof(*e));
	e->keyframe_every = keyframe_every ? keyframe_every : 80;
}

void rec_enc_free(struct rec_encoder *e)
{
	free(e->s);
	free(e->refs);
	free(e->ticks);
	free(e->xpos);
	free(e->xval);
	free(e->gone);
	free(e->buf);
	memset(e, 0, sizeof(*e));
}

void rec_enc_reset(struct rec_encoder *e)
{
	if (e->s)
		memset(e->s, 0, e->ns * sizeof(*e->s));
	e->seq = 0;
	e->since_key = 0;
	e->last_time_ms = 0;
}

void rec_enc_force_keyframe(struct rec_encoder *e)
{
	e->since_key = e->keyframe_every;
}

bool rec_enc_defined(const struct rec_encoder *e, uint32_t ref)
{
	return ref < e->ns && e->s[ref].defined;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t n = *cap ? *cap : 64;
	while (n < need)
		n *= 2;
	void *q = realloc(*p, n * elem);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = n;
	return 0;
}

/* Make slot ref of a zero-filled per-series array exist (refs are dense
 * from 0, so the array doubles; a ref beyond twice the size gets just what
 * it needs). */
static int grow_slots(void **v, uint32_t *n, uint32_t ref, size_t elem)
{
	if (ref < *n)
		return 0;
	size_t m = *n ? 2 * (size_t)*n : 256;
	if (m <= ref)
		m = (size_t)ref + 1;
	uint8_t *q = realloc(*v, m * elem);
	if (!q)
		return -ENOMEM;
	memset(q + (size_t)*n * elem, 0, (m - *n) * elem);
	*v = q;
	*n = (uint32_t)m;
	return 0;
}

static int frame_record(struct rec_encoder *e, const Amrec__Record *rec,
			const uint8_t **frame, size_t *len)
{
	size_t n = amrec__record__get_packed_size(rec);
	size_t cap = e->bufcap;

	if (n > REC_FRAME_MAX)
		return -E2BIG;
	if (grow((void **)&e->buf, &cap, REC_FRAME_HDR + n, 1) < 0)
		return -ENOMEM;
	e->bufcap = cap;
	amrec__record__pack(rec, e->buf + REC_FRAME_HDR);
	rec_frame_header(e->buf, e->buf + REC_FRAME_HDR, n);
	*frame = e->buf;
	*len = REC_FRAME_HDR + n;
	return 0;
}

int rec_enc_header(struct rec_encoder *e, const Amrec__FileHeader *h,
		   const uint8_t **frame, size_t *len)
{
	Amrec__Record rec = AMREC__RECORD__INIT;
	rec.body_case = AMREC__RECORD__BODY_HEADER;
	rec.header = (Amrec__FileHeader *)h;
	return frame_record(e, &rec, frame, len);
}

int rec_enc_series(struct rec_encoder *e, const struct rec_series_def *d,
		   const uint8_t **frame, size_t *len)
{
	Amrec__Record rec = AMREC__RECORD__INIT;
	Amrec__SeriesDef def = AMREC__SERIES_DEF__INIT;
	int rc;

	if ((rc = grow_slots((void **)&e->s, &e->ns, d->ref, sizeof(*e->s))) < 0)
		return rc;
	def.has_ref = true;
	def.ref = d->ref;
	def.family = (char *)d->family;
	def.n_label_names = def.n_label_values = d->nlabels;
	def.label_names = (char **)d->names;
	def.label_values = (char **)d->values;
	def.has_type = true;
	def.type = d->type;
	def.unit = (char *)d->unit;
	if (d->resolution > 0) {
		def.has_resolution = true;
		def.resolution = d->resolution;
	} else if (d->step > 0 && d->step != 1) {
		def.has_step = true;
		def.step = d->step;
	}
	rec.body_case = AMREC__RECORD__BODY_SERIES;
	rec.series = &def;
	if ((rc = frame_record(e, &rec, frame, len)) < 0)
		return rc;
	struct rec_enc_series *s = &e->s[d->ref];
	memset(s, 0, sizeof(*s));
	s->defined = true;
	if (!series_q(d->resolution, d->step, &s->q, &s->rounds))
		return -EINVAL;
	return 0;
}

int rec_enc_batch(struct rec_encoder *e, int64_t time_ms, const uint32_t *refs,
		  const double *values, size_t n, const uint8_t **frame, size_t *len)
{
	Amrec__Record rec = AMREC__RECORD__INIT;
	Amrec__SampleBatch b = AMREC__SAMPLE_BATCH__INIT;
	bool key = e->seq == 0 || e->since_key >= e->keyframe_every;
	size_t nref = 0, nx = 0, ngone = 0;
	uint32_t prev_ref = 0, prev_pos = 0;
	int rc;

	if (n + 1 > e->scap) {
		/* the four per-entry scratch arrays share one capacity */
		size_t c = e->scap ? e->scap : 64;
		while (c < n + 1)
			c *= 2;
		uint32_t *r = realloc(e->refs, c * sizeof(*r));
		if (r)
			e->refs = r;
		int64_t *t = realloc(e->ticks, c * sizeof(*t));
		if (t)
			e->ticks = t;
		uint32_t *x = realloc(e->xpos, c * sizeof(*x));
		if (x)
			e->xpos = x;
		double *xv = realloc(e->xval, c * sizeof(*xv));
		if (xv)
			e->xval = xv;
		if (!r || !t || !x || !xv)
			return -ENOMEM;
		e->scap = c;
	}
	for (size_t i = 0; i < n; i++) {
		uint32_t ref = refs[i];
		if (ref >= e->ns || !e->s[ref].defined || (i > 0 && ref <= refs[i - 1]))
			return -EINVAL;
		struct rec_enc_series *s = &e->s[ref];
		int64_t t = 0;
		bool exact = !to_ticks(values[i], s->q, s->rounds, &t);
		uint64_t bits = 0;
		if (exact)
			memcpy(&bits, &values[i], sizeof(bits));
		bool changed = !s->live || exact != s->exact ||
			       (exact ? bits != s->bits : t != s->ticks);
		if (key || changed) {
			int64_t base = key || !s->live ? 0 : s->ticks;
			e->refs[nref] = ref - prev_ref;
			prev_ref = ref;
			e->ticks[nref] = exact ? 0 : t - base;
			if (exact) {
				e->xpos[nx] = (uint32_t)nref - prev_pos;
				prev_pos = (uint32_t)nref;
				e->xval[nx++] = values[i];
			}
			nref++;
		}
		s->live = true;
		s->exact = exact;
		s->ticks = exact ? 0 : t;
		s->bits = bits;
		s->seen = e->seq + 1;
	}
	/* Series live in the previous batch but absent now went away. */
	if (!key) {
		uint32_t prev_gone = 0;
		for (uint32_t ref = 0; ref < e->ns; ref++) {
			struct rec_enc_series *s = &e->s[ref];
			if (!s->live || s->seen == e->seq + 1)
				continue;
			if (grow((void **)&e->gone, &e->gonecap, ngone + 1,
				 sizeof(uint32_t)) < 0)
				return -ENOMEM;
			e->gone[ngone++] = ref - prev_gone;
			prev_gone = ref;
			s->live = false;
		}
	} else {
		for (uint32_t ref = 0; ref < e->ns; ref++)
			if (e->s[ref].seen != e->seq + 1)
				e->s[ref].live = false;
	}
	b.has_seq = true;
	b.seq = e->seq;
	if (key) {
		b.has_keyframe = true;
		b.keyframe = true;
		b.has_time_ms = true;
		b.time_ms = time_ms;
	} else {
		b.has_time_delta_ms = true;
		b.time_delta_ms = time_ms - e->last_time_ms;
	}
	b.n_ref_deltas = b.n_ticks = nref;
	b.ref_deltas = e->refs;
	b.ticks = e->ticks;
	b.n_exact_pos = b.n_exact_values = nx;
	b.exact_pos = e->xpos;
	b.exact_values = e->xval;
	b.n_gone_refs = ngone;
	b.gone_refs = e->gone;
	rec.body_case = AMREC__RECORD__BODY_BATCH;
	rec.batch = &b;
	if ((rc = frame_record(e, &rec, frame, len)) < 0)
		return rc;
	e->seq++;
	e->since_key = key ? 1 : e->since_key + 1;
	e->last_time_ms = time_ms;
	return 0;
}

/* ---- decoder ---- */

void rec_dec_init(struct rec_decoder *d)
{
	memset(d, 0, sizeof(*d));
}

void rec_dec_free(struct rec_decoder *d)
{
	for (int i = 0; i < 10; i++)
		free(d->wire[i]);
	free(d->s);
	free(d->live);
	memset(d, 0, sizeof(*d));
}

int rec_dec_series(struct rec_decoder *d, const Amrec__SeriesDef *def, bool want)
{
	uint32_t ref = def->ref;
	double q;
	bool rounds;

	/* Refs are dense from 0; a huge one is damage or abuse, not a file
	 * this writer made. */
	if (!def->has_ref || ref >= (1u << 24) ||
	    !series_q(def->has_resolution ? def->resolution : 0,
		      def->has_step ? def->step : 0, &q, &rounds))
		return -EINVAL;
	/* The writer numbers a file's series 0, 1, 2, ...: a ref far beyond
	 * the definitions seen so far is damage, and taking it would make
	 * every per-series array that large (an 86-byte file asking for 16M
	 * slots). Some slack keeps files of other writers readable. */
	if (ref >= d->ns || !d->s[ref].defined)
		if ((uint64_t)ref > 4 * (uint64_t)d->ndefs + REC_DEC_REF_SLACK)
			return -ERANGE;
	if (grow_slots((void **)&d->s, &d->ns, ref, sizeof(*d->s)) < 0)
		return -ENOMEM;
	struct rec_dec_series *s = &d->s[ref];
	if (s->defined && (s->q != q || s->rounds != rounds))
		return -EINVAL;
	if (!s->defined) {
		memset(s, 0, sizeof(*s));
		s->defined = true;
		d->ndefs++;
		s->q = q;
		s->rounds = rounds;
	}
	s->want = want;
	d->live_dirty = true;
	return 0;
}

static int rebuild_live(struct rec_decoder *d)
{
	d->nlive = 0;
	for (uint32_t ref = 0; ref < d->ns; ref++) {
		if (!d->s[ref].live || !d->s[ref].want)
			continue;
		if (grow((void **)&d->live, &d->livecap, d->nlive + 1, sizeof(uint32_t)) <
		    0)
			return -ENOMEM;
		d->live[d->nlive++] = ref;
	}
	d->live_dirty = false;
	return 0;
}

int rec_dec_batch(struct rec_decoder *d, const Amrec__SampleBatch *b)
{
	bool key = b->has_keyframe && b->keyframe;
	uint32_t ref = 0;
	size_t xi = 0;
	uint32_t xpos = 0;

	if (!b->has_seq || b->n_ticks != b->n_ref_deltas ||
	    b->n_exact_pos != b->n_exact_values ||
	    (key ? !b->has_time_ms : !b->has_time_delta_ms))
		goto bad;
	if (!key && (!d->synced || b->seq != d->seq + 1)) {
		d->synced = false;
		return -EAGAIN;
	}
	/* Validate before changing any state, so a bad batch leaves the
	 * previous values intact. */
	for (size_t i = 0; i < b->n_ref_deltas; i++) {
		uint64_t r = (uint64_t)ref + b->ref_deltas[i];
		if ((i > 0 && b->ref_deltas[i] == 0) || r >= d->ns || !d->s[r].defined)
			goto bad;
		ref = (uint32_t)r;
	}
	for (size_t i = 0; i < b->n_exact_pos; i++) {
		uint64_t p = (uint64_t)xpos + b->exact_pos[i];
		if ((i > 0 && b->exact_pos[i] == 0) || p >= b->n_ref_deltas)
			goto bad;
		xpos = (uint32_t)p;
	}
	ref = 0;
	for (size_t i = 0; i < b->n_gone_refs; i++) {
		uint64_t r = (uint64_t)ref + b->gone_refs[i];
		if (r >= d->ns)
			goto bad;
		ref = (uint32_t)r;
	}

	if (key) {
		for (uint32_t r = 0; r < d->ns; r++)
			d->s[r].live = false;
		d->nlive_all = 0;
		d->live_dirty = true;
		d->time_ms = b->time_ms;
	} else {
		d->time_ms += b->time_delta_ms;
	}
	ref = 0;
	xpos = b->n_exact_pos ? b->exact_pos[0] : 0;
	for (size_t i = 0; i < b->n_ref_deltas; i++) {
		ref += b->ref_deltas[i];
		struct rec_dec_series *s = &d->s[ref];
		if (!s->live) {
			s->live = true;
			s->ticks = 0;
			d->nlive_all++;
			d->live_dirty = true;
		}
		if (xi < b->n_exact_pos && xpos == i) {
			s->value = b->exact_values[xi++];
			s->ticks = 0;
			if (xi < b->n_exact_pos)
				xpos += b->exact_pos[xi];
		} else {
			/* Wrapping add: damaged input must not be UB. */
			s->ticks = (int64_t)((uint64_t)s->ticks + (uint64_t)b->ticks[i]);
			s->value = from_ticks(s->ticks, s->q);
		}
	}
	ref = 0;
	for (size_t i = 0; i < b->n_gone_refs; i++) {
		ref += b->gone_refs[i];
		if (d->s[ref].live) {
			d->s[ref].live = false;
			d->nlive_all--;
			d->live_dirty = true;
		}
	}
	d->seq = b->seq;
	d->synced = true;
	if (d->live_dirty)
		return rebuild_live(d);
	return 0;
bad:
	d->synced = false;
	return -EINVAL;
}

double rec_dec_value(const struct rec_decoder *d, uint32_t ref)
{
	return ref < d->ns ? d->s[ref].value : NAN;
}

/* ---- in-place batch parser ----
 * protobuf-c's unpack allocates every message and array and walks generic
 * descriptors; for the one record that makes up nearly all of a file, a
 * direct reader of the wire format is several times faster. It only accepts
 * the exact shape our writer produces (known fields once each, repeated
 * fields packed) and answers -ENOTSUP for anything else, so the generic
 * path stays the reference for every other encoding. */

static int wire_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	const uint8_t *q = *p;
	uint64_t x = 0;

	/* Most values fit in one or two bytes: take those without a loop. */
	if (end - q >= 2) {
		if (q[0] < 0x80) {
			*v = q[0];
			*p = q + 1;
			return 0;
		}
		if (q[1] < 0x80) {
			*v = (uint64_t)(q[0] & 0x7f) | (uint64_t)q[1] << 7;
			*p = q + 2;
			return 0;
		}
	}
	for (int shift = 0; shift < 64 && q < end; shift += 7) {
		uint8_t b = *q++;
		x |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			/* the tenth byte may only carry the top bit */
			if (shift == 63 && b > 1)
				return -1;
			*v = x;
			*p = q;
			return 0;
		}
	}
	return -1;
}

static int wire_packed(struct rec_decoder *d, int field, const uint8_t *p,
		       const uint8_t *end, size_t *count)
{
	size_t n = 0, elem = field == 6	  ? sizeof(int64_t)
			     : field == 8 ? sizeof(double)
					  : sizeof(uint32_t);
	size_t max = field == 8 ? (size_t)(end - p) / 8 : (size_t)(end - p);

	if (field == 8 && (size_t)(end - p) % 8)
		return -1;
	if (max > d->wirecap[field]) {
		void *v = realloc(d->wire[field], (max ? max : 1) * elem);
		if (!v)
			return -1;
		d->wire[field] = v;
		d->wirecap[field] = max;
	}
	if (field == 8) {
		if (max) /* protobuf doubles are little-endian, as are our hosts */
			memcpy(d->wire[field], p, max * 8);
		*count = max;
		return 0;
	}
	if (field == 6) {
		int64_t *out = d->wire[6];
		while (p < end) {
			uint64_t v;
			if (wire_varint(&p, end, &v) < 0)
				return -1;
			out[n++] = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
		}
	} else {
		uint32_t *out = d->wire[field];
		while (p < end) {
			uint64_t v;
			if (wire_varint(&p, end, &v) < 0 || v > UINT32_MAX)
				return -1; /* protobuf-c would truncate */
			out[n++] = (uint32_t)v;
		}
	}
	*count = n;
	return 0;
}

int rec_dec_batch_wire(struct rec_decoder *d, const uint8_t *p, size_t len)
{
	const uint8_t *end = p + len;
	Amrec__SampleBatch b = AMREC__SAMPLE_BATCH__INIT;
	uint64_t v, blen;
	unsigned seen = 0;

	/* Record: exactly one field 3 (batch, length-delimited) */
	if (len < 2 || *p++ != 0x1a || wire_varint(&p, end, &blen) < 0 ||
	    blen != (uint64_t)(end - p))
		return -ENOTSUP;
	while (p < end) {
		uint64_t tag;
		if (wire_varint(&p, end, &tag) < 0)
			return -ENOTSUP;
		unsigned field = (unsigned)(tag >> 3), wt = tag & 7;
		if (field < 1 || field > 9 || (seen & (1u << field)))
			return -ENOTSUP;
		seen |= 1u << field;
		if (field <= 4) {
			if (wt != 0 || wire_varint(&p, end, &v) < 0)
				return -ENOTSUP;
			switch (field) {
			case 1:
				b.has_seq = true;
				b.seq = v;
				break;
			case 2:
				b.has_keyframe = true;
				b.keyframe = v != 0;
				break;
			case 3:
				b.has_time_ms = true;
				b.time_ms = (int64_t)v;
				break;
			default:
				b.has_time_delta_ms = true;
				b.time_delta_ms = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
				break;
			}
			continue;
		}
		size_t n;
		if (wt != 2 || wire_varint(&p, end, &v) < 0 || v > (uint64_t)(end - p) ||
		    wire_packed(d, (int)field, p, p + v, &n) < 0)
			return -ENOTSUP;
		p += v;
		switch (field) {
		case 5:
			b.n_ref_deltas = n;
			break;
		case 6:
			b.n_ticks = n;
			break;
		case 7:
			b.n_exact_pos = n;
			break;
		case 8:
			b.n_exact_values = n;
			break;
		default:
			b.n_gone_refs = n;
			break;
		}
	}
	b.ref_deltas = d->wire[5];
	b.ticks = d->wire[6];
	b.exact_pos = d->wire[7];
	b.exact_values = d->wire[8];
	b.gone_refs = d->wire[9];
	return rec_dec_batch(d, &b);
}
