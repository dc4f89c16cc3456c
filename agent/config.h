/* Agent configuration: YAML (libyaml, config_yaml.c) parsed into sections
 * whose values live in the option store (options.c), checked against the
 * option tables of the known collectors and exporters, with an embedded
 * default. Every key is optional; an unknown key, a wrong type or bad YAML
 * is an error "FILE:LINE: problem" (the agent exits 2 on it at startup,
 * keeps the old config on SIGHUP).
 */
#ifndef ACCELMON_CONFIG_H
#define ACCELMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "accelmon/collector.h"

/* Collector instances a config may enable (the scheduler's slots). */
#define CFG_MAX_INSTANCES 64
/* Checks a section's values as a whole when the config is loaded (what the
 * option table cannot say: URL schemes, files that must exist). 0, or
 * -EINVAL with the key at fault ("url", "url[1]" for a list item, or
 * "endpoints[1].url" inside an AM_OPT_TREE value) in key
 * and the problem in why; the loader reports "FILE:LINE: exporters.NAME.KEY:
 * why" and the config is refused (exit 2 at startup, kept on SIGHUP). */
typedef int cfg_check_fn(const struct am_config *cfg, char *key, size_t keylen,
			 char *why, size_t whylen);

/* A component the config may name: a collector or an exporter. */
struct cfg_component {
	const char *name;
	const struct am_option *options; /* {NULL}-terminated, may be NULL */
	bool needs_config; /* off unless its section exists (AM_COLLECTOR_NEEDS_CONFIG) */
	cfg_check_fn *check; /* am_exporter.check or am_collector.check; may be NULL */
	double interval_s;   /* default `interval`; 0: CFG_DEFAULT_INTERVAL_S */
};

/* One section under `collectors:` or `exporters:`. A collector section
 * `NAME/INSTANCE` is one more instance of collector NAME. */
struct cfg_section {
	const char *name;         /* full name: "smi" or "smi/ixsmi" */
	const char *component;    /* the collector or exporter: "smi" */
	const char *instance;     /* "ixsmi"; NULL for a plain section */
	bool enabled;             /* after defaults: false if `enabled: false`,
				     or if needs_config and no section */
	bool present;             /* the file had a section for it */
	bool needs_config;        /* of its component */
	double interval_s;        /* `interval`, default 1 s, at least 0.1 s */
	double timeout_s;         /* `timeout`, default max(2 x interval, 2 s) */
	double rescan_s;          /* collectors: `rescan`, default 30 s; 0: never */
	unsigned long line;       /* of its name in the file; 0: not in it */
	struct am_config *opts;   /* component's own keys, read with am_cfg_* */
};

enum cfg_log_level { CFG_LOG_ERROR = 0, CFG_LOG_WARN, CFG_LOG_INFO, CFG_LOG_DEBUG };

struct agent_config {
	char *source;             /* file name, or "<embedded default>" */
	char *listen;             /* "HOST:PORT" */
	unsigned long listen_line; /* of `listen` in source; 0: not from it */
	int log_level;            /* enum cfg_log_level */
	char **plugins;           /* `plugins:` .so paths, file order */
	size_t nplugins;
	char *plugin_dir;         /* `plugin_dir:`; default ACCELMON_PLUGINDIR,
				     "" for none */
	/* One per known collector (table order), then the instance sections
	 * in file order. */
	struct cfg_section *collectors;
	size_t ncollectors;
	struct cfg_section *exporters;  /* one per known exporter, table order */
	size_t nexporters;
};

/* What a config may name, and how plugins join it. load_plugins (NULL:
 * plugin keys are read and kept, nothing is loaded) is called once per
 * parse, after the top-level `plugins` and `plugin_dir` keys of the text
 * are read (cfg has them) and before its sections are checked: it loads
 * what they name and returns the collector table again, now with the
 * plugins, through *collectors / *ncollectors. 0, or a negative errno with
 * one line in err (no trailing newline). */
struct cfg_schema {
	const struct cfg_component *collectors, *exporters;
	size_t ncollectors, nexporters;
	int (*load_plugins)(void *arg, const struct agent_config *cfg,
			    const struct cfg_component **collectors,
			    size_t *ncollectors, char *err, size_t errlen);
	void *arg;
};

/* The configuration compiled into the agent (used when --config is absent,
 * and as the base every file overrides). */
extern const char config_embedded_default[];

/* Parse YAML text. `source` names it in errors. On failure returns -EINVAL
 * and writes one line "SOURCE:LINE: problem" (no newline) into err. */
int config_parse_schema(const char *yaml, size_t len, const char *source,
			const struct cfg_schema *schema,
			struct agent_config **out, char *err, size_t errlen);
/* The same without plugins. */
int config_parse(const char *yaml, size_t len, const char *source,
		 const struct cfg_component *collectors, size_t ncollectors,
		 const struct cfg_component *exporters, size_t nexporters,
		 struct agent_config **out, char *err, size_t errlen);

/* Read and parse a file (errors: "FILE: cannot read: strerror" or as above). */
int config_load_file_schema(const char *path, const struct cfg_schema *schema,
			    struct agent_config **out, char *err, size_t errlen);
int config_load_file(const char *path,
		     const struct cfg_component *collectors, size_t ncollectors,
		     const struct cfg_component *exporters, size_t nexporters,
		     struct agent_config **out, char *err, size_t errlen);

void config_free(struct agent_config *cfg);

/* Write one line (newlines become blanks) into err, as every config and
 * plugin error is reported. */
void config_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Parse "1s", "250ms", "2m", "1h", "1.5s" or a bare number of seconds. */
int config_parse_duration(const char *s, double *out_s);
/* true/yes/on, false/no/off (any case): 0, or -EINVAL. For the scalars of
 * AM_OPT_TREE values, read as the option table reads booleans. */
int config_parse_bool(const char *s, bool *out);

/* Find a section by its full name ("netdev", "smi/ixsmi"); NULL if none. */
const struct cfg_section *config_collector(const struct agent_config *cfg,
					   const char *name);
const struct cfg_section *config_exporter(const struct agent_config *cfg,
					  const char *name);

#endif
