/* Benchmark: registry and aggregator memory under job churn (issue 17).
 * Each cycle starts a job (four accel_job_* series interned, one sample
 * each, a render) and ends it (the series retired). Prints series count and
 * allocated heap bytes (mallinfo2) every CYCLES/10 cycles: flat figures
 * mean retired series are reclaimed, growing ones that they are not.
 * Usage: bench_series_churn [CYCLES] (default 100000).
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>

#include "agg.h"
#include "clock.h"
#include "ring.h"
#include "series.h"
#include "snapshot.h"

static const char *const fams[] = {"accel_job_busy_seconds_total",
				   "accel_job_energy_joules_total",
				   "accel_job_memory_used_bytes", "accel_job_info"};
static const enum am_kind kinds[] = {AM_INTEGRAL, AM_INTEGRAL, AM_GAUGE, AM_INFO};

int main(int argc, char **argv)
{
	long cycles = argc > 1 ? atol(argv[1]) : 100000;
	int view[4];
	struct agg *a = agg_new(NULL);
	size_t base;

	if (!a || cycles <= 0)
		return 2;
	for (int f = 0; f < 4; f++) {
		struct am_family_def d = {.name = fams[f], .help = "h", .kind = kinds[f],
					  .labels = {"device", "uuid", "job", "kind"}};
		if ((view[f] = series_family_register(&d, 0)) < 0)
			return 1;
	}
	base = mallinfo2().uordblks;
	printf("%10s %10s %14s %12s\n", "cycles", "series", "heap_bytes",
	       "bytes/cycle");
	for (long c = 1; c <= cycles; c++) {
		char job[24];
		uint32_t id[4];
		snprintf(job, sizeof(job), "%ld", c);
		const char *v[] = {"nvidia0", "GPU-1", job, "slurm"};
		for (int f = 0; f < 4; f++) {
			id[f] = series_intern(view[f], v, 0);
			if (id[f] == AM_SERIES_INVALID)
				return 1;
			struct am_sample s = {id[f], 0, c * NS_PER_S, 1};
			agg_ingest(a, &s, 1);
		}
		snapshot_release(agg_render(a, c * NS_PER_S));
		for (int f = 0; f < 4; f++) {
			struct am_sample r = {id[f], SAMPLE_RETIRE, c * NS_PER_S, 0};
			agg_ingest(a, &r, 1);
		}
		if (c % (cycles / 10 ? cycles / 10 : 1) == 0) {
			size_t heap = mallinfo2().uordblks - base;
			printf("%10ld %10u %14zu %12.1f\n", c, series_count(), heap,
			       (double)heap / (double)c);
		}
	}
	agg_free(a);
	series_reset();
	return 0;
}
