/* Built-in collectors and exporters, in the order they start and render.
 * A new collector adds one extern line and one table entry here. */
#include <pthread.h>

#include "builtin.h"

extern const struct am_collector netdev_collector;
extern const struct am_collector nvml_collector;
extern const struct am_collector sim_collector;
extern const struct am_collector amdgpu_collector;
extern const struct am_collector infiniband_collector;

const struct am_collector *const builtin_collectors[] = {
	&netdev_collector,
	&sim_collector,
	&amdgpu_collector,
	&infiniband_collector,
	&nvml_collector,
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

static struct cfg_component coll_comp[sizeof(builtin_collectors) /
				      sizeof(builtin_collectors[0])];
static struct cfg_component exp_comp[sizeof(builtin_exporters) /
				     sizeof(builtin_exporters[0])];
static pthread_once_t comp_once = PTHREAD_ONCE_INIT;

static void comp_build(void)
{
	for (size_t i = 0; i < builtin_ncollectors; i++) {
		coll_comp[i].name = builtin_collectors[i]->name;
		coll_comp[i].options = builtin_collectors[i]->options;
		coll_comp[i].needs_config =
			builtin_collectors[i]->flags & AM_COLLECTOR_NEEDS_CONFIG;
	}
	for (size_t i = 0; i < builtin_nexporters; i++) {
		exp_comp[i].name = builtin_exporters[i]->name;
		exp_comp[i].options = builtin_exporters[i]->options;
		exp_comp[i].needs_config =
			builtin_exporters[i]->flags & AM_COLLECTOR_NEEDS_CONFIG;
	}
}

const struct cfg_component *builtin_collector_components(void)
{
	pthread_once(&comp_once, comp_build);
	return coll_comp;
}

const struct cfg_component *builtin_exporter_components(void)
{
	pthread_once(&comp_once, comp_build);
	return exp_comp;
}
