/* Tests of the runtime collector list and the loader's file handling
 * (agent/plugins.c) that need no plugin build: the built-ins in table
 * order and as config components, plugin_dir edge cases, files that are no
 * shared object. Real plugins are built and loaded by
 * tests/integration/plugin_oot.sh.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builtin.h"
#include "plugins.h"

static char dir[] = "/tmp/test_plugins.XXXXXX";
static char err[512];

static void mkfile(const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

START_TEST(test_builtins_listed)
{
	const struct cfg_component *c;
	size_t n;

	ck_assert_uint_eq(collectors_count(), builtin_ncollectors);
	c = collectors_components(&n);
	ck_assert_uint_eq(n, builtin_ncollectors);
	for (size_t i = 0; i < n; i++) {
		ck_assert_ptr_eq(collectors_at(i), builtin_collectors[i]);
		ck_assert_str_eq(collectors_origin(i), "built-in");
		ck_assert_str_eq(c[i].name, builtin_collectors[i]->name);
		ck_assert_ptr_eq(c[i].options, builtin_collectors[i]->options);
		ck_assert_ptr_eq(collectors_find(c[i].name), builtin_collectors[i]);
	}
	ck_assert_ptr_nonnull(collectors_find("netdev"));
	ck_assert_ptr_null(collectors_find("nope"));
	ck_assert_ptr_null(collectors_find(NULL));
	ck_assert_ptr_null(collectors_at(n));
}
END_TEST

START_TEST(test_dir_missing_and_empty)
{
	char missing[300];

	snprintf(missing, sizeof(missing), "%s/none", dir);
	ck_assert_int_eq(plugins_load_dir(missing, err, sizeof(err)), 0);
	/* only *.so files are candidates: a README or a hidden .so is not */
	mkfile("README", "not a plugin\n");
	mkfile(".hidden.so", "not a plugin either\n");
	ck_assert_int_eq(plugins_load_dir(dir, err, sizeof(err)), 0);
	ck_assert_uint_eq(collectors_count(), builtin_ncollectors);
}
END_TEST

START_TEST(test_dir_is_a_file)
{
	char path[300];
	int rc;

	snprintf(path, sizeof(path), "%s/README", dir);
	mkfile("README", "x\n");
	rc = plugins_load_dir(path, err, sizeof(err));
	ck_assert_int_eq(rc, -ENOTDIR);
	ck_assert_ptr_nonnull(strstr(err, "plugin_dir "));
	ck_assert_ptr_nonnull(strstr(err, "Not a directory"));
}
END_TEST

START_TEST(test_not_elf)
{
	char path[300], want[400];
	int rc;

	mkfile("text.so", "this is text\n");
	snprintf(path, sizeof(path), "%s/text.so", dir);
	rc = plugins_load(path, err, sizeof(err));
	ck_assert_int_eq(rc, -ENOEXEC);
	snprintf(want, sizeof(want), "%s: cannot load plugin: ", path);
	ck_assert_msg(!strncmp(err, want, strlen(want)), "%s", err);
	ck_assert(!strchr(err, '\n'));
	/* through plugin_dir, the first failure stops the scan */
	rc = plugins_load_dir(dir, err, sizeof(err));
	ck_assert_int_eq(rc, -ENOEXEC);
	ck_assert_uint_eq(collectors_count(), builtin_ncollectors);
}
END_TEST

START_TEST(test_missing_file)
{
	int rc = plugins_load("/nonexistent/x.so", err, sizeof(err));

	ck_assert_int_eq(rc, -ENOENT);
	ck_assert_str_eq(err, "/nonexistent/x.so: cannot load plugin: No such "
			      "file or directory");
}
END_TEST

START_TEST(test_hook_keys)
{
	char *plugins[] = {"/nonexistent/y.so"};
	struct agent_config cfg = {.plugins = plugins, .nplugins = 1};
	const struct cfg_component *c = NULL;
	size_t n = 0;

	/* a listed file that fails is the error, before plugin_dir */
	cfg.plugin_dir = dir;
	ck_assert_int_eq(plugins_config_hook(NULL, &cfg, &c, &n, err, sizeof(err)),
			 -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/y.so"));
	/* nothing listed, no directory: the list as it is */
	cfg.nplugins = 0;
	cfg.plugin_dir = "";
	ck_assert_int_eq(plugins_config_hook(NULL, &cfg, &c, &n, err, sizeof(err)), 0);
	ck_assert_uint_eq(n, builtin_ncollectors);
	ck_assert_ptr_nonnull(c);
}
END_TEST

static void setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
	strcpy(dir, "/tmp/test_plugins.XXXXXX");
}

int main(void)
{
	Suite *s = suite_create("plugins");
	TCase *tc = tcase_create("loader");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_builtins_listed);
	tcase_add_test(tc, test_dir_missing_and_empty);
	tcase_add_test(tc, test_dir_is_a_file);
	tcase_add_test(tc, test_not_elf);
	tcase_add_test(tc, test_missing_file);
	tcase_add_test(tc, test_hook_keys);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
