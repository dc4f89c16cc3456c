/* Remote write 1.0 encoding and retry policy (exporters/remote_write_codec.h).
 * The protobuf is packed by protoc-c's generated code from structs that point
 * at the cached label sets, so a request costs one pack and one compress.
 */
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <snappy-c.h>
#include <stdlib.h>
#include <string.h>

#include "exporters/remote_write_codec.h"

int rw_label_name_ok(const char *s)
{
	if (!s || !(isalpha((unsigned char)*s) || *s == '_'))
		return 0;
	if (s[0] == '_' && s[1] == '_')
		return 0; /* reserved for the receiver (__name__ is ours) */
	for (s++; *s; s++)
		if (!(isalnum((unsigned char)*s) || *s == '_'))
			return 0;
	return 1;
}

static int label_cmp(const void *x, const void *y)
{
	const struct rw_label *a = x, *b = y;
	return strcmp(a->name, b->name);
}

int rw_labels_build(const char *metric, unsigned n, const char *const *names,
		    const char *const *values, const struct rw_label *ext, unsigned next,
		    struct rw_label *out, unsigned max)
{
	unsigned k = 0;

	if (!metric || !*metric)
		return -EINVAL;
	if (max < 1)
		return -E2BIG;
	out[k++] = (struct rw_label){"__name__", metric};
	for (unsigned i = 0; i < n; i++) {
		/* A label of that name would give the series two names. */
		if (!strcmp(names[i], "__name__"))
			return -EINVAL;
		for (unsigned j = 0; j < i; j++)
			if (!strcmp(names[i], names[j]))
				return -EINVAL;
		if (!values[i] || !*values[i])
			continue;
		if (k == max)
			return -E2BIG;
		out[k++] = (struct rw_label){names[i], values[i]};
	}
	for (unsigned i = 0; i < next; i++) {
		unsigned j;

		for (j = 0; j < n; j++)
			if (!strcmp(names[j], ext[i].name))
				break;
		if (j < n || !ext[i].value || !*ext[i].value)
			continue;
		if (k == max)
			return -E2BIG;
		out[k++] = ext[i];
	}
	qsort(out, k, sizeof(*out), label_cmp);
	return (int)k;
}

static int name_char(char c, int first)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
	       (!first && c >= '0' && c <= '9');
}

int rw_parse_sample_line(char *line, const char **metric, const char **names,
			 const char **values, unsigned max, unsigned *n, double *value)
{
	char *p = line, *end;

	*n = 0;
	if (!name_char(*p, 1))
		return -EINVAL;
	*metric = p;
	while (name_char(*p, 0))
		p++;
	if (*p == '{') {
		*p++ = '\0';
		while (*p != '}') {
			char *w;

			if (*n == max)
				return -E2BIG;
			if (!name_char(*p, 1))
				return -EINVAL;
			names[*n] = p;
			while (name_char(*p, 0))
				p++;
			if (p[0] != '=' || p[1] != '"')
				return -EINVAL;
			*p = '\0';
			p += 2;
			values[*n] = w = p;
			for (; *p != '"'; p++) { /* unescape onto itself */
				if (!*p)
					return -EINVAL;
				if (*p == '\\') {
					p++;
					if (*p == 'n')
						*w++ = '\n';
					else if (*p == '\\' || *p == '"')
						*w++ = *p;
					else
						return -EINVAL;
				} else {
					*w++ = *p;
				}
			}
			*w = '\0';
			p++;
			(*n)++;
			if (*p == ',')
				p++;
			else if (*p != '}')
				return -EINVAL;
		}
		p++;
	} else if (*p != ' ') {
		return -EINVAL;
	}
	if (*p != ' ')
		return -EINVAL;
	*p++ = '\0';
	if (!*p)
		return -EINVAL;
	*value = strtod(p, &end); /* NaN, +Inf, -Inf too */
	if (end == p || *end)
		return -EINVAL;
	return 0;
}

double rw_stale_nan(void)
{
	uint64_t b = RW_STALE_NAN_BITS;
	double v;

	memcpy(&v, &b, sizeof(v));
	return v;
}

int rw_is_stale_nan(double v)
{
	uint64_t b;

	memcpy(&b, &v, sizeof(b));
	return b == RW_STALE_NAN_BITS;
}

void rw_enc_init(struct rw_encoder *e)
{
	memset(e, 0, sizeof(*e));
}

void rw_enc_free(struct rw_encoder *e)
{
	free(e->ts);
	free(e->tsp);
	free(e->smp);
	free(e->smpp);
	free(e->pb);
	free(e->body);
	rw_enc_init(e);
}

int rw_enc_begin(struct rw_encoder *e, size_t n)
{
	e->n = 0;
	if (n <= e->cap)
		return 0;
	free(e->ts);
	free(e->tsp);
	free(e->smp);
	free(e->smpp);
	e->ts = calloc(n, sizeof(*e->ts));
	e->tsp = calloc(n, sizeof(*e->tsp));
	e->smp = calloc(n, sizeof(*e->smp));
	e->smpp = calloc(n, sizeof(*e->smpp));
	if (!e->ts || !e->tsp || !e->smp || !e->smpp) {
		rw_enc_free(e);
		return -ENOMEM;
	}
	e->cap = n;
	return 0;
}

void rw_enc_add(struct rw_encoder *e, Prometheus__Label **labels, size_t nlabels,
		double value, int64_t ts_ms)
{
	Prometheus__TimeSeries *t = &e->ts[e->n];
	Prometheus__Sample *s = &e->smp[e->n];

	prometheus__sample__init(s);
	s->value = value;
	s->timestamp = ts_ms;
	e->smpp[e->n] = s;
	prometheus__time_series__init(t);
	t->n_labels = nlabels;
	t->labels = labels;
	t->n_samples = 1;
	t->samples = &e->smpp[e->n];
	e->tsp[e->n] = t;
	e->n++;
}

static int grow(uint8_t **p, size_t *cap, size_t need)
{
	if (need <= *cap)
		return 0;
	uint8_t *np = realloc(*p, need);
	if (!np)
		return -ENOMEM;
	*p = np;
	*cap = need;
	return 0;
}

int rw_enc_finish(struct rw_encoder *e, const uint8_t **body, size_t *len)
{
	Prometheus__WriteRequest r = PROMETHEUS__WRITE_REQUEST__INIT;
	size_t n, clen;

	r.n_timeseries = e->n;
	r.timeseries = e->tsp;
	n = prometheus__write_request__get_packed_size(&r);
	if (grow(&e->pb, &e->pbcap, n ? n : 1) < 0)
		return -ENOMEM;
	if (prometheus__write_request__pack(&r, e->pb) != n)
		return -EIO;
	clen = snappy_max_compressed_length(n);
	if (grow(&e->body, &e->bodycap, clen ? clen : 1) < 0)
		return -ENOMEM;
	if (snappy_compress((const char *)e->pb, n, (char *)e->body, &clen) != SNAPPY_OK)
		return -EIO;
	*body = e->body;
	*len = clen;
	return 0;
}

int rw_decode(const uint8_t *body, size_t len, Prometheus__WriteRequest **out)
{
	size_t n;
	char *raw;

	if (snappy_uncompressed_length((const char *)body, len, &n) != SNAPPY_OK ||
	    n > (256u << 20))
		return -EINVAL;
	raw = malloc(n ? n : 1);
	if (!raw)
		return -ENOMEM;
	if (snappy_uncompress((const char *)body, len, raw, &n) != SNAPPY_OK) {
		free(raw);
		return -EINVAL;
	}
	*out = prometheus__write_request__unpack(NULL, n, (const uint8_t *)raw);
	free(raw);
	return *out ? 0 : -EINVAL;
}

enum rw_action rw_classify(long status, int retry_429)
{
	if (status == 0 || status >= 500)
		return RW_RETRY;
	if (status == 429)
		return retry_429 ? RW_RETRY : RW_DROP;
	if (status >= 200 && status < 300)
		return RW_DONE;
	/* 4xx: the receiver will refuse the same bytes again (400 invalid,
	 * 409 out of order on Thanos); 1xx/3xx: curl follows no redirect,
	 * and a POST body is not re-sent to another place. */
	return RW_DROP;
}

double rw_backoff_s(unsigned attempt, double min_s, double max_s, double retry_after_s,
		    double retry_after_max_s, double rnd01)
{
	double d = min_s;

	for (unsigned i = 0; i < attempt && d < max_s; i++)
		d *= 2;
	if (d > max_s)
		d = max_s;
	d = d / 2 + d / 2 * rnd01;
	if (retry_after_s > d)
		d = retry_after_s < retry_after_max_s ? retry_after_s : retry_after_max_s;
	return d;
}

int rw_parse_retry_after(const char *v, time_t now, double *out_s)
{
	char *end;
	long long s;

	while (v && (*v == ' ' || *v == '\t'))
		v++;
	if (!v || !*v)
		return -EINVAL;
	if (isdigit((unsigned char)*v)) {
		errno = 0;
		s = strtoll(v, &end, 10);
		while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
			end++;
		if (errno || *end || s < 0)
			return -EINVAL;
		*out_s = (double)s;
		return 0;
	}
	time_t t = curl_getdate(v, NULL);
	if (t == (time_t)-1)
		return -EINVAL;
	*out_s = t > now ? (double)(t - now) : 0;
	return 0;
}
