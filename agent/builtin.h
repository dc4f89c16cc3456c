/* The tables of built-in collectors and exporters (nginx-style static list);
 * agent/plugins.c adds the collectors of .so plugins at run time. */
#ifndef ACCELMON_BUILTIN_H
#define ACCELMON_BUILTIN_H

#include <stdbool.h>
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

/* On main, at startup before the privilege drop and at a reload before the
 * switch: the built-in collectors that need a capability to open what they
 * use (pcap's capture handles, CAP_NET_RAW) open it for the enabled sections
 * of cfg, for their instances to take. *keep_raw: CAP_NET_RAW is needed
 * after that too (an RDMA window opens a handle each time). raw_dropped:
 * the agent has dropped CAP_NET_RAW, so what is not open yet cannot be:
 * -EPERM with the section and interface in err ("needs a restart"). */
int builtin_preopen(const struct agent_config *cfg, const char *sysfs,
		    bool raw_dropped, bool *keep_raw, char *err, size_t errlen);
/* After a builtin_preopen that returned 0: keep, its config is taken (what
 * it no longer names is closed); else the reload was refused, and what was
 * opened for it is closed, the running config's handles kept as they were. */
void builtin_preopen_done(bool keep);

#endif
