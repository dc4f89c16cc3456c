/* Records exporter internals: the file writer behind the "records" exporter,
 * exposed so tests can drive it without threads or sleeping. One writer owns
 * one directory: it appends batches to the current file, rotates by size and
 * age, deletes the oldest files beyond the retention limits, and pauses (and
 * counts what it drops) while the disk is full.
 */
#ifndef ACCELMON_RECORDS_H
#define ACCELMON_RECORDS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "snapshot.h"

struct rec_opts {
	const char *dir;
	double interval_s;	 /* sample period (default 15 s) */
	uint64_t max_file_size;	 /* rotate beyond this many bytes */
	double max_file_age_s;	 /* rotate files older than this */
	uint64_t retention_size; /* delete oldest files beyond this total */
	double retention_age_s;	 /* delete files older than this */
	double fsync_interval_s; /* 0: after every batch */
	unsigned keyframe_every; /* batches between keyframes */
	const char *hostname;	 /* NULL: gethostname() */
	/* write(2), injectable so tests can fill the disk; NULL: write */
	ssize_t (*write_fn)(int fd, const void *buf, size_t n);
};

struct rec_stats {
	uint64_t batches, bytes, dropped_batches, write_errors;
	uint64_t files_opened, files_deleted;
	bool paused;
};

struct rec_writer;

int rec_writer_new(const struct rec_opts *o, struct rec_writer **out);
/* Write snapshot s taken at wall time now_ms (a snapshot already written is
 * skipped). 0, or a negative errno when the batch was dropped. */
int rec_writer_write(struct rec_writer *w, const struct snapshot *s, int64_t now_ms);
/* fsync and close the current file (the next write opens a new one). */
void rec_writer_close(struct rec_writer *w);
void rec_writer_free(struct rec_writer *w);
void rec_writer_stats(const struct rec_writer *w, struct rec_stats *out);
/* Path of the file being written ("" when none). */
const char *rec_writer_path(const struct rec_writer *w);

/* "64MiB", "1GB", "512k", "1048576" -> bytes; -EINVAL when it does not
 * parse, -ERANGE at 2^63 bytes or more. */
int rec_parse_size(const char *s, uint64_t *out);

/* A directory the agent writes into (records dir, remote-write spool):
 * one that exists is a writable directory, one that does not yet exist has
 * a writable parent. 0, or a negative errno with the problem in why. */
int rec_dir_problem(const char *dir, char *why, size_t whylen);

#endif
