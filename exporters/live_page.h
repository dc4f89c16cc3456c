/* The live page of the Prometheus exporter (GET /): this node now, from the
 * snapshots, with the last 10 minutes kept in a bounded in-memory history.
 */
#ifndef ACCELMON_LIVE_PAGE_H
#define ACCELMON_LIVE_PAGE_H

#include <microhttpd.h>
#include <stddef.h>

/* Start / stop the history sampler (one thread; both idempotent). */
int live_page_start(void);
void live_page_stop(void);

/* The answer to GET / (the page: self-contained, strict CSP), for the
 * exporter to queue with its own headers: NULL when out of memory, else
 * *status is what to queue it with. */
struct MHD_Response *live_page_response(unsigned *status);

/* The page as text, for tests: 0 and *out (free it) or -errno. */
int live_page_render(char **out, size_t *len);

/* The Content-Security-Policy the page is sent with. */
extern const char live_page_csp[];

#endif
