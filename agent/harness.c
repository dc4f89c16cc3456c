/* Synchronous collector runner for tests (see harness.h). Owns a fake clock
 * value that clock_now_ns reads while a harness is polling. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agg.h"
#include "clock.h"
#include "config.h"
#include "harness.h"
#include "plugin_api.h"
#include "series.h"

struct harness {
	const struct am_collector *desc;
	struct agent_config *cfg;
	struct am_ctx ctx;
	struct agg *agg;
	void *state;
	int init_rc;
	struct am_sample *batch;
	/* The section's `rescan`, called as the scheduler does: right before
	 * the first poll at or after it is due (0: never). */
	int64_t rescan_ns, next_rescan;
	uint64_t rescans;
};

static int64_t fake_now;

static int64_t fake_clock(void)
{
	return fake_now;
}

static double harness_interval(void *arg, int owner)
{
	struct harness *h = arg;

	return owner == h->ctx.slot ? h->ctx.interval_s : 0;
}

struct harness *harness_new(const struct am_collector *c, const char *section_yaml,
			    const char *sysfs, const char *procfs, int64_t t0_ns,
			    char *err, size_t errlen)
{
	struct harness *h = calloc(1, sizeof(*h));
	struct cfg_component comp = {c->name, c->options,
				     (c->flags & AM_COLLECTOR_NEEDS_CONFIG) != 0,
				     c->check,
				     c->defaults ? c->defaults->interval_s : 0};
	struct agg_opts ao = {NULL, harness_interval, NULL, 0};
	char *yaml;
	size_t len;
	const struct cfg_section *sec;

	if (!h)
		return NULL;
	len = strlen(c->name) + (section_yaml ? strlen(section_yaml) : 2) + 64;
	yaml = malloc(len);
	if (!yaml) {
		free(h);
		return NULL;
	}
	snprintf(yaml, len, "collectors:\n  %s: %s\n", c->name,
		 section_yaml ? section_yaml : "{}");
	if (config_parse(yaml, strlen(yaml), "harness", &comp, 1, NULL, 0, &h->cfg,
			 err, errlen) < 0) {
		free(yaml);
		free(h);
		return NULL;
	}
	free(yaml);
	sec = config_collector(h->cfg, c->name);
	h->desc = c;
	ao.arg = h;
	h->agg = agg_new(&ao);
	h->batch = malloc(4096 * sizeof(*h->batch));
	/* Slot 63: out of the way of real scheduler slots. */
	ctx_init(&h->ctx, 63, c, ring_create(1u << 16), sysfs, procfs,
		 sec->interval_s);
	clock_now_ns = fake_clock;
	fake_now = t0_ns;
	h->ctx.poll_ns = t0_ns;
	ctx_bind_thread(&h->ctx); /* the harness runs the collector here */
	h->init_rc = c->init(&h->ctx, sec->opts, &h->state);
	h->rescan_ns =
	    c->rescan && sec->rescan_s > 0 ? (int64_t)(sec->rescan_s * 1e9) : 0;
	h->next_rescan = t0_ns + h->rescan_ns;
	return h;
}

int harness_init_rc(const struct harness *h)
{
	return h->init_rc;
}

const char *harness_found(const struct harness *h)
{
	return h->ctx.found;
}

int harness_poll(struct harness *h, int64_t t_ns)
{
	size_t n;
	int rc;

	if (h->init_rc != 0)
		return -ENODEV;
	fake_now = t_ns;
	if (h->rescan_ns && t_ns >= h->next_rescan) {
		/* like agent/scheduler.c: failures are logged, the poll runs */
		rc = h->desc->rescan(&h->ctx, h->state);
		if (rc != 0)
			fprintf(stderr, "harness: %s: rescan failed: %s\n", h->desc->name,
				strerror(-rc));
		h->rescans++;
		while (h->next_rescan <= t_ns) /* keep the phase */
			h->next_rescan += h->rescan_ns;
	}
	h->ctx.poll_ns = t_ns;
	rc = h->desc->poll(&h->ctx, h->state);
	while ((n = ring_pop_batch(h->ctx.ring, h->batch, 4096)) > 0)
		agg_ingest(h->agg, h->batch, n);
	return rc;
}

struct snapshot *harness_render(struct harness *h, int64_t now_ns)
{
	fake_now = now_ns;
	return agg_render(h->agg, now_ns);
}

int harness_value(struct harness *h, const char *family, const char *labels,
		  double *out)
{
	uint32_t n = series_count();

	for (uint32_t id = 0; id < n; id++) {
		const struct series *s = series_get(id);

		if (s && !atomic_load(&s->released) &&
		    strcmp(s->fam->name, family) == 0 &&
		    strcmp(s->label_text, labels) == 0)
			return agg_value(h->agg, id, out);
	}
	return -ENOENT;
}

uint64_t harness_rescans(const struct harness *h)
{
	return h->rescans;
}

uint64_t harness_read_errors(const struct harness *h)
{
	return atomic_load(&h->ctx.read_errors);
}

uint64_t harness_dropped(const struct harness *h)
{
	return ring_dropped(h->ctx.ring);
}

struct agg *harness_agg(struct harness *h)
{
	return h->agg;
}

void harness_free(struct harness *h)
{
	if (!h)
		return;
	if (h->init_rc == 0 && h->desc->fini)
		h->desc->fini(&h->ctx, h->state);
	ctx_bind_thread(NULL); /* the context goes away with h */
	ring_destroy(h->ctx.ring);
	agg_free(h->agg);
	config_free(h->cfg);
	free(h->batch);
	free(h);
	clock_now_ns = clock_monotonic_ns;
}
