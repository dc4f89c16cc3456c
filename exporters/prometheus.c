/* Prometheus pull exporter on libmicrohttpd.
 *
 * GET /metrics answers with the current snapshot's pre-rendered bytes (text
 * 0.0.4, or OpenMetrics 1.0.0 when the Accept header prefers it; gzip when
 * allowed) without copying them: the response holds a snapshot reference (or
 * a reference on the snapshot's gzip bodies, which hold the snapshot) and
 * releases it when MHD is done. Each snapshot is compressed at most once per
 * format, by the first scrape that asks. One internal epoll thread, an
 * explicit connection limit and a connection timeout.
 */
#include <ctype.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include "agg.h"
#include "config.h"
#include "exporter.h"
#include "hostport.h"
#include "exporters/live_page.h"
#include "exporters/prometheus.h"
#include "log.h"
#include "snapshot.h"

#define PROM "prometheus"

static const struct am_option prom_options[] = {
	{"connection_limit", AM_OPT_INT, "most concurrent HTTP connections (default 64)", 1,
	 65535},
	{"connection_timeout", AM_OPT_DURATION, "idle connection timeout (default 10s)", 1,
	 3600},
	{"threads", AM_OPT_INT, "HTTP worker threads (default 1)", 1, 64},
	{NULL, 0, NULL, 0, 0},
};

struct prom {
	struct MHD_Daemon *d;
	int fd;
	struct prom_gz_cache gz;
};

/* Process-wide, so they survive a restart on reload and stay registered. */
static _Atomic uint64_t prom_requests, prom_bad_requests;
static pthread_once_t prom_stats_once = PTHREAD_ONCE_INIT;

static void prom_stats_register(void)
{
	agg_stat_register("accelmon_http_requests_total",
			  "Scrapes of /metrics answered.", 1, "", &prom_requests);
	agg_stat_register("accelmon_http_bad_requests_total",
			  "HTTP requests answered 404 or 405.", 1, "",
			  &prom_bad_requests);
}

/* Parse one media range of an Accept header: type and q (default 1). */
static void media_range(const char *s, size_t len, char *type, size_t tcap, double *q,
			char *version, size_t vcap)
{
	size_t i = 0, t = 0;

	*q = 1.0;
	version[0] = '\0';
	while (i < len && isspace((unsigned char)s[i]))
		i++;
	while (i < len && s[i] != ';' && !isspace((unsigned char)s[i])) {
		if (t + 1 < tcap)
			type[t++] = (char)tolower((unsigned char)s[i]);
		i++;
	}
	type[t] = '\0';
	while (i < len) {
		size_t k, v = 0;

		while (i < len && (s[i] == ';' || isspace((unsigned char)s[i])))
			i++;
		k = i;
		while (i < len && s[i] != ';')
			i++;
		if (i - k > 2 && strncasecmp(s + k, "q=", 2) == 0) {
			char tmp[16];
			size_t m =
			    i - k - 2 < sizeof(tmp) - 1 ? i - k - 2 : sizeof(tmp) - 1;

			memcpy(tmp, s + k + 2, m);
			tmp[m] = '\0';
			*q = strtod(tmp, NULL);
		} else if (i - k > 8 && strncasecmp(s + k, "version=", 8) == 0) {
			for (size_t j = k + 8;
			     j < i && v + 1 < vcap && !isspace((unsigned char)s[j]); j++)
				version[v++] = s[j];
			version[v] = '\0';
		}
	}
}

int prom_wants_openmetrics(const char *accept)
{
	double om_q = 0, text_q = 0;

	if (!accept)
		return 0;
	while (*accept) {
		const char *end = strchr(accept, ',');
		size_t len = end ? (size_t)(end - accept) : strlen(accept);
		char type[64], version[32];
		double q;

		media_range(accept, len, type, sizeof(type), &q, version,
			    sizeof(version));
		if (strcmp(type, "application/openmetrics-text") == 0) {
			/* We speak 1.0.0 only; an unversioned range takes it too. */
			if ((!version[0] || strcmp(version, "1.0.0") == 0) && q > om_q)
				om_q = q;
		} else if (strcmp(type, "text/plain") == 0 || strcmp(type, "*/*") == 0 ||
			   strcmp(type, "text/*") == 0) {
			if (q > text_q)
				text_q = q;
		}
		if (!end)
			break;
		accept = end + 1;
	}
	return om_q > 0 && om_q >= text_q;
}

int prom_accepts_gzip(const char *enc)
{
	double gzip_q = -1, star_q = -1;

	if (!enc)
		return 0;
	while (*enc) {
		const char *end = strchr(enc, ',');
		size_t len = end ? (size_t)(end - enc) : strlen(enc);
		char type[64], version[8];
		double q;

		media_range(enc, len, type, sizeof(type), &q, version, sizeof(version));
		if (strcmp(type, "gzip") == 0)
			gzip_q = q;
		else if (strcmp(type, "*") == 0)
			star_q = q;
		if (!end)
			break;
		enc = end + 1;
	}
	/* An explicit gzip entry wins over the wildcard (RFC 9110 12.5.3). */
	return gzip_q >= 0 ? gzip_q > 0 : star_q > 0;
}

/* Gzip bodies of one snapshot. The cache holds one reference, every response
 * in flight another; the last one frees the bodies and releases the snapshot.
 * body[] is written only under the cache lock, before the pointer is handed
 * out, and never changes after. */
struct prom_gz {
	atomic_int refs;
	struct snapshot *snap;
	char *body[2];
	size_t len[2];
};

void prom_gz_release(struct prom_gz *e)
{
	if (!e || atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) != 1)
		return;
	snapshot_release(e->snap);
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
	if (c->cur && c->cur->snap == s) {
		snapshot_release(s); /* the entry holds it */
		e = c->cur;
	} else {
		e = calloc(1, sizeof(*e));
		if (!e) {
			pthread_mutex_unlock(&c->lock);
			snapshot_release(s);
			return -ENOMEM;
		}
		atomic_init(&e->refs, 1);
		e->snap = s;
		prom_gz_release(c->cur);
		c->cur = e;
	}
	if (!e->body[om]) {
		rc = gzip_body(om ? s->om : s->text, om ? s->om_len : s->text_len,
			       &e->body[om], &e->len[om]);
		if (rc < 0) {
			/* Left unmade: the next scrape tries again. */
			pthread_mutex_unlock(&c->lock);
			return rc;
		}
		c->made++;
	}
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

static enum MHD_Result send_static(struct MHD_Connection *c, unsigned status,
				   const char *type, const char *body)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(
		strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result send_metrics(struct prom *p, struct MHD_Connection *c)
{
	const char *accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							 MHD_HTTP_HEADER_ACCEPT);
	const char *enc = MHD_lookup_connection_value(
		c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING);
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
		return send_static(c, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain",
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
	ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	atomic_fetch_add_explicit(&prom_requests, 1, memory_order_relaxed);
	return ret;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c,
			       const char *url, const char *method,
			       const char *version, const char *upload_data,
			       size_t *upload_size, void **con_cls)
{
	static int seen;

	/* Answer on the second call, once MHD knows the request has no body
	 * left: a response queued on the first call makes MHD close the
	 * connection, and keep-alive is most of a fast scrape. */
	if (*con_cls == NULL) {
		*con_cls = &seen;
		return MHD_YES;
	}
	if (*upload_size) { /* a body we do not want: swallow it */
		*upload_size = 0;
		return MHD_YES;
	}
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
		atomic_fetch_add_explicit(&prom_bad_requests, 1, memory_order_relaxed);
		return send_static(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain",
				   "method not allowed\n");
	}
	if (strcmp(url, "/metrics") == 0)
		return send_metrics(cls, c);
	if (strcmp(url, "/") == 0)
		return live_page_send(c);
	if (strcmp(url, "/-/healthy") == 0)
		return send_static(c, MHD_HTTP_OK, "text/plain", "OK\n");
	atomic_fetch_add_explicit(&prom_bad_requests, 1, memory_order_relaxed);
	return send_static(c, MHD_HTTP_NOT_FOUND, "text/plain", "not found\n");
}

/* "HOST:PORT" or "[V6]:PORT" -> a listening socket, or -errno. */
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
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			rc = -errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 128) == 0)
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

/* ---- the listening socket across reloads ----
 * The socket outlives the server when a reload restarts the server on the
 * same address (an option changed): the old one is quiesced and the new
 * one takes its socket, so no scrape meets a refused connection. A socket
 * for a new address is opened by prom_prepare while the running server
 * still serves, so a reload that cannot listen changes nothing. Only the
 * main thread prepares, starts and stops. */
#define PROM_ADDR_MAX (HOSTPORT_HOST_MAX + HOSTPORT_PORT_MAX + 4)
static struct {
	char addr[PROM_ADDR_MAX]; /* of fd */
	int fd;                   /* the running server's socket; -1: none */
	bool hold;                /* the next stop keeps fd for the next start */
	char next_addr[PROM_ADDR_MAX];
	int next_fd; /* opened by prepare for the next start; -1: none */
} prom_sock = {.fd = -1, .next_fd = -1};

static void prom_unprepare(void)
{
	prom_sock.hold = false;
	if (prom_sock.next_fd >= 0)
		close(prom_sock.next_fd);
	prom_sock.next_fd = -1;
}

static int prom_prepare(const struct agent_config *agent, const struct am_config *cfg,
			char *err, size_t errlen)
{
	int fd;

	(void)cfg;
	prom_unprepare();
	if (prom_sock.fd >= 0 && !strcmp(prom_sock.addr, agent->listen)) {
		prom_sock.hold = true;
		return 0;
	}
	if ((fd = listen_on(agent->listen, err, errlen)) < 0)
		return fd;
	prom_sock.next_fd = fd;
	snprintf(prom_sock.next_addr, sizeof(prom_sock.next_addr), "%s", agent->listen);
	return 0;
}

/* The socket for addr: the prepared one, the held one, or a new one. */
static int prom_take_socket(const char *addr, char *err, size_t errlen)
{
	int fd;

	if (prom_sock.next_fd >= 0 && !strcmp(prom_sock.next_addr, addr)) {
		fd = prom_sock.next_fd;
		prom_sock.next_fd = -1;
	} else if (prom_sock.hold && prom_sock.fd >= 0 &&
		   !strcmp(prom_sock.addr, addr)) {
		prom_sock.hold = false;
		return prom_sock.fd;
	} else if ((fd = listen_on(addr, err, errlen)) < 0)
		return fd;
	prom_unprepare();
	if (prom_sock.fd >= 0)
		close(prom_sock.fd); /* the old address's, its server stopped */
	prom_sock.fd = fd;
	snprintf(prom_sock.addr, sizeof(prom_sock.addr), "%s", addr);
	return fd;
}

static int prom_start(const struct agent_config *agent, const struct am_config *cfg,
		      void **state)
{
	struct prom *p = calloc(1, sizeof(*p));
	char err[512];
	long long limit = am_cfg_int(cfg, "connection_limit", 64);
	long long threads = am_cfg_int(cfg, "threads", 1);
	double timeout = am_cfg_duration(cfg, "connection_timeout", 10);
	/* ITC: MHD_quiesce_daemon needs it with an internal thread. */
	unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_TURBO | MHD_USE_ITC;

	if (!p)
		return -ENOMEM;
	prom_gz_cache_init(&p->gz);
	p->fd = prom_take_socket(agent->listen, err, sizeof(err));
	if (p->fd < 0) {
		int rc = p->fd;

		log_msg(LOGL_ERROR, PROM, "%s", err);
		prom_gz_cache_fini(&p->gz);
		free(p);
		return rc;
	}
	if (limit < 1)
		limit = 1;
	if (threads < 1)
		threads = 1;
	/* A pool of one is not the same as no pool in MHD: only ask for one
	 * when more than one thread is wanted. */
	p->d = MHD_start_daemon(
		flags, 0, NULL, NULL, handler, p, MHD_OPTION_LISTEN_SOCKET, p->fd,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)limit,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(timeout < 1 ? 1 : timeout),
		threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END,
		(unsigned)threads, MHD_OPTION_END);
	if (!p->d) {
		log_msg(LOGL_ERROR, PROM, "cannot start HTTP server on %s", agent->listen);
		close(p->fd);
		prom_sock.fd = -1;
		prom_gz_cache_fini(&p->gz);
		free(p);
		return -EIO;
	}
	pthread_once(&prom_stats_once, prom_stats_register);
	if (live_page_start() < 0) /* the page still answers, without history */
		log_msg(LOGL_WARN, PROM, "live page: no history sampler");
	log_msg(LOGL_INFO, PROM, "serving http://%s/metrics", agent->listen);
	*state = p;
	return 0;
}

/* A quiesced server accepts no more; the requests it has accepted are
 * answered before it stops (an idle keep-alive connection is closed after
 * a second), while new connections wait in the socket's backlog for the
 * next server. */
static void prom_drain(struct MHD_Daemon *d)
{
	for (int i = 0; i < 100; i++) {
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
	/* MHD closes the listening socket it was given, unless a reload holds
	 * it for the next server: quiesced, MHD lets go of it. */
	if (!prom_sock.hold || MHD_quiesce_daemon(p->d) == MHD_INVALID_SOCKET)
		prom_sock.fd = -1;
	else
		prom_drain(p->d);
	MHD_stop_daemon(p->d);
	live_page_stop();
	prom_gz_cache_fini(&p->gz);
	free(p);
}

/* The server goes on through a reload when its address and every option
 * of its section stay the same. */
static int prom_keep(void *state, const struct agent_config *old,
		     const struct am_config *old_cfg, const struct agent_config *new,
		     const struct am_config *new_cfg)
{
	(void)state;
	if (strcmp(old->listen, new->listen) != 0)
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
	return 1;
}

const struct am_exporter prometheus_exporter = {
	.name = PROM,
	.flags = 0,
	.options = prom_options,
	.start = prom_start,
	.stop = prom_stop,
	.keep = prom_keep,
	.prepare = prom_prepare,
	.unprepare = prom_unprepare,
};
