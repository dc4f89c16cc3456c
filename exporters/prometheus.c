/* Prometheus pull exporter on libmicrohttpd.
 *
 * GET /metrics answers with the current snapshot's pre-rendered bytes (text
 * 0.0.4, or OpenMetrics 1.0.0 when the Accept header prefers it; gzip when
 * allowed) without copying them: the response holds a snapshot reference (or
 * a reference on the snapshot's gzip bodies, which hold the snapshot) and
 * releases it when MHD is done. Each snapshot is compressed at most once per
 * format, by the first scrape that asks. One internal epoll thread. Limits
 * that hold by default (per address, in total with the stalest waiting
 * connection evicted, a deadline for a request's headers, their size), and
 * the web config (exporters/web_config.c): TLS set up on each GnuTLS session
 * from the current config, basic auth, reloaded on SIGHUP and on rotation.
 */
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "agg.h"
#include "config.h"
#include "exporter.h"
#include "hostport.h"
#include "exporters/live_page.h"
#include "exporters/prometheus.h"
#include "exporters/web_config.h"
#include "log.h"
#include "snapshot.h"

#define PROM "prometheus"

static const struct am_option prom_options[] = {
    {"connection_limit", AM_OPT_INT,
     "most concurrent HTTP connections; a new one evicts the stalest one "
     "waiting for a request (default 512)",
     1, 65535},
    {"per_ip_connection_limit", AM_OPT_INT,
     "most concurrent HTTP connections from one address (default 32)", 1, 65535},
    {"header_timeout", AM_OPT_DURATION,
     "time to finish a request's headers, from connect or the previous "
     "response (default 5s)",
     1, 3600},
    {"header_size_limit", AM_OPT_INT,
     "bytes a connection may use for a request's line and headers (default "
     "32768)",
     8192, 1048576},
    {"web_config_file", AM_OPT_STRING,
     "TLS and basic auth, in exporter-toolkit's web config format "
     "(--web.config.file wins)",
     0, 0},
    {"connection_timeout", AM_OPT_DURATION, "idle connection timeout (default 10s)", 1,
     3600},
    {"threads", AM_OPT_INT, "HTTP worker threads (default 1)", 1, 64},
    {NULL, 0, NULL, 0, 0},
};

/* Failed basic auth checks: a wrong password costs a bcrypt on the HTTP
 * thread, so an address gets AUTH_ADDR_RATE per second (bursts of
 * AUTH_ADDR_BURST), and all addresses together AUTH_CPU_RATE seconds of
 * bcrypt per second; past that a request is answered 429 with no bcrypt.
 * Addresses with no failure in the last AUTH_CLEAN_S seconds draw on a pool
 * of their own (as large), so wrong-password clients cannot starve a
 * scraper's first check after a reload. A check that succeeds is not
 * charged, and one the success cache answers needs no token: a scraper with
 * the right password is not limited. The table is direct-mapped by address
 * (IPv6 by its /64): a colliding address takes the slot over; the two pools
 * still bound the bcrypt time to 2 * AUTH_CPU_RATE. */
#define PROM_ADDR_MAX (HOSTPORT_HOST_MAX + HOSTPORT_PORT_MAX + 4)
#define AUTH_SLOTS 256
#define AUTH_ADDR_RATE 1.0
#define AUTH_ADDR_BURST 3.0
#define AUTH_CPU_RATE 0.15
#define AUTH_CPU_BURST 0.1
#define AUTH_CLEAN_S 60.0
/* Checks waiting for the auth worker, at most (past that: 429); of those,
 * AUTH_QUEUE_CLEAN are kept for addresses with no recent failure (pool 1),
 * whose checks also go ahead of the others', so that clients sending wrong
 * passwords cannot fill the queue before a scraper's first check. */
#define AUTH_QUEUE_MAX 8
#define AUTH_QUEUE_CLEAN 2

enum { AUTH_NONE, AUTH_OK, AUTH_DENY };

/* One HTTP connection, from MHD's "started" to its "closed". While it waits
 * for a request (no request yet, or between keep-alive requests) it sits in
 * the waiting list, oldest first: the deadline and the eviction take from
 * its head. */
struct pconn {
	struct pconn *prev, *next;
	struct prom *p;
	struct MHD_Connection *c;
	int fd;
	bool waiting;  /* in the list */
	bool uri_seen; /* this request's line is parsed (URI log callback) */
	bool handled;  /* our handler saw this request */
	bool closing;  /* shut down by us */
	bool tls;
	pthread_t owner;	/* the MHD thread that serves it */
	double since;		/* when it began to wait */
	struct web_config *web; /* what its TLS session was set up with */
	/* A basic auth check handed to the auth worker (auth_queue): the
	 * connection is suspended until the worker has set auth. */
	struct pconn *job_next;
	char *user, *pass; /* MHD's, freed by the worker */
	struct web_config *job_web;
	unsigned char key[16];
	int pool;
	int auth; /* AUTH_*: the worker's answer, read once resumed */
};

struct prom {
	struct MHD_Daemon *d;
	int fd; /* its listening socket, its own descriptor */
	char listen[PROM_ADDR_MAX];
	struct prom_gz_cache gz;
	pthread_mutex_t lock; /* guards the list, nconn, web */
	struct pconn *head, *tail;
	unsigned nconn, limit; /* nconn: open and not being closed by us */
	double header_timeout;
	struct web_config *web; /* current; NULL without a web config */
	char *web_path;
	bool tls;
	pthread_t reaper;
	pthread_cond_t wake;
	bool stop;
	/* Failed basic auth checks, rate limited (auth_take): per address,
	 * and in all as seconds of bcrypt (under auth_lock). */
	pthread_mutex_t auth_lock;
	struct auth_bucket {
		unsigned char addr[16];
		bool used;
		double tokens, at, last_fail;
	} ab[AUTH_SLOTS];
	double pool[2], pool_at; /* seconds of bcrypt: [1] for clean addresses */
	/* The auth worker's queue (under auth_lock). */
	struct pconn *jobs, *jobs_tail;
	struct pconn *jobs_clean; /* the last clean (pool 1) job; NULL: none */
	unsigned njobs, njobs_dirty;
	bool auth_stop, auth_running;
	bool suspend; /* with a web config: MHD may suspend, the worker runs */
	pthread_cond_t auth_wake;
	pthread_t auth_thread;
};

/* Process-wide, so they survive a restart on reload and stay registered. */
static _Atomic uint64_t prom_requests, prom_bad_requests;
static _Atomic uint64_t prom_header_timeouts, prom_evictions, prom_unauthorized,
    prom_web_reload_failures, prom_auth_limited;
/* --web.config.file, which wins over the config's web_config_file. */
static char *prom_cli_web_config;
static pthread_once_t prom_stats_once = PTHREAD_ONCE_INIT;

static void prom_stats_register(void)
{
	agg_stat_register("accelmon_http_requests_total", "Scrapes of /metrics answered.",
			  1, "", &prom_requests);
	agg_stat_register("accelmon_http_bad_requests_total",
			  "HTTP requests answered 400, 404, 405 or 413.", 1, "",
			  &prom_bad_requests);
	agg_stat_register("accelmon_http_connections_closed_total",
			  "HTTP connections closed by the limits.", 1,
			  "{reason=\"header_timeout\"}", &prom_header_timeouts);
	agg_stat_register("accelmon_http_connections_closed_total",
			  "HTTP connections closed by the limits.", 1,
			  "{reason=\"evicted\"}", &prom_evictions);
	agg_stat_register("accelmon_http_unauthorized_total",
			  "HTTP requests answered 401 (basic auth).", 1, "",
			  &prom_unauthorized);
	agg_stat_register("accelmon_http_auth_limited_total",
			  "HTTP requests answered 429: too many failed basic auth "
			  "checks (no bcrypt run).",
			  1, "", &prom_auth_limited);
	agg_stat_register("accelmon_http_web_config_reload_failures_total",
			  "Web config reloads refused (the running one stayed).", 1, "",
			  &prom_web_reload_failures);
}

/* Gzip bodies of one snapshot, known by its generation: the entry holds no
 * snapshot, so one kept while gzip scrapes stop keeps no released series
 * from being freed. The cache holds one reference, every response in
 * flight another; the last one frees the bodies.
 * body[] is written only under the cache lock, before the pointer is handed
 * out, and never changes after. */
struct prom_gz {
	atomic_int refs;
	uint64_t gen;
	char *body[2];
	size_t len[2];
};

void prom_gz_release(struct prom_gz *e)
{
	if (!e || atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) != 1)
		return;
	free(e->body[0]);
	free(e->body[1]);
	free(e);
}

void prom_gz_cache_init(struct prom_gz_cache *c)
{
	pthread_mutex_init(&c->lock, NULL);
	c->cur = NULL;
	c->made = 0;
}

void prom_gz_cache_fini(struct prom_gz_cache *c)
{
	prom_gz_release(c->cur);
	c->cur = NULL;
	pthread_mutex_destroy(&c->lock);
}

static int gzip_body(const char *in, size_t len, char **out, size_t *outlen)
{
	z_stream z;
	uLong cap;
	char *o;
	int rc;

	memset(&z, 0, sizeof(z));
	/* windowBits 15 + 16: gzip wrapper; level 1: scrapes want speed. */
	if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	cap = deflateBound(&z, len);
	o = malloc(cap);
	if (!o) {
		deflateEnd(&z);
		return -ENOMEM;
	}
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)len;
	z.next_out = (Bytef *)o;
	z.avail_out = (uInt)cap;
	rc = deflate(&z, Z_FINISH);
	deflateEnd(&z);
	if (rc != Z_STREAM_END) {
		free(o);
		return -EIO;
	}
	*out = o;
	*outlen = cap - z.avail_out;
	return 0;
}

int prom_gz_get(struct prom_gz_cache *c, int om, struct prom_gz **ref, const char **body,
		size_t *len)
{
	struct snapshot *s;
	struct prom_gz *e;
	int rc;

	*ref = NULL;
	/* The snapshot is taken under the cache lock, so gzip scrapes see
	 * snapshots in publication order: an entry once replaced is never
	 * wanted again, and no snapshot is compressed twice. */
	pthread_mutex_lock(&c->lock);
	s = snapshot_acquire();
	if (!s) {
		pthread_mutex_unlock(&c->lock);
		return -EAGAIN;
	}
	if (c->cur && c->cur->gen == s->generation) {
		e = c->cur;
	} else {
		e = calloc(1, sizeof(*e));
		if (!e) {
			pthread_mutex_unlock(&c->lock);
			snapshot_release(s);
			return -ENOMEM;
		}
		atomic_init(&e->refs, 1);
		e->gen = s->generation;
		prom_gz_release(c->cur);
		c->cur = e;
	}
	if (!e->body[om]) {
		rc = gzip_body(om ? s->om : s->text, om ? s->om_len : s->text_len,
			       &e->body[om], &e->len[om]);
		if (rc < 0) {
			/* Left unmade: the next scrape tries again. */
			pthread_mutex_unlock(&c->lock);
			snapshot_release(s);
			return rc;
		}
		c->made++;
	}
	snapshot_release(s);
	atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
	*ref = e;
	*body = e->body[om];
	*len = e->len[om];
	pthread_mutex_unlock(&c->lock);
	return 0;
}

static void release_snapshot(void *cls)
{
	snapshot_release(cls);
}

static void release_gz(void *cls)
{
	prom_gz_release(cls);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct web_config *web_get(struct prom *p)
{
	struct web_config *w;

	pthread_mutex_lock(&p->lock);
	w = web_config_ref(p->web);
	pthread_mutex_unlock(&p->lock);
	return w;
}

/* Queue r with the headers the web config adds to every response. */
static enum MHD_Result queue(struct prom *p, struct MHD_Connection *c, unsigned status,
			     struct MHD_Response *r)
{
	struct web_config *w = web_get(p);
	enum MHD_Result ret;

	/* A header the response sets itself (the live page's CSP, which its
	 * inline code needs) is left as it is. */
	for (size_t i = 0; w && i < w->nheaders; i++)
		if (!MHD_get_response_header(r, w->headers[2 * i]))
			MHD_add_response_header(r, w->headers[2 * i],
						w->headers[2 * i + 1]);
	web_config_unref(w);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result send_static(struct prom *p, struct MHD_Connection *c,
				   unsigned status, const char *type, const char *body)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(
	    strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);

	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	if (status == MHD_HTTP_UNAUTHORIZED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Basic");
	return queue(p, c, status, r);
}

static enum MHD_Result send_metrics(struct prom *p, struct MHD_Connection *c)
{
	const char *accept =
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
	const char *enc = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						      MHD_HTTP_HEADER_ACCEPT_ENCODING);
	int om = prom_wants_openmetrics(accept);
	struct snapshot *s = NULL;
	struct prom_gz *e = NULL;
	const char *body;
	size_t len;
	struct MHD_Response *r;
	enum MHD_Result ret;

	/* Without a gzip body (not asked for, compression failed, no snapshot
	 * yet) the plain body of the current snapshot is sent. */
	if (prom_accepts_gzip(enc))
		prom_gz_get(&p->gz, om, &e, &body, &len);
	if (!e) {
		s = snapshot_acquire();
		if (s) {
			body = om ? s->om : s->text;
			len = om ? s->om_len : s->text_len;
		}
	}
	if (!s && !e)
		return send_static(p, c, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain",
				   "no data yet\n");
	r = MHD_create_response_from_buffer_with_free_callback_cls(
	    len, (void *)body, e ? release_gz : release_snapshot,
	    e ? (void *)e : (void *)s);
	if (!r) {
		if (e)
			prom_gz_release(e);
		else
			snapshot_release(s);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				om ? PROM_CT_OPENMETRICS : PROM_CT_TEXT);
	if (e)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
	MHD_add_response_header(r, MHD_HTTP_HEADER_VARY, "Accept, Accept-Encoding");
	ret = queue(p, c, MHD_HTTP_OK, r);
	atomic_fetch_add_explicit(&prom_requests, 1, memory_order_relaxed);
	return ret;
}

static struct pconn *conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

/* Waiting list (under p->lock). */
static void list_del(struct prom *p, struct pconn *pc)
{
	if (!pc->waiting)
		return;
	if (pc->prev)
		pc->prev->next = pc->next;
	else
		p->head = pc->next;
	if (pc->next)
		pc->next->prev = pc->prev;
	else
		p->tail = pc->prev;
	pc->prev = pc->next = NULL;
	pc->waiting = false;
}

static void list_add(struct prom *p, struct pconn *pc, double now)
{
	list_del(p, pc);
	pc->since = now;
	pc->prev = p->tail;
	if (p->tail)
		p->tail->next = pc;
	else
		p->head = pc;
	p->tail = pc;
	pc->waiting = true;
}

/* Close pc from outside MHD (under p->lock, which MHD's "closed" callback
 * takes before the socket is closed, so the fd is still pc's): MHD sees the
 * end of the stream and closes the connection in its own thread. */
static void conn_mark_closing(struct prom *p, struct pconn *pc)
{
	list_del(p, pc);
	if (!pc->closing)
		p->nconn--; /* counted no more: MHD closes it soon */
	pc->closing = true;
}

static void conn_shut(struct prom *p, struct pconn *pc, _Atomic uint64_t *why)
{
	if (pc->closing) {
		list_del(p, pc);
		return;
	}
	conn_mark_closing(p, pc);
	shutdown(pc->fd, SHUT_RDWR);
	if (why)
		atomic_fetch_add_explicit(why, 1, memory_order_relaxed);
}

/* GnuTLS calls this on the client's certificate chain (only where the
 * client_auth_type verifies): a chain that does not verify against
 * client_ca_file, or is not for client authentication, fails the handshake,
 * as in Go. */
static int verify_client(gnutls_session_t session)
{
	unsigned status = 0, n = 0;

	if (!gnutls_certificate_get_peers(session, &n) || n == 0)
		return 0; /* none given: GNUTLS_CERT_REQUIRE decides */
	/* As Go's ExtKeyUsageClientAuth: a certificate whose extended key
	 * usage leaves out TLS client authentication (a server-only one) does
	 * not pass; one without the extension is for any purpose. */
	gnutls_typed_vdata_st purpose = {.type = GNUTLS_DT_KEY_PURPOSE_OID,
					 .data = (void *)GNUTLS_KP_TLS_WWW_CLIENT};

	if (gnutls_certificate_verify_peers(session, &purpose, 1, &status) < 0 ||
	    status != 0)
		return GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR;
	return 0;
}

/* The TLS session of a new connection, set up from the current web
 * config (so a reload or a rotated certificate takes effect at the next
 * handshake, with no restart): credentials, priorities and what is asked
 * of the client. */
static void tls_setup(struct pconn *pc, struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	gnutls_session_t s = ci ? (gnutls_session_t)ci->tls_session : NULL;
	static const gnutls_certificate_request_t req[] = {
	    [WEB_NO_CLIENT_CERT] = GNUTLS_CERT_IGNORE,
	    [WEB_REQUEST_CLIENT_CERT] = GNUTLS_CERT_REQUEST,
	    [WEB_REQUIRE_ANY_CLIENT_CERT] = GNUTLS_CERT_REQUIRE,
	    [WEB_VERIFY_CLIENT_CERT_IF_GIVEN] = GNUTLS_CERT_REQUEST,
	    [WEB_REQUIRE_AND_VERIFY_CLIENT_CERT] = GNUTLS_CERT_REQUIRE,
	};
	struct web_config *w = pc->web;

	if (!s || !w || !w->cred) {
		/* never a session with MHD's defaults */
		pthread_mutex_lock(&pc->p->lock);
		conn_shut(pc->p, pc, NULL);
		pthread_mutex_unlock(&pc->p->lock);
		return;
	}
	gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, w->cred);
	gnutls_priority_set(s, w->prio);
	gnutls_certificate_server_set_request(s, req[w->client_auth]);
	if (w->client_auth == WEB_VERIFY_CLIENT_CERT_IF_GIVEN ||
	    w->client_auth == WEB_REQUIRE_AND_VERIFY_CLIENT_CERT)
		gnutls_session_set_verify_function(s, verify_client);
}

static void notify_conn(void *cls, struct MHD_Connection *c, void **socket_context,
			enum MHD_ConnectionNotificationCode toe)
{
	struct prom *p = cls;
	struct pconn *pc = *socket_context;
	bool setup;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
		    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);

		pc = calloc(1, sizeof(*pc));
		if (!pc) {
			if (ci)
				shutdown(ci->connect_fd, SHUT_RDWR);
			return;
		}
		pc->p = p;
		pc->c = c;
		pc->fd = ci ? ci->connect_fd : -1;
		pc->owner = pthread_self();
		*socket_context = pc;
		pthread_mutex_lock(&p->lock);
		pc->tls = p->tls;
		if (pc->tls)
			pc->web = web_config_ref(p->web);
		list_add(p, pc, now_s());
		p->nconn++;
		/* Over the limit: the connection that has waited longest for a
		 * request makes room (idle and slow clients go first; one that
		 * is being answered is never cut). With none waiting, the new
		 * one is refused. */
		if (p->nconn > p->limit)
			conn_shut(p, p->head != pc || !pc->next ? p->head : pc->next,
				  &prom_evictions);
		setup = pc->tls && !pc->closing;
		pthread_mutex_unlock(&p->lock);
		if (setup)
			tls_setup(pc, c);
		return;
	}
	if (toe == MHD_CONNECTION_NOTIFY_CLOSED && pc) {
		pthread_mutex_lock(&p->lock);
		list_del(p, pc);
		if (!pc->closing)
			p->nconn--;
		pthread_mutex_unlock(&p->lock);
		web_config_unref(pc->web);
		free(pc);
		*socket_context = NULL;
	}
}

/* A request is done (answered, or cut): the connection waits again, and
 * its next request's headers get a fresh deadline. */
static void request_done(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct prom *p = cls;
	struct pconn *pc = conn_of(c);

	if (!pc)
		return;
	pthread_mutex_lock(&p->lock);
	pc->uri_seen = pc->handled = false;
	pc->auth = AUTH_NONE;
	if (!pc->closing)
		list_add(p, pc, now_s());
	pthread_mutex_unlock(&p->lock);
}

static void *uri_seen(void *cls, const char *uri, struct MHD_Connection *c)
{
	struct prom *p = cls;
	struct pconn *pc = conn_of(c);

	if (pc) {
		pthread_mutex_lock(&p->lock);
		pc->uri_seen = true;
		pthread_mutex_unlock(&p->lock);
	}
	return NULL;
}

/* libmicrohttpd 0.9.75 sends the status line and headers of its 400 (or
 * 413) for a bad Content-Length twice: its header parser queues the error,
 * then resumes the request as if none were queued. No application callback
 * runs in between, but the parser logs first, on the connection's own
 * thread, with its state at "headers received": the connection is the one
 * of this thread whose headers are all in (MHD tells their size from that
 * state on), whose request our handler has not seen, and whose
 * Content-Length is one MHD rejects. MHD parses one connection at a time
 * per thread and calls the handler in the same pass, so no other one is in
 * that state; where there is not exactly one, nothing is done. The one
 * right answer is written here and the socket shut for writing, so the
 * broken second copy fails with EPIPE and MHD closes the connection. TLS
 * connections are closed without an answer. */

/* A Content-Length MHD rejects: no digits, another character, or past
 * 64 bits (too_large: all digits). MHD has trimmed the value. */
static bool bad_length(const char *v, int too_large)
{
	uint64_t n = 0;
	size_t i;

	if (!v)
		return false;
	for (i = 0; v[i] >= '0' && v[i] <= '9'; i++) {
		if (n > (UINT64_MAX - (uint64_t)(v[i] - '0')) / 10)
			return too_large && v[i + strspn(v + i, "0123456789")] == '\0';
		n = n * 10 + (uint64_t)(v[i] - '0');
	}
	return !too_large && (i == 0 || v[i] != '\0');
}

static void fix_bad_length(struct prom *p, int too_large)
{
	static const char bad[] = "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n"
				  "Content-Type: text/plain\r\nContent-Length: 25\r\n\r\n"
				  "malformed Content-Length\n";
	static const char big[] =
	    "HTTP/1.1 413 Content Too Large\r\nConnection: close\r\n"
	    "Content-Type: text/plain\r\nContent-Length: 28\r\n\r\n"
	    "Content-Length is too large\n";
	struct pconn *hit = NULL;
	int n = 0;

	pthread_mutex_lock(&p->lock);
	for (struct pconn *pc = p->head; pc; pc = pc->next)
		if (pthread_equal(pc->owner, pthread_self()) && pc->uri_seen &&
		    !pc->handled && !pc->closing &&
		    MHD_get_connection_info(pc->c, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE) &&
		    bad_length(MHD_lookup_connection_value(pc->c, MHD_HEADER_KIND,
							   MHD_HTTP_HEADER_CONTENT_LENGTH),
			       too_large)) {
			hit = pc;
			n++;
		}
	if (n == 1) {
		conn_mark_closing(p, hit);
		if (!hit->tls && send(hit->fd, too_large ? big : bad,
				      (too_large ? sizeof(big) : sizeof(bad)) - 1,
				      MSG_NOSIGNAL | MSG_DONTWAIT) > 0)
			shutdown(hit->fd, SHUT_WR);
		else
			shutdown(hit->fd, SHUT_RDWR);
		atomic_fetch_add_explicit(&prom_bad_requests, 1, memory_order_relaxed);
	}
	pthread_mutex_unlock(&p->lock);
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
/* MHD's own messages: at debug level, and the hook for the bug above. */
static void mhd_log(void *cls, const char *fm, va_list ap)
{
	char line[512];
	size_t n;

	if (strstr(fm, "Content-Length' header"))
		fix_bad_length(cls, strstr(fm, "Too large") != NULL);
	vsnprintf(line, sizeof(line), fm, ap);
	n = strlen(line);
	while (n && (line[n - 1] == '\n' || line[n - 1] == ' '))
		line[--n] = '\0';
	log_msg(LOGL_DEBUG, PROM, "libmicrohttpd: %s", line);
}
#pragma GCC diagnostic pop

/* The rate-limit key of a client: its IPv4 address, or an IPv6 /64. */
static void addr_key(struct MHD_Connection *c, unsigned char key[16])
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	memset(key, 0, 16);
	if (sa && sa->sa_family == AF_INET)
		memcpy(key, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
	else if (sa && sa->sa_family == AF_INET6) {
		const unsigned char *a =
		    ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr;
		static const unsigned char v4map[12] = {[10] = 0xff, [11] = 0xff};

		if (!memcmp(a, v4map, 12))
			memcpy(key, a + 12, 4);
		else {
			memcpy(key + 4, a, 8);
			key[15] = 6;
		}
	}
}

static struct auth_bucket *auth_bucket(struct prom *p, const unsigned char key[16],
				       double now)
{
	unsigned h = 2166136261u;
	struct auth_bucket *b;

	for (int i = 0; i < 16; i++)
		h = (h ^ key[i]) * 16777619u;
	b = &p->ab[h % AUTH_SLOTS];
	if (!b->used || memcmp(b->addr, key, 16) != 0) {
		memcpy(b->addr, key, 16);
		b->used = true;
		b->tokens = AUTH_ADDR_BURST;
		b->at = now;
		b->last_fail = now - 2 * AUTH_CLEAN_S;
	}
	b->tokens += (now - b->at) * AUTH_ADDR_RATE;
	if (b->tokens > AUTH_ADDR_BURST)
		b->tokens = AUTH_ADDR_BURST;
	b->at = now;
	return b;
}

/* May this address run a bcrypt check now? The pool it draws on, or -1. */
static int auth_take(struct prom *p, const unsigned char key[16])
{
	double now = now_s();
	struct auth_bucket *b;
	int pool = -1;

	pthread_mutex_lock(&p->auth_lock);
	for (int i = 0; i < 2; i++) {
		p->pool[i] += (now - p->pool_at) * AUTH_CPU_RATE;
		if (p->pool[i] > AUTH_CPU_BURST)
			p->pool[i] = AUTH_CPU_BURST;
	}
	p->pool_at = now;
	b = auth_bucket(p, key, now);
	if (b->tokens >= 1.0) {
		int i = now - b->last_fail > AUTH_CLEAN_S;

		if (p->pool[i] > 0)
			pool = i;
	}
	pthread_mutex_unlock(&p->auth_lock);
	return pool;
}

/* A failed check is charged: one to its address, its time to its pool. */
static void auth_charge(struct prom *p, const unsigned char key[16], int pool,
			double spent)
{
	double now = now_s();
	struct auth_bucket *b;

	pthread_mutex_lock(&p->auth_lock);
	b = auth_bucket(p, key, now);
	b->tokens -= 1.0;
	b->last_fail = now;
	p->pool[pool] -= spent;
	pthread_mutex_unlock(&p->auth_lock);
}

/* ---- bcrypt off the HTTP thread ----
 * A check the success cache cannot answer costs a bcrypt (tens of ms at
 * cost 10). One epoll thread serves every connection, so run there it
 * would hold up every other client's request meanwhile, a scraper's too.
 * The connection is suspended and the check handed to the auth worker,
 * which answers it and resumes the connection; the handler then answers
 * 200 or 401. The rate limits above still bound the worker's bcrypt time,
 * and at most AUTH_QUEUE_MAX checks wait (past that: 429), AUTH_QUEUE_CLEAN
 * of them kept for addresses with no recent failure. */
static void *auth_main(void *arg)
{
	struct prom *p = arg;

	pthread_mutex_lock(&p->auth_lock);
	for (;;) {
		struct pconn *pc;
		bool stop;
		int ok = 0;

		while (!p->jobs && !p->auth_stop)
			pthread_cond_wait(&p->auth_wake, &p->auth_lock);
		if (!(pc = p->jobs))
			break;
		p->jobs = pc->job_next;
		if (!p->jobs)
			p->jobs_tail = NULL;
		if (p->jobs_clean == pc)
			p->jobs_clean = NULL;
		p->njobs--;
		if (pc->pool == 0)
			p->njobs_dirty--;
		stop = p->auth_stop;
		pthread_mutex_unlock(&p->auth_lock);
		if (!stop) { /* stopping: the rest are refused unchecked */
			double t0 = now_s();

			ok = web_auth_check(pc->job_web, pc->user, pc->pass);
			if (!ok)
				auth_charge(p, pc->key, pc->pool, now_s() - t0);
		}
		explicit_bzero(pc->pass, strlen(pc->pass));
		MHD_free(pc->pass);
		MHD_free(pc->user);
		pc->user = pc->pass = NULL;
		web_config_unref(pc->job_web);
		pc->job_web = NULL;
		pc->auth = ok ? AUTH_OK : AUTH_DENY;
		MHD_resume_connection(pc->c);
		pthread_mutex_lock(&p->auth_lock);
	}
	pthread_mutex_unlock(&p->auth_lock);
	return NULL;
}

/* Hand the check to the worker (taking user and pass): 0, the connection
 * suspended; -1 when the queue is full or the worker stops. */
static int auth_queue(struct prom *p, struct pconn *pc, struct web_config *w,
		      char *user, char *pass, const unsigned char key[16], int pool)
{
	pthread_mutex_lock(&p->auth_lock);
	if (!p->auth_running || p->auth_stop || p->njobs >= AUTH_QUEUE_MAX ||
	    (pool == 0 && p->njobs_dirty >= AUTH_QUEUE_MAX - AUTH_QUEUE_CLEAN)) {
		pthread_mutex_unlock(&p->auth_lock);
		return -1;
	}
	pc->user = user;
	pc->pass = pass;
	pc->job_web = web_config_ref(w);
	memcpy(pc->key, key, 16);
	pc->pool = pool;
	pc->auth = AUTH_NONE;
	pc->job_next = NULL;
	/* suspended before the worker can see it, so its resume follows */
	MHD_suspend_connection(pc->c);
	if (pool == 0) { /* after every other */
		if (p->jobs_tail)
			p->jobs_tail->job_next = pc;
		else
			p->jobs = pc;
		p->jobs_tail = pc;
		p->njobs_dirty++;
	} else { /* after the clean ones, ahead of the others */
		struct pconn **at = p->jobs_clean ? &p->jobs_clean->job_next : &p->jobs;

		pc->job_next = *at;
		*at = pc;
		if (!pc->job_next)
			p->jobs_tail = pc;
		p->jobs_clean = pc;
	}
	p->njobs++;
	pthread_cond_signal(&p->auth_wake);
	pthread_mutex_unlock(&p->auth_lock);
	return 0;
}

/* Every queued check answered and the connection resumed (MHD may not stop
 * with a connection suspended). */
static void auth_worker_stop(struct prom *p)
{
	pthread_mutex_lock(&p->auth_lock);
	p->auth_stop = true;
	pthread_cond_signal(&p->auth_wake);
	pthread_mutex_unlock(&p->auth_lock);
	if (p->auth_running)
		pthread_join(p->auth_thread, NULL);
	p->auth_running = false;
}

/* Basic auth, when the web config has users: 1 to go on, 0 for 401, -1
 * for 429 (too many failed checks from there, or in all), 2 when the check
 * went to the auth worker (the connection is suspended until it answers). */
static int authorized(struct prom *p, struct MHD_Connection *c)
{
	struct web_config *w = web_get(p);
	struct pconn *pc = conn_of(c);
	char *user, *pass = NULL;
	int ok = 1;

	if (w && w->nusers) {
		unsigned char key[16];
		int pool;

		addr_key(c, key);
		user = MHD_basic_auth_get_username_password(c, &pass);
		if (!user || !pass)
			ok = 0;
		else if (web_auth_cached(w, user, pass))
			ok = 1;
		else if ((pool = auth_take(p, key)) < 0)
			ok = -1;
		else if (pc && p->suspend) {
			if (auth_queue(p, pc, w, user, pass, key, pool) == 0) {
				ok = 2;
				user = pass = NULL; /* the worker's now */
			} else
				ok = -1; /* the queue is full (for this pool) */
		} else {
			double t0 = now_s();

			ok = web_auth_check(w, user, pass);
			if (!ok)
				auth_charge(p, key, pool, now_s() - t0);
		}
		if (pass) {
			explicit_bzero(pass, strlen(pass));
			MHD_free(pass);
		}
		if (user)
			MHD_free(user);
	}
	web_config_unref(w);
	return ok;
}

/* A request with a body: a non-zero Content-Length (MHD has checked its
 * syntax before our handler runs) or any Transfer-Encoding (chunked). */
static bool has_body(struct MHD_Connection *c)
{
	const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_LENGTH);
	const char *te = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_TRANSFER_ENCODING);

	if (te)
		return true;
	if (!cl)
		return false;
	cl += strspn(cl, " \t0");
	return *cl != '\0' && *cl != ' ' && *cl != '\t';
}

/* Everything refused is refused on the first call, before any body is
 * read: MHD sends a response queued then and closes the connection, so a
 * client trickling a body holds nothing once its headers are in. */
static enum MHD_Result refuse_early(struct prom *p, struct MHD_Connection *c,
				    const char *method, bool *refused)
{
	int a;

	*refused = true;
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
		atomic_fetch_add_explicit(&prom_bad_requests, 1, memory_order_relaxed);
		return send_static(p, c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain",
				   "method not allowed\n");
	}
	if (has_body(c)) {
		atomic_fetch_add_explicit(&prom_bad_requests, 1, memory_order_relaxed);
		return send_static(p, c, MHD_HTTP_CONTENT_TOO_LARGE, "text/plain",
				   "a request body is not accepted\n");
	}
	a = authorized(p, c);
	if (a == 2) /* suspended: the worker answers, the next call acts */
		return MHD_YES;
	if (a == 0) {
		atomic_fetch_add_explicit(&prom_unauthorized, 1, memory_order_relaxed);
		return send_static(p, c, MHD_HTTP_UNAUTHORIZED, "text/plain",
				   "Unauthorized\n");
	}
	if (a < 0) {
		atomic_fetch_add_explicit(&prom_auth_limited, 1, memory_order_relaxed);
		return send_static(p, c, MHD_HTTP_TOO_MANY_REQUESTS, "text/plain",
				   "too many failed authentications\n");
	}
	*refused = false;
	return MHD_YES;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
			       const char *method, const char *version,
			       const char *upload_data, size_t *upload_size,
			       void **con_cls)
{
	static int seen;
	struct prom *p = cls;

	/* Answer on the second call, once MHD knows the request has no body
	 * left: a response queued on the first call makes MHD close the
	 * connection, and keep-alive is most of a fast scrape. What is
	 * refused (another method, a body, basic auth) is refused on the
	 * first call, which closes. */
	if (*con_cls == NULL) {
		struct pconn *pc = conn_of(c);
		enum MHD_Result ret;
		bool refused;

		*con_cls = &seen;
		if (pc) { /* headers in: off the deadline */
			pthread_mutex_lock(&p->lock);
			pc->handled = true;
			list_del(p, pc);
			pthread_mutex_unlock(&p->lock);
		}
		ret = refuse_early(p, c, method, &refused);
		return refused ? ret : MHD_YES;
	}
	if (*upload_size) { /* not reached: a body is refused above */
		*upload_size = 0;
		return MHD_YES;
	}
	{ /* resumed by the auth worker: its answer */
		struct pconn *pc = conn_of(c);
		int a = pc ? pc->auth : AUTH_NONE;

		if (pc)
			pc->auth = AUTH_NONE;
		if (a == AUTH_DENY) {
			atomic_fetch_add_explicit(&prom_unauthorized, 1, memory_order_relaxed);
			return send_static(p, c, MHD_HTTP_UNAUTHORIZED, "text/plain",
					   "Unauthorized\n");
		}
	}
	if (strcmp(url, "/metrics") == 0)
		return send_metrics(p, c);
	if (strcmp(url, "/") == 0) {
		unsigned status;
		struct MHD_Response *r = live_page_response(&status);

		return r ? queue(p, c, status, r) : MHD_NO;
	}
	if (strcmp(url, "/-/healthy") == 0)
		return send_static(p, c, MHD_HTTP_OK, "text/plain", "OK\n");
	atomic_fetch_add_explicit(&prom_bad_requests, 1, memory_order_relaxed);
	return send_static(p, c, MHD_HTTP_NOT_FOUND, "text/plain", "not found\n");
}

/* The web config file in effect for a section: --web.config.file, else the
 * section's web_config_file; NULL for none. */
static const char *web_path_of(const struct am_config *cfg)
{
	const char *s = prom_cli_web_config ? prom_cli_web_config
					    : am_cfg_string(cfg, "web_config_file", NULL);

	return s && *s ? s : NULL;
}

void prom_set_web_config_file(const char *path)
{
	free(prom_cli_web_config);
	prom_cli_web_config = path ? strdup(path) : NULL;
}

/* A SIGHUP reads the web config for the config check, for keep and for
 * the reload: the last file loaded is kept, and handed out again while the
 * file (inode, size, mtime) and the files it names are as they were, so a
 * reload reads and builds it once. The reaper's rotation reads afresh. */
static struct {
	pthread_mutex_t lock;
	char *path;
	struct stat st;
	struct web_config *w;
} prom_memo = {.lock = PTHREAD_MUTEX_INITIALIZER};

static bool same_stat(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_dev == b->st_dev &&
	       a->st_size == b->st_size && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

static int web_load_once(const char *path, struct web_config **out, char *err,
			 size_t errlen)
{
	struct stat st;
	int rc;

	pthread_mutex_lock(&prom_memo.lock);
	if (stat(path, &st) == 0 && prom_memo.w && !strcmp(prom_memo.path, path) &&
	    same_stat(&st, &prom_memo.st) && !web_config_files_changed(prom_memo.w)) {
		*out = web_config_ref(prom_memo.w);
		pthread_mutex_unlock(&prom_memo.lock);
		return 0;
	}
	rc = web_config_load(path, out, err, errlen);
	if (rc == 0) {
		char *cp = strdup(path);

		web_config_unref(prom_memo.w);
		free(prom_memo.path);
		prom_memo.w = cp ? web_config_ref(*out) : NULL;
		prom_memo.path = cp;
		prom_memo.st = st;
		log_msg(LOGL_DEBUG, PROM, "web config read from %s", path);
	}
	pthread_mutex_unlock(&prom_memo.lock);
	return rc;
}

/* After a failed rotation the running config takes the files as seen:
 * the kept one must not hide them from the next SIGHUP's check. */
static void web_memo_forget(void)
{
	pthread_mutex_lock(&prom_memo.lock);
	web_config_unref(prom_memo.w);
	prom_memo.w = NULL;
	pthread_mutex_unlock(&prom_memo.lock);
}

int prom_web_config_check(const char *path, char *err, size_t errlen)
{
	struct web_config *w = NULL;
	int rc = web_load_once(path, &w, err, errlen);

	web_config_unref(w);
	return rc;
}

/* Re-read the web config; a bad one leaves the running one. */
static int web_reload(struct prom *p, const char *why, bool fresh)
{
	struct web_config *w = NULL, *old;
	char err[1024];
	int rc;

	if (!p->web_path)
		return 0;
	rc = fresh ? web_config_load(p->web_path, &w, err, sizeof(err))
		   : web_load_once(p->web_path, &w, err, sizeof(err));
	if (rc == 0) {
		bool same;

		pthread_mutex_lock(&p->lock); /* the reaper may swap it */
		same = w == p->web;
		pthread_mutex_unlock(&p->lock);
		if (same) { /* the running one, unchanged */
			web_config_unref(w);
			log_msg(LOGL_INFO, PROM,
				"web config reloaded from %s (%s, unchanged)",
				p->web_path, why);
			return 0;
		}
	}
	if (rc == 0 && w->tls != p->tls) {
		snprintf(err, sizeof(err),
			 "%s: TLS is turned %s; that takes a restart of the HTTP server "
			 "(SIGHUP restarts it)",
			 p->web_path, w->tls ? "on" : "off");
		web_config_unref(w);
		rc = -EINVAL;
	}
	if (rc < 0) {
		atomic_fetch_add_explicit(&prom_web_reload_failures, 1,
					  memory_order_relaxed);
		log_msg(LOGL_ERROR, PROM,
			"web config not reloaded (%s), keeping the running one: %s", why,
			err);
		return rc;
	}
	pthread_mutex_lock(&p->lock);
	old = p->web;
	/* a scraper's cached check stays good (not one bcrypt per reload) */
	web_auth_cache_carry(w, old);
	p->web = w;
	pthread_mutex_unlock(&p->lock);
	web_config_unref(old);
	log_msg(LOGL_INFO, PROM, "web config reloaded from %s (%s)", p->web_path, why);
	return 0;
}

/* The deadline for headers, and certificate rotation: a connection that has
 * waited longer than header_timeout is shut; certificate files are looked
 * at every second. */
static void *reaper_main(void *arg)
{
	struct prom *p = arg;
	double last_watch = now_s();
	struct timespec ts;

	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		double now = now_s();
		int rotate = 0;

		while (p->head && now - p->head->since >= p->header_timeout)
			conn_shut(p, p->head, &prom_header_timeouts);
		if (p->web && p->web->tls && now - last_watch >= 1.0) {
			last_watch = now;
			rotate = web_config_files_changed(p->web);
		}
		if (rotate) {
			pthread_mutex_unlock(&p->lock);
			rotate = web_reload(p, "certificate files changed", true);
			pthread_mutex_lock(&p->lock);
			if (rotate < 0 && p->web) { /* logged once per change */
				web_memo_forget();
				web_config_files_seen(p->web);
			}
			continue;
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100 * 1000 * 1000;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&p->wake, &p->lock, &ts);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/* "HOST:PORT" or "[V6]:PORT" -> a listening socket, or -errno. SO_REUSEPORT
 * is never set: the kernel's bind bucket would remember it for as long as
 * the socket lives, and any process of our user could then bind the same
 * address with it and take a share of the connections. A new address on
 * the port of the running server is handled by prom_prepare (a brief gap,
 * see there). */
static int listen_on(const char *addr, char *err, size_t errlen)
{
	char host[HOSTPORT_HOST_MAX], port[HOSTPORT_PORT_MAX];
	const char *why = hostport_split(addr, host, sizeof(host), port, sizeof(port));
	struct addrinfo hints, *res = NULL, *ai;
	int fd = -1, one = 1, rc;

	if (why) {
		snprintf(err, errlen, "listen address %s: %s (expected HOST:PORT)", addr,
			 why);
		return -EINVAL;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "listen address %s: %s", addr, gai_strerror(rc));
		return -EINVAL;
	}
	rc = -EADDRNOTAVAIL;
	for (ai = res; ai; ai = ai->ai_next) {
		/* non-blocking: through a reload two servers poll it */
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0) {
			rc = -errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		/* A deep accept queue: in a flood of connects a full one drops
		 * the scraper's handshake too, which then waits out a SYN
		 * retransmit (1 s); the kernel caps it at net.core.somaxconn. */
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 4096) == 0)
			break;
		rc = -errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		snprintf(err, errlen, "cannot listen on %s: %s", addr, strerror(-rc));
	return fd < 0 ? rc : fd;
}

/* Is fd bound to an address addr resolves to (port included)? Then a reload
 * to addr needs no new socket (127.0.0.1:P and localhost:P, say). */
static bool listens_at(int fd, const char *addr)
{
	char host[HOSTPORT_HOST_MAX], port[HOSTPORT_PORT_MAX];
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct addrinfo hints, *res = NULL;
	bool same = false;

	if (fd < 0 || hostport_split(addr, host, sizeof(host), port, sizeof(port)) ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		return false;
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if (getaddrinfo(host, port, &hints, &res) != 0)
		return false;
	for (struct addrinfo *ai = res; ai && !same; ai = ai->ai_next) {
		const struct sockaddr *a = ai->ai_addr;

		if (a->sa_family != ss.ss_family)
			continue;
		if (a->sa_family == AF_INET) {
			const struct sockaddr_in *x = (const void *)a, *y = (const void *)&ss;

			same = x->sin_port == y->sin_port &&
			       x->sin_addr.s_addr == y->sin_addr.s_addr;
		} else if (a->sa_family == AF_INET6) {
			const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)&ss;

			same = x->sin6_port == y->sin6_port &&
			       x->sin6_scope_id == y->sin6_scope_id &&
			       !memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr));
		}
	}
	freeaddrinfo(res);
	return same;
}

static void prom_free(struct prom *p)
{
	web_config_unref(p->web);
	free(p->web_path);
	pthread_cond_destroy(&p->wake);
	pthread_cond_destroy(&p->auth_wake);
	pthread_mutex_destroy(&p->lock);
	pthread_mutex_destroy(&p->auth_lock);
	prom_gz_cache_fini(&p->gz);
	free(p);
}

/* ---- the listening socket across reloads ----
 * A reload starts the new server before the running one stops (the
 * exporter has AM_EXPORTER_START_FIRST). prom_prepare, while the running
 * server still serves, gets the new server its socket: a dup of the running
 * one's where the new address resolves to the one it is bound to, else a
 * new socket (listen_on). The new server then starts on it; only once it
 * runs is the old one quiesced (no more accepts; the new one takes the
 * connections waiting in a shared socket's backlog), drained and stopped.
 * If the new one fails to start, its socket is closed and the running
 * server goes on as it was. Each server owns its socket (its own
 * descriptor). Only the main thread prepares, starts and stops.
 *
 * Another host on the same port (0.0.0.0:P -> 127.0.0.1:P) overlaps the
 * running socket, and Linux refuses that bind while the old one listens
 * (SO_REUSEPORT would allow it, and let any process of our user join the
 * port later: not used). So the running socket stops listening
 * (shutdown: it keeps its address, so going back cannot lose it; the
 * connections waiting in its backlog are reset), the new one binds and
 * listens, and the old one listens again when that bind fails or the
 * reload is refused later. Until the new server runs (the rest of the
 * reload's stops and starts: 0.73 s measured with remote write; the old
 * daemon's thread spins on the stopped socket meanwhile) a connect to the
 * port is refused, and
 * another process could bind the new address first: the reload then fails
 * and the old socket listens again (if even that fails, an error says the
 * agent no longer serves). */
static struct {
	struct prom *cur; /* the newest running server; NULL: none */
	char next_addr[PROM_ADDR_MAX];
	int next_fd; /* opened by prepare for the next start; -1: none */
	bool next_shared; /* next_fd is a dup of cur's socket */
	int paused; /* cur's socket, shut for next_fd's bind; -1: none */
} prom_sock = {.next_fd = -1, .paused = -1};

/* The running socket listens again (a host switch that did not happen). */
static void prom_resume_old(void)
{
	if (prom_sock.paused < 0)
		return;
	if (listen(prom_sock.paused, 4096) < 0)
		log_msg(LOGL_ERROR, PROM,
			"the running server on %s cannot listen again: %s; it accepts no "
			"connections until the agent is restarted or a reload succeeds",
			prom_sock.cur ? prom_sock.cur->listen : "?", strerror(errno));
	else
		log_msg(LOGL_INFO, PROM, "the running server on %s listens again",
			prom_sock.cur ? prom_sock.cur->listen : "?");
	prom_sock.paused = -1;
}

static void prom_unprepare(void)
{
	if (prom_sock.next_fd >= 0)
		close(prom_sock.next_fd);
	prom_sock.next_fd = -1;
	prom_resume_old();
}

/* The port of fd, or -1. */
static int sock_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		return -1;
	if (ss.ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)(const void *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)(const void *)&ss)->sin6_port);
	return -1;
}

/* Does addr name the port cur is bound to (another host on it)? */
static bool same_port(int cur, const char *addr)
{
	char host[HOSTPORT_HOST_MAX], port[HOSTPORT_PORT_MAX];

	if (cur < 0 || hostport_split(addr, host, sizeof(host), port, sizeof(port)))
		return false;
	return sock_port(cur) == atoi(port);
}

static int prom_prepare(const struct agent_config *agent, const struct am_config *cfg,
			char *err, size_t errlen)
{
	int cur = prom_sock.cur ? prom_sock.cur->fd : -1, fd;

	(void)cfg;
	prom_unprepare();
	prom_sock.next_shared = listens_at(cur, agent->listen);
	if (prom_sock.next_shared) {
		fd = fcntl(cur, F_DUPFD_CLOEXEC, 0);
		if (fd < 0) {
			fd = -errno;
			snprintf(err, errlen, "listen address %s: cannot share the running socket: %s",
				 agent->listen, strerror(errno));
			return fd;
		}
	} else if ((fd = listen_on(agent->listen, err, errlen)) == -EADDRINUSE &&
		   same_port(cur, agent->listen) && shutdown(cur, SHUT_RD) == 0) {
		/* another host on the running port: see above */
		prom_sock.paused = cur;
		if ((fd = listen_on(agent->listen, err, errlen)) < 0) {
			prom_resume_old();
			return fd;
		}
		log_msg(LOGL_INFO, PROM, "%s stopped listening for %s on the same port",
			prom_sock.cur->listen, agent->listen);
	} else if (fd < 0)
		return fd;
	prom_sock.next_fd = fd;
	snprintf(prom_sock.next_addr, sizeof(prom_sock.next_addr), "%s", agent->listen);
	return 0;
}

/* The socket for addr: the prepared one, or a new one (at startup). */
static int prom_take_socket(const char *addr, bool *shared, char *err, size_t errlen)
{
	int fd;

	*shared = false;
	if (prom_sock.next_fd >= 0 && !strcmp(prom_sock.next_addr, addr)) {
		fd = prom_sock.next_fd;
		*shared = prom_sock.next_shared;
		prom_sock.next_fd = -1;
		return fd;
	}
	prom_unprepare();
	return listen_on(addr, err, errlen);
}

/* A start that failed: while a server runs (a reload), say that it goes on
 * and what became of the socket prepared for the new one. */
static void prom_start_failed(const char *addr, int fd, bool shared)
{
	struct prom *cur = prom_sock.cur;

	if (fd >= 0)
		close(fd);
	prom_resume_old(); /* a host switch on the same port goes back */
	if (!cur)
		return;
	if (shared)
		log_msg(LOGL_ERROR, PROM,
			"the new server on %s did not start: the running one goes on "
			"serving its socket, which stays open; the new server's copy of it "
			"is closed",
			addr);
	else
		log_msg(LOGL_ERROR, PROM,
			"the new server on %s did not start: its new socket is closed; the "
			"running one goes on serving %s",
			addr, cur->listen);
}

static int prom_start(const struct agent_config *agent, const struct am_config *cfg,
		      void **state)
{
	struct prom *p = calloc(1, sizeof(*p));
	char err[1024];
	long long limit = am_cfg_int(cfg, "connection_limit", 512);
	long long per_ip = am_cfg_int(cfg, "per_ip_connection_limit", 32);
	long long hdr = am_cfg_int(cfg, "header_size_limit", 32768);
	long long threads = am_cfg_int(cfg, "threads", 1);
	double timeout = am_cfg_duration(cfg, "connection_timeout", 10);
	const char *path = web_path_of(cfg);
	unsigned flags =
	    MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_TURBO | MHD_USE_ERROR_LOG |
	    MHD_USE_ITC; /* MHD_quiesce_daemon needs it with an internal thread */
	struct MHD_OptionItem tls_opts[4];
	pthread_condattr_t ca;
	bool auth, shared = false;
	int rc;

	if (!p) {
		prom_start_failed(agent->listen, prom_take_socket(agent->listen, &shared,
								  err, sizeof(err)),
				  shared);
		return -ENOMEM;
	}
	p->fd = -1;
	snprintf(p->listen, sizeof(p->listen), "%s", agent->listen);
	prom_gz_cache_init(&p->gz);
	pthread_mutex_init(&p->lock, NULL);
	pthread_mutex_init(&p->auth_lock, NULL);
	p->pool[0] = p->pool[1] = AUTH_CPU_BURST;
	p->pool_at = now_s();
	pthread_condattr_init(&ca);
	pthread_cond_init(&p->wake, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&p->auth_wake, NULL);
	p->limit = (unsigned)(limit < 1 ? 1 : limit);
	p->header_timeout = am_cfg_duration(cfg, "header_timeout", 5);
	if (path) {
		p->web_path = strdup(path);
		rc = p->web_path ? web_load_once(path, &p->web, err, sizeof(err)) : -ENOMEM;
		if (rc < 0) {
			if (p->web_path)
				log_msg(LOGL_ERROR, PROM, "%s", err);
			prom_start_failed(agent->listen,
					  prom_take_socket(agent->listen, &shared, err,
							   sizeof(err)),
					  shared);
			prom_free(p);
			return rc;
		}
		p->tls = p->web->tls;
		/* the auth worker suspends connections; MHD then checks for
		 * resumed ones at each turn of its loop, a cost only paid with
		 * a web config (whose users a SIGHUP may add: the server is
		 * kept, its file the same) */
		p->suspend = true;
		flags |= MHD_ALLOW_SUSPEND_RESUME;
	}
	p->fd = prom_take_socket(agent->listen, &shared, err, sizeof(err));
	if (p->fd < 0) {
		rc = p->fd;
		log_msg(LOGL_ERROR, PROM, "%s", err);
		prom_start_failed(agent->listen, -1, false);
		prom_free(p);
		return rc;
	}
	if (threads < 1)
		threads = 1;
	memset(tls_opts, 0, sizeof(tls_opts));
	tls_opts[0].option = MHD_OPTION_END;
	if (p->tls) {
		/* MHD wants a key and certificate to start; each session is
		 * set up again from the current web config (tls_setup). */
		flags |= MHD_USE_TLS;
		tls_opts[0] =
		    (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, p->web->key_pem};
		tls_opts[1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0,
						      p->web->cert_pem};
		tls_opts[2] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0,
						      p->web->priorities};
		tls_opts[3] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
	}
	/* MHD's own limit sits above ours: connections we shut are counted
	 * by MHD until its thread has closed them, and a new one must still
	 * get in to evict a stale one. A pool of one is not the same as no
	 * pool in MHD: only ask for one when more than one thread is wanted. */
	p->d = MHD_start_daemon(
	    flags, 0, NULL, NULL, handler, p, MHD_OPTION_LISTEN_SOCKET, p->fd,
	    MHD_OPTION_CONNECTION_LIMIT, p->limit + p->limit / 4 + 16,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)per_ip,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)hdr,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(timeout < 1 ? 1 : timeout),
	    MHD_OPTION_NOTIFY_CONNECTION, notify_conn, p, MHD_OPTION_NOTIFY_COMPLETED,
	    request_done, p, MHD_OPTION_URI_LOG_CALLBACK, uri_seen, p,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, p, MHD_OPTION_ARRAY, tls_opts,
	    threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, (unsigned)threads,
	    MHD_OPTION_END);
	if (!p->d) {
		rc = errno ? -errno : -EIO;
		log_msg(LOGL_ERROR, PROM, "cannot start HTTP server on %s: %s",
			agent->listen, strerror(-rc));
		/* MHD leaves a socket it was given open when it fails */
		prom_start_failed(agent->listen, p->fd, shared);
		prom_free(p);
		return rc;
	}
	/* Read before the reaper runs: it may swap p->web from now on. */
	auth = p->web && p->web->nusers;
	/* before any request can want it */
	rc = p->suspend ? pthread_create(&p->auth_thread, NULL, auth_main, p) : 0;
	pthread_mutex_lock(&p->auth_lock);
	p->auth_running = p->suspend && rc == 0;
	pthread_mutex_unlock(&p->auth_lock);
	if (rc != 0 || (rc = pthread_create(&p->reaper, NULL, reaper_main, p)) != 0) {
		int fd = MHD_quiesce_daemon(p->d);

		auth_worker_stop(p);

		log_msg(LOGL_ERROR, PROM, "cannot start HTTP server on %s: %s",
			agent->listen, strerror(rc));
		MHD_stop_daemon(p->d); /* quiesced, it leaves the socket open */
		prom_start_failed(agent->listen, fd, shared);
		prom_free(p);
		return -rc;
	}
	prom_sock.cur = p;
	prom_sock.paused = -1; /* a switched-from socket stops with its server */
	pthread_once(&prom_stats_once, prom_stats_register);
	if (live_page_start() < 0) /* the page still answers, without history */
		log_msg(LOGL_WARN, PROM, "live page: no history sampler");
	log_msg(LOGL_INFO, PROM, "serving %s://%s/metrics%s", p->tls ? "https" : "http",
		agent->listen, auth ? " (basic auth)" : "");
	*state = p;
	return 0;
}

/* A quiesced server accepts no more; the requests it has accepted are
 * answered before it stops (an idle keep-alive connection is closed after
 * 3 s), while new connections wait in the socket's backlog for the next
 * server. 3 s, not 1: on a slow or loaded machine (a sanitizer build in
 * CI) a scrape accepted just before the quiesce took longer than a second
 * to answer and was cut off. */
static void prom_drain(struct MHD_Daemon *d)
{
	for (int i = 0; i < 300; i++) {
		const union MHD_DaemonInfo *in =
			MHD_get_daemon_info(d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);

		if (!in || in->num_connections == 0)
			return;
		usleep(10000);
	}
}

static void prom_stop(void *state)
{
	struct prom *p = state;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_signal(&p->wake);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->reaper, NULL);
	if (prom_sock.cur == p) { /* the last one: MHD closes its socket */
		auth_worker_stop(p);
		MHD_stop_daemon(p->d);
		prom_sock.cur = NULL;
		live_page_stop();
	} else { /* replaced by a reload: the new server already serves */
		int fd = MHD_quiesce_daemon(p->d);

		if (fd != MHD_INVALID_SOCKET)
			prom_drain(p->d);
		auth_worker_stop(p);
		MHD_stop_daemon(p->d); /* quiesced, it leaves the socket open */
		if (fd != MHD_INVALID_SOCKET)
			close(fd);
	}
	prom_free(p);
}

/* The server goes on through a reload when its address, every option of
 * its section and the web config file's name stay the same, and TLS stays
 * on or off (prom_reload then swaps the file's new content in). */
static int prom_keep(void *state, const struct agent_config *old,
		     const struct am_config *old_cfg, const struct agent_config *new,
		     const struct am_config *new_cfg)
{
	struct prom *p = state;
	const char *path = web_path_of(new_cfg);

	(void)old;
	/* the same address by another name (localhost for 127.0.0.1) */
	if (strcmp(p->listen, new->listen) != 0 && !listens_at(p->fd, new->listen))
		return 0;
	for (const struct am_option *o = prom_options; o->name; o++) {
		if (o->type == AM_OPT_INT &&
		    am_cfg_int(old_cfg, o->name, -1) != am_cfg_int(new_cfg, o->name, -1))
			return 0;
		if (o->type == AM_OPT_DURATION &&
		    am_cfg_duration(old_cfg, o->name, -1) !=
			am_cfg_duration(new_cfg, o->name, -1))
			return 0;
	}
	if (!path != !p->web_path || (path && strcmp(path, p->web_path) != 0))
		return 0;
	if (path) {
		struct web_config *w = NULL;
		char err[1024];
		int same = 1;

		/* A file that does not load now is reported by prom_reload,
		 * which keeps the running server and its config. */
		if (web_load_once(path, &w, err, sizeof(err)) == 0)
			same = w->tls == p->tls;
		web_config_unref(w);
		return same;
	}
	return 1;
}

/* SIGHUP on a kept server: the web config file is read again. */
static int prom_reload(void *state)
{
	return web_reload(state, "SIGHUP", false);
}

/* At config load: the web config in effect must load (FILE:LINE errors),
 * so a bad one stops startup (exit 2) or refuses the whole reload on SIGHUP
 * (the running config, server and web config stay). One given on the
 * command line is checked here too, on SIGHUP (main checks it at start,
 * before the config, for a message of its own). */
static int prom_check(const struct am_config *cfg, char *key, size_t keylen, char *why,
		      size_t whylen)
{
	const char *path = web_path_of(cfg);
	char err[1024];

	if (!path)
		return 0;
	if (prom_web_config_check(path, err, sizeof(err)) < 0) {
		snprintf(key, keylen, "web_config_file");
		snprintf(why, whylen, "%s%s",
			 prom_cli_web_config ? "(--web.config.file) " : "", err);
		return -EINVAL;
	}
	return 0;
}

const struct am_exporter prometheus_exporter = {
    .name = PROM,
    .flags = AM_EXPORTER_START_FIRST,
    .options = prom_options,
    .start = prom_start,
    .stop = prom_stop,
    .keep = prom_keep,
    .reload = prom_reload,
    .check = prom_check,
    .prepare = prom_prepare,
    .unprepare = prom_unprepare,
};
