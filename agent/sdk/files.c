/* The sysfs file layer of the collector helpers (accelmon/util.h): a
 * collector's files are opened once and read with one pread at offset 0 (sysfs
 * regenerates an attribute on every read there), within an fd budget; a file
 * that fails is counted, logged without flooding and retried with back-off on
 * the poll clock, so a broken counter costs one read per back-off step.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "accelmon/util.h"

#define FILES_DEFAULT_BUDGET 256
#define FILES_BACKOFF_MIN_S 10
#define FILES_BACKOFF_MAX_S 600
/* Failure lines per set per minute of poll time: a vanished HCA fails some
 * fifty files at once; the rest of such a burst is summarized. */
#define FILES_LOG_BURST 8
#define FILES_LOG_WINDOW_NS (60 * 1000000000LL)
/* A number's file is read whole: a sysfs attribute is at most a page, and
 * dump tools and some drivers pad one with NULs up to it (a page read into
 * a smaller buffer would be "longer than expected"). */
#define FILES_U64_BUF (4096 + 1)

struct am_file {
	struct am_files *set;
	struct am_file *prev, *next;
	int dirfd;	    /* borrowed from the caller */
	int fd;		    /* held open between reads, else -1 */
	bool keep;	    /* within the budget: hold it open */
	bool failed;	    /* in back-off until retry_ns */
	int err;	    /* error of the last failure */
	int expect;	    /* an error that is an answer (am_file_expect) */
	uint32_t backoff_s; /* current step; 0: no failure streak */
	int64_t retry_ns;
	unsigned fails;	 /* failures in this streak */
	const char *rel; /* path as given (relative to dirfd) */
	char path[];	 /* for messages: full path when known, then rel */
};

struct am_files {
	struct am_ctx *ctx;
	unsigned budget, held;
	struct am_file *head;
	int64_t log_t0;
	unsigned log_lines, log_suppressed;
};

struct am_files *am_files_new(struct am_ctx *ctx, unsigned fd_budget)
{
	struct am_files *fs = calloc(1, sizeof(*fs));

	if (!fs)
		return NULL;
	fs->ctx = ctx;
	fs->budget = fd_budget ? fd_budget : FILES_DEFAULT_BUDGET;
	return fs;
}

static void file_close(struct am_file *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
}

void am_files_free(struct am_files *fs)
{
	struct am_file *f, *next;

	if (!fs)
		return;
	for (f = fs->head; f; f = next) {
		next = f->next;
		file_close(f);
		free(f);
	}
	free(fs);
}

/* The directory behind dirfd, for messages that name the file: resolved once
 * here (setup time), never while polling. "" when unknown. */
static void dir_name(int dirfd, char *out, size_t cap)
{
	char link[64];
	ssize_t n;

	out[0] = '\0';
	if (dirfd == AT_FDCWD)
		return;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", dirfd);
	n = readlink(link, out, cap - 1);
	if (n <= 0 || (size_t)n >= cap - 1) {
		out[0] = '\0';
		return;
	}
	out[n] = '\0';
}

struct am_file *am_file_add(struct am_files *fs, int dirfd, const char *path)
{
	char dir[PATH_MAX];
	size_t dl, pl;
	struct am_file *f;

	if (!fs || !path || !*path)
		return NULL;
	dir_name(path[0] == '/' ? AT_FDCWD : dirfd, dir, sizeof(dir));
	dl = strlen(dir);
	pl = strlen(path);
	f = calloc(1, sizeof(*f) + dl + 1 + pl + 1);
	if (!f)
		return NULL;
	if (dl) {
		memcpy(f->path, dir, dl);
		f->path[dl++] = '/';
	}
	memcpy(f->path + dl, path, pl + 1);
	f->rel = f->path + dl;
	f->set = fs;
	f->dirfd = dirfd;
	f->fd = -1;
	if (fs->held < fs->budget) {
		f->keep = true;
		fs->held++;
	}
	f->next = fs->head;
	if (fs->head)
		fs->head->prev = f;
	fs->head = f;
	return f;
}

void am_file_remove(struct am_files *fs, struct am_file *f)
{
	if (!fs || !f)
		return;
	file_close(f);
	if (f->prev)
		f->prev->next = f->next;
	else
		fs->head = f->next;
	if (f->next)
		f->next->prev = f->prev;
	if (f->keep) {
		struct am_file *o;

		/* Hand its place in the budget to a file read per open. */
		fs->held--;
		for (o = fs->head; o && o->keep; o = o->next)
			;
		if (o) {
			o->keep = true;
			fs->held++;
		}
	}
	free(f);
}

const char *am_file_path(const struct am_file *f)
{
	return f ? f->path : NULL;
}

/* What a refused value was, for the message; strerror for the rest. */
static const char *file_why(int err)
{
	return err == -EINVAL	? "not an unsigned number"
	       : err == -ERANGE ? "number out of range"
				: strerror(-err);
}

/* Count, back off and (within the set's burst) log one failure. A streak of
 * the same error is logged once, at its start. */
static void file_fail(struct am_file *f, int err, const char *why)
{
	struct am_files *fs = f->set;
	int64_t now = am_poll_time_ns(fs->ctx);
	bool log = f->backoff_s == 0 || err != f->err;

	f->failed = true;
	f->err = err;
	f->fails++;
	f->backoff_s = f->backoff_s ? f->backoff_s * 2 : FILES_BACKOFF_MIN_S;
	if (f->backoff_s > FILES_BACKOFF_MAX_S)
		f->backoff_s = FILES_BACKOFF_MAX_S;
	f->retry_ns = now + (int64_t)f->backoff_s * 1000000000LL;
	am_read_error(fs->ctx);
	if (!log)
		return;
	if (now - fs->log_t0 >= FILES_LOG_WINDOW_NS || now < fs->log_t0) {
		if (fs->log_suppressed)
			am_log(fs->ctx, AM_LOG_WARN,
			       "%u more failing file(s) not logged in the last minute",
			       fs->log_suppressed);
		fs->log_t0 = now;
		fs->log_lines = fs->log_suppressed = 0;
	}
	if (fs->log_lines >= FILES_LOG_BURST) {
		fs->log_suppressed++;
		return;
	}
	fs->log_lines++;
	am_log(fs->ctx, AM_LOG_WARN, "%s: %s (retry in %us, backing off up to %us)",
	       f->path, why ? why : strerror(-err), f->backoff_s, FILES_BACKOFF_MAX_S);
}

void am_file_expect(struct am_file *f, int err)
{
	if (f)
		f->expect = err < 0 ? err : 0;
}

void am_file_fail(struct am_file *f, int err, const char *why)
{
	if (f)
		file_fail(f, err < 0 ? err : -EINVAL, why);
}

ssize_t am_file_read(struct am_file *f, char *buf, size_t cap)
{
	struct am_files *fs;
	int fd, err;
	ssize_t n;

	if (!f || !buf || cap == 0)
		return -EINVAL;
	fs = f->set;
	if (f->failed && am_poll_time_ns(fs->ctx) < f->retry_ns)
		return -EAGAIN;
	/* The last read was good and the collector did not refuse what it
	 * read (am_file_fail): the streak is over. */
	if (!f->failed && f->backoff_s) {
		am_log(fs->ctx, AM_LOG_INFO, "%s: readable again after %u failure(s)",
		       f->path, f->fails);
		f->backoff_s = 0;
		f->fails = 0;
	}
	/* Named by the watchdog if the open or the read never returns (a
	 * driver stuck in a firmware query). */
	am_call_begin(fs->ctx, f->path);
	fd = f->fd;
	if (fd < 0) {
		/* O_NONBLOCK: a FIFO or device node in place of an attribute
		 * must fail, never block the collector thread. */
		fd = openat(f->dirfd, f->rel,
			    O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
		if (fd < 0) {
			err = -errno;
			am_call_end(fs->ctx);
			if (err == f->expect) {
				f->failed = false;
				return err;
			}
			file_fail(f, err, NULL);
			return err;
		}
	}
	/* One read: sysfs hands over the whole attribute at once, and a second
	 * read at another offset would make the driver generate it again
	 * (for IB counters a firmware query). cap bytes, one more than fit,
	 * tell a file that fits from a longer one. */
	n = pread(fd, buf, cap, 0);
	err = n < 0 ? -errno : 0;
	am_call_end(fs->ctx);
	/* An expected error is the file's answer: its fd stays good. */
	if ((n >= 0 || (err && err == f->expect)) && f->keep)
		f->fd = fd;
	else if (fd != f->fd || n < 0) {
		close(fd); /* a device that went away: opened again at the retry */
		f->fd = -1;
	}
	if (n < 0) {
		if (err == f->expect) {
			buf[0] = '\0';
			f->failed = false;
			return err;
		}
		file_fail(f, err, NULL);
		return err;
	}
	if ((size_t)n == cap) {
		buf[cap - 1] = '\0';
		file_fail(f, -EFBIG, "longer than expected");
		return -EFBIG;
	}
	buf[n] = '\0';
	f->failed = false;
	return n;
}

int am_file_read_u64(struct am_file *f, uint64_t *out)
{
	char buf[FILES_U64_BUF], why[80];
	ssize_t n = am_file_read(f, buf, sizeof(buf));
	int rc;

	if (n < 0)
		return (int)n;
	rc = am_parse_u64(buf, (size_t)n, out);
	if (rc < 0) {
		/* The text, cut and without its newline, says what was there. */
		while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
			buf[--n] = '\0';
		snprintf(why, sizeof(why), "%s: \"%.32s\"", file_why(rc), buf);
		file_fail(f, rc, why);
	}
	return rc;
}

/* Read path to EOF into buf (up to cap bytes); bytes read or -errno. */
static ssize_t read_to_eof(int dirfd, const char *path, char *buf, size_t cap)
{
	size_t got = 0;
	int fd;

	fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return -errno;
	/* To EOF (a /proc file comes in pieces); reading up to cap bytes tells
	 * a file that fits from one judged on a prefix. */
	while (got < cap) {
		ssize_t n = read(fd, buf + got, cap - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = -errno;

			close(fd);
			return e;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	return (ssize_t)got;
}

ssize_t am_read_text_at(int dirfd, const char *path, char *buf, size_t cap)
{
	ssize_t rc;
	size_t got;

	if (!path || !buf || cap == 0)
		return -EINVAL;
	/* No context here: the calling collector thread's own (NULL). The
	 * path as given; discovery passes full paths. */
	am_call_begin(NULL, path);
	rc = read_to_eof(dirfd, path, buf, cap);
	am_call_end(NULL);
	if (rc < 0)
		return rc;
	got = (size_t)rc;
	if (got == cap) {
		buf[cap - 1] = '\0';
		return -EFBIG;
	}
	/* NUL padding (dump tools, some drivers) goes with the white space. */
	while (got > 0 &&
	       (buf[got - 1] == '\n' || buf[got - 1] == ' ' || buf[got - 1] == '\t' ||
		buf[got - 1] == '\r' || buf[got - 1] == '\0'))
		got--;
	buf[got] = '\0';
	return (ssize_t)got;
}

int am_read_u64_at(int dirfd, const char *path, uint64_t *out)
{
	char buf[FILES_U64_BUF];
	ssize_t n = am_read_text_at(dirfd, path, buf, sizeof(buf));

	if (n < 0)
		return (int)n;
	return am_parse_u64(buf, (size_t)n, out);
}
