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

/* Overwrite a file in place (same inode: held fds see the new value). */
void fixture_put(const char *path, const char *text);

#endif
