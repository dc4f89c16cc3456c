/* The runtime list of collectors: the built-ins (agent/builtin.c) and the
 * .so plugins loaded from `plugins:` and `plugin_dir:`, in that order. The
 * config parser, the scheduler and reload all read this one list. Changed
 * and read on the main thread only; entries are never removed (a plugin is
 * never dlclose()d: an abandoned collector thread may still run in it).
 */
#ifndef ACCELMON_PLUGINS_H
#define ACCELMON_PLUGINS_H

#include <stddef.h>

#include "accelmon/collector.h"
#include "config.h"

#define COLLECTORS_MAX 64

size_t collectors_count(void);
const struct am_collector *collectors_at(size_t i);
/* "built-in", or the path of the plugin file it came from. */
const char *collectors_origin(size_t i);
const struct am_collector *collectors_find(const char *name);
/* The built-ins as config components (list order); *n gets the count.
 * plugins_config_hook extends the table with the plugins the config being
 * parsed lists: a plugin loaded before but not listed is no component, so
 * no section of that config runs it. */
const struct cfg_component *collectors_components(size_t *n);

/* Load one plugin file. 0 (also when that file is loaded already), or a
 * negative errno with one line in err naming the file: it cannot be
 * opened, has no accelmon_collector symbol, another ABI version ("FILE:
 * collector ABI version 1, this agent needs 2"), a short descriptor, or a
 * name another collector has ("... already defined by built-in"). In a
 * config parse, a file naming a collector that a plugin of an earlier parse
 * holds (an upgrade through a swapped link) is no error: the loaded one
 * stays (no dlclose) and one warning says a restart loads the new file. */
int plugins_load(const char *path, char *err, size_t errlen);
/* Every *.so in dir, in name order; a missing directory is no error. */
int plugins_load_dir(const char *dir, char *err, size_t errlen);

/* cfg_schema.load_plugins: cfg's `plugins:`, then `plugin_dir:`. */
int plugins_config_hook(void *arg, const struct agent_config *cfg,
			const struct cfg_component **collectors, size_t *ncollectors,
			char *err, size_t errlen);

#endif
