/* Scheduler and aggregator thread.
 *
 * Each collector instance gets a slot: its thread runs init() then polls on a
 * fixed-rate schedule; its ring carries samples to the aggregator thread. The
 * aggregator thread is also the watchdog: a poll running past the collector's
 * timeout marks it down (accelmon_collector_up 0) while the thread stays
 * stuck; its series go stale after three intervals. A slot index belongs to
 * an instance name ("netdev", "smi/ixsmi") for the agent's lifetime, so
 * series keep their owner across a config reload. Between two polls, when
 * due, the instance's thread also runs the collector's rescan hook.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "options.h"
#include "plugin_api.h"
#include "plugins.h"
#include "scheduler.h"
#include "series.h"

struct slot {
	const struct am_collector *desc;
	char *name;               /* instance name, the `collector` label */
	/* The slot's own copies of its options and of the roots: a thread
	 * abandoned at a reload or at shutdown may read them whenever its
	 * driver call returns, long after the config and struct sched that
	 * they came from are freed. Freed with the slot. */
	struct am_config *cfg;
	char *sysfs, *procfs;
	struct am_ctx ctx;
	void *state;
	pthread_t thr;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	double interval_s, timeout_s;
	int64_t rescan_ns;        /* 0: never (or no rescan hook) */
	int once;
	atomic_int stop;
	atomic_int running;       /* init succeeded, polling */
	atomic_int init_failed;   /* init failed (not -ENODEV): reported down */
	atomic_int finished;      /* thread returned */
	int orphaned;             /* abandoned by stop: the thread frees the slot
				     when it finally returns (under lock) */
	atomic_int done_once;     /* --once polls complete */
	atomic_llong poll_start;  /* monotonic ns of the poll in progress, 0 if none */
	atomic_llong last_duration;
	atomic_int last_rc;
	atomic_uint polls;
	atomic_int overrun_logged; /* written by the watchdog and the slot thread */
	uint32_t ring_hint;	   /* samples a poll of the previous instance emitted */
	atomic_uint ring_demand;   /* samples the last poll emitted (pushed or dropped) */
};

struct sched {
	char *sysfs, *procfs;
	pthread_mutex_t lock;     /* slots[] against the aggregator's drain */
	struct slot *slots[SCHED_MAX_SLOTS];
	struct agg *agg;
	pthread_t agg_thr;
	int agg_running;
	atomic_int agg_stop;
	struct am_sample *batch;
	int once; /* --once: nothing goes stale before the single render */
	/* Interval of the last instance in each slot that ran. Its series keep
	 * their normal three-interval staleness after it stops (reload,
	 * shutdown), so the final snapshot the exporters flush still holds
	 * them and a reload leaves no gap. Under lock. */
	double stopped_interval[SCHED_MAX_SLOTS];
	/* The instance name each slot index belongs to (main thread). */
	char *slot_name[SCHED_MAX_SLOTS];
	/* What a poll of the last instance in each slot emitted, so the ring of
	 * the next one (after a reload) starts at the size it needs. Under lock. */
	uint32_t ring_demand[SCHED_MAX_SLOTS];
	/* Collector threads poke it (end of a poll, a ring half full); the
	 * aggregator sleeps on it between its periodic passes. */
	int wake_fd;
	/* Threads abandoned by stop: they may still poke wake_fd, so it stays
	 * open for the life of the process once there is one. Under lock. */
	int orphans;
};

#define BATCH 1024

static int64_t real_now(void)
{
	return clock_monotonic_ns();
}

static int slot_overrun(const struct slot *sl, int64_t now)
{
	int64_t start = atomic_load_explicit(&sl->poll_start, memory_order_acquire);

	return start && now - start > (int64_t)(sl->timeout_s * NS_PER_S);
}

static size_t status_cb(void *arg, struct agg_collector_status *out, size_t max)
{
	struct sched *s = arg;
	int64_t now = clock_now_ns();
	size_t n = 0;

	/* Called from the aggregator with s->lock held. */
	for (int i = 0; i < SCHED_MAX_SLOTS && n < max; i++) {
		struct slot *sl = s->slots[i];
		int over;

		if (sl && atomic_load(&sl->init_failed)) {
			out[n].name = sl->name;
			out[n].up = 0;
			out[n].duration_s = -1;
			out[n].interval_s = sl->interval_s;
			out[n].dropped = 0;
			out[n].read_errors = atomic_load_explicit(&sl->ctx.read_errors,
								  memory_order_relaxed);
			n++;
			continue;
		}
		if (!sl || !atomic_load(&sl->running))
			continue;
		over = slot_overrun(sl, now);
		if (!atomic_load(&sl->polls) && !over)
			continue;
		out[n].name = sl->name;
		out[n].up = !over && atomic_load(&sl->last_rc) == 0;
		out[n].duration_s = atomic_load(&sl->polls)
					    ? (double)atomic_load(&sl->last_duration) / NS_PER_S
					    : -1;
		out[n].interval_s = sl->interval_s;
		out[n].dropped = ring_dropped(sl->ctx.ring);
		out[n].read_errors = atomic_load_explicit(&sl->ctx.read_errors,
							  memory_order_relaxed);
		n++;
	}
	return n;
}

static double interval_cb(void *arg, int owner)
{
	struct sched *s = arg;
	struct slot *sl;

	if (owner < 0 || owner >= SCHED_MAX_SLOTS)
		return 0;
	sl = s->slots[owner];
	if (!sl || !atomic_load(&sl->running))
		return s->stopped_interval[owner];
	/* --once renders after the slowest collector's last poll: a faster
	 * collector's samples are older than its three intervals by then. */
	return s->once ? 1e9 : sl->interval_s;
}

struct sched *sched_new(const char *sysfs, const char *procfs)
{
	struct sched *s = calloc(1, sizeof(*s));
	struct agg_opts o = {status_cb, interval_cb, NULL, 1};

	if (!s)
		return NULL;
	o.arg = s;
	s->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	s->sysfs = strdup(sysfs ? sysfs : "/sys");
	s->procfs = strdup(procfs ? procfs : "/proc");
	s->agg = agg_new(&o);
	s->batch = malloc(BATCH * sizeof(*s->batch));
	pthread_mutex_init(&s->lock, NULL);
	if (!s->sysfs || !s->procfs || !s->agg || !s->batch || s->wake_fd < 0) {
		sched_free(s);
		return NULL;
	}
	return s;
}

static void slot_free(struct slot *sl)
{
	free(sl->name);
	opts_free(sl->cfg);
	free(sl->sysfs);
	free(sl->procfs);
	ring_destroy(sl->ctx.ring);
	pthread_mutex_destroy(&sl->lock);
	pthread_cond_destroy(&sl->cond);
	free(sl);
}

void sched_free(struct sched *s)
{
	if (!s)
		return;
	for (int i = 0; i < SCHED_MAX_SLOTS; i++)
		if (s->slots[i])
			slot_free(s->slots[i]);
	for (int i = 0; i < SCHED_MAX_SLOTS; i++)
		free(s->slot_name[i]);
	agg_free(s->agg);
	free(s->batch);
	free(s->sysfs);
	free(s->procfs);
	if (s->wake_fd >= 0 && !s->orphans)
		close(s->wake_fd);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

struct agg *sched_agg(struct sched *s)
{
	return s->agg;
}

/* A ring's wake function: called on collector threads, never blocks. A full
 * counter (EAGAIN) already means "wake up". Its argument is the eventfd, not
 * the scheduler: an abandoned thread that returns late must not touch a
 * freed struct sched. */
static void sched_wake(void *arg)
{
	(void)!eventfd_write((int)(intptr_t)arg, 1);
}

/* Ring capacity for polls that emit n samples: twice that, so a whole poll
 * fits in half the ring even if the aggregator takes nothing while it runs
 * (and the half-full wake still has half a ring of headroom). */
/* Room for four polls of n samples: the aggregator is woken at the end of
 * each poll, but on a loaded machine it may be off the CPU for a poll or
 * two (seen with 9,216 samples every 200 ms on 2 busy cores). */
static uint32_t ring_fit(uint32_t n)
{
	uint64_t want = 4 * (uint64_t)n;

	if (want < SCHED_RING_CAPACITY)
		return SCHED_RING_CAPACITY;
	return want > SCHED_RING_MAX_CAPACITY ? SCHED_RING_MAX_CAPACITY : (uint32_t)want;
}

/* Between polls, on the slot thread (the ring's producer): grow the ring
 * when emitted samples no longer fit in a quarter of it. The aggregator drains
 * what the old storage holds first and frees it (ring_grow). */
static void slot_fit_ring(struct slot *sl, uint32_t emitted)
{
	struct ring *r = sl->ctx.ring;
	uint32_t cap = ring_capacity(r), want = ring_fit(emitted);
	int rc;

	if (want <= cap)
		return;
	rc = ring_grow(r, want);
	if (rc < 0)
		log_limitedf(&sl->ctx.rl, LOGL_WARN, sl->desc->name,
			     "cannot grow the ring to %u samples: %s", want,
			     strerror(-rc));
	else
		log_msg(LOGL_DEBUG, sl->desc->name,
			"ring grown from %u to %u samples for %u a poll", cap,
			ring_capacity(r), emitted);
}

/* Sleep until abs (monotonic ns) or until asked to stop. */
static void slot_sleep_until(struct slot *sl, int64_t abs_ns)
{
	struct timespec ts = {abs_ns / NS_PER_S, abs_ns % NS_PER_S};

	pthread_mutex_lock(&sl->lock);
	while (!atomic_load(&sl->stop) && real_now() < abs_ns)
		if (pthread_cond_timedwait(&sl->cond, &sl->lock, &ts) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&sl->lock);
}

/* Last act of a slot thread. If stop gave up waiting for it (it was hung),
 * nobody else holds the slot any more: free it here. */
static void slot_exit(struct slot *sl)
{
	int orphaned;

	pthread_mutex_lock(&sl->lock);
	atomic_store(&sl->finished, 1);
	orphaned = sl->orphaned;
	pthread_mutex_unlock(&sl->lock);
	if (orphaned) {
		log_msg(LOGL_INFO, sl->name,
			"the abandoned instance returned and was cleaned up");
		slot_free(sl);
	}
}

static void *slot_thread(void *arg)
{
	struct slot *sl = arg;
	const char *name = sl->name;
	int64_t next, next_rescan, interval = (int64_t)(sl->interval_s * NS_PER_S);
	unsigned want = sl->desc->once_polls ? sl->desc->once_polls : 1;
	uint32_t registered = series_count(), emitted;
	int rc;

	ctx_bind_thread(&sl->ctx); /* the file layer's one-shot reads name it */
	/* init may block in a driver too: it runs here, not on main. */
	atomic_store(&sl->poll_start, clock_now_ns());
	rc = sl->desc->init(&sl->ctx, sl->cfg, &sl->state);
	atomic_store(&sl->poll_start, 0);
	/* Size the ring for the first poll: a collector that registered N
	 * series in init emits about N samples a poll (others registering at
	 * the same time only make the guess larger). A reload knows better:
	 * what the previous instance emitted. */
	registered = series_count() - registered;
	slot_fit_ring(sl, registered > sl->ring_hint ? registered : sl->ring_hint);
	ctx_running_set(sl, name, rc == 0 ? 1 : -1);
	if (rc != 0) {
		if (rc == -ENODEV)
			log_msg(LOGL_INFO, name, "nothing found: %s",
				sl->ctx.found[0] ? sl->ctx.found : "no devices");
		else {
			log_msg(LOGL_ERROR, name, "init failed: %s%s%s", strerror(-rc),
				sl->ctx.found[0] ? ": " : "", sl->ctx.found);
			/* Something is there but broken: say so in the metrics,
			 * where an alert on accelmon_collector_up sees it. */
			atomic_store(&sl->init_failed, 1);
		}
		atomic_store(&sl->done_once, 1);
		slot_exit(sl);
		return NULL;
	}
	log_msg(LOGL_INFO, name, "%s (every %gs)",
		sl->ctx.found[0] ? sl->ctx.found : "ready", sl->interval_s);
	atomic_store(&sl->running, 1);
	next = real_now();
	next_rescan = next + sl->rescan_ns;
	while (!atomic_load(&sl->stop)) {
		int64_t t0, t1, started = 0;

		/* Rescan right before a poll, so what it finds is reported by
		 * that poll. The watchdog deadline covers both. */
		if (sl->rescan_ns && real_now() >= next_rescan) {
			started = clock_now_ns();
			atomic_store_explicit(&sl->poll_start, started,
					      memory_order_release);
			rc = sl->desc->rescan(&sl->ctx, sl->state);
			if (rc != 0)
				log_limitedf(&sl->ctx.rl, LOGL_WARN, name,
					     "rescan failed: %s", strerror(-rc));
			next_rescan += sl->rescan_ns;
			if (next_rescan <= real_now()) /* keep the phase */
				next_rescan += ((real_now() - next_rescan) / sl->rescan_ns + 1) *
					       sl->rescan_ns;
		}
		t0 = clock_now_ns();
		sl->ctx.poll_ns = t0;
		emitted = ring_offered(sl->ctx.ring);
		/* release: the watchdog reading poll_start sees a poll under way */
		atomic_store_explicit(&sl->poll_start, started ? started : t0,
				      memory_order_release);
		rc = sl->desc->poll(&sl->ctx, sl->state);
		t1 = clock_now_ns();
		/* Hand the batch over now, not at the aggregator's next tick. */
		ring_wake_consumer(sl->ctx.ring);
		emitted = ring_offered(sl->ctx.ring) - emitted;
		atomic_store_explicit(&sl->ring_demand, emitted, memory_order_relaxed);
		slot_fit_ring(sl, emitted);
		atomic_store(&sl->last_duration, t1 - t0);
		atomic_store(&sl->last_rc, rc);
		atomic_store_explicit(&sl->poll_start, 0, memory_order_release);
		atomic_fetch_add(&sl->polls, 1);
		if (rc != 0)
			log_limitedf(&sl->ctx.rl, LOGL_WARN, name, "poll failed: %s",
				     strerror(-rc));
		if (sl->overrun_logged && rc == 0 && !atomic_load(&sl->stop)) {
			log_msg(LOGL_INFO, name, "poll completed again");
			sl->overrun_logged = 0;
		}
		if (sl->once && atomic_load(&sl->polls) >= want) {
			atomic_store(&sl->done_once, 1);
			break;
		}
		next += interval;
		if (next <= real_now()) /* overran: skip missed ticks, keep phase */
			next += ((real_now() - next) / interval + 1) * interval;
		slot_sleep_until(sl, next);
	}
	ctx_running_set(sl, name, -1);
	if (sl->desc->fini)
		sl->desc->fini(&sl->ctx, sl->state);
	sl->state = NULL;
	slot_exit(sl);
	return NULL;
}

/* The slot index of an instance name: the one it had before, else one
 * never used, else one whose instance is not in cfg any more (its series
 * have aged out or will, under their new owner). -1 when none is left. */
static int slot_index(struct sched *s, const struct agent_config *cfg,
		      const char *name)
{
	int i, unused = -1, gone = -1;

	for (i = 0; i < SCHED_MAX_SLOTS; i++) {
		if (!s->slot_name[i]) {
			if (unused < 0)
				unused = i;
		} else if (!strcmp(s->slot_name[i], name)) {
			return i;
		} else if (gone < 0 && !s->slots[i]) {
			const struct cfg_section *sec =
				config_collector(cfg, s->slot_name[i]);

			if (!sec || !sec->enabled)
				gone = i;
		}
	}
	i = unused >= 0 ? unused : gone;
	if (i < 0)
		return -1;
	free(s->slot_name[i]);
	if (!(s->slot_name[i] = strdup(name)))
		return -1;
	return i;
}

/* Instances made by one sched_start_collectors call, whose threads start
 * once every one of them is there (so each is "starting" for
 * am_collector_running before any init or poll runs). */
struct launch {
	int idx[SCHED_MAX_SLOTS];
	int n;
};

/* Set up instance `name` of section sec (its own name, or one the
 * collector's instances hook made of it); its thread starts at
 * slots_launch. 1 made, 0 not (logged), -ENOMEM. */
static int slot_start(struct sched *s, const struct agent_config *cfg,
		      const struct cfg_section *sec,
		      const struct am_collector *desc, const char *name, int once,
		      struct launch *l)
{
	struct slot *sl;
	pthread_condattr_t ca;
	int i = slot_index(s, cfg, name);

	if (i < 0) {
		log_msg(LOGL_ERROR, name,
			"not started: more than %d collector instances",
			SCHED_MAX_SLOTS);
		return 0;
	}
	sl = calloc(1, sizeof(*sl));
	if (!sl)
		return -ENOMEM;
	sl->name = strdup(name);
	sl->cfg = opts_dup(sec->opts);
	sl->sysfs = strdup(s->sysfs);
	sl->procfs = strdup(s->procfs);
	if (!sl->name || !sl->cfg || !sl->sysfs || !sl->procfs) {
		opts_free(sl->cfg);
		free(sl->name);
		free(sl->sysfs);
		free(sl->procfs);
		free(sl);
		return -ENOMEM;
	}
	sl->desc = desc;
	sl->interval_s = sec->interval_s;
	sl->timeout_s = sec->timeout_s > 0 ? sec->timeout_s : sec->interval_s;
	sl->rescan_ns = desc->rescan && sec->rescan_s > 0
				? (int64_t)(sec->rescan_s * NS_PER_S)
				: 0;
	sl->once = once;
	pthread_mutex_init(&sl->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&sl->cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_lock(&s->lock);
	sl->ring_hint = s->ring_demand[i];
	pthread_mutex_unlock(&s->lock);
	ctx_init(&sl->ctx, (int)i, desc, ring_create(ring_fit(sl->ring_hint)),
		 sl->sysfs, sl->procfs, sl->interval_s);
	ctx_set_instance(&sl->ctx, sl->name);
	if (!sl->ctx.ring) {
		slot_free(sl);
		return -ENOMEM;
	}
	ring_set_wake(sl->ctx.ring, sched_wake, (void *)(intptr_t)s->wake_fd);
	pthread_mutex_lock(&s->lock);
	if (s->slots[i]) /* left over from before a reload */
		slot_free(s->slots[i]);
	s->slots[i] = sl;
	pthread_mutex_unlock(&s->lock);
	/* "starting" before any instance's thread runs, so one that defers
	 * to this collector (am_collector_running) waits for its init */
	ctx_running_set(sl, sl->name, 0);
	l->idx[l->n++] = i;
	return 1;
}

/* Start the threads of the instances slot_start made; returns how many
 * run. */
static int slots_launch(struct sched *s, const struct launch *l)
{
	int started = 0;

	for (int k = 0; k < l->n; k++) {
		int i = l->idx[k];
		struct slot *sl = s->slots[i];

		if (pthread_create(&sl->thr, NULL, slot_thread, sl) != 0) {
			log_msg(LOGL_ERROR, sl->name, "cannot start thread");
			ctx_running_set(sl, NULL, -1);
			pthread_mutex_lock(&s->lock);
			s->slots[i] = NULL;
			pthread_mutex_unlock(&s->lock);
			slot_free(sl);
			continue;
		}
		started++;
	}
	return started;
}

/* The instances a plain section stands for (the collector's instances
 * hook): NAME/X for each X, less those the config has a section of.
 * Returns how many were made (*as_self: none listed, the section runs
 * as itself) or -ENOMEM. */
static int start_expanded(struct sched *s, const struct agent_config *cfg,
			  const struct cfg_section *sec,
			  const struct am_collector *desc, int once, bool *as_self,
			  struct launch *l)
{
	static char names[CFG_MAX_INSTANCES][AM_INSTANCE_NAME_MAX + 1];
	char full[64 + AM_INSTANCE_NAME_MAX + 2];
	int n = desc->instances(sec->opts, names, CFG_MAX_INSTANCES), made = 0;

	if (n < 0)
		log_msg(LOGL_WARN, sec->name, "cannot list its instances: %s",
			strerror(-n));
	*as_self = n <= 0;
	if (n <= 0)
		return 0;
	for (int k = 0; k < n && k < CFG_MAX_INSTANCES; k++) {
		int rc;

		names[k][AM_INSTANCE_NAME_MAX] = '\0';
		if (snprintf(full, sizeof(full), "%.63s/%s", sec->name, names[k]) >=
		    (int)sizeof(full))
			continue;
		if (config_collector(cfg, full))
			continue; /* its own section runs it (or keeps it off) */
		if ((rc = slot_start(s, cfg, sec, desc, full, once, l)) < 0)
			return rc;
		made += rc;
	}
	return made;
}

int sched_start_collectors(struct sched *s, const struct agent_config *cfg,
			   int once)
{
	struct launch l = {.n = 0};

	pthread_mutex_lock(&s->lock);
	s->once = once;
	pthread_mutex_unlock(&s->lock);
	for (size_t k = 0; k < cfg->ncollectors; k++) {
		const struct cfg_section *sec = &cfg->collectors[k];
		/* The runtime list (built-ins and plugins) checked every
		 * descriptor when it was added. */
		const struct am_collector *desc = collectors_find(sec->component);
		bool as_self = true;
		int rc = 0;

		if (!desc)
			continue;
		if (!sec->enabled) {
			log_msg(LOGL_INFO, sec->name, "%s",
				desc->flags & AM_COLLECTOR_NEEDS_CONFIG && !sec->present
					? "off (needs a config section)"
					: "disabled in config");
			continue;
		}
		if (desc->instances && !sec->instance)
			rc = start_expanded(s, cfg, sec, desc, once, &as_self, &l);
		if (rc >= 0 && as_self)
			rc = slot_start(s, cfg, sec, desc, sec->name, once, &l);
		if (rc < 0) {
			slots_launch(s, &l); /* those made so far run, as before */
			return rc;
		}
	}
	return slots_launch(s, &l);
}

/* Ingest what sl's ring holds (s->lock held). */
static size_t slot_drain(struct sched *s, struct slot *sl)
{
	size_t n, total = 0;

	while ((n = ring_pop_batch(sl->ctx.ring, s->batch, BATCH)) > 0) {
		agg_ingest(s->agg, s->batch, n);
		total += n;
	}
	return total;
}

/* Take stopped (or hung) slot i out of slots[]: what it emitted is
 * ingested, and its interval and ring demand stay with the index, so its
 * series go stale three intervals after their last sample and the next
 * instance's ring starts at the right size. */
static void slot_retire(struct sched *s, int i, struct slot *sl)
{
	pthread_mutex_lock(&s->lock);
	slot_drain(s, sl);
	if (atomic_load(&sl->running)) {
		s->stopped_interval[i] = sl->interval_s;
		s->ring_demand[i] =
		    atomic_load_explicit(&sl->ring_demand, memory_order_relaxed);
	}
	s->slots[i] = NULL;
	pthread_mutex_unlock(&s->lock);
}

void sched_stop_collectors(struct sched *s, double grace_s)
{
	struct timespec dl;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += (time_t)grace_s;
	dl.tv_nsec += (long)((grace_s - (double)(time_t)grace_s) * 1e9);
	if (dl.tv_nsec >= NS_PER_S) {
		dl.tv_sec++;
		dl.tv_nsec -= NS_PER_S;
	}
	for (int i = 0; i < SCHED_MAX_SLOTS; i++) {
		struct slot *sl = s->slots[i];

		if (!sl)
			continue;
		pthread_mutex_lock(&sl->lock);
		atomic_store(&sl->stop, 1);
		pthread_cond_broadcast(&sl->cond);
		pthread_mutex_unlock(&sl->lock);
	}
	for (int i = 0; i < SCHED_MAX_SLOTS; i++) {
		struct slot *sl = s->slots[i];

		if (!sl)
			continue;
		if (pthread_timedjoin_np(sl->thr, NULL, &dl) != 0) {
			int finished;

			/* Hung in a driver call. Its series go stale as those
			 * of any stopped instance (what it emitted so far is
			 * ingested, its interval kept), then leave the thread
			 * everything it can touch (slot, ring, state, options);
			 * it frees them if it ever returns. The drain runs
			 * before orphaned is set: until then the slot is ours. */
			slot_retire(s, i, sl);
			pthread_mutex_lock(&sl->lock);
			finished = atomic_load(&sl->finished);
			sl->orphaned = !finished;
			pthread_mutex_unlock(&sl->lock);
			if (finished) { /* returned just now after all */
				pthread_join(sl->thr, NULL);
				/* what its last poll pushed after the drain */
				pthread_mutex_lock(&s->lock);
				slot_drain(s, sl);
				pthread_mutex_unlock(&s->lock);
				slot_free(sl);
				continue;
			}
			log_msg(LOGL_WARN, sl->name,
				"did not stop within %gs (stuck in a poll); abandoned",
				grace_s);
			ctx_running_set(sl, NULL, -1);
			pthread_mutex_lock(&s->lock);
			s->orphans++;
			pthread_mutex_unlock(&s->lock);
			pthread_detach(sl->thr);
			continue;
		}
		/* The thread is gone: drain what it left, then drop the slot. */
		slot_retire(s, i, sl);
		slot_free(sl);
	}
}

int sched_wait_once(struct sched *s)
{
	int overran = 0;

	for (;;) {
		int pending = 0;
		int64_t now = clock_now_ns();

		for (int i = 0; i < SCHED_MAX_SLOTS; i++) {
			struct slot *sl = s->slots[i];

			if (!sl || atomic_load(&sl->done_once))
				continue;
			if (slot_overrun(sl, now)) {
				if (!sl->overrun_logged) {
					char where[320];

					ctx_where(&sl->ctx, where, sizeof(where));
					log_msg(LOGL_WARN, sl->name,
						"%s overran its %gs deadline%s%s; "
						"reported down",
						atomic_load(&sl->running) ? "poll" : "init",
						sl->timeout_s, where[0] ? ", stuck " : "",
						where);
					sl->overrun_logged = 1;
					overran++;
				}
				continue;
			}
			pending++;
		}
		if (!pending)
			return overran;
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}

static size_t drain_all(struct sched *s)
{
	size_t total = 0;

	for (int i = 0; i < SCHED_MAX_SLOTS; i++)
		if (s->slots[i])
			total += slot_drain(s, s->slots[i]);
	return total;
}

static void watchdog(struct sched *s, int64_t now)
{
	for (int i = 0; i < SCHED_MAX_SLOTS; i++) {
		struct slot *sl = s->slots[i];

		if (sl && !sl->overrun_logged && slot_overrun(sl, now)) {
			char where[320];

			/* What it is stuck in: the file or vendor call. */
			ctx_where(&sl->ctx, where, sizeof(where));
			log_msg(
			    LOGL_WARN, sl->name,
			    "%s overran its %gs deadline%s%s; reported down until it "
			    "returns",
			    atomic_load(&sl->running) ? "poll" : "init", sl->timeout_s,
			    where[0] ? ", stuck " : "", where);
			sl->overrun_logged = 1;
		}
	}
}

void sched_flush(struct sched *s)
{
	struct snapshot *snap;

	pthread_mutex_lock(&s->lock);
	drain_all(s);
	snap = agg_render(s->agg, clock_now_ns());
	pthread_mutex_unlock(&s->lock);
	if (snap)
		snapshot_publish(snap);
}

static void *agg_thread(void *arg)
{
	struct sched *s = arg;
	int64_t last_pub = 0;
	int dirty = 1;

	while (!atomic_load(&s->agg_stop)) {
		int64_t now;
		struct snapshot *snap = NULL;
		struct pollfd pfd = {.fd = s->wake_fd, .events = POLLIN};
		eventfd_t pokes;

		pthread_mutex_lock(&s->lock);
		dirty |= drain_all(s) > 0;
		now = clock_now_ns();
		watchdog(s, now);
		/* Publish soon after new samples, and at least every second so
		 * watchdog verdicts, staleness and process metrics move. */
		if ((dirty && now - last_pub >= 200 * 1000 * 1000LL) ||
		    now - last_pub >= NS_PER_S) {
			snap = agg_render(s->agg, now);
			last_pub = now;
			dirty = 0;
		}
		pthread_mutex_unlock(&s->lock);
		if (snap)
			snapshot_publish(snap);
		/* Until a collector hands over samples (a poll ended, a ring is
		 * half full) or 50 ms pass, for the watchdog and staleness. */
		if (poll(&pfd, 1, 50) > 0)
			(void)!eventfd_read(s->wake_fd, &pokes);
	}
	return NULL;
}

int sched_start_aggregator(struct sched *s)
{
	sched_flush(s); /* a first snapshot before anyone scrapes */
	atomic_store(&s->agg_stop, 0);
	if (pthread_create(&s->agg_thr, NULL, agg_thread, s) != 0)
		return -EAGAIN;
	s->agg_running = 1;
	return 0;
}

void sched_stop_aggregator(struct sched *s)
{
	if (!s->agg_running)
		return;
	atomic_store(&s->agg_stop, 1);
	sched_wake((void *)(intptr_t)s->wake_fd);
	pthread_join(s->agg_thr, NULL);
	s->agg_running = 0;
	sched_flush(s);
}
