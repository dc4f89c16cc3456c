/* accelmon-audit: reading record files and accounting per device.
 * Each file is streamed frame by frame; a device's figures grow interval by
 * interval from counter deltas (busy, SM, tensor seconds, joules), with
 * resets, gaps and clock jumps detected and counted rather than smoothed over.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"
#include "exporters/records_format/records_codec.h"
#include "exporters/records_format/records_frame.h"

static const char *const metric_family[] = {
    [AUDIT_BUSY] = "accel_busy_seconds_total",
    [AUDIT_SM] = "accel_sm_active_seconds_total",
    [AUDIT_TENSOR] = "accel_tensor_active_seconds_total",
    [AUDIT_ENERGY] = "accel_energy_joules_total",
    [AUDIT_MEM] = "accel_memory_used_bytes",
    [AUDIT_INFO] = "accel_info",
};

/* The job families (collectors/attribution.md), in the same slots. */
static const char *const job_family[] = {
    [AUDIT_BUSY] = "accel_job_busy_seconds_total",
    [AUDIT_SM] = NULL,
    [AUDIT_TENSOR] = NULL,
    [AUDIT_ENERGY] = "accel_job_energy_joules_total",
    [AUDIT_MEM] = "accel_job_memory_used_bytes",
    [AUDIT_INFO] = "accel_job_info",
};

/* ---- (node, device) index: open addressing, grows at half full ---- */

struct dev_index {
	struct audit_device **slot;
	size_t cap, n;
};

static uint64_t hash2(const char *a, const char *b)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (const char *p = a; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ull;
	h = (h ^ 0xff) * 1099511628211ull;
	for (const char *p = b; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ull;
	return h;
}

static int index_put(struct dev_index *ix, struct audit_device *d)
{
	if (2 * (ix->n + 1) > ix->cap) {
		size_t cap = ix->cap ? 2 * ix->cap : 64;
		struct audit_device **s = calloc(cap, sizeof(*s));
		if (!s)
			return -ENOMEM;
		for (size_t i = 0; i < ix->cap; i++) {
			if (!ix->slot[i])
				continue;
			size_t j =
			    hash2(ix->slot[i]->node, ix->slot[i]->device) & (cap - 1);
			while (s[j])
				j = (j + 1) & (cap - 1);
			s[j] = ix->slot[i];
		}
		free(ix->slot);
		ix->slot = s;
		ix->cap = cap;
	}
	size_t j = hash2(d->node, d->device) & (ix->cap - 1);
	while (ix->slot[j])
		j = (j + 1) & (ix->cap - 1);
	ix->slot[j] = d;
	ix->n++;
	return 0;
}

static struct audit_device *index_get(const struct dev_index *ix, const char *node,
				      const char *device)
{
	if (!ix->cap)
		return NULL;
	size_t j = hash2(node, device) & (ix->cap - 1);
	for (; ix->slot[j]; j = (j + 1) & (ix->cap - 1))
		if (strcmp(ix->slot[j]->node, node) == 0 &&
		    strcmp(ix->slot[j]->device, device) == 0)
			return ix->slot[j];
	return NULL;
}

/* ---- files read: (node, run_id, file_seq), open addressing ---- */

struct seen_key {
	char *node;
	uint64_t run_id, seq;
};

struct seen_set {
	struct seen_key *slot; /* node NULL: empty */
	size_t cap, n;
};

static size_t seen_hash(const struct seen_key *k, size_t cap)
{
	uint64_t h = hash2(k->node, "");
	h = (h ^ k->run_id) * 1099511628211ull;
	h = (h ^ k->seq) * 1099511628211ull;
	return (size_t)(h ^ (h >> 29)) & (cap - 1);
}

/* 1: (node, run_id, seq) was added before; 0: added now; -ENOMEM. */
static int seen_add(struct seen_set *s, const char *node, uint64_t run_id, uint64_t seq)
{
	struct seen_key k = {(char *)node, run_id, seq};
	size_t j;

	if (s->cap) {
		for (j = seen_hash(&k, s->cap); s->slot[j].node;
		     j = (j + 1) & (s->cap - 1))
			if (s->slot[j].run_id == run_id && s->slot[j].seq == seq &&
			    strcmp(s->slot[j].node, node) == 0)
				return 1;
	}
	if (2 * (s->n + 1) > s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 256;
		struct seen_key *v = calloc(cap, sizeof(*v));
		if (!v)
			return -ENOMEM;
		for (size_t i = 0; i < s->cap; i++) {
			if (!s->slot[i].node)
				continue;
			j = seen_hash(&s->slot[i], cap);
			while (v[j].node)
				j = (j + 1) & (cap - 1);
			v[j] = s->slot[i];
		}
		free(s->slot);
		s->slot = v;
		s->cap = cap;
	}
	if (!(k.node = strdup(node)))
		return -ENOMEM;
	for (j = seen_hash(&k, s->cap); s->slot[j].node; j = (j + 1) & (s->cap - 1))
		;
	s->slot[j] = k;
	s->n++;
	return 0;
}

static void seen_free(struct seen_set *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->cap; i++)
		free(s->slot[i].node);
	free(s->slot);
	free(s);
}

void audit_init(struct audit *a, const struct audit_opts *o)
{
	memset(a, 0, sizeof(*a));
	a->o = *o;
	if (!(a->o.idle_below >= 0))
		a->o.idle_below = 0.05;
	if (a->o.gap_intervals <= 0)
		a->o.gap_intervals = 3;
	a->index = calloc(1, sizeof(struct dev_index));
	a->jindex = calloc(1, sizeof(struct dev_index));
	a->seen = calloc(1, sizeof(struct seen_set));
	a->heat_origin_ms = o->from_ms != INT64_MIN ? o->from_ms : INT64_MIN;
	a->heat_w_ms = 60000;
	if (o->from_ms != INT64_MIN && o->to_ms != INT64_MAX && o->to_ms > o->from_ms)
		a->heat_w_ms =
		    (o->to_ms - o->from_ms + AUDIT_HEAT_BUCKETS - 1) / AUDIT_HEAT_BUCKETS;
	a->first_ms = INT64_MAX;
	a->last_ms = INT64_MIN;
	a->warn = stderr;
}

static void group_free(struct audit_group *g, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(g[i].name);
	free(g);
}

static void dev_free(struct audit_device *d)
{
	free(d->node);
	free(d->device);
	free(d->uuid);
	free(d->model);
	free(d->job);
	free(d->kind);
	free(d->user);
	free(d->ns);
	free(d->tenant_user);
	free(d->jobkey);
	free(d);
}

void audit_free(struct audit *a)
{
	for (size_t i = 0; i < a->ndev; i++)
		dev_free(a->dev[i]);
	for (size_t i = 0; i < a->njdev; i++)
		dev_free(a->jdev[i]);
	free(a->dev);
	free(a->jdev);
	if (a->index)
		free(((struct dev_index *)a->index)->slot);
	if (a->jindex)
		free(((struct dev_index *)a->jindex)->slot);
	free(a->index);
	free(a->jindex);
	group_free(a->jobs, a->njobs);
	group_free(a->users, a->nusers);
	group_free(a->tenants, a->ntenants);
	seen_free(a->seen);
	free(a->touched);
	free(a->total.name);
	group_free(a->nodes, a->nnodes);
	group_free(a->models, a->nmodels);
	memset(a, 0, sizeof(*a));
}

static void warnf(struct audit *a, const char *path, uint64_t off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void warnf(struct audit *a, const char *path, uint64_t off, const char *fmt, ...)
{
	va_list ap;

	if (!a->warn)
		return;
	fprintf(a->warn, "accelmon-audit: %s: offset %llu: ", path,
		(unsigned long long)off);
	va_start(ap, fmt);
	vfprintf(a->warn, fmt, ap);
	va_end(ap);
	fputc('\n', a->warn);
}

/* The record of (node, device) in the list v (devices or jobs) and its
 * index; created when new. */
static struct audit_device *record_get(struct audit_device ***v, size_t *n, size_t *cap,
				       void *index, const char *node, const char *device)
{
	struct audit_device *d = index_get(index, node, device);
	if (d)
		return d;
	if (*n == *cap) {
		size_t nc = *cap ? 2 * *cap : 64;
		struct audit_device **nv = realloc(*v, nc * sizeof(*nv));
		if (!nv)
			return NULL;
		*v = nv;
		*cap = nc;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->node = strdup(node);
	d->device = strdup(device);
	d->last_ms = INT64_MIN;
	d->t.devices = 1;
	if (!d->node || !d->device || index_put(index, d) < 0) {
		free(d->node);
		free(d->device);
		free(d);
		return NULL;
	}
	(*v)[(*n)++] = d;
	return d;
}

static struct audit_device *device_get(struct audit *a, const char *node,
				       const char *device)
{
	return record_get(&a->dev, &a->ndev, &a->devcap, a->index, node, device);
}

static char *join3(const char *x, const char *y, const char *z)
{
	size_t n = strlen(x) + strlen(y) + (z ? strlen(z) : 0) + 3;
	char *s = malloc(n);

	if (s)
		snprintf(s, n, z ? "%s/%s/%s" : "%s/%s", x, y, z ? z : "");
	return s;
}

/* A job on a device: the record of (node, "<device>/<kind>/<job>"). */
static struct audit_device *job_get(struct audit *a, const char *node, const char *device,
				    const char *kind, const char *job)
{
	char *key = join3(device, kind, job);
	struct audit_device *d;

	if (!key)
		return NULL;
	d = record_get(&a->jdev, &a->njdev, &a->jdevcap, a->jindex, node, key);
	free(key);
	if (d && !d->job) {
		d->job = strdup(job);
		d->kind = strdup(kind);
		d->jobkey = join3(kind, job, NULL);
		if (!d->job || !d->kind || !d->jobkey)
			return NULL;
	}
	return d;
}

static void set_str(char **dst, const char *v)
{
	if (!v || !*v || (*dst && strcmp(*dst, v) == 0))
		return;
	char *c = strdup(v);
	if (c) {
		free(*dst);
		*dst = c;
	}
}

/* ---- heat map ---- */

static void heat_halve(struct audit *a)
{
	for (size_t i = 0; i < a->ndev; i++) {
		struct audit_device *d = a->dev[i];
		for (int j = 0; j < AUDIT_HEAT_BUCKETS; j++) {
			float b = 0, o = 0;
			if (2 * j < AUDIT_HEAT_BUCKETS) {
				b = d->heat_busy[2 * j] + d->heat_busy[2 * j + 1];
				o = d->heat_obs[2 * j] + d->heat_obs[2 * j + 1];
			}
			d->heat_busy[j] = b;
			d->heat_obs[j] = o;
		}
	}
	a->heat_w_ms *= 2;
}

static void heat_add(struct audit *a, struct audit_device *d, int64_t mid_ms,
		     double busy_s, double obs_s)
{
	if (a->heat_origin_ms == INT64_MIN)
		a->heat_origin_ms = mid_ms - mid_ms % a->heat_w_ms;
	if (mid_ms < a->heat_origin_ms)
		return;
	int64_t i = (mid_ms - a->heat_origin_ms) / a->heat_w_ms;
	while (i >= AUDIT_HEAT_BUCKETS) {
		heat_halve(a);
		i = (mid_ms - a->heat_origin_ms) / a->heat_w_ms;
	}
	d->heat_busy[i] += (float)busy_s;
	d->heat_obs[i] += (float)obs_s;
}

/* ---- accounting ---- */

static void rebase(struct audit_device *d, int64_t t)
{
	for (int m = 0; m < AUDIT_NMETRICS; m++)
		if (d->cur_mask & (1u << m))
			d->prev[m] = d->cur[m];
	d->prev_mask = d->cur_mask;
	d->last_ms = t;
}

/* Start over from this sample: the step before it is not measured. */
static void restart(struct audit_device *d, int64_t t)
{
	for (int m = 0; m < AUDIT_NMETRICS; m++)
		d->carry[m] = 0;
	rebase(d, t);
}

/* Increase of a counter over one interval. A counter that went backwards was
 * reset (driver reload): as Prometheus does, the new value is the increase
 * since the reset, and the reset is counted. */
static double counter_delta(struct audit_device *d, int m)
{
	double v = d->cur[m] - d->prev[m];
	if (v < 0) {
		d->t.resets++;
		v = d->cur[m] >= 0 ? d->cur[m] : 0;
	}
	return v;
}

/* The most busy time one step can legitimately hold beyond its interval:
 * a collector polled less often than records are written, or a late poll
 * (the aggregator integrates up to three poll intervals at once, the poll
 * deadline is two), hands its time over in one chunk. One record interval,
 * but at least a minute so that collectors polled every 20 s are covered. */
static double carry_limit(double dts)
{
	return dts > 60 ? dts : 60;
}

/* The same for a time counter (busy, SM, tensor seconds), at most the
 * interval: a poll that straddles a snapshot moves a little busy time into
 * the neighbouring interval, so what is over the interval is carried into
 * the next one rather than lost (a device busy all the time reads 100%, not
 * 99.9%). The carry is at most carry_limit(), so that one odd step cannot
 * make a device read busy for hours; a step more than that over its
 * interval cannot come from late polls: the counter was damaged or reset
 * (counted as a reset), the step counts as busy throughout and the rest is
 * dropped. The carry is dropped at a gap or a reset. */
static double time_delta(struct audit_device *d, int m, double dts)
{
	uint64_t resets = d->t.resets;
	double v = counter_delta(d, m), lim = carry_limit(dts);
	if (d->t.resets != resets)
		d->carry[m] = 0;
	if (v > dts + lim) {
		d->t.resets++;
		d->carry[m] = 0;
		return dts;
	}
	v += d->carry[m];
	d->carry[m] = v > dts ? fmin(v - dts, lim) : 0;
	return v > dts ? dts : v;
}

static bool both(const struct audit_device *d, int m)
{
	return (d->cur_mask & d->prev_mask & (1u << m)) != 0;
}

/* Where a batch is in its agent run: (file_seq, batch seq) grows with every
 * batch the agent writes, whatever its clock does. */
struct batch_pos {
	bool known; /* the file header gave its file_seq */
	uint64_t fseq, bseq;
};

static bool pos_not_after(const struct batch_pos *p, const struct audit_device *d)
{
	return p->known && d->has_pos &&
	       (p->fseq < d->last_fseq ||
		(p->fseq == d->last_fseq && p->bseq <= d->last_bseq));
}

static void account(struct audit *a, struct audit_device *d, int64_t t,
		    int64_t interval_ms, uint64_t run_id, const struct batch_pos *pos)
{
	const struct audit_opts *o = &a->o;
	bool t_in = t >= o->from_ms && t <= o->to_ms;

	/* A batch of the same run whose time and place in the run are both
	 * not after the last one counted was read already: a copy of a file
	 * or files that overlap. Skip it and keep the state, so that the
	 * next new batch continues from the last one. A clock that steps
	 * back is told apart by the place: the agent's batch and file
	 * sequence numbers keep growing, so a later batch with an earlier
	 * time is still a clock jump (below). */
	if (d->last_ms != INT64_MIN && run_id == d->run_id && t <= d->last_ms &&
	    pos_not_after(pos, d)) {
		a->in.overlap_batches++;
		return;
	}
	d->has_pos = pos->known;
	d->last_fseq = pos->fseq;
	d->last_bseq = pos->bseq;

	if ((d->cur_mask & (1u << AUDIT_MEM)) && t_in) {
		d->t.has_mem = true;
		if (d->cur[AUDIT_MEM] > d->t.peak_mem)
			d->t.peak_mem = d->cur[AUDIT_MEM];
	}
	if (d->last_ms == INT64_MIN) {
		d->run_id = run_id;
		restart(d, t);
		return;
	}
	int64_t dt = t - d->last_ms;
	if (run_id != d->run_id) {
		/* The agent restarted: its counters started over at some
		 * unknown moment inside this step, so the step is not
		 * observed; it counts as a gap however short. */
		if (t_in || (d->last_ms >= o->from_ms && d->last_ms <= o->to_ms)) {
			d->t.gaps++;
			d->t.gap_s += dt > 0 ? dt / 1000.0 : 0;
		}
		d->run_id = run_id;
		restart(d, t);
		return;
	}
	if (dt <= 0) {
		/* Time went backwards (NTP step, RTC reset) or repeated: no
		 * interval can be measured; start again from here. */
		if (dt < 0 && t_in)
			d->t.clock_jumps++;
		restart(d, t);
		return;
	}
	if ((double)dt > o->gap_intervals * (double)interval_ms) {
		/* The agent was down (or the file is missing): not observed. */
		if (t_in || (d->last_ms >= o->from_ms && d->last_ms <= o->to_ms)) {
			d->t.gaps++;
			d->t.gap_s += dt / 1000.0;
		}
		restart(d, t);
		return;
	}
	if (!both(d, AUDIT_BUSY) || d->last_ms < o->from_ms || t > o->to_ms) {
		restart(d, t);
		return;
	}
	double dts = dt / 1000.0;
	double busy = time_delta(d, AUDIT_BUSY, dts);
	double energy = 0;
	d->t.observed_s += dts;
	d->t.busy_s += busy;
	if (both(d, AUDIT_SM)) {
		d->t.has_sm = true;
		d->t.sm_s += time_delta(d, AUDIT_SM, dts);
	}
	if (both(d, AUDIT_TENSOR)) {
		d->t.has_tensor = true;
		d->t.tensor_s += time_delta(d, AUDIT_TENSOR, dts);
	}
	if (both(d, AUDIT_ENERGY)) {
		d->t.has_energy = true;
		energy = counter_delta(d, AUDIT_ENERGY);
		d->t.energy_j += energy;
	}
	if (busy < o->idle_below * dts) {
		d->t.idle_s += dts;
		d->t.idle_energy_j += energy;
	}
	if (!d->job) {
		/* a job's time lies within its device's: the period and the
		 * heat map are the devices' */
		if (d->last_ms < a->first_ms)
			a->first_ms = d->last_ms;
		if (t > a->last_ms)
			a->last_ms = t;
		heat_add(a, d, d->last_ms + dt / 2, busy, dts);
	}
	rebase(d, t);
}

/* ---- one file ---- */

struct ref_map {
	int8_t metric; /* -1: not wanted */
	struct audit_device *dev;
};

struct file_ctx {
	struct audit *a;
	const char *path;
	char *node;
	int64_t interval_ms;
	uint64_t run_id;
	bool has_fseq; /* the header gave file_seq */
	uint64_t fseq;
	struct ref_map *map;
	size_t nmap;
	struct rec_decoder dec;
	bool skipping; /* inside a run of batches lost to damage */
};

static const char *label(const Amrec__SeriesDef *s, const char *name)
{
	size_t n =
	    s->n_label_names < s->n_label_values ? s->n_label_names : s->n_label_values;
	for (size_t i = 0; i < n; i++)
		if (s->label_names[i] && strcmp(s->label_names[i], name) == 0)
			return s->label_values[i];
	return NULL;
}

static int on_series(struct file_ctx *fc, const Amrec__SeriesDef *s)
{
	int metric = -1;
	bool is_job = false;
	struct audit_device *dev = NULL;

	for (int m = 0; m <= AUDIT_INFO && s->family; m++) {
		if (strcmp(s->family, metric_family[m]) == 0)
			metric = m;
		else if (job_family[m] && strcmp(s->family, job_family[m]) == 0)
			metric = m, is_job = true;
	}
	const char *device = metric >= 0 ? label(s, "device") : NULL;
	const char *job = is_job ? label(s, "job") : NULL, *kind = label(s, "kind");
	if (!device || !*device || (is_job && (!job || !*job)))
		metric = -1;
	/* the decoder checks the ref first: a bad definition names no device */
	int rc = rec_dec_series(&fc->dec, s, metric >= 0 && metric != AUDIT_INFO);
	if (rc < 0)
		return rc;
	if (metric >= 0 && is_job) {
		dev = job_get(fc->a, fc->node, device, kind && *kind ? kind : "unknown",
			      job);
		if (!dev)
			return -ENOMEM;
		set_str(&dev->uuid, label(s, "uuid"));
		if (metric == AUDIT_INFO) {
			set_str(&dev->user, label(s, "user"));
			if (strcmp(dev->kind, "kubernetes") == 0)
				set_str(&dev->ns, label(s, "namespace"));
		}
	} else if (metric >= 0) {
		dev = device_get(fc->a, fc->node, device);
		if (!dev)
			return -ENOMEM;
		set_str(&dev->uuid, label(s, "uuid"));
		if (metric == AUDIT_INFO)
			set_str(&dev->model, label(s, "model"));
	}
	if (s->ref >= fc->nmap) {
		/* doubles, as refs are dense; the decoder bounds s->ref */
		size_t n = fc->nmap ? 2 * fc->nmap : 256;
		if (n <= s->ref)
			n = (size_t)s->ref + 1;
		struct ref_map *m = realloc(fc->map, n * sizeof(*m));
		if (!m)
			return -ENOMEM;
		for (size_t i = fc->nmap; i < n; i++)
			m[i] = (struct ref_map){-1, NULL};
		fc->map = m;
		fc->nmap = n;
	}
	fc->map[s->ref] = (struct ref_map){(int8_t)metric, dev};
	return 0;
}

static int on_batch(struct file_ctx *fc)
{
	struct audit *a = fc->a;
	const struct rec_decoder *d = &fc->dec;
	int64_t t = d->time_ms;

	a->in.batches++;
	for (size_t i = 0; i < d->nlive; i++) {
		uint32_t ref = d->live[i];
		const struct ref_map *m = &fc->map[ref];
		struct audit_device *dev = m->dev;
		dev->cur[m->metric] = rec_dec_value(d, ref);
		dev->cur_mask |= 1u << m->metric;
		if (!dev->touched) {
			if (a->ntouched == a->touchedcap) {
				size_t cap = a->touchedcap ? 2 * a->touchedcap : 64;
				struct audit_device **v =
				    realloc(a->touched, cap * sizeof(*v));
				if (!v)
					return -ENOMEM;
				a->touched = v;
				a->touchedcap = cap;
			}
			dev->touched = true;
			a->touched[a->ntouched++] = dev;
		}
	}
	a->in.samples += d->nlive_all;
	a->in.device_samples += d->nlive;
	struct batch_pos pos = {fc->has_fseq, fc->fseq, d->seq};
	for (size_t i = 0; i < a->ntouched; i++) {
		struct audit_device *dev = a->touched[i];
		account(a, dev, t, fc->interval_ms, fc->run_id, &pos);
		dev->touched = false;
		dev->cur_mask = 0;
	}
	a->ntouched = 0;
	return 0;
}

static void on_batch_result(struct file_ctx *fc, int rc, uint64_t off)
{
	struct audit *a = fc->a;

	if (rc == 0) {
		fc->skipping = false;
		if (on_batch(fc) < 0)
			warnf(a, fc->path, off, "out of memory");
		return;
	}
	a->in.skipped_batches++;
	a->skipped = true;
	if (!fc->skipping)
		warnf(a, fc->path, off, "%s",
		      rc == -EAGAIN ? "batch follows lost data; skipping to the "
				      "next keyframe"
				    : "inconsistent batch; skipping to the next "
				      "keyframe");
	fc->skipping = true;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

/* false: the file was read before (under another name) and is skipped. */
static bool on_header(struct file_ctx *fc, const Amrec__FileHeader *h, uint64_t off)
{
	const char *node = h->hostname && *h->hostname	     ? h->hostname
			   : h->machine_id && *h->machine_id ? h->machine_id
							     : NULL;
	if (node)
		set_str(&fc->node, node);
	if (h->has_interval_ms && h->interval_ms > 0)
		fc->interval_ms = h->interval_ms;
	if (h->has_run_id)
		fc->run_id = h->run_id;
	fc->has_fseq = h->has_file_seq;
	fc->fseq = h->file_seq;
	/* A copy of a file (a backup, the same directory given twice through
	 * different links) has the same node, run and file sequence number:
	 * read one of them only. */
	if (h->has_run_id && h->has_file_seq && fc->a->seen) {
		int rc = seen_add(fc->a->seen, fc->node, h->run_id, h->file_seq);
		if (rc > 0) {
			fc->a->in.duplicate_files++;
			warnf(fc->a, fc->path, off,
			      "same node, run and file sequence (%s, run %016llx, "
			      "file %llu) as a file read before: a copy, skipped",
			      fc->node, (unsigned long long)h->run_id,
			      (unsigned long long)h->file_seq);
			return false;
		}
	}
	return true;
}

int audit_file(struct audit *a, const char *path)
{
	struct rec_frame_reader r;
	struct file_ctx fc = {.a = a, .path = path, .interval_ms = 15000};
	uint64_t off = 0;
	int rc = 0, fd;
	bool first = true;

	a->in.files++;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || (rc = rec_frame_reader_fd(&r, fd)) < 0) {
		rc = fd < 0 ? -errno : rc;
		if (a->warn)
			fprintf(a->warn, "accelmon-audit: %s: %s\n", path, strerror(-rc));
		a->in.files_failed++;
		a->skipped = true;
		if (fd >= 0)
			close(fd);
		return rc;
	}
	rec_dec_init(&fc.dec);
	fc.node = strdup(base_name(path));
	/* Until a header says otherwise, a file is a run of its own. */
	fc.run_id = 0x8000000000000000ull | a->in.files;
	for (;;) {
		const uint8_t *p;
		size_t len;
		enum rec_frame_status st = rec_frame_next(&r, &p, &len, &off);
		if (st == REC_FRAME_EOF)
			break;
		if (st == REC_FRAME_TORN) {
			a->in.torn_tails++;
			a->skipped = true;
			warnf(a, path, off, "torn tail ignored: %s", r.why);
			break;
		}
		if (st == REC_FRAME_CORRUPT) {
			a->in.corrupt_regions++;
			a->in.corrupt_bytes += r.skipped;
			a->skipped = true;
			warnf(a, path, off, "%s; skipped %llu bytes", r.why,
			      (unsigned long long)r.skipped);
			continue;
		}
		if (st == REC_FRAME_IOERR) {
			a->skipped = true;
			a->in.files_failed++;
			warnf(a, path, off, "read error: %s", strerror(r.err));
			break;
		}
		a->in.frames++;
		rc = rec_dec_batch_wire(&fc.dec, p, len);
		if (rc != -ENOTSUP) {
			on_batch_result(&fc, rc, off);
			first = false;
			continue;
		}
		Amrec__Record *rec = amrec__record__unpack(NULL, len, p);
		if (!rec) {
			a->in.bad_records++;
			a->skipped = true;
			warnf(a, path, off, "undecodable record skipped");
			continue;
		}
		if (first && rec->body_case != AMREC__RECORD__BODY_HEADER)
			warnf(a, path, off,
			      "file does not start with a header; node named "
			      "after the file");
		first = false;
		switch (rec->body_case) {
		case AMREC__RECORD__BODY_HEADER:
			if (rec->header->has_magic &&
			    rec->header->magic != REC_HEADER_MAGIC)
				warnf(a, path, off, "unexpected header magic");
			if (!on_header(&fc, rec->header, off)) {
				amrec__record__free_unpacked(rec, NULL);
				goto done;
			}
			break;
		case AMREC__RECORD__BODY_SERIES:
			if ((rc = on_series(&fc, rec->series)) < 0) {
				a->in.bad_records++;
				a->skipped = true;
				if (rc == -ERANGE)
					warnf(a, path, off,
					      "series definition with ref %u, far "
					      "beyond the %u series defined so far: "
					      "corrupt, skipped",
					      (unsigned)rec->series->ref,
					      (unsigned)fc.dec.ndefs);
				else
					warnf(a, path, off, "bad series definition: %s",
					      strerror(-rc));
			}
			break;
		case AMREC__RECORD__BODY_BATCH:
			on_batch_result(&fc, rec_dec_batch(&fc.dec, rec->batch), off);
			break;
		default:
			break;
		}
		amrec__record__free_unpacked(rec, NULL);
	}
done:
	rec_dec_free(&fc.dec);
	free(fc.map);
	free(fc.node);
	rec_frame_reader_free(&r);
	close(fd);
	return 0;
}

/* ---- file order ---- */

struct file_key {
	char *path, *node;
	int64_t start_ms;
	uint64_t seq;
	off_t size;
	bool ok;
};

static int key_cmp(const void *x, const void *y)
{
	const struct file_key *a = x, *b = y;
	if (a->ok != b->ok)
		return a->ok ? -1 : 1;
	if (!a->ok)
		return strcmp(a->path, b->path);
	int c = strcmp(a->node, b->node);
	if (c)
		return c;
	if (a->start_ms != b->start_ms)
		return a->start_ms < b->start_ms ? -1 : 1;
	if (a->seq != b->seq)
		return a->seq < b->seq ? -1 : 1;
	/* copies of one file: the longest (most complete) is read, the
	 * others are then skipped as copies */
	if (a->size != b->size)
		return a->size > b->size ? -1 : 1;
	return strcmp(a->path, b->path);
}

static void read_key(struct file_key *k)
{
	struct rec_frame_reader r;
	const uint8_t *p;
	size_t len;
	uint64_t off;
	struct stat st;
	int fd = open(k->path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	if (fstat(fd, &st) == 0)
		k->size = st.st_size;
	if (rec_frame_reader_fd(&r, fd) == 0 &&
	    rec_frame_next(&r, &p, &len, &off) == REC_FRAME_OK) {
		Amrec__Record *rec = amrec__record__unpack(NULL, len, p);
		if (rec && rec->body_case == AMREC__RECORD__BODY_HEADER) {
			const Amrec__FileHeader *h = rec->header;
			const char *node = h->hostname && *h->hostname ? h->hostname
					   : h->machine_id && *h->machine_id
					       ? h->machine_id
					       : base_name(k->path);
			k->node = strdup(node);
			k->start_ms = h->start_time_ms;
			k->seq = h->file_seq;
			k->ok = k->node != NULL;
		}
		if (rec)
			amrec__record__free_unpacked(rec, NULL);
	}
	rec_frame_reader_free(&r);
	close(fd);
}

void audit_sort_files(struct audit *a, char **paths, size_t n)
{
	struct file_key *k = calloc(n ? n : 1, sizeof(*k));
	int64_t origin = INT64_MAX;

	if (!k)
		return;
	for (size_t i = 0; i < n; i++) {
		k[i].path = paths[i];
		read_key(&k[i]);
		if (k[i].ok && k[i].start_ms > 0 && k[i].start_ms < origin)
			origin = k[i].start_ms;
	}
	qsort(k, n, sizeof(*k), key_cmp);
	for (size_t i = 0; i < n; i++) {
		paths[i] = k[i].path;
		free(k[i].node);
	}
	free(k);
	if (a->heat_origin_ms == INT64_MIN && origin != INT64_MAX)
		a->heat_origin_ms = origin - origin % 60000;
}

/* ---- roll-up ---- */

static void totals_add(struct audit_totals *s, const struct audit_totals *t)
{
	s->devices += t->devices;
	s->observed_s += t->observed_s;
	s->busy_s += t->busy_s;
	s->sm_s += t->sm_s;
	s->tensor_s += t->tensor_s;
	s->idle_s += t->idle_s;
	s->energy_j += t->energy_j;
	s->idle_energy_j += t->idle_energy_j;
	if (t->peak_mem > s->peak_mem)
		s->peak_mem = t->peak_mem;
	s->has_sm |= t->has_sm;
	s->has_tensor |= t->has_tensor;
	s->has_energy |= t->has_energy;
	s->has_mem |= t->has_mem;
	s->resets += t->resets;
	s->gaps += t->gaps;
	s->clock_jumps += t->clock_jumps;
	s->gap_s += t->gap_s;
}

static void group_add(struct audit_group *g, const struct audit_device *d)
{
	totals_add(&g->t, &d->t);
	for (int i = 0; i < AUDIT_HEAT_BUCKETS; i++) {
		g->heat_busy[i] += d->heat_busy[i];
		g->heat_obs[i] += d->heat_obs[i];
	}
}

static const char *model_of(const struct audit_device *d)
{
	return d->model ? d->model : "unknown";
}

static int dev_cmp(const void *x, const void *y)
{
	const struct audit_device *a = *(struct audit_device *const *)x;
	const struct audit_device *b = *(struct audit_device *const *)y;
	int c = strverscmp(a->node, b->node);
	return c ? c : strverscmp(a->device, b->device);
}

static int dev_model_cmp(const void *x, const void *y)
{
	const struct audit_device *a = *(struct audit_device *const *)x;
	const struct audit_device *b = *(struct audit_device *const *)y;
	return strcmp(model_of(a), model_of(b));
}

/* Group devices sorted by key into g (one entry per run of equal keys). */
static int group_by(struct audit_device **v, size_t n,
		    const char *(*key)(const struct audit_device *),
		    struct audit_group **out, size_t *nout)
{
	struct audit_group *g = calloc(n ? n : 1, sizeof(*g));
	size_t ng = 0;

	if (!g)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (ng == 0 || strcmp(g[ng - 1].name, key(v[i])) != 0) {
			g[ng].name = strdup(key(v[i]));
			if (!g[ng].name) {
				group_free(g, ng);
				return -ENOMEM;
			}
			ng++;
		}
		group_add(&g[ng - 1], v[i]);
	}
	*out = g;
	*nout = ng;
	return 0;
}

static const char *node_of(const struct audit_device *d)
{
	return d->node;
}

static int audit_finish_jobs(struct audit *a);

int audit_finish(struct audit *a)
{
	struct audit_device **v;
	int rc;

	if (a->ndev) /* a->dev is NULL for input without devices */
		qsort(a->dev, a->ndev, sizeof(*a->dev), dev_cmp);
	memset(&a->total, 0, sizeof(a->total));
	a->total.name = strdup("total");
	for (size_t i = 0; i < a->ndev; i++)
		group_add(&a->total, a->dev[i]);
	if ((rc = group_by(a->dev, a->ndev, node_of, &a->nodes, &a->nnodes)) < 0)
		return rc;
	v = malloc((a->ndev ? a->ndev : 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	if (a->ndev) {
		memcpy(v, a->dev, a->ndev * sizeof(*v));
		qsort(v, a->ndev, sizeof(*v), dev_model_cmp);
	}
	rc = group_by(v, a->ndev, model_of, &a->models, &a->nmodels);
	free(v);
	return rc < 0 ? rc : audit_finish_jobs(a);
}

static const char *jobkey_of(const struct audit_device *d)
{
	return d->jobkey;
}

static const char *user_of(const struct audit_device *d)
{
	return d->user ? d->user : "unknown";
}

/* A pod's namespace; any other job's user, as "user:<uid>" (a namespace
 * has no ':'), so every job has one tenant and the tenants add up to the
 * jobs. The names are kept in the device record (built once). */
static const char *tenant_of(const struct audit_device *d)
{
	return d->ns ? d->ns : d->tenant_user;
}

static int tenant_cmp(const void *x, const void *y)
{
	const struct audit_device *a = *(struct audit_device *const *)x;
	const struct audit_device *b = *(struct audit_device *const *)y;
	return strverscmp(tenant_of(a), tenant_of(b));
}

static int job_cmp(const void *x, const void *y)
{
	const struct audit_device *a = *(struct audit_device *const *)x;
	const struct audit_device *b = *(struct audit_device *const *)y;
	int c = strverscmp(a->jobkey, b->jobkey);
	if (!c)
		c = strverscmp(a->node, b->node);
	return c ? c : strverscmp(a->device, b->device);
}

static int user_cmp(const void *x, const void *y)
{
	const struct audit_device *a = *(struct audit_device *const *)x;
	const struct audit_device *b = *(struct audit_device *const *)y;
	return strverscmp(user_of(a), user_of(b));
}

/* Jobs per "<kind>/<job>" and per user, from the job records. */
static int audit_finish_jobs(struct audit *a)
{
	struct audit_device **v;
	int rc;

	if (a->njdev == 0)
		return 0; /* records without jobs (a->jdev is NULL) */
	qsort(a->jdev, a->njdev, sizeof(*a->jdev), job_cmp);
	if ((rc = group_by(a->jdev, a->njdev, jobkey_of, &a->jobs, &a->njobs)) < 0)
		return rc;
	v = malloc(a->njdev * sizeof(*v));
	if (!v)
		return -ENOMEM;
	memcpy(v, a->jdev, a->njdev * sizeof(*v));
	qsort(v, a->njdev, sizeof(*v), user_cmp);
	rc = group_by(v, a->njdev, user_of, &a->users, &a->nusers);
	for (size_t i = 0; rc >= 0 && i < a->njdev; i++) {
		struct audit_device *d = a->jdev[i];

		if (!d->ns && !d->tenant_user &&
		    asprintf(&d->tenant_user, "user:%s", user_of(d)) < 0) {
			d->tenant_user = NULL;
			rc = -ENOMEM;
		}
	}
	if (rc >= 0) {
		qsort(v, a->njdev, sizeof(*v), tenant_cmp);
		rc = group_by(v, a->njdev, tenant_of, &a->tenants, &a->ntenants);
	}
	free(v);
	return rc;
}

double audit_period_s(const struct audit *a)
{
	if (a->last_ms <= a->first_ms)
		return 0;
	return (a->last_ms - a->first_ms) / 1000.0;
}
