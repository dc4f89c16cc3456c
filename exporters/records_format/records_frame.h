/* Record file frames: the container layer under the protobuf records.
 * A frame is a 16-byte header (magic, payload length, CRC32C of the payload,
 * CRC32C of the first 12 header bytes; all little-endian) and the payload.
 * Files are append-only, so after a crash only the last frame can be torn;
 * the reader returns every complete frame, reports a torn tail by offset, and
 * resynchronises on the next valid frame after a damaged one. A header
 * whose checksum fails is damage (its length is then not trusted: a length
 * beyond the file is named as such); a checked header whose payload runs
 * past the end of the file is a torn tail.
 */
#ifndef ACCELMON_RECORDS_FRAME_H
#define ACCELMON_RECORDS_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define REC_FRAME_MAGIC 0x31464d41u /* "AMF1" */
#define REC_FRAME_HDR 16u
/* Largest payload a writer produces and a reader accepts. */
#define REC_FRAME_MAX (8u << 20)

/* CRC32C (Castagnoli, reflected 0x82F63B78), slice-by-8. Start with crc 0;
 * chain calls by passing the previous result. */
uint32_t rec_crc32c(uint32_t crc, const void *buf, size_t len);

/* Write the 16-byte header for payload into hdr. */
void rec_frame_header(uint8_t hdr[REC_FRAME_HDR], const void *payload, size_t len);

enum rec_frame_status {
	REC_FRAME_OK = 0,  /* a complete, checked frame */
	REC_FRAME_EOF,	   /* clean end of file */
	REC_FRAME_TORN,	   /* incomplete last frame at offset; EOF follows */
	REC_FRAME_CORRUPT, /* damaged bytes at offset; reading resumes at the
			      next valid frame */
	REC_FRAME_IOERR,   /* read() failed (errno in err) */
};

struct rec_frame_reader {
	int fd;		    /* -1 when reading from memory */
	const uint8_t *mem; /* memory source */
	uint64_t size;	    /* file size when opened */
	uint8_t *buf;	    /* window [buf_off, buf_off + end) of the file */
	size_t cap, pos, end;
	uint64_t buf_off;
	int done;	  /* after a torn tail or an I/O error */
	char why[96];	  /* reason of the last TORN / CORRUPT */
	uint64_t skipped; /* bytes skipped over by the last CORRUPT */
	int err;	  /* errno of the last IOERR */
	/* Fuzzing only: accept payloads whose checksum fails, so that mutated
	 * records get past this layer into the decoder. */
	int no_payload_crc;
};

/* Read from an open file (size from fstat) or from memory. The reader does
 * not own fd. 0 or a negative errno. */
int rec_frame_reader_fd(struct rec_frame_reader *r, int fd);
void rec_frame_reader_mem(struct rec_frame_reader *r, const void *buf, size_t len);
void rec_frame_reader_free(struct rec_frame_reader *r);

/* Next frame. On OK, *payload and *len point into the reader's buffer (valid until
 * the next call) and *offset is the frame's file offset. On TORN and CORRUPT,
 * *offset is where the bad bytes start and r->why says what was wrong; on
 * CORRUPT r->skipped is how many bytes were passed over before the next
 * valid frame (or the end). */
enum rec_frame_status rec_frame_next(struct rec_frame_reader *r, const uint8_t **payload,
				     size_t *len, uint64_t *offset);

#endif
