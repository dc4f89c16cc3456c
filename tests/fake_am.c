/* The one fake of the collector API (see fake_am.h): every am_* function of
 * accelmon/collector.h and accelmon/schema.h that the agent implements in
 * agent/plugin_api.c, recording into a per-context registry instead of the
 * rings and the aggregator. am_cfg_* are not here: the real option store
 * answers them (agent/config.c, from libaccelmon.a).
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accelmon/schema.h"
#include "accelmon/util.h"
#include "config.h"
#include "expo.h"
#include "fake_am.h"
#include "schema.h"

#define FAKE_MAX_VIEWS 1024
#define FAKE_MAX_LOGS 4096
#define FAKE_MAX_REFUSED 8
#define FAKE_MAX_CONFIGS 16

struct fake_view {
	struct am_family_def def; /* strings owned; bits/scale/window as given */
	int fam;		  /* index of the first view of this name */
};

struct am_ctx {
	char *name;
	const char *sysfs, *procfs;
	int64_t now_ns;
	double interval_s;
	struct fake_view views[FAKE_MAX_VIEWS];
	size_t nviews;
	struct fake_series *series;
	char **ident; /* per series: family, label names and values */
	size_t nseries, cap;
	uint32_t *htab; /* open addressing over ident, UINT32_MAX = empty */
	size_t hcap;
	uint64_t samples, interns, read_errors;
	char found[512];
	char *logs[FAKE_MAX_LOGS];
	size_t nlogs;
	const char *refused[FAKE_MAX_REFUSED];
	struct agent_config *configs[FAKE_MAX_CONFIGS];
	size_t nconfigs;
	unsigned call_depth; /* am_call_begin not yet ended */
};

static void fake_default_violation(const char *msg)
{
	fprintf(stderr, "fake_am: collector API misuse: %s\n", msg);
	abort();
}

static void (*fake_violation_fn)(const char *) = fake_default_violation;

void fake_am_on_violation(void (*fn)(const char *msg))
{
	fake_violation_fn = fn ? fn : fake_default_violation;
}

static void fake_violation(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fake_violation(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fake_violation_fn(msg);
}

static char *fake_strdup(const char *s)
{
	char *d = strdup(s ? s : "");

	if (!d)
		abort(); /* a test without memory has nothing left to test */
	return d;
}

struct am_ctx *fake_am_new(const char *name, const char *sysfs)
{
	struct am_ctx *ctx = calloc(1, sizeof(*ctx));

	if (!ctx)
		abort();
	ctx->name = fake_strdup(name ? name : "fake");
	ctx->sysfs = sysfs ? sysfs : "/sys";
	ctx->procfs = "/proc";
	ctx->now_ns = 1000000000LL;
	ctx->interval_s = 1.0;
	return ctx;
}

void fake_am_free(struct am_ctx *ctx)
{
	if (!ctx)
		return;
	for (size_t i = 0; i < ctx->nviews; i++) {
		struct am_family_def *d = &ctx->views[i].def;

		free((char *)d->name);
		free((char *)d->help);
		free((char *)d->unit);
		for (int k = 0; k < AM_MAX_LABELS && d->labels[k]; k++)
			free((char *)d->labels[k]);
	}
	for (size_t i = 0; i < ctx->nseries; i++) {
		struct fake_series *s = &ctx->series[i];

		for (unsigned k = 0; k < s->nlabels; k++)
			free(s->values[k]);
		free(s->key);
		free(s->label_text);
		free(ctx->ident[i]);
	}
	free(ctx->series);
	free(ctx->ident);
	free(ctx->htab);
	for (size_t i = 0; i < ctx->nlogs; i++)
		free(ctx->logs[i]);
	for (size_t i = 0; i < ctx->nconfigs; i++)
		config_free(ctx->configs[i]);
	free(ctx->name);
	free(ctx);
}

void fake_am_set_sysfs(struct am_ctx *ctx, const char *sysfs)
{
	ctx->sysfs = sysfs ? sysfs : "/sys";
}

void fake_am_set_procfs(struct am_ctx *ctx, const char *procfs)
{
	ctx->procfs = procfs ? procfs : "/proc";
}

void fake_am_set_time(struct am_ctx *ctx, int64_t ns)
{
	ctx->now_ns = ns;
}

void fake_am_advance(struct am_ctx *ctx, int64_t ns)
{
	ctx->now_ns += ns;
}

void fake_am_set_interval(struct am_ctx *ctx, double s)
{
	ctx->interval_s = s;
}

const struct am_config *fake_am_config(struct am_ctx *ctx,
				       const struct am_collector *desc, const char *yaml,
				       char *err, size_t errlen)
{
	struct cfg_component comp = {desc->name, desc->options,
				     (desc->flags & AM_COLLECTOR_NEEDS_CONFIG) != 0};
	struct agent_config *cfg = NULL;
	size_t len = strlen(desc->name) + (yaml ? strlen(yaml) : 2) + 32;
	char *text = malloc(len);
	const struct cfg_section *sec;

	if (!text || ctx->nconfigs == FAKE_MAX_CONFIGS) {
		free(text);
		snprintf(err, errlen, "fake_am: too many configs");
		return NULL;
	}
	snprintf(text, len, "collectors:\n  %s: %s\n", desc->name, yaml ? yaml : "{}");
	if (config_parse(text, strlen(text), "fake_am", &comp, 1, NULL, 0, &cfg, err,
			 errlen) < 0) {
		free(text);
		return NULL;
	}
	free(text);
	ctx->configs[ctx->nconfigs++] = cfg;
	sec = config_collector(cfg, desc->name);
	return sec ? sec->opts : NULL;
}

void fake_am_refuse_family(struct am_ctx *ctx, const char *name)
{
	for (int i = 0; i < FAKE_MAX_REFUSED; i++)
		if (!ctx->refused[i]) {
			ctx->refused[i] = name;
			return;
		}
}

/* ---- registration, with the core's rules ---- */

static bool fake_name_ok(const char *s, bool colon)
{
	if (!s || !*s)
		return false;
	for (const char *p = s; *p; p++) {
		char c = (char)(*p | 32);

		if (!((c >= 'a' && c <= 'z') || *p == '_' || (colon && *p == ':') ||
		      (p != s && *p >= '0' && *p <= '9')))
			return false;
	}
	return true;
}

static bool fake_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Counter, gauge or info: what a family is exposed as. */
static int fake_kind_class(enum am_kind k)
{
	return k == AM_COUNTER || k == AM_INTEGRAL ? 1 : k == AM_INFO ? 2 : 0;
}

static unsigned fake_nlabels(const struct am_family_def *d)
{
	unsigned n = 0;

	while (n < AM_MAX_LABELS && d->labels[n])
		n++;
	return n;
}

/* -EINVAL for what series_family_register refuses. */
static int fake_def_check(const struct am_family_def *def)
{
	unsigned n;

	if (!def || !fake_name_ok(def->name, true) || def->kind < AM_GAUGE ||
	    def->kind > AM_INFO)
		return -EINVAL;
	if ((def->kind == AM_COUNTER || def->kind == AM_INTEGRAL) !=
	    fake_suffix(def->name, "_total"))
		return -EINVAL;
	if (def->kind == AM_INFO && !fake_suffix(def->name, "_info"))
		return -EINVAL;
	n = fake_nlabels(def);
	for (unsigned i = 0; i < n; i++) {
		if (!fake_name_ok(def->labels[i], false) ||
		    strncmp(def->labels[i], "__", 2) == 0)
			return -EINVAL;
		for (unsigned j = 0; j < i; j++)
			if (strcmp(def->labels[i], def->labels[j]) == 0)
				return -EINVAL;
	}
	if (def->bits > 64 || !(def->scale >= 0) || !isfinite(def->scale) ||
	    !(def->window_s >= 0) || !isfinite(def->window_s))
		return -EINVAL;
	return 0;
}

static bool fake_same_view(const struct am_family_def *a, const struct am_family_def *b)
{
	unsigned n = fake_nlabels(a);

	if (a->kind != b->kind || (a->bits ? a->bits : 64) != (b->bits ? b->bits : 64) ||
	    a->saturating != b->saturating ||
	    (a->scale != 0 ? a->scale : 1) != (b->scale != 0 ? b->scale : 1) ||
	    (a->window_s > 0 ? a->window_s : 15) !=
		(b->window_s > 0 ? b->window_s : 15) ||
	    n != fake_nlabels(b))
		return false;
	for (unsigned i = 0; i < n; i++)
		if (strcmp(a->labels[i], b->labels[i]) != 0)
			return false;
	return true;
}

static am_family_t fake_register(struct am_ctx *ctx, const struct am_family_def *def)
{
	int fam = -1;
	struct am_family_def *d;

	for (size_t i = 0; i < ctx->nviews; i++) {
		const struct fake_view *v = &ctx->views[i];

		if (strcmp(v->def.name, def->name) != 0)
			continue;
		if (fake_kind_class(v->def.kind) != fake_kind_class(def->kind))
			return -EINVAL;
		fam = v->fam;
		if (fake_same_view(&v->def, def))
			return (am_family_t)i;
	}
	if (ctx->nviews == FAKE_MAX_VIEWS)
		return -ENOMEM;
	d = &ctx->views[ctx->nviews].def;
	*d = *def;
	d->name = fake_strdup(def->name);
	d->help = fake_strdup(def->help);
	d->unit = def->unit ? fake_strdup(def->unit) : NULL;
	for (unsigned k = 0; k < fake_nlabels(def); k++)
		d->labels[k] = fake_strdup(def->labels[k]);
	ctx->views[ctx->nviews].fam = fam >= 0 ? fam : (int)ctx->nviews;
	return (am_family_t)ctx->nviews++;
}

/* Checks, the test's refusals, then the registry (both entry points). */
static am_family_t fake_family(struct am_ctx *ctx, const struct am_family_def *def)
{
	int rc = fake_def_check(def);

	for (int i = 0; rc == 0 && i < FAKE_MAX_REFUSED && ctx->refused[i]; i++)
		if (strcmp(ctx->refused[i], def->name) == 0)
			rc = -EINVAL;
	if (rc == 0)
		rc = fake_register(ctx, def);
	if (rc < 0)
		am_log(ctx, AM_LOG_ERROR, "cannot register family %s",
		       def && def->name ? def->name : "(null)");
	return rc;
}

am_family_t am_family(struct am_ctx *ctx, const struct am_family_def *def)
{
	/* The shared names belong to am_std_family. */
	if (def && def->name && schema_is_std_name(def->name)) {
		am_log(ctx, AM_LOG_ERROR, "cannot register family %s: a schema family",
		       def->name);
		return -EINVAL;
	}
	return fake_family(ctx, def);
}

am_family_t am_std_family(struct am_ctx *ctx, enum am_std which,
			  const struct am_std_use *use)
{
	struct am_family_def def;
	const char *why = "";

	/* The core's own merge of the schema entry and the collector's use. */
	if (schema_family_def(which, use, &def, &why) < 0) {
		am_log(ctx, AM_LOG_ERROR, "schema family %d: %s", (int)which, why);
		return -EINVAL;
	}
	return fake_family(ctx, &def);
}

/* ---- series ---- */

static uint64_t fake_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static void fake_htab_grow(struct am_ctx *ctx)
{
	size_t ncap = ctx->hcap ? ctx->hcap * 2 : 1024;
	uint32_t *n = malloc(ncap * sizeof(*n));

	if (!n)
		abort();
	memset(n, 0xff, ncap * sizeof(*n));
	for (size_t id = 0; id < ctx->nseries; id++) {
		size_t i = fake_hash(ctx->ident[id]) & (ncap - 1);

		while (n[i] != UINT32_MAX)
			i = (i + 1) & (ncap - 1);
		n[i] = (uint32_t)id;
	}
	free(ctx->htab);
	ctx->htab = n;
	ctx->hcap = ncap;
}

/* "fam\x1fname=value\x1f..." : what makes two interned series one. */
static char *fake_ident(const struct am_ctx *ctx, am_family_t view,
			const char *const *values)
{
	const struct am_family_def *d = &ctx->views[view].def;
	unsigned n = fake_nlabels(d);
	size_t len = 16;
	char *s, *p;

	for (unsigned i = 0; i < n; i++)
		len += strlen(d->labels[i]) + strlen(values[i]) + 2;
	s = p = malloc(len);
	if (!s)
		abort();
	p += sprintf(p, "%d\x1f", ctx->views[view].fam);
	for (unsigned i = 0; i < n; i++)
		p += sprintf(p, "%s=%s\x1f", d->labels[i], values[i]);
	return s;
}

static am_series_t fake_intern(struct am_ctx *ctx, am_family_t view,
			       const char *const *raw)
{
	/* Values cleaned as the agent's registry does (valid UTF-8, at most
	 * AM_LABEL_VALUE_MAX bytes), so collector tests see what is exported. */
	char clean[AM_MAX_LABELS][EXPO_LABEL_VALUE_MAX + 1];
	const char *values[AM_MAX_LABELS];
	const struct am_family_def *d;
	struct fake_series *s;
	unsigned n, what;
	char *ident;
	size_t i, klen = 1;

	if (view < 0 || (size_t)view >= ctx->nviews)
		return AM_SERIES_INVALID;
	d = &ctx->views[view].def;
	n = fake_nlabels(d);
	for (unsigned k = 0; k < n; k++) {
		if (!raw || !raw[k])
			return AM_SERIES_INVALID;
		expo_clean_label_value(raw[k], clean[k], &what);
		values[k] = clean[k];
	}
	ident = fake_ident(ctx, view, values);
	if ((ctx->nseries + 1) * 2 > ctx->hcap)
		fake_htab_grow(ctx);
	for (i = fake_hash(ident) & (ctx->hcap - 1); ctx->htab[i] != UINT32_MAX;
	     i = (i + 1) & (ctx->hcap - 1))
		if (strcmp(ctx->ident[ctx->htab[i]], ident) == 0) {
			free(ident);
			return ctx->htab[i];
		}
	if (ctx->nseries == ctx->cap) {
		size_t ncap = ctx->cap ? ctx->cap * 2 : 256;

		ctx->series = realloc(ctx->series, ncap * sizeof(*ctx->series));
		ctx->ident = realloc(ctx->ident, ncap * sizeof(*ctx->ident));
		if (!ctx->series || !ctx->ident)
			abort();
		ctx->cap = ncap;
	}
	s = &ctx->series[ctx->nseries];
	memset(s, 0, sizeof(*s));
	s->view = view;
	s->kind = d->kind;
	s->nlabels = n;
	for (unsigned k = 0; k < n; k++) {
		s->values[k] = fake_strdup(values[k]);
		klen += strlen(values[k]) + 1;
	}
	s->key = calloc(1, klen);
	if (!s->key)
		abort();
	for (unsigned k = 0; k < n; k++) {
		if (k)
			strcat(s->key, ",");
		strcat(s->key, values[k]);
	}
	s->label_text = expo_label_text(n, (const char *const *)d->labels,
					(const char *const *)s->values);
	if (!s->label_text)
		abort();
	ctx->ident[ctx->nseries] = ident;
	ctx->htab[i] = (uint32_t)ctx->nseries;
	return (am_series_t)ctx->nseries++;
}

am_series_t am_series(struct am_ctx *ctx, am_family_t fam,
		      const char *const *label_values)
{
	ctx->interns++;
	return fake_intern(ctx, fam, label_values);
}

static struct fake_series *fake_emit_target(struct am_ctx *ctx, am_series_t id)
{
	struct fake_series *s;

	if (id == AM_SERIES_INVALID)
		return NULL; /* the core ignores it too */
	if (id >= ctx->nseries) {
		fake_violation("%s: sample for series %u, never interned", ctx->name, id);
		return NULL;
	}
	s = &ctx->series[id];
	if (s->released) {
		fake_violation("%s: sample for series %u (%s%s) after am_series_release",
			       ctx->name, id, ctx->views[s->view].def.name, s->label_text);
		return NULL;
	}
	if (s->derived) {
		fake_violation("%s: sample for derived series %s%s", ctx->name,
			       ctx->views[s->view].def.name, s->label_text);
		return NULL;
	}
	ctx->samples++;
	s->nsamples++;
	s->last_ns = ctx->now_ns;
	s->retired = false;
	return s;
}

void am_emit(struct am_ctx *ctx, am_series_t series, double value)
{
	struct fake_series *s = fake_emit_target(ctx, series);

	if (!s)
		return;
	/* The aggregator drops such counter samples: a collector bug. */
	if (s->kind == AM_COUNTER &&
	    !(value >= 0 && value < 18446744073709551616.0 && value == floor(value)))
		fake_violation("%s: counter %s%s got %.17g", ctx->name,
			       ctx->views[s->view].def.name, s->label_text, value);
	s->last = value;
	s->last_is_u64 = false;
}

void am_emit_u64(struct am_ctx *ctx, am_series_t series, uint64_t raw)
{
	struct fake_series *s = fake_emit_target(ctx, series);

	if (!s)
		return;
	if (s->kind != AM_COUNTER)
		fake_violation("%s: am_emit_u64 on %s%s, not an AM_COUNTER view",
			       ctx->name, ctx->views[s->view].def.name, s->label_text);
	s->last = (double)raw;
	s->last_u64 = raw;
	s->last_is_u64 = true;
}

void am_series_retire(struct am_ctx *ctx, am_series_t series)
{
	if (series == AM_SERIES_INVALID)
		return;
	if (series >= ctx->nseries) {
		fake_violation("%s: retire of series %u, never interned", ctx->name,
			       series);
		return;
	}
	ctx->series[series].retires++;
	ctx->series[series].retired = true;
}

void am_series_release(struct am_ctx *ctx, am_series_t series)
{
	struct fake_series *s;
	char *gone;

	if (series == AM_SERIES_INVALID)
		return;
	if (series >= ctx->nseries) {
		fake_violation("%s: release of series %u, never interned", ctx->name,
			       series);
		return;
	}
	s = &ctx->series[series];
	if (s->released) {
		fake_violation("%s: release of series %u, already released", ctx->name,
			       series);
		return;
	}
	s->retires++;
	s->retired = true;
	/* Derived series and their inputs keep their ids (collector.h). */
	if (s->derived)
		return;
	for (size_t i = 0; i < ctx->nseries; i++) {
		const struct am_derive *d = &ctx->series[i].derive;

		if (ctx->series[i].derived &&
		    (d->a == series || d->b == series || d->capacity == series))
			return;
	}
	s->released = true;
	/* Out of the lookup: the same labels intern a new series. An ident
	 * that starts with 0x01 matches none (fake_ident never writes it). */
	gone = malloc(strlen(ctx->ident[series]) + 2);
	if (!gone)
		abort();
	gone[0] = '\x01';
	strcpy(gone + 1, ctx->ident[series]);
	free(ctx->ident[series]);
	ctx->ident[series] = gone;
}

/* The kind of the view series s was interned with; -1 when s is not one. */
static int fake_input_kind(const struct am_ctx *ctx, am_series_t s)
{
	return s < ctx->nseries ? (int)ctx->series[s].kind : -1;
}

am_series_t am_series_derived(struct am_ctx *ctx, am_family_t fam,
			      const char *const *label_values, const struct am_derive *d)
{
	int ka = d ? fake_input_kind(ctx, d->a) : -1;
	bool ok = false;
	am_series_t id;

	if (d && d->op == AM_DERIVE_RATIO)
		ok = ka == AM_COUNTER &&
		     (d->b == AM_SERIES_INVALID ||
		      fake_input_kind(ctx, d->b) == AM_COUNTER) &&
		     (d->capacity == AM_SERIES_INVALID ||
		      fake_input_kind(ctx, d->capacity) == AM_GAUGE);
	else if (d && d->op == AM_DERIVE_SATURATED)
		ok =
		    ka == AM_COUNTER && ctx->views[ctx->series[d->a].view].def.saturating;
	else if (d && d->op == AM_DERIVE_INTEGRAL)
		ok = ka == AM_GAUGE && fam >= 0 && (size_t)fam < ctx->nviews &&
		     ctx->views[fam].def.kind == AM_COUNTER;
	if (!ok) {
		am_log(ctx, AM_LOG_ERROR,
		       "derived series refused: inputs of the wrong kind");
		return AM_SERIES_INVALID;
	}
	ctx->interns++;
	id = fake_intern(ctx, fam, label_values);
	if (id != AM_SERIES_INVALID) {
		ctx->series[id].derived = true;
		ctx->series[id].derive = *d;
	}
	return id;
}

/* ---- context ---- */

static void fake_logv(struct am_ctx *ctx, const char *what, const char *fmt, va_list ap)
{
	char line[1024];

	vsnprintf(line, sizeof(line), fmt, ap);
	if (getenv("FAKE_AM_VERBOSE"))
		fprintf(stderr, "%s %s: %s\n", ctx->name, what, line);
	if (ctx->nlogs < FAKE_MAX_LOGS)
		ctx->logs[ctx->nlogs++] = fake_strdup(line);
}

void am_found(struct am_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ctx->found, sizeof(ctx->found), fmt, ap);
	va_end(ap);
	va_start(ap, fmt);
	fake_logv(ctx, "found", fmt, ap);
	va_end(ap);
}

void am_log(struct am_ctx *ctx, enum am_log_level level, const char *fmt, ...)
{
	static const char *const names[] = {"error", "warn", "info", "debug"};
	va_list ap;

	va_start(ap, fmt);
	fake_logv(ctx, (unsigned)level < 4 ? names[level] : "log", fmt, ap);
	va_end(ap);
}

void am_read_error(struct am_ctx *ctx)
{
	ctx->read_errors++;
}

/* No watchdog here; the pairing is checked: an end without its begin is a
 * misuse. ctx NULL (the one-shot reads) has no thread context in the fake. */
void am_call_begin(struct am_ctx *ctx, const char *what)
{
	if (!ctx)
		return;
	if (!what)
		fake_violation("%s: am_call_begin with no name", ctx->name);
	ctx->call_depth++;
}

void am_call_end(struct am_ctx *ctx)
{
	if (!ctx)
		return;
	if (!ctx->call_depth)
		fake_violation("%s: am_call_end without am_call_begin", ctx->name);
	else
		ctx->call_depth--;
}

const char *am_sysfs(const struct am_ctx *ctx)
{
	return ctx->sysfs;
}

const char *am_procfs(const struct am_ctx *ctx)
{
	return ctx->procfs;
}

const char *am_instance(const struct am_ctx *ctx)
{
	const char *slash = strchr(ctx->name, '/');

	return slash ? slash + 1 : NULL;
}

const char *am_instance_name(const struct am_ctx *ctx)
{
	return ctx->name;
}

/* am_collector_running: what the test said (fake_am_set_running). */
static struct {
	char name[64];
	int state;
} fake_running[16];

void fake_am_set_running(const char *name, int state)
{
	size_t i, free_i = 16;

	for (i = 0; i < 16; i++) {
		if (!strcmp(fake_running[i].name, name))
			break;
		if (!fake_running[i].name[0] && free_i == 16)
			free_i = i;
	}
	if (i == 16)
		i = free_i;
	if (i == 16)
		return;
	snprintf(fake_running[i].name, sizeof(fake_running[i].name), "%s",
		 state >= 0 ? name : "");
	fake_running[i].state = state;
}

int am_collector_running(const char *name)
{
	for (size_t i = 0; i < 16; i++)
		if (fake_running[i].name[0] && !strcmp(fake_running[i].name, name))
			return fake_running[i].state;
	return -ENOENT;
}

int64_t am_poll_time_ns(const struct am_ctx *ctx)
{
	return ctx->now_ns;
}

double am_interval_s(const struct am_ctx *ctx)
{
	return ctx->interval_s;
}

/* ---- lookups ---- */

size_t fake_am_nfamilies(const struct am_ctx *ctx)
{
	return ctx->nviews;
}

const struct am_family_def *fake_am_view(const struct am_ctx *ctx, am_family_t view)
{
	return view >= 0 && (size_t)view < ctx->nviews ? &ctx->views[view].def : NULL;
}

const struct am_family_def *fake_am_family(const struct am_ctx *ctx, const char *name)
{
	for (size_t i = 0; i < ctx->nviews; i++)
		if (strcmp(ctx->views[i].def.name, name) == 0)
			return &ctx->views[i].def;
	return NULL;
}

size_t fake_am_nseries(const struct am_ctx *ctx)
{
	return ctx->nseries;
}

const struct fake_series *fake_am_series(const struct am_ctx *ctx, am_series_t id)
{
	return id < ctx->nseries ? &ctx->series[id] : NULL;
}

const struct fake_series *fake_am_find(const struct am_ctx *ctx, const char *fam,
				       const char *key)
{
	const struct fake_series *gone = NULL;

	/* The first not released; else the newest released (its labels may
	 * have had several series, am_series_release). */
	for (size_t i = 0; i < ctx->nseries; i++)
		if (strcmp(ctx->views[ctx->series[i].view].def.name, fam) == 0 &&
		    strcmp(ctx->series[i].key, key) == 0) {
			if (!ctx->series[i].released)
				return &ctx->series[i];
			gone = &ctx->series[i];
		}
	return gone;
}

const struct fake_series *fake_am_match(const struct am_ctx *ctx, const char *fam,
					const char *labels)
{
	const struct fake_series *gone = NULL;

	/* As fake_am_find: the first not released, else the newest released. */
	for (size_t i = 0; i < ctx->nseries; i++)
		if (strcmp(ctx->views[ctx->series[i].view].def.name, fam) == 0 &&
		    strstr(ctx->series[i].label_text, labels)) {
			if (!ctx->series[i].released)
				return &ctx->series[i];
			gone = &ctx->series[i];
		}
	return gone;
}

double fake_am_scaled(const struct am_ctx *ctx, const struct fake_series *s)
{
	double scale = ctx->views[s->view].def.scale;

	return s->last * (scale != 0 ? scale : 1);
}

const char *fake_am_label(const struct am_ctx *ctx, const struct fake_series *s,
			  const char *label)
{
	const struct am_family_def *d = &ctx->views[s->view].def;

	for (unsigned k = 0; k < s->nlabels; k++)
		if (strcmp(d->labels[k], label) == 0)
			return s->values[k];
	return NULL;
}

uint64_t fake_am_samples(const struct am_ctx *ctx)
{
	return ctx->samples;
}

uint64_t fake_am_interns(const struct am_ctx *ctx)
{
	return ctx->interns;
}

uint64_t fake_am_read_errors(const struct am_ctx *ctx)
{
	return ctx->read_errors;
}

int64_t fake_am_now(const struct am_ctx *ctx)
{
	return ctx->now_ns;
}

const char *fake_am_found(const struct am_ctx *ctx)
{
	return ctx->found;
}

size_t fake_am_nlogs(const struct am_ctx *ctx)
{
	return ctx->nlogs;
}

const char *fake_am_log(const struct am_ctx *ctx, size_t i)
{
	return i < ctx->nlogs ? ctx->logs[i] : NULL;
}

unsigned fake_am_log_count(const struct am_ctx *ctx, const char *needle)
{
	unsigned n = 0;

	for (size_t i = 0; i < ctx->nlogs; i++)
		n += strstr(ctx->logs[i], needle) != NULL;
	return n;
}
