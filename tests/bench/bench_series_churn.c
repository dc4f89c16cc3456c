/* Benchmark: registry and aggregator memory under job churn (issue 17).
 * Each cycle starts a job (four accel_job_* series interned, one sample
 * each, a render) and ends it: the series retired (am_series_retire, the
 * ids kept) or released (am_series_release, as agent/sdk/attrib.c does).
 * Prints ids handed out, series entries held and allocated heap bytes
 * (mallinfo2: arena and mmapped blocks) every CYCLES/10 cycles for each way, then the ratio: flat
 * figures mean ended series are reclaimed, growing ones that they are not.
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

static size_t heap_now(void)
{
	struct mallinfo2 m = mallinfo2();

	/* Large arrays (the aggregator's per-id state) are mmapped blocks. */
	return m.uordblks + m.hblkhd;
}

static int run(long cycles, int release, size_t *total)
{
	int view[4];
	struct agg *a = agg_new(NULL);
	size_t base, heap = 0;

	if (!a)
		return 2;
	for (int f = 0; f < 4; f++) {
		struct am_family_def d = {.name = fams[f], .help = "h", .kind = kinds[f],
					  .labels = {"device", "uuid", "job", "kind"}};
		if ((view[f] = series_family_register(&d, 0)) < 0)
			return 1;
	}
	base = heap_now();
	printf("%s:\n%10s %10s %10s %14s %12s\n",
	       release ? "am_series_release" : "am_series_retire", "cycles", "ids",
	       "entries", "heap_bytes", "bytes/cycle");
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

			/* What am_series_release does: out of the registry's
			 * hash, then the release through the ring. */
			if (release) {
				if (series_release(id[f], 0) < 0)
					return 1;
				r.flags |= SAMPLE_RELEASE;
			}
			agg_ingest(a, &r, 1);
		}
		if (c % (cycles / 10 ? cycles / 10 : 1) == 0) {
			heap = heap_now() - base;
			printf("%10ld %10u %10u %14zu %12.1f\n", c, series_count(),
			       series_live_count(), heap, (double)heap / (double)c);
		}
	}
	agg_free(a);
	series_reset();
	*total = heap;
	return 0;
}

int main(int argc, char **argv)
{
	long cycles = argc > 1 ? atol(argv[1]) : 100000;
	size_t kept = 0, freed = 0;
	int rc;

	if (cycles <= 0)
		return 2;
	if ((rc = run(cycles, 0, &kept)) != 0 || (rc = run(cycles, 1, &freed)) != 0)
		return rc;
	printf("heap after %ld cycles: retire %zu bytes, release %zu bytes "
	       "(%.1fx less)\n",
	       cycles, kept, freed, freed ? (double)kept / (double)freed : 0.0);
	return 0;
}
