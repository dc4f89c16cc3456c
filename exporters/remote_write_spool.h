/* The queue of remote write requests not yet accepted by a receiver: in
 * memory, or on disk (the spool) in segment files of CRC-checked frames
 * (exporters/records_format/records_frame.h), bounded in total size (the oldest segment
 * goes first, counted). Records leave in the order they came. A state file
 * keeps the position (timestamp, chunk) of the last request the receiver
 * took, so that a restarted agent replays exactly what was not sent.
 *
 * On disk, per endpoint directory:
 *   seg-<seq>.rws  frames; payload = ts_ms (int64 LE), chunk (uint32 LE),
 *                  nsamples (uint32 LE), then the snappy request body
 *   state          "<ts_ms> <chunk>\n", replaced by rename
 *   lock           flock()ed while open: one agent per spool directory
 * fsync policy: a record is fsync'd (and a new segment's directory entry)
 * before push returns, so a spooled request survives a power cut; the
 * state file is renamed without fsync, so a crash may replay the last
 * requests once (identical samples, which receivers accept as duplicates).
 */
#ifndef ACCELMON_REMOTE_WRITE_SPOOL_H
#define ACCELMON_REMOTE_WRITE_SPOOL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct rw_pos {
	int64_t ts_ms;	/* timestamp of the request's samples */
	uint32_t chunk; /* index of the request within that timestamp */
};

/* (a, b): -1, 0, 1 */
int rw_pos_cmp(const struct rw_pos *a, const struct rw_pos *b);

struct rw_spool_stats {
	uint64_t bytes;		  /* queued request bytes (framed, on disk) */
	uint64_t records;	  /* queued requests */
	uint64_t segments;	  /* segment files */
	uint64_t dropped_samples; /* dropped because the spool was full */
	uint64_t dropped_records;
	uint64_t corrupt; /* damaged frames skipped when reading */
	uint64_t write_errors;
};

struct rw_spool;

/* dir NULL: a memory queue. Otherwise the directory is created if needed,
 * its segments are read (frames after the saved position are queued again)
 * and new records go to a new segment. max_bytes bounds the total.
 * -EBUSY when another process has the directory open. */
int rw_spool_open(const char *dir, uint64_t max_bytes, struct rw_spool **out);
void rw_spool_close(struct rw_spool *q);

/* Tests: replace write() to inject errors (ENOSPC). */
void rw_spool_set_write_fn(struct rw_spool *q, ssize_t (*fn)(int, const void *, size_t));

/* Append a request; when the total would pass max_bytes, the oldest
 * records go first (counted in stats). 0, or a negative errno when it
 * could not be stored (counted in write_errors; the record is lost). */
int rw_spool_push(struct rw_spool *q, const struct rw_pos *pos, uint32_t nsamples,
		  const void *body, size_t len);
/* The oldest record: 0 with *body valid until the next call, -ENOENT when
 * empty, -EIO when it could not be read back (then pop it). */
int rw_spool_peek(struct rw_spool *q, struct rw_pos *pos, uint32_t *nsamples,
		  const uint8_t **body, size_t *len);
/* Remove the oldest record; sent says the receiver took it (saves the
 * position). */
void rw_spool_pop(struct rw_spool *q, int sent);
/* Position of the oldest record, without reading it: 0 or -ENOENT. */
int rw_spool_head(const struct rw_spool *q, struct rw_pos *pos);
int rw_spool_empty(const struct rw_spool *q);
void rw_spool_stats(const struct rw_spool *q, struct rw_spool_stats *out);

/* Position of the last request a receiver took (from the state file when
 * the spool is on disk); {0, 0} when none. */
struct rw_pos rw_spool_sent(const struct rw_spool *q);
/* Record that pos was sent (a request that never went through the queue). */
void rw_spool_mark_sent(struct rw_spool *q, const struct rw_pos *pos);

#endif
