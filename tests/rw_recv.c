/* A remote write receiver for the tests and the benchmark (libmicrohttpd):
 * answers each POST as a script says (a status, Retry-After, a slow answer,
 * a connection reset), then 204, and logs one line per request:
 *   SEQ ARRIVAL_MS ANSWER NSERIES NSAMPLES MIN_TS MAX_TS STALE WATCHED PROBLEMS
 * STALE counts stale markers, WATCHED the other samples of series with a
 * label value equal to --watch's (--watch NAME=VALUE: that label and value);
 * PROBLEMS is "ok" or what was wrong with the request (headers, body,
 * unsorted or empty labels, more than 30 labels, samples out of order).
 *
 * --stale-log FILE writes each stale marker's labels there, one line each
 * (name=value,name=value in the order sent).
 *
 *   rw_recv PORT LOG [--no-decode] [--watch VALUE] [--stale-log FILE] [--tls CERT KEY]
 *           [--auth AUTHORIZATION] [--header "NAME: VALUE"] [STEP...]
 * STEP: NNN (a status), NNN:ra=S (with Retry-After: S), slow=S (answer 204
 * after S seconds), reset (close with RST, no answer). --tls serves https
 * with that PEM certificate and key; with --auth, a request whose
 * Authorization header differs is answered 401; with --header "Name: v",
 * a request without that header is logged as missing-header. SIGTERM stops it and
 * prints the totals.
 */
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "exporters/remote_write_codec.h"

struct step {
	int status; /* 0: reset */
	int retry_after;
	double slow_s;
};

static struct step *steps;
static int nsteps;
static int decode = 1;
static const char *watch;
static FILE *stalelog; /* --stale-log, under lk */
static const char *auth;	     /* expected Authorization header, or NULL */
static char *want_name, *want_value; /* --header: required header */
static FILE *reqlog;
static pthread_mutex_t lk = PTHREAD_MUTEX_INITIALIZER;
static unsigned long long seq, total_samples, total_bytes;
static volatile sig_atomic_t stop;

struct req {
	char *body;
	size_t len, cap;
};

static const char *check(struct MHD_Connection *c, const Prometheus__WriteRequest *r,
			 char *why, size_t len)
{
	const char *ce =
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Encoding");
	const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
	const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						    "X-Prometheus-Remote-Write-Version");
	const char *ua = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "User-Agent");

	if (!ce || strcmp(ce, "snappy"))
		return "content-encoding";
	if (!ct || strcmp(ct, "application/x-protobuf"))
		return "content-type";
	if (!v || strcmp(v, "0.1.0"))
		return "version-header";
	if (!ua || strncmp(ua, "accelmon/", 9))
		return "user-agent";
	if (!r)
		return "body";
	for (size_t i = 0; i < r->n_timeseries; i++) {
		const Prometheus__TimeSeries *t = r->timeseries[i];
		if (t->n_labels > RW_MAX_LABELS)
			return "more-than-30-labels";
		if (!t->n_labels || !t->n_samples)
			return "empty-series";
		for (size_t k = 0; k < t->n_labels; k++) {
			if (!*t->labels[k]->name || !*t->labels[k]->value)
				return "empty-label";
			if (k &&
			    strcmp(t->labels[k - 1]->name, t->labels[k]->name) >= 0) {
				snprintf(why, len, "unsorted-labels:%s,%s",
					 t->labels[k - 1]->name, t->labels[k]->name);
				return why;
			}
		}
		if (strcmp(t->labels[0]->name, "__name__"))
			return "no-__name__-first";
		for (size_t k = 1; k < t->n_samples; k++)
			if (t->samples[k]->timestamp <= t->samples[k - 1]->timestamp)
				return "samples-out-of-order";
	}
	return "ok";
}

/* --watch VALUE: any label with that value; --watch NAME=VALUE: that label. */
static int watched(const Prometheus__Label *l)
{
	const char *eq = strchr(watch, '=');

	if (!eq)
		return !strcmp(l->value, watch);
	return strlen(l->name) == (size_t)(eq - watch) &&
	       !strncmp(l->name, watch, (size_t)(eq - watch)) &&
	       !strcmp(l->value, eq + 1);
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *data,
			      size_t *size, void **ctx)
{
	struct req *q = *ctx;
	struct MHD_Response *resp;
	struct step st = {204, 0, 0};
	Prometheus__WriteRequest *r = NULL;
	unsigned long long n;
	long long nsamples = 0, mn = 0, mx = 0, nstale = 0, nwatch = 0;
	char why[128];
	const char *problem;
	enum MHD_Result ret;

	(void)cls, (void)url, (void)version;
	if (!q) {
		if (strcmp(method, "POST"))
			return MHD_NO;
		*ctx = q = calloc(1, sizeof(*q));
		return q ? MHD_YES : MHD_NO;
	}
	if (*size) {
		if (q->len + *size > q->cap) {
			q->cap = (q->len + *size) * 2;
			q->body = realloc(q->body, q->cap);
			if (!q->body)
				return MHD_NO;
		}
		memcpy(q->body + q->len, data, *size);
		q->len += *size;
		*size = 0;
		return MHD_YES;
	}
	if (decode && rw_decode((const uint8_t *)q->body, q->len, &r) == 0) {
		for (size_t i = 0; i < r->n_timeseries; i++)
			for (size_t k = 0; k < r->timeseries[i]->n_samples; k++) {
				long long ts = r->timeseries[i]->samples[k]->timestamp;
				int stale =
				    rw_is_stale_nan(r->timeseries[i]->samples[k]->value);
				nstale += stale;
				pthread_mutex_lock(&lk);
				for (size_t l = 0;
				     stalelog && stale && l < r->timeseries[i]->n_labels; l++)
					fprintf(stalelog, "%s%s=%s", l ? "," : "",
						r->timeseries[i]->labels[l]->name,
						r->timeseries[i]->labels[l]->value);
				if (stalelog && stale) {
					fputc('\n', stalelog);
					fflush(stalelog);
				}
				pthread_mutex_unlock(&lk);
				for (size_t l = 0;
				     watch && !stale && l < r->timeseries[i]->n_labels;
				     l++)
					nwatch += watched(r->timeseries[i]->labels[l]);
				if (!nsamples || ts < mn)
					mn = ts;
				if (!nsamples || ts > mx)
					mx = ts;
				nsamples++;
			}
	}
	problem = decode ? check(c, r, why, sizeof(why)) : "not-decoded";
	if (auth) {
		const char *a =
		    MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
		if (!a || strcmp(a, auth))
			problem = "unauthorized";
	}
	if (want_name) {
		const char *v =
		    MHD_lookup_connection_value(c, MHD_HEADER_KIND, want_name);
		if (!v || strcmp(v, want_value))
			problem = "missing-header";
	}
	pthread_mutex_lock(&lk);
	n = seq++;
	if (n < (unsigned long long)nsteps)
		st = steps[n];
	if (!strcmp(problem, "unauthorized"))
		st = (struct step){401, 0, 0};
	total_samples += (unsigned long long)nsamples;
	total_bytes += q->len;
	if (reqlog) {
		char ans[16];
		if (st.slow_s > 0)
			snprintf(ans, sizeof(ans), "slow");
		else
			snprintf(ans, sizeof(ans), st.status ? "%d" : "reset", st.status);
		fprintf(reqlog, "%llu %lld %s %zu %lld %lld %lld %lld %lld %s\n", n,
			(long long)clock_wall_ms(), ans, r ? r->n_timeseries : 0,
			nsamples, mn, mx, nstale, nwatch, problem);
		fflush(reqlog);
	}
	pthread_mutex_unlock(&lk);
	if (r)
		prometheus__write_request__free_unpacked(r, NULL);
	if (st.slow_s > 0)
		usleep((useconds_t)(st.slow_s * 1e6));
	if (!st.status) {
		const union MHD_ConnectionInfo *ci =
		    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		struct linger l = {1, 0};
		if (ci)
			setsockopt(ci->connect_fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
		return MHD_NO; /* closed with RST, no answer */
	}
	resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	if (st.retry_after) {
		char ra[16];
		snprintf(ra, sizeof(ra), "%d", st.retry_after);
		MHD_add_response_header(resp, "Retry-After", ra);
	}
	ret = MHD_queue_response(c, (unsigned)st.status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void done(void *cls, struct MHD_Connection *c, void **ctx,
		 enum MHD_RequestTerminationCode toe)
{
	struct req *q = *ctx;
	(void)cls, (void)c, (void)toe;
	if (q) {
		free(q->body);
		free(q);
	}
	*ctx = NULL;
}

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *b = NULL;
	size_t n = 0, cap = 0, k;

	if (!f)
		return NULL;
	do {
		if (n + 4096 + 1 > cap) {
			cap = cap ? 2 * cap : 8192;
			if (!(b = realloc(b, cap)))
				break;
		}
		k = fread(b + n, 1, 4096, f);
		n += k;
	} while (k > 0);
	fclose(f);
	if (b)
		b[n] = '\0';
	return b;
}

int main(int argc, char **argv)
{
	struct MHD_Daemon *d;
	int port, i = 3;
	char *cert = NULL, *key = NULL;
	unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD;

	if (argc < 3) {
		fprintf(stderr, "usage: rw_recv PORT LOG [--no-decode] [--watch VALUE] [--stale-log FILE] "
				"[--tls CERT KEY] [--auth AUTHORIZATION] [--header "
				"\"NAME: VALUE\"] [STEP...]\n");
		return 2;
	}
	port = atoi(argv[1]);
	reqlog = strcmp(argv[2], "-") ? fopen(argv[2], "w") : NULL;
	while (i < argc && !strncmp(argv[i], "--", 2)) {
		if (!strcmp(argv[i], "--no-decode")) {
			decode = 0;
			i++;
		} else if (!strcmp(argv[i], "--stale-log") && i + 1 < argc) {
			if (!(stalelog = fopen(argv[i + 1], "w"))) {
				perror(argv[i + 1]);
				return 2;
			}
			i += 2;
		} else if (!strcmp(argv[i], "--watch") && i + 1 < argc) {
			watch = argv[i + 1];
			i += 2;
		} else if (!strcmp(argv[i], "--auth") && i + 1 < argc) {
			auth = argv[i + 1];
			i += 2;
		} else if (!strcmp(argv[i], "--header") && i + 1 < argc &&
			   strchr(argv[i + 1], ':')) {
			want_name = strdup(argv[i + 1]);
			want_value = strchr(want_name, ':');
			*want_value++ = '\0';
			while (*want_value == ' ')
				want_value++;
			i += 2;
		} else if (!strcmp(argv[i], "--tls") && i + 2 < argc) {
			cert = slurp(argv[i + 1]);
			key = slurp(argv[i + 2]);
			if (!cert || !key) {
				fprintf(stderr, "rw_recv: cannot read %s or %s\n",
					argv[i + 1], argv[i + 2]);
				return 2;
			}
			flags |= MHD_USE_TLS;
			i += 3;
		} else {
			fprintf(stderr, "rw_recv: bad option %s\n", argv[i]);
			return 2;
		}
	}
	steps = calloc((size_t)argc, sizeof(*steps));
	for (; i < argc; i++) {
		struct step *s = &steps[nsteps++];
		if (!strcmp(argv[i], "reset"))
			s->status = 0;
		else if (!strncmp(argv[i], "slow=", 5)) {
			s->status = 204;
			s->slow_s = atof(argv[i] + 5);
		} else if (sscanf(argv[i], "%d:ra=%d", &s->status, &s->retry_after) < 1 ||
			   s->status < 100 || s->status > 599) {
			fprintf(stderr, "rw_recv: bad step '%s'\n", argv[i]);
			return 2;
		}
	}
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct MHD_OptionItem tls[] = {
	    {cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, cert},
	    {MHD_OPTION_HTTPS_MEM_KEY, 0, key},
	    {MHD_OPTION_END, 0, NULL},
	};
	d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, answer, NULL,
			     MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_NOTIFY_COMPLETED, done,
			     NULL, MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_ARRAY,
			     tls, MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "rw_recv: cannot listen on %d: %s\n", port,
			strerror(errno));
		return 1;
	}
	while (!stop)
		pause();
	MHD_stop_daemon(d);
	printf("requests %llu samples %llu bytes %llu\n", seq, total_samples,
	       total_bytes);
	if (reqlog)
		fclose(reqlog);
	free(cert);
	free(key);
	return 0;
}
