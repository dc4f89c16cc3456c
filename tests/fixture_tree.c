/* Sysfs fixture trees for Check suites (see fixture_tree.h): built with the
 * fixtures' own mktree.sh so every suite gets the same links.
 */
#include <check.h>
#include <dirent.h>
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

void fixture_put_u64(const char *path, unsigned long long v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%llu\n", v);
	fixture_put(path, buf);
}

const char *fixture_set_get(struct fixture_set *s, const char *tree)
{
	for (unsigned i = 0; i < s->n; i++)
		if (strcmp(s->tree[i], tree) == 0)
			return s->root[i];
	ck_assert_uint_lt(s->n, FIXTURE_SET_MAX);
	s->tree[s->n] = strdup(tree);
	ck_assert_ptr_nonnull(s->tree[s->n]);
	s->root[s->n] = fixture_tree(tree);
	return s->root[s->n++];
}

void fixture_set_clear(struct fixture_set *s)
{
	for (unsigned i = 0; i < s->n; i++) {
		fixture_tree_remove(s->root[i]);
		free(s->tree[i]);
	}
	s->n = 0;
}

const char *fixture_file(const char *root, const char *dir, const char *rel)
{
	static char path[PATH_MAX];

	ck_assert_int_lt(snprintf(path, sizeof(path), "%s/%s/%s", root, dir, rel),
			 (int)sizeof(path));
	return path;
}

char *fixture_tmpdir(const char *prefix)
{
	char *d = malloc(strlen(prefix) + 16);

	ck_assert_ptr_nonnull(d);
	sprintf(d, "/tmp/%s-XXXXXX", prefix);
	ck_assert_ptr_nonnull(mkdtemp(d));
	return d;
}

void fixture_rmdir_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[PATH_MAX];

	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		unlink(p);
	}
	if (d)
		closedir(d);
	rmdir(dir);
}
