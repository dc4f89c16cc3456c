/* The am_* functions of the public collector header: family and series
 * registration (forwarded to the registry with the collector's slot as owner),
 * emission into the collector's ring, logging and read-error accounting.
 */
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "plugin_api.h"
#include "series.h"

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
}

void ctx_set_instance(struct am_ctx *ctx, const char *full_name)
{
	const char *slash = strchr(full_name, '/');

	ctx->name = full_name;
	ctx->instance = slash ? slash + 1 : NULL;
}

am_family_t am_family(struct am_ctx *ctx, const struct am_family_def *def)
{
	int rc = series_family_register(def, ctx->slot);

	if (rc < 0)
		log_msg(LOGL_ERROR, ctx->name,
			"cannot register family %s: invalid name, labels or kind, or "
			"redefined differently",
			def && def->name ? def->name : "(null)");
	return rc;
}

am_series_t am_series(struct am_ctx *ctx, am_family_t fam,
		      const char *const *label_values)
{
	return series_intern(fam, label_values, ctx->slot);
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
