/* The one fake of the collector API (accelmon/collector.h) for unit suites,
 * fuzzers and benchmarks: it records families, series and samples per
 * context, with poll time injected by the test, and offers lookups. Families
 * and series follow the core's identity rules (a family is its name, a view
 * its aggregation, a series its family, label names and values); options come
 * from the real option store (agent/config.c) through YAML, as in the agent.
 * Link with libaccelmon.a for config, exposition label text and the helpers.
 */
#ifndef ACCELMON_TESTS_FAKE_AM_H
#define ACCELMON_TESTS_FAKE_AM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "accelmon/collector.h"

/* What the fake knows of one series. What a sample updates comes first, in
 * one cache line, so the fake costs a benchmark little per emit. */
struct fake_series {
	unsigned nsamples; /* am_emit / am_emit_u64 calls */
	bool last_is_u64;
	bool retired;	   /* retired and not emitted since */
	bool derived;	   /* from am_series_derived */
	enum am_kind kind; /* of its view */
	double last;	   /* last sample, raw (unscaled) */
	uint64_t last_u64; /* last am_emit_u64 value */
	int64_t last_ns;   /* poll time of the last sample */
	am_family_t view;  /* the registration it was first interned with */
	unsigned retires;  /* am_series_retire and am_series_release calls */
	bool released;	   /* am_series_release: the id is given up */
	unsigned nlabels;
	char *values[AM_MAX_LABELS];
	char *key;	  /* values joined with ',' ("mlx5_0,1") */
	char *label_text; /* as exported: {device="mlx5_0",port="1"} */
	struct am_derive derive;
};

/* A context with its own registry; name is the instance's full name
 * ("infiniband", "smi/ixsmi"). sysfs NULL means "/sys". Poll time starts at
 * 1 s, the interval at 1 s. */
struct am_ctx *fake_am_new(const char *name, const char *sysfs);
void fake_am_free(struct am_ctx *ctx);

void fake_am_set_sysfs(struct am_ctx *ctx, const char *sysfs);
void fake_am_set_procfs(struct am_ctx *ctx, const char *procfs);
void fake_am_set_time(struct am_ctx *ctx, int64_t ns);
void fake_am_advance(struct am_ctx *ctx, int64_t ns);
void fake_am_set_interval(struct am_ctx *ctx, double s);

/* The collector's section as the agent would give it, from YAML text (a
 * mapping, "{peak_window: 30s}"; NULL: an empty section) checked against
 * desc's options. Owned by ctx. NULL on a config error (written to err). */
const struct am_config *fake_am_config(struct am_ctx *ctx,
				       const struct am_collector *desc, const char *yaml,
				       char *err, size_t errlen);

/* am_family of this name answers -EINVAL (defined elsewhere differently). */
void fake_am_refuse_family(struct am_ctx *ctx, const char *name);

/* What the fake does when a collector breaks the API's rules (emit on an
 * unknown or derived series, am_emit_u64 on a non-counter, a counter sample
 * that is negative or not an integer): call fn with a message. Default:
 * print it and abort(). Check suites pass a function calling ck_abort_msg. */
void fake_am_on_violation(void (*fn)(const char *msg));

/* What am_collector_running(name) answers from now on (1 running, 0
 * starting; negative: not running, the default). Process-wide. */
void fake_am_set_running(const char *name, int state);

/* ---- lookups ---- */

size_t fake_am_nfamilies(const struct am_ctx *ctx);
const struct am_family_def *fake_am_view(const struct am_ctx *ctx, am_family_t view);
/* The first registration of a family name, or NULL. */
const struct am_family_def *fake_am_family(const struct am_ctx *ctx, const char *name);

size_t fake_am_nseries(const struct am_ctx *ctx);
const struct fake_series *fake_am_series(const struct am_ctx *ctx, am_series_t id);
/* The series of family `fam` whose values joined by ',' are `key`. */
const struct fake_series *fake_am_find(const struct am_ctx *ctx, const char *fam,
				       const char *key);
/* The first series (in interning order) of `fam` whose label text contains
 * `labels` (a substring of {a="x",b="y"}). */
const struct fake_series *fake_am_match(const struct am_ctx *ctx, const char *fam,
					const char *labels);
/* The value as the core would scale it (last x the view's scale). */
double fake_am_scaled(const struct am_ctx *ctx, const struct fake_series *s);
/* Label value of s by label name, or NULL. */
const char *fake_am_label(const struct am_ctx *ctx, const struct fake_series *s,
			  const char *label);

uint64_t fake_am_samples(const struct am_ctx *ctx); /* all emits so far */
uint64_t fake_am_interns(const struct am_ctx *ctx); /* am_series calls */
uint64_t fake_am_read_errors(const struct am_ctx *ctx);
int64_t fake_am_now(const struct am_ctx *ctx);

/* am_found's text ("" when none) and am_log's lines (am_found's text is
 * recorded as a line too). Set FAKE_AM_VERBOSE to see them on stderr. */
const char *fake_am_found(const struct am_ctx *ctx);
size_t fake_am_nlogs(const struct am_ctx *ctx);
const char *fake_am_log(const struct am_ctx *ctx, size_t i);
/* Lines containing needle. */
unsigned fake_am_log_count(const struct am_ctx *ctx, const char *needle);

#endif
