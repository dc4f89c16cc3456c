/* Agent configuration: YAML (libyaml) parsed into a small tree, checked
 * against the option tables of the known collectors and exporters, with an
 * embedded default. Every key is optional; an unknown key, a wrong type or bad
 * YAML is an error "FILE:LINE: problem" (the agent exits 2 on it at startup,
 * keeps the old config on SIGHUP).
 */
#ifndef ACCELMON_CONFIG_H
#define ACCELMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "accelmon/collector.h"

/* A component the config may name: a collector or an exporter. */
struct cfg_component {
	const char *name;
	const struct am_option *options; /* {NULL}-terminated, may be NULL */
	bool needs_config; /* off unless its section exists (AM_COLLECTOR_NEEDS_CONFIG) */
};

/* One section under `collectors:` or `exporters:`. */
struct cfg_section {
	const char *name;         /* component name */
	bool enabled;             /* after defaults: false if `enabled: false`,
				     or if needs_config and no section */
	bool present;             /* the file had a section for it */
	double interval_s;        /* `interval`, default 1 s, at least 0.1 s */
	double timeout_s;         /* `timeout`, default max(2 x interval, 2 s) */
	struct am_config *opts;   /* component's own keys, read with am_cfg_* */
};

enum cfg_log_level { CFG_LOG_ERROR = 0, CFG_LOG_WARN, CFG_LOG_INFO, CFG_LOG_DEBUG };

struct agent_config {
	char *source;             /* file name, or "<embedded default>" */
	char *listen;             /* "HOST:PORT" */
	int log_level;            /* enum cfg_log_level */
	struct cfg_section *collectors; /* one per known collector, table order */
	size_t ncollectors;
	struct cfg_section *exporters;  /* one per known exporter, table order */
	size_t nexporters;
};

/* The configuration compiled into the agent (used when --config is absent,
 * and as the base every file overrides). */
extern const char config_embedded_default[];

/* Parse YAML text. `source` names it in errors. On failure returns -EINVAL
 * and writes one line "SOURCE:LINE: problem" (no newline) into err. */
int config_parse(const char *yaml, size_t len, const char *source,
		 const struct cfg_component *collectors, size_t ncollectors,
		 const struct cfg_component *exporters, size_t nexporters,
		 struct agent_config **out, char *err, size_t errlen);

/* Read and parse a file (errors: "FILE: cannot read: strerror" or as above). */
int config_load_file(const char *path,
		     const struct cfg_component *collectors, size_t ncollectors,
		     const struct cfg_component *exporters, size_t nexporters,
		     struct agent_config **out, char *err, size_t errlen);

void config_free(struct agent_config *cfg);

/* Parse "1s", "250ms", "2m", "1h", "1.5s" or a bare number of seconds. */
int config_parse_duration(const char *s, double *out_s);

/* Find a section by name (NULL if unknown). */
const struct cfg_section *config_collector(const struct agent_config *cfg,
					   const char *name);
const struct cfg_section *config_exporter(const struct agent_config *cfg,
					  const char *name);

#endif
