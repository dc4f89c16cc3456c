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
	/* What the thread waits on (am_call_begin): the two innermost levels,
	 * for the watchdog's line. where_lock guards them; the watchdog holds
	 * it only while it copies the text, so a string is never read after
	 * its am_call_end. */
	atomic_flag where_lock;
	unsigned where_depth;
	const char *where[2];
};

void ctx_init(struct am_ctx *ctx, int slot, const struct am_collector *desc,
	      struct ring *ring, const char *sysfs, const char *procfs,
	      double interval_s);
/* The context of the calling thread (the one-shot file reads, which take
 * no context, report through it): set by the thread that runs the
 * instance's init, polls and rescans; NULL before the context goes away. */
void ctx_bind_thread(struct am_ctx *ctx);
/* What ctx's thread waits on now, for the watchdog: "reading <path>" (what
 * holds a '/') or "in <call>", then " within <outer>" when nested; "" when
 * in none. Returns the length. Safe from any thread. */
size_t ctx_where(struct am_ctx *ctx, char *buf, size_t cap);
/* What am_collector_running answers for instance `name` started by owner:
 * 0 starting (init running), 1 polling; a negative state removes it. */
void ctx_running_set(const void *owner, const char *name, int state);
/* Name the instance ("smi/ixsmi"); the string must outlive the context. */
void ctx_set_instance(struct am_ctx *ctx, const char *full_name);

#endif
