/* libFuzzer target for the YAML config parser (agent/config.c): arbitrary
 * bytes through config_parse against a small component table. It must never
 * crash or leak, and a failure must leave one line "SOURCE:LINE: ..." with
 * no config. Build: clang -fsanitize=fuzzer,address,undefined (see
 * tests/fuzz/README or the fuzz make target), not part of `make`.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../agent/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct am_option fz_netdev[] = {
	{"include", AM_OPT_REGEX, ""},
	{"exclude", AM_OPT_REGEX, ""},
	{"physical_only", AM_OPT_BOOL, ""},
	{NULL, 0, NULL},
};
static const struct am_option fz_pcap[] = {
	{"interfaces", AM_OPT_STRLIST, ""},
	{"top_k", AM_OPT_INT, ""},
	{"idle", AM_OPT_DURATION, ""},
	{"file", AM_OPT_STRING, ""},
	{NULL, 0, NULL},
};
static const struct cfg_component fz_colls[] = {
	{"netdev", fz_netdev, false},
	{"pcap", fz_pcap, true},
};
static const struct cfg_component fz_exps[] = {
	{"records", NULL, true},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct agent_config *cfg = NULL;
	char err[256];
	int rc;

	rc = config_parse((const char *)data, size, "fuzz.yaml", fz_colls, 2,
			  fz_exps, 1, &cfg, err, sizeof(err));
	if (rc == 0) {
		const struct cfg_section *s = config_collector(cfg, "pcap");

		for (size_t i = 0; i < am_cfg_list_len(s->opts, "interfaces");
		     i++)
			if (!am_cfg_list_at(s->opts, "interfaces", i))
				abort();
		if (s->interval_s < 0.1 || s->timeout_s <= 0)
			abort();
		config_free(cfg);
	} else if (cfg || strchr(err, '\n') || strncmp(err, "fuzz.yaml", 9)) {
		abort();
	}
	return 0;
}
