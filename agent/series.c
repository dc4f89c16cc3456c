/* Series registry: families and interned series, shared by every collector.
 *
 * Writers (collector threads registering on their first poll) take one mutex.
 * The tables are append-only and chunked, so a pointer handed out never moves;
 * the published counts are stored with release order after the entry is
 * complete, and readers (aggregator, exporters) load them with acquire.
 * A released series (series_release) leaves the hash at once and its entry
 * is freed later (series_reclaim, by the aggregator once no reader can still
 * look it up); its id is not handed out again.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "expo.h"
#include "series.h"

#define FAMILY_MAX 4096
#define CHUNK_BITS 12
#define CHUNK_SIZE (1u << CHUNK_BITS)
#define CHUNK_MAX 1024 /* 4M series */

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct family *families[FAMILY_MAX];
static atomic_int nfamilies;
static struct famview *views[FAMILY_MAX];
static atomic_int nviews;
static _Atomic(struct series *) *chunks[CHUNK_MAX];
static atomic_uint nseries;
static atomic_uint nlive; /* entries allocated (not reclaimed) */

/* Open-addressing hash of series ids, keyed by (family, values). */
static uint32_t *htab;
static size_t hcap;

static int valid_name(const char *s, int allow_colon)
{
	if (!s || !*s)
		return 0;
	for (const char *p = s; *p; p++) {
		int ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			 *p == '_' || (allow_colon && *p == ':') ||
			 (p != s && *p >= '0' && *p <= '9');
		if (!ok)
			return 0;
	}
	return 1;
}

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* The type a kind is exposed as: counter, gauge or info. */
static int kind_class(enum am_kind k)
{
	return k == AM_COUNTER || k == AM_INTEGRAL ? 1 : k == AM_INFO ? 2 : 0;
}

/* Length of the OpenMetrics family name: without the sample suffix of a
 * counter (_total) or an info (_info), as expo_family_header writes it. */
static size_t om_name_len(const char *name, enum am_kind kind)
{
	size_t n = strlen(name);

	if (kind_class(kind) == 1 && ends_with(name, "_total"))
		return n - strlen("_total");
	if (kind == AM_INFO && ends_with(name, "_info"))
		return n - strlen("_info");
	return n;
}

/* Under reg_lock: whether a family other than `name` has the same
 * OpenMetrics family name (one # TYPE line each would repeat it). */
static int om_name_taken(const char *name, enum am_kind kind, int n)
{
	size_t len = om_name_len(name, kind);

	for (int i = 0; i < n; i++) {
		const struct family *f = families[i];

		if (om_name_len(f->name, f->kind) == len &&
		    strncmp(f->name, name, len) == 0)
			return 1;
	}
	return 0;
}

static int family_compatible(const struct family *f, const struct am_family_def *d)
{
	return kind_class(f->kind) == kind_class(d->kind);
}

static void family_free(struct family *f)
{
	if (!f)
		return;
	free(f->name);
	free(f->help);
	free(f->help_escaped);
	free(f->help_om);
	free(f->unit);
	for (unsigned i = 0; i < f->nlabels; i++)
		free(f->labels[i]);
	free(f);
}

/* Under reg_lock: the family named def->name, added if new; -errno. */
static int family_find_or_add(const struct am_family_def *def, unsigned nlabels)
{
	int n = atomic_load_explicit(&nfamilies, memory_order_relaxed);
	struct family *f;

	for (int i = 0; i < n; i++)
		if (strcmp(families[i]->name, def->name) == 0)
			return family_compatible(families[i], def) ? i : -EINVAL;
	if (om_name_taken(def->name, def->kind, n))
		return -EINVAL;
	if (n >= FAMILY_MAX)
		return -ENOMEM;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->id = n;
	f->name = strdup(def->name);
	/* Valid UTF-8 for every reader, as label values are. */
	f->help = expo_clean_utf8(def->help ? def->help : "");
	f->help_escaped = f->help ? expo_escape_help(f->help) : NULL;
	f->help_om = f->help ? expo_escape_label_value(f->help) : NULL;
	f->unit = def->unit ? strdup(def->unit) : NULL;
	f->kind = def->kind;
	f->nlabels = nlabels;
	for (unsigned i = 0; i < nlabels; i++)
		f->labels[i] = strdup(def->labels[i]);
	if (!f->name || !f->help || !f->help_escaped || !f->help_om ||
	    (def->unit && !f->unit))
		goto fail;
	for (unsigned i = 0; i < nlabels; i++)
		if (!f->labels[i])
			goto fail;
	families[n] = f;
	/* Publishes the complete family to readers that load nfamilies. */
	atomic_store_explicit(&nfamilies, n + 1, memory_order_release);
	return n;
fail:
	family_free(f);
	return -ENOMEM;
}

/* Under reg_lock: a view with def's aggregation of family f; -errno. */
static int view_labels_same(const struct famview *v, const struct am_family_def *def,
			    unsigned nlabels)
{
	if (v->nlabels != nlabels)
		return 0;
	for (unsigned i = 0; i < nlabels; i++)
		if (strcmp(v->labels[i], def->labels[i]) != 0)
			return 0;
	return 1;
}

static int view_find_or_add(const struct family *f, const struct am_family_def *def,
			    unsigned nlabels)
{
	int n = atomic_load_explicit(&nviews, memory_order_relaxed);
	unsigned bits = def->bits ? def->bits : 64;
	double scale = def->scale != 0 ? def->scale : 1.0;
	double window = def->window_s > 0 ? def->window_s : 15.0;
	struct famview *v;

	for (int i = 0; i < n; i++) {
		v = views[i];
		if (v->fam == f && v->kind == def->kind && v->bits == bits &&
		    v->saturating == (int)def->saturating && v->scale == scale &&
		    v->window_s == window && view_labels_same(v, def, nlabels))
			return i;
	}
	if (n >= FAMILY_MAX)
		return -ENOMEM;
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->id = n;
	v->fam = f;
	v->kind = def->kind;
	v->bits = bits;
	v->saturating = def->saturating;
	v->scale = scale;
	v->window_s = window;
	v->nlabels = nlabels;
	for (unsigned i = 0; i < nlabels; i++) {
		v->labels[i] = strdup(def->labels[i]);
		if (!v->labels[i]) {
			while (i--)
				free(v->labels[i]);
			free(v);
			return -ENOMEM;
		}
	}
	views[n] = v;
	/* Publishes the complete view to readers that load nviews. */
	atomic_store_explicit(&nviews, n + 1, memory_order_release);
	return n;
}

int series_family_register(const struct am_family_def *def, int owner)
{
	unsigned nlabels = 0;
	int rc;

	if (!def || !valid_name(def->name, 1) || def->kind < AM_GAUGE ||
	    def->kind > AM_INFO)
		return -EINVAL;
	/* Counters carry _total in their registered name (0.0.4 style). */
	if ((def->kind == AM_COUNTER || def->kind == AM_INTEGRAL) !=
	    ends_with(def->name, "_total"))
		return -EINVAL;
	if (def->kind == AM_INFO && !ends_with(def->name, "_info"))
		return -EINVAL;
	/* "_total" alone: an OpenMetrics family with no name. */
	if (om_name_len(def->name, def->kind) == 0)
		return -EINVAL;
	while (nlabels < AM_MAX_LABELS && def->labels[nlabels]) {
		const char *l = def->labels[nlabels];

		if (!valid_name(l, 0) || strncmp(l, "__", 2) == 0)
			return -EINVAL;
		for (unsigned j = 0; j < nlabels; j++)
			if (strcmp(def->labels[j], l) == 0)
				return -EINVAL;
		nlabels++;
	}
	/* A scale or window that is negative or not a number would corrupt
	 * every value of the family. */
	if (def->bits > 64 || !(def->scale >= 0) || !isfinite(def->scale) ||
	    !(def->window_s >= 0) || !isfinite(def->window_s))
		return -EINVAL;

	pthread_mutex_lock(&reg_lock);
	rc = family_find_or_add(def, nlabels);
	if (rc >= 0)
		rc = view_find_or_add(families[rc], def, nlabels);
	pthread_mutex_unlock(&reg_lock);
	(void)owner;
	return rc;
}

const struct famview *series_view_get(int id)
{
	if (id < 0 || id >= atomic_load_explicit(&nviews, memory_order_acquire))
		return NULL;
	return views[id];
}

const struct family *series_family_get(int id)
{
	if (id < 0 || id >= atomic_load_explicit(&nfamilies, memory_order_acquire))
		return NULL;
	return families[id];
}

int series_family_count(void)
{
	return atomic_load_explicit(&nfamilies, memory_order_acquire);
}

static uint64_t series_hash(int fam, const char *const *values, unsigned n)
{
	uint64_t h = 1469598103934665603ull ^ (uint64_t)fam;

	for (unsigned i = 0; i < n; i++) {
		for (const char *p = values[i]; *p; p++)
			h = (h ^ (unsigned char)*p) * 1099511628211ull;
		h = (h ^ 0xff) * 1099511628211ull; /* separator */
	}
	return h;
}

static struct series *series_at(uint32_t id)
{
	return atomic_load_explicit(&chunks[id >> CHUNK_BITS][id & (CHUNK_SIZE - 1)],
				    memory_order_acquire);
}

/* Same family, same label names and same values: the same series, whichever
 * registration (view) interns it. */
static int series_match(const struct series *s, const struct famview *fv,
			const char *const *values)
{
	if (s->fam != fv->fam || s->view->nlabels != fv->nlabels)
		return 0;
	for (unsigned i = 0; i < fv->nlabels; i++)
		if (strcmp(s->view->labels[i], fv->labels[i]) != 0 ||
		    strcmp(s->values[i], values[i]) != 0)
			return 0;
	return 1;
}

static int htab_grow(void)
{
	size_t ncap = hcap ? hcap * 2 : 1024;
	uint32_t *n = malloc(ncap * sizeof(*n));
	uint32_t count = atomic_load_explicit(&nseries, memory_order_relaxed);

	if (!n)
		return -ENOMEM;
	memset(n, 0xff, ncap * sizeof(*n));
	for (uint32_t id = 0; id < count; id++) {
		const struct series *s = series_at(id);

		if (!s || atomic_load_explicit(&s->released, memory_order_relaxed))
			continue; /* out of the hash */
		size_t i = series_hash(s->fam->id, (const char *const *)s->values,
				       s->view->nlabels) & (ncap - 1);

		while (n[i] != UINT32_MAX)
			i = (i + 1) & (ncap - 1);
		n[i] = id;
	}
	free(htab);
	htab = n;
	hcap = ncap;
	return 0;
}

static struct series *series_build(const struct famview *fv,
				   const char *const *values, uint32_t id,
				   int owner, const struct series_derive *d)
{
	const struct family *f = fv->fam;
	struct series *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->id = id;
	s->fam = f;
	s->view = fv;
	s->owner = owner;
	if (d)
		s->derive = *d;
	for (unsigned i = 0; i < fv->nlabels; i++) {
		s->values[i] = strdup(values[i]);
		if (!s->values[i])
			goto fail;
	}
	s->label_text = expo_label_text(fv->nlabels, (const char *const *)fv->labels,
					(const char *const *)s->values);
	if (!s->label_text)
		goto fail;
	return s;
fail:
	for (unsigned i = 0; i < fv->nlabels; i++)
		free(s->values[i]);
	free(s);
	return NULL;
}

static int derive_same(const struct series *s, const struct series_derive *d)
{
	const struct series_derive *e = &s->derive;

	if (!d)
		return 1; /* a plain intern finds any series, derived or not */
	return e->op == d->op && e->a == d->a && e->b == d->b &&
	       e->capacity == d->capacity;
}

uint32_t series_intern_noted(int view, const char *const *raw, int owner,
			     const struct series_derive *d, struct series_note *note)
{
	const struct famview *fv = series_view_get(view);
	const struct family *f = fv ? fv->fam : NULL;
	uint32_t id = AM_SERIES_INVALID, count;
	/* Cleaned values: what the series is keyed and exported by, so every
	 * reader (exposition, records, remote write) gets valid UTF-8. */
	char clean[AM_MAX_LABELS][EXPO_LABEL_VALUE_MAX + 1];
	const char *values[AM_MAX_LABELS];
	struct series *s;
	int fam;
	size_t i;

	if (note)
		memset(note, 0, sizeof(*note));
	if (!f)
		return AM_SERIES_INVALID;
	fam = f->id;
	for (unsigned k = 0; k < fv->nlabels; k++) {
		unsigned what;

		if (!raw || !raw[k])
			return AM_SERIES_INVALID;
		expo_clean_label_value(raw[k], clean[k], &what);
		values[k] = clean[k];
		if (note) {
			note->what[k] = what;
			note->any |= what;
		}
	}
	pthread_mutex_lock(&reg_lock);
	count = atomic_load_explicit(&nseries, memory_order_relaxed);
	if ((atomic_load_explicit(&nlive, memory_order_relaxed) + 1) * 2 > hcap &&
	    htab_grow() < 0)
		goto out;
	i = series_hash(fam, values, fv->nlabels) & (hcap - 1);
	for (; htab[i] != UINT32_MAX; i = (i + 1) & (hcap - 1)) {
		if (series_match(series_at(htab[i]), fv, values)) {
			s = series_at(htab[i]);
			/* Fed by two instances, readings of two devices would
			 * interleave (a counter would see resets): the first
			 * owner keeps it. */
			if (s->owner != owner) {
				if (note) {
					note->foreign = 1;
					note->foreign_owner = s->owner;
					note->foreign_first = !s->foreign_noted;
				}
				s->foreign_noted = 1;
				goto out;
			}
			if (derive_same(s, d))
				id = htab[i];
			goto out;
		}
	}
	if ((count >> CHUNK_BITS) >= CHUNK_MAX)
		goto out;
	/* A derived series' inputs keep their ids (series_release refuses
	 * them); one already released cannot be an input. */
	if (d) {
		uint32_t in[3] = {d->a, d->b, d->capacity};

		for (int k = 0; k < 3; k++) {
			struct series *x;

			if (in[k] == AM_SERIES_INVALID)
				continue;
			x = in[k] < count ? series_at(in[k]) : NULL;
			if (!x || atomic_load_explicit(&x->released, memory_order_relaxed))
				goto out;
		}
	}
	if (!chunks[count >> CHUNK_BITS]) {
		chunks[count >> CHUNK_BITS] =
			calloc(CHUNK_SIZE, sizeof(*chunks[0]));
		if (!chunks[count >> CHUNK_BITS])
			goto out;
	}
	s = series_build(fv, values, count, owner, d);
	if (!s)
		goto out;
	if (d) {
		uint32_t in[3] = {d->a, d->b, d->capacity};

		for (int k = 0; k < 3; k++)
			if (in[k] != AM_SERIES_INVALID)
				series_at(in[k])->derive_input = 1;
	}
	atomic_store_explicit(&chunks[count >> CHUNK_BITS][count & (CHUNK_SIZE - 1)],
			      s, memory_order_release);
	atomic_fetch_add_explicit(&nlive, 1, memory_order_relaxed);
	htab[i] = count;
	id = count;
	if (note)
		note->created = 1;
	/* Publishes the complete series entry to readers of nseries. */
	atomic_store_explicit(&nseries, count + 1, memory_order_release);
out:
	pthread_mutex_unlock(&reg_lock);
	return id;
}

uint32_t series_intern(int view, const char *const *values, int owner)
{
	return series_intern_noted(view, values, owner, NULL, NULL);
}

uint32_t series_intern_derived(int view, const char *const *values, int owner,
			       const struct series_derive *d)
{
	return series_intern_noted(view, values, owner, d, NULL);
}

/* Under reg_lock: take the entry at slot i out of the hash, moving later
 * entries of its probe run back (linear probing keeps no tombstones). */
static void htab_delete(size_t i)
{
	size_t mask = hcap - 1, j = i;

	htab[i] = UINT32_MAX;
	for (;;) {
		const struct series *s;
		size_t k;

		j = (j + 1) & mask;
		if (htab[j] == UINT32_MAX)
			return;
		s = series_at(htab[j]);
		k = series_hash(s->fam->id, (const char *const *)s->values,
				s->view->nlabels) & mask;
		/* Home k cyclically in (i, j]: the entry is still reachable. */
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		htab[i] = htab[j];
		htab[j] = UINT32_MAX;
		i = j;
	}
}

int series_release(uint32_t id, int owner)
{
	struct series *s;
	int rc = 0;
	size_t i;

	pthread_mutex_lock(&reg_lock);
	s = id < atomic_load_explicit(&nseries, memory_order_relaxed) ? series_at(id)
								      : NULL;
	if (!s || atomic_load_explicit(&s->released, memory_order_relaxed)) {
		rc = -ENOENT;
		goto out;
	}
	if (s->owner != owner) {
		rc = -EPERM;
		goto out;
	}
	if (s->derive.op || s->derive_input) {
		rc = -EBUSY;
		goto out;
	}
	i = series_hash(s->fam->id, (const char *const *)s->values,
			s->view->nlabels) & (hcap - 1);
	while (htab[i] != id && htab[i] != UINT32_MAX)
		i = (i + 1) & (hcap - 1);
	if (htab[i] == id)
		htab_delete(i);
	atomic_store_explicit(&s->released, 1, memory_order_release);
out:
	pthread_mutex_unlock(&reg_lock);
	return rc;
}

static void series_free(struct series *s)
{
	for (unsigned i = 0; i < s->view->nlabels; i++)
		free(s->values[i]);
	free(s->label_text);
	free(s);
}

void series_reclaim(uint32_t id)
{
	struct series *s;

	pthread_mutex_lock(&reg_lock);
	s = id < atomic_load_explicit(&nseries, memory_order_relaxed) ? series_at(id)
								      : NULL;
	if (s && atomic_load_explicit(&s->released, memory_order_relaxed)) {
		atomic_store_explicit(&chunks[id >> CHUNK_BITS][id & (CHUNK_SIZE - 1)],
				      NULL, memory_order_release);
		atomic_fetch_sub_explicit(&nlive, 1, memory_order_relaxed);
		series_free(s);
	}
	pthread_mutex_unlock(&reg_lock);
}

uint32_t series_live_count(void)
{
	return atomic_load_explicit(&nlive, memory_order_relaxed);
}

const struct series *series_get(uint32_t id)
{
	if (id >= atomic_load_explicit(&nseries, memory_order_acquire))
		return NULL;
	return series_at(id);
}

void series_revive(uint32_t id)
{
	const struct series *s = series_get(id);

	if (s)
		atomic_fetch_add_explicit(&((struct series *)s)->revive, 1,
					  memory_order_release);
}

uint32_t series_count(void)
{
	return atomic_load_explicit(&nseries, memory_order_acquire);
}

void series_reset(void)
{
	uint32_t count = atomic_load(&nseries);
	int nf = atomic_load(&nfamilies);

	for (uint32_t id = 0; id < count; id++) {
		struct series *s = series_at(id);

		if (s)
			series_free(s);
	}
	for (unsigned c = 0; c < CHUNK_MAX; c++) {
		free(chunks[c]);
		chunks[c] = NULL;
	}
	for (int i = 0; i < nf; i++) {
		family_free(families[i]);
		families[i] = NULL;
	}
	for (int i = 0; i < atomic_load(&nviews); i++) {
		for (unsigned k = 0; k < views[i]->nlabels; k++)
			free(views[i]->labels[k]);
		free(views[i]);
		views[i] = NULL;
	}
	atomic_store(&nviews, 0);
	free(htab);
	htab = NULL;
	hcap = 0;
	atomic_store(&nseries, 0);
	atomic_store(&nlive, 0);
	atomic_store(&nfamilies, 0);
}
