/* Test helper: writes record files with the real encoder, for the audit's
 * known-truth tests, the corrupt-file tests, the size measurement and the
 * benchmark. recgen_node() writes a realistic node (GPUs with NVLink, HCA
 * ports, agent series) so sizes and timings are honest.
 */
#ifndef ACCELMON_TESTS_REC_GEN_H
#define ACCELMON_TESTS_REC_GEN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "exporters/records_format/records_codec.h"

struct recgen {
	FILE *f;
	struct rec_encoder enc;
	uint32_t nseries;
	uint64_t bytes;
};

/* A file of a new agent run (its own run id). */
int recgen_open(struct recgen *g, const char *path, const char *host, int64_t start_ms,
		uint32_t interval_ms, uint64_t file_seq);
/* A file of run run_id: files of one run continue each other's counters. */
int recgen_open_run(struct recgen *g, const char *path, const char *host,
		    int64_t start_ms, uint32_t interval_ms, uint64_t file_seq,
		    uint64_t run_id);
/* Define a series: labels as "name=value" strings, NULL-terminated.
 * Returns its ref (refs are dense from 0). */
uint32_t recgen_series(struct recgen *g, const char *family, Amrec__SeriesType type,
		       const char *unit, const char *const *labels);
/* The same for a counter read in units of step (1024: KiB): its values are
 * stored as whole multiples of it, as the records exporter does. */
uint32_t recgen_series_step(struct recgen *g, const char *family, Amrec__SeriesType type,
			    const char *unit, const char *const *labels, double step);
int recgen_batch(struct recgen *g, int64_t time_ms, const uint32_t *refs,
		 const double *values, size_t n);
/* Returns bytes written, or a negative errno. */
long long recgen_close(struct recgen *g);

struct recgen_node_opts {
	const char *path, *host;
	int64_t start_ms;
	uint32_t interval_ms;
	size_t nbatches;
	unsigned ngpus, nhcas, nvlinks;
	unsigned seed;
};

/* A realistic node: returns bytes written (or a negative errno) and adds
 * the number of samples written (series x batches) to *samples. */
long long recgen_node(const struct recgen_node_opts *o, uint64_t *samples);

#endif
