/* Built-in collectors and exporters, in the order they start and render.
 * A new collector adds one extern line and one table entry here (or is
 * built as a .so plugin: agent/plugins.c puts both in one runtime list). */
#include <string.h>

#include "builtin.h"

extern const struct am_collector netdev_collector;
extern const struct am_collector nvml_collector;
extern const struct am_collector sim_collector;
extern const struct am_collector amdgpu_collector;
extern const struct am_collector drm_collector;
extern const struct am_collector infiniband_collector;
extern const struct am_collector ascend_collector;
#ifdef HAVE_PCAP
extern const struct am_collector pcap_collector;
/* collectors/pcap.c: its capture handles, opened on main */
int pcap_preopen(size_t n, const char *const *names,
		 const struct am_config *const *cfgs, const char *sysfs,
		 bool raw_dropped, bool *keep_raw, char *err, size_t errlen);
void pcap_preopen_done(bool keep);
#endif
extern const struct am_collector smi_collector;

const struct am_collector *const builtin_collectors[] = {
	&netdev_collector,
	&sim_collector,
	&amdgpu_collector,
	&drm_collector,
	&infiniband_collector,
	&nvml_collector,
	&ascend_collector,
#ifdef HAVE_PCAP
	&pcap_collector,
#endif
	&smi_collector,
};
const size_t builtin_ncollectors =
	sizeof(builtin_collectors) / sizeof(builtin_collectors[0]);

extern const struct am_exporter prometheus_exporter;
extern const struct am_exporter records_exporter;
extern const struct am_exporter remote_write_exporter;

const struct am_exporter *const builtin_exporters[] = {
	&prometheus_exporter,
	&records_exporter,
	&remote_write_exporter,
};
const size_t builtin_nexporters =
	sizeof(builtin_exporters) / sizeof(builtin_exporters[0]);

const struct cfg_component *builtin_exporter_components(void)
{
	static struct cfg_component comp[sizeof(builtin_exporters) /
					 sizeof(builtin_exporters[0])];

	/* Main thread, before any other starts (config parsing). */
	for (size_t i = 0; i < builtin_nexporters; i++) {
		comp[i].name = builtin_exporters[i]->name;
		comp[i].options = builtin_exporters[i]->options;
		comp[i].needs_config =
			builtin_exporters[i]->flags & AM_COLLECTOR_NEEDS_CONFIG;
		comp[i].check = builtin_exporters[i]->check;
	}
	return comp;
}

int builtin_preopen(const struct agent_config *cfg, const char *sysfs,
		    bool raw_dropped, bool *keep_raw, char *err, size_t errlen)
{
#ifdef HAVE_PCAP
	const struct am_config *cfgs[64];
	const char *names[64];
	size_t n = 0;

	for (size_t i = 0; i < cfg->ncollectors && n < 64; i++)
		if (cfg->collectors[i].enabled &&
		    !strcmp(cfg->collectors[i].component, "pcap")) {
			names[n] = cfg->collectors[i].name;
			cfgs[n++] = cfg->collectors[i].opts;
		}
	return pcap_preopen(n, names, cfgs, sysfs, raw_dropped, keep_raw, err,
			    errlen);
#else
	(void)cfg, (void)sysfs, (void)raw_dropped, (void)err, (void)errlen;
	*keep_raw = false;
	return 0;
#endif
}

void builtin_preopen_done(bool keep)
{
#ifdef HAVE_PCAP
	pcap_preopen_done(keep);
#else
	(void)keep;
#endif
}
