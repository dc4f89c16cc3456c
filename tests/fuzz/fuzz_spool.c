/* libFuzzer target for the remote-write spool's reader
 * (exporters/remote_write_spool.c): the input becomes a spool directory (its
 * first byte the length of a `state` file taken from the bytes after it, the
 * rest one segment file), which rw_spool_open scans as after a crash; every
 * queued record is then read back and popped. Checked: each record comes
 * after the saved position and lies within the segment, the queue drains to
 * empty with no segment left behind, and a record pushed afterwards reads
 * back unchanged. Built by `make fuzz`:
 *   make fuzz-spool && tests/fuzz/fuzz_spool tests/fuzz/corpus/spool
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exporters/remote_write_spool.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];

static void put(const char *name, const uint8_t *p, size_t n)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || (n && write(fd, p, n) != (ssize_t)n))
		abort();
	close(fd);
}

/* Segment files left in the directory. */
static int segments(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		abort();
	while ((e = readdir(d)))
		n += !strncmp(e->d_name, "seg-", 4);
	closedir(d);
	return n;
}

static void empty_dir(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		abort();
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t body[] = "a request body";
	size_t slen = size ? data[0] & 63u : 0;
	struct rw_spool *q;
	struct rw_spool_stats st;
	struct rw_pos sent, pos, p2 = {INT64_C(1) << 60, 7};
	uint64_t records, seen = 0;

	if (!dir[0]) {
		log_set_level(LOGL_ERROR); /* damaged frames are logged as warnings */
		snprintf(dir, sizeof(dir), "%s/fuzz-spool-XXXXXX",
			 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
		if (!mkdtemp(dir))
			abort();
	}
	if (size < 1 + slen)
		return 0;
	empty_dir();
	if (slen)
		put("state", data + 1, slen);
	put("seg-0000000000000001.rws", data + 1 + slen, size - 1 - slen);
	if (rw_spool_open(dir, 1 << 20, &q) < 0)
		abort();
	rw_spool_stats(q, &st);
	records = st.records;
	sent = rw_spool_sent(q);
	for (;;) {
		const uint8_t *b;
		uint32_t ns;
		size_t len;
		int rc = rw_spool_peek(q, &pos, &ns, &b, &len);

		if (rc == -ENOENT)
			break;
		if (rc == 0 && (rw_pos_cmp(&pos, &sent) <= 0 || len > size))
			abort();
		if (rc != 0 && rc != -EIO)
			abort();
		rw_spool_pop(q, rc == 0);
		if (++seen > records)
			abort();
	}
	if (seen != records || !rw_spool_empty(q) || segments() != 0)
		abort();
	/* Writing goes on after whatever was read. */
	if (rw_spool_push(q, &p2, 3, body, sizeof(body)) == 0) {
		const uint8_t *b;
		uint32_t ns;
		size_t len;

		if (rw_spool_peek(q, &pos, &ns, &b, &len) != 0 || ns != 3 ||
		    len != sizeof(body) || memcmp(b, body, len) || rw_pos_cmp(&pos, &p2))
			abort();
	}
	rw_spool_close(q);
	return 0;
}
