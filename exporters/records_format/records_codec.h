/* Record file codec: turns series definitions and value sets into framed
 * protobuf records (encoder, used by the records exporter and the test
 * generators) and back (decoder, used by accelmon-audit). Delta batches only
 * carry what changed since the previous batch; a keyframe every N batches
 * bounds what a damaged frame can cost a reader.
 */
#ifndef ACCELMON_RECORDS_CODEC_H
#define ACCELMON_RECORDS_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "exporters/records_format/records.pb-c.h"

#define REC_HEADER_MAGIC 0x43524d41u /* "AMRC" */
#define REC_FORMAT_VERSION 1u

struct rec_series_def {
	uint32_t ref;
	const char *family;
	unsigned nlabels;
	const char *const *names;
	const char *const *values;
	Amrec__SeriesType type;
	const char *unit;  /* NULL: none */
	double resolution; /* rec_resolution() */
	double step;	   /* exact multiples of this (0: 1); see .proto */
};

/* The tick size the writer uses for a family: 1e-3 for seconds, joules,
 * watts and celsius, 1e-6 for ratios, 0 (exact) for everything else. Counters
 * are stored as rounded cumulative values, so rounding never accumulates. */
double rec_resolution(const char *family, const char *unit);

struct rec_enc_series;

struct rec_encoder {
	struct rec_enc_series *s; /* by ref */
	uint32_t ns;
	uint64_t seq; /* of the next batch */
	int64_t last_time_ms;
	unsigned keyframe_every;
	unsigned since_key;
	/* scratch */
	uint32_t *refs;
	int64_t *ticks;
	uint32_t *xpos;
	double *xval;
	uint32_t *gone;
	size_t scap, gonecap;
	uint8_t *buf; /* the last encoded frame */
	size_t bufcap;
};

void rec_enc_init(struct rec_encoder *e, unsigned keyframe_every);
void rec_enc_free(struct rec_encoder *e);
/* Forget all state (a new file): the next batch is a keyframe and every
 * series needs its definition again. */
void rec_enc_reset(struct rec_encoder *e);
/* Force the next batch to be a keyframe (after a write failed). */
void rec_enc_force_keyframe(struct rec_encoder *e);
bool rec_enc_defined(const struct rec_encoder *e, uint32_t ref);

/* Each returns 0 and sets *frame and *len (a complete frame, valid until the
 * next call), or a negative errno. */
int rec_enc_header(struct rec_encoder *e, const Amrec__FileHeader *h,
		   const uint8_t **frame, size_t *len);
int rec_enc_series(struct rec_encoder *e, const struct rec_series_def *d,
		   const uint8_t **frame, size_t *len);
/* values[i] of series refs[i] (ascending, all defined) at time_ms: the whole
 * set of live series; series missing from it are recorded as gone. */
int rec_enc_batch(struct rec_encoder *e, int64_t time_ms, const uint32_t *refs,
		  const double *values, size_t n, const uint8_t **frame, size_t *len);

/* ---- decoder ---- */

struct rec_dec_series;

struct rec_decoder {
	struct rec_dec_series *s; /* by ref */
	uint32_t ns;
	uint32_t ndefs; /* distinct refs defined */
	bool synced;	/* the previous batch was decoded */
	uint64_t seq;
	int64_t time_ms;
	uint32_t *live; /* wanted live refs, ascending */
	size_t nlive, livecap;
	size_t nlive_all; /* live series, wanted or not */
	bool live_dirty;
	/* scratch of rec_dec_batch_wire(), by field number (5..9) */
	void *wire[10];
	size_t wirecap[10];
};

void rec_dec_init(struct rec_decoder *d);
void rec_dec_free(struct rec_decoder *d);

/* Define a series; want: whether rec_dec_batch should report its values.
 * -EINVAL for a ref already defined with another resolution; -ERANGE for a
 * ref far beyond the number of series defined so far (REC_DEC_REF_SLACK):
 * corrupt input, which must not make the reader allocate for it. */
#define REC_DEC_REF_SLACK 65536u
int rec_dec_series(struct rec_decoder *d, const Amrec__SeriesDef *def, bool want);

/* Apply one batch. 0: d->time_ms is the batch time and rec_dec_value() gives
 * the wanted live series; -EAGAIN: a delta batch whose predecessor was lost
 * (skipped until the next keyframe); -EINVAL: inconsistent batch (the
 * decoder then waits for a keyframe). */
int rec_dec_batch(struct rec_decoder *d, const Amrec__SampleBatch *b);

/* The same for a whole Record payload, parsed in place without protobuf-c's
 * allocations (the audit's hot path). -ENOTSUP when the payload is not a
 * plain batch record as this writer makes them: unpack it the usual way. */
int rec_dec_batch_wire(struct rec_decoder *d, const uint8_t *p, size_t len);

/* The wanted live series after the last batch: refs d->live[0..nlive). */
double rec_dec_value(const struct rec_decoder *d, uint32_t ref);

#endif
