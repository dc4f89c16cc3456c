/* Exporter interface (internal): an exporter reads snapshots and hands them
 * to the outside world (HTTP scrape, remote write, record files). Exporters
 * are listed in one table in agent/builtin.c.
 */
#ifndef ACCELMON_EXPORTER_H
#define ACCELMON_EXPORTER_H

#include "accelmon/collector.h"
#include "config.h"

struct agent_config;

/* flags: on reload the new instance starts while the running one serves,
 * which is stopped only once the new one runs; a new one that fails to
 * start leaves the running one as it was (until the next reload). */
#define AM_EXPORTER_START_FIRST 0x100u

struct am_exporter {
	const char *name;            /* key under `exporters:` */
	uint32_t flags;              /* AM_COLLECTOR_NEEDS_CONFIG: off until configured;
					 * AM_EXPORTER_START_FIRST */
	const struct am_option *options;
	/* Start (threads, sockets); cfg is this exporter's section, agent the
	 * whole config (listen address etc.). 0 or a negative errno. */
	int (*start)(const struct agent_config *agent, const struct am_config *cfg,
		     void **state);
	/* Flush what is pending and stop. */
	void (*stop)(void *state);
	/* Optional: 1 when the running exporter may go on as it is through a
	 * reload from config `old` to `new` (the HTTP server keeps its port
	 * open for scrapers), 0 to restart it. NULL: always restarted. */
	int (*keep)(void *state, const struct agent_config *old,
		    const struct am_config *old_cfg,
		    const struct agent_config *new,
		    const struct am_config *new_cfg);
	/* Optional: check the section when the config is loaded, so that a bad
	 * value stops startup (exit 2, FILE:LINE) or a reload is refused while
	 * the running exporter goes on (see cfg_check_fn in config.h). */
	cfg_check_fn *check;
	/* Optional: the exporter was kept through a reload (keep said 1) and
	 * the new config is in place: re-read what it reads beside the config
	 * (the HTTP server's web config file). A failure keeps what runs and is
	 * logged by the exporter. 0 or a negative errno. */
	int (*reload)(void *state);
	/* Optional: acquire what a start under this config needs and may fail
	 * to get for reasons outside the config (the new listen socket). On
	 * reload it runs before anything running is touched; a failure refuses
	 * the reload and everything goes on as it was. The next start takes
	 * what it acquired; unprepare releases it when the reload is refused
	 * for another reason. 0, or a negative errno with one line in err. */
	int (*prepare)(const struct agent_config *agent, const struct am_config *cfg,
		       char *err, size_t errlen);
	void (*unprepare)(void);
};

#endif
