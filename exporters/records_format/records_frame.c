/* Record file frames: CRC32C and the frame reader (see records_frame.h).
 * The reader keeps one bounded window of the file in memory (at most one
 * frame plus a read block), so auditing years of files needs no more memory
 * than the largest frame.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "records_frame.h"

/* Slice-by-8: table[k][b] is the CRC of byte b followed by k zero bytes, so
 * eight input bytes are folded with eight lookups instead of a loop per bit. */
static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	for (uint32_t b = 0; b < 256; b++) {
		uint32_t c = b;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
		crc_table[0][b] = c;
	}
	for (uint32_t b = 0; b < 256; b++)
		for (int k = 1; k < 8; k++)
			crc_table[k][b] = (crc_table[k - 1][b] >> 8) ^
					  crc_table[0][crc_table[k - 1][b] & 0xff];
}

uint32_t rec_crc32c(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	pthread_once(&crc_once, crc_init);
	crc = ~crc;
	while (len && ((uintptr_t)p & 7)) {
		crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xff];
		len--;
	}
	while (len >= 8) {
		/* Byte-wise loads keep this endian- and alignment-neutral; the
		 * compiler merges them into one 64-bit load on x86. */
		uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 |
				     (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
		crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
		      crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
		      crc_table[3][p[4]] ^ crc_table[2][p[5]] ^ crc_table[1][p[6]] ^
		      crc_table[0][p[7]];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xff];
	return ~crc;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = v & 0xff;
	p[1] = (v >> 8) & 0xff;
	p[2] = (v >> 16) & 0xff;
	p[3] = v >> 24;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

void rec_frame_header(uint8_t hdr[REC_FRAME_HDR], const void *payload, size_t len)
{
	put32(hdr, REC_FRAME_MAGIC);
	put32(hdr + 4, (uint32_t)len);
	put32(hdr + 8, rec_crc32c(0, payload, len));
	put32(hdr + 12, rec_crc32c(0, hdr, 12));
}

int rec_frame_reader_fd(struct rec_frame_reader *r, int fd)
{
	struct stat st;

	memset(r, 0, sizeof(*r));
	if (fstat(fd, &st) < 0)
		return -errno;
	r->fd = fd;
	r->size = (uint64_t)st.st_size;
	return 0;
}

void rec_frame_reader_mem(struct rec_frame_reader *r, const void *buf, size_t len)
{
	memset(r, 0, sizeof(*r));
	r->fd = -1;
	r->mem = buf;
	r->size = len;
	r->buf = (uint8_t *)buf;
	r->cap = r->end = len;
}

void rec_frame_reader_free(struct rec_frame_reader *r)
{
	if (r->fd >= 0)
		free(r->buf);
	r->buf = NULL;
}

/* Make n bytes from pos available if the file has them; returns how many are
 * (< n only at the end of the file or on a read error, r->err set). */
static size_t ensure(struct rec_frame_reader *r, size_t n)
{
	if (r->fd < 0 || r->end - r->pos >= n)
		return r->end - r->pos;
	if (r->pos > 0) {
		memmove(r->buf, r->buf + r->pos, r->end - r->pos);
		r->buf_off += r->pos;
		r->end -= r->pos;
		r->pos = 0;
	}
	if (n > r->cap) {
		size_t cap = r->cap ? r->cap : 65536;
		while (cap < n)
			cap *= 2;
		uint8_t *nb = realloc(r->buf, cap);
		if (!nb) {
			r->err = ENOMEM;
			return r->end;
		}
		r->buf = nb;
		r->cap = cap;
	}
	/* Never read past the size seen at open: a file still being written
	 * grows, and its size is the one figure the checks below compare to. */
	while (r->end < n && r->buf_off + r->end < r->size) {
		size_t want = r->cap - r->end;
		if (want > r->size - (r->buf_off + r->end))
			want = (size_t)(r->size - (r->buf_off + r->end));
		ssize_t got = read(r->fd, r->buf + r->end, want);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			r->err = errno;
			break;
		}
		if (got == 0) {
			r->size = r->buf_off + r->end; /* shrank under us */
			break;
		}
		r->end += (size_t)got;
	}
	return r->end - r->pos;
}

/* Check the frame at pos; on OK sets *len. */
static enum rec_frame_status probe(struct rec_frame_reader *r, uint32_t *len)
{
	size_t avail = ensure(r, REC_FRAME_HDR);
	const uint8_t *h;
	uint32_t n;

	if (avail < REC_FRAME_HDR) {
		if (r->err)
			return REC_FRAME_IOERR;
		snprintf(r->why, sizeof(r->why),
			 "incomplete frame header (%zu of %u bytes)", avail,
			 REC_FRAME_HDR);
		return REC_FRAME_TORN;
	}
	h = r->buf + r->pos;
	if (get32(h) != REC_FRAME_MAGIC) {
		snprintf(r->why, sizeof(r->why), "bad frame magic 0x%08x", get32(h));
		return REC_FRAME_CORRUPT;
	}
	n = get32(h + 4);
	if (get32(h + 12) != rec_crc32c(0, h, 12)) {
		/* The length cannot be trusted; name it when it is the likely
		 * damage (it points past the end of the file). */
		if (n > r->size)
			snprintf(r->why, sizeof(r->why),
				 "frame length %u larger than the file (%llu bytes)", n,
				 (unsigned long long)r->size);
		else
			snprintf(r->why, sizeof(r->why),
				 "frame header checksum mismatch");
		return REC_FRAME_CORRUPT;
	}
	/* A checked header past the end of the file is a frame whose writer
	 * stopped mid-way: a torn tail. Bound it before allocating. */
	if (n > REC_FRAME_MAX) {
		snprintf(r->why, sizeof(r->why),
			 "frame length %u above the %u-byte limit", n, REC_FRAME_MAX);
		return REC_FRAME_CORRUPT;
	}
	avail = ensure(r, REC_FRAME_HDR + (size_t)n);
	if (avail < REC_FRAME_HDR + (size_t)n) {
		if (r->err)
			return REC_FRAME_IOERR;
		snprintf(r->why, sizeof(r->why),
			 "frame of %u bytes cut short at %zu bytes", n,
			 avail - REC_FRAME_HDR);
		return REC_FRAME_TORN;
	}
	h = r->buf + r->pos; /* ensure() may have moved the window */
	if (!r->no_payload_crc && get32(h + 8) != rec_crc32c(0, h + REC_FRAME_HDR, n)) {
		snprintf(r->why, sizeof(r->why), "payload checksum mismatch");
		return REC_FRAME_CORRUPT;
	}
	*len = n;
	return REC_FRAME_OK;
}

/* After damage at pos: move pos to the next offset that holds a valid (or
 * validly torn) frame, or to the end. */
static void resync(struct rec_frame_reader *r)
{
	char why[sizeof(r->why)];
	uint32_t len;

	memcpy(why, r->why, sizeof(why));
	r->pos++;
	for (;;) {
		size_t avail = ensure(r, 4);
		if (avail < 4) {
			r->pos = r->end;
			r->done = 1;
			break;
		}
		const uint8_t *p = r->buf + r->pos;
		void *m = memchr(p, REC_FRAME_MAGIC & 0xff, avail - 3);
		if (!m) {
			r->pos += avail - 3;
			continue;
		}
		r->pos = (size_t)((const uint8_t *)m - r->buf);
		if (get32(r->buf + r->pos) == REC_FRAME_MAGIC) {
			enum rec_frame_status st = probe(r, &len);
			if (st == REC_FRAME_OK || st == REC_FRAME_TORN)
				break;
			if (st == REC_FRAME_IOERR) {
				r->done = 1;
				break;
			}
		}
		r->pos++;
	}
	memcpy(r->why, why, sizeof(why));
}

enum rec_frame_status rec_frame_next(struct rec_frame_reader *r, const uint8_t **payload,
				     size_t *len, uint64_t *offset)
{
	enum rec_frame_status st;
	uint32_t n = 0;

	*payload = NULL;
	*len = 0;
	if (r->done)
		return REC_FRAME_EOF;
	*offset = r->buf_off + r->pos;
	if (ensure(r, 1) == 0) {
		r->done = 1;
		return r->err ? REC_FRAME_IOERR : REC_FRAME_EOF;
	}
	st = probe(r, &n);
	switch (st) {
	case REC_FRAME_OK:
		*payload = r->buf + r->pos + REC_FRAME_HDR;
		*len = n;
		r->pos += REC_FRAME_HDR + (size_t)n;
		break;
	case REC_FRAME_TORN:
	case REC_FRAME_IOERR:
		r->done = 1;
		break;
	case REC_FRAME_CORRUPT: {
		uint64_t bad = r->buf_off + r->pos;
		resync(r);
		r->skipped = r->buf_off + r->pos - bad;
		break;
	}
	default:
		break;
	}
	return st;
}
