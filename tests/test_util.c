/* Check suite for the collector helpers (agent/sdk, accelmon/util.h): the
 * number rule against every edge case of the parsers it replaces, the file
 * layer on fake poll time (pread of changing files, fd budget, back-off,
 * recovery, counted errors, log bursts), the name filter through the real
 * option store, PCI identity and nearest accelerator on the InfiniBand
 * fixture trees (checked against what the IB collector reports), and vendor
 * library loading against the fake libnvidia-ml in both variants.
 */
#include <check.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "accelmon/util.h"
#include "fake_am.h"
#include "fake_open.h"
#include "fixture_tree.h"

#ifndef FAKE_NVML_DIR
#error "FAKE_NVML_DIR must name the build directory of the fake library"
#endif
#define FAKE_LIB FAKE_NVML_DIR "/libnvidia-ml.so.1"
#define FAKE_OLD_LIB FAKE_NVML_DIR "/old/libnvidia-ml.so.1"
#define S(x) ((int64_t)((x)*1e9))

extern const struct am_collector infiniband_collector;

static void violation(const char *msg)
{
	ck_abort_msg("%s", msg);
}

/* ---- numbers ---- */

/* One row per input; `old` says what the parser it replaces did when that
 * differs (IB: ib_parse_u64, ND: netdev's strtoull, AMD: amdgpu_parse_u64,
 * HEX: strtoul(s, 16) of PCI ids). */
static const struct {
	const char *in;
	size_t n; /* 0: strlen */
	int ret;
	uint64_t v;
} parse_rows[] = {
    {"0\n", 0, 0, 0},
    {"42", 0, 0, 42},
    {"4000034819001\n", 0, 0, 4000034819001ull},
    {"18446744073709551615\n", 0, 0, UINT64_MAX},
    /* 2^53 + 1 and the largest prime below 2^64: exact, no double */
    {"9007199254740993\n", 0, 0, 9007199254740993ull},
    {"18446744073709551557", 0, 0, 18446744073709551557ull},
    {"0x20000000000001", 0, 0, 9007199254740993ull},
    {"0xffffffffffffffff\n", 0, 0, UINT64_MAX},
    /* past 2^64: IB and ND said -EINVAL, AMD -ERANGE */
    {"18446744073709551616\n", 0, -ERANGE, 0},
    {"123456789012345678901", 0, -ERANGE, 0},
    {"123456789012345678901234567890", 0, -ERANGE, 0},
    {"0x10000000000000000", 0, -ERANGE, 0},
    /* too long but junk: junk wins */
    {"99999999999999999999999x", 0, -EINVAL, 0},
    /* leading zeros are decimal (not octal); IB and ND refused > 20 chars */
    {"007", 0, 0, 7},
    {"00000000000000000000042\n", 0, 0, 42},
    /* hex: sysfs PCI ids; IB, ND and AMD refused 0x */
    {"0x10\n", 0, 0, 16},
    {"0X1F", 0, 0, 31},
    {"0x15b3\n", 0, 0, 0x15b3},
    {"0x030200\n", 0, 0, 0x030200},
    {"0x", 0, -EINVAL, 0},
    {"0x\n", 0, -EINVAL, 0},
    {"0xg", 0, -EINVAL, 0},
    {"0x 5", 0, -EINVAL, 0},
    /* HEX took these without a prefix */
    {"15b3", 0, -EINVAL, 0},
    {"ff", 0, -EINVAL, 0},
    /* white space: IB refused leading, ND trimmed only ' ' and '\n' at the
     * end, AMD took leading ' ' and '\t' */
    {" 7", 0, 0, 7},
    {"\t7\t\n", 0, 0, 7},
    {"5\r\n", 0, 0, 5},
    {"12 \n", 0, 0, 12},
    {"7 8", 0, -EINVAL, 0},
    {"", 0, -EINVAL, 0},
    {"\n", 0, -EINVAL, 0},
    {"   ", 0, -EINVAL, 0},
    /* signs: ND took "+5" and " -5" (as 2^64 - 5) through strtoull */
    {"-5\n", 0, -EINVAL, 0},
    {" -5", 0, -EINVAL, 0},
    {"+5", 0, -EINVAL, 0},
    {"-0", 0, -EINVAL, 0},
    /* other text */
    {"N/A (no PMA)\n", 0, -EINVAL, 0},
    {"12abc\n", 0, -EINVAL, 0},
    {"1e3", 0, -EINVAL, 0},
    {"1.0", 0, -EINVAL, 0},
    {"4: ACTIVE\n", 0, -EINVAL, 0},
    {"\xd9\xa3", 0, -EINVAL, 0}, /* ARABIC-INDIC DIGIT THREE */
    /* explicit lengths: a prefix, an embedded NUL */
    {"123456", 3, 0, 123},
    {"7\n\0garbage", 2, 0, 7},
    /* trailing NUL padding (dump tools, some drivers) is white space; it was
     * -EINVAL before issue 10, which made whole cards vanish */
    {"5\0", 2, 0, 5},
    {"1500\n\0\0\0", 8, 0, 1500},
    {"0x15b3\0\n\0", 9, 0, 0x15b3},
    {"12 \0 \0", 6, 0, 12},
    /* ... but never before the digits, between them, or with text after */
    {"\0\0", 2, -EINVAL, 0},
    {"\0005", 2, -EINVAL, 0},
    {"1\0002", 3, -EINVAL, 0},
    {"7\0x", 3, -EINVAL, 0},
};

START_TEST(t_parse_table)
{
	for (size_t i = 0; i < sizeof(parse_rows) / sizeof(parse_rows[0]); i++) {
		uint64_t v = 999;
		size_t n = parse_rows[i].n ? parse_rows[i].n : strlen(parse_rows[i].in);
		int r = am_parse_u64(parse_rows[i].in, n, &v);

		ck_assert_msg(r == parse_rows[i].ret, "row %zu \"%s\": %d, want %d", i,
			      parse_rows[i].in, r, parse_rows[i].ret);
		if (r == 0)
			ck_assert_msg(v == parse_rows[i].v, "row %zu: %llu", i,
				      (unsigned long long)v);
		else
			ck_assert_msg(v == 999, "row %zu: output written on failure", i);
	}
}
END_TEST

/* (size_t)-1: up to the NUL; every value printed back parses the same. */
START_TEST(t_parse_nul_and_round_trip)
{
	static const uint64_t vals[] = {
	    0, 1, 9007199254740992ull, 9007199254740993ull, UINT64_MAX - 1, UINT64_MAX};
	uint64_t v;

	ck_assert_int_eq(am_parse_u64("0x2a\n", (size_t)-1, &v), 0);
	ck_assert_uint_eq(v, 42);
	ck_assert_int_eq(am_parse_u64(NULL, 1, &v), -EINVAL);
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		char buf[40];

		snprintf(buf, sizeof(buf), "%llu\n", (unsigned long long)vals[i]);
		ck_assert_int_eq(am_parse_u64(buf, (size_t)-1, &v), 0);
		ck_assert(v == vals[i]);
		snprintf(buf, sizeof(buf), "0x%llx", (unsigned long long)vals[i]);
		ck_assert_int_eq(am_parse_u64(buf, (size_t)-1, &v), 0);
		ck_assert(v == vals[i]);
	}
}
END_TEST

/* ---- files ---- */

static char tdir[256];
static struct am_ctx *ctx;

static void file_setup(void)
{
	snprintf(tdir, sizeof(tdir), "/tmp/test_util.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tdir));
	ctx = fake_am_new("util", tdir);
	fake_am_on_violation(violation);
}

static void file_teardown(void)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tdir);
	ck_assert_int_eq(system(cmd), 0);
	fake_am_free(ctx);
}

static const char *tpath(const char *name)
{
	static char p[4][PATH_MAX + 64];
	static unsigned k;
	char *s = p[k++ % 4];

	snprintf(s, PATH_MAX + 64, "%s/%s", tdir, name);
	return s;
}

static void twrite(const char *name, const char *text)
{
	fixture_put(tpath(name), text);
}

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static uint64_t rd(struct am_file *f, int *rc)
{
	uint64_t v = 0;

	*rc = am_file_read_u64(f, &v);
	return v;
}

START_TEST(t_file_changes_under_held_fd)
{
	struct am_files *fs = am_files_new(ctx, 0);
	struct am_file *f;
	char buf[64];
	int rc, fds;

	twrite("ctr", "1\n");
	f = am_file_add(fs, AT_FDCWD, tpath("ctr"));
	ck_assert_ptr_nonnull(f);
	ck_assert_str_eq(am_file_path(f), tpath("ctr"));
	fds = open_fds();
	ck_assert_uint_eq(rd(f, &rc), 1);
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(open_fds(), fds + 1); /* held */
	/* same inode rewritten: the held fd reads from offset 0 again */
	twrite("ctr", "123456789012345678\n");
	ck_assert_uint_eq(rd(f, &rc), 123456789012345678ull);
	twrite("ctr", "7\n");
	ck_assert_uint_eq(rd(f, &rc), 7);
	ck_assert_int_eq(open_fds(), fds + 1);
	/* text and its length, NUL-terminated */
	twrite("ctr", "4: ACTIVE\n");
	ck_assert_int_eq(am_file_read(f, buf, sizeof(buf)), 10);
	ck_assert_str_eq(buf, "4: ACTIVE\n");
	ck_assert_uint_eq(fake_am_read_errors(ctx), 0);
	am_files_free(fs);
	ck_assert_int_eq(open_fds(), fds);
}
END_TEST

/* Paths relative to a directory fd; messages name the whole path. */
START_TEST(t_file_dirfd)
{
	struct am_files *fs = am_files_new(ctx, 0);
	int dfd, rc;
	struct am_file *f, *g;

	ck_assert_int_eq(mkdir(tpath("dev"), 0755), 0);
	twrite("dev/mem_info_vram_used", "12345\n");
	dfd = open(tpath("dev"), O_RDONLY | O_DIRECTORY);
	ck_assert_int_ge(dfd, 0);
	f = am_file_add(fs, dfd, "mem_info_vram_used");
	g = am_file_add(fs, dfd, "missing");
	ck_assert_str_eq(am_file_path(f), tpath("dev/mem_info_vram_used"));
	ck_assert_uint_eq(rd(f, &rc), 12345);
	rd(g, &rc);
	ck_assert_int_eq(rc, -ENOENT);
	ck_assert_uint_eq(fake_am_log_count(ctx, tpath("dev/missing")), 1);
	am_files_free(fs);
	close(dfd);
}
END_TEST

START_TEST(t_fd_budget)
{
	struct am_files *fs = am_files_new(ctx, 4);
	struct am_file *f[10];
	int fds = open_fds(), rc;

	for (int i = 0; i < 10; i++) {
		char name[16], val[16];

		snprintf(name, sizeof(name), "f%d", i);
		snprintf(val, sizeof(val), "%d\n", 100 + i);
		twrite(name, val);
		f[i] = am_file_add(fs, AT_FDCWD, tpath(name));
	}
	for (int round = 0; round < 2; round++)
		for (int i = 0; i < 10; i++) {
			ck_assert_uint_eq(rd(f[i], &rc), 100 + (unsigned)i);
			ck_assert_int_eq(rc, 0);
		}
	ck_assert_int_eq(open_fds(), fds + 4);
	/* files past the budget see changes too (opened per read) */
	twrite("f9", "999\n");
	ck_assert_uint_eq(rd(f[9], &rc), 999);
	/* a held file removed: its place goes to a file read per open */
	am_file_remove(fs, f[0]);
	ck_assert_int_eq(open_fds(), fds + 3);
	for (int i = 1; i < 10; i++)
		rd(f[i], &rc);
	ck_assert_int_eq(open_fds(), fds + 4);
	ck_assert_uint_eq(fake_am_read_errors(ctx), 0);
	am_files_free(fs);
	ck_assert_int_eq(open_fds(), fds);
	/* 0: the default budget of 256 */
	fs = am_files_new(ctx, 0);
	{
		struct am_file *many[300];

		for (int i = 0; i < 300; i++)
			many[i] = am_file_add(fs, AT_FDCWD, tpath("f1"));
		for (int i = 0; i < 300; i++)
			ck_assert_uint_eq(rd(many[i], &rc), 101);
	}
	ck_assert_int_eq(open_fds(), fds + 256);
	am_files_free(fs);
}
END_TEST

/* 10 s, doubling to 10 min, on the poll clock; a waiting file is not
 * touched, not counted and not logged again. */
START_TEST(t_backoff_timing)
{
	struct am_files *fs = am_files_new(ctx, 0);
	struct am_file *f = am_file_add(fs, AT_FDCWD, tpath("gone"));
	static const struct {
		double t;
		int rc;
		unsigned errors;
	} steps[] = {
	    {1, -ENOENT, 1},
	    {5, -EAGAIN, 1},
	    {10.9, -EAGAIN, 1},
	    {11, -ENOENT, 2},
	    {30, -EAGAIN, 2},
	    {31, -ENOENT, 3},
	    {70, -EAGAIN, 3},
	    {71, -ENOENT, 4},
	    {151, -ENOENT, 5},
	    {311, -ENOENT, 6},
	    {630, -EAGAIN, 6},
	    {631, -ENOENT, 7},
	    /* capped at 600 s from here on */
	    {1230, -EAGAIN, 7},
	    {1231, -ENOENT, 8},
	    {1830, -EAGAIN, 8},
	    {1831, -ENOENT, 9},
	};
	char buf[32];

	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		fake_am_set_time(ctx, S(steps[i].t));
		ck_assert_msg(am_file_read(f, buf, sizeof(buf)) == steps[i].rc, "t=%g",
			      steps[i].t);
		ck_assert_msg(fake_am_read_errors(ctx) == steps[i].errors, "t=%g: %llu",
			      steps[i].t, (unsigned long long)fake_am_read_errors(ctx));
	}
	/* one line for the whole streak of the same error */
	ck_assert_uint_eq(fake_am_log_count(ctx, "No such file or directory"), 1);
	ck_assert_uint_eq(fake_am_log_count(ctx, "retry in 10s"), 1);
	am_files_free(fs);
}
END_TEST

START_TEST(t_recovery)
{
	struct am_files *fs = am_files_new(ctx, 0);
	struct am_file *f = am_file_add(fs, AT_FDCWD, tpath("late"));
	int rc;

	fake_am_set_time(ctx, S(1));
	rd(f, &rc);
	ck_assert_int_eq(rc, -ENOENT);
	fake_am_set_time(ctx, S(11));
	rd(f, &rc); /* next retry at 31 */
	twrite("late", "55\n");
	fake_am_set_time(ctx, S(25));
	rd(f, &rc);
	ck_assert_int_eq(rc, -EAGAIN); /* not looked at before its time */
	fake_am_set_time(ctx, S(31));
	ck_assert_uint_eq(rd(f, &rc), 55);
	ck_assert_int_eq(rc, 0);
	fake_am_set_time(ctx, S(32));
	ck_assert_uint_eq(rd(f, &rc), 55);
	ck_assert_uint_eq(fake_am_log_count(ctx, "readable again after 2 failure(s)"), 1);
	ck_assert_uint_eq(fake_am_read_errors(ctx), 2);
	/* a new failure starts again at 10 s */
	ck_assert_int_eq(unlink(tpath("late")), 0);
	twrite("other", "1\n"); /* the held fd still reads the unlinked inode */
	am_file_remove(fs, f);
	f = am_file_add(fs, AT_FDCWD, tpath("late"));
	fake_am_set_time(ctx, S(40));
	rd(f, &rc);
	ck_assert_int_eq(rc, -ENOENT);
	fake_am_set_time(ctx, S(49.9));
	rd(f, &rc);
	ck_assert_int_eq(rc, -EAGAIN);
	fake_am_set_time(ctx, S(50));
	rd(f, &rc);
	ck_assert_int_eq(rc, -ENOENT);
	am_files_free(fs);
}
END_TEST

/* Garbage that reads fine keeps doubling the back-off; so does a value the
 * collector refuses with am_file_fail. */
START_TEST(t_refused_content)
{
	struct am_files *fs = am_files_new(ctx, 0);
	struct am_file *g, *w;
	int rc;

	twrite("garbage", "12abc\n");
	twrite("wide", "5000000000\n");
	g = am_file_add(fs, AT_FDCWD, tpath("garbage"));
	w = am_file_add(fs, AT_FDCWD, tpath("wide"));
	fake_am_set_time(ctx, S(1));
	rd(g, &rc);
	ck_assert_int_eq(rc, -EINVAL);
	ck_assert_uint_eq(fake_am_log_count(ctx, "not an unsigned number: \"12abc\""), 1);
	fake_am_set_time(ctx, S(11));
	rd(g, &rc);
	ck_assert_int_eq(rc, -EINVAL);
	fake_am_set_time(ctx, S(30));
	rd(g, &rc);
	ck_assert_int_eq(rc, -EAGAIN);
	fake_am_set_time(ctx, S(31));
	rd(g, &rc);
	ck_assert_int_eq(rc, -EINVAL);
	ck_assert_uint_eq(fake_am_read_errors(ctx), 3);

	/* too large for a 32-bit counter: the collector says so */
	fake_am_set_time(ctx, S(100));
	ck_assert_uint_eq(rd(w, &rc), 5000000000ull);
	am_file_fail(w, -ERANGE, "value wider than the counter");
	ck_assert_uint_eq(fake_am_log_count(ctx, "value wider than the counter"), 1);
	fake_am_set_time(ctx, S(110));
	ck_assert_uint_eq(rd(w, &rc), 5000000000ull);
	am_file_fail(w, -ERANGE, "value wider than the counter");
	fake_am_set_time(ctx, S(129));
	rd(w, &rc);
	ck_assert_int_eq(rc, -EAGAIN); /* 20 s now, not 10 again */
	fake_am_set_time(ctx, S(130));
	ck_assert_uint_eq(rd(w, &rc), 5000000000ull);
	ck_assert_uint_eq(fake_am_read_errors(ctx), 5);
	am_files_free(fs);
}
END_TEST

/* Files that fail even for root, each one counted read error. */
START_TEST(t_read_errors)
{
	struct am_files *fs = am_files_new(ctx, 0);
	char buf[8];
	struct am_file *dir, *fifo, *dangling, *big;

	ck_assert_int_eq(mkdir(tpath("adir"), 0755), 0);
	ck_assert_int_eq(mkfifo(tpath("fifo"), 0644), 0);
	ck_assert_int_eq(symlink("/nonexistent/accelmon", tpath("dangling")), 0);
	twrite("big", "12345678\n"); /* 9 bytes into 8 */
	dir = am_file_add(fs, AT_FDCWD, tpath("adir"));
	fifo = am_file_add(fs, AT_FDCWD, tpath("fifo"));
	dangling = am_file_add(fs, AT_FDCWD, tpath("dangling"));
	big = am_file_add(fs, AT_FDCWD, tpath("big"));
	ck_assert_int_eq(am_file_read(dir, buf, sizeof(buf)), -EISDIR);
	ck_assert_int_eq(am_file_read(fifo, buf, sizeof(buf)), -ESPIPE);
	ck_assert_int_eq(am_file_read(dangling, buf, sizeof(buf)), -ENOENT);
	ck_assert_int_eq(am_file_read(big, buf, sizeof(buf)), -EFBIG);
	ck_assert_uint_eq(fake_am_read_errors(ctx), 4);
	/* seven bytes fit */
	twrite("big", "123456\n");
	fake_am_advance(ctx, S(10));
	ck_assert_int_eq(am_file_read(big, buf, sizeof(buf)), 7);
	ck_assert_int_eq(am_file_read(NULL, buf, sizeof(buf)), -EINVAL);
	ck_assert_int_eq(am_file_read(big, buf, 0), -EINVAL);
	ck_assert_uint_eq(fake_am_read_errors(ctx), 4); /* misuse is not counted */
	am_files_free(fs);
}
END_TEST

/* Errors only a driver gives (through the open/read fault hooks): counted,
 * named in the log with their own text, closed, and retried. */
START_TEST(t_driver_errors)
{
	struct am_files *fs = am_files_new(ctx, 0);
	struct am_file *acc, *ops, *inv, *ok;
	int fds, rc;

	fake_open_reset();
	twrite("port_xmit_wait", "1\n");
	twrite("out_of_sequence", "2\n");
	twrite("lifespan", "3\n");
	twrite("symbol_error", "4\n");
	fake_open_fail("/port_xmit_wait", EACCES, true);
	fake_open_fail("/out_of_sequence", EOPNOTSUPP, false);
	fake_open_fail("/lifespan", EINVAL, false);
	acc = am_file_add(fs, AT_FDCWD, tpath("port_xmit_wait"));
	ops = am_file_add(fs, AT_FDCWD, tpath("out_of_sequence"));
	inv = am_file_add(fs, AT_FDCWD, tpath("lifespan"));
	ok = am_file_add(fs, AT_FDCWD, tpath("symbol_error"));
	fake_open_watch("/symbol_error");
	fds = open_fds();
	rd(acc, &rc);
	ck_assert_int_eq(rc, -EACCES);
	rd(ops, &rc);
	ck_assert_int_eq(rc, -EOPNOTSUPP);
	rd(inv, &rc);
	ck_assert_int_eq(rc, -EINVAL);
	for (int i = 0; i < 3; i++)
		ck_assert_uint_eq(rd(ok, &rc), 4);
	ck_assert_uint_eq(fake_open_watched(), 1); /* held after the first */
	ck_assert_int_eq(open_fds(), fds + 1);	   /* failed reads closed theirs */
	ck_assert_uint_eq(fake_am_read_errors(ctx), 3);
	ck_assert_uint_eq(fake_am_log_count(ctx, "port_xmit_wait: Permission denied"), 1);
	ck_assert_uint_eq(
	    fake_am_log_count(ctx, "out_of_sequence: Operation not supported"), 1);
	/* a driver's EINVAL is not a parse error */
	ck_assert_uint_eq(fake_am_log_count(ctx, "lifespan: Invalid argument"), 1);
	/* permission fixed: picked up at the retry, 10 s later */
	fake_open_reset();
	fake_am_advance(ctx, S(5));
	rd(acc, &rc);
	ck_assert_int_eq(rc, -EAGAIN);
	fake_am_advance(ctx, S(5));
	ck_assert_uint_eq(rd(acc, &rc), 1);
	ck_assert_uint_eq(rd(ops, &rc), 2);
	ck_assert_uint_eq(rd(inv, &rc), 3);
	ck_assert_uint_eq(fake_am_read_errors(ctx), 3);
	am_files_free(fs);
	ck_assert_int_eq(open_fds(), fds); /* every held fd closed */
}
END_TEST

/* A vanished device fails many files at once: a few lines, then one count
 * a minute later. */
START_TEST(t_log_burst)
{
	struct am_files *fs = am_files_new(ctx, 0);
	struct am_file *f[20];
	char buf[8];
	size_t before;

	for (int i = 0; i < 20; i++) {
		char name[16];

		snprintf(name, sizeof(name), "gone%d", i);
		f[i] = am_file_add(fs, AT_FDCWD, tpath(name));
	}
	fake_am_set_time(ctx, S(1));
	for (int i = 0; i < 20; i++)
		am_file_read(f[i], buf, sizeof(buf));
	ck_assert_uint_eq(fake_am_read_errors(ctx), 20);
	ck_assert_uint_eq(fake_am_log_count(ctx, "No such file"), 8);
	before = fake_am_nlogs(ctx);
	fake_am_set_time(ctx, S(62));
	am_file_fail(f[0], -EIO, NULL); /* a new error: logged, after the count */
	ck_assert_uint_eq(fake_am_nlogs(ctx), before + 2);
	ck_assert_str_eq(fake_am_log(ctx, before),
			 "12 more failing file(s) not logged in the last minute");
	ck_assert_ptr_nonnull(strstr(fake_am_log(ctx, before + 1), "Input/output error"));
	am_files_free(fs);
}
END_TEST

START_TEST(t_read_at)
{
	char buf[16];
	uint64_t v;
	int dfd;

	twrite("id", "0x15b3\n");
	twrite("text", "MT_0000000838 \n");
	twrite("long", "0123456789abcdef\n");
	ck_assert_int_eq(am_read_u64_at(AT_FDCWD, tpath("id"), &v), 0);
	ck_assert_uint_eq(v, 0x15b3);
	dfd = open(tdir, O_RDONLY | O_DIRECTORY);
	ck_assert_int_eq(am_read_text_at(dfd, "text", buf, sizeof(buf)), 13);
	ck_assert_str_eq(buf, "MT_0000000838");
	ck_assert_int_eq(am_read_text_at(dfd, "long", buf, sizeof(buf)), -EFBIG);
	ck_assert_int_eq(am_read_text_at(dfd, "nope", buf, sizeof(buf)), -ENOENT);
	twrite("neg", "-1\n");
	ck_assert_int_eq(am_read_u64_at(dfd, "neg", &v), -EINVAL);
	close(dfd);
	/* nothing here is counted */
	ck_assert_uint_eq(fake_am_read_errors(ctx), 0);
}
END_TEST

/* NUL-padded files (dump tools, some drivers): numbers through the file
 * layer and the one-shot reads parse, text loses its padding, the binary
 * length of am_file_read is what was read. */
static void twrite_bytes(const char *name, const char *bytes, size_t n)
{
	FILE *fp = fopen(tpath(name), "w");

	ck_assert_ptr_nonnull(fp);
	ck_assert_uint_eq(fwrite(bytes, 1, n, fp), n);
	ck_assert_int_eq(fclose(fp), 0);
}

START_TEST(t_nul_padding)
{
	struct am_files *fs = am_files_new(ctx, 0);
	struct am_file *f;
	char buf[32];
	uint64_t v = 0;
	int rc;

	twrite_bytes("mtu", "1500\n\0\0\0\0", 9);
	twrite_bytes("board", "MT_0000000838\n\0\0\0", 17);
	f = am_file_add(fs, AT_FDCWD, tpath("mtu"));
	ck_assert_uint_eq(rd(f, &rc), 1500);
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(am_file_read(f, buf, sizeof(buf)), 9);
	ck_assert_str_eq(buf, "1500\n");
	ck_assert_int_eq(am_read_u64_at(AT_FDCWD, tpath("mtu"), &v), 0);
	ck_assert_uint_eq(v, 1500);
	ck_assert_int_eq(am_read_text_at(AT_FDCWD, tpath("board"), buf, sizeof(buf)), 13);
	ck_assert_str_eq(buf, "MT_0000000838");
	/* padded up to a page, as some dump tools write an attribute */
	{
		char page[4096] = "77\n";

		twrite_bytes("page", page, sizeof(page));
		f = am_file_add(fs, AT_FDCWD, tpath("page"));
		ck_assert_uint_eq(rd(f, &rc), 77);
		ck_assert_int_eq(rc, 0);
		ck_assert_int_eq(am_read_u64_at(AT_FDCWD, tpath("page"), &v), 0);
		ck_assert_uint_eq(v, 77);
		f = am_file_add(fs, AT_FDCWD, tpath("mtu"));
	}
	/* NULs before the number are not padding */
	twrite_bytes("mtu", "\0\0001500\n", 7);
	fake_am_advance(ctx, S(1));
	rd(f, &rc);
	ck_assert_int_eq(rc, -EINVAL);
	ck_assert_uint_eq(fake_am_read_errors(ctx), 1);
	am_files_free(fs);
}
END_TEST

/* am_file_expect: the error a file answers with in a normal state (sysfs
 * `speed` of a down interface: EINVAL) is returned, not counted, logged or
 * backed off, and the held fd stays; any other error still is a failure. */
START_TEST(t_file_expect)
{
	struct am_files *fs = am_files_new(ctx, 0);
	struct am_file *f, *g, *h;
	char buf[16];
	int fds;

	fake_open_reset();
	twrite("speed", "25000\n");
	twrite("duplex", "full\n");
	twrite("speed2", "100\n");
	f = am_file_add(fs, AT_FDCWD, tpath("speed"));
	g = am_file_add(fs, AT_FDCWD, tpath("duplex"));
	h = am_file_add(fs, AT_FDCWD, tpath("speed2"));
	am_file_expect(f, -EINVAL);
	am_file_expect(g, -EINVAL);
	am_file_expect(h, -EINVAL);
	fds = open_fds();
	fake_open_fail("/speed", EINVAL, false); /* reads of what opens now */
	fake_open_fail("/duplex", EIO, false);
	fake_open_fail("/speed2", EINVAL, true);
	for (int i = 0; i < 3; i++) {
		fake_am_advance(ctx, S(1));
		ck_assert_int_eq(am_file_read(f, buf, sizeof(buf)), -EINVAL);
		ck_assert_str_eq(buf, "");
	}
	ck_assert_uint_eq(fake_open_count(), 1); /* opened once, then held */
	ck_assert_int_eq(open_fds(), fds + 1);
	/* expected at open too */
	ck_assert_int_eq(am_file_read(h, buf, sizeof(buf)), -EINVAL);
	ck_assert_uint_eq(fake_am_read_errors(ctx), 0);
	ck_assert_uint_eq(fake_am_nlogs(ctx), 0);
	/* another error is a failure */
	ck_assert_int_eq(am_file_read(g, buf, sizeof(buf)), -EIO);
	ck_assert_uint_eq(fake_am_read_errors(ctx), 1);
	ck_assert_uint_eq(fake_am_log_count(ctx, "duplex: Input/output error"), 1);
	/* the link is back: the held fd reads at once (no back-off) */
	fake_open_reset();
	fake_open_fail("/speed2", EINVAL, true);
	ck_assert_int_eq(am_file_read(f, buf, sizeof(buf)), 6);
	ck_assert_str_eq(buf, "25000\n");
	ck_assert_uint_eq(fake_open_count(), 0);
	/* cleared: EINVAL counts again */
	am_file_expect(h, 0);
	ck_assert_int_eq(am_file_read(h, buf, sizeof(buf)), -EINVAL);
	ck_assert_uint_eq(fake_am_read_errors(ctx), 2);
	fake_open_reset();
	am_files_free(fs);
}
END_TEST

/* ---- filter ---- */

static const struct am_option filter_opts[] = {
    {"include", AM_OPT_REGEX, "only names that match"},
    {"exclude", AM_OPT_REGEX, "skip names that match"},
    {"pattern", AM_OPT_STRING, "a plain string option"},
    {NULL, 0, NULL},
};
static const struct am_collector filter_desc = {
    .abi_version = ACCELMON_COLLECTOR_ABI_VERSION,
    .size = sizeof(struct am_collector),
    .name = "filtertest",
    .options = filter_opts,
};

static struct am_filter *filter(const char *yaml, const char *di, const char *de)
{
	char err[256] = "";
	const struct am_config *cfg =
	    fake_am_config(ctx, &filter_desc, yaml, err, sizeof(err));
	struct am_filter *f = NULL;

	ck_assert_msg(cfg || !yaml, "config: %s", err);
	ck_assert_int_eq(am_filter_new(ctx, cfg, "include", di, "exclude", de, &f), 0);
	ck_assert_ptr_nonnull(f);
	return f;
}

START_TEST(t_filter)
{
	struct am_filter *f;
	char err[256] = "";

	/* netdev's default: everything but lo */
	f = filter(NULL, NULL, "^lo$");
	ck_assert(!am_filter_pass(f, "lo"));
	ck_assert(am_filter_pass(f, "eth0"));
	ck_assert(am_filter_pass(f, "lo0"));
	am_filter_free(f);
	f = filter("{include: '^eth', exclude: 'eth1$'}", NULL, "^lo$");
	ck_assert(am_filter_pass(f, "eth0"));
	ck_assert(!am_filter_pass(f, "eth1"));
	ck_assert(!am_filter_pass(f, "ib0"));
	ck_assert(!am_filter_pass(f, NULL));
	am_filter_free(f);
	/* an empty value switches the default off */
	f = filter("{exclude: ''}", NULL, "^lo$");
	ck_assert(am_filter_pass(f, "lo"));
	am_filter_free(f);
	/* a set option replaces the default */
	f = filter("{exclude: '^eth'}", NULL, "^lo$");
	ck_assert(am_filter_pass(f, "lo"));
	ck_assert(!am_filter_pass(f, "eth0"));
	am_filter_free(f);
	/* the IB device filter */
	f = filter("{include: '^mlx5_[0-3]$', exclude: '^mlx5_2$'}", NULL, NULL);
	ck_assert(am_filter_pass(f, "mlx5_0"));
	ck_assert(!am_filter_pass(f, "mlx5_2"));
	ck_assert(!am_filter_pass(f, "mlx5_4"));
	am_filter_free(f);
	/* keys may be NULL: defaults only */
	ck_assert_int_eq(am_filter_new(ctx, NULL, NULL, "^mlx5_", NULL, NULL, &f), 0);
	ck_assert(am_filter_pass(f, "mlx5_9"));
	ck_assert(!am_filter_pass(f, "rxe0"));
	am_filter_free(f);
	ck_assert(am_filter_pass(NULL, "anything"));
	am_filter_free(NULL);
	/* the option store refuses a bad regex in a REGEX option... */
	ck_assert_ptr_null(
	    fake_am_config(ctx, &filter_desc, "{include: '('}", err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "include"));
	ck_assert_uint_eq(fake_am_log_count(ctx, "bad regular expression"), 0);
}
END_TEST

/* ...the filter refuses one from a plain string option or a default. */
START_TEST(t_filter_bad_regex)
{
	char err[256] = "";
	const struct am_config *cfg =
	    fake_am_config(ctx, &filter_desc, "{pattern: 'mlx5_(0'}", err, sizeof(err));
	struct am_filter *f = (struct am_filter *)1;

	ck_assert_ptr_nonnull(cfg);
	ck_assert_int_eq(am_filter_new(ctx, cfg, "pattern", NULL, NULL, NULL, &f),
			 -EINVAL);
	ck_assert_ptr_null(f);
	ck_assert_uint_eq(
	    fake_am_log_count(ctx, "pattern: bad regular expression \"mlx5_(0\""), 1);
	ck_assert_int_eq(am_filter_new(ctx, cfg, NULL, NULL, "exclude", "[", &f),
			 -EINVAL);
	ck_assert_uint_eq(fake_am_log_count(ctx, "exclude: bad regular expression \"[\""),
			  1);
	ck_assert_int_eq(am_filter_new(ctx, cfg, NULL, NULL, NULL, NULL, NULL), -EINVAL);
}
END_TEST

/* ---- PCI ---- */

struct hca_want {
	const char *dev, *bus, *accel;
	int numa;
};

/* The 8-HCA tree: each HCA shares a PCIe switch with one GPU. */
static const struct hca_want ndr8[] = {
    {"mlx5_0", "0000:13:00.0", "0000:14:00.0", 0},
    {"mlx5_1", "0000:17:00.0", "0000:18:00.0", 0},
    {"mlx5_2", "0000:33:00.0", "0000:34:00.0", 0},
    {"mlx5_3", "0000:37:00.0", "0000:38:00.0", 0},
    {"mlx5_4", "0000:53:00.0", "0000:54:00.0", 1},
    {"mlx5_5", "0000:57:00.0", "0000:58:00.0", 1},
    {"mlx5_6", "0000:73:00.0", "0000:74:00.0", 1},
    {"mlx5_7", "0000:77:00.0", "0000:78:00.0", 1},
};

static void check_hca(struct am_ctx *c, const char *root, const struct hca_want *w)
{
	char dir[PATH_MAX], accel[32];
	struct am_pci_id id;

	snprintf(dir, sizeof(dir), "%s/class/infiniband/%s/device", root, w->dev);
	ck_assert_int_eq(am_pci_identity(dir, &id), 0);
	ck_assert_str_eq(id.bus_id, w->bus);
	ck_assert_msg(id.numa_node == w->numa, "%s numa %d", w->dev, id.numa_node);
	ck_assert_uint_eq(id.vendor, 0x15b3);
	ck_assert_int_eq(am_pci_nearest_accel(c, dir, accel, sizeof(accel)), 0);
	ck_assert_msg(strcmp(accel, w->accel) == 0, "%s: nearest %s, want %s", w->dev,
		      accel, w->accel);
	/* without a context: no bound, same answer */
	ck_assert_int_eq(am_pci_nearest_accel(NULL, dir, accel, sizeof(accel)), 0);
	ck_assert_str_eq(accel, w->accel);
}

START_TEST(t_pci_ndr8)
{
	char *root = fixture_tree("infiniband/ndr8");
	char dir[PATH_MAX];
	struct am_pci_id id;

	fake_am_set_sysfs(ctx, root);
	for (size_t i = 0; i < sizeof(ndr8) / sizeof(ndr8[0]); i++)
		check_hca(ctx, root, &ndr8[i]);
	/* a GPU itself: class 3D controller, NVIDIA */
	snprintf(
	    dir, sizeof(dir),
	    "%s/devices/pci0000:10/0000:10:01.0/0000:11:00.0/0000:12:01.0/0000:14:00.0",
	    root);
	ck_assert_int_eq(am_pci_identity(dir, &id), 0);
	ck_assert_uint_eq(id.class_code, 0x030200);
	ck_assert_uint_eq(id.vendor, 0x10de);
	/* a child of the PCI function (its infiniband/ dir) names the function */
	snprintf(dir, sizeof(dir), "%s/class/infiniband/mlx5_3", root);
	ck_assert_int_eq(am_pci_identity(dir, &id), 0);
	ck_assert_str_eq(id.bus_id, "0000:37:00.0");
	fixture_tree_remove(root);
}
END_TEST

/* The helpers answer what the IB collector reports today on each tree. */
START_TEST(t_pci_same_as_ib)
{
	static const char *const trees[] = {"ndr8", "roce", "oldkernel", "down"};

	for (size_t t = 0; t < sizeof(trees) / sizeof(trees[0]); t++) {
		char tree[64], *root;
		struct am_ctx *ib;
		void *st = NULL;
		unsigned ndev = 0;

		snprintf(tree, sizeof(tree), "infiniband/%s", trees[t]);
		root = fixture_tree(tree);
		ib = fake_am_new("infiniband", root);
		ck_assert_int_eq(infiniband_collector.init(ib, NULL, &st), 0);
		ck_assert_int_eq(infiniband_collector.poll(ib, st), 0);
		for (size_t i = 0; i < fake_am_nseries(ib); i++) {
			const struct fake_series *s = fake_am_series(ib, (am_series_t)i);
			const char *fam = fake_am_view(ib, s->view)->name;
			char dir[PATH_MAX], accel[32];
			struct am_pci_id id;
			const char *numa;

			snprintf(dir, sizeof(dir), "%s/class/infiniband/%s/device", root,
				 s->values[0]);
			if (strcmp(fam, "fabric_device_info") == 0) {
				ck_assert_int_eq(am_pci_identity(dir, &id), 0);
				ck_assert_str_eq(id.bus_id,
						 fake_am_label(ib, s, "pci_bus_id"));
				numa = fake_am_label(ib, s, "numa_node");
				ck_assert_int_eq(id.numa_node, *numa ? atoi(numa) : -1);
				ndev++;
			} else if (strcmp(fam, "fabric_port_info") == 0) {
				ck_assert_int_eq(
				    am_pci_nearest_accel(ctx, dir, accel, sizeof(accel)),
				    0);
				ck_assert_msg(
				    strcmp(accel, fake_am_label(ib, s, "accelerator")) ==
					0,
				    "%s %s: %s vs IB %s", trees[t], s->values[0], accel,
				    fake_am_label(ib, s, "accelerator"));
			}
		}
		ck_assert_uint_gt(ndev, 0);
		infiniband_collector.fini(ib, st);
		fake_am_free(ib);
		fixture_tree_remove(root);
	}
}
END_TEST

/* The accelerator rule, one sibling function at a time (IB's ib_is_accel
 * table). */
START_TEST(t_pci_accel_classes)
{
	static const struct {
		const char *cls, *vendor;
		bool accel;
	} rows[] = {
	    {"0x030200", "0x10de", true},  /* H100 */
	    {"0x038000", "0x1002", true},  /* MI250X */
	    {"0x120000", "0x1da3", true},  /* Gaudi */
	    {"0x030000", "0x10de", true},  /* VGA GPU */
	    {"0x030000", "0x1d94", true},  /* Hygon VGA */
	    {"0x030000", "0x1a03", false}, /* ASPEED BMC VGA */
	    {"0x040300", "0x10de", false}, /* GPU HDMI audio */
	    {"0x060400", "0x10de", false}, /* bridge */
	    {"0x068000", "0x10de", false}, /* NVSwitch */
	    {"0x020700", "0x15b3", false}, /* HCA */
	    {"garbage", "0x10de", false},
	};
	char p[512], accel[32];

	snprintf(p, sizeof(p), "%s/devices/pci0000:00/0000:00:01.0/0000:01:00.0", tdir);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char cmd[3 * PATH_MAX], hca[PATH_MAX + 16], sib[PATH_MAX + 16];

		snprintf(cmd, sizeof(cmd),
			 "rm -rf '%s/devices' && mkdir -p '%s' '%s/../0000:01:00.1'",
			 tdir, p, p);
		ck_assert_int_eq(system(cmd), 0);
		snprintf(hca, sizeof(hca), "%s/class", p);
		fixture_put(hca, "0x020700\n");
		snprintf(sib, sizeof(sib), "%s/../0000:01:00.1/class", p);
		fixture_put(sib, rows[i].cls);
		snprintf(sib, sizeof(sib), "%s/../0000:01:00.1/vendor", p);
		fixture_put(sib, rows[i].vendor);
		ck_assert_int_eq(am_pci_nearest_accel(ctx, p, accel, sizeof(accel)), 0);
		ck_assert_msg(strcmp(accel, rows[i].accel ? "0000:01:00.1" : "") == 0,
			      "class %s vendor %s: \"%s\"", rows[i].cls, rows[i].vendor,
			      accel);
	}
}
END_TEST

START_TEST(t_pci_edges)
{
	struct am_pci_id id;
	char accel[32], dir[PATH_MAX + 32];

	/* a software device (rxe, siw): no PCI function anywhere */
	snprintf(dir, sizeof(dir), "%s/devices/virtual/infiniband/rxe0", tdir);
	snprintf(accel, sizeof(accel), "x");
	{
		char cmd[2 * PATH_MAX];

		snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", dir);
		ck_assert_int_eq(system(cmd), 0);
	}
	ck_assert_int_eq(am_pci_identity(dir, &id), 0);
	ck_assert_str_eq(id.bus_id, "");
	ck_assert_int_eq(id.numa_node, -1);
	ck_assert_int_eq(am_pci_nearest_accel(ctx, dir, accel, sizeof(accel)), 0);
	ck_assert_str_eq(accel, "");
	ck_assert_int_eq(am_pci_identity("/nonexistent/accelmon", &id), -ENOENT);
	ck_assert_int_eq(
	    am_pci_nearest_accel(ctx, "/nonexistent/accelmon", accel, sizeof(accel)),
	    -ENOENT);
	/* NVML's fallback: numa_node of a bus/pci/devices entry */
	ck_assert_int_eq(am_pci_identity(TEST_SRCDIR
					 "/fixtures/nvml/sysfs/bus/pci/devices/"
					 "0000:04:00.0",
					 &id),
			 0);
	ck_assert_str_eq(id.bus_id, "0000:04:00.0");
	ck_assert_int_eq(id.numa_node, 1);
	ck_assert_uint_eq(id.vendor, 0); /* no vendor file there */
}
END_TEST

/* ---- vendor libraries ---- */

typedef int (*init_fn)(void);

START_TEST(t_dl_open)
{
	const char *const first[] = {"/nonexistent/libnvidia-ml.so.1", FAKE_LIB, NULL};
	const char *const none[] = {"/nonexistent/a.so", "libaccelmon-none.so.9", NULL};
	const char *const byname[] = {"libaccelmon-test-nvml.so.1", NULL};
	const char *const dirs[] = {"/nonexistent", tdir, NULL};
	char err[256] = "", link[PATH_MAX + 64];
	void *h;

	h = am_dl_open(first, NULL, err, sizeof(err));
	ck_assert_ptr_nonnull(h);
	ck_assert_ptr_nonnull(dlsym(h, "nvmlInit_v2"));
	/* a name without '/' is tried in each directory */
	snprintf(link, sizeof(link), "%s/libaccelmon-test-nvml.so.1", tdir);
	ck_assert_int_eq(symlink(FAKE_OLD_LIB, link), 0);
	ck_assert_ptr_null(am_dl_open(byname, NULL, err, sizeof(err)));
	h = am_dl_open(byname, dirs, err, sizeof(err));
	ck_assert_ptr_nonnull(h);
	ck_assert_ptr_null(dlsym(h, "nvmlInit_v2")); /* the old driver */
	ck_assert_ptr_null(am_dl_open(none, dirs, err, sizeof(err)));
	ck_assert_msg(strstr(err, "libaccelmon-none.so.9") != NULL, "err: %s", err);
	ck_assert_ptr_null(am_dl_open(NULL, NULL, err, sizeof(err)));
	/* a file that is there but no library: its error, not the later misses */
	{
		const char *const bad[] = {"libaccelmon-bad.so.1", NULL};
		const char *const bad_first[] = {tdir, "/nonexistent", NULL};
		FILE *f;

		snprintf(link, sizeof(link), "%s/libaccelmon-bad.so.1", tdir);
		f = fopen(link, "w");
		ck_assert_ptr_nonnull(f);
		fputs("not a library\n", f);
		fclose(f);
		ck_assert_ptr_null(am_dl_open(bad, bad_first, err, sizeof(err)));
		ck_assert_msg(strstr(err, link) &&
				  !strstr(err, "cannot open shared object"),
			      "err: %s", err);
		unlink(link);
	}
	/* a file that cannot be opened for another reason than being absent
	 * (a folder that is a file: Not a directory; unreadable: Permission
	 * denied, unless root) is the error, not the later misses */
	{
		const char *const lib[] = {"libaccelmon-x.so.1", NULL};
		char notdir[PATH_MAX];
		const char *const dirs2[] = {notdir, "/nonexistent", NULL};
		const char *const dirs3[] = {tdir, "/nonexistent", NULL};
		FILE *f;

		snprintf(notdir, sizeof(notdir), "%s/plainfile", tdir);
		f = fopen(notdir, "w");
		ck_assert_ptr_nonnull(f);
		fclose(f);
		ck_assert_ptr_null(am_dl_open(lib, dirs2, err, sizeof(err)));
		ck_assert_msg(strstr(err, "plainfile/libaccelmon-x.so.1") &&
				  strstr(err, "Not a directory"),
			      "err: %s", err);
		unlink(notdir);
		if (geteuid() != 0) {
			snprintf(link, sizeof(link), "%s/libaccelmon-x.so.1", tdir);
			f = fopen(link, "w");
			ck_assert_ptr_nonnull(f);
			fclose(f);
			ck_assert_int_eq(chmod(link, 0), 0);
			ck_assert_ptr_null(am_dl_open(lib, dirs3, err, sizeof(err)));
			ck_assert_msg(strstr(err, "Permission denied"), "err: %s", err);
			unlink(link);
		}
	}
}
END_TEST

struct fake_lib {
	void *init, *count, *gpm, *nothing, *reasons;
};

static int bind(void *h, struct fake_lib *l, bool gpm_required, char *err, size_t n)
{
	const struct am_dl_sym syms[] = {
	    {{"nvmlInit_v2", "nvmlInit"}, &l->init, true},
	    {{"nvmlDeviceGetCount_v2", "nvmlDeviceGetCount"}, &l->count, true},
	    {{"nvmlGpmMetricsGet"}, &l->gpm, gpm_required},
	    {{"nvmlNoSuchThing"}, &l->nothing, false},
	    {{"nvmlDeviceGetCurrentClocksEventReasons",
	      "nvmlDeviceGetCurrentClocksThrottleReasons"},
	     &l->reasons,
	     false},
	};

	memset(l, 0x5a, sizeof(*l)); /* every slot must be written */
	return am_dl_bind(h, syms, sizeof(syms) / sizeof(syms[0]), err, n);
}

START_TEST(t_dl_bind)
{
	void *cur = dlopen(FAKE_LIB, RTLD_NOW | RTLD_LOCAL);
	void *old = dlopen(FAKE_OLD_LIB, RTLD_NOW | RTLD_LOCAL);
	struct fake_lib l;
	char err[256] = "";

	ck_assert_ptr_nonnull(cur);
	ck_assert_ptr_nonnull(old);
	/* versioned names first */
	ck_assert_int_eq(bind(cur, &l, true, err, sizeof(err)), 0);
	ck_assert_ptr_eq(l.init, dlsym(cur, "nvmlInit_v2"));
	ck_assert_ptr_ne(l.init, dlsym(cur, "nvmlInit"));
	ck_assert_ptr_eq(l.count, dlsym(cur, "nvmlDeviceGetCount_v2"));
	ck_assert_ptr_nonnull(l.gpm);
	ck_assert_ptr_null(l.nothing);
	ck_assert_ptr_eq(l.reasons, dlsym(cur, "nvmlDeviceGetCurrentClocksEventReasons"));
	/* callable: without a scenario the fake answers DRIVER_NOT_LOADED */
	unsetenv("FAKE_NVML_SCENARIO");
	ck_assert_int_eq(((init_fn)l.init)(), 9);
	/* the old driver: the older names, optional ones absent */
	ck_assert_int_eq(bind(old, &l, false, err, sizeof(err)), 0);
	ck_assert_ptr_eq(l.init, dlsym(old, "nvmlInit"));
	ck_assert_ptr_eq(l.count, dlsym(old, "nvmlDeviceGetCount"));
	ck_assert_ptr_null(l.gpm);
	ck_assert_ptr_eq(l.reasons,
			 dlsym(old, "nvmlDeviceGetCurrentClocksThrottleReasons"));
	/* a missing required symbol: named, and the rest still bound */
	ck_assert_int_eq(bind(old, &l, true, err, sizeof(err)), -ENOENT);
	ck_assert_str_eq(err, "missing required symbol nvmlGpmMetricsGet");
	ck_assert_ptr_eq(l.reasons,
			 dlsym(old, "nvmlDeviceGetCurrentClocksThrottleReasons"));
	ck_assert_ptr_null(l.nothing);
	{
		void *p = NULL;
		const struct am_dl_sym req[] = {
		    {{"nvmlNoSuchThing_v2", "nvmlNoSuchThing"}, &p, true},
		};

		ck_assert_int_eq(am_dl_bind(cur, req, 1, err, sizeof(err)), -ENOENT);
		ck_assert_str_eq(err, "missing required symbol nvmlNoSuchThing_v2 or "
				      "nvmlNoSuchThing");
	}
	ck_assert_int_eq(am_dl_bind(NULL, NULL, 0, err, sizeof(err)), -EINVAL);
}
END_TEST

static Suite *util_suite(void)
{
	Suite *s = suite_create("util");
	TCase *p = tcase_create("parse");
	TCase *f = tcase_create("files");
	TCase *n = tcase_create("filter");
	TCase *c = tcase_create("pci");
	TCase *d = tcase_create("dl");

	tcase_add_test(p, t_parse_table);
	tcase_add_test(p, t_parse_nul_and_round_trip);
	suite_add_tcase(s, p);
	tcase_add_checked_fixture(f, file_setup, file_teardown);
	tcase_add_test(f, t_file_changes_under_held_fd);
	tcase_add_test(f, t_file_dirfd);
	tcase_add_test(f, t_fd_budget);
	tcase_add_test(f, t_backoff_timing);
	tcase_add_test(f, t_recovery);
	tcase_add_test(f, t_refused_content);
	tcase_add_test(f, t_read_errors);
	tcase_add_test(f, t_driver_errors);
	tcase_add_test(f, t_log_burst);
	tcase_add_test(f, t_read_at);
	tcase_add_test(f, t_nul_padding);
	tcase_add_test(f, t_file_expect);
	suite_add_tcase(s, f);
	tcase_add_checked_fixture(n, file_setup, file_teardown);
	tcase_add_test(n, t_filter);
	tcase_add_test(n, t_filter_bad_regex);
	suite_add_tcase(s, n);
	tcase_add_checked_fixture(c, file_setup, file_teardown);
	tcase_add_test(c, t_pci_ndr8);
	tcase_add_test(c, t_pci_same_as_ib);
	tcase_add_test(c, t_pci_accel_classes);
	tcase_add_test(c, t_pci_edges);
	tcase_set_timeout(c, 30);
	suite_add_tcase(s, c);
	tcase_add_checked_fixture(d, file_setup, file_teardown);
	tcase_add_test(d, t_dl_open);
	tcase_add_test(d, t_dl_bind);
	suite_add_tcase(s, d);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(util_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
