/* The core side of the metric schema (accelmon/schema.h): lookups that the
 * plugin API uses to register schema families and to keep their names out of
 * am_family(). Pure functions over one constant table; no registry state, so
 * the test stand-ins of the collector API can link it alone.
 */
#ifndef ACCELMON_SCHEMA_CORE_H
#define ACCELMON_SCHEMA_CORE_H

#include <stdbool.h>

#include "accelmon/schema.h"

/* The registration of schema family `which` as fed by `use` (NULL: the
 * family's default kind, 64 bits, scale 1): name, HELP, unit and labels from
 * the table, kind, bits, saturating, scale and window_s from `use`.
 * -EINVAL for an unknown family or a kind that does not expose the family's
 * type (a gauge kind for a counter family, ...), with *why set to a reason. */
int schema_family_def(enum am_std which, const struct am_std_use *use,
		      struct am_family_def *out, const char **why);

/* True when `name` is the name of a schema family. */
bool schema_is_std_name(const char *name);

#endif
