/* Plugins the loader tests build from this one file, one per -D flag:
 *  PLUGIN_RESCAN  a collector that counts its polls and rescan calls, so a
 *                 test can check the rescan rate against the polls made;
 *  PLUGIN_ABI1    a version 1 descriptor (no size field): refused;
 *  PLUGIN_SHORT   a version 2 descriptor claiming a smaller size: refused;
 *  PLUGIN_NOSYM   no accelmon_collector symbol: refused;
 *  PLUGIN_DUP     a collector named like a built-in (netdev): refused;
 *  PLUGIN_UNDEF   calls an am_* function the agent does not have: dlopen
 *                 (RTLD_NOW) refuses it;
 *  PLUGIN_HUNG    "hung": a vendor call that hangs on demand. init waits
 *                 while the file of option init_flag exists, then reads its
 *                 options again (an abandoned instance outliving its
 *                 config); each poll emits hung_value then waits while the
 *                 file of option poll_flag exists.
 *  PLUGIN_CHURN   "churn": a job that ends every poll: poll N emits
 *                 churn_job_value{job="N"} = N and releases job N-1's
 *                 series (am_series_release), as attribution does.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <accelmon/collector.h>

__attribute__((unused)) static int t_init(struct am_ctx *ctx, const struct am_config *cfg,
					  void **state)
{
	(void)ctx;
	(void)cfg;
	*state = NULL;
	return 0;
}

__attribute__((unused)) static int t_poll(struct am_ctx *ctx, void *state)
{
	(void)ctx;
	(void)state;
	return 0;
}

#if defined(PLUGIN_RESCAN)
/* Polls and rescans so far, and the time from the first poll to this one:
 * with a rescan every R seconds, a span of S seconds holds S / R rescans. */
struct rc_state {
	am_series_t polls, rescans, span;
	double npolls, nrescans;
	int64_t first_ns;
};

static int rc_init(struct am_ctx *ctx, const struct am_config *cfg, void **state)
{
	struct rc_state *s = calloc(1, sizeof(*s));
	am_family_t f;
	const char *const none[] = {NULL};

	(void)cfg;
	if (!s)
		return -ENOMEM;
	f = am_family(ctx, &(struct am_family_def){.name = "rescan_count_polls",
						   .help = "Polls so far.",
						   .kind = AM_GAUGE});
	s->polls = am_series(ctx, f, none);
	f = am_family(ctx, &(struct am_family_def){.name = "rescan_count_rescans",
						   .help = "Rescan calls so far.",
						   .kind = AM_GAUGE});
	s->rescans = am_series(ctx, f, none);
	f = am_family(ctx, &(struct am_family_def){
			       .name = "rescan_count_span_seconds",
			       .help = "Seconds from the first poll to the last.",
			       .kind = AM_GAUGE});
	s->span = am_series(ctx, f, none);
	am_found(ctx, "counting");
	*state = s;
	return 0;
}

static int rc_rescan(struct am_ctx *ctx, void *state)
{
	struct rc_state *s = state;

	(void)ctx;
	s->nrescans++;
	return 0;
}

static int rc_poll(struct am_ctx *ctx, void *state)
{
	struct rc_state *s = state;

	if (!s->npolls)
		s->first_ns = am_poll_time_ns(ctx);
	s->npolls++;
	am_emit(ctx, s->polls, s->npolls);
	am_emit(ctx, s->rescans, s->nrescans);
	am_emit(ctx, s->span, (double)(am_poll_time_ns(ctx) - s->first_ns) / 1e9);
	return 0;
}

static void rc_fini(struct am_ctx *ctx, void *state)
{
	(void)ctx;
	free(state);
}

const struct am_collector accelmon_collector = {
    .abi_version = ACCELMON_COLLECTOR_ABI_VERSION,
    .size = sizeof(struct am_collector),
    .name = "rescan_count",
    .once_polls = 12, /* --once: a known number of polls */
    .init = rc_init,
    .poll = rc_poll,
    .rescan = rc_rescan,
    .fini = rc_fini,
};

#elif defined(PLUGIN_CHURN)
#include <stdio.h>

struct ch_state {
	am_family_t f;
	am_series_t last;
	unsigned n;
};

static int ch_init(struct am_ctx *ctx, const struct am_config *cfg, void **state)
{
	struct ch_state *s = calloc(1, sizeof(*s));

	(void)cfg;
	if (!s)
		return -ENOMEM;
	s->f = am_family(ctx, &(struct am_family_def){.name = "churn_job_value",
						      .help = "The job's number.",
						      .kind = AM_GAUGE,
						      .labels = {"job"}});
	if (s->f < 0) {
		int rc = s->f;
		free(s);
		return rc;
	}
	s->last = AM_SERIES_INVALID;
	am_found(ctx, "churning");
	*state = s;
	return 0;
}

static int ch_poll(struct am_ctx *ctx, void *state)
{
	struct ch_state *s = state;
	char job[16];
	am_series_t cur;

	snprintf(job, sizeof(job), "%u", ++s->n);
	cur = am_series(ctx, s->f, (const char *const[]){job, NULL});
	if (cur != AM_SERIES_INVALID)
		am_emit(ctx, cur, s->n);
	if (s->last != AM_SERIES_INVALID)
		am_series_release(ctx, s->last);
	s->last = cur;
	return 0;
}

static void ch_fini(struct am_ctx *ctx, void *state)
{
	(void)ctx;
	free(state);
}

const struct am_collector accelmon_collector = {
    .abi_version = ACCELMON_COLLECTOR_ABI_VERSION,
    .size = sizeof(struct am_collector),
    .name = "churn",
    .once_polls = 2,
    .init = ch_init,
    .poll = ch_poll,
    .fini = ch_fini,
};

#elif defined(PLUGIN_ABI1)
/* The version 1 layout: abi_version, then flags; no size. */
struct am_collector_v1 {
	uint32_t abi_version, flags;
	const char *name, *description;
	const struct am_option *options;
	unsigned once_polls;
	int (*init)(struct am_ctx *, const struct am_config *, void **);
	int (*poll)(struct am_ctx *, void *);
	void (*fini)(void *);
};
const struct am_collector_v1 accelmon_collector = {
    1, 0, "oldstyle", "a version 1 plugin", NULL, 1, t_init, t_poll, NULL,
};

#elif defined(PLUGIN_SHORT)
const struct am_collector accelmon_collector = {
    .abi_version = ACCELMON_COLLECTOR_ABI_VERSION,
    .size = 16,
    .name = "short",
    .init = t_init,
    .poll = t_poll,
};

#elif defined(PLUGIN_NOSYM)
const struct am_collector accelmon_collecter = {
    /* misspelt */
    .abi_version = ACCELMON_COLLECTOR_ABI_VERSION,
    .size = sizeof(struct am_collector),
    .name = "nosym",
    .init = t_init,
    .poll = t_poll,
};

#elif defined(PLUGIN_DUP)
const struct am_collector accelmon_collector = {
    .abi_version = ACCELMON_COLLECTOR_ABI_VERSION,
    .size = sizeof(struct am_collector),
    .name = "netdev",
    .init = t_init,
    .poll = t_poll,
};

#elif defined(PLUGIN_UNDEF)
void am_no_such_function(struct am_ctx *ctx);

static int u_poll(struct am_ctx *ctx, void *state)
{
	(void)state;
	am_no_such_function(ctx);
	return 0;
}

const struct am_collector accelmon_collector = {
    .abi_version = ACCELMON_COLLECTOR_ABI_VERSION,
    .size = sizeof(struct am_collector),
    .name = "undef",
    .init = t_init,
    .poll = u_poll,
};
#elif defined(PLUGIN_HUNG)
static const struct am_option h_opts[] = {
    {"label", AM_OPT_STRING, "Label value of hung_value.", 0, 0},
    {"init_flag", AM_OPT_STRING, "init waits while this file exists.", 0, 0},
    {"poll_flag", AM_OPT_STRING, "A poll waits while this file exists.", 0, 0},
    {NULL, 0, NULL, 0, 0},
};

struct h_state {
	am_series_t value;
	const char *poll_flag;
};

static void h_wait(const char *path)
{
	struct timespec ts = {0, 50 * 1000 * 1000};

	while (path && *path && access(path, F_OK) == 0)
		nanosleep(&ts, NULL);
}

static int h_init(struct am_ctx *ctx, const struct am_config *cfg, void **state)
{
	struct h_state *s = calloc(1, sizeof(*s));
	const char *lv[] = {am_cfg_string(cfg, "label", "none"), NULL};
	am_family_t f;

	if (!s)
		return -ENOMEM;
	f = am_family(ctx, &(struct am_family_def){.name = "hung_value",
						   .help = "A constant.",
						   .kind = AM_GAUGE,
						   .labels = {"label"}});
	s->value = am_series(ctx, f, lv);
	h_wait(am_cfg_string(cfg, "init_flag", NULL));
	/* Read the options again after the hang, as a collector that keeps
	 * them (poll_flag) does. */
	s->poll_flag = am_cfg_string(cfg, "poll_flag", NULL);
	am_log(ctx, AM_LOG_WARN, "init returned: label=%s",
	       am_cfg_string(cfg, "label", "none"));
	*state = s;
	return 0;
}

static int h_poll(struct am_ctx *ctx, void *state)
{
	struct h_state *s = state;

	am_emit(ctx, s->value, 42);
	h_wait(s->poll_flag);
	return 0;
}

static void h_fini(struct am_ctx *ctx, void *state)
{
	(void)ctx;
	free(state);
}

const struct am_collector accelmon_collector = {
    .abi_version = ACCELMON_COLLECTOR_ABI_VERSION,
    .size = sizeof(struct am_collector),
    .name = "hung",
    .description = "Hangs in init or a poll on demand (tests).",
    .options = h_opts,
    .init = h_init,
    .poll = h_poll,
    .fini = h_fini,
};
#else
#error "build with one of -DPLUGIN_RESCAN, _ABI1, _SHORT, _NOSYM, _DUP, _UNDEF, _HUNG"
#endif
