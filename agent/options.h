/* The option store (internal): the values of one config section, as the
 * YAML reader (config_yaml.c) sets them and the am_cfg_* getters of the
 * plugin API (options.c) read them. A later layer (the file over the
 * embedded default) replaces a key's value.
 */
#ifndef ACCELMON_OPTIONS_H
#define ACCELMON_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

#include "accelmon/collector.h"

struct cfg_value {
	char *key;
	enum am_opt_type type;
	union {
		bool b;
		long long i;
		double d; /* DURATION, seconds */
		char *s;  /* STRING, REGEX */
		struct {
			char **v;
			size_t n;
		} list; /* STRLIST */
		struct am_node *tree; /* TREE (cfg_tree.c) */
	} u;
	/* Where the file set it (for errors found after parsing): the line of
	 * the value, and of each item of a list (NULL unless a block or flow
	 * sequence). 0: not from a file. */
	unsigned long line;
	unsigned long *item_line;
};

/* A section's keys as set by the embedded default and the file, in the
 * order first set. The generic keys (enabled, interval, timeout, rescan)
 * are stored here too, so a component can read them with the same
 * getters. */
struct am_config {
	struct cfg_value *vals;
	size_t n, cap;
};

struct am_config *opts_new(void);
void opts_free(struct am_config *c);
/* Slot for `key`, emptied if it was set before (a later layer wins). The
 * caller fills type and value; the slot owns them from then on. NULL when
 * out of memory. */
/* A deep copy of c (NULL: an empty store), so a collector instance owns
 * its options beyond the config they came from; NULL when out of memory. */
struct am_config *opts_dup(const struct am_config *c);
struct cfg_value *opts_slot(struct am_config *c, const char *key);
/* The value of key, or NULL. */
struct cfg_value *opts_get(const struct am_config *c, const char *key);

#endif
