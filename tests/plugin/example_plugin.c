/* The smallest real accelmon plugin, built out of tree with only
 * `pkg-config --cflags --libs accelmon` (tests/integration/plugin_oot.sh):
 * the load averages and runnable tasks of <procfs>/loadavg. Each instance
 * (`example/NAME` in the config) reads its own `file` and exports its own
 * `windows`, labelled with its instance name.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <accelmon/collector.h>

static const char *const ex_windows[] = {"1m", "5m", "15m"};

struct ex {
	char path[512];
	am_series_t load[3]; /* AM_SERIES_INVALID: window not exported */
	am_series_t runnable;
};

static const struct am_option ex_options[] = {
    {"file", AM_OPT_STRING, "file under the procfs root (default loadavg)", 0, 0},
    {"windows", AM_OPT_STRLIST, "averages to export: 1m, 5m, 15m (default all)", 0, 0},
    {NULL, 0, NULL, 0, 0},
};

/* The three averages and the runnable count: "0.50 1.25 2.75 3/123 4567". */
static int ex_read(const struct ex *ex, double load[3], double *runnable)
{
	FILE *f = fopen(ex->path, "re");
	unsigned long r, total;
	int n;

	if (!f)
		return -errno;
	n = fscanf(f, "%lf %lf %lf %lu/%lu", &load[0], &load[1], &load[2], &r, &total);
	fclose(f);
	if (n != 5)
		return -EINVAL;
	*runnable = (double)r;
	return 0;
}

static int ex_init(struct am_ctx *ctx, const struct am_config *cfg, void **state)
{
	static const char *const lw[] = {"source", "window", NULL};
	size_t nwin = am_cfg_list_len(cfg, "windows");
	const char *name = am_instance_name(ctx);
	struct ex *ex = calloc(1, sizeof(*ex));
	am_family_t f_load, f_run;
	double load[3], r;
	int rc;

	if (!ex)
		return -ENOMEM;
	for (size_t i = 0; i < nwin; i++) {
		const char *w = am_cfg_list_at(cfg, "windows", i);

		if (strcmp(w, "1m") && strcmp(w, "5m") && strcmp(w, "15m")) {
			am_found(ctx, "windows: unknown window \"%s\" (1m, 5m, 15m)", w);
			free(ex);
			return -EINVAL;
		}
	}
	snprintf(ex->path, sizeof(ex->path), "%s/%s", am_procfs(ctx),
		 am_cfg_string(cfg, "file", "loadavg"));
	rc = ex_read(ex, load, &r);
	if (rc) {
		am_found(ctx, "cannot read %s: %s", ex->path, strerror(-rc));
		free(ex);
		return -ENODEV;
	}
	f_load = am_family(
	    ctx, &(struct am_family_def){.name = "example_load_average",
					 .help = "System load average over the window.",
					 .kind = AM_GAUGE,
					 .labels = {lw[0], lw[1]}});
	f_run = am_family(
	    ctx, &(struct am_family_def){.name = "example_runnable_tasks",
					 .help = "Tasks runnable at the last poll.",
					 .kind = AM_GAUGE,
					 .labels = {lw[0]}});
	if (f_load < 0 || f_run < 0) {
		free(ex);
		return -EINVAL;
	}
	for (size_t w = 0; w < 3; w++) {
		const char *v[] = {name, ex_windows[w], NULL};
		int want = nwin == 0;

		for (size_t i = 0; i < nwin; i++)
			want |= !strcmp(am_cfg_list_at(cfg, "windows", i), ex_windows[w]);
		ex->load[w] = want ? am_series(ctx, f_load, v) : AM_SERIES_INVALID;
	}
	ex->runnable = am_series(ctx, f_run, (const char *const[]){name, NULL});
	am_found(ctx, "reading %s", ex->path);
	*state = ex;
	return 0;
}

static int ex_poll(struct am_ctx *ctx, void *state)
{
	struct ex *ex = state;
	double load[3], r;
	int rc = ex_read(ex, load, &r);

	if (rc)
		return rc;
	for (size_t w = 0; w < 3; w++)
		if (ex->load[w] != AM_SERIES_INVALID)
			am_emit(ctx, ex->load[w], load[w]);
	am_emit(ctx, ex->runnable, r);
	return 0;
}

static void ex_fini(struct am_ctx *ctx, void *state)
{
	(void)ctx;
	free(state);
}

const struct am_collector accelmon_collector = {
    .abi_version = ACCELMON_COLLECTOR_ABI_VERSION,
    .size = sizeof(struct am_collector),
    .name = "example",
    .description = "load averages from <procfs>/loadavg (example plugin)",
    .options = ex_options,
    .once_polls = 1,
    .init = ex_init,
    .poll = ex_poll,
    .fini = ex_fini,
};
