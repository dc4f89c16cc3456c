/* Remote write queue and on-disk spool (exporters/remote_write_spool.h).
 * The queue keeps only an index in memory (position, segment, offset) for a
 * spooled record and reads the bytes back when it is next to go; the frame
 * checksum is checked again on that read.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exporters/records_format/records_frame.h"
#include "exporters/remote_write_spool.h"
#include "log.h"

#define META 16u

struct qent {
	struct rw_pos pos;
	uint32_t nsamples;
	uint64_t seg; /* segment seq (disk) */
	uint64_t off; /* frame offset in it */
	uint32_t len; /* frame length (header + payload) */
	uint8_t *mem; /* memory queue: the body */
};

struct seg {
	uint64_t seq;
	uint64_t size;
	uint64_t live; /* queued records in it */
};

struct rw_spool {
	char *dir;
	uint64_t max_bytes, seg_bytes;
	struct qent *q;
	size_t head, n, cap; /* q[head .. head+n) */
	struct seg *segs;
	size_t nsegs, segcap;
	int wfd;	   /* segment being written, or -1 */
	uint64_t wseq;	   /* its seq */
	uint64_t next_seq; /* for the next new segment */
	int lockfd;	   /* flock on dir/lock: one agent per spool */
	int rfd;	   /* read fd and its seq */
	uint64_t rseq;
	uint8_t *rbuf;
	size_t rcap;
	struct rw_pos sent;
	struct rw_spool_stats st;
	ssize_t (*write_fn)(int, const void *, size_t);
};

int rw_pos_cmp(const struct rw_pos *a, const struct rw_pos *b)
{
	if (a->ts_ms != b->ts_ms)
		return a->ts_ms < b->ts_ms ? -1 : 1;
	return a->chunk < b->chunk ? -1 : a->chunk > b->chunk;
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static void seg_path(const struct rw_spool *q, uint64_t seq, char *out, size_t len)
{
	snprintf(out, len, "%s/seg-%016" PRIu64 ".rws", q->dir, seq);
}

static struct seg *seg_find(struct rw_spool *q, uint64_t seq)
{
	for (size_t i = 0; i < q->nsegs; i++)
		if (q->segs[i].seq == seq)
			return &q->segs[i];
	return NULL;
}

static int seg_add(struct rw_spool *q, uint64_t seq, uint64_t size)
{
	if (q->nsegs == q->segcap) {
		size_t cap = q->segcap ? 2 * q->segcap : 16;
		struct seg *s = realloc(q->segs, cap * sizeof(*s));
		if (!s)
			return -ENOMEM;
		q->segs = s;
		q->segcap = cap;
	}
	q->segs[q->nsegs++] = (struct seg){seq, size, 0};
	return 0;
}

/* Unlink a segment and forget it (its records must be gone from q). */
static void seg_remove(struct rw_spool *q, uint64_t seq)
{
	char path[PATH_MAX];

	for (size_t i = 0; i < q->nsegs; i++) {
		if (q->segs[i].seq != seq)
			continue;
		q->st.bytes -=
		    q->segs[i].size < q->st.bytes ? q->segs[i].size : q->st.bytes;
		memmove(&q->segs[i], &q->segs[i + 1],
			(q->nsegs - i - 1) * sizeof(*q->segs));
		q->nsegs--;
		break;
	}
	if (q->wfd >= 0 && q->wseq == seq) {
		close(q->wfd);
		q->wfd = -1;
	}
	if (q->rfd >= 0 && q->rseq == seq) {
		close(q->rfd);
		q->rfd = -1;
	}
	seg_path(q, seq, path, sizeof(path));
	unlink(path);
	q->st.segments = q->nsegs;
}

static int q_append(struct rw_spool *q, const struct qent *e)
{
	if (q->head + q->n == q->cap) {
		if (q->head > q->cap / 2) {
			memmove(q->q, q->q + q->head, q->n * sizeof(*q->q));
			q->head = 0;
		} else {
			size_t cap = q->cap ? 2 * q->cap : 64;
			struct qent *nq = realloc(q->q, cap * sizeof(*nq));
			if (!nq)
				return -ENOMEM;
			q->q = nq;
			q->cap = cap;
		}
	}
	q->q[q->head + q->n++] = *e;
	q->st.records = q->n;
	return 0;
}

static void save_state(struct rw_spool *q)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	FILE *f;

	if (!q->dir)
		return;
	snprintf(path, sizeof(path), "%s/state", q->dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return;
	fprintf(f, "%" PRId64 " %" PRIu32 "\n", q->sent.ts_ms, q->sent.chunk);
	if (fclose(f) == 0)
		rename(tmp, path);
}

static void load_state(struct rw_spool *q)
{
	char path[PATH_MAX];
	FILE *f;
	long long ts;
	unsigned long ch;

	snprintf(path, sizeof(path), "%s/state", q->dir);
	f = fopen(path, "r");
	if (!f)
		return;
	if (fscanf(f, "%lld %lu", &ts, &ch) == 2 && ts >= 0 && ch <= UINT32_MAX)
		q->sent = (struct rw_pos){ts, (uint32_t)ch};
	fclose(f);
}

/* Pop the head record; it is gone from memory and, when its segment holds
 * nothing else, from disk. */
static void pop_head(struct rw_spool *q)
{
	struct qent *e = &q->q[q->head];

	if (e->mem) {
		q->st.bytes -= e->len;
		free(e->mem);
	} else {
		struct seg *s = seg_find(q, e->seg);
		if (s && s->live)
			s->live--;
		if (s && !s->live && (q->wfd < 0 || s->seq != q->wseq))
			seg_remove(q, s->seq);
	}
	q->head++;
	q->n--;
	if (!q->n) {
		q->head = 0;
		/* All sent: nothing needs to stay on disk. */
		while (q->nsegs)
			seg_remove(q, q->segs[0].seq);
	}
	q->st.records = q->n;
}

static int name_seq(const char *name, uint64_t *seq)
{
	char *end;
	size_t len = strlen(name);

	if (len != 4 + 16 + 4 || strncmp(name, "seg-", 4) || strcmp(name + 20, ".rws"))
		return -EINVAL;
	errno = 0;
	*seq = strtoull(name + 4, &end, 10);
	return errno || end != name + 20 ? -EINVAL : 0;
}

static int u64_cmp(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
	return a < b ? -1 : a > b;
}

/* Queue the frames of the existing segments that come after the saved
 * position, oldest segment first. */
static int scan(struct rw_spool *q)
{
	DIR *d = opendir(q->dir);
	uint64_t *seqs = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	int rc = 0;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		uint64_t seq;
		if (name_seq(de->d_name, &seq) < 0)
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 32;
			uint64_t *ns = realloc(seqs, cap * sizeof(*ns));
			if (!ns) {
				rc = -ENOMEM;
				break;
			}
			seqs = ns;
		}
		seqs[n++] = seq;
	}
	closedir(d);
	if (seqs)
		qsort(seqs, n, sizeof(*seqs), u64_cmp);
	for (size_t i = 0; i < n && rc == 0; i++) {
		char path[PATH_MAX];
		struct rec_frame_reader r;
		const uint8_t *p;
		size_t len;
		uint64_t off, live = 0;
		enum rec_frame_status fs;
		struct stat stt;
		int fd;

		seg_path(q, seqs[i], path, sizeof(path));
		if (seqs[i] >= q->next_seq)
			q->next_seq = seqs[i] + 1;
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &stt) < 0 || rec_frame_reader_fd(&r, fd) < 0) {
			if (fd >= 0)
				close(fd);
			continue;
		}
		if ((rc = seg_add(q, seqs[i], (uint64_t)stt.st_size)) < 0) {
			rec_frame_reader_free(&r);
			close(fd);
			break;
		}
		q->st.bytes += (uint64_t)stt.st_size;
		while ((fs = rec_frame_next(&r, &p, &len, &off)) != REC_FRAME_EOF) {
			if (fs == REC_FRAME_TORN || fs == REC_FRAME_IOERR) {
				q->st.corrupt++;
				log_msg(LOGL_WARN, "remote_write",
					"%s: %s at offset %" PRIu64
					", later records of this segment are lost",
					path, fs == REC_FRAME_TORN ? r.why : "read error",
					off);
				break;
			}
			if (fs == REC_FRAME_CORRUPT) {
				q->st.corrupt++;
				log_msg(LOGL_WARN, "remote_write",
					"%s: damaged record at offset %" PRIu64
					" (%s), skipped",
					path, off, r.why);
				continue;
			}
			if (len < META)
				continue;
			struct qent e = {
			    .pos = {(int64_t)get64(p), get32(p + 8)},
			    .nsamples = get32(p + 12),
			    .seg = seqs[i],
			    .off = off,
			    .len = (uint32_t)(REC_FRAME_HDR + len),
			};
			if (rw_pos_cmp(&e.pos, &q->sent) <= 0)
				continue; /* sent before the restart */
			if ((rc = q_append(q, &e)) < 0)
				break;
			live++;
		}
		rec_frame_reader_free(&r);
		close(fd);
		q->segs[q->nsegs - 1].live = live;
		if (!live)
			seg_remove(q, seqs[i]);
	}
	free(seqs);
	q->st.segments = q->nsegs;
	return rc;
}

int rw_spool_open(const char *dir, uint64_t max_bytes, struct rw_spool **out)
{
	struct rw_spool *q = calloc(1, sizeof(*q));
	int rc;

	if (!q)
		return -ENOMEM;
	q->wfd = q->rfd = q->lockfd = -1;
	q->write_fn = write;
	q->max_bytes = max_bytes;
	/* Eight or more segments, so dropping the oldest loses an eighth. */
	q->seg_bytes = max_bytes / 8;
	if (q->seg_bytes < 16384)
		q->seg_bytes = 16384;
	if (q->seg_bytes > (64u << 20))
		q->seg_bytes = 64u << 20;
	if (dir) {
		if (!(q->dir = strdup(dir))) {
			free(q);
			return -ENOMEM;
		}
		if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
			rc = -errno;
			rw_spool_close(q);
			return rc;
		}
		char lp[PATH_MAX];
		snprintf(lp, sizeof(lp), "%s/lock", dir);
		q->lockfd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
		if (q->lockfd < 0 || flock(q->lockfd, LOCK_EX | LOCK_NB) < 0) {
			rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
			rw_spool_close(q);
			return rc;
		}
		load_state(q);
		if ((rc = scan(q)) < 0) {
			rw_spool_close(q);
			return rc;
		}
	}
	*out = q;
	return 0;
}

void rw_spool_close(struct rw_spool *q)
{
	if (!q)
		return;
	if (q->wfd >= 0)
		close(q->wfd);
	if (q->rfd >= 0)
		close(q->rfd);
	if (q->lockfd >= 0)
		close(q->lockfd); /* releases the flock */
	for (size_t i = 0; i < q->n; i++)
		free(q->q[q->head + i].mem);
	free(q->q);
	free(q->segs);
	free(q->rbuf);
	free(q->dir);
	free(q);
}

void rw_spool_set_write_fn(struct rw_spool *q, ssize_t (*fn)(int, const void *, size_t))
{
	q->write_fn = fn ? fn : write;
}

/* Make room for need more bytes: drop the oldest records (whole segments
 * on disk). */
static void make_room(struct rw_spool *q, uint64_t need)
{
	while (q->n && q->st.bytes + need > q->max_bytes) {
		uint64_t seg = q->q[q->head].seg;
		int disk = !q->q[q->head].mem;

		do {
			q->st.dropped_samples += q->q[q->head].nsamples;
			q->st.dropped_records++;
			if (disk) {
				/* Not pop_head: the segment goes as a whole. */
				q->head++;
				q->n--;
			} else {
				pop_head(q);
			}
		} while (disk && q->n && q->q[q->head].seg == seg);
		if (disk)
			seg_remove(q, seg);
		if (!q->n)
			q->head = 0;
		q->st.records = q->n;
	}
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

static int write_all(struct rw_spool *q, const uint8_t *p, size_t n, uint64_t at)
{
	size_t done = 0;

	while (done < n) {
		ssize_t k = q->write_fn(q->wfd, p + done, n - done);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			int err = k < 0 ? errno : ENOSPC;
			/* Cut a partial frame off (whatever landed): later
			 * frames never follow a torn one. */
			if (ftruncate(q->wfd, (off_t)at) < 0)
				log_msg(LOGL_WARN, "remote_write",
					"%s: cannot cut a partial write", q->dir);
			return -err;
		}
		done += (size_t)k;
	}
	return 0;
}

int rw_spool_push(struct rw_spool *q, const struct rw_pos *pos, uint32_t nsamples,
		  const void *body, size_t len)
{
	size_t flen = REC_FRAME_HDR + META + len;
	uint8_t *f;
	struct qent e = {.pos = *pos, .nsamples = nsamples, .len = (uint32_t)flen};
	struct seg *s;
	int rc;

	if (META + len > REC_FRAME_MAX || flen > q->max_bytes) {
		q->st.dropped_samples += nsamples;
		q->st.dropped_records++;
		return -E2BIG;
	}
	make_room(q, flen);
	if (!q->dir) {
		if (!(e.mem = malloc(len ? len : 1)))
			return -ENOMEM;
		memcpy(e.mem, body, len);
		e.len = (uint32_t)len;
		if ((rc = q_append(q, &e)) < 0) {
			free(e.mem);
			return rc;
		}
		q->st.bytes += len;
		return 0;
	}
	if (q->wfd >= 0 && (s = seg_find(q, q->wseq)) && s->size >= q->seg_bytes) {
		close(q->wfd);
		q->wfd = -1;
		if (!s->live)
			seg_remove(q, s->seq);
	}
	if (q->wfd < 0) {
		char path[PATH_MAX];

		q->wseq = q->next_seq++;
		seg_path(q, q->wseq, path, sizeof(path));
		q->wfd =
		    open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0640);
		if (q->wfd < 0 || seg_add(q, q->wseq, 0) < 0) {
			rc = q->wfd < 0 ? -errno : -ENOMEM;
			if (q->wfd >= 0)
				close(q->wfd);
			q->wfd = -1;
			goto fail;
		}
		fsync_dir(q->dir);
		q->st.segments = q->nsegs;
	}
	s = seg_find(q, q->wseq);
	if (!(f = malloc(flen))) {
		rc = -ENOMEM;
		goto fail;
	}
	put64(f + REC_FRAME_HDR, (uint64_t)pos->ts_ms);
	put32(f + REC_FRAME_HDR + 8, pos->chunk);
	put32(f + REC_FRAME_HDR + 12, nsamples);
	memcpy(f + REC_FRAME_HDR + META, body, len);
	rec_frame_header(f, f + REC_FRAME_HDR, META + len);
	rc = write_all(q, f, flen, s->size);
	free(f);
	if (rc == 0 && fsync(q->wfd) < 0)
		rc = -errno;
	if (rc < 0) {
		/* The segment may now end in damage: write the next record to a
		 * fresh one. */
		close(q->wfd);
		q->wfd = -1;
		if (!s->live)
			seg_remove(q, s->seq);
		goto fail;
	}
	e.seg = q->wseq;
	e.off = s->size;
	if ((rc = q_append(q, &e)) < 0)
		goto fail;
	s->size += flen;
	s->live++;
	q->st.bytes += flen;
	return 0;
fail:
	q->st.write_errors++;
	q->st.dropped_samples += nsamples;
	q->st.dropped_records++;
	return rc;
}

int rw_spool_peek(struct rw_spool *q, struct rw_pos *pos, uint32_t *nsamples,
		  const uint8_t **body, size_t *len)
{
	struct qent *e;
	struct rec_frame_reader r;
	const uint8_t *p;
	size_t plen;
	uint64_t off;

	if (!q->n)
		return -ENOENT;
	e = &q->q[q->head];
	*pos = e->pos;
	*nsamples = e->nsamples;
	if (e->mem) {
		*body = e->mem;
		*len = e->len;
		return 0;
	}
	if (q->rfd < 0 || q->rseq != e->seg) {
		char path[PATH_MAX];

		if (q->rfd >= 0)
			close(q->rfd);
		seg_path(q, e->seg, path, sizeof(path));
		q->rfd = open(path, O_RDONLY | O_CLOEXEC);
		q->rseq = e->seg;
		if (q->rfd < 0)
			return -EIO;
	}
	if (e->len > q->rcap) {
		uint8_t *b = realloc(q->rbuf, e->len);
		if (!b)
			return -ENOMEM;
		q->rbuf = b;
		q->rcap = e->len;
	}
	if (pread(q->rfd, q->rbuf, e->len, (off_t)e->off) != (ssize_t)e->len)
		return -EIO;
	rec_frame_reader_mem(&r, q->rbuf, e->len);
	enum rec_frame_status fs = rec_frame_next(&r, &p, &plen, &off);
	rec_frame_reader_free(&r);
	if (fs != REC_FRAME_OK || plen < META) {
		q->st.corrupt++;
		return -EIO;
	}
	*body = p + META;
	*len = plen - META;
	return 0;
}

void rw_spool_pop(struct rw_spool *q, int sent)
{
	if (!q->n)
		return;
	if (sent)
		rw_spool_mark_sent(q, &q->q[q->head].pos);
	pop_head(q);
}

int rw_spool_head(const struct rw_spool *q, struct rw_pos *pos)
{
	if (!q->n)
		return -ENOENT;
	*pos = q->q[q->head].pos;
	return 0;
}

int rw_spool_empty(const struct rw_spool *q)
{
	return q->n == 0;
}

void rw_spool_stats(const struct rw_spool *q, struct rw_spool_stats *out)
{
	*out = q->st;
}

struct rw_pos rw_spool_sent(const struct rw_spool *q)
{
	return q->sent;
}

void rw_spool_mark_sent(struct rw_spool *q, const struct rw_pos *pos)
{
	if (rw_pos_cmp(pos, &q->sent) <= 0)
		return;
	q->sent = *pos;
	save_state(q);
}
