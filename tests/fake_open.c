/* Open and read faults by interposition (see fake_open.h): this program's
 * openat, pread and close, which the file helpers call, check the rules and
 * otherwise make the system call themselves. Only for test programs.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fake_open.h"

#define FAKE_OPEN_RULES 8
#define FAKE_OPEN_FDS 64

static struct {
	const char *suffix;
	int err;
	bool open;
} rules[FAKE_OPEN_RULES];
static int read_fault_fd[FAKE_OPEN_FDS], read_fault_err[FAKE_OPEN_FDS];
static unsigned nopens, nwatched;
static const char *watch;
static void (*during)(const char *path, void *arg);
static void *during_arg;

void fake_open_during(void (*fn)(const char *path, void *arg), void *arg)
{
	during = fn;
	during_arg = arg;
}

void fake_open_fail(const char *suffix, int err, bool open)
{
	for (int i = 0; i < FAKE_OPEN_RULES; i++)
		if (!rules[i].suffix) {
			rules[i].suffix = suffix;
			rules[i].err = err;
			rules[i].open = open;
			return;
		}
}

void fake_open_reset(void)
{
	memset(rules, 0, sizeof(rules));
	memset(read_fault_fd, 0, sizeof(read_fault_fd));
	nopens = nwatched = 0;
	watch = NULL;
	during = NULL;
}

unsigned fake_open_count(void)
{
	return nopens;
}

unsigned fake_open_watched(void)
{
	return nwatched;
}

void fake_open_watch(const char *needle)
{
	watch = needle;
	nwatched = 0;
}

/* The first rule for this path and kind, or NULL. */
static int fake_rule(const char *path, bool open)
{
	size_t pl = strlen(path);

	for (int i = 0; i < FAKE_OPEN_RULES && rules[i].suffix; i++) {
		size_t sl = strlen(rules[i].suffix);

		if (rules[i].open == open && pl >= sl &&
		    strcmp(path + pl - sl, rules[i].suffix) == 0)
			return rules[i].err;
	}
	return 0;
}

static int fake_openat(int dirfd, const char *path, int flags, mode_t mode)
{
	int err, fd;

	nopens++;
	if (during)
		during(path, during_arg);
	if (watch && strstr(path, watch))
		nwatched++;
	err = fake_rule(path, true);
	if (err) {
		errno = err;
		return -1;
	}
	fd = (int)syscall(SYS_openat, dirfd, path, flags, mode);
	/* (fd + 1 so that 0 means "no fault") */
	if (fd >= 0 && fd < FAKE_OPEN_FDS) {
		err = fake_rule(path, false);
		read_fault_fd[fd] = err ? fd + 1 : 0;
		read_fault_err[fd] = err;
	}
	return fd;
}

int openat(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;

	if (flags & (O_CREAT | __O_TMPFILE)) {
		va_list ap;

		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	return fake_openat(dirfd, path, flags, mode);
}

/* What a fortified openat with non-constant flags calls. */
int __openat_2(int dirfd, const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags)
{
	return fake_openat(dirfd, path, flags, 0);
}

ssize_t pread(int fd, void *buf, size_t n, off_t off)
{
	if (during)
		during(NULL, during_arg);
	if (fd >= 0 && fd < FAKE_OPEN_FDS && read_fault_fd[fd] == fd + 1) {
		errno = read_fault_err[fd];
		return -1;
	}
	return (ssize_t)syscall(SYS_pread64, fd, buf, n, off);
}

int close(int fd)
{
	if (fd >= 0 && fd < FAKE_OPEN_FDS)
		read_fault_fd[fd] = 0;
	return (int)syscall(SYS_close, fd);
}
