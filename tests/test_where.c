/* What a stuck poll is stuck in: am_call_begin / am_call_end and the file
 * layer's own brackets (agent/sdk/files.c), as the watchdog reads them
 * (ctx_where, agent/plugin_api.c), through the real collector context. The
 * file calls are watched from inside them with tests/fake_open.c.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "accelmon/util.h"
#include "fake_open.h"
#include "plugin_api.h"

static const struct am_collector test_desc = {.name = "wheretest"};
static struct am_ctx ctx;
static char dir[64], file[128];

static void setup(void)
{
	FILE *fp;

	ctx_init(&ctx, 0, &test_desc, NULL, NULL, NULL, 1.0);
	snprintf(dir, sizeof(dir), "/tmp/accelmon-where.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(file, sizeof(file), "%s/gpu_busy_percent", dir);
	fp = fopen(file, "w");
	ck_assert_ptr_nonnull(fp);
	fputs("42\n", fp);
	fclose(fp);
	fake_open_reset();
}

static void teardown(void)
{
	fake_open_reset();
	ctx_bind_thread(NULL);
	unlink(file);
	rmdir(dir);
}

static const char *where(void)
{
	static char buf[320];

	ctx_where(&ctx, buf, sizeof(buf));
	return buf;
}

START_TEST(test_calls_nest)
{
	ck_assert_str_eq(where(), "");
	am_call_begin(&ctx, "nvmlDeviceGetPowerUsage");
	ck_assert_str_eq(where(), "in nvmlDeviceGetPowerUsage");
	am_call_begin(&ctx, "/sys/class/drm/card0/device/gpu_busy_percent");
	ck_assert_str_eq(where(), "reading /sys/class/drm/card0/device/gpu_busy_percent"
				  " within nvmlDeviceGetPowerUsage");
	/* A third level is counted, not named: the two outer ones are. */
	am_call_begin(&ctx, "inner");
	ck_assert_str_eq(where(), "reading /sys/class/drm/card0/device/gpu_busy_percent"
				  " within nvmlDeviceGetPowerUsage");
	am_call_end(&ctx);
	am_call_end(&ctx);
	ck_assert_str_eq(where(), "in nvmlDeviceGetPowerUsage");
	am_call_end(&ctx);
	ck_assert_str_eq(where(), "");
	am_call_end(&ctx); /* unbalanced: no underflow */
	am_call_begin(&ctx, "again");
	ck_assert_str_eq(where(), "in again");
	am_call_end(&ctx);
	ck_assert_str_eq(where(), "");
}
END_TEST

START_TEST(test_where_cut_to_buffer)
{
	char small[8];

	am_call_begin(&ctx, "nvmlDeviceGetPowerUsage");
	ck_assert_uint_eq(ctx_where(&ctx, small, sizeof(small)), 7);
	ck_assert_str_eq(small, "in nvml");
	am_call_end(&ctx);
}
END_TEST

/* What fake_open saw the context say at each open and pread. */
struct seen {
	char at_open[320], at_read[320];
	unsigned opens, reads;
};

static void look(const char *path, void *arg)
{
	struct seen *s = arg;

	if (path) {
		s->opens++;
		ctx_where(&ctx, s->at_open, sizeof(s->at_open));
	} else {
		s->reads++;
		ctx_where(&ctx, s->at_read, sizeof(s->at_read));
	}
}

START_TEST(test_file_read_names_path)
{
	struct am_files *fs = am_files_new(&ctx, 0);
	struct am_file *f = am_file_add(fs, AT_FDCWD, file);
	struct seen s = {0};
	char want[200], buf[16];
	uint64_t v;

	ck_assert_ptr_nonnull(f);
	snprintf(want, sizeof(want), "reading %s", file);
	fake_open_during(look, &s);
	ck_assert_int_eq(am_file_read_u64(f, &v), 0);
	ck_assert_uint_eq(v, 42);
	ck_assert_uint_eq(s.opens, 1);
	ck_assert_uint_eq(s.reads, 1);
	ck_assert_str_eq(s.at_open, want);
	ck_assert_str_eq(s.at_read, want);
	ck_assert_str_eq(where(), ""); /* ended with the read */
	/* Kept open: the next read is a pread only, named the same. */
	s.at_read[0] = '\0';
	ck_assert_int_eq(am_file_read(f, buf, sizeof(buf)), 3);
	ck_assert_uint_eq(s.opens, 1);
	ck_assert_str_eq(s.at_read, want);
	ck_assert_str_eq(where(), "");
	/* A failed open ends its bracket too. */
	fake_open_fail("gpu_busy_percent", EACCES, true);
	am_file_remove(fs, f);
	f = am_file_add(fs, AT_FDCWD, file);
	ck_assert_int_lt(am_file_read(f, buf, sizeof(buf)), 0);
	ck_assert_str_eq(s.at_open, want);
	ck_assert_str_eq(where(), "");
	/* Inside a vendor call, the read is named with it. */
	am_call_begin(&ctx, "amdsmi_get_gpu_activity");
	fake_open_reset();
	fake_open_during(look, &s);
	am_file_remove(fs, f);
	f = am_file_add(fs, AT_FDCWD, file);
	ck_assert_int_eq(am_file_read(f, buf, sizeof(buf)), 3);
	snprintf(want, sizeof(want), "reading %s within amdsmi_get_gpu_activity", file);
	ck_assert_str_eq(s.at_read, want);
	am_call_end(&ctx);
	am_files_free(fs);
}
END_TEST

/* The one-shot reads take no context: they name the thread's own. */
START_TEST(test_read_text_at_names_path)
{
	struct seen s = {0};
	char want[200], buf[16];

	snprintf(want, sizeof(want), "reading %s", file);
	fake_open_during(look, &s);
	ck_assert_int_eq(am_read_text_at(AT_FDCWD, file, buf, sizeof(buf)), 2);
	ck_assert_str_eq(s.at_open, ""); /* no context bound: nothing said */
	ctx_bind_thread(&ctx);
	ck_assert_int_eq(am_read_text_at(AT_FDCWD, file, buf, sizeof(buf)), 2);
	ck_assert_str_eq(buf, "42");
	ck_assert_str_eq(s.at_open, want);
	ck_assert_str_eq(where(), "");
	ck_assert_int_lt(am_read_text_at(AT_FDCWD, "/nonexistent/x", buf, sizeof(buf)),
			 0);
	ck_assert_str_eq(where(), "");
}
END_TEST

/* The watchdog reads from another thread while the collector's is stuck. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int inside, release_it;

static void *stuck(void *arg)
{
	(void)arg;
	am_call_begin(&ctx, "nvmlDeviceGetComputeRunningProcesses_v3");
	pthread_mutex_lock(&mu);
	inside = 1;
	pthread_cond_broadcast(&cv);
	while (!release_it)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	am_call_end(&ctx);
	return NULL;
}

START_TEST(test_watchdog_thread_sees_call)
{
	pthread_t t;

	ck_assert_int_eq(pthread_create(&t, NULL, stuck, NULL), 0);
	pthread_mutex_lock(&mu);
	while (!inside)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	ck_assert_str_eq(where(), "in nvmlDeviceGetComputeRunningProcesses_v3");
	pthread_mutex_lock(&mu);
	release_it = 1;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	pthread_join(t, NULL);
	ck_assert_str_eq(where(), "");
}
END_TEST

static Suite *where_suite(void)
{
	Suite *s = suite_create("where");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_calls_nest);
	tcase_add_test(tc, test_where_cut_to_buffer);
	tcase_add_test(tc, test_file_read_names_path);
	tcase_add_test(tc, test_read_text_at_names_path);
	tcase_add_test(tc, test_watchdog_thread_sees_call);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(where_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
