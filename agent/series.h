/* Series registry: metric families and interned series (family + label
 * values -> a dense 32-bit id). Collectors register on their first poll
 * (under a mutex); afterwards they only pass ids through the rings. Ids are
 * handed out in order and never again, so the aggregator and exporters read
 * definitions by id without locking once they have seen the published
 * count, as long as the series cannot have been freed: a released series'
 * entry (labels included) is freed (series_get gives NULL) once no live
 * snapshot holds its id and every final-value consumer has reported a
 * generation past its end (agent/snapshot.h). So a reader may keep using a
 * definition, or pointers into it, only while it holds a snapshot that
 * contains the id, or as a registered final-value consumer that has not
 * yet reported the snapshot in which the series ended (remote write's
 * label caches and records do).
 */
#ifndef ACCELMON_SERIES_H
#define ACCELMON_SERIES_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "accelmon/collector.h"

/* An exposition family: what Prometheus sees (name, help, type). Several
 * collectors may register the same family (accel_power_watts from NVML in mW
 * and from amdgpu in uW, accel_info with each vendor's identity labels): the
 * first help and unit win, and every registration must agree on the exposed
 * type. Label names belong to each registration (struct famview). */
struct family {
	int id;
	char *name;           /* as registered (counters end in _total) */
	char *help;
	char *help_escaped;   /* HELP text escaped for text 0.0.4 */
	char *help_om;        /* ... and for OpenMetrics (quotes escaped too) */
	enum am_kind kind;    /* of the first registration; decides the TYPE */
	char *unit;           /* NULL or OpenMetrics unit */
	unsigned nlabels;     /* labels of the first registration */
	char *labels[AM_MAX_LABELS];
};

/* One registration's view of a family: how its samples are aggregated. */
struct famview {
	int id;
	const struct family *fam;
	enum am_kind kind;
	unsigned bits;        /* 1..64 */
	int saturating;
	double scale;         /* never 0 */
	double window_s;
	unsigned nlabels;     /* this registration's label names */
	char *labels[AM_MAX_LABELS];
};

struct series {
	uint32_t id;
	const struct family *fam;
	const struct famview *view; /* aggregation of its samples */
	int owner;            /* collector slot that emits it */
	/* values[i] is the value of view->labels[i] */
	char *values[AM_MAX_LABELS];
	/* `{a="x",b="y"}` with values escaped, or "" when the family has no labels */
	char *label_text;
	/* A derived series (am_series_derived): op != 0 and its inputs; the
	 * aggregator computes it when input a is updated. Fixed at intern. */
	struct series_derive {
		uint8_t op; /* enum am_derive_op, 0 for a plain series */
		uint32_t a, b, capacity;
	} derive;
	/* Bumped each time the owner names an existing derived series again
	 * (am_series_derived): brings it back after am_series_retire. */
	_Atomic uint32_t revive;
	/* Under the registry lock: a refusal for another owner was noted. */
	uint8_t foreign_noted;
	/* Under the registry lock: an input of some derived series (its id
	 * is then never given up: series_release refuses). */
	uint8_t derive_input;
	/* Set once by series_release: out of the hash, so the same labels
	 * intern a new series; freed later by series_reclaim. */
	_Atomic uint8_t released;
};

/* Register a family (or find it) and return a view id >= 0 carrying this
 * registration's aggregation; -EINVAL for a bad name or label names, a
 * family already registered with another type or other labels, or a new
 * name whose OpenMetrics family name (without _total or _info) is empty or
 * another family's ("x" and "x_total" would both be "# TYPE x"); -ENOMEM.
 * The HELP text is made valid UTF-8 once, here. */
int series_family_register(const struct am_family_def *def, int owner);
const struct famview *series_view_get(int view);
const struct family *series_family_get(int family);
int series_family_count(void);

/* Intern (view, label values); returns id or AM_SERIES_INVALID. The series
 * identity is the family and label values; the view of its first intern
 * decides its aggregation. */
uint32_t series_intern(int view, const char *const *values, int owner);
/* Intern a derived series: as series_intern, with its inputs bound. An
 * existing series of the same identity is returned only when it is bound
 * to the same inputs (AM_SERIES_INVALID otherwise). Inputs are checked by
 * the caller (plugin_api.c). */
uint32_t series_intern_derived(int view, const char *const *values, int owner,
			       const struct series_derive *d);
/* What interning did to the values (series_intern_noted). */
struct series_note {
	int created;		      /* a new series */
	/* Refused: the series is fed by another owner (its slot), and this is
	 * the first such refusal of the series (to log once). */
	int foreign, foreign_owner, foreign_first;
	unsigned any;		      /* EXPO_CLEAN_* of all labels */
	unsigned what[AM_MAX_LABELS]; /* EXPO_CLEAN_* per label */
};
/* The one intern: label values are cleaned first (expo_clean_label_value:
 * valid UTF-8, at most AM_LABEL_VALUE_MAX bytes) and the series is keyed by
 * the cleaned values. d NULL: a plain series. note (may be NULL) says whether
 * the series is new and what was changed, for the caller to log once. */
uint32_t series_intern_noted(int view, const char *const *values, int owner,
			     const struct series_derive *d, struct series_note *note);
const struct series *series_get(uint32_t id);
/* The owner named derived series id again: let it back after a retire. */
void series_revive(uint32_t id);
/* Give up series id (am_series_release): out of the hash at once, so the
 * same family and labels intern a new series with a new id. Its entry stays
 * readable until series_reclaim. 0, or -EPERM (another owner's), -ENOENT,
 * -EBUSY (a derived series or an input of one: they keep their id; the
 * caller retires it instead). */
int series_release(uint32_t id, int owner);
/* Free a released series' entry: series_get(id) is NULL from then on. The
 * caller (the aggregator) makes sure nothing can still look it up: no live
 * snapshot holds it and every final-value consumer has seen its end. The
 * id is not handed out again. */
void series_reclaim(uint32_t id);
/* Series entries allocated now (ids handed out less those reclaimed). */
uint32_t series_live_count(void);
/* Number of series published so far (acquire: definitions up to it are
 * fully visible). */
uint32_t series_count(void);

/* Drop everything (tests only; not thread-safe). */
void series_reset(void);

#endif
