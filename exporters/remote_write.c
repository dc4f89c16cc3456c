/* Remote write exporter: pushes the snapshot's values to receivers that take
 * Prometheus remote write 1.0 (Prometheus, VictoriaMetrics, Thanos Receive,
 * Mimir). Each endpoint has a push thread (encodes each interval), a sender
 * thread (one request at a time, oldest first), a curl handle (kept alive), label
 * cache and queue; the aggregator and scrapes only ever share a snapshot
 * reference with it. Requests that fail with 5xx, 429 or no answer are kept
 * in order (in memory, or in the on-disk spool) and retried with backoff.
 */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "accelmon/util.h"
#include "agg.h"
#include "clock.h"
#include "config.h"
#include "exporter.h"
#include "exporters/records.h"
#include "exporters/remote_write_codec.h"
#include "exporters/remote_write_spool.h"
#include "expo.h"
#include "log.h"
#include "series.h"
#include "snapshot.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0"
#endif

#define RW "remote_write"
#define RW_MAX_ENDPOINTS 16
#define RW_MAX_HEADERS 16

static const struct am_option rw_options[] = {
    {"url", AM_OPT_STRLIST,
     "receiver URL, or a list of URLs that share the other settings (this or "
     "endpoints)"},
    {"endpoints", AM_OPT_TREE,
     "receivers with settings of their own: a map, or a list of maps, each with "
     "url and the keys of this section that differ for it"},
    {"external_labels", AM_OPT_STRLIST,
     "labels added to every series, as name=value (e.g. cluster=a)"},
    {"max_samples_per_request", AM_OPT_INT, "samples per request (default 2000)", 1,
     1000000},
    {"max_sample_age", AM_OPT_DURATION,
     "queued samples older than this are dropped, not sent (default 1h)", 1, 86400 * 30},
    {"min_backoff", AM_OPT_DURATION, "first retry delay (default 100ms)", 0.001, 600},
    {"max_backoff", AM_OPT_DURATION, "longest retry delay (default 5s)", 0.001, 3600},
    {"retry_on_http_429", AM_OPT_BOOL, "retry 429 answers (default true)"},
    {"spool_dir", AM_OPT_STRING,
     "keep unsent requests on disk here, one subdirectory per URL (default: in "
     "memory)"},
    {"spool_max_size", AM_OPT_STRING, "bound of the queue per URL (default 256MiB)"},
    {"ca_file", AM_OPT_STRING, "CA bundle for https"},
    {"cert_file", AM_OPT_STRING, "client certificate (PEM)"},
    {"key_file", AM_OPT_STRING, "client key (PEM)"},
    {"insecure_skip_verify", AM_OPT_BOOL, "do not verify the server certificate"},
    {"basic_auth", AM_OPT_TREE, "HTTP basic auth: {username: USER, password_file: FILE}"},
    {"basic_auth_username", AM_OPT_STRING, "HTTP basic auth user (or basic_auth)"},
    {"basic_auth_password_file", AM_OPT_STRING, "file holding the basic auth password"},
    {"bearer_token_file", AM_OPT_STRING, "file holding a bearer token"},
    {"self_metrics", AM_OPT_BOOL,
     "also push the agent's own series (accelmon_*, process_*; default false)"},
    {"headers", AM_OPT_STRLIST,
     "extra HTTP headers as \"Name: value\" (X-Scope-OrgID for a Mimir tenant, "
     "THANOS-TENANT)"},
    {NULL, 0, NULL, 0, 0},
};

/* ---- self metrics, per URL, process-wide (they survive reloads) ---- */

enum drop_reason {
	DROP_TOO_OLD,
	DROP_SPOOL_FULL,
	DROP_SPOOL_ERROR,
	DROP_LABELS,
	DROP_400,
	DROP_401,
	DROP_403,
	DROP_404,
	DROP_409,
	DROP_413,
	DROP_OTHER_STATUS,
	DROP_N
};
static const char *const drop_names[DROP_N] = {
    "too_old",	"spool_full", "spool_error", "labels",	 "http_400",   "http_401",
    "http_403", "http_404",   "http_409",    "http_413", "http_other",
};

/* Why samples failed (each attempt; they are retried). */
enum fail_reason { FAIL_5XX, FAIL_429, FAIL_NO_ANSWER, FAIL_NO_CREDENTIAL, FAIL_N };
static const char *const fail_names[FAIL_N] = {"http_5xx", "http_429", "no_answer",
					       "credential_unreadable"};

/* Request duration buckets (seconds): Prometheus' default ones. */
#define NBUCKETS 12
static const double bucket_le[NBUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
					   0.5,	  1,	2.5,   5,    10,  INFINITY};

struct rw_stats {
	char *url;
	_Atomic uint64_t sent, retries, last_success_s;
	_Atomic uint64_t spool_bytes, spool_segments;
	_Atomic uint64_t failed[FAIL_N];
	_Atomic uint64_t dropped[DROP_N];
	_Atomic uint64_t dur_count[NBUCKETS], dur_sum_us; /* not cumulative */
	/* The series of the last push of a stopped endpoint (stats_lock),
	 * taken over by the next one for this URL so that series a reload
	 * removed still get their stale marker; ext: its external labels. */
	uint8_t *last_set;
	size_t last_len;
	char *last_ext;
	/* Its label caches of those series, strings copied (lcache_own):
	 * the registry may free a series once the stopped endpoint is no
	 * final-value consumer, before the next one registers. */
	struct lcache *last_lc;
	size_t last_lccap;
	struct rw_stats *next;
};

static pthread_mutex_t stats_lock = PTHREAD_MUTEX_INITIALIZER;
static struct rw_stats *stats_list;

/* {url="URL"EXTRA}, sized to the URL: a cut label value would break the
 * whole page. */
static char *url_labels(const char *url, const char *extra)
{
	size_t len = strlen(url) + strlen(extra) + 16;
	char *labels = malloc(len);

	if (labels)
		snprintf(labels, len, "{url=\"%s\"%s}", url, extra);
	return labels;
}

static void reg(const char *name, const char *help, int counter, const char *url,
		const char *extra, const _Atomic uint64_t *v)
{
	char *labels = url_labels(url, extra);

	if (labels)
		agg_stat_register(name, help, counter, labels, v);
	free(labels);
}

/* A counter per reason: name{url,reason="..."}. */
static void reg_reasons(const char *name, const char *help, const char *url,
			const char *const *reasons, int n, const _Atomic uint64_t *v)
{
	for (int i = 0; i < n; i++) {
		char extra[64];
		snprintf(extra, sizeof(extra), ",reason=\"%s\"", reasons[i]);
		reg(name, help, 1, url, extra, &v[i]);
	}
}

/* The stats block of url, registered on first use. */
static struct rw_stats *stats_get(const char *url)
{
	struct rw_stats *s;
	char *esc;

	pthread_mutex_lock(&stats_lock);
	for (s = stats_list; s; s = s->next)
		if (!strcmp(s->url, url))
			goto out;
	s = calloc(1, sizeof(*s));
	esc = expo_escape_label_value(url);
	if (!s || !esc || !(s->url = strdup(url))) {
		free(s);
		free(esc);
		s = NULL;
		goto out;
	}
	s->next = stats_list;
	stats_list = s;
	reg("accelmon_remote_write_samples_sent_total",
	    "Samples a remote write receiver accepted (2xx).", 1, esc, "", &s->sent);
	reg_reasons("accelmon_remote_write_samples_failed_total",
		    "Samples of requests that failed and are kept for a retry (each "
		    "attempt): http_5xx, http_429, no_answer (refused, reset, timeout, "
		    "TLS), credential_unreadable (the secret file).",
		    esc, fail_names, FAIL_N, s->failed);
	reg_reasons("accelmon_remote_write_samples_dropped_total",
		    "Samples never delivered: too old, spool full or unwritable, "
		    "invalid labels, or refused by the receiver with a non-retryable "
		    "status (http_NNN).",
		    esc, drop_names, DROP_N, s->dropped);
	reg("accelmon_remote_write_retries_total",
	    "Requests retried after a 5xx, 429 or no answer.", 1, esc, "", &s->retries);
	char *labels = url_labels(esc, "");
	if (labels)
		agg_stat_register_histogram(
		    "accelmon_remote_write_request_duration_seconds",
		    "Duration of remote write requests (answered or not), in seconds.",
		    labels, NBUCKETS, bucket_le, s->dur_count, &s->dur_sum_us, 1e-6);
	free(labels);
	reg("accelmon_remote_write_spool_bytes", "Bytes of requests queued for retry.", 0,
	    esc, "", &s->spool_bytes);
	reg("accelmon_remote_write_spool_segments", "Spool segment files on disk.", 0,
	    esc, "", &s->spool_segments);
	reg("accelmon_remote_write_last_success_timestamp_seconds",
	    "Wall-clock time of the last request a receiver accepted.", 0, esc, "",
	    &s->last_success_s);
	free(esc);
out:
	pthread_mutex_unlock(&stats_lock);
	return s;
}

static void stat_add(_Atomic uint64_t *v, uint64_t n)
{
	atomic_fetch_add_explicit(v, n, memory_order_relaxed);
}

/* ---- one endpoint ---- */

/* One endpoint's settings, owned: the threads outlive the config. */
struct rw_opts {
	char *url;
	double interval_s, timeout_s, max_age_s, min_backoff_s, max_backoff_s;
	unsigned max_samples;
	int retry_429, insecure, self_metrics;
	uint64_t spool_max;
	char *spool_dir, *ca_file, *cert_file, *key_file, *user, *password_file,
	    *token_file;
	struct rw_label ext[RW_MAX_LABELS]; /* name malloc'd, value within it */
	unsigned next;
	char *headers[RW_MAX_HEADERS]; /* "Name: value" */
	unsigned nheaders;
};

/* The agent's own series of one push (self_metrics): the snapshot's self
 * block copied twice, one copy parsed in place (labels point into it), the
 * other cut into each line's `name{labels}` as rendered: the key by which
 * the next push finds the series it no longer has (stale markers). */
struct selfitem {
	const char *key;
	Prometheus__Label **ptr;
	unsigned n;
	double v;
};

struct selfset {
	char *keys, *buf;
	Prometheus__Label *lab;
	Prometheus__Label **ptr;
	struct selfitem *it;
	size_t n;
};

/* A series' label set, built once and kept while the series is pushed.
 * The strings point into the registry, which frees a released series'
 * entry only once every final-value consumer has seen its end: the
 * endpoint is one (final_slot), and tells so only after a push has sent
 * the series' stale marker. Without a slot (all taken) the strings are
 * copied into buf, as they are when a stopped endpoint hands its last
 * push's caches to its replacement (ep_save_set). */
struct lcache {
	Prometheus__Label *lab;
	Prometheus__Label **ptr;
	char *buf; /* the copied strings, when the endpoint has no slot */
	unsigned n;
	int state; /* 0 not built, 1 ok, -1 cannot be sent (counted every push) */
};

struct rw_ep {
	char *url;
	char *shown; /* url without user:password@, for logs and labels */
	char *spool_path;
	struct rw_opts o;
	struct rw_stats *st;
	CURL *curl;
	char errbuf[CURL_ERROR_SIZE];
	double retry_after_s;
	char body_head[256];
	size_t body_len;
	struct rw_spool *q;
	struct rw_encoder enc;
	struct lcache *lc;
	size_t lccap;
	int final_slot; /* snapshot_final_consumer_add(), or < 0 */
	uint8_t *prev, *cur;  /* series bitmaps of the last two pushes */
	struct selfset sprev; /* the agent's own series of the last push */
	size_t bmcap;
	uint32_t *ids;
	double *vals;
	size_t idcap;
	int64_t last_ts, last_mono;
	int clock_back; /* pushes paused until the wall clock passes last_ts */
	/* The sender's side: */
	unsigned attempt;
	int64_t retry_at_ns;
	uint8_t *sbuf; /* copy of the request in flight */
	size_t scap;
	/* Requests the push thread made that the sender has not finished,
	 * oldest first (lk). The inbox holds them only while the queue q is
	 * empty and only until the next push: what a slow or failing
	 * receiver has not taken by then moves to q (the spool), in order,
	 * so q is always older than the inbox and the push thread never waits
	 * for a request. */
	struct rw_spool *in;   /* a memory queue */
	pthread_mutex_t loglk; /* rl is shared by both threads */
	struct log_ratelimit rl;
	pthread_t th, sth;  /* push thread (encodes), sender (HTTP) */
	pthread_mutex_t lk; /* q, the inbox, stop */
	pthread_cond_t cv, scv;
	_Atomic int stop;
	int started, sstarted, tstarted;
};

static void eplog(struct rw_ep *e, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void eplog(struct rw_ep *e, int level, const char *fmt, ...)
{
	char m[700];
	va_list ap;

	/* The URL is data (it may hold '%'), never part of a format. */
	va_start(ap, fmt);
	vsnprintf(m, sizeof(m), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&e->loglk);
	log_limitedf(&e->rl, level, RW, "%s: %s", e->shown, m);
	pthread_mutex_unlock(&e->loglk);
}

static void lcache_free(struct lcache *c)
{
	free(c->lab);
	free(c->ptr);
	free(c->buf);
	*c = (struct lcache){0};
}

/* Make c's strings its own (copied into buf): 0, or -ENOMEM (c freed). */
static int lcache_own(struct lcache *c)
{
	size_t blen = 0;
	char *p;

	if (c->state != 1 || c->buf)
		return 0;
	for (unsigned i = 0; i < c->n; i++)
		blen += strlen(c->lab[i].name) + strlen(c->lab[i].value) + 2;
	if (!(p = c->buf = malloc(blen))) {
		lcache_free(c);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < c->n; i++) {
		size_t ln = strlen(c->lab[i].name) + 1, lv = strlen(c->lab[i].value) + 1;
		c->lab[i].name = memcpy(p, c->lab[i].name, ln);
		c->lab[i].value = memcpy(p + ln, c->lab[i].value, lv);
		p += ln + lv;
	}
	return 0;
}

static int lcache_build(struct rw_ep *e, uint32_t id, struct lcache *c)
{
	const struct series *se = series_get(id);
	struct rw_label tmp[RW_MAX_LABELS];
	int n;

	if (!se || !se->fam) {
		c->state = -1;
		return -EINVAL;
	}
	unsigned nl = se->view ? se->view->nlabels : se->fam->nlabels;
	char *const *names = se->view ? se->view->labels : se->fam->labels;
	n = rw_labels_build(se->fam->name, nl, (const char *const *)names,
			    (const char *const *)se->values, e->o.ext, e->o.next, tmp,
			    RW_MAX_LABELS);
	if (n < 0) {
		eplog(e, LOGL_WARN, "series %s%s not sent: %s", se->fam->name,
		      se->label_text, n == -E2BIG ? "more than 30 labels" : "bad labels");
		c->state = -1;
		return n;
	}
	size_t blen = 0;
	if (e->final_slot < 0)
		for (int i = 0; i < n; i++)
			blen += strlen(tmp[i].name) + strlen(tmp[i].value) + 2;
	c->lab = calloc((size_t)n, sizeof(*c->lab));
	c->ptr = calloc((size_t)n, sizeof(*c->ptr));
	c->buf = blen ? malloc(blen) : NULL;
	if (!c->lab || !c->ptr || (blen && !c->buf)) {
		lcache_free(c);
		return -ENOMEM; /* try again next time */
	}
	char *p = c->buf;
	for (int i = 0; i < n; i++) {
		prometheus__label__init(&c->lab[i]);
		/* The strings live in the registry (kept for us: final_slot)
		 * or in e->o.ext, else in buf. */
		c->lab[i].name = (char *)tmp[i].name;
		c->lab[i].value = (char *)tmp[i].value;
		if (p) {
			size_t ln = strlen(tmp[i].name) + 1, lv = strlen(tmp[i].value) + 1;
			c->lab[i].name = memcpy(p, tmp[i].name, ln);
			c->lab[i].value = memcpy(p + ln, tmp[i].value, lv);
			p += ln + lv;
		}
		c->ptr[i] = &c->lab[i];
	}
	c->n = (unsigned)n;
	c->state = 1;
	return 0;
}

static int grow_arrays(struct rw_ep *e, size_t nseries, size_t nitems)
{
	if (nseries > e->lccap) {
		size_t cap = nseries * 2;
		struct lcache *lc = realloc(e->lc, cap * sizeof(*lc));
		if (!lc)
			return -ENOMEM;
		memset(lc + e->lccap, 0, (cap - e->lccap) * sizeof(*lc));
		e->lc = lc;
		e->lccap = cap;
	}
	if ((nseries + 7) / 8 > e->bmcap) {
		size_t cap = (nseries * 2 + 7) / 8;
		uint8_t *p = realloc(e->prev, cap), *c = realloc(e->cur, cap);
		if (p)
			e->prev = p;
		if (c)
			e->cur = c;
		if (!p || !c)
			return -ENOMEM;
		memset(e->prev + e->bmcap, 0, cap - e->bmcap);
		memset(e->cur + e->bmcap, 0, cap - e->bmcap);
		e->bmcap = cap;
	}
	if (nitems > e->idcap) {
		size_t cap = nitems * 2;
		uint32_t *ids = realloc(e->ids, cap * sizeof(*ids));
		if (ids)
			e->ids = ids;
		double *v = realloc(e->vals, cap * sizeof(*v));
		if (v)
			e->vals = v;
		if (!ids || !v)
			return -ENOMEM;
		e->idcap = cap;
	}
	return 0;
}

static int bit(const uint8_t *bm, uint32_t i)
{
	return bm[i / 8] >> (i % 8) & 1;
}

/* ---- HTTP ---- */

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
	struct rw_ep *e = arg;
	size_t len = sz * n;
	size_t room = sizeof(e->body_head) - 1 - e->body_len;
	size_t k = len < room ? len : room;

	memcpy(e->body_head + e->body_len, p, k);
	e->body_len += k;
	e->body_head[e->body_len] = '\0';
	return len;
}

static size_t on_header(char *p, size_t sz, size_t n, void *arg)
{
	struct rw_ep *e = arg;
	size_t len = sz * n;
	char v[128];

	if (len > 12 && len < sizeof(v) + 12 && !strncasecmp(p, "Retry-After:", 12)) {
		double s;
		memcpy(v, p + 12, len - 12);
		v[len - 12] = '\0';
		v[strcspn(v, "\r\n")] = '\0';
		if (rw_parse_retry_after(v, time(NULL), &s) == 0)
			e->retry_after_s = s;
	}
	return len;
}

static int on_progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	struct rw_ep *e = arg;
	(void)a, (void)b, (void)c, (void)d;
	/* A stopping agent does not wait out a slow receiver. */
	return atomic_load(&e->stop) ? 1 : 0;
}

/* First line of a file (a password or token), trailing newline cut. */
static int read_secret(const char *path, char *out, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return -errno;
	n = fread(out, 1, len - 1, f);
	fclose(f);
	out[n] = '\0';
	out[strcspn(out, "\r\n")] = '\0';
	return 0;
}

static int ep_curl_init(struct rw_ep *e)
{
	CURL *c = curl_easy_init();

	if (!c)
		return -ENOMEM;
	e->curl = c;
	curl_easy_setopt(c, CURLOPT_URL, e->url);
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "accelmon/" PACKAGE_VERSION);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(e->o.timeout_s * 1000));
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)(e->o.timeout_s * 1000));
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, e->errbuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, e);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, e);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, e);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	if (e->o.ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, e->o.ca_file);
	if (e->o.cert_file)
		curl_easy_setopt(c, CURLOPT_SSLCERT, e->o.cert_file);
	if (e->o.key_file)
		curl_easy_setopt(c, CURLOPT_SSLKEY, e->o.key_file);
	if (e->o.insecure) {
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (e->o.user)
		curl_easy_setopt(c, CURLOPT_USERNAME, e->o.user);
	return 0;
}

static enum drop_reason status_reason(long status)
{
	switch (status) {
	case 400:
		return DROP_400;
	case 401:
		return DROP_401;
	case 403:
		return DROP_403;
	case 404:
		return DROP_404;
	case 409:
		return DROP_409;
	case 413:
		return DROP_413;
	default:
		return DROP_OTHER_STATUS;
	}
}

/* POST one request body; counts and logs the outcome. Secrets are read
 * again for every request, so a rotated token is picked up. */
static enum rw_action ep_send(struct rw_ep *e, const uint8_t *body, size_t len,
			      uint32_t nsamples)
{
	struct curl_slist *h = NULL;
	char secret[4096], auth[4200];
	long status = 0;
	CURLcode cc;
	int64_t t0 = clock_monotonic_ns();
	double dt;
	enum rw_action act;

	h = curl_slist_append(h, "Content-Encoding: snappy");
	h = curl_slist_append(h, "Content-Type: application/x-protobuf");
	h = curl_slist_append(h, "X-Prometheus-Remote-Write-Version: 0.1.0");
	h = curl_slist_append(h, "Expect:");
	for (unsigned i = 0; i < e->o.nheaders; i++)
		h = curl_slist_append(h, e->o.headers[i]);
	/* Never without the credential: a receiver would answer 401, which is
	 * not retried, and the samples would be lost while a rotation put the
	 * file back a moment later. The request waits for a retry instead. */
	const char *sfile = e->o.token_file ? e->o.token_file : e->o.password_file;
	if (sfile && read_secret(sfile, secret, sizeof(secret)) < 0) {
		eplog(e, LOGL_ERROR, "cannot read %s %s: %s; %u samples kept for a retry",
		      e->o.token_file ? "bearer_token_file" : "basic_auth_password_file",
		      sfile, strerror(errno), nsamples);
		curl_slist_free_all(h);
		stat_add(&e->st->failed[FAIL_NO_CREDENTIAL], nsamples);
		return RW_RETRY;
	}
	if (e->o.token_file) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", secret);
		h = curl_slist_append(h, auth);
	} else if (e->o.password_file)
		curl_easy_setopt(e->curl, CURLOPT_PASSWORD, secret);
	curl_easy_setopt(e->curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(e->curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(e->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	e->retry_after_s = 0;
	e->body_len = 0;
	e->body_head[0] = '\0';
	e->errbuf[0] = '\0';
	cc = curl_easy_perform(e->curl);
	if (cc == CURLE_OK)
		curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_setopt(e->curl, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(h);
	memset(secret, 0, sizeof(secret));
	memset(auth, 0, sizeof(auth));

	dt = (double)(clock_monotonic_ns() - t0) / 1e9;
	for (int i = 0; i < NBUCKETS; i++)
		if (dt <= bucket_le[i]) {
			stat_add(&e->st->dur_count[i], 1);
			break;
		}
	stat_add(&e->st->dur_sum_us, (uint64_t)(dt * 1e6));
	act = rw_classify(status, e->o.retry_429);
	switch (act) {
	case RW_DONE:
		stat_add(&e->st->sent, nsamples);
		atomic_store_explicit(&e->st->last_success_s,
				      (uint64_t)clock_wall_ms() / 1000,
				      memory_order_relaxed);
		if (e->attempt)
			eplog(e, LOGL_INFO, "receiver answers again (%ld)", status);
		e->attempt = 0;
		break;
	case RW_DROP:
		stat_add(&e->st->dropped[status_reason(status)], nsamples);
		eplog(e, LOGL_WARN,
		      "HTTP %ld: %u samples dropped (not retryable): %.200s", status,
		      nsamples, e->body_head);
		break;
	case RW_RETRY:
		stat_add(&e->st->failed[status == 429	? FAIL_429
					: status >= 500 ? FAIL_5XX
							: FAIL_NO_ANSWER],
			 nsamples);
		if (status)
			eplog(e, LOGL_WARN, "HTTP %ld, will retry: %.200s", status,
			      e->body_head);
		else
			eplog(e, LOGL_WARN, "no answer (%s), will retry",
			      e->errbuf[0] ? e->errbuf : curl_easy_strerror(cc));
		break;
	}
	return act;
}

static double rnd01(void)
{
	uint32_t r;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
		r = (uint32_t)clock_monotonic_ns();
	return r / 4294967296.0;
}

static void ep_backoff(struct rw_ep *e)
{
	double d = rw_backoff_s(e->attempt, e->o.min_backoff_s, e->o.max_backoff_s,
				e->retry_after_s, 300, rnd01());

	e->attempt++;
	stat_add(&e->st->retries, 1);
	e->retry_at_ns = clock_monotonic_ns() + (int64_t)(d * 1e9);
}

static void ep_spool_stats(struct rw_ep *e)
{
	struct rw_spool_stats s;

	rw_spool_stats(e->q, &s);
	atomic_store_explicit(&e->st->spool_bytes, s.bytes, memory_order_relaxed);
	atomic_store_explicit(&e->st->spool_segments, s.segments, memory_order_relaxed);
}

/* Queue a request (spool full and write errors are counted). */
static void ep_queue(struct rw_ep *e, const struct rw_pos *pos, uint32_t nsamples,
		     const uint8_t *body, size_t len)
{
	struct rw_spool_stats a, b;
	int rc;

	rw_spool_stats(e->q, &a);
	rc = rw_spool_push(e->q, pos, nsamples, body, len);
	rw_spool_stats(e->q, &b);
	if (rc < 0)
		eplog(e, LOGL_ERROR, "cannot queue %u samples: %s", nsamples,
		      strerror(-rc));
	uint64_t err = rc < 0 ? nsamples : 0;
	stat_add(&e->st->dropped[DROP_SPOOL_ERROR], err);
	stat_add(&e->st->dropped[DROP_SPOOL_FULL],
		 b.dropped_samples - a.dropped_samples - err);
	if (b.dropped_samples - a.dropped_samples > err)
		eplog(e, LOGL_WARN,
		      "queue full (spool_max_size): the oldest requests were "
		      "dropped");
	ep_spool_stats(e);
}

/* Move the inbox to the queue, in order (lk held): its requests were not
 * sent within an interval, or one failed and waits for a retry; the
 * spool keeps them from here on. */
static void ep_inbox_flush(struct rw_ep *e)
{
	struct rw_pos pos;
	uint32_t ns;
	const uint8_t *body;
	size_t len;

	while (rw_spool_peek(e->in, &pos, &ns, &body, &len) == 0) {
		ep_queue(e, &pos, ns, body, len);
		rw_spool_pop(e->in, 0);
	}
}

/* Hand a fresh request to the sender (the push thread; never waits for
 * the network): behind what is queued, else in the inbox. */
static void ep_enqueue(struct rw_ep *e, const struct rw_pos *pos, uint32_t ns,
		       const uint8_t *body, size_t len)
{
	pthread_mutex_lock(&e->lk);
	if (!rw_spool_empty(e->q) || rw_spool_push(e->in, pos, ns, body, len) < 0) {
		ep_inbox_flush(e); /* keeps the order when the add failed */
		ep_queue(e, pos, ns, body, len);
	}
	pthread_cond_signal(&e->scv);
	pthread_mutex_unlock(&e->lk);
}

/* Remove the oldest request (lk held): from the queue when it has one
 * (the inbox is then empty), else from the inbox. */
static void ep_pop(struct rw_ep *e, int from_q, int sent)
{
	if (from_q) {
		rw_spool_pop(e->q, sent);
		ep_spool_stats(e);
		return;
	}
	struct rw_pos pos;
	if (sent && rw_spool_head(e->in, &pos) == 0)
		rw_spool_mark_sent(e->q, &pos);
	rw_spool_pop(e->in, 0);
}

/* The oldest request, copied to e->sbuf (the push thread may move or drop
 * it while it is in flight): 1, or 0 when there is none to send now.
 * Requests already sent, unreadable or older than max_sample_age are
 * removed on the way and counted. lk held. */
static int ep_take(struct rw_ep *e, struct rw_pos *pos, uint32_t *ns, size_t *len)
{
	for (;;) {
		struct rw_pos sent = rw_spool_sent(e->q);
		const uint8_t *body;
		int from_q = !rw_spool_empty(e->q);

		if (from_q) {
			int rc = rw_spool_peek(e->q, pos, ns, &body, len);
			if (rc == -ENOMEM)
				goto later;
			if (rc < 0) {
				eplog(e, LOGL_ERROR,
				      "a spooled request cannot be read back: %s",
				      strerror(-rc));
				stat_add(&e->st->dropped[DROP_SPOOL_ERROR], *ns);
				ep_pop(e, 1, 0);
				continue;
			}
		} else if (rw_spool_peek(e->in, pos, ns, &body, len) < 0) {
			return 0; /* empty (a memory queue has nothing to read) */
		}
		if (rw_pos_cmp(pos, &sent) <= 0) {
			ep_pop(e, from_q, 0);
			continue;
		}
		if ((double)(clock_wall_ms() - pos->ts_ms) > e->o.max_age_s * 1000) {
			stat_add(&e->st->dropped[DROP_TOO_OLD], *ns);
			eplog(e, LOGL_WARN,
			      "dropping queued samples older than max_sample_age");
			ep_pop(e, from_q, 1);
			continue;
		}
		if (*len > e->scap) {
			uint8_t *b = realloc(e->sbuf, *len);
			if (!b)
				goto later;
			e->sbuf = b;
			e->scap = *len;
		}
		memcpy(e->sbuf, body, *len);
		return 1;
	}
later:
	e->retry_at_ns = clock_monotonic_ns() + NS_PER_S; /* out of memory */
	return 0;
}

/* After the answer to the request at pos (lk held). A request to retry
 * stays first, and the inbox goes to the spool while it waits. Else it is
 * removed, unless the push thread dropped it from a full queue meanwhile. */
static void ep_answered(struct rw_ep *e, const struct rw_pos *pos, enum rw_action act)
{
	int from_q = !rw_spool_empty(e->q);
	struct rw_pos head;

	if (act == RW_RETRY) {
		ep_backoff(e);
		ep_inbox_flush(e);
		return;
	}
	if (rw_spool_head(from_q ? e->q : e->in, &head) == 0 && !rw_pos_cmp(&head, pos)) {
		ep_pop(e, from_q, 1);
		return;
	}
	rw_spool_mark_sent(e->q, pos);
}

/* The sender: oldest request first, one at a time (remote write 1.0 wants
 * the samples of a series in order), backing off after a failure. */
static void *ep_sender(void *arg)
{
	struct rw_ep *e = arg;

	pthread_mutex_lock(&e->lk);
	while (!atomic_load(&e->stop)) {
		struct rw_pos pos;
		uint32_t ns;
		size_t len;
		int queued = !rw_spool_empty(e->q) || !rw_spool_empty(e->in);

		if (queued && clock_monotonic_ns() < e->retry_at_ns) {
			struct timespec t = {e->retry_at_ns / NS_PER_S,
					     e->retry_at_ns % NS_PER_S};
			pthread_cond_timedwait(&e->scv, &e->lk, &t);
			continue;
		}
		if (!queued || !ep_take(e, &pos, &ns, &len)) {
			if (clock_monotonic_ns() >= e->retry_at_ns)
				pthread_cond_wait(&e->scv, &e->lk);
			continue;
		}
		pthread_mutex_unlock(&e->lk);
		enum rw_action act = ep_send(e, e->sbuf, len, ns);
		pthread_mutex_lock(&e->lk);
		ep_answered(e, &pos, act);
	}
	pthread_mutex_unlock(&e->lk);
	return NULL;
}

static void selfset_free(struct selfset *ss)
{
	free(ss->keys);
	free(ss->buf);
	free(ss->lab);
	free(ss->ptr);
	free(ss->it);
	memset(ss, 0, sizeof(*ss));
}

/* Parse the self block (text, len) of a snapshot into ss. */
static int selfset_build(struct rw_ep *e, const char *text, size_t len,
			 struct selfset *ss)
{
	size_t lines = 1;

	memset(ss, 0, sizeof(*ss));
	for (size_t i = 0; i < len; i++)
		lines += text[i] == '\n';
	ss->keys = malloc(len + 1);
	ss->buf = malloc(len + 1);
	ss->it = calloc(lines, sizeof(*ss->it));
	ss->lab = calloc(lines * RW_MAX_LABELS, sizeof(*ss->lab));
	ss->ptr = calloc(lines * RW_MAX_LABELS, sizeof(*ss->ptr));
	if (!ss->keys || !ss->buf || !ss->it || !ss->lab || !ss->ptr) {
		selfset_free(ss);
		return -ENOMEM;
	}
	memcpy(ss->keys, text, len);
	memcpy(ss->buf, text, len);
	ss->keys[len] = ss->buf[len] = '\0';
	for (size_t off = 0; off < len;) {
		char *line = ss->buf + off, *key = ss->keys + off,
		     *eol = strchr(line, '\n');
		const char *metric, *names[RW_MAX_LABELS], *values[RW_MAX_LABELS];
		struct rw_label tmp[RW_MAX_LABELS];
		unsigned nlab = 0;
		double v;
		int k;

		if (eol) {
			*eol = '\0';
			key[eol - line] = '\0';
		}
		off += strlen(line) + 1;
		if (line[0] == '#' || !line[0])
			continue;
		if (rw_parse_sample_line(line, &metric, names, values, RW_MAX_LABELS,
					 &nlab, &v) < 0 ||
		    (k = rw_labels_build(metric, nlab, names, values, e->o.ext, e->o.next,
					 tmp, RW_MAX_LABELS)) < 0) {
			stat_add(&e->st->dropped[DROP_LABELS], 1);
			continue;
		}
		*strrchr(key, ' ') = '\0'; /* parsed: there is a blank */
		struct selfitem *it = &ss->it[ss->n];
		Prometheus__Label *lab = ss->lab + ss->n * RW_MAX_LABELS;
		it->ptr = ss->ptr + ss->n * RW_MAX_LABELS;
		for (int j = 0; j < k; j++) {
			prometheus__label__init(&lab[j]);
			lab[j].name = (char *)tmp[j].name;
			lab[j].value = (char *)tmp[j].value;
			it->ptr[j] = &lab[j];
		}
		it->key = key;
		it->n = (unsigned)k;
		it->v = v;
		ss->n++;
	}
	return 0;
}

/* One push: the current snapshot's values (and stale markers for series
 * that were in the last push and are gone), in requests of at most
 * max_samples_per_request. Like a scrape, a push samples the current state
 * at its own time: when the collectors poll as often as the exporter
 * pushes, the same snapshot may be current for two pushes, and each push
 * interval must still have its sample. */
static void ep_tick(struct rw_ep *e)
{
	struct snapshot *s = snapshot_acquire();
	struct selfset self = {0};
	uint32_t nser = series_count();
	size_t n = 0, nstale = 0;
	int64_t ts, mono = clock_monotonic_ns();

	if (!s)
		return;
	/* What the sender has not finished since the last push goes to the
	 * spool: the receiver is slower than the interval (or failing). */
	pthread_mutex_lock(&e->lk);
	if (!rw_spool_empty(e->in)) {
		eplog(e, LOGL_DEBUG, "requests not sent within the interval: queued");
		ep_inbox_flush(e);
	}
	pthread_mutex_unlock(&e->lk);
	ts = clock_wall_ms();
	if (e->last_ts && ts <= e->last_ts) {
		if (!e->clock_back)
			eplog(e, LOGL_WARN,
			      "wall clock went back (%" PRId64
			      " ms): pushes wait until it passes the "
			      "last sent time, so no sample is sent twice",
			      e->last_ts - ts);
		e->clock_back = 1;
		snapshot_release(s);
		return;
	}
	if (e->clock_back) {
		eplog(e, LOGL_INFO,
		      "wall clock passed the last sent time: pushing again");
		e->clock_back = 0;
		e->last_mono = 0; /* the pause is no forward jump */
	}
	if (e->last_mono) {
		double dw = (double)(ts - e->last_ts) / 1000,
		       dm = (double)(mono - e->last_mono) / 1e9;
		if (fabs(dw - dm) > 5 + e->o.interval_s)
			eplog(e, LOGL_WARN, "wall clock jumped %+.1f s", dw - dm);
	}
	if (grow_arrays(e, nser, s->nvalues + nser) < 0) {
		snapshot_release(s);
		return;
	}
	memset(e->cur, 0, (nser + 7) / 8);
	for (size_t i = 0; i < s->nvalues; i++) {
		uint32_t id = s->values[i].series;
		if (id >= nser || bit(e->cur, id))
			continue;
		struct lcache *c = &e->lc[id];
		if (c->state == 0)
			lcache_build(e, id, c); /* logs why a series cannot go */
		if (c->state < 0)
			stat_add(&e->st->dropped[DROP_LABELS], 1);
		if (c->state != 1)
			continue;
		e->cur[id / 8] |= (uint8_t)(1u << (id % 8));
		e->ids[n] = id;
		e->vals[n++] = s->values[i].value;
	}
	if (e->o.self_metrics && s->text_self < s->text_len &&
	    selfset_build(e, s->text + s->text_self, s->text_len - s->text_self, &self) <
		0)
		eplog(e, LOGL_WARN, "out of memory: the agent's own series not pushed");
	/* Series of the last push that are gone get a stale marker (their
	 * labels may not be built yet when the set came from the endpoint
	 * this one replaced). */
	for (uint32_t id = 0; id < nser; id++)
		if (bit(e->prev, id) && !bit(e->cur, id)) {
			if (e->lc[id].state == 0)
				lcache_build(e, id, &e->lc[id]);
			if (e->lc[id].state != 1)
				continue;
			e->ids[n] = id;
			e->vals[n++] = rw_stale_nan();
			nstale++;
		}
	memcpy(e->prev, e->cur, (nser + 7) / 8);
	/* The agent's own series of the last push that are gone (a collector
	 * a reload removed): stale markers, after this push's own. */
	size_t nself = self.n, ngone = 0;
	size_t *gone = e->sprev.n ? calloc(e->sprev.n, sizeof(*gone)) : NULL;
	for (size_t i = 0; gone && i < e->sprev.n; i++) {
		size_t j;
		for (j = 0; j < self.n && strcmp(self.it[j].key, e->sprev.it[i].key); j++)
			;
		if (j == self.n)
			gone[ngone++] = i;
	}
	e->last_ts = ts;
	e->last_mono = mono;
	size_t total = n + nself + ngone;
	for (size_t off = 0, chunk = 0; off < total; off += e->o.max_samples, chunk++) {
		size_t k =
		    total - off < e->o.max_samples ? total - off : e->o.max_samples;
		const uint8_t *body;
		size_t len;

		if (rw_enc_begin(&e->enc, k) < 0)
			break;
		for (size_t i = off; i < off + k; i++) {
			if (i < n) {
				const struct lcache *c = &e->lc[e->ids[i]];
				rw_enc_add(&e->enc, c->ptr, c->n, e->vals[i], ts);
			} else if (i < n + nself) {
				const struct selfitem *it = &self.it[i - n];
				rw_enc_add(&e->enc, it->ptr, it->n, it->v, ts);
			} else {
				const struct selfitem *it =
				    &e->sprev.it[gone[i - n - nself]];
				rw_enc_add(&e->enc, it->ptr, it->n, rw_stale_nan(), ts);
			}
		}
		if (rw_enc_finish(&e->enc, &body, &len) < 0)
			break;
		ep_enqueue(e, &(struct rw_pos){ts, (uint32_t)chunk}, (uint32_t)k, body,
			   len);
	}
	free(gone);
	selfset_free(&e->sprev);
	e->sprev = self;
	/* A series that got its stale marker is in no push until it comes
	 * back: its labels go (built again then), and the registry may free a
	 * released one now that this endpoint has seen it end. */
	for (size_t i = n - nstale; i < n; i++)
		lcache_free(&e->lc[e->ids[i]]);
	snapshot_final_seen(e->final_slot, s->generation);
	snapshot_release(s);
	if (nstale + ngone)
		eplog(e, LOGL_DEBUG, "%zu series gone: stale markers sent",
		      nstale + ngone);
}

/* The push thread: one push per interval; sending is the sender's, so a
 * slow receiver never delays or skips a push. */
static void *ep_thread(void *arg)
{
	struct rw_ep *e = arg;
	int64_t iv = (int64_t)(e->o.interval_s * 1e9);
	int64_t next = clock_monotonic_ns() + iv;

	pthread_mutex_lock(&e->lk);
	while (!atomic_load(&e->stop)) {
		struct timespec t = {next / NS_PER_S, next % NS_PER_S};
		int64_t now;

		/* Until the monotonic clock says so: a timed wait may end early
		 * (libfaketime's does, when the wall clock is moved). */
		while (!atomic_load(&e->stop) && clock_monotonic_ns() < next)
			pthread_cond_timedwait(&e->cv, &e->lk, &t);
		if (atomic_load(&e->stop))
			break;
		pthread_mutex_unlock(&e->lk);
		ep_tick(e);
		now = clock_monotonic_ns();
		next += iv;
		if (next <= now) {
			/* Only encoding (or a spool write) runs here. */
			eplog(e, LOGL_WARN,
			      "%" PRId64 " pushes skipped: making a push took longer "
			      "than the interval",
			      (now - next) / iv + 1);
			next = now + iv;
		}
		pthread_mutex_lock(&e->lk);
	}
	pthread_mutex_unlock(&e->lk);
	return NULL;
}

/* The external labels as one string: a handed-over series set is only
 * valid for the same ones (else the stale markers name other series). */
static char *ext_sig(const struct rw_opts *o)
{
	size_t len = 1;
	char *sig;

	for (unsigned i = 0; i < o->next; i++)
		len += strlen(o->ext[i].name) + strlen(o->ext[i].value) + 2;
	if (!(sig = malloc(len)))
		return NULL;
	sig[0] = '\0';
	for (unsigned i = 0; i < o->next; i++)
		sprintf(sig + strlen(sig), "%s=%s\n", o->ext[i].name, o->ext[i].value);
	return sig;
}

/* Hand the last push's series set to the next endpoint of this URL. */
static void ep_save_set(struct rw_ep *e)
{
	char *sig;

	if (!e->st || !e->prev || !(sig = ext_sig(&e->o)))
		return;
	/* The set's label caches go with it, owning their strings (neither
	 * the registry's nor this endpoint's external labels outlive it for
	 * sure); the others are freed. */
	for (size_t i = 0; i < e->lccap; i++)
		if (i < e->bmcap * 8 && bit(e->prev, (uint32_t)i))
			lcache_own(&e->lc[i]); /* out of memory: built again */
		else
			lcache_free(&e->lc[i]);
	pthread_mutex_lock(&stats_lock);
	free(e->st->last_set);
	free(e->st->last_ext);
	for (size_t i = 0; i < e->st->last_lccap; i++)
		lcache_free(&e->st->last_lc[i]);
	free(e->st->last_lc);
	e->st->last_set = e->prev;
	e->st->last_len = e->bmcap;
	e->st->last_ext = sig;
	e->st->last_lc = e->lc;
	e->st->last_lccap = e->lccap;
	e->prev = NULL;
	e->lc = NULL;
	e->lccap = 0;
	pthread_mutex_unlock(&stats_lock);
}

/* Take the set a stopped endpoint of this URL left, if its external
 * labels were these. */
static int ep_take_set(struct rw_ep *e)
{
	char *sig = ext_sig(&e->o);
	int rc = 0;

	if (!sig)
		return -ENOMEM;
	pthread_mutex_lock(&stats_lock);
	if (e->st->last_set && !strcmp(sig, e->st->last_ext) &&
	    (e->cur = calloc(e->st->last_len, 1))) {
		e->prev = e->st->last_set;
		e->bmcap = e->st->last_len;
		e->st->last_set = NULL;
		e->lc = e->st->last_lc;
		e->lccap = e->st->last_lccap;
		e->st->last_lc = NULL;
		e->st->last_lccap = 0;
		rc = 1;
	}
	pthread_mutex_unlock(&stats_lock);
	free(sig);
	return rc;
}

static void opts_free(struct rw_opts *o);

static void ep_free(struct rw_ep *e)
{
	if (!e)
		return;
	if (e->started)
		ep_save_set(e);
	if (e->q) {
		struct rw_spool_stats s;
		if (e->in) /* the spool keeps what the sender had not done */
			ep_inbox_flush(e);
		rw_spool_stats(e->q, &s);
		if (s.records && !e->o.spool_dir)
			eplog(e, LOGL_WARN,
			      "%" PRIu64 " queued requests are lost (no spool_dir)",
			      s.records);
		rw_spool_close(e->q);
	}
	if (e->curl)
		curl_easy_cleanup(e->curl);
	rw_enc_free(&e->enc);
	for (size_t i = 0; i < e->lccap; i++)
		lcache_free(&e->lc[i]);
	free(e->lc);
	snapshot_final_consumer_remove(e->final_slot);
	selfset_free(&e->sprev);
	free(e->prev);
	free(e->cur);
	free(e->ids);
	free(e->vals);
	opts_free(&e->o); /* e->url is e->o.url */
	free(e->shown);
	free(e->spool_path);
	if (e->in)
		rw_spool_close(e->in);
	free(e->sbuf);
	pthread_mutex_destroy(&e->loglk);
	free(e);
}

/* ---- the exporter ---- */

struct rw_exp {
	struct rw_ep *ep[RW_MAX_ENDPOINTS];
	size_t n;
};

/* A URL may carry user:password@ (curl takes it): keep that out of logs,
 * the url label and the spool directory. */
static char *url_shown(const char *url)
{
	const char *host = strstr(url, "://"), *at, *slash;
	char *out;

	if (!host)
		return strdup(url);
	host += 3;
	at = strchr(host, '@');
	slash = strchr(host, '/');
	if (!at || (slash && slash < at))
		return strdup(url);
	if (!(out = malloc(strlen(url) + 1)))
		return NULL;
	memcpy(out, url, (size_t)(host - url));
	strcpy(out + (host - url), at + 1);
	return out;
}

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ull;
	return h;
}

/* Spools of versions that hashed the URL with its user:password: moved
 * to the name without them, once, so that nothing queued is orphaned. */
static void spool_migrate(const char *dir, const char *url, const char *path)
{
	char old[PATH_MAX];
	struct stat st;

	snprintf(old, sizeof(old), "%s/%016" PRIx64, dir, fnv1a(url));
	if (strcmp(old, path) && stat(old, &st) == 0 && stat(path, &st) < 0 &&
	    rename(old, path) == 0)
		log_msg(LOGL_INFO, RW,
			"spool %s moved to %s (named without "
			"credentials now)",
			old, path);
}

/* Where a check failed: the key ("url[1]") and the problem. */
struct rw_err {
	char *key, *why;
	size_t keylen, whylen;
};

static int bad(struct rw_err *er, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int bad(struct rw_err *er, const char *key, const char *fmt, ...)
{
	va_list ap;

	snprintf(er->key, er->keylen, "%s", key);
	va_start(ap, fmt);
	vsnprintf(er->why, er->whylen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static void rw_stop(void *state);

/* "Name: value" with a token name, not one the protocol sets. Values are
 * never quoted back: a header may carry a tenant secret. */
static int header_check(struct rw_err *er, const char *key, const char *h, int have_auth)
{
	static const char *const own[] = {
	    "Content-Encoding",
	    "Content-Type",
	    "Content-Length",
	    "User-Agent",
	    "X-Prometheus-Remote-Write-Version",
	    "Host",
	    "Expect",
	    "Transfer-Encoding",
	};
	size_t n = strcspn(h, ":");
	const char *v = h + n + 1;

	if (!h[n] || !n)
		return bad(er, key, "not \"Name: value\" (no ':' after a name)");
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)h[i]) && h[i] != '-' && h[i] != '_')
			return bad(er, key, "'%.*s' is not a header name",
				   (int)(n > 64 ? 64 : n), h);
	while (*v == ' ' || *v == '\t')
		v++;
	if (!*v || strpbrk(v, "\r\n"))
		return bad(er, key, "%.*s has no value, or a line break",
			   (int)(n > 64 ? 64 : n), h);
	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
		if (strlen(own[i]) == n && !strncasecmp(h, own[i], n))
			return bad(er, key, "%s is set by the exporter", own[i]);
	if (have_auth && n == 13 && !strncasecmp(h, "Authorization", n))
		return bad(er, key,
			   "Authorization is set by basic auth or bearer_token_file");
	return 0;
}

static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int check_file(struct rw_err *er, const char *key, const char *path)
{
	if (path && access(path, R_OK) < 0)
		return bad(er, key, "%s: %s", path, strerror(errno));
	return 0;
}

/* The spool directory: as the records directory is checked. */
static int check_spool_dir(struct rw_err *er, const char *dir)
{
	char why[PATH_MAX + 128];

	if (dir && rec_dir_problem(dir, why, sizeof(why)) < 0)
		return bad(er, "spool_dir", "%s", why);
	return 0;
}

/* Longest URL taken: the url label of the self metrics and the log lines
 * stay readable, and no buffer on the way cuts it. */
#define RW_URL_MAX 2048

/* ---- per-endpoint settings ----
 * An endpoint is a URL of the section's `url` (all of the section's
 * settings), or an item of `endpoints` (a map, or a list of maps) whose
 * keys override the section's. The same code reads both, for the check at
 * config load and for start, so that they cannot disagree. */

/* Longest key path of an error ("endpoints[15].external_labels.NAME"). */
#define RW_KEY_MAX 96

/* Keys an `endpoints` item may have. */
static const char *const ep_keys[] = {
    "url",
    "interval",
    "timeout",
    "external_labels",
    "max_samples_per_request",
    "max_sample_age",
    "min_backoff",
    "max_backoff",
    "retry_on_http_429",
    "spool_dir",
    "spool_max_size",
    "ca_file",
    "cert_file",
    "key_file",
    "insecure_skip_verify",
    "basic_auth",
    "bearer_token_file",
    "headers",
    "self_metrics",
    NULL,
};

/* Where one endpoint's settings come from. */
struct rw_src {
	const struct am_config *cfg;
	const struct am_node *ep; /* its `endpoints` map, or NULL */
	const char *url;	  /* from the section's url list, or NULL */
	char pfx[24];		  /* "endpoints[1].", "endpoints." or "" */
	char urlkey[32];	  /* key of the url for errors */
	struct rw_err *er;
};

static const char *kind_name(const struct am_node *n)
{
	return am_node_kind(n) == AM_NODE_LIST ? "list" : "map";
}

/* The endpoint's own value of key; NULL when the section's applies. */
static const struct am_node *own(const struct rw_src *s, const char *key)
{
	return am_node_get(s->ep, key);
}

static int src_bad(const struct rw_src *s, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int src_bad(const struct rw_src *s, const char *key, const char *fmt, ...)
{
	va_list ap;

	snprintf(s->er->key, s->er->keylen, "%s%s", s->pfx, key);
	va_start(ap, fmt);
	vsnprintf(s->er->why, s->er->whylen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* A scalar of the endpoint's map; an empty one (`key:` or null) means
 * "none" for this endpoint, not the section's. */
static int own_str(const struct rw_src *s, const char *key, const struct am_node *n,
		   const char **out)
{
	if (!(*out = am_node_str(n)))
		return src_bad(s, key, "expected a value, not a %s", kind_name(n));
	if (!**out)
		*out = NULL;
	return 0;
}

static int get_str(const struct rw_src *s, const char *key, const char **out)
{
	const struct am_node *n = own(s, key);

	if (!n) {
		*out = am_cfg_string(s->cfg, key, NULL);
		return 0;
	}
	return own_str(s, key, n, out);
}

static int get_bool(const struct rw_src *s, const char *key, bool def, int *out)
{
	const struct am_node *n = own(s, key);
	const char *v;
	bool b;

	if (!n) {
		*out = am_cfg_bool(s->cfg, key, def);
		return 0;
	}
	if (own_str(s, key, n, &v) < 0)
		return -EINVAL;
	if (!v || config_parse_bool(v, &b) < 0)
		return src_bad(s, key, "expected a boolean (true or false), got '%.40s'",
			       v ? v : "");
	*out = b;
	return 0;
}

/* A duration or an integer within [min, max] (the option table's range). */
static int get_num(const struct rw_src *s, const char *key, int is_int, double def,
		   double min, double max, double *out)
{
	const struct am_node *n = own(s, key);
	const char *v;
	uint64_t u;

	if (!n) {
		*out = is_int ? (double)am_cfg_int(s->cfg, key, (long)def)
			      : am_cfg_duration(s->cfg, key, def);
		return 0;
	}
	if (own_str(s, key, n, &v) < 0)
		return -EINVAL;
	if (!v)
		return src_bad(s, key, "expected %s",
			       is_int ? "an integer" : "a duration");
	if (is_int ? am_parse_u64(v, strlen(v), &u) < 0
		   : config_parse_duration(v, out) < 0)
		return src_bad(s, key, "'%.40s' is not %s", v,
			       is_int ? "an integer" : "a duration (e.g. 250ms, 1s, 2m)");
	if (is_int)
		*out = (double)u;
	if (*out < min || *out > max)
		return src_bad(s, key, "'%.40s' is out of range [%.10g, %.10g]%s", v, min,
			       max, is_int ? "" : " seconds");
	return 0;
}

static const struct am_option *opt_find(const char *name)
{
	for (const struct am_option *o = rw_options; o->name; o++)
		if (!strcmp(o->name, name))
			return o;
	return NULL;
}

static int get_opt_num(const struct rw_src *s, const char *key, double def, double *out)
{
	const struct am_option *o = opt_find(key);

	return get_num(s, key, o->type == AM_OPT_INT, def, o->min, o->max, out);
}

/* A list of "name=value" (sep '=') or "Name: value" (sep ':'): the
 * section's STRLIST, or the endpoint's list, one string or map (name:
 * value). Each item in out[] (malloc'd), its key for errors in keys[]; at
 * most max (what: the error's words). */
static int get_pairs(const struct rw_src *s, const char *key, char sep, char **out,
		     char (*keys)[RW_KEY_MAX], unsigned max, const char *what,
		     unsigned *n)
{
	const struct am_node *nd = own(s, key);
	enum am_node_kind kind = am_node_kind(nd);
	size_t len = !nd		      ? am_cfg_list_len(s->cfg, key)
		     : kind == AM_NODE_SCALAR ? 1
					      : am_node_len(nd);

	*n = 0;
	for (size_t i = 0; i < len; i++) {
		const struct am_node *it =
		    kind == AM_NODE_SCALAR ? nd : am_node_at(nd, i);
		const char *name = am_node_key(nd, i);
		const char *v = nd ? am_node_str(it) : am_cfg_list_at(s->cfg, key, i);
		char *k = keys[i < max ? i : max];

		if (!nd)
			snprintf(k, RW_KEY_MAX, "%s[%zu]", key, i);
		else if (kind == AM_NODE_MAP)
			snprintf(k, RW_KEY_MAX, "%s%s.%.40s", s->pfx, key, name);
		else if (kind == AM_NODE_LIST)
			snprintf(k, RW_KEY_MAX, "%s%s[%zu]", s->pfx, key, i);
		else
			snprintf(k, RW_KEY_MAX, "%s%s", s->pfx, key);
		if (i == max)
			return bad(s->er, k, "at most %u %s", max, what);
		if (!v)
			return bad(s->er, k, "expected a value, not a %s", kind_name(it));
		if (kind == AM_NODE_MAP) {
			size_t l = strlen(name) + strlen(v) + 3;
			if ((out[i] = malloc(l)))
				snprintf(out[i], l, sep == '=' ? "%s=%s" : "%s: %s", name,
					 v);
		} else {
			out[i] = strdup(v);
		}
		if (!out[i])
			return -ENOMEM;
		*n = (unsigned)i + 1;
	}
	return 0;
}

/* basic_auth: {username, password_file} (a map, in an endpoint or the
 * section). */
static int basic_auth_map(const struct rw_src *s, const char *pfx,
			  const struct am_node *n, const char **user, const char **pw)
{
	char key[96];

	for (size_t i = 0; i < am_node_len(n); i++) {
		const char *k = am_node_key(n, i);
		if (strcmp(k, "username") && strcmp(k, "password_file")) {
			snprintf(key, sizeof(key), "%sbasic_auth.%s", pfx, k);
			return bad(s->er, key,
				   "unknown key (basic_auth takes username and "
				   "password_file)");
		}
	}
	*user = am_node_str(am_node_get(n, "username"));
	*pw = am_node_str(am_node_get(n, "password_file"));
	snprintf(key, sizeof(key), "%sbasic_auth", pfx);
	if (am_node_kind(n) != AM_NODE_MAP)
		return bad(s->er, key, "expected a map {username, password_file}");
	if (!*user || !**user || !*pw || !**pw)
		return bad(s->er, key, "basic auth needs username and password_file");
	return 0;
}

static void opts_free(struct rw_opts *o)
{
	char **strs[] = {&o->url,      &o->spool_dir, &o->ca_file,	 &o->cert_file,
			 &o->key_file, &o->user,      &o->password_file, &o->token_file};

	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		free(*strs[i]);
		*strs[i] = NULL;
	}
	for (unsigned i = 0; i < o->next; i++)
		free((char *)o->ext[i].name); /* value points into the same block */
	for (unsigned i = 0; i < o->nheaders; i++)
		free(o->headers[i]);
	o->next = o->nheaders = 0;
}

static int dup_to(char **dst, const char *s)
{
	return s && !(*dst = strdup(s)) ? -ENOMEM : 0;
}

/* The checks of one endpoint's label and header lists. */
static int check_pairs(const struct rw_src *s, struct rw_opts *o, char **lab,
		       char (*lkeys)[RW_KEY_MAX], unsigned nlab,
		       char (*hkeys)[RW_KEY_MAX])
{
	for (unsigned i = 0; i < nlab; i++) {
		char *eq = strchr(lab[i], '=');
		char name[128];

		if (!eq || !eq[1])
			return bad(s->er, lkeys[i], "'%.200s' is not name=value", lab[i]);
		snprintf(name, sizeof(name), "%.*s", (int)(eq - lab[i]), lab[i]);
		if ((size_t)(eq - lab[i]) >= sizeof(name) || !rw_label_name_ok(name))
			return bad(s->er, lkeys[i], "'%.100s' is not a label name", name);
		for (unsigned j = 0; j < i; j++)
			if (!strncmp(lab[j], lab[i], (size_t)(eq - lab[i]) + 1))
				return bad(s->er, lkeys[i], "label %s given twice", name);
	}
	for (unsigned i = 0; i < o->nheaders; i++) {
		int rc = header_check(s->er, hkeys[i], o->headers[i],
				      o->user || o->token_file);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Read and check one endpoint into o (owned copies; opts_free). */
static int opts_build(const struct rw_src *s, struct rw_opts *o)
{
	const char *url = s->url, *sz = NULL, *user = NULL, *pw = NULL, *tok = NULL,
		   *cert = NULL, *keyf = NULL, *ca = NULL, *dir = NULL;
	const struct am_node *auth_ba = own(s, "basic_auth"),
			     *auth_tok = own(s, "bearer_token_file");
	char *lab[RW_MAX_LABELS] = {0};
	char lkeys[RW_MAX_LABELS][RW_KEY_MAX], hkeys[RW_MAX_HEADERS + 1][RW_KEY_MAX];
	unsigned nlab = 0;
	double d;
	int rc = 0;

	memset(o, 0, sizeof(*o));
	for (size_t i = 0; s->ep && i < am_node_len(s->ep); i++) {
		const char *k = am_node_key(s->ep, i);
		size_t j;
		for (j = 0; ep_keys[j] && strcmp(ep_keys[j], k); j++)
			;
		if (!ep_keys[j])
			return src_bad(s, k, "unknown key of an endpoint%s",
				       !strncmp(k, "basic_auth_", 11)
					   ? " (use basic_auth: {username, "
					     "password_file})"
					   : "");
	}
	if (s->ep && (rc = get_str(s, "url", &url)) < 0)
		return rc;
	if (!url)
		return src_bad(s, "url", "an endpoint needs `url`");
	char *shown = url_shown(url);
	if (!shown)
		return -ENOMEM;
	if (strncmp(url, "http://", 7) && strncmp(url, "https://", 8))
		rc = bad(s->er, s->urlkey, "'%.200s' is not an http:// or https:// URL",
			 shown);
	else if (strlen(url) > RW_URL_MAX)
		rc = bad(s->er, s->urlkey, "longer than %d bytes", RW_URL_MAX);
	free(shown);
	if (rc < 0)
		return rc;
	if ((rc = get_num(s, "interval", 0, 15, 0.1, 86400, &o->interval_s)) < 0 ||
	    (rc = get_num(s, "timeout", 0, 10, 0.001, 86400, &o->timeout_s)) < 0 ||
	    (rc = get_opt_num(s, "max_sample_age", 3600, &o->max_age_s)) < 0 ||
	    (rc = get_opt_num(s, "min_backoff", 0.1, &o->min_backoff_s)) < 0 ||
	    (rc = get_opt_num(s, "max_backoff", 5, &o->max_backoff_s)) < 0 ||
	    (rc = get_opt_num(s, "max_samples_per_request", 2000, &d)) < 0 ||
	    (rc = get_bool(s, "retry_on_http_429", true, &o->retry_429)) < 0 ||
	    (rc = get_bool(s, "insecure_skip_verify", false, &o->insecure)) < 0 ||
	    (rc = get_bool(s, "self_metrics", false, &o->self_metrics)) < 0 ||
	    (rc = get_str(s, "spool_dir", &dir)) < 0 ||
	    (rc = get_str(s, "spool_max_size", &sz)) < 0 ||
	    (rc = get_str(s, "ca_file", &ca)) < 0)
		return rc;
	o->max_samples = (unsigned)d;
	if (!sz)
		sz = "256MiB";
	if (rec_parse_size(sz, &o->spool_max) < 0 || o->spool_max < 65536)
		return own(s, "spool_max_size")
			   ? src_bad(s, "spool_max_size",
				     "'%.40s' is not a size of at least 64KiB", sz)
			   : bad(s->er, "spool_max_size",
				 "'%.40s' is not a size of at least 64KiB", sz);
	if (o->min_backoff_s > o->max_backoff_s)
		return bad(s->er, own(s, "min_backoff") ? "min_backoff" : "max_backoff",
			   "min_backoff is larger than max_backoff");
	/* Credentials and the client certificate come as a whole: an
	 * endpoint that sets any of them replaces the section's. */
	if (s->ep && (auth_ba || auth_tok)) {
		if (auth_ba && (rc = basic_auth_map(s, s->pfx, auth_ba, &user, &pw)) < 0)
			return rc;
		if (auth_tok && (rc = get_str(s, "bearer_token_file", &tok)) < 0)
			return rc;
		if (user && tok)
			return src_bad(s, "bearer_token_file",
				       "use basic_auth or a bearer token, not both");
	} else {
		const struct am_node *ba = am_cfg_tree(s->cfg, "basic_auth");
		user = am_cfg_string(s->cfg, "basic_auth_username", NULL);
		pw = am_cfg_string(s->cfg, "basic_auth_password_file", NULL);
		tok = am_cfg_string(s->cfg, "bearer_token_file", NULL);
		if (ba && (user || pw))
			return bad(s->er, "basic_auth",
				   "basic_auth and basic_auth_username/"
				   "basic_auth_password_file: give one");
		if (ba && (rc = basic_auth_map(s, "", ba, &user, &pw)) < 0)
			return rc;
		if ((user != NULL) != (pw != NULL))
			return bad(s->er, "basic_auth_username",
				   "basic auth needs both basic_auth_username and "
				   "basic_auth_password_file");
		if (user && tok)
			return bad(s->er, "bearer_token_file",
				   "use basic auth or a bearer token, not both");
	}
	if (s->ep && (own(s, "cert_file") || own(s, "key_file"))) {
		if ((rc = get_str(s, "cert_file", &cert)) < 0 ||
		    (rc = get_str(s, "key_file", &keyf)) < 0)
			return rc;
	} else {
		cert = am_cfg_string(s->cfg, "cert_file", NULL);
		keyf = am_cfg_string(s->cfg, "key_file", NULL);
	}
	if ((cert != NULL) != (keyf != NULL))
		return bad(s->er, s->ep && own(s, "cert_file") ? "cert_file" : "key_file",
			   "a client certificate needs cert_file and key_file");
	/* Files: the key of the file at fault is the endpoint's when it
	 * set it. */
	struct {
		const char *key, *path;
	} files[] = {{"ca_file", ca},
		     {"cert_file", cert},
		     {"key_file", keyf},
		     {"bearer_token_file", tok},
		     {auth_ba || am_cfg_tree(s->cfg, "basic_auth")
			  ? "basic_auth.password_file"
			  : "basic_auth_password_file",
		      pw}};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char key[96];
		snprintf(key, sizeof(key), "%s%s",
			 s->ep && (own(s, files[i].key) || (i == 4 && auth_ba)) ? s->pfx
										: "",
			 files[i].key);
		if ((rc = check_file(s->er, key, files[i].path)) < 0)
			return rc;
	}
	if ((rc = check_spool_dir(s->er, dir)) < 0) {
		char why[512];
		snprintf(why, sizeof(why), "%s", s->er->why);
		if (own(s, "spool_dir"))
			src_bad(s, "spool_dir", "%s", why);
		return rc;
	}
	if ((rc = dup_to(&o->url, url)) < 0 || (rc = dup_to(&o->spool_dir, dir)) < 0 ||
	    (rc = dup_to(&o->ca_file, ca)) < 0 ||
	    (rc = dup_to(&o->cert_file, cert)) < 0 ||
	    (rc = dup_to(&o->key_file, keyf)) < 0 || (rc = dup_to(&o->user, user)) < 0 ||
	    (rc = dup_to(&o->password_file, pw)) < 0 ||
	    (rc = dup_to(&o->token_file, tok)) < 0)
		goto out;
	/* __name__ and the series' own labels need room within 30. */
	if ((rc = get_pairs(s, "headers", ':', o->headers, hkeys, RW_MAX_HEADERS,
			    "headers", &o->nheaders)) < 0 ||
	    (rc = get_pairs(s, "external_labels", '=', lab, lkeys, RW_MAX_LABELS - 1,
			    "external labels", &nlab)) < 0 ||
	    (rc = check_pairs(s, o, lab, lkeys, nlab, hkeys)) < 0)
		goto out;
	for (unsigned i = 0; i < nlab; i++) {
		char *eq = strchr(lab[i], '=');
		*eq = '\0';
		o->ext[o->next++] = (struct rw_label){lab[i], eq + 1};
		lab[i] = NULL;
	}
out:
	for (unsigned i = 0; i < RW_MAX_LABELS; i++)
		free(lab[i]);
	if (rc < 0)
		opts_free(o);
	return rc;
}

/* The section's endpoints: its url list, then `endpoints`. */
static size_t rw_nendpoints(const struct am_config *cfg)
{
	const struct am_node *t = am_cfg_tree(cfg, "endpoints");

	return am_cfg_list_len(cfg, "url") + (am_node_kind(t) == AM_NODE_LIST
						  ? am_node_len(t)
					      : t ? 1
						  : 0);
}

static int rw_src_at(const struct am_config *cfg, size_t i, struct rw_err *er,
		     struct rw_src *s)
{
	const struct am_node *t = am_cfg_tree(cfg, "endpoints");
	size_t nurl = am_cfg_list_len(cfg, "url");

	memset(s, 0, sizeof(*s));
	s->cfg = cfg;
	s->er = er;
	if (i < nurl) {
		s->url = am_cfg_list_at(cfg, "url", i);
		snprintf(s->urlkey, sizeof(s->urlkey), "url[%zu]", i);
		return 0;
	}
	i -= nurl;
	if (am_node_kind(t) == AM_NODE_LIST) {
		s->ep = am_node_at(t, i);
		snprintf(s->pfx, sizeof(s->pfx), "endpoints[%zu].", i);
	} else {
		s->ep = t;
		snprintf(s->pfx, sizeof(s->pfx), "endpoints.");
	}
	snprintf(s->urlkey, sizeof(s->urlkey), "%surl", s->pfx);
	if (am_node_kind(s->ep) != AM_NODE_MAP) {
		s->pfx[strlen(s->pfx) - 1] = '\0';
		return bad(er, s->pfx,
			   "expected a map (url: ..., and the keys that differ from "
			   "the section's), or a list of them");
	}
	return 0;
}

/* Every endpoint read and checked into o[] (opts_free each); *n set. No
 * side effects: run when the config is loaded (FILE:LINE, exit 2 at
 * startup, a reload refused) and again by start. */
static int rw_build_all(const struct am_config *cfg, struct rw_err *er, struct rw_opts *o,
			size_t *n)
{
	size_t total = rw_nendpoints(cfg);
	int rc = 0;

	*n = 0;
	if (!total)
		return bad(er, "url",
			   "the remote_write exporter needs `url` or `endpoints`");
	if (total > RW_MAX_ENDPOINTS)
		return bad(er, am_cfg_tree(cfg, "endpoints") ? "endpoints" : "url",
			   "at most %d endpoints", RW_MAX_ENDPOINTS);
	for (size_t i = 0; i < total && !rc; i++) {
		struct rw_src s;

		if ((rc = rw_src_at(cfg, i, er, &s)) < 0 ||
		    (rc = opts_build(&s, &o[i])) < 0)
			break;
		(*n)++;
		for (size_t j = 0; j < i; j++)
			if (!strcmp(o[i].url, o[j].url)) {
				char *shown = url_shown(o[i].url);
				rc = shown ? bad(er, s.urlkey, "%.200s is listed twice",
						 shown)
					   : -ENOMEM;
				free(shown);
				break;
			}
	}
	if (rc < 0) {
		for (size_t i = 0; i < *n; i++)
			opts_free(&o[i]);
		*n = 0;
	}
	return rc;
}

static int rw_check(const struct am_config *cfg, char *key, size_t keylen, char *why,
		    size_t whylen)
{
	struct rw_err er = {key, why, keylen, whylen};
	struct rw_opts o[RW_MAX_ENDPOINTS];
	size_t n;
	int rc = rw_build_all(cfg, &er, o, &n);

	for (size_t i = 0; i < n; i++)
		opts_free(&o[i]);
	return rc;
}

/* A failure of start, logged as the config loader words it. */
static int start_bad(const char *key, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int start_bad(const char *key, const char *fmt, ...)
{
	char m[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m, sizeof(m), fmt, ap);
	va_end(ap);
	log_msg(LOGL_ERROR, RW, "exporters.remote_write.%s: %s", key, m);
	return -EINVAL;
}

static int rw_start(const struct agent_config *agent, const struct am_config *cfg,
		    void **state)
{
	static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
	struct rw_opts all[RW_MAX_ENDPOINTS];
	struct rw_exp *x;
	char ekey[96], why[512];
	struct rw_err er = {ekey, why, sizeof(ekey), sizeof(why)};
	size_t n;
	int rc;

	(void)agent;
	/* Checked when the config was loaded; a file may have gone since. */
	if ((rc = rw_build_all(cfg, &er, all, &n)) < 0)
		return rc == -EINVAL ? start_bad(ekey, "%s", why) : rc;
	if (!(x = calloc(1, sizeof(*x)))) {
		for (size_t i = 0; i < n; i++)
			opts_free(&all[i]);
		return -ENOMEM;
	}
	pthread_once(&curl_once, curl_init_once);
	for (size_t i = 0; i < n; i++) {
		struct rw_ep *e = calloc(1, sizeof(*e));

		if (!e) {
			for (size_t j = i; j < n; j++)
				opts_free(&all[j]);
			rc = -ENOMEM;
			goto fail;
		}
		x->ep[x->n++] = e;
		pthread_mutex_init(&e->loglk, NULL);
		/* Before the set of the endpoint this one replaces is taken:
		 * no slot (all taken) means its labels are copied instead. */
		e->final_slot = snapshot_final_consumer_add();
		e->o = all[i]; /* e owns it from here */
	}
	for (size_t i = 0; i < x->n; i++) {
		struct rw_ep *e = x->ep[i];
		const struct rw_opts *o = &e->o;

		e->url = e->o.url;
		e->shown = url_shown(e->url);
		e->st = e->shown ? stats_get(e->shown) : NULL;
		if (!e->st) {
			rc = -ENOMEM;
			goto fail;
		}
		rw_enc_init(&e->enc);
		if (ep_take_set(e) < 0)
			goto fail;
		if (o->spool_dir) {
			char p[PATH_MAX];

			if (mkdir(o->spool_dir, 0750) < 0 && errno != EEXIST) {
				rc = start_bad("spool_dir", "%s: %s", o->spool_dir,
					       strerror(errno));
				goto fail;
			}
			/* One directory per URL without its credentials (a
			 * new password keeps the spool); the URL is written
			 * beside the segments for whoever looks. */
			snprintf(p, sizeof(p), "%s/%016" PRIx64, o->spool_dir,
				 fnv1a(e->shown));
			spool_migrate(o->spool_dir, e->url, p);
			if (!(e->spool_path = strdup(p))) {
				rc = -ENOMEM;
				goto fail;
			}
		}
		/* Unbounded: it holds at most one push (see struct rw_ep). */
		if ((rc = rw_spool_open(NULL, UINT64_MAX / 2, &e->in)) < 0)
			goto fail;
		if ((rc = rw_spool_open(e->spool_path, o->spool_max, &e->q)) < 0) {
			if (rc == -EBUSY)
				start_bad("spool_dir", "%s is in use by another agent",
					  e->spool_path);
			else
				start_bad("spool_dir", "%s: %s", e->spool_path,
					  strerror(-rc));
			goto fail;
		}
		if (e->spool_path) {
			char p[PATH_MAX];
			FILE *f;
			snprintf(p, sizeof(p), "%s/url", e->spool_path);
			if ((f = fopen(p, "w"))) {
				fprintf(f, "%s\n", e->shown);
				fclose(f);
			}
			struct rw_spool_stats st;
			rw_spool_stats(e->q, &st);
			if (st.records)
				log_msg(LOGL_INFO, RW,
					"%s: %" PRIu64 " spooled requests to replay",
					e->shown, st.records);
		}
		/* The last sent time bounds what may be sent (a wall clock that
		 * went back must not rewrite history). */
		e->last_ts = rw_spool_sent(e->q).ts_ms;
		ep_spool_stats(e);
		if ((rc = ep_curl_init(e)) < 0)
			goto fail;
	}
	for (size_t i = 0; i < x->n; i++) {
		struct rw_ep *e = x->ep[i];
		pthread_condattr_t ca;

		pthread_mutex_init(&e->lk, NULL);
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&e->cv, &ca);
		pthread_cond_init(&e->scv, &ca);
		pthread_condattr_destroy(&ca);
		e->started = 1; /* stop destroys lk, cv and scv */
		if ((rc = pthread_create(&e->sth, NULL, ep_sender, e)) != 0) {
			rc = -rc;
			goto fail;
		}
		e->sstarted = 1;
		if ((rc = pthread_create(&e->th, NULL, ep_thread, e)) != 0) {
			rc = -rc;
			goto fail;
		}
		e->tstarted = 1;
		/* "top -H" and the benchmark tell the threads apart. */
		pthread_setname_np(e->th, "am-rw-push");
		pthread_setname_np(e->sth, "am-rw-send");
		log_msg(LOGL_INFO, RW, "pushing to %s every %gs%s%s", e->shown,
			e->o.interval_s, e->spool_path ? ", spool " : "",
			e->spool_path ? e->spool_path : "");
	}
	*state = x;
	return 0;
fail:
	rw_stop(x);
	return rc;
}

static void rw_stop(void *state)
{
	struct rw_exp *x = state;

	if (!x)
		return;
	for (size_t i = 0; i < x->n; i++) {
		struct rw_ep *e = x->ep[i];
		if (!e->started)
			continue;
		pthread_mutex_lock(&e->lk);
		atomic_store(&e->stop, 1);
		pthread_cond_signal(&e->cv);
		pthread_cond_signal(&e->scv);
		pthread_mutex_unlock(&e->lk);
		if (e->tstarted)
			pthread_join(e->th, NULL);
		if (e->sstarted)
			pthread_join(e->sth, NULL);
		pthread_cond_destroy(&e->cv);
		pthread_cond_destroy(&e->scv);
		pthread_mutex_destroy(&e->lk);
	}
	for (size_t i = 0; i < x->n; i++)
		ep_free(x->ep[i]);
	free(x);
}

/* The pushes go on through a reload (queue, backoff and the last push's
 * series kept) when every option of the section stays the same. */
static int rw_keep(void *state, const struct agent_config *old,
		   const struct am_config *old_cfg, const struct agent_config *new,
		   const struct am_config *new_cfg)
{
	static const struct am_option generic[] = {
	    {"interval", AM_OPT_DURATION, "", 0, 0},
	    {"timeout", AM_OPT_DURATION, "", 0, 0},
	    {NULL, 0, NULL, 0, 0},
	};
	const struct am_option *tabs[] = {rw_options, generic};

	(void)state, (void)old, (void)new;
	for (size_t t = 0; t < 2; t++)
		for (const struct am_option *o = tabs[t]; o->name; o++) {
			const char *k = o->name;
			switch (o->type) {
			case AM_OPT_INT:
				if (am_cfg_int(old_cfg, k, -1) !=
				    am_cfg_int(new_cfg, k, -1))
					return 0;
				break;
			case AM_OPT_DURATION:
				if (am_cfg_duration(old_cfg, k, -1) !=
				    am_cfg_duration(new_cfg, k, -1))
					return 0;
				break;
			case AM_OPT_BOOL:
				if (am_cfg_bool(old_cfg, k, false) !=
				    am_cfg_bool(new_cfg, k, false))
					return 0;
				break;
			case AM_OPT_TREE:
				if (!am_node_equal(am_cfg_tree(old_cfg, k),
						   am_cfg_tree(new_cfg, k)))
					return 0;
				break;
			case AM_OPT_STRLIST:
				if (am_cfg_list_len(old_cfg, k) !=
				    am_cfg_list_len(new_cfg, k))
					return 0;
				for (size_t i = 0; i < am_cfg_list_len(old_cfg, k); i++)
					if (strcmp(am_cfg_list_at(old_cfg, k, i),
						   am_cfg_list_at(new_cfg, k, i)))
						return 0;
				break;
			default: {
				const char *a = am_cfg_string(old_cfg, k, NULL),
					   *b = am_cfg_string(new_cfg, k, NULL);
				if ((a == NULL) != (b == NULL) || (a && strcmp(a, b)))
					return 0;
			}
			}
		}
	return 1;
}

const struct am_exporter remote_write_exporter = {
    .name = RW,
    .flags = AM_COLLECTOR_NEEDS_CONFIG,
    .options = rw_options,
    .start = rw_start,
    .stop = rw_stop,
    .check = rw_check,
    .keep = rw_keep,
};
