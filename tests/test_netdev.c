/* Check suite for the netdev collector (collectors/netdev.c), unit part: the
 * collector on the fake of the collector API (tests/fake_am.c) over sysfs
 * trees written by the tests: interfaces that appear and vanish (rescan),
 * entries that are no interface, broken class folders, garbage, unknown and
 * NUL-padded values, with exact values, log lines and read-error counts, and
 * what a rescan that finds nothing new costs (no opens, interns or
 * allocations). The same collector through the core: test_netdev_agent.c.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "accelmon/collector.h"
#include "fake_am.h"
#include "fake_open.h"

#ifndef TEST_SRCDIR
#define TEST_SRCDIR "tests"
#endif
#define FIXTURE TEST_SRCDIR "/fixtures/netdev/sys"
#define S(x) ((int64_t)((x)*1e9))

extern const struct am_collector netdev_collector;

/* ---- allocations: counted by interposing the allocator (glibc's own
 * entry points underneath; not under a sanitizer, which has its own) ---- */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define COUNT_ALLOCS 0
static unsigned long n_allocs;
#else
#define COUNT_ALLOCS 1
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void __libc_free(void *p);
static unsigned long n_allocs;

void *malloc(size_t n)
{
	n_allocs++;
	return __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
	n_allocs++;
	return __libc_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
	n_allocs++;
	return __libc_realloc(p, n);
}

void free(void *p)
{
	__libc_free(p);
}
#endif

/* ---- one context, one tree per test ---- */

static struct am_ctx *C;
static char tmp[64], root[PATH_MAX];
static void *st;

static void violation(const char *msg)
{
	ck_abort_msg("%s", msg);
}

static void run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void run(const char *fmt, ...)
{
	char cmd[2 * PATH_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	ck_assert_msg(system(cmd) == 0, "%s", cmd);
}

/* A writable copy of the committed fixture as the sysfs root. */
static void setup(void)
{
	snprintf(tmp, sizeof(tmp), "/tmp/test_netdev.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmp));
	snprintf(root, sizeof(root), "%s/sys", tmp);
	run("cp -R '%s' '%s' && chmod -R u+w '%s'", FIXTURE, root, root);
	C = fake_am_new("netdev", root);
	fake_am_on_violation(violation);
	fake_open_reset();
	st = NULL;
}

static void teardown(void)
{
	if (st)
		netdev_collector.fini(C, st);
	fake_am_free(C);
	run("rm -rf '%s'", tmp);
}

/* root/class/net/REL */
static const char *net(const char *rel)
{
	static char p[4][PATH_MAX + 64];
	static unsigned k;
	char *s = p[k++ % 4];

	snprintf(s, PATH_MAX + 64, "%s/class/net/%s", root, rel);
	return s;
}

/* Write bytes (NULs included) to root/class/net/REL, making its folders. */
static void put_n(const char *rel, const char *bytes, size_t n)
{
	char dir[PATH_MAX + 64], *slash;
	FILE *f;

	snprintf(dir, sizeof(dir), "%s", net(rel));
	slash = strrchr(dir, '/');
	*slash = '\0';
	run("mkdir -p '%s'", dir);
	f = fopen(net(rel), "w");
	ck_assert_msg(f != NULL, "%s", net(rel));
	ck_assert_uint_eq(fwrite(bytes, 1, n, f), n);
	ck_assert_int_eq(fclose(f), 0);
}

static void put(const char *rel, const char *text)
{
	put_n(rel, text, strlen(text));
}

/* A physical interface with a few files. */
static void mkif(const char *name, unsigned long long rx_bytes, unsigned mtu)
{
	char rel[128], val[32];

	snprintf(rel, sizeof(rel), "%s/device/vendor", name);
	put(rel, "0x15b3\n");
	snprintf(rel, sizeof(rel), "%s/statistics/rx_bytes", name);
	snprintf(val, sizeof(val), "%llu\n", rx_bytes);
	put(rel, val);
	snprintf(rel, sizeof(rel), "%s/mtu", name);
	snprintf(val, sizeof(val), "%u\n", mtu);
	put(rel, val);
	snprintf(rel, sizeof(rel), "%s/operstate", name);
	put(rel, "up\n");
}

static int init(const char *yaml)
{
	char err[256] = "";
	const struct am_config *cfg =
	    fake_am_config(C, &netdev_collector, yaml, err, sizeof(err));

	ck_assert_msg(cfg != NULL, "config: %s", err);
	st = NULL;
	return netdev_collector.init(C, cfg, &st);
}

static void poll_at(double t)
{
	fake_am_set_time(C, S(t));
	ck_assert_int_eq(netdev_collector.poll(C, st), 0);
}

static void rescan_at(double t)
{
	fake_am_set_time(C, S(t));
	ck_assert_int_eq(netdev_collector.rescan(C, st), 0);
}

static const struct fake_series *ser(const char *fam, const char *key)
{
	return fake_am_find(C, fam, key);
}

/* The last value of a series that has samples. */
static double val(const char *fam, const char *key)
{
	const struct fake_series *s = ser(fam, key);

	ck_assert_msg(s && s->nsamples && !s->retired, "%s{%s}: no value", fam, key);
	return s->last_is_u64 ? (double)s->last_u64 : s->last;
}

/* No value now: never interned, never emitted, or retired. */
static int absent(const char *fam, const char *key)
{
	const struct fake_series *s = ser(fam, key);

	return !s || !s->nsamples || s->retired;
}

#define RX "fabric_netdev_receive_bytes_total"
#define MTU "fabric_netdev_mtu_bytes"
#define SPEED "fabric_netdev_speed_bytes"
#define UP "fabric_netdev_up"
#define INFO "fabric_netdev_info"

/* "N interfaces under ROOT/class/net" */
static const char *found_n(unsigned n)
{
	static char want[PATH_MAX + 64];

	snprintf(want, sizeof(want), "%u interface%s under %s", n, n == 1 ? "" : "s",
		 net(""));
	want[strlen(want) - 1] = '\0'; /* no trailing '/' */
	return want;
}

/* "ROOT/class/net/REL: WHY (retry in 10s, backing off up to 600s)", the
 * file layer's line for a first failure. */
static unsigned failed_line(const char *rel, const char *why)
{
	char line[PATH_MAX + 256];

	snprintf(line, sizeof(line), "%s: %s (retry in 10s, backing off up to 600s)",
		 net(rel), why);
	return fake_am_log_count(C, line);
}

/* ---- the committed fixture ---- */

START_TEST(t_fixture)
{
	const struct fake_series *s;

	ck_assert_int_eq(init(NULL), 0);
	ck_assert_str_eq(fake_am_found(C), found_n(3));
	poll_at(1);
	ck_assert_double_eq(val("fabric_netdev_receive_packets_total", "eth0"), 10002);
	ck_assert_double_eq(val("fabric_netdev_transmit_compressed_total", "ib0"),
			    200016);
	ck_assert_double_eq(val(SPEED, "eth0"), 25000 * 125000.0);
	ck_assert_double_eq(val(MTU, "ib0"), 4092);
	ck_assert_double_eq(val(UP, "eth0"), 1);
	ck_assert_double_eq(val(UP, "ib0"), 0);
	ck_assert(absent(SPEED, "ib0")); /* -1: unknown */
	ck_assert(absent(UP, "lo"));
	ck_assert(absent(UP, "veth1"));
	/* 64-bit counters as read, every bit */
	s = ser(RX, "eth0");
	ck_assert(s->last_is_u64);
	ck_assert(s->last_u64 == 18446744073709551000ull);
	ck_assert(ser("fabric_netdev_transmit_bytes_total", "eth0")->last_u64 ==
		  9007199254740993ull);
	ck_assert_double_eq(val(INFO, "eth0,0c:42:a1:00:00:01,full"), 1);
	/* ib0 has no duplex file, bad0 no address either: empty labels */
	ck_assert_double_eq(
	    val(INFO, "ib0,80:00:00:48:fe:80:00:00:00:00:00:00:0c:42:a1:03:00:00:00:01,"),
	    1);
	ck_assert_double_eq(val(INFO, "bad0,,"), 1);
}
END_TEST

/* bad0: garbage, empty, 30 digits, negative, and a speed that is a word:
 * five values lost, five read errors, one line each naming file and text;
 * the rest of bad0 is read. A missing file (older kernel) is no error. */
START_TEST(t_garbage)
{
	ck_assert_int_eq(init("{include: '^bad0$'}"), 0);
	poll_at(1);
	ck_assert_uint_eq(fake_am_read_errors(C), 5);
	ck_assert_uint_eq(failed_line("bad0/statistics/rx_bytes",
				      "not an unsigned number: \"garbage\""),
			  1);
	ck_assert_uint_eq(
	    failed_line("bad0/statistics/tx_bytes", "not an unsigned number: \"\""), 1);
	ck_assert_uint_eq(
	    failed_line("bad0/statistics/rx_packets",
			"number out of range: \"123456789012345678901234567890\""),
	    1);
	ck_assert_uint_eq(
	    failed_line("bad0/statistics/tx_packets", "not an unsigned number: \"-5\""),
	    1);
	ck_assert_uint_eq(failed_line("bad0/speed", "not a speed in Mb/s: \"fast\""), 1);
	ck_assert_uint_eq(fake_am_nlogs(C), 1 + 5);
	ck_assert(absent(RX, "bad0"));
	ck_assert(absent(SPEED, "bad0"));
	ck_assert(absent("fabric_netdev_transmit_packets_total", "bad0"));
	ck_assert_double_eq(val("fabric_netdev_receive_errors_total", "bad0"), 50003);
	ck_assert_double_eq(val(MTU, "bad0"), 1500);
	ck_assert_ptr_null(ser("fabric_netdev_transmit_compressed_total", "bad0"));
	/* backing off: not read, counted or logged again before 11 s */
	poll_at(5);
	ck_assert_uint_eq(fake_am_read_errors(C), 5);
	/* garbage in mtu is the same */
	put("bad0/mtu", "abc\n");
	poll_at(6);
	ck_assert_uint_eq(failed_line("bad0/mtu", "not an unsigned number: \"abc\""), 1);
	ck_assert_uint_eq(fake_am_read_errors(C), 6);
	/* fixed: read at the next try */
	put("bad0/speed", "40000\n");
	poll_at(11);
	ck_assert_double_eq(val(SPEED, "bad0"), 40000 * 125000.0);
}
END_TEST

/* speed -1 (link up, speed unknown: virtio, some VFs), its u32 form from
 * kernels before 4.6, and EINVAL (interface down) are absent, with no error;
 * a known speed that turns unknown is taken out, not left at its value. */
START_TEST(t_speed_unknown)
{
	const struct fake_series *s;

	fake_open_fail("eth0/speed", EINVAL, false); /* reads of the fd opened now */
	ck_assert_int_eq(init("{include: '^(eth0|ib0)$'}"), 0);
	poll_at(1);
	ck_assert(absent(SPEED, "eth0"));
	ck_assert(absent(SPEED, "ib0"));
	put("ib0/speed", "4294967295\n");
	poll_at(2);
	ck_assert(absent(SPEED, "ib0"));
	ck_assert_uint_eq(fake_am_read_errors(C), 0);
	ck_assert_uint_eq(fake_am_nlogs(C), 1);
	/* eth0 up again: its held fd answers at once (no back-off) */
	fake_open_reset();
	put("ib0/speed", "100000\n");
	poll_at(3);
	ck_assert_double_eq(val(SPEED, "eth0"), 25000 * 125000.0);
	ck_assert_double_eq(val(SPEED, "ib0"), 100000 * 125000.0);
	put("ib0/speed", "-1\n");
	poll_at(4);
	s = ser(SPEED, "ib0");
	ck_assert(s->retired);
	ck_assert_uint_eq(s->retires, 1);
	poll_at(5); /* retired once, not at every poll */
	ck_assert_uint_eq(s->retires, 1);
	ck_assert_uint_eq(fake_am_read_errors(C), 0);
}
END_TEST

/* Files padded with trailing NUL bytes parse (am_parse_u64's rule), and
 * text loses the padding, so the interface is read whole. */
START_TEST(t_nul_padded)
{
	put_n("eth0/mtu", "9000\n\0\0\0\0", 9);
	put_n("eth0/statistics/rx_packets", "10002\n\0\0", 8);
	put_n("eth0/operstate", "up\n\0\0\0", 6);
	put_n("eth0/address", "0c:42:a1:00:00:01\n\0\0\0\0", 22);
	put_n("eth0/speed", "25000\0\0\0", 8);
	put_n("eth0/duplex", "full\0\0", 6);
	ck_assert_int_eq(init("{include: '^eth0$'}"), 0);
	poll_at(1);
	ck_assert_double_eq(val(MTU, "eth0"), 9000);
	ck_assert_double_eq(val("fabric_netdev_receive_packets_total", "eth0"), 10002);
	ck_assert_double_eq(val(UP, "eth0"), 1);
	ck_assert_double_eq(val(SPEED, "eth0"), 25000 * 125000.0);
	ck_assert_double_eq(val(INFO, "eth0,0c:42:a1:00:00:01,full"), 1);
	ck_assert_uint_eq(fake_am_read_errors(C), 0);
	ck_assert_uint_eq(fake_am_nlogs(C), 1);
	/* padded up to a page, as some dump tools write every attribute */
	{
		static char page[4096];

		memset(page, 0, sizeof(page));
		strcpy(page, "1500\n");
		put_n("eth0/mtu", page, sizeof(page));
		strcpy(page, "dormant\n");
		put_n("eth0/operstate", page, sizeof(page));
		strcpy(page, "10000\n");
		put_n("eth0/speed", page, sizeof(page));
		strcpy(page, "half\n");
		put_n("eth0/duplex", page, sizeof(page));
	}
	poll_at(2);
	ck_assert_double_eq(val(MTU, "eth0"), 1500);
	ck_assert_double_eq(val(UP, "eth0"), 0);
	ck_assert_double_eq(val(SPEED, "eth0"), 10000 * 125000.0);
	ck_assert_double_eq(val(INFO, "eth0,0c:42:a1:00:00:01,half"), 1);
	ck_assert_uint_eq(fake_am_read_errors(C), 0);
}
END_TEST

/* One info series per interface: when the address or duplex changes the
 * old labels are retired; an unreadable duplex (EINVAL while down) keeps
 * the last one. */
START_TEST(t_info_labels)
{
	fake_open_fail("eth0/duplex", EINVAL, false);
	ck_assert_int_eq(init("{include: '^eth0$'}"), 0);
	poll_at(1);
	ck_assert_double_eq(val(INFO, "eth0,0c:42:a1:00:00:01,"), 1);
	fake_open_reset();
	poll_at(2);
	ck_assert(ser(INFO, "eth0,0c:42:a1:00:00:01,")->retired);
	ck_assert_double_eq(val(INFO, "eth0,0c:42:a1:00:00:01,full"), 1);
	put("eth0/address", "0c:42:a1:00:00:02\n");
	poll_at(3);
	ck_assert(ser(INFO, "eth0,0c:42:a1:00:00:01,full")->retired);
	ck_assert_double_eq(val(INFO, "eth0,0c:42:a1:00:00:02,full"), 1);
	poll_at(4);
	ck_assert_uint_eq(ser(INFO, "eth0,0c:42:a1:00:00:02,full")->nsamples, 2);
	ck_assert_uint_eq(fake_am_read_errors(C), 0);
}
END_TEST

/* ---- rescan ---- */

/* An interface appears and one vanishes while running: the new one is read
 * from the poll after the rescan, the vanished one's series are retired by
 * the rescan; each says so in one debug line. */
START_TEST(t_appear_vanish)
{
	const struct fake_series *s;

	ck_assert_int_eq(init(NULL), 0);
	poll_at(1);
	ck_assert_double_eq(val(MTU, "ib0"), 4092);
	ck_assert_uint_eq(fake_am_read_errors(C), 5); /* bad0's garbage, once */
	mkif("eth9", 777, 1500);
	run("rm -rf '%s'", net("ib0"));
	rescan_at(1.5);
	ck_assert_uint_eq(fake_am_log_count(C, "ib0: interface gone, its series retired"),
			  1);
	ck_assert_uint_eq(fake_am_log_count(C, "eth9: new interface"), 1);
	/* every series ib0 had is out, each retired once */
	for (size_t i = 0; i < fake_am_nseries(C); i++) {
		s = fake_am_series(C, (am_series_t)i);
		if (strcmp(s->values[0], "ib0") == 0)
			ck_assert_msg(s->retired && s->retires == 1, "%s", s->label_text);
	}
	poll_at(2);
	ck_assert_double_eq(val(RX, "eth9"), 777);
	ck_assert_double_eq(val(MTU, "eth9"), 1500);
	ck_assert_double_eq(val(UP, "eth9"), 1);
	ck_assert(absent(MTU, "ib0"));
	ck_assert(absent(RX, "ib0"));
	/* eth9 has no other statistics: nothing interned for them, no error */
	ck_assert_ptr_null(ser("fabric_netdev_transmit_bytes_total", "eth9"));
	ck_assert_uint_eq(fake_am_read_errors(C), 5);
	/* the others go on */
	ck_assert_double_eq(val("fabric_netdev_receive_packets_total", "eth0"), 10002);
	/* ib0 back: read again from its reading, as a new series */
	run("cp -R '%s/sys/class/net/ib0' '%s'", TEST_SRCDIR "/fixtures/netdev", net(""));
	rescan_at(3);
	poll_at(3);
	ck_assert_double_eq(val(MTU, "ib0"), 4092);
	ck_assert_double_eq(val(RX, "ib0"), 20001);
	ck_assert_uint_eq(fake_am_read_errors(C), 5);
}
END_TEST

/* Vanished between two rescans: retired at the next poll, without a read
 * error or a warning for each of its files. */
START_TEST(t_vanish_between_rescans)
{
	size_t logs;

	ck_assert_int_eq(init(NULL), 0);
	poll_at(1);
	logs = fake_am_nlogs(C);
	run("rm -rf '%s'", net("eth0"));
	poll_at(2);
	ck_assert(absent(RX, "eth0"));
	ck_assert(absent(UP, "eth0"));
	ck_assert(absent(INFO, "eth0,0c:42:a1:00:00:01,full"));
	ck_assert_uint_eq(fake_am_read_errors(C), 5); /* bad0's garbage, read once */
	ck_assert_uint_eq(fake_am_nlogs(C), logs + 1);
	ck_assert_str_eq(fake_am_log(C, logs),
			 "eth0: interface gone, its series retired");
	/* the rescan finds it gone too: nothing more to do */
	rescan_at(3);
	ck_assert_uint_eq(fake_am_nlogs(C), logs + 1);
}
END_TEST

/* A rescan that finds what is there: no open, no intern, no allocation, no
 * log line; the next poll opens nothing either (fds held). */
START_TEST(t_rescan_unchanged)
{
	unsigned long allocs;
	uint64_t interns;
	unsigned opens;
	size_t logs;
	int rc = 0;

	ck_assert_int_eq(init("{physical_only: false, exclude: '^(lo|veth)'}"), 0);
	poll_at(1);
	poll_at(2);
	interns = fake_am_interns(C);
	opens = fake_open_count();
	logs = fake_am_nlogs(C);
	/* (no ck_assert inside: Check allocates to record each one) */
	allocs = n_allocs;
	for (int i = 0; i < 5; i++) {
		fake_am_set_time(C, S(3 + i));
		rc |= netdev_collector.rescan(C, st);
	}
	allocs = n_allocs - allocs;
	ck_assert_int_eq(rc, 0);
	ck_assert_uint_eq(allocs, 0);
	ck_assert_uint_eq(fake_am_interns(C), interns);
	ck_assert_uint_eq(fake_open_count(), opens);
	ck_assert_uint_eq(fake_am_nlogs(C), logs);
	poll_at(9);
	ck_assert_uint_eq(fake_open_count(), opens);
	ck_assert_uint_eq(fake_am_interns(C), interns);
	ck_assert_double_eq(val("fabric_netdev_receive_packets_total", "eth0"), 10002);
	if (!COUNT_ALLOCS)
		fprintf(
		    stderr,
		    "t_rescan_unchanged: allocations not counted under a sanitizer\n");
}
END_TEST

/* Past 256 interfaces: one line per rescan, not one per interface; a slot
 * freed by a vanished interface goes to a waiting one. */
START_TEST(t_limit)
{
	run("cd '%s' && mkdir -p class/net && cd class/net && rm -rf ./* && "
	    "for i in $(seq 0 299); do mkdir -p v$i; echo 1500 > v$i/mtu; done",
	    root);
	ck_assert_int_eq(init("{physical_only: false, exclude: ''}"), 0);
	ck_assert_str_eq(fake_am_found(C), found_n(256));
	ck_assert_uint_eq(fake_am_log_count(C, "more than 256 interfaces under"), 1);
	ck_assert_uint_eq(fake_am_log_count(C, ": 44 not read ("), 1);
	poll_at(1);
	{
		unsigned n = 0;

		for (size_t i = 0; i < fake_am_nseries(C); i++) {
			const struct fake_series *s = fake_am_series(C, (am_series_t)i);

			n += s->nsamples > 0 && fake_am_view(C, s->view) &&
			     strcmp(fake_am_view(C, s->view)->name, MTU) == 0;
		}
		ck_assert_uint_eq(n, 256);
	}
	run("cd '%s' && rm -rf v0 v1 v2 v3", net(""));
	rescan_at(2);
	ck_assert_uint_eq(fake_am_log_count(C, ": 40 not read ("), 1);
	ck_assert_uint_eq(fake_am_read_errors(C), 0);
}
END_TEST

/* ---- what is not an interface ---- */

/* class/net/bonding_masters is a regular file; a symlink loop, a pair of
 * links pointing at each other and a dangling link lead nowhere. None is an
 * interface, and none costs a warning or a read error. */
START_TEST(t_not_interfaces)
{
	put("bonding_masters", "bond0\n");
	ck_assert_int_eq(symlink("loop", net("loop")), 0);
	ck_assert_int_eq(symlink("pong", net("ping")), 0);
	ck_assert_int_eq(symlink("ping", net("pong")), 0);
	ck_assert_int_eq(symlink("../../devices/virtual/net/gone0", net("gone0")), 0);
	ck_assert_int_eq(init("{physical_only: false}"), 0);
	ck_assert_str_eq(fake_am_found(C), found_n(4));
	poll_at(1);
	poll_at(2);
	ck_assert_uint_eq(fake_am_nlogs(C), 1 + 5); /* found, bad0's garbage */
	ck_assert_uint_eq(fake_am_read_errors(C), 5);
	for (size_t i = 0; i < fake_am_nseries(C); i++) {
		const char *dev = fake_am_series(C, (am_series_t)i)->values[0];

		ck_assert_msg(strcmp(dev, "bonding_masters") && strcmp(dev, "loop") &&
				  strcmp(dev, "ping") && strcmp(dev, "pong") &&
				  strcmp(dev, "gone0"),
			      "%s taken for an interface", dev);
	}
	ck_assert_double_eq(val(MTU, "veth1"), 1500);
	/* the default physical_only: true reads the three with a device link */
	netdev_collector.fini(C, st);
	ck_assert_int_eq(init(NULL), 0);
	ck_assert_str_eq(fake_am_found(C), found_n(3));
}
END_TEST

/* A class folder that is a loop or a plain file is an error saying so (the
 * agent logs "init failed" and reports the collector down), not "nothing
 * found"; no folder, or an empty one, is nothing found. */
START_TEST(t_class_folder)
{
	char dir[PATH_MAX + 16], want[PATH_MAX + 160];

	snprintf(dir, sizeof(dir), "%s/class/net", root);
	run("rm -rf '%s'", dir);
	ck_assert_int_eq(init(NULL), -ENODEV);
	snprintf(want, sizeof(want), "no %s", dir);
	ck_assert_str_eq(fake_am_found(C), want);

	ck_assert_int_eq(mkdir(dir, 0755), 0);
	ck_assert_int_eq(init(NULL), -ENODEV);
	snprintf(
	    want, sizeof(want),
	    "no physical interfaces under %s (none has a device link; physical_only: "
	    "false reads virtual ones)",
	    dir);
	ck_assert_str_eq(fake_am_found(C), want);
	ck_assert_int_eq(init("{physical_only: false}"), -ENODEV);
	snprintf(want, sizeof(want), "no interfaces under %s", dir);
	ck_assert_str_eq(fake_am_found(C), want);

	ck_assert_int_eq(rmdir(dir), 0);
	ck_assert_int_eq(symlink("net", dir), 0);
	ck_assert_int_eq(init(NULL), -ELOOP);
	snprintf(want, sizeof(want), "cannot read %s", dir);
	ck_assert_str_eq(fake_am_found(C), want);

	ck_assert_int_eq(unlink(dir), 0);
	{
		FILE *f = fopen(dir, "w");

		ck_assert_ptr_nonnull(f);
		ck_assert_int_eq(fclose(f), 0);
	}
	ck_assert_int_eq(init(NULL), -ENOTDIR);
	snprintf(want, sizeof(want), "cannot read %s", dir);
	ck_assert_str_eq(fake_am_found(C), want);
	ck_assert_uint_eq(fake_am_read_errors(C), 0);
}
END_TEST

static Suite *netdev_suite(void)
{
	Suite *s = suite_create("netdev");
	TCase *r = tcase_create("rescan");
	TCase *sh = tcase_create("shapes");

	/* t_limit builds 300 interfaces with the shell: slow on a loaded machine
	 * or under a sanitizer */
	tcase_set_timeout(r, 60);

	tcase_add_checked_fixture(r, setup, teardown);
	tcase_add_test(r, t_appear_vanish);
	tcase_add_test(r, t_vanish_between_rescans);
	tcase_add_test(r, t_rescan_unchanged);
	tcase_add_test(r, t_limit);
	suite_add_tcase(s, r);
	tcase_add_checked_fixture(sh, setup, teardown);
	tcase_add_test(sh, t_fixture);
	tcase_add_test(sh, t_garbage);
	tcase_add_test(sh, t_speed_unknown);
	tcase_add_test(sh, t_nul_padded);
	tcase_add_test(sh, t_info_labels);
	tcase_add_test(sh, t_not_interfaces);
	tcase_add_test(sh, t_class_folder);
	suite_add_tcase(s, sh);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(netdev_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
