/* Series registry: metric families and interned series (family + label
 * values -> a dense 32-bit id). Collectors register on their first poll
 * (under a mutex); afterwards they only pass ids through the rings. The
 * registry is append-only, so the aggregator and exporters read definitions
 * by id without locking once they have seen the published count.
 */
#ifndef ACCELMON_SERIES_H
#define ACCELMON_SERIES_H

#include <stddef.h>
#include <stdint.h>

#include "accelmon/collector.h"

struct family {
	int id;
	char *name;           /* as registered (counters end in _total) */
	char *help;
	char *help_escaped;   /* HELP text escaped for the exposition */
	enum am_kind kind;
	char *unit;           /* NULL or OpenMetrics unit */
	unsigned nlabels;
	char *labels[AM_MAX_LABELS];
	unsigned bits;
	int saturating;
	double scale;
	double window_s;
	int owner;            /* collector slot that registered it, -1 for core */
};

struct series {
	uint32_t id;
	const struct family *fam;
	int owner;            /* collector slot that emits it */
	char *values[AM_MAX_LABELS];
	/* `{a="x",b="y"}` with values escaped, or "" when the family has no labels */
	char *label_text;
};

/* Register or find a family; returns id >= 0 or -EINVAL (bad name, label
 * names, or a redefinition that differs), -ENOMEM. */
int series_family_register(const struct am_family_def *def, int owner);
const struct family *series_family_get(int id);
int series_family_count(void);

/* Intern (family, label values); returns id or AM_SERIES_INVALID. */
uint32_t series_intern(int family, const char *const *values, int owner);
const struct series *series_get(uint32_t id);
/* Number of series published so far (acquire: definitions up to it are
 * fully visible). */
uint32_t series_count(void);

/* Drop everything (tests only; not thread-safe). */
void series_reset(void);

#endif
