/* Records exporter: every interval, the current snapshot goes to an
 * append-only file of CRC-checked protobuf frames (records.proto), for
 * accelmon-audit and offline capacity planning. New series are defined once
 * per file, then only changed values are written. A frame is written with one
 * write() and a failed write is cut off again, so a crash or a full disk can
 * only ever leave a torn last frame, never damage an earlier one.
 */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agg.h"
#include "clock.h"
#include "exporter.h"
#include "exporters/records.h"
#include "exporters/records_format/records_codec.h"
#include "exporters/records_format/records_frame.h"
#include "log.h"
#include "options.h"
#include "series.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0"
#endif

#define REC "records"
#define REC_MAX_KEYFRAME_EVERY 100000

static const struct am_option rec_options[] = {
    {"dir", AM_OPT_STRING, "directory of the record files (required)"},
    {"max_file_size", AM_OPT_STRING, "rotate a file beyond this size (default 64MiB)"},
    {"max_file_age", AM_OPT_DURATION, "rotate a file older than this (default 1d)"},
    {"retention_size", AM_OPT_STRING,
     "delete the oldest files beyond this total (default 1GiB)"},
    {"retention_age", AM_OPT_DURATION, "delete files older than this (default 400d)"},
    {"fsync_interval", AM_OPT_DURATION,
     "fsync at most this often; 0 after every batch (default 30s)"},
    {"keyframe_every", AM_OPT_INT, "batches between keyframes (default 80)", 1,
     REC_MAX_KEYFRAME_EVERY},
    {NULL, 0, NULL},
};

/* Process-wide so they stay registered across reloads. */
static _Atomic uint64_t rec_batches_total, rec_bytes_total, rec_dropped_total,
    rec_errors_total, rec_deleted_total;
static pthread_once_t rec_stats_once = PTHREAD_ONCE_INIT;

static void rec_stats_register(void)
{
	agg_stat_register("accelmon_records_batches_total",
			  "Sample batches written to record files.", 1, "",
			  &rec_batches_total);
	agg_stat_register("accelmon_records_written_bytes_total",
			  "Bytes written to record files.", 1, "", &rec_bytes_total);
	agg_stat_register("accelmon_records_dropped_batches_total",
			  "Sample batches lost because a record file could not be "
			  "written (full disk, I/O error).",
			  1, "", &rec_dropped_total);
	agg_stat_register("accelmon_records_write_errors_total",
			  "Failed writes to record files.", 1, "", &rec_errors_total);
	agg_stat_register("accelmon_records_deleted_files_total",
			  "Record files deleted by the retention limits.", 1, "",
			  &rec_deleted_total);
}

struct rec_writer {
	struct rec_opts o;
	char *dir;
	char host[256], machine_id[64];
	char fhost[64]; /* host as it appears in file names */
	struct rec_encoder enc;
	int fd;
	char path[PATH_MAX];
	uint64_t size; /* bytes of complete frames in the file */
	int64_t opened_ms;
	uint64_t file_seq;
	uint64_t file_batches; /* batches in the current file */
	uint64_t run_id;
	uint64_t last_gen;
	int64_t last_fsync_ms;
	bool unsynced;
	struct rec_stats st;
	uint8_t *wbuf;
	size_t wlen, wcap;
	uint32_t *refs;
	double *vals;
	struct snap_value *sorted;
	size_t vcap;
	struct log_ratelimit rl;
	int final_slot; /* snapshot_final_consumer_add(), or < 0 */
};

int rec_parse_size(const char *s, uint64_t *out)
{
	static const struct {
		const char *suffix;
		uint64_t mult;
	} units[] = {
	    {"", 1},
	    {"b", 1},
	    {"k", 1000},
	    {"kb", 1000},
	    {"kib", 1024},
	    {"m", 1000000},
	    {"mb", 1000000},
	    {"mib", 1048576},
	    {"g", 1000000000},
	    {"gb", 1000000000},
	    {"gib", 1073741824},
	    {"t", 1000000000000ull},
	    {"tb", 1000000000000ull},
	    {"tib", 1099511627776ull},
	};
	char *end;
	double v;

	if (!s || !*s || *s == '-' || *s == ' ')
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || !(v >= 0) || v > 1e18)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcasecmp(end, units[i].suffix) == 0) {
			double b = v * (double)units[i].mult;

			/* 2^63: beyond it the conversion is undefined, and no
			 * file or disk is that large. */
			if (!(b < 9223372036854775808.0))
				return -ERANGE;
			*out = (uint64_t)b;
			return 0;
		}
	return -EINVAL;
}

static void wlog(struct rec_writer *w, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void wlog(struct rec_writer *w, int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_limited(&w->rl, level, REC, fmt, ap);
	va_end(ap);
}

static void read_machine_id(char *buf, size_t len)
{
	FILE *f = fopen("/etc/machine-id", "r");

	buf[0] = '\0';
	if (!f)
		return;
	if (fgets(buf, (int)len, f))
		buf[strcspn(buf, "\r\n")] = '\0';
	fclose(f);
}

/* The host name goes into the file name so that files of many nodes can
 * share a directory; keep it to safe characters. */
static void file_host(const char *h, char *out, size_t len)
{
	size_t k = 0;

	for (const char *s = h; *s && k < len - 1; s++)
		out[k++] = (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
				   (*s >= '0' && *s <= '9') || *s == '-' || *s == '.'
			       ? *s
			       : '_';
	out[k] = '\0';
}

int rec_writer_new(const struct rec_opts *o, struct rec_writer **out)
{
	struct rec_writer *w;

	if (!o->dir || !*o->dir)
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->o = *o;
	w->final_slot = -1;
	w->dir = strdup(o->dir);
	if (!w->dir) {
		free(w);
		return -ENOMEM;
	}
	w->o.dir = w->dir;
	w->o.hostname = NULL;
	if (!w->o.write_fn)
		w->o.write_fn = write;
	if (o->hostname)
		snprintf(w->host, sizeof(w->host), "%s", o->hostname);
	else if (gethostname(w->host, sizeof(w->host) - 1) < 0)
		snprintf(w->host, sizeof(w->host), "unknown");
	file_host(w->host, w->fhost, sizeof(w->fhost));
	read_machine_id(w->machine_id, sizeof(w->machine_id));
	if (getrandom(&w->run_id, sizeof(w->run_id), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(w->run_id))
		w->run_id = (uint64_t)clock_monotonic_ns() ^ ((uint64_t)getpid() << 32) ^
			    (uint64_t)clock_wall_ms();
	rec_enc_init(&w->enc, o->keyframe_every);
	w->fd = -1;
	/* Without a slot (all taken) this writer may miss a retired series'
	 * last value, as before final values existed. */
	w->final_slot = snapshot_final_consumer_add();
	*out = w;
	return 0;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

void rec_writer_close(struct rec_writer *w)
{
	if (w->fd < 0)
		return;
	if (w->unsynced)
		fsync(w->fd);
	close(w->fd);
	w->fd = -1;
	w->unsynced = false;
	/* A file without a batch (its header fitted, the first batch did not:
	 * a nearly full disk) holds no data: remove it and give its sequence
	 * number to the next one, so retries leave no trail of empty files
	 * and no gap in the numbering. */
	if (w->size == 0 || w->file_batches == 0) {
		if (unlink(w->path) == 0)
			w->file_seq--;
	}
	w->path[0] = '\0';
}

void rec_writer_free(struct rec_writer *w)
{
	if (!w)
		return;
	rec_writer_close(w);
	snapshot_final_consumer_remove(w->final_slot);
	rec_enc_free(&w->enc);
	free(w->wbuf);
	free(w->refs);
	free(w->vals);
	free(w->sorted);
	free(w->dir);
	free(w);
}

void rec_writer_stats(const struct rec_writer *w, struct rec_stats *out)
{
	*out = w->st;
}

const char *rec_writer_path(const struct rec_writer *w)
{
	return w->path;
}

/* ---- retention ---- */

struct rfile {
	char name[256];
	int64_t mtime_ms;
	uint64_t size;
};

static int rfile_cmp(const void *x, const void *y)
{
	const struct rfile *a = x, *b = y;
	if (a->mtime_ms != b->mtime_ms)
		return a->mtime_ms < b->mtime_ms ? -1 : 1;
	return strcmp(a->name, b->name);
}

static bool all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return n > 0;
}

/* Whether name is one of this writer's files: exactly
 * HOST-YYYYmmddTHHMMSSZ-SEQ.amrec with this host. Checking the whole shape,
 * not just the "HOST-" prefix, keeps node1 off node10's files and "node"
 * off "node-2"'s: another host's name never leaves a time stamp right after
 * our prefix. */
static bool own_file(const char *host, const char *name)
{
	size_t hl = strlen(host), len = strlen(name);
	const char *s = name + hl + 1, *end = name + len - 6;

	/* HOST - 15-digit stamp with T and Z (16) - SEQ .amrec */
	if (len < hl + 1 + 16 + 1 + 1 + 6 || strncmp(name, host, hl) != 0 ||
	    name[hl] != '-' || strcmp(end, ".amrec") != 0)
		return false;
	if (!all_digits(s, 8) || s[8] != 'T' || !all_digits(s + 9, 6) || s[15] != 'Z' ||
	    s[16] != '-')
		return false;
	return all_digits(s + 17, (size_t)(end - (s + 17)));
}

/* Delete the oldest of this writer's files while their total size or the
 * age is over its limit; never the file being written. Only files named
 * after this host count: the directory may be shared by several nodes,
 * each with its own retention (and a file another agent is writing). */
static void retention(struct rec_writer *w, int64_t now_ms)
{
	DIR *d = opendir(w->dir);
	struct rfile *v = NULL;
	size_t n = 0, cap = 0;
	uint64_t total = w->fd >= 0 ? w->size : 0;
	struct dirent *e;
	const char *cur = strrchr(w->path, '/');

	if (!d)
		return;
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		struct stat st;
		if (len >= sizeof(v->name) || !own_file(w->fhost, e->d_name))
			continue;
		if (cur && strcmp(cur + 1, e->d_name) == 0)
			continue;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			struct rfile *nv = realloc(v, cap * sizeof(*nv));
			if (!nv)
				break;
			v = nv;
		}
		snprintf(v[n].name, sizeof(v[n].name), "%s", e->d_name);
		v[n].mtime_ms =
		    (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
		v[n].size = (uint64_t)st.st_size;
		total += v[n].size;
		n++;
	}
	if (v)
		qsort(v, n, sizeof(*v), rfile_cmp);
	for (size_t i = 0; i < n; i++) {
		bool old = w->o.retention_age_s > 0 &&
			   (double)(now_ms - v[i].mtime_ms) > w->o.retention_age_s * 1000;
		bool big = w->o.retention_size > 0 && total > w->o.retention_size;
		if (!old && !big)
			break;
		if (unlinkat(dirfd(d), v[i].name, 0) == 0) {
			total -= v[i].size;
			w->st.files_deleted++;
			atomic_fetch_add_explicit(&rec_deleted_total, 1,
						  memory_order_relaxed);
			log_msg(LOGL_INFO, REC, "retention: deleted %s/%s (%s)", w->dir,
				v[i].name, old ? "age" : "total size");
		}
	}
	free(v);
	closedir(d);
}

/* ---- writing ---- */

static bool disk_full(int err)
{
	/* EFBIG: a file-size limit (RLIMIT_FSIZE, quota-like filesystems)
	 * is handled like a full disk: pause and retry later. */
	return err == ENOSPC || err == EDQUOT || err == EFBIG;
}

static int append(struct rec_writer *w, const uint8_t *p, size_t n)
{
	if (w->wlen + n > w->wcap) {
		size_t cap = w->wcap ? w->wcap : 65536;
		while (cap < w->wlen + n)
			cap *= 2;
		uint8_t *b = realloc(w->wbuf, cap);
		if (!b)
			return -ENOMEM;
		w->wbuf = b;
		w->wcap = cap;
	}
	memcpy(w->wbuf + w->wlen, p, n);
	w->wlen += n;
	return 0;
}

/* Write the whole buffer at the end of the file. On failure the partial
 * write is truncated away so that later frames never follow a torn one. */
static int flush_buf(struct rec_writer *w)
{
	size_t done = 0;

	while (done < w->wlen) {
		ssize_t k = w->o.write_fn(w->fd, w->wbuf + done, w->wlen - done);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			int err = k < 0 ? errno : ENOSPC;
			if (done && ftruncate(w->fd, (off_t)w->size) < 0)
				wlog(w, LOGL_WARN,
				     "%s: cannot cut off a partial write: %s", w->path,
				     strerror(errno));
			return -err;
		}
		done += (size_t)k;
	}
	w->size += w->wlen;
	w->st.bytes += w->wlen;
	atomic_fetch_add_explicit(&rec_bytes_total, w->wlen, memory_order_relaxed);
	w->wlen = 0;
	return 0;
}

static int open_file(struct rec_writer *w, int64_t now_ms)
{
	Amrec__FileHeader h = AMREC__FILE_HEADER__INIT;
	char stamp[32];
	time_t t = (time_t)(now_ms / 1000);
	struct tm tm;
	const uint8_t *p;
	size_t n;
	int rc;

	if (mkdir(w->dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	gmtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	/* own_file() must recognise this name: keep the two in step. */
	for (int tries = 0;; tries++) {
		snprintf(w->path, sizeof(w->path), "%s/%s-%s-%llu.amrec", w->dir,
			 w->fhost, stamp, (unsigned long long)w->file_seq);
		w->fd = open(w->path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC,
			     0644);
		if (w->fd >= 0)
			break;
		if (errno != EEXIST || tries > 1000) {
			rc = -errno;
			w->path[0] = '\0';
			return rc;
		}
		w->file_seq++;
	}
	w->size = 0;
	w->file_batches = 0;
	w->opened_ms = now_ms;
	rec_enc_reset(&w->enc);
	h.has_magic = h.has_format_version = true;
	h.magic = REC_HEADER_MAGIC;
	h.format_version = REC_FORMAT_VERSION;
	h.hostname = w->host;
	h.machine_id = w->machine_id[0] ? w->machine_id : NULL;
	h.agent_version = (char *)PACKAGE_VERSION;
	h.has_start_time_ms = h.has_interval_ms = true;
	h.start_time_ms = now_ms;
	h.interval_ms = (uint32_t)(w->o.interval_s * 1000 + 0.5);
	h.has_keyframe_every = true;
	h.keyframe_every = w->enc.keyframe_every;
	h.has_file_seq = true;
	h.file_seq = w->file_seq++;
	h.has_run_id = true;
	h.run_id = w->run_id;
	w->wlen = 0;
	if ((rc = rec_enc_header(&w->enc, &h, &p, &n)) < 0 ||
	    (rc = append(w, p, n)) < 0 || (rc = flush_buf(w)) < 0)
		return rc;
	fsync_dir(w->dir);
	w->unsynced = true;
	w->st.files_opened++;
	return 0;
}

static Amrec__SeriesType series_type(enum am_kind k)
{
	switch (k) {
	case AM_COUNTER:
	case AM_INTEGRAL:
		return AMREC__SERIES_TYPE__SERIES_COUNTER;
	case AM_INFO:
		return AMREC__SERIES_TYPE__SERIES_INFO;
	default:
		return AMREC__SERIES_TYPE__SERIES_GAUGE;
	}
}

static int snap_value_cmp(const void *x, const void *y)
{
	const struct snap_value *a = x, *b = y;
	return a->series < b->series ? -1 : a->series > b->series;
}

/* A counter read in units of `scale` bytes (1024 for NVLink's KiB, 4 for
 * InfiniBand's 4-byte words) only ever holds whole multiples of it: stored
 * as ticks of that step it costs 10 or 2 bits less per value, losslessly. */
static double counter_step(const struct series *se)
{
	const struct famview *v = se->view;
	if (!v || v->kind != AM_COUNTER || !(v->scale > 1) ||
	    v->scale != floor(v->scale) || v->scale > 1e9)
		return 0;
	return v->scale;
}

/* Encode definitions of new series and the batch into wbuf. */
static int encode(struct rec_writer *w, const struct snapshot *s)
{
	const uint8_t *p;
	size_t n, nv = 0;
	int rc;

	size_t nall = s->nvalues + s->nfinals, ns;

	if (nall > w->vcap) {
		size_t cap = nall * 2;
		uint32_t *r = realloc(w->refs, cap * sizeof(*r));
		if (r)
			w->refs = r;
		double *v = realloc(w->vals, cap * sizeof(*v));
		if (v)
			w->vals = v;
		struct snap_value *sv = realloc(w->sorted, cap * sizeof(*sv));
		if (sv)
			w->sorted = sv;
		if (!r || !v || !sv)
			return -ENOMEM;
		w->vcap = cap;
	}
	/* The aggregator lists values in family order; batches want series
	 * refs ascending. */
	if (s->nvalues) {
		memcpy(w->sorted, s->values, s->nvalues * sizeof(*w->sorted));
		qsort(w->sorted, s->nvalues, sizeof(*w->sorted), snap_value_cmp);
	}
	/* A series retired since the last batch is listed once more with its
	 * last value (and is gone from the next batch), so the file holds
	 * everything the agent counted for it. One that came back since is
	 * live: its live value wins. */
	ns = s->nvalues;
	for (size_t i = 0; i < s->nfinals; i++)
		if (!bsearch(&s->finals[i], w->sorted, s->nvalues, sizeof(*w->sorted),
			     snap_value_cmp))
			w->sorted[ns++] = s->finals[i];
	if (ns > s->nvalues)
		qsort(w->sorted, ns, sizeof(*w->sorted), snap_value_cmp);
	for (size_t i = 0; i < ns; i++) {
		uint32_t id = w->sorted[i].series;
		if (nv && id == w->refs[nv - 1])
			continue; /* a series listed twice: keep the first */
		if (!rec_enc_defined(&w->enc, id)) {
			const struct series *se = series_get(id);
			if (!se || !se->fam)
				continue;
			const struct family *f = se->fam;
			/* Label names belong to the registration (accel_info
			 * carries each vendor's own identity labels). */
			unsigned nl = se->view ? se->view->nlabels : f->nlabels;
			char *const *names = se->view ? se->view->labels : f->labels;
			struct rec_series_def d = {
			    .ref = id,
			    .family = f->name,
			    .nlabels = nl,
			    .names = (const char *const *)names,
			    .values = (const char *const *)se->values,
			    .type = series_type(f->kind),
			    .unit = f->unit && *f->unit ? f->unit : NULL,
			    .resolution = rec_resolution(f->name, f->unit),
			    .step = counter_step(se),
			};
			if ((rc = rec_enc_series(&w->enc, &d, &p, &n)) < 0 ||
			    (rc = append(w, p, n)) < 0)
				return rc;
		}
		w->refs[nv] = id;
		w->vals[nv++] = w->sorted[i].value;
	}
	if ((rc = rec_enc_batch(&w->enc, s->wall_ms, w->refs, w->vals, nv, &p, &n)) < 0)
		return rc;
	return append(w, p, n);
}

int rec_writer_write(struct rec_writer *w, const struct snapshot *s, int64_t now_ms)
{
	int rc;

	if (!s || (w->last_gen && s->generation == w->last_gen))
		return 0;
	w->last_gen = s->generation;
	/* Handled, written or not (a dropped batch is counted): the aggregator
	 * need not keep this snapshot's finals for us any longer. */
	snapshot_final_seen(w->final_slot, s->generation);
	if (w->fd >= 0 && ((w->o.max_file_size && w->size >= w->o.max_file_size) ||
			   (w->o.max_file_age_s > 0 && (double)(now_ms - w->opened_ms) >=
							   w->o.max_file_age_s * 1000))) {
		rec_writer_close(w);
	}
	if (w->fd < 0) {
		if ((rc = open_file(w, now_ms)) < 0)
			goto fail;
		retention(w, now_ms);
	}
	w->wlen = 0;
	if ((rc = encode(w, s)) < 0 || (rc = flush_buf(w)) < 0)
		goto fail;
	w->st.batches++;
	w->file_batches++;
	atomic_fetch_add_explicit(&rec_batches_total, 1, memory_order_relaxed);
	w->unsynced = true;
	if (w->o.fsync_interval_s <= 0 ||
	    (double)(now_ms - w->last_fsync_ms) >= w->o.fsync_interval_s * 1000) {
		if (fsync(w->fd) < 0 && disk_full(errno)) {
			rc = -errno;
			goto fail;
		}
		w->last_fsync_ms = now_ms;
		w->unsynced = false;
	}
	if (w->st.paused) {
		log_msg(LOGL_INFO, REC, "%s: writing again; %llu batches were lost",
			w->path, (unsigned long long)w->st.dropped_batches);
		w->st.paused = false;
	}
	return 0;
fail:
	w->st.dropped_batches++;
	w->st.write_errors++;
	atomic_fetch_add_explicit(&rec_dropped_total, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&rec_errors_total, 1, memory_order_relaxed);
	if (!w->st.paused)
		wlog(w, disk_full(-rc) ? LOGL_WARN : LOGL_ERROR,
		     "%s: %s; pausing, retrying every interval (dropped batches "
		     "are counted in accelmon_records_dropped_batches_total)",
		     w->path[0] ? w->path : w->dir, strerror(-rc));
	w->st.paused = true;
	/* The encoder's state may now be ahead of the file: start afresh in a
	 * new file on the next attempt, keeping what is already written. */
	rec_writer_close(w);
	return rc;
}

/* ---- the exporter thread ---- */

struct rec_exp {
	struct rec_writer *w;
	double interval_s;
	pthread_t th;
	pthread_mutex_t lk;
	pthread_cond_t cv;
	bool stop;
};

static void *rec_thread(void *arg)
{
	struct rec_exp *x = arg;
	struct timespec next;

	clock_gettime(CLOCK_MONOTONIC, &next);
	pthread_mutex_lock(&x->lk);
	while (!x->stop) {
		int64_t ns = (int64_t)(x->interval_s * 1e9);
		next.tv_sec += ns / 1000000000;
		next.tv_nsec += ns % 1000000000;
		if (next.tv_nsec >= 1000000000) {
			next.tv_sec++;
			next.tv_nsec -= 1000000000;
		}
		while (!x->stop &&
		       pthread_cond_timedwait(&x->cv, &x->lk, &next) != ETIMEDOUT)
			;
		pthread_mutex_unlock(&x->lk);
		/* On stop, the aggregator has published its final snapshot:
		 * write it too. */
		struct snapshot *s = snapshot_acquire();
		if (s) {
			rec_writer_write(x->w, s, clock_wall_ms());
			snapshot_release(s);
		}
		pthread_mutex_lock(&x->lk);
	}
	pthread_mutex_unlock(&x->lk);
	return NULL;
}

int rec_dir_problem(const char *dir, char *why, size_t whylen)
{
	struct stat st;
	char tmp[PATH_MAX];
	const char *parent;

	if (!*dir) {
		snprintf(why, whylen, "empty path");
		return -EINVAL;
	}
	if (stat(dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode)) {
			snprintf(why, whylen, "%s is not a directory", dir);
			return -ENOTDIR;
		}
		if (access(dir, W_OK | X_OK) < 0) {
			snprintf(why, whylen, "%s: %s", dir, strerror(errno));
			return -EACCES;
		}
		return 0;
	}
	if (errno != ENOENT) {
		snprintf(why, whylen, "%s: %s", dir, strerror(errno));
		return -errno;
	}
	snprintf(tmp, sizeof(tmp), "%s", dir);
	parent = dirname(tmp);
	if (access(parent, W_OK | X_OK) < 0) {
		snprintf(why, whylen, "%s: cannot be created in %s: %s", dir, parent,
			 strerror(errno));
		return -EACCES;
	}
	return 0;
}

/* A size option: the default when absent; -EINVAL when it does not parse
 * or is beyond 2^63. */
static int size_opt(const struct am_config *cfg, const char *key, uint64_t dflt,
		    uint64_t *out)
{
	const char *s = am_cfg_string(cfg, key, NULL);

	*out = dflt;
	return s && rec_parse_size(s, out) < 0 ? -EINVAL : 0;
}

/* The section checked when the config is loaded (FILE:LINE, exit 2 at
 * startup, a reload refused while the running writer goes on), and again
 * by start. No side effects. */
static int rec_check(const struct am_config *cfg, char *key, size_t keylen, char *why,
		     size_t whylen)
{
	static const char *const sizes[] = {"max_file_size", "retention_size"};
	const char *dir = am_cfg_string(cfg, "dir", NULL);
	uint64_t v;

	if (!dir) {
		snprintf(key, keylen, "dir");
		snprintf(why, whylen, "the records exporter needs `dir`");
		return -EINVAL;
	}
	if (rec_dir_problem(dir, why, whylen) < 0) {
		snprintf(key, keylen, "dir");
		return -EINVAL;
	}
	for (size_t i = 0; i < 2; i++)
		if (size_opt(cfg, sizes[i], 0, &v) < 0) {
			snprintf(key, keylen, "%s", sizes[i]);
			snprintf(why, whylen,
				 "'%.100s' is not a size below 8 EiB (e.g. 64MiB)",
				 am_cfg_string(cfg, sizes[i], ""));
			return -EINVAL;
		}
	return 0;
}

/* The writer goes on (same file, no rotation) through a reload that leaves
 * the section as it was. */
static int rec_keep(void *state, const struct agent_config *old,
		    const struct am_config *old_cfg, const struct agent_config *new,
		    const struct am_config *new_cfg)
{
	(void)state, (void)old, (void)new;
	return opts_equal(old_cfg, new_cfg);
}

static int rec_start(const struct agent_config *agent, const struct am_config *cfg,
		     void **state)
{
	struct rec_opts o = {
	    .dir = am_cfg_string(cfg, "dir", NULL),
	    .interval_s = am_cfg_duration(cfg, "interval", 15),
	    .max_file_age_s = am_cfg_duration(cfg, "max_file_age", 86400),
	    .retention_age_s = am_cfg_duration(cfg, "retention_age", 400 * 86400.0),
	    .fsync_interval_s = am_cfg_duration(cfg, "fsync_interval", 30),
	    .keyframe_every = (unsigned)am_cfg_int(cfg, "keyframe_every", 80),
	};
	struct rec_exp *x;
	pthread_condattr_t ca;
	char key[64], why[PATH_MAX + 128];
	int rc;

	(void)agent;
	/* Checked when the config was loaded; the directory may have gone. */
	if (rec_check(cfg, key, sizeof(key), why, sizeof(why)) < 0) {
		log_msg(LOGL_ERROR, REC, "exporters.records.%s: %s", key, why);
		return -EINVAL;
	}
	size_opt(cfg, "max_file_size", 64ull << 20, &o.max_file_size);
	size_opt(cfg, "retention_size", 1ull << 30, &o.retention_size);
	if (o.interval_s < 0.1)
		o.interval_s = 0.1;
	if (o.keyframe_every < 1 || o.keyframe_every > 100000)
		o.keyframe_every = 80;
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	if ((rc = rec_writer_new(&o, &x->w)) < 0) {
		free(x);
		return rc;
	}
	if (mkdir(o.dir, 0755) < 0 && errno != EEXIST) {
		rc = -errno;
		log_msg(LOGL_ERROR, REC, "%s: %s", o.dir, strerror(errno));
		rec_writer_free(x->w);
		free(x);
		return rc;
	}
	x->interval_s = o.interval_s;
	pthread_mutex_init(&x->lk, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&x->cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_once(&rec_stats_once, rec_stats_register);
	if ((rc = pthread_create(&x->th, NULL, rec_thread, x)) != 0) {
		rec_writer_free(x->w);
		free(x);
		return -rc;
	}
	log_msg(LOGL_INFO, REC, "writing %s every %gs", o.dir, o.interval_s);
	*state = x;
	return 0;
}

static void rec_stop(void *state)
{
	struct rec_exp *x = state;

	if (!x)
		return;
	pthread_mutex_lock(&x->lk);
	x->stop = true;
	pthread_cond_signal(&x->cv);
	pthread_mutex_unlock(&x->lk);
	pthread_join(x->th, NULL);
	rec_writer_free(x->w);
	pthread_cond_destroy(&x->cv);
	pthread_mutex_destroy(&x->lk);
	free(x);
}

const struct am_exporter records_exporter = {
    .name = REC,
    .flags = AM_COLLECTOR_NEEDS_CONFIG,
    .options = rec_options,
    .start = rec_start,
    .stop = rec_stop,
    .keep = rec_keep,
    .check = rec_check,
};
