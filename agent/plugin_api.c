/* The am_* functions of the public collector header: family and series
 * registration (forwarded to the registry with the collector's slot as owner),
 * emission into the collector's ring, logging and read-error accounting.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include "accelmon/util.h"
#include "agg.h"
#include "clock.h"
#include "expo.h"
#include "plugin_api.h"
#include "schema.h"
#include "series.h"

/* The instance name of each owner (slot), copied, for the line that names
 * both instances feeding one series; "" when unknown. */
#define OWNER_NAMES 64
#define OWNER_NAME_MAX 64
static pthread_mutex_t owner_lock = PTHREAD_MUTEX_INITIALIZER;
static char owner_names[OWNER_NAMES][OWNER_NAME_MAX];

static void owner_name_set(int slot, const char *name)
{
	if (slot < 0 || slot >= OWNER_NAMES)
		return;
	pthread_mutex_lock(&owner_lock);
	snprintf(owner_names[slot], OWNER_NAME_MAX, "%s", name ? name : "");
	pthread_mutex_unlock(&owner_lock);
}

static void owner_name_get(int slot, char *buf, size_t cap)
{
	buf[0] = '\0';
	if (slot >= 0 && slot < OWNER_NAMES) {
		pthread_mutex_lock(&owner_lock);
		snprintf(buf, cap, "%s", owner_names[slot]);
		pthread_mutex_unlock(&owner_lock);
	}
	if (!buf[0])
		snprintf(buf, cap, "slot %d", slot);
}

void ctx_init(struct am_ctx *ctx, int slot, const struct am_collector *desc,
	      struct ring *ring, const char *sysfs, const char *procfs,
	      double interval_s)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->slot = slot;
	ctx->desc = desc;
	ctx->name = desc->name;
	ctx->instance = NULL;
	ctx->ring = ring;
	ctx->sysfs = sysfs && *sysfs ? sysfs : "/sys";
	ctx->procfs = procfs && *procfs ? procfs : "/proc";
	ctx->interval_s = interval_s;
	ctx->poll_ns = clock_now_ns();
	atomic_init(&ctx->read_errors, 0);
	atomic_flag_clear(&ctx->where_lock);
	owner_name_set(slot, ctx->name);
}

static _Thread_local struct am_ctx *thread_ctx;

void ctx_bind_thread(struct am_ctx *ctx)
{
	thread_ctx = ctx;
}

/* A spin lock: held for a store by the collector's thread, or for one short
 * copy by the watchdog; yields in case the holder was preempted. */
static void where_lock(struct am_ctx *ctx)
{
	while (atomic_flag_test_and_set_explicit(&ctx->where_lock, memory_order_acquire))
		sched_yield();
}

static void where_unlock(struct am_ctx *ctx)
{
	atomic_flag_clear_explicit(&ctx->where_lock, memory_order_release);
}

void am_call_begin(struct am_ctx *ctx, const char *what)
{
	if (!ctx)
		ctx = thread_ctx;
	if (!ctx)
		return;
	where_lock(ctx);
	if (ctx->where_depth < 2)
		ctx->where[ctx->where_depth] = what;
	ctx->where_depth++;
	where_unlock(ctx);
}

void am_call_end(struct am_ctx *ctx)
{
	if (!ctx)
		ctx = thread_ctx;
	if (!ctx)
		return;
	where_lock(ctx);
	if (ctx->where_depth) {
		ctx->where_depth--;
		if (ctx->where_depth < 2)
			ctx->where[ctx->where_depth] = NULL;
	}
	where_unlock(ctx);
}

/* The innermost is named as a read of a path or as the call it is in; an
 * outer level as what it is within. */
static int where_put(char *buf, size_t cap, int outer, const char *what)
{
	return snprintf(buf, cap, "%s%s",
			outer		    ? " within "
			: strchr(what, '/') ? "reading "
					    : "in ",
			what);
}

size_t ctx_where(struct am_ctx *ctx, char *buf, size_t cap)
{
	size_t len = 0;
	int n;

	if (!cap)
		return 0;
	buf[0] = '\0';
	where_lock(ctx);
	/* Innermost first: deeper than two, the second level is the nearest
	 * one known. */
	for (unsigned i = ctx->where_depth > 2 ? 2 : ctx->where_depth;
	     i-- > 0 && len < cap;) {
		if (!ctx->where[i])
			continue;
		n = where_put(buf + len, cap - len, len != 0, ctx->where[i]);
		if (n < 0)
			break;
		len += (size_t)n;
	}
	where_unlock(ctx);
	return len < cap ? len : cap - 1;
}

void ctx_set_instance(struct am_ctx *ctx, const char *full_name)
{
	const char *slash = strchr(full_name, '/');

	ctx->name = full_name;
	ctx->instance = slash ? slash + 1 : NULL;
	owner_name_set(ctx->slot, full_name);
}

am_family_t am_family(struct am_ctx *ctx, const struct am_family_def *def)
{
	int rc;

	/* The agent's own names: a second HELP/TYPE of process_open_fds
	 * would make the whole exposition invalid. */
	if (def && agg_reserved_name(def->name)) {
		log_msg(LOGL_ERROR, ctx->name,
			"cannot register family %s: accelmon_* and process_* names "
			"are the agent's own metrics",
			def->name);
		return -EINVAL;
	}
	/* A schema family registered here could carry its own HELP or labels,
	 * and which one won would depend on thread timing. */
	if (def && schema_is_std_name(def->name)) {
		log_msg(LOGL_ERROR, ctx->name,
			"cannot register family %s with am_family: it is a schema "
			"family (accelmon/schema.h); use am_std_family",
			def->name);
		return -EINVAL;
	}
	rc = series_family_register(def, ctx->slot);

	if (rc < 0)
		log_msg(LOGL_ERROR, ctx->name,
			"cannot register family %s: invalid name, labels or kind, "
			"redefined differently, or its OpenMetrics name (without "
			"_total or _info) is empty or another family's",
			def && def->name ? def->name : "(null)");
	return rc;
}

am_family_t am_std_family(struct am_ctx *ctx, enum am_std which,
			  const struct am_std_use *use)
{
	struct am_family_def def;
	const char *why;
	int rc = schema_family_def(which, use, &def, &why);

	if (rc < 0) {
		log_msg(LOGL_ERROR, ctx->name,
			"cannot register schema family %d (%s): %s", (int)which,
			am_std_def(which) ? am_std_def(which)->name : "unknown", why);
		return rc;
	}
	rc = series_family_register(&def, ctx->slot);
	if (rc < 0)
		log_msg(LOGL_ERROR, ctx->name,
			"cannot register schema family %s: invalid bits, scale or "
			"window",
			def.name);
	return rc;
}

/* One warning when a new series got label values other than the collector
 * passed (invalid UTF-8 replaced, a long value cut), naming family and
 * labels. Rate-limited like every line of the instance. */
static void note_cleaned(struct am_ctx *ctx, am_family_t fam, const char *const *raw,
			 const struct series_note *note)
{
	const struct famview *fv = series_view_get(fam);
	char msg[512];
	size_t len = 0;

	if (!note->created || !note->any || !fv)
		return;
	for (unsigned k = 0; k < fv->nlabels && len < sizeof(msg); k++) {
		unsigned w = note->what[k];
		int n;

		if (!w)
			continue;
		n = snprintf(msg + len, sizeof(msg) - len, "%slabel %s %s%s%s",
			     len ? "; " : "", fv->labels[k],
			     w & EXPO_CLEAN_REPLACED
				 ? "had invalid UTF-8 (replaced with U+FFFD)"
				 : "",
			     w == (EXPO_CLEAN_REPLACED | EXPO_CLEAN_CUT) ? " and " : "",
			     w & EXPO_CLEAN_CUT ? "was cut" : "");
		if (n < 0)
			return;
		len += (size_t)n;
		if ((w & EXPO_CLEAN_CUT) && len < sizeof(msg)) {
			n = snprintf(msg + len, sizeof(msg) - len,
				     " from %zu bytes to the %d-byte limit",
				     strlen(raw[k]), AM_LABEL_VALUE_MAX);
			if (n < 0)
				return;
			len += (size_t)n;
		}
	}
	log_limitedf(&ctx->rl, LOGL_WARN, ctx->name, "series of %s: %s", fv->fam->name,
		     msg);
}

/* What a refused series was, for messages: `family{a="x",b=(none)}` as the
 * collector passed it (values cut at 64 bytes). */
static void series_desc(const struct famview *fv, const char *const *values, char *buf,
			size_t cap)
{
	size_t len;

	if (!fv) {
		snprintf(buf, cap, "(no such family handle)");
		return;
	}
	len = (size_t)snprintf(buf, cap, "%s{", fv->fam->name);
	for (unsigned k = 0; k < fv->nlabels && len < cap; k++) {
		const char *v = values ? values[k] : NULL;

		len += (size_t)snprintf(buf + len, cap - len,
					v ? "%s%s=\"%.64s\"" : "%s%s=%s", k ? "," : "",
					fv->labels[k], v ? v : "(none)");
	}
	if (len < cap)
		snprintf(buf + len, cap - len, "}");
}

/* Once per series: the line naming the instance that feeds it and this
 * one, which was refused. */
static void note_foreign(struct am_ctx *ctx, am_family_t fam,
			 const char *const *values, const struct series_note *note)
{
	char what[512], other[OWNER_NAME_MAX + 16];

	if (!note->foreign_first)
		return;
	series_desc(series_view_get(fam), values, what, sizeof(what));
	owner_name_get(note->foreign_owner, other, sizeof(other));
	log_msg(LOGL_ERROR, ctx->name,
		"cannot intern series %s: it is fed by collector instance %s; two "
		"instances feeding one series would corrupt it (refused for %s)",
		what, other, ctx->name);
}

am_series_t am_series(struct am_ctx *ctx, am_family_t fam,
		      const char *const *label_values)
{
	struct series_note note;
	am_series_t id = series_intern_noted(fam, label_values, ctx->slot, NULL, &note);
	char what[512];

	note_cleaned(ctx, fam, label_values, &note);
	if (note.foreign) {
		note_foreign(ctx, fam, label_values, &note);
	} else if (id == AM_SERIES_INVALID) {
		series_desc(series_view_get(fam), label_values, what, sizeof(what));
		log_limitedf(&ctx->rl, LOGL_ERROR, ctx->name,
			     "cannot intern series %s: no such family handle, a label "
			     "without a value, or out of memory",
			     what);
	}
	return id;
}

void am_emit(struct am_ctx *ctx, am_series_t series, double value)
{
	struct am_sample s = {series, 0, ctx->poll_ns, value};

	if (series != AM_SERIES_INVALID)
		ring_push(ctx->ring, &s);
}

void am_emit_u64(struct am_ctx *ctx, am_series_t series, uint64_t raw)
{
	struct am_sample s = {series, SAMPLE_U64, ctx->poll_ns, 0};

	memcpy(&s.value, &raw, sizeof(raw));
	if (series != AM_SERIES_INVALID)
		ring_push(ctx->ring, &s);
}

void am_series_retire(struct am_ctx *ctx, am_series_t series)
{
	struct am_sample s = {series, SAMPLE_RETIRE, ctx->poll_ns, 0};
	const struct series *se;

	if (series == AM_SERIES_INVALID)
		return;
	/* Retiring is rare: check that the series is this instance's, so a
	 * stale or foreign id never takes another collector's series out. */
	se = series_get(series);
	if (!se) {
		log_limitedf(&ctx->rl, LOGL_ERROR, ctx->name,
			     "cannot retire series %u: no such series", series);
		return;
	}
	if (se->owner != ctx->slot) {
		log_limitedf(&ctx->rl, LOGL_ERROR, ctx->name,
			     "cannot retire series %u (%s%s): it belongs to another "
			     "collector instance",
			     series, se->fam->name, se->label_text);
		return;
	}
	ring_push(ctx->ring, &s);
}

void am_series_release(struct am_ctx *ctx, am_series_t series)
{
	struct am_sample s = {series, SAMPLE_RETIRE | SAMPLE_RELEASE, ctx->poll_ns, 0};
	int rc;

	if (series == AM_SERIES_INVALID)
		return;
	/* Out of the registry's hash now, before any later am_series of
	 * the same labels in this poll; checked to be this instance's. */
	rc = series_release(series, ctx->slot);
	if (rc == -EBUSY) {
		am_series_retire(ctx, series); /* derived or an input: keeps its id */
		return;
	}
	if (rc < 0) {
		const struct series *se = series_get(series);

		log_limitedf(&ctx->rl, LOGL_ERROR, ctx->name,
			     "cannot release series %u%s%s: %s", series,
			     se ? " " : "", se ? se->fam->name : "",
			     rc == -EPERM ? "it belongs to another collector instance"
					  : "no such series (or released already)");
		return;
	}
	ring_push(ctx->ring, &s);
}

static int is_gauge_kind(enum am_kind k)
{
	return k == AM_GAUGE || k == AM_WINDOW_MAX || k == AM_WINDOW_MEAN;
}

/* Why a derived series cannot be bound as asked, or NULL when it can. */
static const char *derive_refusal(const struct am_ctx *ctx, const struct famview *fv,
				  const struct am_derive *d)
{
	const struct series *a = series_get(d->a);
	const struct series *b = d->b == AM_SERIES_INVALID ? NULL : series_get(d->b);
	const struct series *c =
		d->capacity == AM_SERIES_INVALID ? NULL : series_get(d->capacity);

	if (!fv)
		return "no such family handle";
	if (fv->scale != 1)
		return "a derived family takes no scale (its inputs carry units)";
	if (!a || (d->b != AM_SERIES_INVALID && !b) ||
	    (d->capacity != AM_SERIES_INVALID && !c))
		return "an input is not a series";
	if (a->owner != ctx->slot || (b && b->owner != ctx->slot) ||
	    (c && c->owner != ctx->slot))
		return "an input belongs to another collector instance";
	if (a->derive.op || (b && b->derive.op) || (c && c->derive.op))
		return "an input is itself derived";
	switch (d->op) {
	case AM_DERIVE_RATIO:
		if (a->view->kind != AM_COUNTER || (b && b->view->kind != AM_COUNTER))
			return "ratio: a and b must be AM_COUNTER series";
		if (c && c->view->kind != AM_GAUGE)
			return "ratio: capacity must be an AM_GAUGE series";
		if (!is_gauge_kind(fv->kind) && fv->kind != AM_INTEGRAL)
			return "ratio: the family must be AM_GAUGE, AM_WINDOW_* or "
			       "AM_INTEGRAL";
		return NULL;
	case AM_DERIVE_SATURATED:
		if (a->view->kind != AM_COUNTER || !a->view->saturating)
			return "saturated: a must be a saturating AM_COUNTER series";
		if (b || c)
			return "saturated: takes no b or capacity";
		if (!is_gauge_kind(fv->kind))
			return "saturated: the family must be AM_GAUGE or AM_WINDOW_*";
		return NULL;
	case AM_DERIVE_INTEGRAL:
		if (a->view->kind != AM_GAUGE)
			return "integral: a must be an AM_GAUGE series";
		if (b || c)
			return "integral: takes no b or capacity";
		if (fv->kind != AM_COUNTER)
			return "integral: the family must be AM_COUNTER";
		return NULL;
	}
	return "unknown derive op";
}

am_series_t am_series_derived(struct am_ctx *ctx, am_family_t fam,
			      const char *const *label_values,
			      const struct am_derive *d)
{
	const struct famview *fv = series_view_get(fam);
	const char *why = d ? derive_refusal(ctx, fv, d) : "no derive given";
	struct series_derive sd;
	struct series_note note;
	char what[512];
	am_series_t id;

	if (why) {
		series_desc(fv, label_values, what, sizeof(what));
		log_msg(LOGL_ERROR, ctx->name, "cannot derive series %s: %s", what, why);
		return AM_SERIES_INVALID;
	}
	sd = (struct series_derive){(uint8_t)d->op, d->a, d->b, d->capacity};
	id = series_intern_noted(fam, label_values, ctx->slot, &sd, &note);
	note_cleaned(ctx, fam, label_values, &note);
	if (note.foreign) {
		note_foreign(ctx, fam, label_values, &note);
	} else if (id == AM_SERIES_INVALID) {
		series_desc(fv, label_values, what, sizeof(what));
		log_msg(LOGL_ERROR, ctx->name,
			"cannot derive series %s: a label without a value, or these "
			"labels name a series with other inputs",
			what);
	} else if (!note.created) {
		/* Named again: back after an am_series_retire (collector.h). */
		series_revive(id);
	}
	return id;
}

void am_found(struct am_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ctx->found, sizeof(ctx->found), fmt, ap);
	va_end(ap);
}

void am_log(struct am_ctx *ctx, enum am_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_limited(&ctx->rl, (int)level, ctx->name, fmt, ap);
	va_end(ap);
}

void am_read_error(struct am_ctx *ctx)
{
	atomic_fetch_add_explicit(&ctx->read_errors, 1, memory_order_relaxed);
}

const char *am_sysfs(const struct am_ctx *ctx)
{
	return ctx->sysfs;
}

const char *am_procfs(const struct am_ctx *ctx)
{
	return ctx->procfs;
}

int64_t am_poll_time_ns(const struct am_ctx *ctx)
{
	return ctx->poll_ns;
}

double am_interval_s(const struct am_ctx *ctx)
{
	return ctx->interval_s;
}

const char *am_instance(const struct am_ctx *ctx)
{
	return ctx->instance;
}

const char *am_instance_name(const struct am_ctx *ctx)
{
	return ctx->name;
}

/* ---- which collectors run (am_collector_running) ---- */

/* One entry per started instance, keyed by its owner (a scheduler slot, so
 * a reload's new instance and the old one never share an entry). */
#define RUNNING_MAX 128
static pthread_mutex_t running_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	const void *owner;
	char name[OWNER_NAME_MAX + AM_INSTANCE_NAME_MAX + 2];
	int state;
} running[RUNNING_MAX];

void ctx_running_set(const void *owner, const char *name, int state)
{
	size_t i, free_i = RUNNING_MAX;

	pthread_mutex_lock(&running_lock);
	for (i = 0; i < RUNNING_MAX; i++) {
		if (running[i].owner == owner)
			break;
		if (!running[i].owner && free_i == RUNNING_MAX)
			free_i = i;
	}
	if (i == RUNNING_MAX && state >= 0 && free_i < RUNNING_MAX) {
		i = free_i;
		running[i].owner = owner;
		snprintf(running[i].name, sizeof(running[i].name), "%s", name);
	}
	if (i < RUNNING_MAX) {
		if (state < 0)
			running[i].owner = NULL;
		else
			running[i].state = state;
	}
	pthread_mutex_unlock(&running_lock);
}

int am_collector_running(const char *name)
{
	int best = -ENOENT;

	pthread_mutex_lock(&running_lock);
	for (size_t i = 0; i < RUNNING_MAX; i++)
		if (running[i].owner && !strcmp(running[i].name, name) &&
		    running[i].state > best)
			best = running[i].state;
	pthread_mutex_unlock(&running_lock);
	return best;
}
