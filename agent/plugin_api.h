/* The collector context behind the public am_* calls: one per collector
 * instance, owned by its scheduler slot (or a test harness).
 */
#ifndef ACCELMON_PLUGIN_API_H
#define ACCELMON_PLUGIN_API_H

#include <stdatomic.h>
#include <stdint.h>

#include "accelmon/collector.h"
#include "log.h"
#include "ring.h"

struct am_ctx {
	int slot;                        /* owner id of its series */
	const struct am_collector *desc;
	const char *name;                /* instance name: "smi/ixsmi" or "smi" */
	const char *instance;            /* "ixsmi", or NULL */
	struct ring *ring;
	const char *sysfs, *procfs;
	int64_t poll_ns;
	double interval_s;
	_Atomic uint64_t read_errors;
	struct log_ratelimit rl;
	char found[480];                 /* am_found() text, "" if none */
};

void ctx_init(struct am_ctx *ctx, int slot, const struct am_collector *desc,
	      struct ring *ring, const char *sysfs, const char *procfs,
	      double interval_s);
/* Name the instance ("smi/ixsmi"); the string must outlive the context. */
void ctx_set_instance(struct am_ctx *ctx, const char *full_name);

#endif
