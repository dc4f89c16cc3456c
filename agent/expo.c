/* Exposition formats: escaping and number formatting exactly as the text
 * 0.0.4 and OpenMetrics 1.0.0 specifications require, and family headers.
 * (HTTP negotiation belongs to the Prometheus exporter.)
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expo.h"
#include "series.h"

static int buf_reserve(struct buf *b, size_t extra)
{
	size_t need = b->len + extra + 1, ncap;
	char *n;

	if (b->oom)
		return -1;
	if (need <= b->cap)
		return 0;
	ncap = b->cap ? b->cap : 4096;
	while (ncap < need)
		ncap *= 2;
	n = realloc(b->p, ncap);
	if (!n) {
		b->oom = 1;
		return -1;
	}
	b->p = n;
	b->cap = ncap;
	b->p[b->len] = '\0'; /* a fresh buffer is a valid empty string */
	return 0;
}

void buf_put(struct buf *b, const char *s, size_t n)
{
	if (buf_reserve(b, n) < 0)
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void buf_puts(struct buf *b, const char *s)
{
	buf_put(b, s, strlen(s));
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || buf_reserve(b, (size_t)n) < 0)
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void buf_free(struct buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static char *escape(const char *s, int quote)
{
	struct buf b = {0};

	buf_reserve(&b, strlen(s));
	for (; *s; s++) {
		if (*s == '\\')
			buf_put(&b, "\\\\", 2);
		else if (*s == '\n')
			buf_put(&b, "\\n", 2);
		else if (quote && *s == '"')
			buf_put(&b, "\\\"", 2);
		else
			buf_put(&b, s, 1);
	}
	if (b.oom) {
		buf_free(&b);
		return NULL;
	}
	return b.p ? b.p : strdup("");
}

char *expo_escape_help(const char *s)
{
	return escape(s, 0);
}

char *expo_escape_label_value(const char *s)
{
	return escape(s, 1);
}

char *expo_label_text(unsigned nlabels, const char *const *names,
		      const char *const *values)
{
	struct buf b = {0};

	if (nlabels == 0)
		return strdup("");
	buf_put(&b, "{", 1);
	for (unsigned i = 0; i < nlabels; i++) {
		char *v = expo_escape_label_value(values[i]);

		if (!v) {
			buf_free(&b);
			return NULL;
		}
		buf_printf(&b, "%s%s=\"%s\"", i ? "," : "", names[i], v);
		free(v);
	}
	buf_put(&b, "}", 1);
	if (b.oom) {
		buf_free(&b);
		return NULL;
	}
	/* Kept for the series' lifetime: its size, not the buffer's 4 KiB
	 * minimum (every series paid 4 KiB for some 60 bytes of text). */
	char *fit = realloc(b.p, b.len + 1);
	return fit ? fit : b.p;
}

int expo_format_double(char *buf, size_t cap, double v)
{
	if (isnan(v))
		return snprintf(buf, cap, "NaN");
	if (isinf(v))
		return snprintf(buf, cap, v > 0 ? "+Inf" : "-Inf");
	/* Integers up to 2^53 print exactly without an exponent. */
	if (v == floor(v) && fabs(v) < 9007199254740992.0)
		return snprintf(buf, cap, "%.0f", v);
	for (int prec = 15; prec <= 17; prec++) {
		int n = snprintf(buf, cap, "%.*g", prec, v);

		if (strtod(buf, NULL) == v || prec == 17)
			return n;
	}
	return 0;
}

int expo_format_u64(char *buf, size_t cap, uint64_t v)
{
	return snprintf(buf, cap, "%" PRIu64, v);
}

static const char *type_name(const struct family *f, int openmetrics)
{
	switch (f->kind) {
	case AM_COUNTER:
	case AM_INTEGRAL:
		return "counter";
	case AM_INFO:
		return openmetrics ? "info" : "gauge";
	default:
		return "gauge";
	}
}

void expo_family_header(struct buf *b, const struct family *f, int openmetrics)
{
	size_t n = strlen(f->name);
	const char *t = type_name(f, openmetrics);

	/* OpenMetrics names the family without the sample suffix: a counter
	 * "x_total" is family "x", an info "y_info" is family "y". */
	if (openmetrics && (f->kind == AM_COUNTER || f->kind == AM_INTEGRAL))
		n -= strlen("_total");
	else if (openmetrics && f->kind == AM_INFO)
		n -= strlen("_info");
	/* OpenMetrics HELP is an escaped string: a double quote is escaped
	 * too; the text format escapes only backslash and newline. */
	buf_printf(b, "# HELP %.*s %s\n# TYPE %.*s %s\n", (int)n, f->name,
		   openmetrics && f->help_om ? f->help_om : f->help_escaped, (int)n,
		   f->name, t);
	if (openmetrics && f->unit) {
		size_t u = strlen(f->unit);

		/* UNIT must match the family name's suffix, or be left out. */
		if (n > u + 1 && f->name[n - u - 1] == '_' &&
		    strncmp(f->name + n - u, f->unit, u) == 0)
			buf_printf(b, "# UNIT %.*s %s\n", (int)n, f->name, f->unit);
	}
}

/* Length of the valid UTF-8 character at s (1-4), or 0 when s starts an
 * invalid sequence; *bad is then the length of its maximal subpart (the
 * bytes that one U+FFFD stands for, as Unicode 3.9 recommends). Overlong
 * forms, surrogates and code points above U+10FFFF are invalid. */
static size_t utf8_char(const unsigned char *s, size_t *bad)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t need, i;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		need = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		need = 3;
		if (c == 0xe0)
			lo = 0xa0; /* overlong below U+0800 */
		else if (c == 0xed)
			hi = 0x9f; /* surrogates U+D800..DFFF */
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 4;
		if (c == 0xf0)
			lo = 0x90; /* overlong below U+10000 */
		else if (c == 0xf4)
			hi = 0x8f; /* above U+10FFFF */
	} else {
		*bad = 1; /* 0x80..0xc1 (continuation, overlong lead), 0xf5..0xff */
		return 0;
	}
	for (i = 1; i < need; i++) {
		if (s[i] < lo || s[i] > hi) {
			*bad = i; /* s[i] may be NUL: the string ended mid-character */
			return 0;
		}
		lo = 0x80;
		hi = 0xbf;
	}
	return need;
}

/* The one cleaning loop: invalid sequences become U+FFFD, and out (max + 1
 * bytes) gets whole characters up to max bytes. */
static size_t clean_utf8(const char *in, char *out, size_t max, unsigned *what)
{
	static const char fffd[] = "\xef\xbf\xbd";
	const unsigned char *s = (const unsigned char *)in;
	size_t len = 0;

	*what = 0;
	while (*s) {
		size_t bad = 0, n = utf8_char(s, &bad);
		const char *from = n ? (const char *)s : fffd;
		size_t w = n ? n : 3;

		if (!n)
			*what |= EXPO_CLEAN_REPLACED;
		if (len + w > max) {
			/* Whole characters only: the cut never splits one. */
			*what |= EXPO_CLEAN_CUT;
			break;
		}
		memcpy(out + len, from, w);
		len += w;
		s += n ? n : bad;
	}
	out[len] = '\0';
	return len;
}

size_t expo_clean_label_value(const char *in, char *out, unsigned *what)
{
	return clean_utf8(in, out, EXPO_LABEL_VALUE_MAX, what);
}

char *expo_clean_utf8(const char *in)
{
	/* Each invalid byte becomes at most 3 bytes (U+FFFD). */
	size_t max = 3 * strlen(in);
	char *out = malloc(max + 1);
	unsigned what;

	if (out)
		clean_utf8(in, out, max, &what);
	return out;
}
