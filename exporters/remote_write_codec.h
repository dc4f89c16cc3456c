/* Remote write 1.0 wire side, without I/O: label sets (sorted, limited),
 * WriteRequest encoding with protobuf-c plus snappy block compression, the
 * decoder the tests and the benchmark receiver use, and the retry policy
 * (which HTTP answers are retried, backoff with jitter, Retry-After).
 */
#ifndef ACCELMON_REMOTE_WRITE_CODEC_H
#define ACCELMON_REMOTE_WRITE_CODEC_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "exporters/remote_write.pb-c.h"

/* Mimir's max_label_names_per_series and VictoriaMetrics'
 * -maxLabelsPerTimeseries default, __name__ included. */
#define RW_MAX_LABELS 30
/* The Prometheus stale marker: a NaN no arithmetic produces. */
#define RW_STALE_NAN_BITS 0x7ff0000000000002ull

struct rw_label {
	const char *name, *value;
};

/* The label set of one series: __name__ = metric, the series' own labels,
 * then the external labels the series does not already carry (a series
 * label wins, as in Prometheus). Labels with an empty value are left out
 * (an empty value means "no such label"). Sorted by name into out[max].
 * Returns the count, -E2BIG beyond max labels, -EINVAL for a duplicate
 * name in names[], a name "__name__" or an empty metric name. */
int rw_labels_build(const char *metric, unsigned n, const char *const *names,
		    const char *const *values, const struct rw_label *ext, unsigned next,
		    struct rw_label *out, unsigned max);

/* A name valid for a label ([a-zA-Z_][a-zA-Z0-9_]*, not starting "__"). */
int rw_label_name_ok(const char *s);

/* One sample line of the agent's text exposition, `name{a="x",b="y"} 1.5`
 * or `name 1.5` (no timestamp), parsed in place: label values are
 * unescaped (\\, \", \n) and everything is cut with NULs. At most max
 * labels into names[]/values[]. 0, -EINVAL for a line that is not such a
 * sample (a comment, a bad label list or value), -E2BIG past max labels. */
int rw_parse_sample_line(char *line, const char **metric, const char **names,
			 const char **values, unsigned max, unsigned *n, double *value);

/* Stale marker value. */
double rw_stale_nan(void);
int rw_is_stale_nan(double v);

/* One request under construction: each series with one sample. */
struct rw_encoder {
	Prometheus__TimeSeries *ts;
	Prometheus__TimeSeries **tsp;
	Prometheus__Sample *smp;
	Prometheus__Sample **smpp;
	size_t n, cap;
	uint8_t *pb, *body;
	size_t pbcap, bodycap;
};

void rw_enc_init(struct rw_encoder *e);
void rw_enc_free(struct rw_encoder *e);
/* Start a request of up to n series (0 or -ENOMEM). */
int rw_enc_begin(struct rw_encoder *e, size_t n);
/* Add a series; labels must stay valid until rw_enc_finish. */
void rw_enc_add(struct rw_encoder *e, Prometheus__Label **labels, size_t nlabels,
		double value, int64_t ts_ms);
/* Pack and snappy-compress; *body (owned by e, valid until the next begin)
 * is the HTTP body. 0 or -ENOMEM / -EIO. */
int rw_enc_finish(struct rw_encoder *e, const uint8_t **body, size_t *len);

/* Snappy-decode and unpack a request body (free with
 * prometheus__write_request__free_unpacked(r, NULL)). 0, -EINVAL (not
 * snappy, not a WriteRequest) or -ENOMEM. */
int rw_decode(const uint8_t *body, size_t len, Prometheus__WriteRequest **out);

/* What to do with a batch after an answer. status is the HTTP status, or
 * 0 when no answer came (connection refused or reset, timeout). */
enum rw_action {
	RW_DONE,  /* 2xx: sent */
	RW_RETRY, /* 5xx, 429 (when retry_429), no answer: back off, retry */
	RW_DROP,  /* other 4xx (400 invalid, 409 out of order...), 1xx/3xx */
};
enum rw_action rw_classify(long status, int retry_429);

/* Delay before retry number `attempt` (0 for the first): min_s doubled per
 * attempt up to max_s, with jitter (rnd01 in [0,1) picks a point in the upper
 * half, so endpoints that failed together spread out); a Retry-After larger
 * than that wins, capped at retry_after_max_s. */
double rw_backoff_s(unsigned attempt, double min_s, double max_s, double retry_after_s,
		    double retry_after_max_s, double rnd01);

/* Retry-After: delta seconds or an HTTP date (relative to now). 0 and the
 * delay in seconds (>= 0), or -EINVAL. */
int rw_parse_retry_after(const char *v, time_t now, double *out_s);

#endif
