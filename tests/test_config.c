/* Tests of the YAML configuration (agent/config_yaml.c, options.c)
 * against a fake component table: the embedded default, a full valid file,
 * every error class with its exact "SOURCE:LINE: key.path: problem" line,
 * needs_config and enabled semantics, the am_cfg_* getters,
 * config_load_file, durations, instances, rescan and the plugin keys.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef HAVE_CONFIG_H
#include <config.h> /* autoconf: ACCELMON_DEFAULT_PORT */
#endif
/* By path: "config.h" from here would find the autoconf header. */
#include "../agent/config.h"
#include "../agent/options.h"

#ifndef ACCELMON_DEFAULT_PORT
#define ACCELMON_DEFAULT_PORT 9917
#endif
#define STR_(x) #x
#define STR(x) STR_(x)
#define PORT STR(ACCELMON_DEFAULT_PORT)

static const struct am_option netdev_opts[] = {
	{"include", AM_OPT_REGEX, "interfaces to report"},
	{"exclude", AM_OPT_REGEX, "interfaces to skip"},
	{"physical_only", AM_OPT_BOOL, "only interfaces with a device link"},
	{NULL, 0, NULL},
};
static const struct am_option nvml_opts[] = {
	{"library", AM_OPT_STRING, "NVML library to dlopen"},
	{NULL, 0, NULL},
};
static const struct am_option pcap_opts[] = {
	{"interfaces", AM_OPT_STRLIST, "interfaces to capture on"},
	{"top_k", AM_OPT_INT, "peers reported"},
	{"idle", AM_OPT_DURATION, "forget a peer after"},
	{NULL, 0, NULL},
};
static const struct am_option records_opts[] = {
	{"dir", AM_OPT_STRING, "record directory"},
	/* Repeats a generic key: it must keep its generic meaning. */
	{"interval", AM_OPT_DURATION, "write interval"},
	{NULL, 0, NULL},
};

static const struct cfg_component colls[] = {
	{"netdev", netdev_opts, false},
	{"nvml", nvml_opts, false},
	{"pcap", pcap_opts, true},
};
static const struct cfg_component exps[] = {
	{"records", records_opts, true},
	{"textfile", NULL, false},
};
#define NCOLLS (sizeof(colls) / sizeof(colls[0]))
#define NEXPS (sizeof(exps) / sizeof(exps[0]))

static char err[512];

static int parse(const char *yaml, struct agent_config **out)
{
	memset(err, 'X', sizeof(err) - 1);
	err[sizeof(err) - 1] = '\0';
	return config_parse(yaml, strlen(yaml), "t.yaml", colls, NCOLLS, exps,
			    NEXPS, out, err, sizeof(err));
}

static struct agent_config *parse_ok(const char *yaml)
{
	struct agent_config *cfg = NULL;
	int rc = parse(yaml, &cfg);

	ck_assert_msg(rc == 0, "parse failed (%d): %s\n---\n%s", rc, err, yaml);
	ck_assert_ptr_nonnull(cfg);
	return cfg;
}

/* ---- valid configurations ---- */

START_TEST(test_embedded_default)
{
	struct agent_config *cfg = NULL;
	int rc = config_parse(config_embedded_default,
			      strlen(config_embedded_default),
			      "<embedded default>", colls, NCOLLS, exps, NEXPS,
			      &cfg, err, sizeof(err));

	ck_assert_msg(rc == 0, "%s", err);
	ck_assert_ptr_nonnull(strstr(config_embedded_default, "# "));
	ck_assert_str_eq(cfg->listen, "127.0.0.1:" PORT);
	ck_assert_str_eq(cfg->source, "<embedded default>");
	ck_assert_int_eq(cfg->log_level, CFG_LOG_INFO);
	ck_assert_uint_eq(cfg->ncollectors, NCOLLS);
	ck_assert_uint_eq(cfg->nexporters, NEXPS);
	for (size_t i = 0; i < NCOLLS; i++) {
		ck_assert_str_eq(cfg->collectors[i].name, colls[i].name);
		ck_assert(!cfg->collectors[i].present);
		ck_assert(cfg->collectors[i].interval_s == 1.0);
		ck_assert(cfg->collectors[i].timeout_s == 2.0); /* max(2 x interval, 2 s) */
		ck_assert_ptr_nonnull(cfg->collectors[i].opts);
	}
	ck_assert(config_collector(cfg, "netdev")->enabled);
	ck_assert(config_collector(cfg, "nvml")->enabled);
	ck_assert(!config_collector(cfg, "pcap")->enabled);
	ck_assert(!config_exporter(cfg, "records")->enabled);
	ck_assert(config_exporter(cfg, "textfile")->enabled);
	ck_assert_ptr_null(config_collector(cfg, "records"));
	ck_assert_ptr_null(config_exporter(cfg, "nope"));
	config_free(cfg);
}
END_TEST

static const char full_yaml[] =
	"# a full configuration\n"
	"listen: \"[::1]:9100\"\n"
	"log_level: DEBUG\n"
	"collectors:\n"
	"  netdev:\n"
	"    interval: 250ms\n"
	"    include: \"^(en|eth|ib)\"\n"
	"    exclude: ^lo$\n"
	"    physical_only: no\n"
	"  nvml: {library: /opt/nvidia/libnvidia-ml.so.1, timeout: 3s,\n"
	"         enabled: off}\n"
	"  pcap:\n"
	"    interfaces: [eth0, 'eth1']\n"
	"    top_k: 64\n"
	"    idle: 2m\n"
	"exporters:\n"
	"  records: {dir: /var/lib/accelmon/records, interval: 15s}\n";

START_TEST(test_full_file)
{
	struct agent_config *cfg = parse_ok(full_yaml);
	const struct cfg_section *nd = config_collector(cfg, "netdev");
	const struct cfg_section *nv = config_collector(cfg, "nvml");
	const struct cfg_section *pc = config_collector(cfg, "pcap");
	const struct cfg_section *rec = config_exporter(cfg, "records");
	const struct cfg_section *tf = config_exporter(cfg, "textfile");

	ck_assert_str_eq(cfg->source, "t.yaml");
	ck_assert_str_eq(cfg->listen, "[::1]:9100");
	ck_assert_int_eq(cfg->log_level, CFG_LOG_DEBUG);

	ck_assert(nd->present && nd->enabled);
	ck_assert_double_eq_tol(nd->interval_s, 0.25, 1e-12);
	ck_assert_double_eq_tol(nd->timeout_s, 2.0, 1e-12);
	ck_assert_str_eq(am_cfg_string(nd->opts, "include", NULL),
			 "^(en|eth|ib)");
	ck_assert_str_eq(am_cfg_string(nd->opts, "exclude", NULL), "^lo$");
	ck_assert(!am_cfg_bool(nd->opts, "physical_only", true));
	/* The generic keys are readable through the getters as well. */
	ck_assert_double_eq_tol(am_cfg_duration(nd->opts, "interval", 9), 0.25,
				1e-12);

	ck_assert(nv->present && !nv->enabled);
	ck_assert_str_eq(am_cfg_string(nv->opts, "library", "x"),
			 "/opt/nvidia/libnvidia-ml.so.1");
	ck_assert(nv->interval_s == 1.0);
	ck_assert(nv->timeout_s == 3.0);

	ck_assert(pc->present && pc->enabled);
	ck_assert_uint_eq(am_cfg_list_len(pc->opts, "interfaces"), 2);
	ck_assert_str_eq(am_cfg_list_at(pc->opts, "interfaces", 0), "eth0");
	ck_assert_str_eq(am_cfg_list_at(pc->opts, "interfaces", 1), "eth1");
	ck_assert_ptr_null(am_cfg_list_at(pc->opts, "interfaces", 2));
	ck_assert_int_eq(am_cfg_int(pc->opts, "top_k", 0), 64);
	ck_assert(am_cfg_duration(pc->opts, "idle", 0) == 120.0);

	ck_assert(rec->present && rec->enabled);
	ck_assert_str_eq(am_cfg_string(rec->opts, "dir", NULL),
			 "/var/lib/accelmon/records");
	ck_assert(rec->interval_s == 15.0 && rec->timeout_s == 30.0);
	ck_assert(!tf->present && tf->enabled);
	config_free(cfg);
}
END_TEST

START_TEST(test_getter_defaults)
{
	struct agent_config *cfg = parse_ok("collectors:\n"
					    "  nvml: {library: libx.so}\n");
	const struct am_config *o = config_collector(cfg, "nvml")->opts;

	/* Unset keys, keys of another type and a NULL config: the default. */
	ck_assert_str_eq(am_cfg_string(o, "nope", "d"), "d");
	ck_assert_int_eq(am_cfg_int(o, "library", 7), 7);
	ck_assert(am_cfg_bool(o, "library", true));
	ck_assert(am_cfg_duration(o, "library", 2.5) == 2.5);
	ck_assert_uint_eq(am_cfg_list_len(o, "library"), 0);
	ck_assert_ptr_null(am_cfg_list_at(o, "library", 0));
	ck_assert_int_eq(am_cfg_int(NULL, "x", -3), -3);
	ck_assert_str_eq(am_cfg_string(NULL, "x", "n"), "n");
	ck_assert_uint_eq(am_cfg_list_len(NULL, "x"), 0);
	ck_assert(!am_cfg_bool(NULL, "x", false));
	config_free(cfg);
	config_free(NULL);
}
END_TEST

/* needs_config and enabled: YAML snippet -> expected pcap/netdev/records. */
static const struct {
	const char *yaml;
	bool pcap_present, pcap_on, netdev_on, records_on;
} enable_cases[] = {
	{"", false, false, true, false},
	{"# only a comment\n", false, false, true, false},
	{"collectors: {}\n", false, false, true, false},
	{"collectors:\n", false, false, true, false},
	{"collectors:\n  pcap: {}\n", true, true, true, false},
	{"collectors:\n  pcap:\n", true, true, true, false},
	{"collectors:\n  pcap: ~\n", true, true, true, false},
	{"collectors:\n  pcap: {top_k: 5}\n", true, true, true, false},
	{"collectors:\n  pcap: {enabled: false}\n", true, false, true, false},
	{"collectors:\n  netdev: {enabled: false}\n", false, false, false,
	 false},
	{"collectors:\n  netdev: {enabled: OFF}\n", false, false, false, false},
	{"collectors:\n  netdev: {enabled: Yes}\n", false, false, true, false},
	{"exporters:\n  records: {dir: /tmp}\n", false, false, true, true},
	{"exporters:\n  records:\n", false, false, true, true},
	{"exporters:\n  records: {enabled: no}\n", false, false, true, false},
};

START_TEST(test_enabled)
{
	struct agent_config *cfg = parse_ok(enable_cases[_i].yaml);

	ck_assert_msg(config_collector(cfg, "pcap")->present ==
			      enable_cases[_i].pcap_present,
		      "case %d", _i);
	ck_assert_msg(config_collector(cfg, "pcap")->enabled ==
			      enable_cases[_i].pcap_on,
		      "case %d", _i);
	ck_assert_msg(config_collector(cfg, "netdev")->enabled ==
			      enable_cases[_i].netdev_on,
		      "case %d", _i);
	ck_assert_msg(config_exporter(cfg, "records")->enabled ==
			      enable_cases[_i].records_on,
		      "case %d", _i);
	config_free(cfg);
}
END_TEST

/* Patterns an operator writes must still pass the size guard. */
static const char *const good_regex[] = {
	"^(en|eth|ib)[0-9]+$", "^lo$", "[[:alpha:]]+[]a-]*", "a{1,255}",
	"(a+)+b*", "^(eth[0-9]+|en[a-z0-9]+|ib[0-9]+|bond[0-9]+|mlx5_[0-9]+)$",
	"\\++", "[+*]+", "(a{255}){255}", "a|b|c?d",
};

START_TEST(test_good_regex)
{
	char yaml[256];
	struct agent_config *cfg;

	snprintf(yaml, sizeof(yaml), "collectors:\n  netdev: {include: '%s'}\n",
		 good_regex[_i]);
	cfg = parse_ok(yaml);
	ck_assert_str_eq(am_cfg_string(config_collector(cfg, "netdev")->opts,
				       "include", NULL),
			 good_regex[_i]);
	config_free(cfg);
}
END_TEST

START_TEST(test_strlist_single)
{
	struct agent_config *cfg = parse_ok("collectors:\n"
					    "  pcap: {interfaces: eth3}\n");
	const struct am_config *o = config_collector(cfg, "pcap")->opts;

	ck_assert_uint_eq(am_cfg_list_len(o, "interfaces"), 1);
	ck_assert_str_eq(am_cfg_list_at(o, "interfaces", 0), "eth3");
	config_free(cfg);

	cfg = parse_ok("collectors:\n  pcap: {interfaces: []}\n");
	o = config_collector(cfg, "pcap")->opts;
	ck_assert_uint_eq(am_cfg_list_len(o, "interfaces"), 0);
	config_free(cfg);
}
END_TEST

/* Values accepted for each scalar kind: YAML -> what the getter reads. */
START_TEST(test_values)
{
	struct agent_config *cfg = parse_ok(
		"listen: localhost:1\n"
		"log_level: Warn\n"
		"collectors:\n"
		"  netdev: {interval: 0.1, timeout: 1m30s, physical_only: ON}\n"
		"  pcap: {top_k: -9223372036854775808, idle: 1.5}\n"
		"  nvml: {library: 123}\n");
	const struct cfg_section *nd = config_collector(cfg, "netdev");
	const struct am_config *pc = config_collector(cfg, "pcap")->opts;

	ck_assert_str_eq(cfg->listen, "localhost:1");
	ck_assert_int_eq(cfg->log_level, CFG_LOG_WARN);
	ck_assert(nd->interval_s == 0.1);
	ck_assert(nd->timeout_s == 90.0);
	ck_assert(am_cfg_bool(nd->opts, "physical_only", false));
	ck_assert(am_cfg_int(pc, "top_k", 0) == -9223372036854775807LL - 1);
	ck_assert(am_cfg_duration(pc, "idle", 0) == 1.5);
	ck_assert_str_eq(
		am_cfg_string(config_collector(cfg, "nvml")->opts, "library",
			      NULL),
		"123");
	config_free(cfg);

	cfg = parse_ok("log_level: error\n");
	ck_assert_int_eq(cfg->log_level, CFG_LOG_ERROR);
	ck_assert_str_eq(cfg->listen, "127.0.0.1:" PORT); /* from the default */
	config_free(cfg);
}
END_TEST

/* ---- errors ---- */

struct err_case {
	const char *yaml;
	int line;
	const char *exact;  /* whole message after "t.yaml:LINE: ", or NULL */
	const char *substr; /* when the text comes from libyaml or libc */
};

static const struct err_case err_cases[] = {
	/* bad YAML */
	{"listen: [1, 2\n", 2, NULL, "invalid YAML: "},
	{"collectors:\n\tnetdev: {}\n", 2, NULL, "invalid YAML: "},
	{"listen: 127.0.0.1:1\nlog_level: info\n  debug: x\n", 3, NULL,
	 "invalid YAML: "},
	{"listen: \"abc\n", 2, NULL, "invalid YAML: "},
	{"listen: *nope\n", 1, NULL, "invalid YAML: "},
	{"listen: a:1\n---\nlog_level: info\n", 3,
	 "top level: only one YAML document is allowed", NULL},
	{"- listen\n", 1,
	 "top level: expected a mapping of settings, got a sequence", NULL},
	{"just text\n", 1,
	 "top level: expected a mapping of settings, got \"just text\"", NULL},
	{"? [a]\n: 1\n", 1, "top level: keys must be names, got a sequence",
	 NULL},
	/* unknown keys */
	{"listen: 127.0.0.1:1\nlisten_port: 5\n", 2,
	 "listen_port: unknown key (known: listen, log_level, plugins, "
	 "plugin_dir, collectors, exporters)",
	 NULL},
	{"collectors:\n  netdve: {}\n", 2,
	 "collectors.netdve: unknown collector (known: netdev, nvml, pcap)",
	 NULL},
	{"exporters:\n  remote_write: {}\n", 2,
	 "exporters.remote_write: unknown exporter (known: records, textfile)",
	 NULL},
	{"# accelmon test config\n"
	 "listen: 0.0.0.0:9917\n"
	 "log_level: debug\n"
	 "collectors:\n"
	 "  netdev:\n"
	 "    interval: 1s\n"
	 "    intervall: 2s\n",
	 7,
	 "collectors.netdev.intervall: unknown key (known: enabled, interval, "
	 "timeout, rescan, include, exclude, physical_only)",
	 NULL},
	{"exporters:\n  textfile: {path: x}\n", 2,
	 "exporters.textfile.path: unknown key (known: enabled, interval, "
	 "timeout)",
	 NULL},
	{"exporters:\n  records:\n    dir: x\n    spool: y\n", 4,
	 "exporters.records.spool: unknown key (known: enabled, interval, "
	 "timeout, dir)",
	 NULL},
	/* wrong types */
	{"log_level: info\nlisten:\n  host: x\n", 3,
	 "listen: expected a string, got a mapping", NULL},
	{"listen: [a, b]\n", 1,
	 "listen: expected a string, got a sequence (quote an IPv6 address: "
	 "listen: \"[::1]:" PORT "\")",
	 NULL},
	{"log_level: info\nlisten: [::1]:9917\n", 2, NULL,
	 "(quote an IPv6 address: listen: \"[::1]:" PORT "\")"},
	{"listen:\n", 1, "listen: expected a string, got nothing (null)", NULL},
	{"log_level: verbose\n", 1,
	 "log_level: unknown level \"verbose\" (known: error, warn, info, "
	 "debug)",
	 NULL},
	{"collectors: [netdev]\n", 1,
	 "collectors: expected a mapping of collector names, got a sequence",
	 NULL},
	{"exporters: records\n", 1,
	 "exporters: expected a mapping of exporter names, got \"records\"",
	 NULL},
	{"collectors:\n  netdev: 5\n", 2,
	 "collectors.netdev: expected a mapping, got \"5\"", NULL},
	{"collectors:\n  netdev: {physical_only: maybe}\n", 2,
	 "collectors.netdev.physical_only: expected a boolean (true or false), "
	 "got \"maybe\"",
	 NULL},
	{"collectors:\n  netdev:\n    enabled: 1\n", 3,
	 "collectors.netdev.enabled: expected a boolean (true or false), got "
	 "\"1\"",
	 NULL},
	{"collectors:\n  pcap:\n    top_k: yes\n", 3,
	 "collectors.pcap.top_k: expected an integer, got \"yes\"", NULL},
	{"collectors:\n  pcap:\n    top_k: 1.5\n", 3,
	 "collectors.pcap.top_k: expected an integer, got \"1.5\"", NULL},
	{"collectors:\n  pcap:\n    top_k: ' 5'\n", 3,
	 "collectors.pcap.top_k: expected an integer, got \" 5\"", NULL},
	{"collectors:\n  pcap:\n    top_k: 99999999999999999999\n", 3,
	 "collectors.pcap.top_k: integer out of range: "
	 "\"99999999999999999999\"",
	 NULL},
	{"collectors:\n  pcap:\n    top_k: [1]\n", 3,
	 "collectors.pcap.top_k: expected an integer, got a sequence", NULL},
	{"collectors:\n  netdev: {interval: 5 parsecs}\n", 2,
	 "collectors.netdev.interval: invalid duration \"5 parsecs\" (use e.g. "
	 "250ms, 1s, 1.5s, 2m, 1h)",
	 NULL},
	{"collectors:\n  pcap: {idle: -1s}\n", 2,
	 "collectors.pcap.idle: invalid duration \"-1s\" (use e.g. 250ms, 1s, "
	 "1.5s, 2m, 1h)",
	 NULL},
	{"collectors:\n  nvml:\n    library:\n      path: x\n", 4,
	 "collectors.nvml.library: expected a string, got a mapping", NULL},
	{"collectors:\n  nvml: {library: null}\n", 2,
	 "collectors.nvml.library: expected a string, got nothing (null)",
	 NULL},
	{"collectors:\n  netdev: {include: [a]}\n", 2,
	 "collectors.netdev.include: expected a regular expression, got a "
	 "sequence",
	 NULL},
	{"collectors:\n  pcap:\n    interfaces:\n      - eth0\n      - {a: 1}\n",
	 5, "collectors.pcap.interfaces[1]: expected a string, got a mapping",
	 NULL},
	{"collectors:\n  pcap: {interfaces: {eth0: 1}}\n", 2,
	 "collectors.pcap.interfaces: expected a list of strings or one "
	 "string, got a mapping",
	 NULL},
	{"collectors:\n  pcap: {top_k: \"a\\nb\"}\n", 2,
	 "collectors.pcap.top_k: expected an integer, got \"a\\x0ab\"", NULL},
	/* interval and timeout limits */
	{"collectors:\n  netdev:\n    interval: 50ms\n", 3,
	 "collectors.netdev.interval: \"50ms\" is below the minimum interval "
	 "of 100ms",
	 NULL},
	{"exporters:\n  records: {interval: 0.05}\n", 2,
	 "exporters.records.interval: \"0.05\" is below the minimum interval "
	 "of 100ms",
	 NULL},
	{"collectors:\n  nvml: {timeout: 0s}\n", 2,
	 "collectors.nvml.timeout: timeout must be greater than 0, got \"0s\"",
	 NULL},
	/* bad regex */
	{"collectors:\n  netdev:\n    exclude: \"(\"\n", 3, NULL,
	 "collectors.netdev.exclude: invalid regex \"(\": "},
	{"collectors:\n  netdev: {include: \"a{2,1}\"}\n", 2, NULL,
	 "collectors.netdev.include: invalid regex \"a{2,1}\": "},
	/* refused before regcomp: exponential memory in glibc */
	{"collectors:\n  netdev: {include: \"^lo1+++\"}\n", 2,
	 "collectors.netdev.include: invalid regex \"^lo1+++\": adjacent "
	 "repetition operators (undefined in POSIX ERE)",
	 NULL},
	{"collectors:\n  netdev: {include: \"a{256}\"}\n", 2, NULL,
	 "invalid regex \"a{256}\": repetition count over 255"},
	{"collectors:\n  netdev: {include: \"((a{255}){255}){255}\"}\n", 2,
	 NULL, ": repetitions expand too far"},
	/* duplicate keys */
	{"listen: a:1\nlog_level: info\nlisten: b:2\n", 3,
	 "listen: duplicate key (first at line 1)", NULL},
	{"collectors:\n  netdev:\n    interval: 1s\n    interval: 2s\n", 4,
	 "collectors.netdev.interval: duplicate key (first at line 3)", NULL},
	{"collectors:\n  nvml: {}\n  netdev: {}\n  nvml: {}\n", 4,
	 "collectors.nvml: duplicate key (first at line 2)", NULL},
	/* bad listen */
	{"listen: localhost\n", 1,
	 "listen: invalid address \"localhost\": missing :PORT (expected "
	 "HOST:PORT, e.g. 127.0.0.1:" PORT " or [::1]:" PORT ")",
	 NULL},
	{"listen: \":9917\"\n", 1, NULL, "listen: invalid address \":9917\": "
					 "empty host"},
	{"listen: 127.0.0.1:0\n", 1, NULL, "port out of range 1..65535"},
	{"listen: 127.0.0.1:65536\n", 1, NULL, "port out of range 1..65535"},
	{"listen: \"127.0.0.1:\"\n", 1, NULL, "missing port number"},
	{"listen: 127.0.0.1:http\n", 1, NULL, "port is not a number"},
	{"listen: ::1:9917\n", 1, NULL, "an IPv6 address needs brackets"},
	{"listen: \"[::1]9917\"\n", 1, NULL, "missing :PORT"},
	{"listen: \"[]:9917\"\n", 1, NULL, "empty host"},
	{"listen: \"[::1:9917\"\n", 1, NULL, "missing ']'"},
	/* instances, rescan, plugin keys */
	{"collectors:\n  netdev/: {}\n", 2,
	 "collectors.netdev/: empty instance name after '/'", NULL},
	{"collectors:\n  netdev/a b: {}\n", 2,
	 "collectors.netdev/a b: an instance name is letters, digits, '_', "
	 "'-' and '.'",
	 NULL},
	{"collectors:\n  netdev/a/b: {}\n", 2, NULL, "an instance name is"},
	{"collectors:\n  nope/a: {}\n", 2,
	 "collectors.nope/a: unknown collector (known: netdev, nvml, pcap)",
	 NULL},
	{"exporters:\n  records/a: {}\n", 2, NULL, "unknown exporter"},
	{"collectors:\n  netdev/a: {bogus: 1}\n", 2,
	 "collectors.netdev/a.bogus: unknown key (known: enabled, interval, "
	 "timeout, rescan, include, exclude, physical_only)",
	 NULL},
	{"collectors:\n  netdev: {rescan: 50ms}\n", 2, NULL,
	 "below the minimum of 100ms (0 turns rescans off)"},
	{"collectors:\n  netdev: {rescan: 2d}\n", 2, NULL,
	 "above the maximum of 1d"},
	{"exporters:\n  records: {rescan: 1s}\n", 2, NULL,
	 "exporters.records.rescan: unknown key"},
	{"plugins: {a: 1}\n", 1, NULL, "plugins: expected a .so path or a list"},
	{"plugins:\n  - /a.so\n  - [x]\n", 3, "plugins[1]: expected a .so path "
	 "or a list of them, got a sequence", NULL},
	{"plugins: [\"\"]\n", 1, "plugins[0]: empty path", NULL},
	{"plugin_dir: [a]\n", 1, NULL, "plugin_dir: expected a directory"},
};

START_TEST(test_errors)
{
	const struct err_case *c = &err_cases[_i];
	struct agent_config *cfg = (struct agent_config *)&cfg; /* poison */
	char prefix[32];
	int rc = parse(c->yaml, &cfg);

	if (getenv("SHOW_ERRORS"))
		fprintf(stderr, "%s\n", err);
	ck_assert_msg(rc == -EINVAL, "case %d: rc %d, err %s", _i, rc, err);
	ck_assert_ptr_null(cfg);
	ck_assert_msg(!strchr(err, '\n'), "case %d: two lines: %s", _i, err);
	snprintf(prefix, sizeof(prefix), "t.yaml:%d: ", c->line);
	ck_assert_msg(!strncmp(err, prefix, strlen(prefix)),
		      "case %d: want line %d, got: %s", _i, c->line, err);
	if (c->exact)
		ck_assert_str_eq(err + strlen(prefix), c->exact);
	if (c->substr)
		ck_assert_msg(strstr(err, c->substr), "case %d: want '%s' in: %s",
			      _i, c->substr, err);
}
END_TEST

START_TEST(test_error_small_buffer)
{
	struct agent_config *cfg;
	char small[12];
	int rc = config_parse("bogus: 1\n", 9, "t.yaml", colls, NCOLLS, exps,
			      NEXPS, &cfg, small, sizeof(small));

	ck_assert_int_eq(rc, -EINVAL);
	ck_assert_str_eq(small, "t.yaml:1: b");
	/* A NULL error buffer is allowed. */
	ck_assert_int_eq(config_parse("bogus: 1\n", 9, "t.yaml", colls, NCOLLS,
				      exps, NEXPS, &cfg, NULL, 0),
			 -EINVAL);
}
END_TEST

/* ---- files ---- */

static char *write_tmp(const char *text, size_t len)
{
	char *path = strdup("/tmp/test_config_XXXXXX");
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
	close(fd);
	return path;
}

START_TEST(test_load_file)
{
	struct agent_config *cfg = NULL;
	char *path = write_tmp(full_yaml, strlen(full_yaml));
	char want[600];
	int rc;

	rc = config_load_file(path, colls, NCOLLS, exps, NEXPS, &cfg, err,
			      sizeof(err));
	ck_assert_msg(rc == 0, "%s", err);
	ck_assert_str_eq(cfg->source, path);
	ck_assert_str_eq(cfg->listen, "[::1]:9100");
	config_free(cfg);
	unlink(path);
	free(path);

	/* Errors name the file. */
	path = write_tmp("listen: x:1\nfoo: 1\n", 18);
	rc = config_load_file(path, colls, NCOLLS, exps, NEXPS, &cfg, err,
			      sizeof(err));
	ck_assert_int_eq(rc, -EINVAL);
	snprintf(want, sizeof(want),
		 "%s:2: foo: unknown key (known: listen, log_level, "
		 "plugins, plugin_dir, collectors, exporters)",
		 path);
	ck_assert_str_eq(err, want);
	unlink(path);
	free(path);

	rc = config_load_file("/nonexistent/accelmon.yaml", colls, NCOLLS,
			      exps, NEXPS, &cfg, err, sizeof(err));
	ck_assert_int_eq(rc, -ENOENT);
	ck_assert_ptr_null(cfg);
	ck_assert_str_eq(err, "/nonexistent/accelmon.yaml: cannot read: No "
			      "such file or directory");

	rc = config_load_file("/tmp", colls, NCOLLS, exps, NEXPS, &cfg, err,
			      sizeof(err));
	ck_assert_int_eq(rc, -EISDIR);
	ck_assert_str_eq(err, "/tmp: cannot read: Is a directory");
}
END_TEST

START_TEST(test_load_file_too_large)
{
	size_t len = 1024 * 1024 + 1;
	char *big = malloc(len);
	struct agent_config *cfg = NULL;
	char *path, want[600];
	int rc;

	/* A valid YAML comment: only the size is wrong. */
	memset(big, ' ', len);
	big[0] = '#';
	path = write_tmp(big, len);
	rc = config_load_file(path, colls, NCOLLS, exps, NEXPS, &cfg, err,
			      sizeof(err));
	ck_assert_int_eq(rc, -EFBIG);
	ck_assert_ptr_null(cfg);
	snprintf(want, sizeof(want),
		 "%s: file too large (a config file is at most 1024 KiB)", path);
	ck_assert_str_eq(err, want);
	unlink(path);
	free(path);

	/* Exactly at the cap is fine. */
	path = write_tmp(big, len - 1);
	rc = config_load_file(path, colls, NCOLLS, exps, NEXPS, &cfg, err,
			      sizeof(err));
	ck_assert_msg(rc == 0, "%s", err);
	config_free(cfg);
	unlink(path);
	free(path);
	free(big);
}
END_TEST

/* ---- durations ---- */

static const struct {
	const char *s;
	int rc;
	double v;
} dur_cases[] = {
	{"250ms", 0, 0.25},   {"100ms", 0, 0.1},  {"1s", 0, 1},
	{"1.5s", 0, 1.5},     {"2m", 0, 120},     {"1h", 0, 3600},
	{"1d", 0, 86400},     {"5", 0, 5},        {"0.25", 0, 0.25},
	{".5s", 0, 0.5},      {"0s", 0, 0},       {"1m30s", 0, 90},
	{"1h1m1s", 0, 3661},  {"", -EINVAL, 0},   {"s", -EINVAL, 0},
	{"-1s", -EINVAL, 0},  {"+1s", -EINVAL, 0}, {"1x", -EINVAL, 0},
	{"1 s", -EINVAL, 0},  {" 1s", -EINVAL, 0}, {"1s ", -EINVAL, 0},
	{"5 parsecs", -EINVAL, 0}, {"nan", -EINVAL, 0}, {"inf", -EINVAL, 0},
	{"infs", -EINVAL, 0}, {"1e3", -EINVAL, 0}, {"0x10", -EINVAL, 0},
	{"1..5s", -EINVAL, 0}, {"1.2.3", -EINVAL, 0}, {".", -EINVAL, 0},
	{"1m5", -EINVAL, 0},  {"1sms", -EINVAL, 0},
	{"1000000000000000000000000000000000000000000000000000000000000000000",
	 -EINVAL, 0},
};

START_TEST(test_durations)
{
	double v = -42;
	int rc = config_parse_duration(dur_cases[_i].s, &v);

	ck_assert_msg(rc == dur_cases[_i].rc, "'%s': rc %d", dur_cases[_i].s,
		      rc);
	if (rc == 0)
		ck_assert_msg(v == dur_cases[_i].v, "'%s': %g", dur_cases[_i].s,
			      v);
	else
		ck_assert(v == -42); /* untouched on error */
}
END_TEST

START_TEST(test_duration_null)
{
	double v;

	ck_assert_int_eq(config_parse_duration(NULL, &v), -EINVAL);
}
END_TEST

#define NELEM(a) (int)(sizeof(a) / sizeof((a)[0]))

/* ---- instances, rescan, plugin keys ---- */

START_TEST(test_instances)
{
	struct agent_config *cfg = parse_ok(
		"collectors:\n"
		"  netdev/lan: {include: \"^en\", interval: 2s}\n"
		"  pcap/b: {top_k: 5}\n"
		"  netdev: {rescan: 0}\n"
		"  netdev/x.y-1_z: {enabled: false}\n");
	const struct cfg_section *plain = config_collector(cfg, "netdev");
	const struct cfg_section *lan = config_collector(cfg, "netdev/lan");
	const struct cfg_section *b = config_collector(cfg, "pcap/b");
	const struct cfg_section *off = config_collector(cfg, "netdev/x.y-1_z");

	/* the known collectors first, then the instances in file order */
	ck_assert_uint_eq(cfg->ncollectors, NCOLLS + 3);
	ck_assert_str_eq(cfg->collectors[NCOLLS].name, "netdev/lan");
	ck_assert_str_eq(cfg->collectors[NCOLLS + 1].name, "pcap/b");
	ck_assert_ptr_nonnull(plain);
	ck_assert_ptr_null(plain->instance);
	ck_assert_str_eq(plain->component, "netdev");
	ck_assert(plain->rescan_s == 0);
	ck_assert_ptr_nonnull(lan);
	ck_assert_str_eq(lan->component, "netdev");
	ck_assert_str_eq(lan->instance, "lan");
	ck_assert(lan->enabled && lan->present);
	ck_assert(lan->interval_s == 2.0 && lan->timeout_s == 4.0);
	ck_assert(lan->rescan_s == 30.0);
	ck_assert_str_eq(am_cfg_string(lan->opts, "include", "-"), "^en");
	/* options are the instance's own: the plain section has none */
	ck_assert_str_eq(am_cfg_string(plain->opts, "include", "-"), "-");
	/* an instance of a needs_config collector is on: its section exists */
	ck_assert(b->enabled);
	ck_assert(!config_collector(cfg, "pcap")->enabled);
	ck_assert_int_eq(am_cfg_int(b->opts, "top_k", 0), 5);
	ck_assert(!off->enabled);
	ck_assert_str_eq(off->instance, "x.y-1_z");
	config_free(cfg);
}
END_TEST

/* "collectors:" and n instances netdev/iK, the last `extra` (a flow
 * mapping) on each. */
static char *many_instances(int n, const char *extra)
{
	size_t cap = 64 + (size_t)n * 64;
	char *y = malloc(cap);
	size_t len;

	ck_assert_ptr_nonnull(y);
	len = (size_t)snprintf(y, cap, "collectors:\n");
	for (int k = 1; k <= n; k++)
		len += (size_t)snprintf(y + len, cap - len, "  netdev/i%d: %s\n", k,
					k == n ? extra : "{}");
	return y;
}

START_TEST(test_instance_limit)
{
	struct agent_config *cfg = NULL;
	/* netdev and nvml are on by default: 62 instances make 64 */
	char *y = many_instances(CFG_MAX_INSTANCES - 2, "{}");
	char want[128];

	config_free(parse_ok(y));
	free(y);
	/* one more off is no instance to run */
	y = many_instances(CFG_MAX_INSTANCES - 1, "{enabled: false}");
	config_free(parse_ok(y));
	free(y);
	/* one more on is an error at its line (collectors: is line 1) */
	y = many_instances(CFG_MAX_INSTANCES - 1, "{}");
	ck_assert_int_eq(parse(y, &cfg), -EINVAL);
	ck_assert_ptr_null(cfg);
	snprintf(want, sizeof(want),
		 "t.yaml:%d: collectors.netdev/i%d: more than %d collector instances",
		 CFG_MAX_INSTANCES, CFG_MAX_INSTANCES - 1, CFG_MAX_INSTANCES);
	ck_assert_msg(!strncmp(err, want, strlen(want)), "%s", err);
	free(y);
}
END_TEST

/* A collector instance's copy of its options (the scheduler's) reads the
 * same after the config it came from is freed. */
START_TEST(test_opts_dup)
{
	struct agent_config *cfg = parse_ok(
		"collectors:\n"
		"  netdev: {include: \"^en\", physical_only: false, interval: 2s}\n"
		"  pcap: {interfaces: [eth0, eth1], top_k: 7}\n"
		"  nvml: {library: /opt/x/libnvidia-ml.so.1}\n");
	struct am_config *net = opts_dup(config_collector(cfg, "netdev")->opts);
	struct am_config *pc = opts_dup(config_collector(cfg, "pcap")->opts);
	struct am_config *nv = opts_dup(config_collector(cfg, "nvml")->opts);
	struct am_config *none = opts_dup(NULL);

	ck_assert_ptr_nonnull(net);
	ck_assert_ptr_nonnull(pc);
	ck_assert_ptr_nonnull(nv);
	ck_assert_ptr_nonnull(none);
	config_free(cfg); /* what main does after a reload */
	ck_assert_str_eq(am_cfg_string(net, "include", "x"), "^en");
	ck_assert(!am_cfg_bool(net, "physical_only", true));
	ck_assert(am_cfg_duration(net, "interval", 0) == 2.0);
	ck_assert_uint_eq(am_cfg_list_len(pc, "interfaces"), 2);
	ck_assert_str_eq(am_cfg_list_at(pc, "interfaces", 1), "eth1");
	ck_assert_int_eq(am_cfg_int(pc, "top_k", 0), 7);
	ck_assert_str_eq(am_cfg_string(nv, "library", "x"), "/opt/x/libnvidia-ml.so.1");
	ck_assert_str_eq(am_cfg_string(none, "library", "dflt"), "dflt");
	opts_free(net);
	opts_free(pc);
	opts_free(nv);
	opts_free(none);
}
END_TEST

START_TEST(test_rescan_values)
{
	struct agent_config *cfg = parse_ok(
		"collectors:\n  netdev: {rescan: 250ms}\n  nvml: {rescan: 2m}\n");

	ck_assert(config_collector(cfg, "netdev")->rescan_s == 0.25);
	ck_assert(config_collector(cfg, "nvml")->rescan_s == 120.0);
	ck_assert(config_collector(cfg, "pcap")->rescan_s == 30.0);
	ck_assert(config_exporter(cfg, "records")->rescan_s == 0);
	config_free(cfg);
}
END_TEST

START_TEST(test_plugin_keys)
{
	struct agent_config *cfg = parse_ok("log_level: info\n");

	/* the embedded default: no files, the configured directory */
	ck_assert_uint_eq(cfg->nplugins, 0);
	ck_assert_ptr_nonnull(cfg->plugin_dir);
	ck_assert_ptr_nonnull(strstr(cfg->plugin_dir, "accelmon/plugins"));
	config_free(cfg);
	cfg = parse_ok("plugins: [/a/x.so, rel/y.so]\nplugin_dir: \"\"\n");
	ck_assert_uint_eq(cfg->nplugins, 2);
	ck_assert_str_eq(cfg->plugins[0], "/a/x.so");
	ck_assert_str_eq(cfg->plugins[1], "rel/y.so");
	ck_assert_str_eq(cfg->plugin_dir, "");
	config_free(cfg);
	cfg = parse_ok("plugins: /one.so\nplugin_dir: /opt/p\n");
	ck_assert_uint_eq(cfg->nplugins, 1);
	ck_assert_str_eq(cfg->plugins[0], "/one.so");
	ck_assert_str_eq(cfg->plugin_dir, "/opt/p");
	config_free(cfg);
}
END_TEST

/* A stand-in loader: "loading" adds the collector `ext` to the table, so
 * the sections that follow may name it; a file named bad.so fails. */
static const struct am_option ext_opts[] = {
	{"depth", AM_OPT_INT, "", 1, 9},
	{NULL, 0, NULL, 0, 0},
};
static struct cfg_component hook_colls[NCOLLS + 1];
static int hook_calls;

static int fake_loader(void *arg, const struct agent_config *cfg,
		       const struct cfg_component **collectors, size_t *n,
		       char *e, size_t elen)
{
	(void)arg;
	hook_calls++;
	memcpy(hook_colls, colls, sizeof(colls));
	for (size_t i = 0; i < cfg->nplugins; i++) {
		if (strstr(cfg->plugins[i], "bad.so")) {
			snprintf(e, elen, "%s: collector ABI version 1, this agent needs 2",
				 cfg->plugins[i]);
			return -EPROTO;
		}
	}
	*collectors = hook_colls;
	*n = NCOLLS;
	if (cfg->nplugins) {
		hook_colls[NCOLLS] = (struct cfg_component){"ext", ext_opts, false};
		*n = NCOLLS + 1;
	}
	return 0;
}

START_TEST(test_plugin_hook)
{
	struct cfg_schema sc = {colls, exps, NCOLLS, NEXPS, fake_loader, NULL};
	struct agent_config *cfg = NULL;
	/* `plugins` after `collectors` in the file: still read first */
	const char *y = "collectors:\n  ext/two: {depth: 3}\n  ext: {}\n"
			"plugins: [/p/ext.so]\n";
	int rc;

	hook_calls = 0;
	rc = config_parse_schema(y, strlen(y), "t.yaml", &sc, &cfg, err,
				 sizeof(err));
	ck_assert_msg(rc == 0, "%s", err);
	ck_assert_int_eq(hook_calls, 1);
	ck_assert_ptr_nonnull(config_collector(cfg, "ext"));
	ck_assert(config_collector(cfg, "ext")->present);
	ck_assert_int_eq(am_cfg_int(config_collector(cfg, "ext/two")->opts,
				    "depth", 0), 3);
	ck_assert_str_eq(cfg->collectors[NCOLLS].name, "ext");
	config_free(cfg);

	/* the plugin's options are checked like a built-in's */
	y = "plugins: [/p/ext.so]\ncollectors:\n  ext: {depth: 12}\n";
	rc = config_parse_schema(y, strlen(y), "t.yaml", &sc, &cfg, err,
				 sizeof(err));
	ck_assert_int_eq(rc, -EINVAL);
	ck_assert_str_eq(err, "t.yaml:3: collectors.ext.depth: 12 is out of range (1..9)");

	/* without the plugin, the name is unknown */
	y = "collectors:\n  ext: {}\n";
	rc = config_parse_schema(y, strlen(y), "t.yaml", &sc, &cfg, err,
				 sizeof(err));
	ck_assert_int_eq(rc, -EINVAL);
	ck_assert_str_eq(err, "t.yaml:2: collectors.ext: unknown collector "
			      "(known: netdev, nvml, pcap)");

	/* the loader's message is the error, as it wrote it */
	y = "plugins: [/p/bad.so]\n";
	rc = config_parse_schema(y, strlen(y), "t.yaml", &sc, &cfg, err,
				 sizeof(err));
	ck_assert_int_eq(rc, -EPROTO);
	ck_assert_ptr_null(cfg);
	ck_assert_str_eq(err, "/p/bad.so: collector ABI version 1, this agent needs 2");

	/* the embedded default alone calls the loader too (plugin_dir) */
	hook_calls = 0;
	rc = config_parse_schema(config_embedded_default,
				 strlen(config_embedded_default), "<embedded default>",
				 &sc, &cfg, err, sizeof(err));
	ck_assert_msg(rc == 0, "%s", err);
	ck_assert_int_eq(hook_calls, 1);
	config_free(cfg);
}
END_TEST

/* ---- AM_OPT_TREE and the collectors' check hook ---- */

static const struct am_option tree_opts[] = {
	{"profiles", AM_OPT_TREE, "user profiles"},
	{"endpoints", AM_OPT_TREE, "a list of maps"},
	{NULL, 0, NULL},
};

/* Refuses a profile whose format is not csv, naming the node's path. */
static int tree_check(const struct am_config *cfg, char *key, size_t keylen,
		      char *why, size_t whylen)
{
	const struct am_node *t = am_cfg_tree(cfg, "profiles");
	const struct am_node *eps = am_cfg_tree(cfg, "endpoints");

	for (size_t i = 0; i < am_node_len(t); i++) {
		const char *f = am_node_str(am_node_get(am_node_at(t, i), "format"));

		if (f && strcmp(f, "csv")) {
			snprintf(key, keylen, "profiles.%s.format", am_node_key(t, i));
			snprintf(why, whylen, "unknown format %s", f);
			return -EINVAL;
		}
	}
	for (size_t i = 0; i < am_node_len(eps); i++)
		if (!am_node_get(am_node_at(eps, i), "url")) {
			snprintf(key, keylen, "endpoints[%zu].url", i);
			snprintf(why, whylen, "missing");
			return -EINVAL;
		}
	return 0;
}

static const struct cfg_component tree_colls[] = {
	{"smi", tree_opts, false, tree_check},
};

static int tree_parse(const char *yaml, struct agent_config **out)
{
	return config_parse(yaml, strlen(yaml), "t.yaml", tree_colls, 1, exps,
			    NEXPS, out, err, sizeof(err));
}

START_TEST(test_tree_option)
{
	static const char yaml[] =
		"collectors:\n"
		"  smi:\n"
		"    profiles:\n"
		"      mychip:\n"
		"        command: [mychip-smi, --csv]\n"
		"        format: csv\n"
		"        fields: {util: {family: accel_utilization_ratio, scale: 0.01}}\n"
		"      other: {format: csv, empty: ~}\n"
		"    endpoints:\n"
		"      - url: http://a\n"
		"      - {url: http://b, interval: 5s}\n";
	struct agent_config *cfg = NULL, *cfg2 = NULL;
	const struct am_node *t, *m, *cmd, *eps;
	struct am_config *dup;
	int rc = tree_parse(yaml, &cfg);

	ck_assert_msg(rc == 0, "%s", err);
	t = am_cfg_tree(config_collector(cfg, "smi")->opts, "profiles");
	ck_assert_int_eq(am_node_kind(t), AM_NODE_MAP);
	ck_assert_uint_eq(am_node_len(t), 2);
	ck_assert_str_eq(am_node_key(t, 0), "mychip");
	ck_assert_str_eq(am_node_key(t, 1), "other");
	m = am_node_get(t, "mychip");
	ck_assert_uint_eq(am_node_line(m), 5);
	cmd = am_node_get(m, "command");
	ck_assert_int_eq(am_node_kind(cmd), AM_NODE_LIST);
	ck_assert_uint_eq(am_node_len(cmd), 2);
	ck_assert_str_eq(am_node_str(am_node_at(cmd, 1)), "--csv");
	ck_assert_ptr_null(am_node_str(cmd));
	ck_assert_ptr_null(am_node_key(cmd, 0));
	ck_assert_str_eq(am_node_str(am_node_get(am_node_get(am_node_get(m, "fields"),
							      "util"),
						 "scale")),
			 "0.01");
	/* A YAML null is the empty string; NULL walks answer NULL/0. */
	ck_assert_str_eq(am_node_str(am_node_get(am_node_get(t, "other"), "empty")), "");
	ck_assert_ptr_null(am_node_get(am_node_get(t, "nope"), "format"));
	ck_assert_uint_eq(am_node_len(NULL), 0);
	ck_assert_int_eq(am_node_kind(NULL), 0);
	eps = am_cfg_tree(config_collector(cfg, "smi")->opts, "endpoints");
	ck_assert_uint_eq(am_node_len(eps), 2);
	ck_assert_str_eq(am_node_str(am_node_get(am_node_at(eps, 1), "interval")), "5s");
	ck_assert_uint_eq(am_node_line(am_node_at(eps, 1)), 11);
	/* Other getters see nothing of another type. */
	ck_assert_ptr_null(am_cfg_string(config_collector(cfg, "smi")->opts,
					 "profiles", NULL));
	ck_assert_ptr_null(am_cfg_tree(config_collector(cfg, "smi")->opts, "nope"));

	/* A copy is deep and equal; a changed text is not. */
	dup = opts_dup(config_collector(cfg, "smi")->opts);
	ck_assert_ptr_nonnull(dup);
	ck_assert(am_node_equal(am_cfg_tree(dup, "profiles"), t));
	ck_assert(am_cfg_tree(dup, "profiles") != t);
	ck_assert(!am_node_equal(am_cfg_tree(dup, "profiles"), eps));
	opts_free(dup);
	rc = tree_parse("collectors:\n  smi:\n    profiles:\n      mychip: {format: csv}\n",
			&cfg2);
	ck_assert_msg(rc == 0, "%s", err);
	ck_assert(!am_node_equal(am_cfg_tree(config_collector(cfg2, "smi")->opts,
					     "profiles"),
				 t));
	config_free(cfg2);
	config_free(cfg);
}
END_TEST

START_TEST(test_tree_errors)
{
	struct agent_config *cfg = NULL;
	char deep[4096];
	size_t o;

	/* The check hook's path is reported at that node's line. */
	ck_assert_int_eq(tree_parse("collectors:\n"
				    "  smi:\n"
				    "    profiles:\n"
				    "      a: {format: csv}\n"
				    "      b:\n"
				    "        format: xml\n",
				    &cfg),
			 -EINVAL);
	ck_assert_str_eq(err, "t.yaml:6: collectors.smi.profiles.b.format: "
			      "unknown format xml");
	/* A key the file left out: the line of the closest node there is. */
	ck_assert_int_eq(tree_parse("collectors:\n"
				    "  smi:\n"
				    "    endpoints:\n"
				    "      - url: x\n"
				    "      - interval: 5s\n",
				    &cfg),
			 -EINVAL);
	ck_assert_str_eq(err, "t.yaml:5: collectors.smi.endpoints[1].url: missing");
	/* A check runs for every instance, named as in the file. */
	ck_assert_int_eq(tree_parse("collectors:\n"
				    "  smi/two:\n"
				    "    profiles: {z: {format: json}}\n",
				    &cfg),
			 -EINVAL);
	ck_assert_str_eq(err, "t.yaml:3: collectors.smi/two.profiles.z.format: "
			      "unknown format json");
	ck_assert_int_eq(tree_parse("collectors:\n"
				    "  smi:\n"
				    "    profiles:\n"
				    "      a: 1\n"
				    "      a: 2\n",
				    &cfg),
			 -EINVAL);
	ck_assert_str_eq(err, "t.yaml:5: collectors.smi.profiles.a: duplicate key");
	ck_assert_int_eq(tree_parse("collectors:\n  smi:\n    profiles: {[1]: 2}\n",
				    &cfg),
			 -EINVAL);
	ck_assert_msg(strstr(err, "t.yaml:3: collectors.smi.profiles: keys must be names"),
		      "%s", err);
	/* Nesting is bounded. */
	o = (size_t)snprintf(deep, sizeof(deep), "collectors:\n  smi:\n    profiles: ");
	for (int i = 0; i < 40; i++)
		deep[o++] = '[';
	for (int i = 0; i < 40; i++)
		deep[o++] = ']';
	deep[o++] = '\n';
	deep[o] = '\0';
	ck_assert_int_eq(tree_parse(deep, &cfg), -EINVAL);
	ck_assert_msg(strstr(err, "nested deeper than 32 levels"), "%s", err);
	/* So is the size an alias bomb expands to. */
	ck_assert_int_eq(tree_parse("collectors:\n  smi:\n    profiles:\n"
				    "      a: &a [x, x, x, x, x, x, x, x, x, x]\n"
				    "      b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
				    "      c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
				    "      d: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n",
				    &cfg),
			 -EINVAL);
	ck_assert_msg(strstr(err, "more than 10000 values in one option"), "%s", err);
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, test_embedded_default);
	tcase_add_test(tc, test_full_file);
	tcase_add_test(tc, test_getter_defaults);
	tcase_add_loop_test(tc, test_enabled, 0, NELEM(enable_cases));
	tcase_add_test(tc, test_strlist_single);
	tcase_add_loop_test(tc, test_good_regex, 0, NELEM(good_regex));
	tcase_add_test(tc, test_values);
	tcase_add_loop_test(tc, test_errors, 0, NELEM(err_cases));
	tcase_add_test(tc, test_error_small_buffer);
	tcase_add_test(tc, test_load_file);
	tcase_add_test(tc, test_load_file_too_large);
	tcase_add_loop_test(tc, test_durations, 0, NELEM(dur_cases));
	tcase_add_test(tc, test_duration_null);
	tcase_add_test(tc, test_instances);
	tcase_add_test(tc, test_instance_limit);
	tcase_add_test(tc, test_opts_dup);
	tcase_add_test(tc, test_rescan_values);
	tcase_add_test(tc, test_plugin_keys);
	tcase_add_test(tc, test_plugin_hook);
	tcase_add_test(tc, test_tree_option);
	tcase_add_test(tc, test_tree_errors);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(config_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
