/* Sysfs fixture trees for Check suites (see fixture_tree.h): built with the
 * fixtures' own mktree.sh so every suite gets the same links.
 */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixture_tree.h"

#ifndef TEST_SRCDIR
#define TEST_SRCDIR "tests"
#endif

char *fixture_tree(const char *tree)
{
	char tmp[] = "/tmp/accelmon_fixture.XXXXXX", cmd[3 * PATH_MAX];
	const char *base = strrchr(tree, '/');
	char *root;

	ck_assert_ptr_nonnull(mkdtemp(tmp));
	root = malloc(PATH_MAX);
	ck_assert_ptr_nonnull(root);
	snprintf(root, PATH_MAX, "%s/%s", tmp, base ? base + 1 : tree);
	snprintf(cmd, sizeof(cmd),
		 "sh '%s/fixtures/infiniband/mktree.sh' '%s/fixtures/%s' '%s'",
		 TEST_SRCDIR, TEST_SRCDIR, tree, root);
	ck_assert_msg(system(cmd) == 0, "%s", cmd);
	return root;
}

void fixture_tree_remove(char *root)
{
	char cmd[PATH_MAX + 16], *slash;

	if (!root)
		return;
	slash = strrchr(root, '/');
	if (slash)
		*slash = '\0'; /* the temp directory above the tree */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	ck_assert_int_eq(system(cmd), 0);
	free(root);
}

void fixture_put(const char *path, const char *text)
{
	FILE *f = fopen(path, "r+");

	if (!f)
		f = fopen(path, "w");
	ck_assert_msg(f != NULL, "%s", path);
	ck_assert_int_eq(ftruncate(fileno(f), 0), 0);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}
