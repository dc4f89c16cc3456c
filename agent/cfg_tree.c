/* Config subtrees (AM_OPT_TREE): a read-only copy of one YAML value (map,
 * list or scalar) with the line of every node, for options whose shape the
 * flat option types cannot say (a map of user profiles, a list of
 * endpoints). config_yaml.c builds them; this file owns, copies, compares
 * and walks them, and resolves the error paths of the check hooks
 * ("profiles.mychip.format", "endpoints[1].url") to a node's line.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cfg_tree.h"

struct am_node {
	enum am_node_kind kind;
	unsigned long line;
	char *str;	       /* scalar text */
	size_t n, cap;	       /* children */
	char **keys;	       /* map keys (NULL for a list) */
	struct am_node **kids; /* list items or map values */
};

struct am_node *cfg_tree_new(enum am_node_kind kind, const char *str, unsigned long line)
{
	struct am_node *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->kind = kind;
	n->line = line;
	if (kind == AM_NODE_SCALAR && !(n->str = strdup(str ? str : ""))) {
		free(n);
		return NULL;
	}
	return n;
}

void cfg_tree_free(struct am_node *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n; i++) {
		cfg_tree_free(n->kids[i]);
		if (n->keys)
			free(n->keys[i]);
	}
	free(n->kids);
	free(n->keys);
	free(n->str);
	free(n);
}

int cfg_tree_add(struct am_node *parent, const char *key, struct am_node *child)
{
	if (parent->kind == AM_NODE_SCALAR || (parent->kind == AM_NODE_MAP) != !!key)
		return -EINVAL;
	if (parent->n == parent->cap) {
		size_t cap = parent->cap ? 2 * parent->cap : 4;
		struct am_node **kids = realloc(parent->kids, cap * sizeof(*kids));

		if (!kids)
			return -ENOMEM;
		parent->kids = kids;
		if (key) {
			char **keys = realloc(parent->keys, cap * sizeof(*keys));

			if (!keys)
				return -ENOMEM;
			parent->keys = keys;
		}
		parent->cap = cap;
	}
	if (key && !(parent->keys[parent->n] = strdup(key)))
		return -ENOMEM;
	parent->kids[parent->n++] = child;
	return 0;
}

struct am_node *cfg_tree_dup(const struct am_node *n)
{
	struct am_node *d;

	if (!n)
		return NULL;
	if (!(d = cfg_tree_new(n->kind, n->str, n->line)))
		return NULL;
	for (size_t i = 0; i < n->n; i++) {
		struct am_node *k = cfg_tree_dup(n->kids[i]);

		if (!k || cfg_tree_add(d, n->keys ? n->keys[i] : NULL, k) < 0) {
			cfg_tree_free(k);
			cfg_tree_free(d);
			return NULL;
		}
	}
	return d;
}

bool am_node_equal(const struct am_node *a, const struct am_node *b)
{
	if (!a || !b)
		return a == b;
	if (a->kind != b->kind || a->n != b->n)
		return false;
	if (a->kind == AM_NODE_SCALAR)
		return strcmp(a->str, b->str) == 0;
	for (size_t i = 0; i < a->n; i++) {
		if (a->keys && strcmp(a->keys[i], b->keys[i]))
			return false;
		if (!am_node_equal(a->kids[i], b->kids[i]))
			return false;
	}
	return true;
}

enum am_node_kind am_node_kind(const struct am_node *n)
{
	return n ? n->kind : 0;
}

size_t am_node_len(const struct am_node *n)
{
	return n ? n->n : 0;
}

const struct am_node *am_node_at(const struct am_node *n, size_t i)
{
	return n && i < n->n ? n->kids[i] : NULL;
}

const char *am_node_key(const struct am_node *n, size_t i)
{
	return n && n->keys && i < n->n ? n->keys[i] : NULL;
}

const struct am_node *am_node_get(const struct am_node *n, const char *key)
{
	if (!n || n->kind != AM_NODE_MAP || !key)
		return NULL;
	for (size_t i = 0; i < n->n; i++)
		if (!strcmp(n->keys[i], key))
			return n->kids[i];
	return NULL;
}

const char *am_node_str(const struct am_node *n)
{
	return n && n->kind == AM_NODE_SCALAR ? n->str : NULL;
}

unsigned long am_node_line(const struct am_node *n)
{
	return n ? n->line : 0;
}

unsigned long cfg_tree_path_line(const struct am_node *n, const char *path)
{
	unsigned long line = am_node_line(n);
	const char *p = path;

	/* Walk as far as the path leads: a key the check names but the file
	 * left out is reported at its parent, the closest line there is. */
	while (n && p && *p) {
		const struct am_node *next = NULL;

		if (*p == '.') {
			p++;
			continue;
		}
		if (*p == '[') {
			char *end;
			unsigned long i = strtoul(p + 1, &end, 10);

			if (*end != ']')
				break;
			next = n->kind == AM_NODE_LIST ? am_node_at(n, i) : NULL;
			p = end + 1;
		} else {
			size_t len = strcspn(p, ".[");

			for (size_t i = 0; n->kind == AM_NODE_MAP && i < n->n; i++)
				if (strlen(n->keys[i]) == len &&
				    !strncmp(n->keys[i], p, len))
					next = n->kids[i];
			p += len;
		}
		if (!next)
			break;
		n = next;
		if (n->line)
			line = n->line;
	}
	return line;
}
