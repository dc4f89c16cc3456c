/* The tables of built-in collectors and exporters (nginx-style static list). */
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

/* Component tables for config_parse(), built from the lists above. */
const struct cfg_component *builtin_collector_components(void);
const struct cfg_component *builtin_exporter_components(void);

#endif
