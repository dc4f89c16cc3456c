/* Aggregator: per-series state fed from the rings, rendered into snapshots.
 *
 * Counters are tracked as exact unsigned integers (raw units): the exported
 * value starts at the first reading and grows by deltas, so it equals the
 * device counter until the first wrap or reset, and never decreases after.
 * Rate samples (ratios, watts) are integrated into seconds or joules. Value
 * text is formatted once when a value changes; rendering only copies bytes.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accelmon/util.h"
#include "agg.h"
#include "clock.h"
#include "expo.h"
#include "selfstats.h"
#include "series.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0"
#endif

/* A ratio against a capacity may read this much over 1 (collector.h). */
#define RATIO_CAPACITY_SLACK 1.1

struct window {
	unsigned head, n, cap;
	struct {
		int64_t t;
		double v;
	} e[];
};

/* A derived series' memory of its inputs at its last computation. */
struct dstate {
	uint8_t have;
	uint32_t a_disc, b_disc;
	uint64_t a_prev, b_prev; /* raw totals of a and b */
	int64_t t_prev;
};

struct sstate {
	uint8_t seen, saturated, vlen;
	uint8_t listed; /* in its family's list (may be before it is seen) */
	/* A derived series retired by its collector: not computed again
	 * until am_series_derived names it again (series.revive moves past
	 * revive_seen) or its input a is retired and comes back. */
	uint8_t retired;
	/* Released (am_series_release): its id is given up; samples that
	 * still name it are dropped. Kept when its entry is reclaimed. */
	uint8_t released;
	uint32_t revive_seen;
	/* Entries of it in the agg's finals list (pending_final). */
	uint32_t nfinal;
	/* Counts readings a delta cannot span (reset, saturated, retired):
	 * a derived ratio compares it with its own copy. Kept on retire. */
	uint32_t disc;
	int64_t last_t;
	uint64_t raw_prev;  /* counter: last raw reading */
	uint64_t raw_total; /* counter: exported value / scale */
	double value;       /* gauge, integral and window values (scaled) */
	struct window *win;
	struct dstate *d; /* derived series only */
	char vtext[32];
};

struct famlist {
	uint32_t *ids;
	size_t n, cap;
};

struct agg {
	struct agg_opts opts;
	struct sstate *st;
	size_t nst;
	struct famlist *fams;
	size_t nfams;
	/* deps[i]: the derived series computed when series i is updated
	 * (their input a), found by scanning the registry up to `scanned`. */
	struct famlist *deps;
	size_t ndeps;
	uint32_t scanned;
	struct agg_counts counts;
	uint64_t generation;
	/* Last values of retired series, kept for the final-value consumers
	 * (snapshot.h) until all have seen a snapshot that holds them: gen is
	 * the first snapshot generation that carries the entry. */
	struct pending_final {
		struct snap_value v;
		uint64_t gen;
	} *finals;
	size_t nfinals, capfinals;
	/* Released series whose registry entry is not reclaimed yet: rel_gen
	 * is the first generation rendered without it, out_gen the last
	 * snapshot generation that may hold it (UINT64_MAX while a final of
	 * it is pending or a consumer has not seen rel_gen yet). */
	struct pending_reclaim {
		uint32_t id;
		uint64_t rel_gen, out_gen;
	} *reclaim;
	size_t nreclaim, capreclaim;
	struct agg_collector_status *status_buf;
	size_t status_cap;
};

static pthread_once_t finals_stat_once = PTHREAD_ONCE_INIT;
static void finals_stat_register(void);

struct agg *agg_new(const struct agg_opts *opts)
{
	struct agg *a = calloc(1, sizeof(*a));

	pthread_once(&finals_stat_once, finals_stat_register);

	if (!a)
		return NULL;
	if (opts)
		a->opts = *opts;
	return a;
}

void agg_free(struct agg *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->nst; i++) {
		free(a->st[i].win);
		free(a->st[i].d);
	}
	for (size_t i = 0; i < a->nfams; i++)
		free(a->fams[i].ids);
	for (size_t i = 0; i < a->ndeps; i++)
		free(a->deps[i].ids);
	free(a->st);
	free(a->fams);
	free(a->deps);
	free(a->finals);
	free(a->reclaim);
	free(a->status_buf);
	free(a);
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
	size_t ncap = *cap ? *cap : 64;
	void *n;

	if (need <= *cap)
		return 0;
	while (ncap < need)
		ncap *= 2;
	n = realloc(*p, ncap * elem);
	if (!n)
		return -ENOMEM;
	memset((char *)n + *cap * elem, 0, (ncap - *cap) * elem);
	*p = n;
	*cap = ncap;
	return 0;
}

/* First sample of a series: make room and list it under its family. */
static struct sstate *state_for(struct agg *a, const struct series *s)
{
	struct famlist *fl;
	size_t i;

	if (grow((void **)&a->st, &a->nst, (size_t)s->id + 1, sizeof(*a->st)) < 0 ||
	    grow((void **)&a->fams, &a->nfams, (size_t)s->fam->id + 1,
		 sizeof(*a->fams)) < 0)
		return NULL;
	if (a->st[s->id].listed)
		return &a->st[s->id];
	fl = &a->fams[s->fam->id];
	if (grow((void **)&fl->ids, &fl->cap, fl->n + 1, sizeof(*fl->ids)) < 0)
		return NULL;
	/* Keep ids sorted so the output order is stable (registration order). */
	i = fl->n;
	while (i > 0 && fl->ids[i - 1] > s->id) {
		fl->ids[i] = fl->ids[i - 1];
		i--;
	}
	fl->ids[i] = s->id;
	fl->n++;
	a->st[s->id].listed = 1;
	return &a->st[s->id];
}

/* Value text is formatted only when the value changed (bit for bit, so
 * -0 and NaN payloads are kept): most device values are constant from one
 * poll to the next, and formatting is the costly part of ingesting. */
static void set_text_double(struct sstate *st, double v)
{
	if (st->vlen && memcmp(&st->value, &v, sizeof(v)) == 0)
		return;
	st->value = v;
	st->vlen = (uint8_t)expo_format_double(st->vtext, sizeof(st->vtext), v);
}

static double counter_value(const struct famview *f, uint64_t total)
{
	return (double)total * f->scale;
}

static void set_text_counter(const struct famview *f, struct sstate *st)
{
	double scaled = f->scale;

	/* Integer scales keep exact integer text (bytes = words x 4). */
	if (scaled == floor(scaled) && scaled >= 1 && scaled < 1e6 &&
	    st->raw_total <= UINT64_MAX / (uint64_t)scaled) {
		st->vlen = (uint8_t)expo_format_u64(st->vtext, sizeof(st->vtext),
						    st->raw_total * (uint64_t)scaled);
		st->value = (double)(st->raw_total * (uint64_t)scaled);
	} else {
		set_text_double(st, counter_value(f, st->raw_total));
	}
}

/* The exported counter never goes down, even past 2^64 raw units. */
static uint64_t add_sat(uint64_t total, uint64_t delta)
{
	return total > UINT64_MAX - delta ? UINT64_MAX : total + delta;
}

/* A device counter reading: unwrap, detect resets and saturation. Returns
 * -1 (and changes nothing) for a reading the counter cannot hold. */
static int apply_counter(struct agg *a, const struct famview *f,
			 struct sstate *st, uint64_t raw)
{
	uint64_t mask = f->bits >= 64 ? UINT64_MAX : ((1ull << f->bits) - 1);
	uint64_t delta, before = st->raw_total;

	if (raw > mask) {
		/* More bits than the declared width: the collector misread. */
		a->counts.bad_values++;
		return -1;
	}
	if (!st->seen) {
		st->raw_total = raw;
	} else if (raw >= st->raw_prev) {
		st->raw_total = add_sat(st->raw_total, raw - st->raw_prev);
	} else if (!f->saturating && f->bits < 64 &&
		   (delta = (raw - st->raw_prev) & mask) <= mask / 2) {
		/* A narrow counter below where it was, by a forward distance
		 * of at most half its range, has wrapped once (polls are far
		 * more frequent than half a wrap). A longer distance means it
		 * went backwards: a reset. */
		st->raw_total = add_sat(st->raw_total, delta);
		a->counts.wraps++;
	} else {
		/* Backwards: a reset (driver reload, counter clear). What the
		 * counter holds now was counted since the reset. */
		st->raw_total = add_sat(st->raw_total, raw);
		st->saturated = 0;
		st->disc++;
		a->counts.resets++;
	}
	if (f->saturating) {
		int sat = raw == mask;

		if (sat && !st->saturated)
			a->counts.saturations++;
		/* At its maximum the counter stopped counting: the delta
		 * into this reading is a lower bound, not a value. */
		if (sat)
			st->disc++;
		st->saturated = (uint8_t)sat;
	}
	st->raw_prev = raw;
	if (!st->seen || !st->vlen || st->raw_total != before)
		set_text_counter(f, st);
	return 0;
}

static void apply_window(const struct famview *f, struct sstate *st, int64_t t,
			 double v)
{
	struct window *w = st->win;
	int64_t horizon = t - (int64_t)(f->window_s * NS_PER_S);
	double acc;

	if (!w) {
		w = calloc(1, sizeof(*w) + 16 * sizeof(w->e[0]));
		if (!w)
			return;
		w->cap = 16;
		st->win = w;
	}
	/* Evict samples that left the window. */
	while (w->n && w->e[w->head].t <= horizon) {
		w->head = (w->head + 1) % w->cap;
		w->n--;
	}
	if (w->n == w->cap) {
		if (w->cap < 4096) {
			struct window *nw =
				calloc(1, sizeof(*nw) + 2 * w->cap * sizeof(w->e[0]));

			if (nw) {
				for (unsigned i = 0; i < w->n; i++)
					nw->e[i] = w->e[(w->head + i) % w->cap];
				nw->n = w->n;
				nw->cap = 2 * w->cap;
				free(w);
				st->win = w = nw;
			}
		}
		if (w->n == w->cap) { /* could not grow: forget the oldest */
			w->head = (w->head + 1) % w->cap;
			w->n--;
		}
	}
	w->e[(w->head + w->n) % w->cap].t = t;
	w->e[(w->head + w->n) % w->cap].v = v;
	w->n++;
	acc = f->kind == AM_WINDOW_MAX ? -INFINITY : 0;
	for (unsigned i = 0; i < w->n; i++) {
		double x = w->e[(w->head + i) % w->cap].v;

		if (f->kind == AM_WINDOW_MAX)
			acc = x > acc ? x : acc;
		else
			acc += x;
	}
	set_text_double(st, f->kind == AM_WINDOW_MAX ? acc : acc / w->n);
}

static double owner_interval(const struct agg *a, int owner)
{
	if (owner < 0 || !a->opts.interval)
		return 0;
	return a->opts.interval(a->opts.arg, owner);
}

/* A value (already scaled) of a non-counter kind: a sample, or a derived
 * value computed by the aggregator. */
static void apply_value(struct agg *a, const struct series *se, struct sstate *st,
			int64_t t, double v)
{
	const struct famview *f = se->view;

	switch (f->kind) {
	case AM_INTEGRAL:
		if (!st->seen) {
			set_text_double(st, 0);
		} else if (t > st->last_t) {
			double dt = (double)(t - st->last_t) / NS_PER_S;
			double iv = owner_interval(a, se->owner);

			/* A gap longer than the staleness horizon is time
			 * nobody observed: integrate nothing over it. */
			if (am_gap_observed(dt, iv))
				set_text_double(st, st->value + v * dt);
		}
		break;
	case AM_WINDOW_MAX:
	case AM_WINDOW_MEAN:
		apply_window(f, st, t, v);
		break;
	case AM_INFO:
		set_text_double(st, 1);
		break;
	default:
		set_text_double(st, v);
		break;
	}
}

static void mark_seen(struct sstate *st, int64_t t)
{
	st->seen = 1;
	if (t > st->last_t || !st->last_t)
		st->last_t = t;
}


/* The finals dropped past max_finals, all aggregators (a self metric). */
static _Atomic uint64_t finals_dropped_total;

static void finals_stat_register(void)
{
	agg_stat_register("accelmon_records_final_values_dropped_total",
			  "Last values of retired series not kept for the records "
			  "exporter because a records writer lagged past the bound.",
			  1, "", &finals_dropped_total);
}

/* Keep series id's last value for the final-value consumers: the latest
 * one where an earlier run of it (retired, back, retired again) is still
 * pending, so a consumer never writes the older; none past the bound,
 * counted. */
static void add_final(struct agg *a, struct sstate *st, uint32_t id)
{
	size_t max = a->opts.max_finals ? a->opts.max_finals : AGG_MAX_FINALS;

	if (st->nfinal)
		for (size_t i = a->nfinals; i-- > 0;)
			if (a->finals[i].v.series == id) {
				a->finals[i].v.value = st->value;
				a->finals[i].gen = a->generation + 1;
				return;
			}
	if (a->nfinals >= max ||
	    grow((void **)&a->finals, &a->capfinals, a->nfinals + 1,
		 sizeof(*a->finals)) != 0) {
		a->counts.finals_dropped++;
		atomic_fetch_add_explicit(&finals_dropped_total, 1, memory_order_relaxed);
		return;
	}
	a->finals[a->nfinals++] = (struct pending_final){{id, st->value},
							 a->generation + 1};
	st->nfinal++;
}

/* Forget a series (am_series_retire): out of its family's list, so it is
 * not rendered, and no state, so a later sample starts it afresh. The
 * derived series computed from it go with it. */
static void retire(struct agg *a, uint32_t id, int depth)
{
	struct sstate *st;
	struct famlist *fl;
	const struct series *se = series_get(id);
	uint32_t disc, nfinal;

	if (!se || id >= a->nst)
		return;
	st = &a->st[id];
	if (st->listed && (size_t)se->fam->id < a->nfams) {
		fl = &a->fams[se->fam->id];
		for (size_t i = 0; i < fl->n; i++) {
			if (fl->ids[i] == id) {
				memmove(&fl->ids[i], &fl->ids[i + 1],
					(fl->n - i - 1) * sizeof(*fl->ids));
				fl->n--;
				break;
			}
		}
	}
	/* Its last value goes to the final-value consumers (records): up to
	 * a records interval of a job that ended would otherwise be lost. */
	if (st->seen && st->vlen)
		add_final(a, st, id);
	free(st->win);
	free(st->d);
	disc = st->disc + 1;
	nfinal = st->nfinal;
	memset(st, 0, sizeof(*st));
	st->disc = disc;
	st->nfinal = nfinal;
	if (depth == 0 && se->derive.op) {
		st->retired = 1;
		st->revive_seen = atomic_load_explicit(&se->revive, memory_order_acquire);
	}
	if (depth == 0 && id < a->ndeps)
		for (size_t i = 0; i < a->deps[id].n; i++)
			retire(a, a->deps[id].ids[i], 1);
}

/* am_series_release: retired (its last value goes to the final-value
 * consumers), then its registry entry is reclaimed once nothing can look it
 * up any more (reclaim_due). The registry took it out of its hash. */
static void release(struct agg *a, uint32_t id)
{
	retire(a, id, 0);
	/* Out of memory: retired all the same; its entry is never freed. */
	if (grow((void **)&a->st, &a->nst, (size_t)id + 1, sizeof(*a->st)) < 0)
		return;
	a->st[id].released = 1;
	if (grow((void **)&a->reclaim, &a->capreclaim, a->nreclaim + 1,
		 sizeof(*a->reclaim)) < 0)
		return;
	a->reclaim[a->nreclaim++] =
	    (struct pending_reclaim){id, a->generation + 1, UINT64_MAX};
}

/* At a render of generation gen (finals already pruned): a released series
 * whose finals are all gone, and past which every final-value consumer has
 * reported (remote write keeps ids and label pointers from one push to the
 * next: its stale marker for the series is sent from them), is in no
 * snapshot from gen on; once every snapshot up to then is released, no
 * reader can look it up. A final dropped past max_finals does not shorten
 * that wait. */
static void reclaim_due(struct agg *a, uint64_t gen)
{
	uint64_t oldest = snapshot_oldest_live(), horizon = snapshot_final_horizon();
	size_t k = 0;

	for (size_t i = 0; i < a->nreclaim; i++) {
		struct pending_reclaim *r = &a->reclaim[i];

		if (r->out_gen == UINT64_MAX && a->st[r->id].nfinal == 0 &&
		    horizon >= r->rel_gen)
			r->out_gen = gen - 1;
		if (r->out_gen != UINT64_MAX && oldest > r->out_gen) {
			series_reclaim(r->id);
			continue;
		}
		a->reclaim[k++] = *r;
	}
	a->nreclaim = k;
}

/* List the derived series registered since the last call under their
 * input a, and make room for every series so that computing one never
 * moves another's state. */
static void scan_derived(struct agg *a)
{
	uint32_t count = series_count();

	if (count == a->scanned ||
	    grow((void **)&a->st, &a->nst, count, sizeof(*a->st)) < 0)
		return;
	for (; a->scanned < count; a->scanned++) {
		const struct series *se = series_get(a->scanned);
		struct famlist *dl;

		if (!se || !se->derive.op)
			continue;
		if (grow((void **)&a->deps, &a->ndeps, (size_t)se->derive.a + 1,
			 sizeof(*a->deps)) < 0)
			return; /* retried at the next batch */
		dl = &a->deps[se->derive.a];
		if (grow((void **)&dl->ids, &dl->cap, dl->n + 1, sizeof(*dl->ids)) < 0)
			return;
		dl->ids[dl->n++] = a->scanned;
	}
}

/* delta(a) / (delta(b) or seconds) / capacity over the interval since the
 * last computation, in exported units, from the exact integer totals.
 * Returns 0 with *out set, or -1 when the interval has no value. */
static int derive_ratio(struct agg *a, const struct series *ds, struct dstate *d,
			int64_t t, double *out)
{
	const struct series_derive *b = &ds->derive; /* the inputs */
	const struct sstate *sa = &a->st[b->a];
	const struct sstate *sb = b->b != AM_SERIES_INVALID ? &a->st[b->b] : NULL;
	const struct sstate *sc =
		b->capacity != AM_SERIES_INVALID ? &a->st[b->capacity] : NULL;
	int ok = d->have && sa->disc == d->a_disc && t > d->t_prev;
	double num, den;
	uint64_t da, db = 0;

	/* b read in another poll than a (its read failed this time): the two
	 * deltas would span different intervals (one of a over two of b). No
	 * value, and the next interval starts at the last poll that had both. */
	if (sb && (!sb->seen || sb->last_t != t))
		return -1;
	if (sb && sb->disc != d->b_disc)
		ok = 0;
	da = sa->raw_total - d->a_prev;
	if (sb)
		db = sb->raw_total - d->b_prev;
	num = (double)da * series_get(b->a)->view->scale;
	den = sb ? (double)db * series_get(b->b)->view->scale
		 : (double)(t - d->t_prev) / NS_PER_S;
	if (sc)
		den *= sc->seen ? sc->value : 0;
	/* The next interval starts at this reading, whatever this one gave. */
	d->a_prev = sa->raw_total;
	d->a_disc = sa->disc;
	d->b_prev = sb ? sb->raw_total : 0;
	d->b_disc = sb ? sb->disc : 0;
	d->t_prev = t;
	d->have = 1;
	if (!ok || !(den > 0) || !isfinite(den))
		return -1;
	*out = num / den;
	/* Against a capacity (line rate), a reading a little over 1 is timing
	 * jitter between the counter and the clock: up to 10% over is 1;
	 * beyond that the inputs disagree (a wrong speed): no value. */
	if (sc && *out > 1) {
		if (!(*out <= RATIO_CAPACITY_SLACK))
			return -1;
		*out = 1;
	}
	return 0;
}

/* Input `ida` was just updated at time t (prev_t: its previous sample, when
 * had_prev): compute the derived series bound to it. */
static void derive_from(struct agg *a, uint32_t ida, int64_t t, int64_t prev_t,
			int had_prev)
{
	if (ida >= a->ndeps)
		return;
	for (size_t k = 0; k < a->deps[ida].n; k++) {
		uint32_t id = a->deps[ida].ids[k];
		const struct series *ds = series_get(id);
		struct sstate *st = state_for(a, ds);
		const struct sstate *sa = &a->st[ida];
		double v;

		if (!st)
			continue;
		if (st->retired) {
			if (atomic_load_explicit(&ds->revive, memory_order_acquire) ==
			    st->revive_seen)
				continue;
			st->retired = 0;
		}
		switch (ds->derive.op) {
		case AM_DERIVE_RATIO:
			if (!st->d && !(st->d = calloc(1, sizeof(*st->d))))
				continue;
			if (derive_ratio(a, ds, st->d, t, &v) < 0) {
				/* An integral skips the interval that has no
				 * value instead of stretching the next one. */
				if (st->seen && ds->view->kind == AM_INTEGRAL &&
				    t > st->last_t)
					st->last_t = t;
				continue;
			}
			apply_value(a, ds, st, t, v);
			break;
		case AM_DERIVE_SATURATED:
			apply_value(a, ds, st, t, sa->saturated ? 1 : 0);
			break;
		case AM_DERIVE_INTEGRAL:
			/* The AM_INTEGRAL rule, on a's own sample times: a's
			 * value stands for (prev_t, t]; a negative or infinite
			 * one is refused and that interval integrates nothing. */
			if (!isfinite(sa->value) || sa->value < 0) {
				a->counts.bad_values++;
				if (!st->seen)
					continue;
			} else if (!st->seen) {
				set_text_double(st, 0);
			} else if (had_prev && t > prev_t) {
				double dt = (double)(t - prev_t) / NS_PER_S;
				double iv = owner_interval(a, ds->owner);

				if (am_gap_observed(dt, iv))
					set_text_double(st, st->value + sa->value * dt);
			}
			break;
		default:
			continue;
		}
		mark_seen(st, t);
	}
}

void agg_ingest(struct agg *a, const struct am_sample *smp, size_t n)
{
	scan_derived(a);
	for (size_t k = 0; k < n; k++) {
		const struct am_sample *s = &smp[k];
		const struct series *se = series_get(s->series);
		const struct famview *f;
		struct sstate *st;
		int64_t prev_t;
		int had_prev;
		double v;

		if (!se || (s->series < a->nst && a->st[s->series].released)) {
			a->counts.unknown_series++;
			continue;
		}
		if ((s->flags & SAMPLE_RETIRE) && (s->flags & SAMPLE_RELEASE)) {
			release(a, s->series);
			continue;
		}
		if (s->flags & SAMPLE_RETIRE) {
			retire(a, s->series, 0);
			continue;
		}
		if (se->derive.op) {
			/* Computed here, never sampled. */
			a->counts.bad_values++;
			continue;
		}
		f = se->view;
		st = state_for(a, se);
		if (!st)
			continue;
		a->counts.samples++;
		prev_t = st->last_t;
		had_prev = st->seen;
		if (f->kind == AM_COUNTER) {
			uint64_t raw;

			if (s->flags & SAMPLE_U64) {
				memcpy(&raw, &s->value, sizeof(raw));
			} else if (s->value >= 0 && s->value < 18446744073709551616.0 &&
				   s->value == floor(s->value)) {
				raw = (uint64_t)s->value;
			} else {
				a->counts.bad_values++;
				continue;
			}
			if (apply_counter(a, f, st, raw) < 0)
				continue;
		} else {
			v = s->value;
			if (s->flags & SAMPLE_U64) {
				uint64_t raw;

				/* am_emit_u64 on a gauge-like family: the
				 * reading's value (collector.h), not its bits. */
				memcpy(&raw, &s->value, sizeof(raw));
				v = (double)raw;
			}
			/* A rate is never negative: integrating one would make
			 * the counter go down. */
			if ((!isfinite(v) && f->kind != AM_GAUGE) ||
			    (f->kind == AM_INTEGRAL && v < 0)) {
				a->counts.bad_values++;
				/* The refused value's interval integrates
				 * nothing: the next sample stands only for
				 * the time since this one. */
				if (f->kind == AM_INTEGRAL && st->seen &&
				    s->t_ns > st->last_t)
					st->last_t = s->t_ns;
				continue;
			}
			apply_value(a, se, st, s->t_ns, v * f->scale);
		}
		mark_seen(st, s->t_ns);
		derive_from(a, s->series, s->t_ns, prev_t, had_prev);
	}
}

int agg_value(const struct agg *a, uint32_t id, double *out)
{
	if (id >= a->nst || !a->st[id].seen)
		return -ENOENT;
	*out = a->st[id].value;
	return 0;
}

int agg_saturated(const struct agg *a, uint32_t id)
{
	return id < a->nst && a->st[id].saturated;
}

void agg_counts(const struct agg *a, struct agg_counts *out)
{
	*out = a->counts;
}

/* ---- agent-wide stats registered by exporters ---- */

struct agg_stat {
	char *name, *help, *labels;
	int is_counter;
	const _Atomic uint64_t *value;
};
static pthread_mutex_t stat_lock = PTHREAD_MUTEX_INITIALIZER;
static struct agg_stat *stats;
static size_t nstats, stats_cap;

int agg_reserved_name(const char *name)
{
	return name && (strncmp(name, "accelmon_", strlen("accelmon_")) == 0 ||
			strncmp(name, "process_", strlen("process_")) == 0);
}

int agg_stat_register(const char *name, const char *help, int is_counter,
		      const char *labels, const _Atomic uint64_t *value)
{
	int rc = 0;

	/* Only reserved names: a collector family can never take one. */
	if (!name || strncmp(name, "accelmon_", strlen("accelmon_")) != 0)
		return -EINVAL;
	pthread_mutex_lock(&stat_lock);
	if (grow((void **)&stats, &stats_cap, nstats + 1, sizeof(*stats)) < 0) {
		rc = -ENOMEM;
	} else {
		struct agg_stat *s = &stats[nstats];

		s->name = strdup(name);
		s->help = expo_escape_help(help);
		s->labels = strdup(labels ? labels : "");
		s->is_counter = is_counter;
		s->value = value;
		if (!s->name || !s->help || !s->labels) {
			free(s->name);
			free(s->help);
			free(s->labels);
			rc = -ENOMEM;
		} else {
			nstats++;
		}
	}
	pthread_mutex_unlock(&stat_lock);
	return rc;
}

/* Histograms of other components (agg_stat_register_histogram), under
 * stat_lock like the stats. */
struct agg_hist {
	char *name, *help, *labels; /* labels without the braces */
	unsigned nb;
	const double *le;
	const _Atomic uint64_t *counts, *sum;
	double sum_scale;
};
static struct agg_hist *hists;
static size_t nhists, hists_cap;

int agg_stat_register_histogram(const char *name, const char *help, const char *labels,
				unsigned nb, const double *le,
				const _Atomic uint64_t *counts,
				const _Atomic uint64_t *sum, double sum_scale)
{
	size_t ll = labels ? strlen(labels) : 0;
	int rc = 0;

	if (!name || strncmp(name, "accelmon_", strlen("accelmon_")) != 0 || !nb ||
	    !isinf(le[nb - 1]) ||
	    (ll && (ll < 2 || labels[0] != '{' || labels[ll - 1] != '}')))
		return -EINVAL;
	pthread_mutex_lock(&stat_lock);
	if (grow((void **)&hists, &hists_cap, nhists + 1, sizeof(*hists)) < 0) {
		rc = -ENOMEM;
	} else {
		struct agg_hist *h = &hists[nhists];

		h->name = strdup(name);
		h->help = expo_escape_help(help);
		h->labels = ll ? strndup(labels + 1, ll - 2) : strdup("");
		h->nb = nb;
		h->le = le;
		h->counts = counts;
		h->sum = sum;
		h->sum_scale = sum_scale;
		if (!h->name || !h->help || !h->labels) {
			free(h->name);
			free(h->help);
			free(h->labels);
			rc = -ENOMEM;
		} else {
			nhists++;
		}
	}
	pthread_mutex_unlock(&stat_lock);
	return rc;
}

void agg_stat_clear(void)
{
	pthread_mutex_lock(&stat_lock);
	for (size_t i = 0; i < nstats; i++) {
		free(stats[i].name);
		free(stats[i].help);
		free(stats[i].labels);
	}
	nstats = 0;
	for (size_t i = 0; i < nhists; i++) {
		free(hists[i].name);
		free(hists[i].help);
		free(hists[i].labels);
	}
	nhists = 0;
	pthread_mutex_unlock(&stat_lock);
}

/* ---- rendering ---- */

static void put_line(struct buf *t, struct buf *o, const char *name,
		     const char *labels, const char *val, size_t vlen)
{
	size_t start = t->len;

	buf_puts(t, name);
	buf_puts(t, labels);
	buf_put(t, " ", 1);
	buf_put(t, val, vlen);
	buf_put(t, "\n", 1);
	/* Sample lines are the same in both formats (counters already carry
	 * their _total); only the family headers differ. */
	if (!t->oom)
		buf_put(o, t->p + start, t->len - start);
}

static void header2(struct buf *t, struct buf *o, const struct family *f)
{
	expo_family_header(t, f, 0);
	expo_family_header(o, f, 1);
}

static void self_family(struct buf *t, struct buf *o, const char *name,
			const char *help, enum am_kind kind, const char *unit)
{
	struct family f;

	memset(&f, 0, sizeof(f));
	f.name = (char *)name;
	f.help_escaped = (char *)help;
	f.kind = kind;
	f.unit = (char *)unit;
	header2(t, o, &f);
}

static void self_value(struct buf *t, struct buf *o, const char *name,
		       const char *labels, double v)
{
	char val[32];
	int n = expo_format_double(val, sizeof(val), v);

	put_line(t, o, name, labels, val, (size_t)n);
}

/* Histogram i (stat_lock held), its family header before the first of
 * its name. The buckets are counted apart and summed here, so each is at
 * least the one before and +Inf is _count, whatever a writer does while
 * they are read. */
static void render_hist(struct buf *t, struct buf *o, size_t i)
{
	const struct agg_hist *h = &hists[i];
	uint64_t cum = 0;
	/* Sized to the labels (a URL may be 2 KiB): a cut line would break
	 * the whole page. */
	size_t ll = strlen(h->labels) + 48, nl = strlen(h->name) + 8;
	char *lbl = malloc(ll), *name = malloc(nl), val[32];
	const char *sep = h->labels[0] ? "," : "";
	int first = 1;

	if (!lbl || !name)
		goto out;
	for (size_t j = 0; j < i; j++)
		if (!strcmp(hists[j].name, h->name))
			first = 0;
	if (first) {
		/* The family is the name itself, in both formats. */
		buf_printf(t, "# HELP %s %s\n# TYPE %s histogram\n", h->name, h->help,
			   h->name);
		buf_printf(o, "# HELP %s %s\n# TYPE %s histogram\n", h->name, h->help,
			   h->name);
	}
	snprintf(name, nl, "%s_bucket", h->name);
	for (unsigned b = 0; b < h->nb; b++) {
		cum += atomic_load_explicit(&h->counts[b], memory_order_relaxed);
		if (isinf(h->le[b]))
			snprintf(val, sizeof(val), "+Inf");
		else
			expo_format_double(val, sizeof(val), h->le[b]);
		snprintf(lbl, ll, "{%s%sle=\"%s\"}", h->labels, sep, val);
		self_value(t, o, name, lbl, (double)cum);
	}
	snprintf(lbl, ll, h->labels[0] ? "{%s}" : "%s", h->labels);
	snprintf(name, nl, "%s_sum", h->name);
	self_value(t, o, name, lbl,
		   (double)atomic_load_explicit(h->sum, memory_order_relaxed) *
		       h->sum_scale);
	snprintf(name, nl, "%s_count", h->name);
	self_value(t, o, name, lbl, (double)cum);
out:
	free(lbl);
	free(name);
}

static void render_self(struct agg *a, struct buf *t, struct buf *o)
{
	struct selfstats ps;
	size_t n = 0;
	char lbl[256];

	self_family(t, o, "accelmon_build_info",
		    "A constant 1 labelled with the agent's version and collector ABI.",
		    AM_INFO, NULL);
	snprintf(lbl, sizeof(lbl), "{version=\"%s\",abi=\"%u\"}", PACKAGE_VERSION,
		 ACCELMON_COLLECTOR_ABI_VERSION);
	self_value(t, o, "accelmon_build_info", lbl, 1);

	if (a->opts.status) {
		if (!a->status_buf) {
			a->status_cap = 256;
			a->status_buf = calloc(a->status_cap, sizeof(*a->status_buf));
		}
		if (a->status_buf)
			n = a->opts.status(a->opts.arg, a->status_buf, a->status_cap);
	}
	if (n) {
		static const struct {
			const char *name, *help, *unit;
			enum am_kind kind;
		} fams[] = {
			{"accelmon_collector_up",
			 "1 when the collector's last poll succeeded within its deadline, 0 when it failed or overran (watchdog).",
			 NULL, AM_GAUGE},
			{"accelmon_collector_duration_seconds",
			 "Wall-clock duration of the collector's last completed poll.",
			 "seconds", AM_GAUGE},
			/* beside the duration, so an alert can tell a poll
			 * that takes most of its interval (overrunning) */
			{"accelmon_collector_interval_seconds",
			 "Configured poll interval of the collector.", "seconds",
			 AM_GAUGE},
			{"accelmon_ring_dropped_samples_total",
			 "Samples dropped because the collector's ring was full.",
			 NULL, AM_COUNTER},
			{"accelmon_collector_read_errors_total",
			 "Files or calls the collector could not read (skipped, the rest still reported).",
			 NULL, AM_COUNTER},
		};
		for (size_t k = 0; k < sizeof(fams) / sizeof(fams[0]); k++) {
			self_family(t, o, fams[k].name, fams[k].help, fams[k].kind,
				    fams[k].unit);
			for (size_t i = 0; i < n; i++) {
				const struct agg_collector_status *cs = &a->status_buf[i];
				double v;
				char *esc = expo_escape_label_value(cs->name);

				if ((k == 1 && cs->duration_s < 0) ||
				    (k == 2 && cs->interval_s <= 0)) {
					free(esc);
					continue;
				}
				v = k == 0   ? cs->up
				    : k == 1 ? cs->duration_s
				    : k == 2 ? cs->interval_s
				    : k == 3 ? (double)cs->dropped
					     : (double)cs->read_errors;
				snprintf(lbl, sizeof(lbl), "{collector=\"%s\"}",
					 esc ? esc : "");
				free(esc);
				self_value(t, o, fams[k].name, lbl, v);
			}
		}
	}

	pthread_mutex_lock(&stat_lock);
	for (size_t i = 0; i < nstats; i++) {
		/* Families may repeat with other labels: header once. */
		int first = 1;

		for (size_t j = 0; j < i; j++)
			if (strcmp(stats[j].name, stats[i].name) == 0)
				first = 0;
		if (first) {
			for (size_t j = i; j < nstats; j++) {
				if (strcmp(stats[j].name, stats[i].name) != 0)
					continue;
				if (j == i)
					self_family(t, o, stats[i].name, stats[i].help,
						    stats[i].is_counter ? AM_COUNTER
									: AM_GAUGE,
						    NULL);
				self_value(t, o, stats[j].name, stats[j].labels,
					   (double)atomic_load_explicit(
						   stats[j].value, memory_order_relaxed));
			}
		}
	}
	for (size_t i = 0; i < nhists; i++)
		render_hist(t, o, i);
	pthread_mutex_unlock(&stat_lock);

	if (selfstats_read(&ps) == 0) {
		self_family(t, o, "process_cpu_seconds_total",
			    "Total user and system CPU time spent in seconds.",
			    AM_COUNTER, "seconds");
		self_value(t, o, "process_cpu_seconds_total", "", ps.cpu_seconds);
		self_family(t, o, "process_resident_memory_bytes",
			    "Resident memory size in bytes.", AM_GAUGE, "bytes");
		self_value(t, o, "process_resident_memory_bytes", "", ps.rss_bytes);
		self_family(t, o, "process_virtual_memory_bytes",
			    "Virtual memory size in bytes.", AM_GAUGE, "bytes");
		self_value(t, o, "process_virtual_memory_bytes", "", ps.vsize_bytes);
		self_family(t, o, "process_start_time_seconds",
			    "Start time of the process since unix epoch in seconds.",
			    AM_GAUGE, "seconds");
		self_value(t, o, "process_start_time_seconds", "", ps.start_time_s);
		self_family(t, o, "process_open_fds",
			    "Number of open file descriptors.", AM_GAUGE, NULL);
		self_value(t, o, "process_open_fds", "", ps.open_fds);
		self_family(t, o, "process_max_fds",
			    "Maximum number of open file descriptors.", AM_GAUGE, NULL);
		self_value(t, o, "process_max_fds", "", ps.max_fds);
	}
}

static int series_live(const struct agg *a, const struct series *s,
		       const struct sstate *st, int64_t now)
{
	double iv;

	if (s->owner < 0 || !a->opts.interval)
		return 1;
	iv = a->opts.interval(a->opts.arg, s->owner);
	if (iv <= 0)
		return 0;
	/* Stale after three missed intervals. */
	return now - st->last_t <= (int64_t)(3 * iv * NS_PER_S);
}

/* Drop the finals every consumer has seen; the rest go into snap. */
static int render_finals(struct agg *a, struct snapshot *snap)
{
	uint64_t horizon = snapshot_final_horizon();
	size_t k = 0;

	for (size_t i = 0; i < a->nfinals; i++) {
		if (a->finals[i].gen > horizon) {
			a->finals[k++] = a->finals[i];
			continue;
		}
		uint32_t id = a->finals[i].v.series;
		if (id < a->nst && a->st[id].nfinal)
			a->st[id].nfinal--;
	}
	a->nfinals = k;
	if (!k)
		return 0;
	snap->finals = malloc(k * sizeof(*snap->finals));
	if (!snap->finals)
		return -ENOMEM;
	for (size_t i = 0; i < k; i++)
		snap->finals[i] = a->finals[i].v;
	snap->nfinals = k;
	return 0;
}

struct snapshot *agg_render(struct agg *a, int64_t now)
{
	struct snapshot *snap = snapshot_new();
	struct buf t = {0}, o = {0};
	size_t nvals = 0, capvals = 0;
	struct snap_value *vals = NULL;

	if (!snap)
		return NULL;
	for (size_t fi = 0; fi < a->nfams; fi++) {
		const struct famlist *fl = &a->fams[fi];
		const struct family *f;
		int header = 0;

		if (!fl->n)
			continue;
		f = series_family_get((int)fi);
		for (size_t k = 0; k < fl->n; k++) {
			const struct series *s = series_get(fl->ids[k]);
			const struct sstate *st = &a->st[fl->ids[k]];

			if (!st->seen || !st->vlen || !series_live(a, s, st, now))
				continue;
			if (!header) {
				header2(&t, &o, f);
				header = 1;
			}
			put_line(&t, &o, f->name, s->label_text, st->vtext, st->vlen);
			if (grow((void **)&vals, &capvals, nvals + 1, sizeof(*vals)) == 0) {
				vals[nvals].series = s->id;
				vals[nvals].value = st->value;
				nvals++;
			}
		}
	}
	if (render_finals(a, snap) < 0) {
		buf_free(&t);
		buf_free(&o);
		free(vals);
		snapshot_release(snap);
		return NULL;
	}
	size_t self_off = t.len;
	if (a->opts.self_metrics)
		render_self(a, &t, &o);
	buf_puts(&o, "# EOF\n");
	if (t.oom || o.oom || (!t.p && !(t.p = strdup(""))) || !o.p) {
		buf_free(&t);
		buf_free(&o);
		free(vals);
		snapshot_release(snap);
		return NULL;
	}
	snap->text = t.p;
	snap->text_len = t.len;
	snap->text_self = self_off; /* remote write pushes them on request */
	snap->om = o.p;
	snap->om_len = o.len;
	snap->values = vals;
	snap->nvalues = nvals;
	snap->generation = ++a->generation;
	snap->wall_ms = clock_wall_ms();
	snapshot_track(snap);
	reclaim_due(a, snap->generation);
	return snap;
}
