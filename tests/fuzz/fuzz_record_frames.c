/* libFuzzer target: the record file reader as accelmon-audit runs it on
 * untrusted files: frames, protobuf records, the delta decoder. It is also
 * differential: the in-place batch parser (rec_dec_batch_wire) must leave
 * the decoder exactly as protobuf-c's unpack + rec_dec_batch does whenever
 * it accepts a payload. make fuzz-records builds it and seeds the corpus
 * with a generated record file; then run tests/fuzz/fuzz_record_frames
 * -max_total_time=60 -max_len=65536 tests/fuzz/corpus-records
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "exporters/records_format/records_codec.h"
#include "exporters/records_format/records_frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same(const struct rec_decoder *a, const struct rec_decoder *b)
{
	if (a->synced != b->synced || a->nlive != b->nlive ||
	    a->nlive_all != b->nlive_all)
		abort();
	if (!a->synced)
		return;
	if (a->seq != b->seq || a->time_ms != b->time_ms)
		abort();
	for (size_t i = 0; i < a->nlive; i++) {
		double x = rec_dec_value(a, a->live[i]);
		double y = rec_dec_value(b, b->live[i]);
		if (a->live[i] != b->live[i] || memcmp(&x, &y, sizeof(x)) != 0)
			abort();
	}
}

/* One pass over the input; with no_crc, payload checksums are not checked
 * so that mutated records reach the decoders. */
static void run(const uint8_t *data, size_t size, int no_crc)
{
	struct rec_frame_reader r;
	struct rec_decoder fast, ref;
	const uint8_t *p;
	size_t len;
	uint64_t off, last = 0;
	enum rec_frame_status st;

	rec_frame_reader_mem(&r, data, size);
	r.no_payload_crc = no_crc;
	rec_dec_init(&fast);
	rec_dec_init(&ref);
	while ((st = rec_frame_next(&r, &p, &len, &off)) != REC_FRAME_EOF) {
		/* offsets only grow and frames lie inside the input */
		if (off < last || off > size)
			abort();
		last = off;
		if (st != REC_FRAME_OK)
			continue;
		if (p < data || p + len > data + size)
			abort();
		int rc_fast = rec_dec_batch_wire(&fast, p, len);
		Amrec__Record *rec = amrec__record__unpack(NULL, len, p);
		if (!rec) {
			/* the fast path must not accept what protobuf-c refuses */
			if (rc_fast != -ENOTSUP)
				abort();
			continue;
		}
		if (rec->body_case == AMREC__RECORD__BODY_SERIES) {
			if (rc_fast != -ENOTSUP)
				abort();
			int a = rec_dec_series(&fast, rec->series, true);
			int b = rec_dec_series(&ref, rec->series, true);
			if (a != b)
				abort();
		} else if (rec->body_case == AMREC__RECORD__BODY_BATCH) {
			int rc_ref = rec_dec_batch(&ref, rec->batch);
			if (rc_fast == -ENOTSUP)
				rc_fast = rec_dec_batch(&fast, rec->batch);
			if (rc_fast != rc_ref)
				abort();
		} else if (rc_fast != -ENOTSUP) {
			abort();
		}
		same(&fast, &ref);
		amrec__record__free_unpacked(rec, NULL);
	}
	rec_dec_free(&fast);
	rec_dec_free(&ref);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	run(data, size, 0);
	run(data, size, 1);
	return 0;
}
