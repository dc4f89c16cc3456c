/* Prometheus exporter internals, exposed for its tests: HTTP content
 * negotiation (Accept, Accept-Encoding) and the gzip cache that compresses
 * each published snapshot at most once per format, whatever the scrape rate.
 */
#ifndef ACCELMON_PROMETHEUS_H
#define ACCELMON_PROMETHEUS_H

#include <pthread.h>
#include <stddef.h>

#define PROM_CT_TEXT "text/plain; version=0.0.4; charset=utf-8"
#define PROM_CT_OPENMETRICS "application/openmetrics-text; version=1.0.0; charset=utf-8"

/* Content negotiation on an Accept header: 1 when OpenMetrics 1.0.0 is
 * preferred (q at least that of text/plain), 0 for text 0.0.4. */
int prom_wants_openmetrics(const char *accept);
/* 1 when an Accept-Encoding header allows gzip (q > 0). */
int prom_accepts_gzip(const char *accept_encoding);

/* The gzip bodies of one snapshot; holds a reference on the snapshot. */
struct prom_gz;

/* The entry of the newest snapshot a gzip scrape has seen. */
struct prom_gz_cache {
	pthread_mutex_t lock; /* guards cur and the making of its bodies */
	struct prom_gz *cur;  /* holds one reference */
	unsigned long made;   /* gzip bodies made so far (for the tests) */
};

void prom_gz_cache_init(struct prom_gz_cache *c);
/* Drop the cache's reference (responses in flight keep theirs). */
void prom_gz_cache_fini(struct prom_gz_cache *c);

/* The current snapshot's gzip body for format (0 text, 1 OpenMetrics), made
 * by the first caller that asks and shared by every later one. Returns 0 and
 * sets *ref to a reference for the caller (release it with prom_gz_release
 * once the body is sent), *body and *len to the bytes; or -EAGAIN before the
 * first snapshot, -ENOMEM or -EIO when compression failed (*ref NULL: send
 * the plain body instead). */
int prom_gz_get(struct prom_gz_cache *c, int openmetrics, struct prom_gz **ref,
		const char **body, size_t *len);
void prom_gz_release(struct prom_gz *ref);

/* --web.config.file: wins over the config's exporters.prometheus.
 * web_config_file (NULL: none given). */
void prom_set_web_config_file(const char *path);
/* Load and drop the web config at path: 0, or -EINVAL with "FILE:LINE:
 * key: problem" in err (main exits 2 on it). */
int prom_web_config_check(const char *path, char *err, size_t errlen);

#endif
