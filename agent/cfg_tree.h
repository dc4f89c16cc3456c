/* Config subtrees (AM_OPT_TREE): construction and the agent-internal calls;
 * the read-only walk is public, in accelmon/collector.h. */
#ifndef ACCELMON_CFG_TREE_H
#define ACCELMON_CFG_TREE_H

#include "accelmon/collector.h"

/* A node (scalar: a copy of str); NULL when out of memory. */
struct am_node *cfg_tree_new(enum am_node_kind kind, const char *str, unsigned long line);
/* Append child to a list (key NULL) or a map (key set); the parent owns it
 * from then on, except on failure (-ENOMEM, -EINVAL for a wrong key). */
int cfg_tree_add(struct am_node *parent, const char *key, struct am_node *child);
struct am_node *cfg_tree_dup(const struct am_node *n);
void cfg_tree_free(struct am_node *n);
/* The line of the node a check's path names, relative to n ("a.b[1].c",
 * "[0]"), or of the deepest node of it that exists; 0 if none has one. */
unsigned long cfg_tree_path_line(const struct am_node *n, const char *path);

#endif
