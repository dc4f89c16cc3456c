/* The tables of built-in collectors and exporters (nginx-style static list);
 * agent/plugins.c adds the collectors of .so plugins at run time. */
#ifndef ACCELMON_BUILTIN_H
#define ACCELMON_BUILTIN_H

#include <stddef.h>

#include "accelmon/collector.h"
#include "config.h"
#include "exporter.h"

extern const struct am_collector *const builtin_collectors[];
extern const size_t builtin_ncollectors;
extern const struct am_exporter *const builtin_exporters[];
extern const size_t builtin_nexporters;

/* The exporters as config components (the collectors' table, with the
 * plugins, is agent/plugins.c's). */
const struct cfg_component *builtin_exporter_components(void);

#endif
