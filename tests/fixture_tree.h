/* Sysfs fixture trees for Check suites: a writable copy of a committed tree
 * under tests/fixtures with the symlinks its TREE.links lists (see
 * tests/fixtures/infiniband/mktree.sh), and in-place file edits.
 */
#ifndef ACCELMON_TESTS_FIXTURE_TREE_H
#define ACCELMON_TESTS_FIXTURE_TREE_H

/* Build TEST_SRCDIR/fixtures/<tree> ("infiniband/ndr8") in a new temp
 * directory; returns the root (free with fixture_tree_remove). */
char *fixture_tree(const char *tree);
void fixture_tree_remove(char *root);

/* Trees built once and handed out by name: the read-only trees of a test
 * case (built in an unchecked fixture, before the forked tests) or a test's
 * own writable copies. */
#define FIXTURE_SET_MAX 8
struct fixture_set {
	char *tree[FIXTURE_SET_MAX], *root[FIXTURE_SET_MAX];
	unsigned n;
};
/* The root of `tree` in the set, built on first use. */
const char *fixture_set_get(struct fixture_set *s, const char *tree);
void fixture_set_clear(struct fixture_set *s);

/* ROOT/DIR/REL in a static buffer (valid until the next call). */
const char *fixture_file(const char *root, const char *dir, const char *rel);

/* Overwrite a file in place (same inode: held fds see the new value). */
void fixture_put(const char *path, const char *text);
/* The same with a number and a newline, as sysfs writes counters. */
void fixture_put_u64(const char *path, unsigned long long v);

/* A new empty directory /tmp/<prefix>-XXXXXX (free the name), and the
 * removal of such a directory with the plain files in it. */
char *fixture_tmpdir(const char *prefix);
void fixture_rmdir_files(const char *dir);

#endif
