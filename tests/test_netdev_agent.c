/* netdev collector through the core (agent/harness.c: real ring, aggregator,
 * exposition and the scheduler's rescan rule, fake clock): the fixture sysfs
 * tree (exact values, filters, garbage files, a counter reset between polls,
 * interfaces that appear and vanish) and the live machine, whose counters
 * must agree with /proc/net/dev read around the poll. The unit part, on the
 * fake of the collector API, is tests/test_netdev.c. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "series.h"

extern const struct am_collector netdev_collector;

#define FIXTURE TEST_SRCDIR "/fixtures/netdev/sys"
#define S(x) ((int64_t)((x)*1000000000LL))

static struct harness *start(const char *yaml, const char *sysfs)
{
	char err[512] = "";
	struct harness *h;

	series_reset();
	h = harness_new(&netdev_collector, yaml, sysfs, NULL, S(1), err, sizeof(err));
	ck_assert_msg(h != NULL, "harness: %s", err);
	return h;
}

static int has(struct harness *h, const char *fam, const char *labels, double *v)
{
	double tmp;

	return harness_value(h, fam, labels, v ? v : &tmp) == 0;
}

static double get(struct harness *h, const char *fam, const char *labels)
{
	double v = -1;

	ck_assert_msg(has(h, fam, labels, &v), "missing %s%s", fam, labels);
	return v;
}

START_TEST(test_fixture_values)
{
	struct harness *h = start(NULL, FIXTURE);
	struct snapshot *snap;

	ck_assert_int_eq(harness_init_rc(h), 0);
	ck_assert_int_eq(harness_poll(h, S(1)), 0);
	ck_assert_double_eq(
	    get(h, "fabric_netdev_receive_packets_total", "{device=\"eth0\"}"), 10002);
	ck_assert_double_eq(
	    get(h, "fabric_netdev_transmit_compressed_total", "{device=\"ib0\"}"),
	    200016);
	ck_assert_double_eq(get(h, "fabric_netdev_speed_bytes", "{device=\"eth0\"}"),
			    25000 * 125000.0);
	ck_assert_double_eq(get(h, "fabric_netdev_mtu_bytes", "{device=\"ib0\"}"), 4092);
	ck_assert_double_eq(get(h, "fabric_netdev_up", "{device=\"eth0\"}"), 1);
	ck_assert_double_eq(get(h, "fabric_netdev_up", "{device=\"ib0\"}"), 0);
	/* Speed -1 (link down) is absent, not a fake value. */
	ck_assert(!has(h, "fabric_netdev_speed_bytes", "{device=\"ib0\"}", NULL));
	/* Virtual interfaces (no device link) are skipped by default. */
	ck_assert(!has(h, "fabric_netdev_up", "{device=\"lo\"}", NULL));
	ck_assert(!has(h, "fabric_netdev_up", "{device=\"veth1\"}", NULL));
	snap = harness_render(h, S(1));
	/* 64-bit counters keep every bit in the exposition. */
	ck_assert_ptr_nonnull(strstr(
	    snap->text,
	    "fabric_netdev_receive_bytes_total{device=\"eth0\"} 18446744073709551000\n"));
	ck_assert_ptr_nonnull(strstr(
	    snap->text,
	    "fabric_netdev_transmit_bytes_total{device=\"eth0\"} 9007199254740993\n"));
	ck_assert_ptr_nonnull(
	    strstr(snap->text, "fabric_netdev_info{device=\"eth0\",address=\"0c:42:a1:00:"
			       "00:01\",duplex=\"full\"} 1\n"));
	snapshot_release(snap);
	harness_free(h);
}
END_TEST

START_TEST(test_garbage_files)
{
	struct harness *h = start("{include: '^bad0$'}", FIXTURE);

	ck_assert_int_eq(harness_poll(h, S(1)), 0);
	/* garbage, empty, 30 digits, negative: four values lost, four errors; */
	ck_assert(
	    !has(h, "fabric_netdev_receive_bytes_total", "{device=\"bad0\"}", NULL));
	ck_assert(
	    !has(h, "fabric_netdev_transmit_bytes_total", "{device=\"bad0\"}", NULL));
	ck_assert(
	    !has(h, "fabric_netdev_receive_packets_total", "{device=\"bad0\"}", NULL));
	ck_assert(
	    !has(h, "fabric_netdev_transmit_packets_total", "{device=\"bad0\"}", NULL));
	/* speed "fast" is the fifth (issue 10: it was dropped without a word) */
	ck_assert_uint_eq(harness_read_errors(h), 5);
	ck_assert(!has(h, "fabric_netdev_speed_bytes", "{device=\"bad0\"}", NULL));
	/* ... and the rest of the interface is still reported. */
	ck_assert_double_eq(
	    get(h, "fabric_netdev_receive_errors_total", "{device=\"bad0\"}"), 50003);
	ck_assert_double_eq(get(h, "fabric_netdev_mtu_bytes", "{device=\"bad0\"}"), 1500);
	/* A missing file (older kernel) is not an error. */
	ck_assert(!has(h, "fabric_netdev_transmit_compressed_total", "{device=\"bad0\"}",
		       NULL));
	harness_free(h);
}
END_TEST

static const struct {
	const char *yaml;
	const char *present[4];
	const char *absent[4];
} filter_cases[] = {
    {"{include: '^eth'}", {"eth0"}, {"ib0", "bad0", "lo", "veth1"}},
    {"{exclude: '^(ib|bad)'}", {"eth0"}, {"ib0", "bad0", "lo"}},
    {"{physical_only: false}", {"eth0", "veth1", "ib0"}, {"lo"}},
    {"{physical_only: false, exclude: ''}", {"lo", "veth1", "eth0"}, {NULL}},
};

START_TEST(test_filters)
{
	struct harness *h = start(filter_cases[_i].yaml, FIXTURE);
	char lbl[64];

	ck_assert_int_eq(harness_poll(h, S(1)), 0);
	for (int k = 0; k < 4 && filter_cases[_i].present[k]; k++) {
		snprintf(lbl, sizeof(lbl), "{device=\"%s\"}",
			 filter_cases[_i].present[k]);
		ck_assert_msg(has(h, "fabric_netdev_mtu_bytes", lbl, NULL),
			      "%s: %s missing", filter_cases[_i].yaml, lbl);
	}
	for (int k = 0; k < 4 && filter_cases[_i].absent[k]; k++) {
		snprintf(lbl, sizeof(lbl), "{device=\"%s\"}", filter_cases[_i].absent[k]);
		ck_assert_msg(!has(h, "fabric_netdev_mtu_bytes", lbl, NULL),
			      "%s: %s present", filter_cases[_i].yaml, lbl);
	}
	harness_free(h);
}
END_TEST

START_TEST(test_nothing_found)
{
	char dir[] = "/tmp/accelmon-netdev-XXXXXX", net[64];
	struct harness *h;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	/* no class folder at all: said so */
	h = start(NULL, dir);
	ck_assert_int_eq(harness_init_rc(h), -ENODEV);
	ck_assert_ptr_nonnull(strstr(harness_found(h), "/class/net"));
	harness_free(h);
	/* an empty one */
	snprintf(net, sizeof(net), "%s/class", dir);
	ck_assert_int_eq(mkdir(net, 0755), 0);
	snprintf(net, sizeof(net), "%s/class/net", dir);
	ck_assert_int_eq(mkdir(net, 0755), 0);
	h = start(NULL, dir);
	ck_assert_int_eq(harness_init_rc(h), -ENODEV);
	ck_assert_ptr_nonnull(strstr(harness_found(h), "no physical interfaces"));
	harness_free(h);
	rmdir(net);
	snprintf(net, sizeof(net), "%s/class", dir);
	rmdir(net);
	rmdir(dir);
}
END_TEST

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

/* A writable copy of the fixture in dir (a mkdtemp template), and its end. */
static void copy_fixture(char *dir)
{
	char cmd[8192];

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(cmd, sizeof(cmd), "cp -r '%s/.' '%s/'", FIXTURE, dir);
	ck_assert_int_eq(system(cmd), 0);
}

static void remove_tree(const char *dir)
{
	char cmd[8192];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* A driver reload resets the counters: the exported value never drops. */
START_TEST(test_reset_between_polls)
{
	char dir[] = "/tmp/accelmon-netdev-XXXXXX", path[512];
	struct harness *h;

	copy_fixture(dir);
	h = start("{include: '^eth0$'}", dir);
	snprintf(path, sizeof(path), "%s/class/net/eth0/statistics/rx_packets", dir);
	write_file(path, "5000\n");
	harness_poll(h, S(1));
	write_file(path, "7000\n");
	harness_poll(h, S(2));
	ck_assert_double_eq(
	    get(h, "fabric_netdev_receive_packets_total", "{device=\"eth0\"}"), 7000);
	write_file(path, "100\n");
	harness_poll(h, S(3));
	ck_assert_double_eq(
	    get(h, "fabric_netdev_receive_packets_total", "{device=\"eth0\"}"), 7100);
	harness_free(h);
	remove_tree(dir);
}
END_TEST

/* Interfaces come and go (veths, VFs): a slot whose interface vanished is
 * reused, so a long-running agent still sees new ones after 256 have existed. */
START_TEST(test_interface_churn)
{
	char dir[] = "/tmp/accelmon-netdev-XXXXXX", cmd[8192], path[512];
	struct harness *h;
	double v;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && mkdir -p class/net && cd class/net && "
		 "for i in $(seq 0 299); do mkdir -p v$i; echo 1500 > v$i/mtu; done",
		 dir);
	ck_assert_int_eq(system(cmd), 0);
	h = start("{physical_only: false, exclude: '', rescan: 1s}", dir);
	harness_poll(h, S(1));
	ck_assert_int_eq(
	    harness_value(h, "fabric_netdev_mtu_bytes", "{device=\"v0\"}", &v), 0);
	snprintf(cmd, sizeof(cmd),
		 "cd '%s/class/net' && rm -rf v* && mkdir new0 && echo 9000 > new0/mtu",
		 dir);
	ck_assert_int_eq(system(cmd), 0);
	harness_poll(h, S(3));
	ck_assert_int_eq(
	    harness_value(h, "fabric_netdev_mtu_bytes", "{device=\"new0\"}", &v), 0);
	ck_assert_double_eq(v, 9000);
	/* A link going down changes fabric_netdev_up, not the info series. */
	snprintf(path, sizeof(path), "%s/class/net/new0/operstate", dir);
	write_file(path, "down\n");
	harness_poll(h, S(4));
	ck_assert_double_eq(get(h, "fabric_netdev_up", "{device=\"new0\"}"), 0);
	harness_free(h);
	remove_tree(dir);
}
END_TEST

/* An interface appears and one vanishes while the agent runs, through the
 * core's rescan rule (every `rescan`, right before the poll it is due for):
 * the new one is exported from the first poll at or after the rescan, the
 * vanished one leaves the exposition at once (the poll finds it gone); an
 * interface that returns counts again from its reading. */
START_TEST(test_rescan_appear_vanish)
{
	char dir[] = "/tmp/accelmon-netdev-XXXXXX", cmd[8192];
	struct harness *h;
	struct snapshot *snap;

	copy_fixture(dir);
	h = start("{exclude: '^(lo|bad0)$', rescan: 2s}", dir);
	ck_assert_int_eq(harness_poll(h, S(1)), 0);
	ck_assert_double_eq(get(h, "fabric_netdev_mtu_bytes", "{device=\"ib0\"}"), 4092);
	snprintf(
	    cmd, sizeof(cmd),
	    "cd '%s/class/net' && rm -rf ib0 && mkdir -p eth9/device eth9/statistics && "
	    "echo 4242 > eth9/statistics/rx_bytes && echo 1500 > eth9/mtu && "
	    "echo up > eth9/operstate && echo 100000 > eth9/speed",
	    dir);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(harness_poll(h, S(2)), 0);
	ck_assert_uint_eq(harness_rescans(h), 0);
	snap = harness_render(h, S(2));
	ck_assert_ptr_null(strstr(snap->text, "device=\"ib0\""));
	ck_assert_ptr_null(strstr(snap->text, "device=\"eth9\""));
	snapshot_release(snap);
	/* due at 3 s: the rescan, then the poll that reports eth9 */
	ck_assert_int_eq(harness_poll(h, S(3)), 0);
	ck_assert_uint_eq(harness_rescans(h), 1);
	snap = harness_render(h, S(3));
	ck_assert_ptr_nonnull(strstr(
	    snap->text, "fabric_netdev_receive_bytes_total{device=\"eth9\"} 4242\n"));
	ck_assert_ptr_nonnull(
	    strstr(snap->text, "fabric_netdev_up{device=\"eth9\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(
	    snap->text, "fabric_netdev_speed_bytes{device=\"eth9\"} 12500000000\n"));
	ck_assert_ptr_null(strstr(snap->text, "device=\"ib0\""));
	ck_assert_ptr_nonnull(strstr(
	    snap->text, "fabric_netdev_receive_packets_total{device=\"eth0\"} 10002\n"));
	snapshot_release(snap);
	/* ib0 returns with other counts: a new series from its reading */
	snprintf(cmd, sizeof(cmd),
		 "cp -r '%s/class/net/ib0' '%s/class/net/' && "
		 "echo 5 > '%s/class/net/ib0/statistics/rx_bytes'",
		 FIXTURE, dir, dir);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(harness_poll(h, S(4)), 0);
	ck_assert(!has(h, "fabric_netdev_receive_bytes_total", "{device=\"ib0\"}", NULL));
	ck_assert_int_eq(harness_poll(h, S(5)), 0);
	ck_assert_uint_eq(harness_rescans(h), 2);
	ck_assert_double_eq(
	    get(h, "fabric_netdev_receive_bytes_total", "{device=\"ib0\"}"), 5);
	ck_assert_uint_eq(harness_read_errors(h), 0);
	ck_assert_uint_eq(harness_dropped(h), 0);
	harness_free(h);
	remove_tree(dir);
}
END_TEST

/* `rescan: 0` is never (it was "every poll" before the core owned the key):
 * a new interface is not looked for. */
START_TEST(test_rescan_never)
{
	char dir[] = "/tmp/accelmon-netdev-XXXXXX", cmd[8192];
	struct harness *h;

	copy_fixture(dir);
	h = start("{rescan: 0}", dir);
	snprintf(cmd, sizeof(cmd),
		 "mkdir -p '%s/class/net/eth9/device' && "
		 "echo 1500 > '%s/class/net/eth9/mtu'",
		 dir, dir);
	ck_assert_int_eq(system(cmd), 0);
	for (int t = 1; t <= 100; t += 33)
		ck_assert_int_eq(harness_poll(h, S(t)), 0);
	ck_assert_uint_eq(harness_rescans(h), 0);
	ck_assert(!has(h, "fabric_netdev_mtu_bytes", "{device=\"eth9\"}", NULL));
	harness_free(h);
	/* the default, 30 s */
	h = start(NULL, dir);
	ck_assert_int_eq(harness_poll(h, S(30)), 0);
	ck_assert_uint_eq(harness_rescans(h), 0);
	ck_assert_int_eq(harness_poll(h, S(31)), 0);
	ck_assert_uint_eq(harness_rescans(h), 1);
	ck_assert_double_eq(get(h, "fabric_netdev_mtu_bytes", "{device=\"eth9\"}"), 1500);
	harness_free(h);
	remove_tree(dir);
}
END_TEST

struct procdev {
	char name[64];
	unsigned long long rx_bytes, rx_packets, tx_bytes, tx_packets;
};

static int read_proc_net_dev(struct procdev *out, int max)
{
	FILE *f = fopen("/proc/net/dev", "r");
	char line[512];
	int n = 0;

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f) && n < max) {
		char *colon = strchr(line, ':'), *name = line;

		if (!colon)
			continue;
		*colon = '\0';
		while (*name == ' ')
			name++;
		snprintf(out[n].name, sizeof(out[n].name), "%.63s", name);
		if (sscanf(colon + 1, "%llu %llu %*u %*u %*u %*u %*u %*u %llu %llu",
			   &out[n].rx_bytes, &out[n].rx_packets, &out[n].tx_bytes,
			   &out[n].tx_packets) == 4)
			n++;
	}
	fclose(f);
	return n;
}

/* The live machine: every interface in /proc/net/dev, counters bracketed by
 * the /proc values read just before and just after the poll. */
START_TEST(test_live_against_proc)
{
	struct procdev before[64], after[64];
	struct harness *h = start("{physical_only: false, exclude: ''}", "/sys");
	int nb, na, checked = 0;

	ck_assert_int_eq(harness_init_rc(h), 0);
	nb = read_proc_net_dev(before, 64);
	harness_poll(h, S(1));
	na = read_proc_net_dev(after, 64);
	ck_assert_int_gt(nb, 0);
	for (int i = 0; i < nb; i++) {
		for (int j = 0; j < na; j++) {
			char lbl[160];
			static const char *const fams[4] = {
			    "fabric_netdev_receive_bytes_total",
			    "fabric_netdev_receive_packets_total",
			    "fabric_netdev_transmit_bytes_total",
			    "fabric_netdev_transmit_packets_total"};
			unsigned long long lo[4] = {
			    before[i].rx_bytes, before[i].rx_packets, before[i].tx_bytes,
			    before[i].tx_packets};
			unsigned long long hi[4] = {
			    after[j].rx_bytes, after[j].rx_packets, after[j].tx_bytes,
			    after[j].tx_packets};

			if (strcmp(before[i].name, after[j].name) != 0)
				continue;
			snprintf(lbl, sizeof(lbl), "{device=\"%.63s\"}", before[i].name);
			for (int k = 0; k < 4; k++) {
				double v = get(h, fams[k], lbl);

				ck_assert_msg(
				    v >= (double)lo[k] && v <= (double)hi[k],
				    "%s%s = %.0f, /proc/net/dev said %llu..%llu", fams[k],
				    lbl, v, lo[k], hi[k]);
			}
			checked++;
		}
	}
	ck_assert_int_gt(checked, 0);
	harness_free(h);
}
END_TEST

static Suite *netdev_suite(void)
{
	Suite *s = suite_create("netdev");
	TCase *tc = tcase_create("fixture");
	TCase *live = tcase_create("live");

	tcase_add_test(tc, test_fixture_values);
	tcase_add_test(tc, test_garbage_files);
	tcase_add_loop_test(tc, test_filters, 0,
			    sizeof(filter_cases) / sizeof(filter_cases[0]));
	tcase_add_test(tc, test_nothing_found);
	tcase_add_test(tc, test_reset_between_polls);
	tcase_add_test(tc, test_interface_churn);
	tcase_add_test(tc, test_rescan_appear_vanish);
	tcase_add_test(tc, test_rescan_never);
	tcase_add_test(live, test_live_against_proc);
	suite_add_tcase(s, tc);
	suite_add_tcase(s, live);
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
