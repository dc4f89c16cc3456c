/* Live page (GET / of the Prometheus exporter): every accelerator and fabric
 * port of this node now, with utilization, memory, power and temperature, and
 * the last 10 minutes as small inline SVG charts, for an operator with no
 * Grafana. A sampler thread reads the current snapshot every LP_PERIOD_S into
 * a bounded history (LP_MAX_ROWS rows x LP_POINTS points); a request renders
 * one self-contained page: no script, no external request, a strict CSP that
 * allows only the page's own style block (by hash), a meta refresh.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "expo.h"
#include "exporters/live_page.h"
#include "series.h"
#include "snapshot.h"

#define LP_PERIOD_S 5
#define LP_POINTS 120 /* 10 minutes */
#define LP_MAX_ROWS 512
#define LP_SLOTS (2 * LP_MAX_ROWS)

/* What a row charts: an accelerator's utilization, memory in use (share),
 * power, temperature; a port's transmit and receive utilization. */
enum { M_UTIL, M_MEM, M_POWER, M_TEMP, M_N };
#define M_TX M_UTIL
#define M_RX M_MEM

struct lp_row {
	/* "d" DEVICE US UUID or "p" DEVICE US PORT, US the unit separator
	 * (0x1f): no label value the page shows is cut by it */
	char key[160];
	int is_port;
	float hist[M_N][LP_POINTS];
};

/* A row's values in one snapshot. */
struct lp_now {
	double v[M_N], mem_used, mem_total;
	int up, temp_pref;
	const char *device, *port, *model, *vendor;
};

static struct {
	pthread_mutex_t lock; /* rows, slots, head, count */
	pthread_cond_t wake;
	pthread_t thread;
	int running, stop;
	struct lp_row *rows;
	size_t nrows, dropped; /* rows beyond LP_MAX_ROWS are not kept */
	int slot[LP_SLOTS];    /* hash of key -> row index + 1 */
	unsigned head, count;  /* next history column, columns filled */
} lp = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

/* The page's only style; its SHA-256 is in the CSP (tests/integration/
 * live_page.sh recomputes it from the page, so an edit here without the
 * hash fails there). */
#define LP_STYLE                                                                         \
	"body{font:14px "                                                                \
	"system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}"               \
	"h1{font-size:1.4em;margin:0}h2{font-size:1.1em;margin:1.2em 0 .4em}"            \
	".sub{color:#666;margin:.2em 0 1em}"                                             \
	"table{border-collapse:collapse;background:#fff}"                                \
	"th,td{padding:.3em .7em;border-bottom:1px solid #ddd;text-align:left;"          \
	"white-space:nowrap}"                                                            \
	"th{background:#eee;font-weight:600}.v{display:inline-block;min-width:5.5em}"    \
	".up{color:#176f2c}.down{color:#b00020;font-weight:600}.gone{color:#888}"        \
	"svg{vertical-align:middle;background:#f3f3f3}"

const char live_page_csp[] =
    "default-src 'none'; style-src "
    "'sha256-wtrwv4Jv67Fi6Kxv7OAKBg9jJk/5Ix8BhKjyPmX4waE='; "
    "img-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

static uint32_t lp_hash(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s)
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return h;
}

/* Row of key, created (history empty) when new; -1 when full. */
static int lp_row_find(const char *key, int is_port)
{
	uint32_t i = lp_hash(key) % LP_SLOTS;
	struct lp_row *r;

	for (;; i = (i + 1) % LP_SLOTS) {
		int k = lp.slot[i];

		if (!k)
			break;
		if (strcmp(lp.rows[k - 1].key, key) == 0)
			return k - 1;
	}
	if (lp.nrows >= LP_MAX_ROWS) {
		lp.dropped++;
		return -1;
	}
	r = &lp.rows[lp.nrows];
	snprintf(r->key, sizeof(r->key), "%s", key);
	r->is_port = is_port;
	for (int m = 0; m < M_N; m++)
		for (int p = 0; p < LP_POINTS; p++)
			r->hist[m][p] = NAN;
	lp.slot[i] = (int)++lp.nrows;
	return (int)lp.nrows - 1;
}

static const char *lp_label(const struct series *se, const char *name)
{
	for (unsigned i = 0; i < se->view->nlabels; i++)
		if (strcmp(se->view->labels[i], name) == 0)
			return se->values[i];
	return NULL;
}

/* now[row]: the values of snapshot s, rows created as they appear. Label
 * strings point into the series registry (append-only, never freed). */
static void lp_collect(const struct snapshot *s, struct lp_now *now)
{
	for (size_t r = 0; r < LP_MAX_ROWS; r++) {
		memset(&now[r], 0, sizeof(now[r]));
		now[r].up = -1;
		for (int m = 0; m < M_N; m++)
			now[r].v[m] = NAN;
		now[r].mem_used = now[r].mem_total = NAN;
	}
	for (size_t i = 0; i < s->nvalues; i++) {
		const struct series *se = series_get(s->values[i].series);
		const char *name, *dev, *id, *dir, *sensor;
		double v = s->values[i].value;
		char key[160];
		int port, row;
		struct lp_now *n;

		if (!se)
			continue;
		name = se->fam->name;
		if (strncmp(name, "accel_", 6) != 0 &&
		    strncmp(name, "fabric_port_", 12) != 0)
			continue;
		port = name[0] == 'f';
		dev = lp_label(se, "device");
		id = lp_label(se, port ? "port" : "uuid");
		if (!dev || !id)
			continue;
		if (port && strcmp(name, "fabric_port_up") != 0 &&
		    strcmp(name, "fabric_port_utilization_ratio") != 0)
			continue;
		snprintf(key, sizeof(key), "%c%s\x1f%s", port ? 'p' : 'd', dev, id);
		row = lp_row_find(key, port);
		if (row < 0)
			continue;
		n = &now[row];
		n->device = dev;
		n->port = port ? id : NULL;
		if (strcmp(name, "accel_up") == 0 ||
		    strcmp(name, "fabric_port_up") == 0) {
			n->up = v != 0;
		} else if (strcmp(name, "fabric_port_utilization_ratio") == 0) {
			dir = lp_label(se, "direction");
			if (dir)
				n->v[strcmp(dir, "receive") == 0 ? M_RX : M_TX] = v;
		} else if (strcmp(name, "accel_info") == 0) {
			n->model = lp_label(se, "model");
			n->vendor = lp_label(se, "vendor");
		} else if (strcmp(name, "accel_utilization_ratio") == 0) {
			n->v[M_UTIL] = v;
		} else if (strcmp(name, "accel_memory_used_bytes") == 0) {
			n->mem_used = v;
		} else if (strcmp(name, "accel_memory_total_bytes") == 0) {
			n->mem_total = v;
		} else if (strcmp(name, "accel_power_watts") == 0) {
			n->v[M_POWER] = v;
		} else if (strcmp(name, "accel_temperature_celsius") == 0) {
			/* the die's sensor where there is one, else the first */
			sensor = lp_label(se, "sensor");
			int pref = sensor && (strcmp(sensor, "gpu") == 0 ||
					      strcmp(sensor, "edge") == 0);

			if (isnan(n->v[M_TEMP]) || (pref && !n->temp_pref)) {
				n->v[M_TEMP] = v;
				n->temp_pref = pref;
			}
		}
	}
	for (size_t r = 0; r < lp.nrows; r++)
		if (!lp.rows[r].is_port && now[r].mem_total > 0)
			now[r].v[M_MEM] = now[r].mem_used / now[r].mem_total;
}

static void lp_sample(struct lp_now *now)
{
	struct snapshot *s = snapshot_acquire();

	if (!s)
		return;
	pthread_mutex_lock(&lp.lock);
	lp_collect(s, now);
	for (size_t r = 0; r < lp.nrows; r++)
		for (int m = 0; m < M_N; m++)
			lp.rows[r].hist[m][lp.head] = (float)now[r].v[m];
	lp.head = (lp.head + 1) % LP_POINTS;
	if (lp.count < LP_POINTS)
		lp.count++;
	pthread_mutex_unlock(&lp.lock);
	snapshot_release(s);
}

static void *lp_main(void *arg)
{
	struct lp_now *now = arg;
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	pthread_mutex_lock(&lp.lock);
	while (!lp.stop) {
		pthread_mutex_unlock(&lp.lock);
		lp_sample(now);
		pthread_mutex_lock(&lp.lock);
		t.tv_sec += LP_PERIOD_S;
		while (!lp.stop &&
		       pthread_cond_timedwait(&lp.wake, &lp.lock, &t) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&lp.lock);
	free(now);
	return NULL;
}

int live_page_start(void)
{
	pthread_condattr_t ca;
	struct lp_now *now;
	int rc;

	if (lp.running)
		return 0;
	if (!lp.rows && !(lp.rows = calloc(LP_MAX_ROWS, sizeof(*lp.rows))))
		return -ENOMEM;
	now = calloc(LP_MAX_ROWS, sizeof(*now));
	if (!now)
		return -ENOMEM;
	/* the sampler waits on the monotonic clock: a wall-clock step
	 * neither stalls nor rushes it */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_destroy(&lp.wake);
	pthread_cond_init(&lp.wake, &ca);
	pthread_condattr_destroy(&ca);
	lp.stop = 0;
	rc = pthread_create(&lp.thread, NULL, lp_main, now);
	if (rc) {
		free(now);
		return -rc;
	}
	lp.running = 1;
	return 0;
}

void live_page_stop(void)
{
	if (!lp.running)
		return;
	pthread_mutex_lock(&lp.lock);
	lp.stop = 1;
	pthread_cond_signal(&lp.wake);
	pthread_mutex_unlock(&lp.lock);
	pthread_join(lp.thread, NULL);
	lp.running = 0;
}

/* Outside data (label values) never breaks the page: HTML-escaped. */
static void html(struct buf *b, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&':
			buf_puts(b, "&amp;");
			break;
		case '<':
			buf_puts(b, "&lt;");
			break;
		case '>':
			buf_puts(b, "&gt;");
			break;
		case '"':
			buf_puts(b, "&quot;");
			break;
		case '\'':
			buf_puts(b, "&#39;");
			break;
		default:
			buf_put(b, s, 1);
			break;
		}
	}
}

/* A 240 x 24 chart of the history (2 px a point), oldest left; values over
 * `max` clip, gaps (not reported) break the line. */
static void chart(struct buf *b, const struct lp_row *r, int m, double max)
{
	int open = 0;

	buf_puts(b,
		 "<svg width=\"240\" height=\"24\" viewBox=\"0 0 240 24\" role=\"img\">");
	for (unsigned k = 0; k < lp.count; k++) {
		unsigned p = (lp.head + LP_POINTS - lp.count + k) % LP_POINTS;
		double v = r->hist[m][p];

		if (isnan(v)) {
			if (open)
				buf_puts(b, "\"/>");
			open = 0;
			continue;
		}
		if (v > max)
			v = max;
		if (v < 0)
			v = 0;
		if (!open)
			buf_puts(b, "<polyline fill=\"none\" stroke=\"#1f6feb\" "
				    "stroke-width=\"1.5\" "
				    "points=\"");
		buf_printf(b, "%s%u,%.1f", open ? " " : "",
			   2 * (LP_POINTS - lp.count + k) + 1, 23 - 22 * v / max);
		open = 1;
	}
	if (open)
		buf_puts(b, "\"/>");
	buf_puts(b, "</svg>");
}

static double hist_max(const struct lp_row *r, int m, double floor)
{
	double max = floor;

	for (unsigned p = 0; p < LP_POINTS; p++)
		if (!isnan(r->hist[m][p]) && r->hist[m][p] > max)
			max = r->hist[m][p];
	return max;
}

/* A value (times scale, then unit, e.g. 100 and "%") and its chart. */
static void cell(struct buf *b, const struct lp_row *r, int m, double v, double max,
		 double scale, const char *unit)
{
	buf_puts(b, "<td><span class=\"v\">");
	if (isnan(v)) {
		buf_puts(b, "-");
	} else {
		buf_printf(b, "%.0f", v * scale);
		buf_puts(b, unit);
	}
	buf_puts(b, "</span> ");
	chart(b, r, m, max);
	buf_puts(b, "</td>");
}

static const char *state(int up)
{
	return up < 0 ? "<td class=\"gone\">not reported</td>"
	       : up   ? "<td class=\"up\">up</td>"
		      : "<td class=\"down\">down</td>";
}

static void render_rows(struct buf *b, const struct lp_now *now, int ports)
{
	for (size_t i = 0; i < lp.nrows; i++) {
		const struct lp_row *r = &lp.rows[i];
		const struct lp_now *n = &now[i];
		/* names from the key: a row gone from the snapshot has no labels */
		char dev[160];
		const char *id = strchr(r->key, '\x1f') + 1;

		if (r->is_port != ports)
			continue;
		snprintf(dev, sizeof(dev), "%.*s", (int)(id - 1 - (r->key + 1)),
			 r->key + 1);
		buf_puts(b, ports ? "<tr class=\"port\" data-name=\""
				  : "<tr class=\"device\" data-name=\"");
		html(b, dev);
		if (ports) {
			buf_puts(b, "/");
			html(b, id);
		}
		buf_puts(b, "\"><td>");
		html(b, dev);
		if (ports) {
			buf_puts(b, " port ");
			html(b, id);
			buf_puts(b, "</td>");
			buf_puts(b, state(n->up));
			cell(b, r, M_TX, n->v[M_TX], 1, 100, "%");
			cell(b, r, M_RX, n->v[M_RX], 1, 100, "%");
		} else {
			buf_puts(b, "</td><td>");
			html(b, n->model ? n->model : "");
			buf_puts(b, "</td>");
			buf_puts(b, state(n->up));
			cell(b, r, M_UTIL, n->v[M_UTIL], 1, 100, "%");
			buf_puts(b, "<td><span class=\"v\">");
			if (n->mem_total > 0)
				buf_printf(b, "%.1f / %.0f GiB",
					   n->mem_used / 1073741824.0,
					   n->mem_total / 1073741824.0);
			else
				buf_puts(b, "-");
			buf_puts(b, "</span> ");
			chart(b, r, M_MEM, 1);
			buf_puts(b, "</td>");
			cell(b, r, M_POWER, n->v[M_POWER], hist_max(r, M_POWER, 100), 1,
			     " W");
			cell(b, r, M_TEMP, n->v[M_TEMP], hist_max(r, M_TEMP, 100), 1,
			     " &#8451;");
		}
		buf_puts(b, "</tr>\n");
	}
}

int live_page_render(char **out, size_t *len)
{
	struct snapshot *s = snapshot_acquire();
	struct lp_now *now = calloc(LP_MAX_ROWS, sizeof(*now));
	struct buf b = {0};
	char host[256] = "this node", when[64] = "";
	time_t t = time(NULL);
	struct tm tm;
	size_t nd = 0, np = 0;

	if (!now || !s) {
		free(now);
		if (s)
			snapshot_release(s);
		return -ENOMEM;
	}
	gethostname(host, sizeof(host) - 1);
	if (gmtime_r(&t, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	pthread_mutex_lock(&lp.lock);
	if (!lp.rows && !(lp.rows = calloc(LP_MAX_ROWS, sizeof(*lp.rows)))) {
		pthread_mutex_unlock(&lp.lock);
		snapshot_release(s);
		free(now);
		return -ENOMEM;
	}
	lp_collect(s, now);
	for (size_t i = 0; i < lp.nrows; i++)
		lp.rows[i].is_port ? np++ : nd++;
	buf_puts(
	    &b,
	    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	    "<meta http-equiv=\"refresh\" content=\"5\">"
	    "<meta name=\"viewport\" content=\"width=device-width\"><title>accelmon: ");
	html(&b, host);
	buf_puts(&b,
		 "</title><style>" LP_STYLE "</style></head><body>\n<h1>accelmon on ");
	html(&b, host);
	buf_printf(
	    &b,
	    "</h1>\n<p class=\"sub\">%s &middot; %zu accelerator%s, %zu port%s &middot; "
	    "charts: the last %u s (up to 10 minutes), a point every %d s%s &middot; "
	    "<a href=\"/metrics\">/metrics</a></p>\n",
	    when, nd, nd == 1 ? "" : "s", np, np == 1 ? "" : "s", lp.count * LP_PERIOD_S,
	    LP_PERIOD_S,
	    lp.dropped ? " (more rows than the page keeps: some are left out)" : "");
	buf_puts(
	    &b,
	    "<h2>Accelerators</h2>\n<table id=\"accelerators\"><thead><tr>"
	    "<th>device</th><th>model</th><th>state</th><th>utilization</th>"
	    "<th>memory</th><th>power</th><th>temperature</th></tr></thead><tbody>\n");
	render_rows(&b, now, 0);
	buf_puts(
	    &b, "</tbody></table>\n<h2>Fabric ports</h2>\n<table id=\"ports\"><thead><tr>"
		"<th>port</th><th>state</th><th>transmit</th><th>receive</th></tr>"
		"</thead><tbody>\n");
	render_rows(&b, now, 1);
	buf_puts(&b, "</tbody></table>\n</body></html>\n");
	pthread_mutex_unlock(&lp.lock);
	snapshot_release(s);
	free(now);
	if (b.oom) {
		buf_free(&b);
		return -ENOMEM;
	}
	*out = b.p;
	*len = b.len;
	return 0;
}

struct MHD_Response *live_page_response(unsigned *status)
{
	struct MHD_Response *r;
	char *page;
	size_t len;

	if (live_page_render(&page, &len) < 0) {
		static const char msg[] = "out of memory\n";

		*status = MHD_HTTP_SERVICE_UNAVAILABLE;
		return MHD_create_response_from_buffer(sizeof(msg) - 1, (void *)msg,
						       MHD_RESPMEM_PERSISTENT);
	}
	r = MHD_create_response_from_buffer(len, page, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(page);
		return NULL;
	}
	MHD_add_response_header(r, "Content-Type", "text/html; charset=utf-8");
	MHD_add_response_header(r, "Content-Security-Policy", live_page_csp);
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	*status = MHD_HTTP_OK;
	return r;
}
