/* sim collector: simulated accelerators with known, deterministic behaviour,
 * for demos, dashboards and end-to-end tests (records, audit, watchdog).
 * Device i is busy a fixed fraction of every poll: (i % 5) / 4, so sim0 idles
 * and sim4 is always busy; power follows utilization. Off until configured.
 * hang_after_polls / hang_for make one poll block, to exercise the watchdog.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "accelmon/collector.h"
#include "accelmon/schema.h"

#define SIM_MAX 1024

struct sim_dev {
	am_series_t info, up, util, busy, power, energy, mem_used, mem_total, temp;
};

struct sim {
	long long ndev, hang_after, polls;
	double hang_for;
	struct sim_dev dev[];
};

static const struct am_option sim_options[] = {
	{"devices", AM_OPT_INT, "number of simulated accelerators (default 8)", 1, SIM_MAX},
	{"hang_after_polls", AM_OPT_INT, "block in poll number N+1 (0: never)", 0, 1e9},
	{"hang_for", AM_OPT_DURATION, "how long that poll blocks (default 1h)"},
	{NULL, 0, NULL},
};

static double sim_util(long long i)
{
	return (double)(i % 5) / 4.0;
}

static int sim_init(struct am_ctx *ctx, const struct am_config *cfg, void **state)
{
	long long n = am_cfg_int(cfg, "devices", 8);
	struct sim *s;
	am_family_t f_info, f_up, f_util, f_busy, f_power, f_energy, f_used, f_total,
		f_temp;

	if (n < 1 || n > SIM_MAX) {
		am_found(ctx, "devices must be 1..%d, got %lld", SIM_MAX, n);
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s) + (size_t)n * sizeof(s->dev[0]));
	if (!s)
		return -ENOMEM;
	s->ndev = n;
	s->hang_after = am_cfg_int(cfg, "hang_after_polls", 0);
	s->hang_for = am_cfg_duration(cfg, "hang_for", 3600);
	f_info = am_std_family(ctx, AM_STD_ACCEL_INFO, NULL);
	f_up = am_std_family(ctx, AM_STD_ACCEL_UP, NULL);
	f_util = am_std_family(ctx, AM_STD_UTILIZATION, NULL);
	f_busy = am_std_family(ctx, AM_STD_BUSY_SECONDS, NULL);
	f_power = am_std_family(ctx, AM_STD_POWER, NULL);
	/* watts integrated into joules by the core (AM_INTEGRAL) */
	f_energy = am_std_family(ctx, AM_STD_ENERGY, &(struct am_std_use){.kind = AM_INTEGRAL});
	f_used = am_std_family(ctx, AM_STD_MEMORY_USED, NULL);
	f_total = am_std_family(ctx, AM_STD_MEMORY_TOTAL, NULL);
	f_temp = am_std_family(ctx, AM_STD_TEMPERATURE, NULL);
	for (long long i = 0; i < n; i++) {
		char dev[32], uuid[64], bus[32], numa[8];
		const char *id[2] = {dev, uuid};
		struct sim_dev *d = &s->dev[i];

		snprintf(dev, sizeof(dev), "sim%lld", i);
		snprintf(uuid, sizeof(uuid), "SIM-00000000-0000-0000-0000-%012lld", i);
		snprintf(bus, sizeof(bus), "0000:%02llx:00.0", (i + 0x10) & 0xff);
		snprintf(numa, sizeof(numa), "%lld", i * 2 / n);
		/* device, uuid, vendor, model, serial, pci_bus_id, numa_node,
		 * driver_version, firmware_version */
		d->info = am_series(ctx, f_info,
				    (const char *const[]){dev, uuid, "sim", "SIM-1", "",
							  bus, numa, "0", ""});
		d->up = am_series(ctx, f_up, id);
		d->util = am_series(ctx, f_util, id);
		d->busy = am_series(ctx, f_busy, id);
		d->power = am_series(ctx, f_power, id);
		d->energy = am_series(ctx, f_energy, id);
		d->mem_used = am_series(ctx, f_used, id);
		d->mem_total = am_series(ctx, f_total, id);
		d->temp = am_series(ctx, f_temp, (const char *const[]){dev, uuid, "gpu"});
	}
	am_found(ctx, "%lld simulated accelerator%s", n, n == 1 ? "" : "s");
	*state = s;
	return 0;
}

static int sim_poll(struct am_ctx *ctx, void *state)
{
	struct sim *s = state;

	if (s->hang_after && ++s->polls == s->hang_after + 1) {
		struct timespec ts = {(time_t)s->hang_for,
				      (long)((s->hang_for - (double)(time_t)s->hang_for) * 1e9)};

		/* Like a driver call on a GPU that fell off the bus. */
		nanosleep(&ts, NULL);
	}
	for (long long i = 0; i < s->ndev; i++) {
		struct sim_dev *d = &s->dev[i];
		double u = sim_util(i), w = 100 + 300 * u;

		am_emit(ctx, d->info, 1);
		am_emit(ctx, d->up, 1);
		am_emit(ctx, d->util, u);
		am_emit(ctx, d->busy, u);
		am_emit(ctx, d->power, w);
		am_emit(ctx, d->energy, w);
		am_emit(ctx, d->mem_used, 80e9 * u);
		am_emit(ctx, d->mem_total, 80e9);
		am_emit(ctx, d->temp, 30 + 50 * u);
	}
	return 0;
}

static void sim_fini(struct am_ctx *ctx, void *state)
{
	free(state);
}

const struct am_collector sim_collector = {
	.abi_version = ACCELMON_COLLECTOR_ABI_VERSION,
	.size = sizeof(struct am_collector),
	.flags = AM_COLLECTOR_NEEDS_CONFIG,
	.name = "sim",
	.description = "simulated accelerators with known behaviour",
	.options = sim_options,
	.once_polls = 2,
	.init = sim_init,
	.poll = sim_poll,
	.fini = sim_fini,
};
