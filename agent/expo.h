/* Exposition formats: escaping, number formatting and family headers for
 * text 0.0.4 and OpenMetrics 1.0.0. Pure functions, used by the aggregator
 * when it renders a snapshot (HTTP negotiation is the Prometheus exporter's).
 */
#ifndef ACCELMON_EXPO_H
#define ACCELMON_EXPO_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "accelmon/collector.h"

struct family;

/* Growable byte buffer; on allocation failure `oom` is set and writes stop. */
struct buf {
	char *p;
	size_t len, cap;
	int oom;
};

void buf_put(struct buf *b, const char *s, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void buf_free(struct buf *b);

/* HELP text: escape backslash and newline (both formats). Malloc'ed. */
char *expo_escape_help(const char *s);
/* Label value: escape backslash, double quote and newline. Malloc'ed. */
char *expo_escape_label_value(const char *s);
#define EXPO_LABEL_VALUE_MAX AM_LABEL_VALUE_MAX
#define EXPO_CLEAN_REPLACED 0x1u /* invalid UTF-8 replaced with U+FFFD */
#define EXPO_CLEAN_CUT 0x2u	 /* cut to EXPO_LABEL_VALUE_MAX bytes */
/* Make a label value valid exposition text: each invalid UTF-8 sequence
 * (overlong, surrogate, truncated, stray byte) becomes U+FFFD, and a value
 * longer than EXPO_LABEL_VALUE_MAX bytes is cut at the last whole character
 * that fits. out holds EXPO_LABEL_VALUE_MAX + 1 bytes; returns its length
 * and sets *what to the EXPO_CLEAN_* flags of what was changed (0: none). */
size_t expo_clean_label_value(const char *in, char *out, unsigned *what);
/* The same cleaning without a length limit (HELP text), malloc'ed. */
char *expo_clean_utf8(const char *in);
/* `{name="value",...}` for n labels, or "" without labels. Malloc'ed. */
char *expo_label_text(unsigned n, const char *const *names,
		      const char *const *values);

/* Shortest text that parses back to the same double; NaN, +Inf, -Inf.
 * Returns the length written (buf of at least 32 bytes). */
int expo_format_double(char *buf, size_t cap, double v);
int expo_format_u64(char *buf, size_t cap, uint64_t v);

/* # HELP / # TYPE (and # UNIT in OpenMetrics) lines of a family. */
void expo_family_header(struct buf *b, const struct family *f, int openmetrics);

#endif
