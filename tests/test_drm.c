/* Check suite for the drm collector (collectors/drm.c) against the fake
 * collector API: which cards it takes (i915, xe; amdgpu only while the
 * amdgpu collector does not run; never nvidia or a connector), their
 * accel_info, and the busy figure and job split from the i915 and xe
 * fdinfo shapes of the procfs fixture (tests/fixtures/procfs/node, a
 * writable copy whose fdinfo files the test advances between polls).
 */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "accelmon/collector.h"
#include "fake_am.h"
#include "fixture_tree.h"

extern const struct am_collector drm_collector;

static void violation(const char *msg)
{
	ck_abort_msg("%s", msg);
}

/* <sysfs>/devices/pci0000:00/<bus> with the PCI files and its driver
 * link, and class/drm/card<n> whose device link points there. */
static void mk_card(const char *sysfs, int n, const char *bus, unsigned vendor,
		    unsigned device, const char *driver)
{
	char p[4200], q[4200];

	snprintf(p, sizeof(p), "%s/devices/pci0000:00/%s", sysfs, bus);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	snprintf(q, sizeof(q), "0x%04x\n", vendor);
	{
		char f[4300];

		snprintf(f, sizeof(f), "%s/vendor", p);
		fixture_put(f, q);
		snprintf(q, sizeof(q), "0x%04x\n", device);
		snprintf(f, sizeof(f), "%s/device", p);
		fixture_put(f, q);
		snprintf(f, sizeof(f), "%s/numa_node", p);
		fixture_put(f, "0\n");
		snprintf(q, sizeof(q), "%s/bus/pci/drivers/%s", sysfs, driver);
		mkdir(q, 0755);
		snprintf(f, sizeof(f), "%s/driver", p);
		ck_assert_int_eq(symlink(q, f), 0);
	}
	snprintf(q, sizeof(q), "%s/class/drm/card%d", sysfs, n);
	ck_assert_int_eq(mkdir(q, 0755), 0);
	{
		char f[4300], v[32];

		snprintf(f, sizeof(f), "%s/device", q);
		ck_assert_int_eq(symlink(p, f), 0);
		snprintf(f, sizeof(f), "%s/dev", q);
		snprintf(v, sizeof(v), "226:%d\n", n);
		fixture_put(f, v);
	}
}

static char *sysfs_tree(void)
{
	char *root = fixture_tmpdir("drm-sysfs"), p[4200];
	const char *dirs[] = {"devices",  "devices/pci0000:00", "bus",
			      "bus/pci",  "bus/pci/drivers",	"class",
			      "class/drm"};

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", root, dirs[i]);
		ck_assert_int_eq(mkdir(p, 0755), 0);
	}
	mk_card(root, 0, "0000:00:02.0", 0x8086, 0x56a0, "i915");
	mk_card(root, 1, "0000:4d:00.0", 0x8086, 0xe20b, "xe");
	mk_card(root, 2, "0000:03:00.0", 0x1002, 0x740f, "amdgpu");
	mk_card(root, 3, "0000:18:00.0", 0x10de, 0x2330, "nvidia");
	snprintf(p, sizeof(p), "%s/class/drm/card0-DP-1", root);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	return root;
}

static void rm_tree(char *root)
{
	char cmd[4300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	ck_assert_int_eq(system(cmd), 0);
	free(root);
}

static struct am_ctx *ctx;
static char *sysfs, *procfs;

static void setup(void)
{
	fake_am_on_violation(violation);
	fake_am_set_running("amdgpu", 1);
	sysfs = sysfs_tree();
	procfs = fixture_tree("procfs/node");
	ctx = fake_am_new("drm", sysfs);
	fake_am_set_procfs(ctx, procfs);
}

static void teardown(void)
{
	fake_am_free(ctx);
	rm_tree(sysfs);
	fixture_tree_remove(procfs);
	fake_am_set_running("amdgpu", -ENOENT);
}

static void *start(void)
{
	char err[256];
	const struct am_config *cfg =
	    fake_am_config(ctx, &drm_collector, "{}", err, sizeof(err));
	void *st = NULL;
	int rc;

	ck_assert_msg(cfg != NULL, "config: %s", err);
	rc = drm_collector.init(ctx, cfg, &st);
	ck_assert_msg(rc == 0, "init: %d (%s)", rc, fake_am_found(ctx));
	return st;
}

/* The latest value of fam on device dev (job: the job label, or NULL for a
 * device series); NAN when absent or not emitted in the latest poll. */
static double val(const char *fam, const char *dev, const char *job)
{
	for (size_t i = 0; i < fake_am_nseries(ctx); i++) {
		const struct fake_series *s = fake_am_series(ctx, (am_series_t)i);

		if (strcmp(fake_am_view(ctx, s->view)->name, fam) != 0 ||
		    strcmp(s->values[0], dev) != 0 || (job && s->nlabels < 3) ||
		    (job && strcmp(s->values[2], job) != 0) || !s->nsamples ||
		    s->retired || s->last_ns != fake_am_now(ctx))
			continue;
		return fake_am_scaled(ctx, s);
	}
	return NAN;
}

#define EQ(x, v)                                                                         \
	ck_assert_msg(fabs((double)(x) - (double)(v)) < 1e-9 * (fabs((double)(v)) + 1),  \
		      "%s = %.9g, want %.9g", #x, (double)(x), (double)(v))
#define ABSENT(x) ck_assert_msg(isnan(x), "%s should be absent, is %g", #x, x)

START_TEST(t_cards)
{
	void *st = start();
	const struct fake_series *s;

	fake_am_set_time(ctx, 1000000000LL);
	ck_assert_int_eq(drm_collector.poll(ctx, st), 0);
	EQ(val("accel_up", "i915-card0", NULL), 1);
	EQ(val("accel_up", "xe-card1", NULL), 1);
	/* amdgpu's collector runs: its card is not ours; nvidia never */
	ABSENT(val("accel_up", "amdgpu-card2", NULL));
	ABSENT(val("accel_up", "nvidia-card3", NULL));
	s = fake_am_match(ctx, "accel_info", "device=\"i915-card0\"");
	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(fake_am_label(ctx, s, "vendor"), "Intel");
	ck_assert_str_eq(fake_am_label(ctx, s, "model"), "Intel 8086:56a0");
	ck_assert_str_eq(fake_am_label(ctx, s, "pci_bus_id"), "0000:00:02.0");
	ck_assert_str_eq(fake_am_label(ctx, s, "numa_node"), "0");
	/* nor when it stops (--once: after its polls) */
	fake_am_set_running("amdgpu", -ENOENT);
	ck_assert_int_eq(drm_collector.rescan(ctx, st), 0);
	fake_am_advance(ctx, 1000000000LL);
	ck_assert_int_eq(drm_collector.poll(ctx, st), 0);
	ABSENT(val("accel_up", "amdgpu-card2", NULL));
	/* a card whose driver is unbound reads accel_up 0 */
	{
		char p[4200];

		snprintf(p, sizeof(p), "%s/devices/pci0000:00/0000:4d:00.0/driver",
			 sysfs);
		ck_assert_int_eq(unlink(p), 0);
	}
	fake_am_advance(ctx, 1000000000LL);
	ck_assert_int_eq(drm_collector.poll(ctx, st), 0);
	EQ(val("accel_up", "xe-card1", NULL), 0);
	drm_collector.fini(ctx, st);
}
END_TEST

static void put(const char *rel, const char *text)
{
	char p[4200];

	snprintf(p, sizeof(p), "%s/%s", procfs, rel);
	fixture_put(p, text);
}

static const char i915_fmt[] = "pos:\t0\nflags:\t02100002\nmnt_id:\t26\nino:\t1029\n"
			       "drm-driver:\ti915\ndrm-pdev:\t0000:00:02.0\n"
			       "drm-client-id:\t%d\ndrm-engine-render:\t%llu ns\n"
			       "drm-engine-copy:\t%llu ns\ndrm-engine-video:\t0 ns\n"
			       "drm-resident-local0:\t%d MiB\n";
static const char xe_fmt[] =
    "drm-driver:\txe\ndrm-client-id:\t3\ndrm-pdev:\t0000:4d:00.0\n"
    "drm-resident-vram0:\t64 MiB\n"
    "drm-cycles-rcs:\t%llu\ndrm-total-cycles-rcs:\t%llu\n"
    "drm-cycles-bcs:\t100\ndrm-total-cycles-bcs:\t%llu\n";

static void i915_client(const char *rel, int id, unsigned long long render,
			unsigned long long copy, int mib)
{
	char t[1024];

	snprintf(t, sizeof(t), i915_fmt, id, render, copy, mib);
	put(rel, t);
}

static void xe_client(unsigned long long cycles, unsigned long long total)
{
	char t[1024];

	snprintf(t, sizeof(t), xe_fmt, cycles, total, total);
	put("2004/fdinfo/9", t);
}

/* Two i915 clients (pid 2003 of user 1000, and pid 1001 of Slurm job 4242
 * given an fd here) and the xe client of ollama.service (pid 2004). */
START_TEST(t_split)
{
	char p[4200];
	void *st;

	snprintf(p, sizeof(p), "%s/1001/fd", procfs);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/1001/fdinfo", procfs);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/1001/fd/5", procfs);
	ck_assert_int_eq(symlink("/dev/dri/renderD128", p), 0);
	i915_client("2003/fdinfo/4", 7, 1000000000ull, 0, 16);
	i915_client("1001/fdinfo/5", 8, 5000000000ull, 0, 256);
	xe_client(28257900ull, 7655183225ull);
	st = start();
	fake_am_set_time(ctx, 1000000000LL);
	ck_assert_int_eq(drm_collector.poll(ctx, st), 0);
	/* the first poll: jobs and memory, no interval yet */
	EQ(val("accel_job_memory_used_bytes", "i915-card0", "4242"), 256.0 * 1048576);
	EQ(val("accel_job_memory_used_bytes", "xe-card1", "ollama.service"),
	   64.0 * 1048576);
	ABSENT(val("accel_busy_seconds_total", "i915-card0", NULL));
	/* 1 s: render 300 ms (user 1000), render 60 ms + copy 40 ms (4242) */
	i915_client("2003/fdinfo/4", 7, 1300000000ull, 0, 16);
	i915_client("1001/fdinfo/5", 8, 5060000000ull, 40000000ull, 256);
	/* xe: 50 M of 100 M GPU clock cycles */
	xe_client(78257900ull, 7755183225ull);
	fake_am_advance(ctx, 1000000000LL);
	ck_assert_int_eq(drm_collector.poll(ctx, st), 0);
	EQ(val("accel_utilization_ratio", "i915-card0", NULL), 0.4);
	EQ(val("accel_busy_seconds_total", "i915-card0", NULL), 0.4);
	/* the card's first busy figure: the aggregator's integral
	 * (accel_busy_seconds_total) starts at 0 here, so the jobs get no
	 * time for it either; their shares are by the engine time */
	EQ(val("accel_job_busy_seconds_total", "i915-card0", "1000"), 0);
	EQ(val("accel_job_busy_seconds_total", "i915-card0", "4242"), 0);
	EQ(val("accel_utilization_ratio", "xe-card1", NULL), 0.5);
	EQ(val("accel_job_busy_seconds_total", "xe-card1", "ollama.service"), 0);
	/* no energy figure is read: no energy series */
	ABSENT(val("accel_job_energy_joules_total", "i915-card0", "4242"));
	ck_assert_ptr_nonnull(fake_am_match(
	    ctx, "accel_job_info", "device=\"i915-card0\",uuid=\"\",job=\"4242\""));
	/* engine time beyond the interval (engines in parallel): at most 1 */
	i915_client("2003/fdinfo/4", 7, 2300000000ull, 0, 16);
	i915_client("1001/fdinfo/5", 8, 5560000000ull, 540000000ull, 256);
	fake_am_advance(ctx, 1000000000LL);
	ck_assert_int_eq(drm_collector.poll(ctx, st), 0);
	EQ(val("accel_utilization_ratio", "i915-card0", NULL), 1);
	/* the card's integral: 1 × 1 s; the jobs' sum the same */
	EQ(val("accel_job_busy_seconds_total", "i915-card0", "1000") +
	       val("accel_job_busy_seconds_total", "i915-card0", "4242"),
	   1.0);
	/* a stall past the staleness horizon (3 intervals): the aggregator
	 * integrates nothing over it, and the jobs get nothing either */
	i915_client("2003/fdinfo/4", 7, 7300000000ull, 0, 16);
	i915_client("1001/fdinfo/5", 8, 5560000000ull, 540000000ull, 256);
	fake_am_advance(ctx, 5000000000LL);
	ck_assert_int_eq(drm_collector.poll(ctx, st), 0);
	EQ(val("accel_utilization_ratio", "i915-card0", NULL), 1);
	EQ(val("accel_job_busy_seconds_total", "i915-card0", "1000") +
	       val("accel_job_busy_seconds_total", "i915-card0", "4242"),
	   1.0);
	/* and the next interval counts again */
	i915_client("2003/fdinfo/4", 7, 7800000000ull, 0, 16);
	fake_am_advance(ctx, 1000000000LL);
	ck_assert_int_eq(drm_collector.poll(ctx, st), 0);
	EQ(val("accel_job_busy_seconds_total", "i915-card0", "1000") +
	       val("accel_job_busy_seconds_total", "i915-card0", "4242"),
	   1.5);
	ck_assert_uint_eq(fake_am_read_errors(ctx), 0);
	drm_collector.fini(ctx, st);
}
END_TEST

/* Without the amdgpu collector its cards are taken, and left to it once it
 * starts (an instance started after ours). */
START_TEST(t_amdgpu_unclaimed)
{
	void *st;

	fake_am_set_running("amdgpu", -ENOENT);
	st = start();
	fake_am_set_interval(ctx, 0.1); /* waits on a starting init 50 ms */
	fake_am_set_time(ctx, 1000000000LL);
	ck_assert_int_eq(drm_collector.poll(ctx, st), 0);
	EQ(val("accel_up", "amdgpu-card2", NULL), 1);
	{
		const struct fake_series *s =
		    fake_am_match(ctx, "accel_info", "device=\"amdgpu-card2\"");

		ck_assert_ptr_nonnull(s);
		ck_assert_str_eq(fake_am_label(ctx, s, "vendor"), "AMD");
	}
	fake_am_set_running("amdgpu", 0);
	fake_am_advance(ctx, 1000000000LL);
	ck_assert_int_eq(drm_collector.poll(ctx, st), 0);
	ABSENT(val("accel_up", "amdgpu-card2", NULL));
	ck_assert(fake_am_match(ctx, "accel_up", "device=\"amdgpu-card2\"")->retired);
	/* its init failed (found nothing): the card is ours again */
	fake_am_set_running("amdgpu", -ENOENT);
	fake_am_advance(ctx, 1000000000LL);
	ck_assert_int_eq(drm_collector.poll(ctx, st), 0);
	EQ(val("accel_up", "amdgpu-card2", NULL), 1);
	/* it runs: its cards are its own for good (it stops after --once) */
	fake_am_set_running("amdgpu", 1);
	fake_am_advance(ctx, 1000000000LL);
	ck_assert_int_eq(drm_collector.poll(ctx, st), 0);
	ABSENT(val("accel_up", "amdgpu-card2", NULL));
	fake_am_set_running("amdgpu", -ENOENT);
	fake_am_advance(ctx, 1000000000LL);
	ck_assert_int_eq(drm_collector.poll(ctx, st), 0);
	ABSENT(val("accel_up", "amdgpu-card2", NULL));
	drm_collector.fini(ctx, st);
}
END_TEST

START_TEST(t_nothing)
{
	struct am_ctx *c = fake_am_new("drm", procfs); /* no class/drm there */
	char err[256];
	const struct am_config *cfg =
	    fake_am_config(c, &drm_collector, "{}", err, sizeof(err));
	void *st = NULL;

	ck_assert_int_eq(drm_collector.init(c, cfg, &st), -ENODEV);
	ck_assert_ptr_nonnull(strstr(fake_am_found(c), "no i915, xe"));
	fake_am_free(c);
}
END_TEST

static Suite *drm_suite(void)
{
	Suite *s = suite_create("drm");
	TCase *tc = tcase_create("drm");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, t_cards);
	tcase_add_test(tc, t_split);
	tcase_add_test(tc, t_amdgpu_unclaimed);
	tcase_add_test(tc, t_nothing);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(drm_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
