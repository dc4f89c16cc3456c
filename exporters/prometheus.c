/* Prometheus pull exporter on libmicrohttpd.
 *
 * GET /metrics answers with the current snapshot's pre-rendered bytes (text
 * 0.0.4, or OpenMetrics 1.0.0 when the Accept header prefers it; gzip when
 * allowed) without copying them: the response holds a snapshot reference and
 * releases it when MHD is done. One internal epoll thread, an explicit
 * connection limit and a connection timeout.
 */
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agg.h"
#include "config.h"
#include "exporter.h"
#include "expo.h"
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

static const char index_html[] =
	"<!DOCTYPE html>\n<html><head><title>accelmon</title></head><body>\n"
	"<h1>accelmon</h1>\n<p>Accelerator and fabric utilization telemetry.</p>\n"
	"<ul><li><a href=\"/metrics\">/metrics</a></li>"
	"<li><a href=\"/-/healthy\">/-/healthy</a></li></ul>\n</body></html>\n";

static void release_snapshot(void *cls)
{
	snapshot_release(cls);
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

static enum MHD_Result send_metrics(struct MHD_Connection *c)
{
	const char *accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							 MHD_HTTP_HEADER_ACCEPT);
	const char *enc = MHD_lookup_connection_value(
		c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING);
	int om = expo_wants_openmetrics(accept);
	struct snapshot *s = snapshot_acquire();
	const char *body;
	size_t len;
	int gz = 0;
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (!s)
		return send_static(c, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain",
				   "no data yet\n");
	body = om ? s->om : s->text;
	len = om ? s->om_len : s->text_len;
	if (expo_accepts_gzip(enc) && snapshot_gzip(s, om, &body, &len) == 0)
		gz = 1;
	r = MHD_create_response_from_buffer_with_free_callback_cls(
		len, (void *)body, release_snapshot, s);
	if (!r) {
		snapshot_release(s);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				om ? EXPO_CT_OPENMETRICS : EXPO_CT_TEXT);
	if (gz)
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
		return send_metrics(c);
	if (strcmp(url, "/") == 0)
		return send_static(c, MHD_HTTP_OK, "text/html; charset=utf-8",
				   index_html);
	if (strcmp(url, "/-/healthy") == 0)
		return send_static(c, MHD_HTTP_OK, "text/plain", "OK\n");
	atomic_fetch_add_explicit(&prom_bad_requests, 1, memory_order_relaxed);
	return send_static(c, MHD_HTTP_NOT_FOUND, "text/plain", "not found\n");
}

/* "HOST:PORT" or "[V6]:PORT" -> a listening socket, or -errno. */
static int listen_on(const char *addr, char *err, size_t errlen)
{
	char host[256];
	const char *port = strrchr(addr, ':');
	struct addrinfo hints, *res = NULL, *ai;
	int fd = -1, one = 1, rc;
	size_t hl;

	if (!port || port == addr) {
		snprintf(err, errlen, "listen address %s: expected HOST:PORT", addr);
		return -EINVAL;
	}
	hl = (size_t)(port - addr);
	if (addr[0] == '[' && hl >= 2 && addr[hl - 1] == ']') {
		addr++;
		hl -= 2;
	}
	if (hl >= sizeof(host)) {
		snprintf(err, errlen, "listen address %s: host too long", addr);
		return -EINVAL;
	}
	memcpy(host, addr, hl);
	host[hl] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(hl ? host : NULL, port + 1, &hints, &res);
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

static int prom_start(const struct agent_config *agent, const struct am_config *cfg,
		      void **state)
{
	struct prom *p = calloc(1, sizeof(*p));
	char err[512];
	long long limit = am_cfg_int(cfg, "connection_limit", 64);
	long long threads = am_cfg_int(cfg, "threads", 1);
	double timeout = am_cfg_duration(cfg, "connection_timeout", 10);
	unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_TURBO;

	if (!p)
		return -ENOMEM;
	p->fd = listen_on(agent->listen, err, sizeof(err));
	if (p->fd < 0) {
		int rc = p->fd;

		log_msg(LOGL_ERROR, PROM, "%s", err);
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
		free(p);
		return -EIO;
	}
	pthread_once(&prom_stats_once, prom_stats_register);
	log_msg(LOGL_INFO, PROM, "serving http://%s/metrics", agent->listen);
	*state = p;
	return 0;
}

static void prom_stop(void *state)
{
	struct prom *p = state;

	if (!p)
		return;
	/* MHD closes the listening socket it was given. */
	MHD_stop_daemon(p->d);
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
};
