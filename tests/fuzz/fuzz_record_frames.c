/* libFuzzer target: the record file reader (frames, then protobuf records,
 * then the delta decoder), as accelmon-audit runs it on untrusted files.
 * Build and run: make fuzz-records (FUZZ_SECONDS=60).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "exporters/records_codec.h"
#include "exporters/records_frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rec_frame_reader r;
	struct rec_decoder d;
	const uint8_t *p;
	size_t len;
	uint64_t off, last = 0;
	enum rec_frame_status st;
	volatile double sink = 0;

	rec_frame_reader_mem(&r, data, size);
	rec_dec_init(&d);
	while ((st = rec_frame_next(&r, &p, &len, &off)) != REC_FRAME_EOF) {
		/* offsets only grow and frames lie inside the input */
		if (off < last || off > size)
			abort();
		last = off;
		if (st != REC_FRAME_OK)
			continue;
		if (p < data || p + len > data + size)
			abort();
		Amrec__Record *rec = amrec__record__unpack(NULL, len, p);
		if (!rec)
			continue;
		if (rec->body_case == AMREC__RECORD__BODY_SERIES)
			rec_dec_series(&d, rec->series, true);
		else if (rec->body_case == AMREC__RECORD__BODY_BATCH &&
			 rec_dec_batch(&d, rec->batch) == 0)
			for (size_t i = 0; i < d.nlive; i++)
				sink += rec_dec_value(&d, d.live[i]);
		amrec__record__free_unpacked(rec, NULL);
	}
	(void)sink;
	rec_dec_free(&d);
	return 0;
}
