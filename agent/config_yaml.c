/* Agent configuration, the YAML side: reads the file (libyaml document
 * API) into an agent_config, checking every key against the option tables
 * of the known collectors (built-ins and plugins, which the top-level
 * plugin keys load first) and exporters. The embedded default is applied
 * first and the file on top of it, through the same code path; errors are
 * one line "SOURCE:LINE: key.path: problem". Values go to the option store
 * (options.c), which the am_cfg_* getters read.
 */
#ifdef HAVE_CONFIG_H
/* The autoconf header, for ACCELMON_DEFAULT_PORT. It shares its name with
 * agent/config.h beside this file: angle brackets skip this directory, and
 * automake's DEFAULT_INCLUDES (-I. of the build dir) come before AM_CPPFLAGS,
 * so this finds the generated one, in-tree and VPATH builds alike. */
#include <config.h>
#endif
#include "cfg_tree.h"
#include "config.h"
#include "hostport.h"
#include "options.h"
#include "yaml_depth.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#ifndef ACCELMON_DEFAULT_PORT
#define ACCELMON_DEFAULT_PORT 9917
#endif
#define CFG_STR_(x) #x
#define CFG_STR(x) CFG_STR_(x)

/* Larger than any sane config; bounds what a typo'd path can make us read. */
#define CFG_MAX_BYTES (1024 * 1024)
#define CFG_MAX_INTERVAL_S 86400.0
#define CFG_MAX_DURATION_S (3650 * 86400.0)
#define CFG_MIN_INTERVAL_S 0.1
#define CFG_DEFAULT_INTERVAL_S 1.0
#define CFG_DEFAULT_RESCAN_S 30.0
#define CFG_EMBEDDED_SOURCE "<embedded default>"
#ifndef ACCELMON_PLUGINDIR
#define ACCELMON_PLUGINDIR "/usr/local/lib/accelmon/plugins"
#endif

const char config_embedded_default[] =
	"# accelmon embedded default configuration.\n"
	"# Every key is optional: a --config file overrides these key by key.\n"
	"\n"
	"# Prometheus /metrics endpoint; loopback only until an operator opens it.\n"
	"listen: 127.0.0.1:" CFG_STR(ACCELMON_DEFAULT_PORT) "\n"
	"\n"
	"# error, warn, info or debug.\n"
	"log_level: info\n"
	"\n"
	"# Collector plugins (.so): the files listed, then every .so in\n"
	"# plugin_dir when that directory exists (\"\" for none).\n"
	"plugins: []\n"
	"plugin_dir: \"" ACCELMON_PLUGINDIR "\"\n"
	"\n"
	"# Every collector auto-detects its hardware and reports what it found;\n"
	"# those that need setting up (pcap, sim) stay off until configured.\n"
	"collectors: {}\n"
	"\n"
	"# Exporters besides the Prometheus endpoint (remote_write, records) are\n"
	"# off until configured.\n"
	"exporters: {}\n";

/* ---- parsing ---- */

struct cfg_parse {
	yaml_document_t *doc;
	const char *source;
	char *err;
	size_t errlen;
	const struct cfg_component *collectors, *exporters;
	size_t ncollectors, nexporters;
	const struct cfg_schema *schema;
	bool last_layer; /* the text whose plugin keys load plugins */
	struct agent_config *cfg;
	size_t tree_nodes; /* AM_OPT_TREE values of the whole config, all layers */
};

#define CFG_PATH_MAX 256

/* Error at a node: "SOURCE:LINE: PATH: problem"; returns -EINVAL. */
static int node_err(struct cfg_parse *p, const yaml_node_t *node,
		    const char *path, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int node_err(struct cfg_parse *p, const yaml_node_t *node,
		    const char *path, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	config_err(p->err, p->errlen, "%s:%lu: %s: %s", p->source,
		node ? (unsigned long)node->start_mark.line + 1 : 1UL, path,
		msg);
	return -EINVAL;
}

static int oom(struct cfg_parse *p)
{
	config_err(p->err, p->errlen, "%s: out of memory", p->source);
	return -ENOMEM;
}

static const char *scalar(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

/* A plain empty, ~ or null scalar: YAML's null (`netdev:` with nothing). */
static bool is_null(const yaml_node_t *n)
{
	const char *s;

	if (n->type != YAML_SCALAR_NODE ||
	    n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	s = scalar(n);
	return !*s || !strcmp(s, "~") || !strcmp(s, "null") ||
	       !strcmp(s, "Null") || !strcmp(s, "NULL");
}

/* What a node is, for "expected X, got Y": quoted (escaped, shortened) text
 * for scalars so that the message stays one readable line. */
static const char *describe(const yaml_node_t *n, char *buf, size_t len)
{
	size_t o = 0;

	if (n->type == YAML_MAPPING_NODE)
		return "a mapping";
	if (n->type == YAML_SEQUENCE_NODE)
		return "a sequence";
	if (is_null(n))
		return "nothing (null)";
	buf[o++] = '"';
	for (const unsigned char *s = n->data.scalar.value; *s; s++) {
		if (o + 8 >= len) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (*s < 0x20 || *s == 0x7f)
			o += (size_t)snprintf(buf + o, len - o, "\\x%02x", *s);
		else if (*s == '"' || *s == '\\')
			o += (size_t)snprintf(buf + o, len - o, "\\%c", *s);
		else
			buf[o++] = (char)*s;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

static void join_path(char *out, const char *parent, const char *key)
{
	if (parent && *parent)
		snprintf(out, CFG_PATH_MAX, "%s.%s", parent, key);
	else
		snprintf(out, CFG_PATH_MAX, "%s", key);
}

/* Known keys, comma-separated, for "unknown key (known: ...)". */
static void known_list(char *buf, size_t len, const char *const *fixed,
		       const struct am_option *opts)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; fixed && fixed[i] && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%s", o ? ", " : "",
				      fixed[i]);
	for (size_t i = 0; opts && opts[i].name && o < len; i++) {
		bool dup = false;

		for (size_t j = 0; fixed && fixed[j]; j++)
			dup |= !strcmp(fixed[j], opts[i].name);
		if (!dup)
			o += (size_t)snprintf(buf + o, len - o, "%s%s",
					      o ? ", " : "", opts[i].name);
	}
	if (!buf[0])
		snprintf(buf, len, "none");
}

typedef int (*cfg_pair_fn)(struct cfg_parse *p, void *ctx, const char *path,
			   const char *key, const yaml_node_t *knode,
			   const yaml_node_t *val);

/* Walk a mapping: keys must be scalars, appear once, and be accepted by
 * `known` (returns false for an unknown key: the caller's fn is not
 * called and `unknown_fmt` + the known list make the error). Pairs are
 * handled in file order, so the first problem in the file is reported. */
static int walk_mapping(struct cfg_parse *p, const yaml_node_t *map,
			const char *path,
			bool (*known)(void *ctx, const char *key),
			void (*list_known)(void *ctx, char *buf, size_t len),
			const char *unknown_what, cfg_pair_fn fn, void *ctx)
{
	yaml_node_pair_t *start = map->data.mapping.pairs.start;
	yaml_node_pair_t *top = map->data.mapping.pairs.top;
	char kpath[CFG_PATH_MAX], d[96];

	for (yaml_node_pair_t *pr = start; pr < top; pr++) {
		yaml_node_t *k = yaml_document_get_node(p->doc, pr->key);
		yaml_node_t *v = yaml_document_get_node(p->doc, pr->value);
		int rc;

		if (!k || !v)
			return node_err(p, map, path[0] ? path : "top level",
					"malformed mapping");
		if (k->type != YAML_SCALAR_NODE || is_null(k))
			return node_err(p, k, path[0] ? path : "top level",
					"keys must be names, got %s",
					describe(k, d, sizeof(d)));
		join_path(kpath, path, scalar(k));
		if (!known(ctx, scalar(k))) {
			char kl[512];

			list_known(ctx, kl, sizeof(kl));
			return node_err(p, k, kpath, "unknown %s (known: %s)",
					unknown_what, kl);
		}
		/* Earlier keys were all known and distinct, so this scan is
		 * bounded by the size of the known set. */
		for (yaml_node_pair_t *q = start; q < pr; q++) {
			yaml_node_t *qk = yaml_document_get_node(p->doc, q->key);

			if (!strcmp(scalar(qk), scalar(k)))
				return node_err(p, k, kpath,
						"duplicate key (first at line %lu)",
						(unsigned long)qk->start_mark.line +
							1);
		}
		rc = fn(p, ctx, kpath, scalar(k), k, v);
		if (rc)
			return rc;
	}
	return 0;
}

/* A value that must be a non-null scalar. */
static int want_scalar(struct cfg_parse *p, const yaml_node_t *v,
		       const char *path, const char *what)
{
	char d[96];

	if (v->type == YAML_SCALAR_NODE && !is_null(v))
		return 0;
	return node_err(p, v, path, "expected %s, got %s", what,
			describe(v, d, sizeof(d)));
}

int config_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"true", "yes", "on"};
	static const char *const no[] = {"false", "no", "off"};

	for (size_t i = 0; i < 3; i++) {
		if (!strcasecmp(s, yes[i])) {
			*out = true;
			return 0;
		}
		if (!strcasecmp(s, no[i])) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

/* glibc's regcomp expands a repetition into copies of its subtree, so
 * "a++++++..." or "((a{255}){255}){255}" take memory exponential in the
 * pattern's length. POSIX leaves adjacent duplication symbols undefined
 * anyway, so refuse them, cap interval bounds, and estimate the expanded
 * size (siblings add, a repetition multiplies what it repeats) against a
 * bound far above what an interface or device name pattern needs.
 * Returns why the pattern is refused, or NULL. */
#define CFG_RE_MAX_DUP 255
#define CFG_RE_MAX_NODES 100000.0
#define CFG_RE_MAX_DEPTH 32

static const char *regex_problem(const char *re)
{
	double size[CFG_RE_MAX_DEPTH] = {0}, last = 0;
	int depth = 0;
	bool after_quant = false;

	for (const char *c = re; *c; c++) {
		bool quant = false;
		unsigned long hi = 1;

		if (*c == '(') {
			if (++depth >= CFG_RE_MAX_DEPTH)
				return "groups nested too deeply";
			size[depth] = 0;
			last = 0;
			after_quant = false;
			continue;
		}
		if (*c == ')' && depth > 0) {
			last = size[depth] > 0 ? size[depth] : 1;
			size[--depth] += last;
			after_quant = false;
			continue;
		}
		if (*c == '|') {
			last = 0;
			after_quant = false;
			continue;
		}
		if (*c == '*' || *c == '+' || *c == '?') {
			quant = true;
			hi = 2; /* star and plus duplicate their operand once */
		} else if (*c == '{') {
			const char *close = strchr(c, '}');
			char *end;
			unsigned long lo = strtoul(c + 1, &end, 10);

			if (!close)
				return NULL; /* regcomp reports it */
			hi = lo;
			if (*end == ',')
				hi = end[1] == '}' ? lo + 1
						   : strtoul(end + 1, &end, 10);
			if (lo > CFG_RE_MAX_DUP || hi > CFG_RE_MAX_DUP)
				return "repetition count over 255";
			quant = true;
			c = close;
		} else if (*c == '\\') {
			if (c[1])
				c++;
			last = 1;
		} else if (*c == '[') {
			/* A bracket expression is one atom; "]" first (after an
			 * optional "^") is a literal, [:class:] and friends nest. */
			c++;
			if (*c == '^')
				c++;
			if (*c == ']')
				c++;
			while (*c && *c != ']') {
				if (*c == '[' && (c[1] == ':' || c[1] == '.' ||
						  c[1] == '=')) {
					const char *e = c + 2;

					while (*e && !(e[0] == c[1] && e[1] == ']'))
						e++;
					if (!*e)
						return NULL;
					c = e + 1;
				}
				c++;
			}
			if (!*c)
				return NULL;
			last = 1;
		} else {
			last = 1;
		}
		if (quant && after_quant)
			return "adjacent repetition operators (undefined in POSIX ERE)";
		after_quant = quant;
		if (quant) {
			double extra = last * (double)(hi > 1 ? hi - 1 : 0);

			size[depth] += extra;
			last += extra;
		} else {
			size[depth] += 1;
		}
		for (int i = 0; i <= depth; i++)
			if (size[i] > CFG_RE_MAX_NODES)
				return "repetitions expand too far";
	}
	return NULL;
}

/* AM_OPT_TREE: bounds on the tree values of one config (all options of all
 * instances together, so sixty sections aliasing one large map count sixty
 * times). Deeper and larger than any set of profiles or endpoints; they
 * keep an alias bomb ("billion laughs") or a runaway nesting from costing
 * more than a moment, at start and at every reload. */
#define CFG_TREE_MAX_DEPTH 32
#define CFG_TREE_MAX_NODES 10000

struct tree_build {
	struct cfg_parse *p;
	bool lines; /* from a file (the embedded default has no lines) */
};

struct tree_key {
	const char *name;
	const yaml_node_t *node;
};

static int tree_key_cmp(const void *a, const void *b)
{
	const struct tree_key *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	/* Equal names in file order, so the second one is reported. */
	if (c)
		return c;
	return x->node->start_mark.index < y->node->start_mark.index ? -1 : 1;
}

/* A key given twice in one map: sorted once, so a map of thousands of keys
 * costs n log n, not n^2. */
static int tree_dup_keys(struct cfg_parse *p, const yaml_node_t *map,
			 const char *path)
{
	yaml_node_pair_t *pr = map->data.mapping.pairs.start;
	size_t n = (size_t)(map->data.mapping.pairs.top - pr), i;
	char kpath[CFG_PATH_MAX + 24];
	struct tree_key *k;
	int rc = 0;

	if (n < 2)
		return 0;
	if (!(k = calloc(n, sizeof(*k))))
		return oom(p);
	for (i = 0; i < n; i++) {
		k[i].node = yaml_document_get_node(p->doc, pr[i].key);
		k[i].name = scalar(k[i].node);
	}
	qsort(k, n, sizeof(*k), tree_key_cmp);
	for (i = 1; i < n && !rc; i++)
		if (!strcmp(k[i - 1].name, k[i].name)) {
			snprintf(kpath, sizeof(kpath), "%s.%s", path, k[i].name);
			rc = node_err(p, k[i].node, kpath,
				      "duplicate key (first at line %lu)",
				      (unsigned long)k[i - 1].node->start_mark.line + 1);
		}
	free(k);
	return rc;
}

/* Copy YAML node v (at `path`, for errors) into a new tree node whose line
 * is `line` (a map value's is its key's: where "mychip:" is written). */
static int tree_build(struct tree_build *tb, const yaml_node_t *v,
		      const char *path, int depth, unsigned long line,
		      struct am_node **out)
{
	struct cfg_parse *p = tb->p;
	char kpath[CFG_PATH_MAX + 24], d[96];
	struct am_node *n;
	int rc = 0;

	*out = NULL;
	if (depth > CFG_TREE_MAX_DEPTH)
		return node_err(p, v, path, "nested deeper than %d levels",
				CFG_TREE_MAX_DEPTH);
	if (++p->tree_nodes > CFG_TREE_MAX_NODES)
		return node_err(p, v, path,
				"more than %d values in the tree options of this "
				"configuration (aliases count each time they are used)",
				CFG_TREE_MAX_NODES);
	switch (v->type) {
	case YAML_SCALAR_NODE:
		n = cfg_tree_new(AM_NODE_SCALAR, is_null(v) ? "" : scalar(v), line);
		break;
	case YAML_SEQUENCE_NODE:
		n = cfg_tree_new(AM_NODE_LIST, NULL, line);
		break;
	case YAML_MAPPING_NODE:
		n = cfg_tree_new(AM_NODE_MAP, NULL, line);
		break;
	default:
		return node_err(p, v, path, "unexpected YAML node");
	}
	if (!n)
		return oom(p);
	if (v->type == YAML_SEQUENCE_NODE) {
		yaml_node_item_t *it = v->data.sequence.items.start;

		for (size_t i = 0; !rc && it + i < v->data.sequence.items.top; i++) {
			const yaml_node_t *e = yaml_document_get_node(p->doc, it[i]);
			struct am_node *k;

			snprintf(kpath, sizeof(kpath), "%s[%zu]", path, i);
			if (!e) {
				rc = node_err(p, v, kpath, "malformed sequence");
			} else if (!(rc = tree_build(tb, e, kpath, depth + 1,
						     tb->lines ? (unsigned long)e->start_mark.line + 1 : 0,
						     &k)) &&
				   cfg_tree_add(n, NULL, k) < 0) {
				cfg_tree_free(k);
				rc = oom(p);
			}
		}
	} else if (v->type == YAML_MAPPING_NODE) {
		yaml_node_pair_t *pr = v->data.mapping.pairs.start;

		for (yaml_node_pair_t *q = pr; !rc && q < v->data.mapping.pairs.top; q++) {
			const yaml_node_t *k = yaml_document_get_node(p->doc, q->key);

			if (!k || !yaml_document_get_node(p->doc, q->value))
				rc = node_err(p, v, path, "malformed mapping");
			else if (k->type != YAML_SCALAR_NODE || is_null(k))
				rc = node_err(p, k, path, "keys must be names, got %s",
					      describe(k, d, sizeof(d)));
			else if (!strcmp(scalar(k), "<<") &&
				 k->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
				/* libyaml does not apply merge keys: taken
				 * as a key named "<<", the merged values
				 * would silently be missing. */
				rc = node_err(p, k, path,
					      "merge keys (<<) are not supported: "
					      "write the keys out");
		}
		if (!rc)
			rc = tree_dup_keys(p, v, path);
		for (; !rc && pr < v->data.mapping.pairs.top; pr++) {
			const yaml_node_t *k = yaml_document_get_node(p->doc, pr->key);
			const yaml_node_t *e = yaml_document_get_node(p->doc, pr->value);
			struct am_node *kid;

			snprintf(kpath, sizeof(kpath), "%s.%s", path, scalar(k));
			if (!(rc = tree_build(tb, e, kpath, depth + 1,
					      tb->lines ? (unsigned long)k->start_mark.line + 1 : 0,
					      &kid)) &&
			    cfg_tree_add(n, scalar(k), kid) < 0) {
				cfg_tree_free(kid);
				rc = oom(p);
			}
		}
	}
	if (rc) {
		cfg_tree_free(n);
		return rc;
	}
	*out = n;
	return 0;
}

/* Store one option of a section (generic or the component's own). */
static int set_option(struct cfg_parse *p, struct am_config *opts,
		      const char *path, const char *key, enum am_opt_type type,
		      const yaml_node_t *v)
{
	struct cfg_value *slot;
	char d[96];
	int rc;

	if (type == AM_OPT_STRLIST) {
		size_t n = 0;
		char **list;

		if (v->type == YAML_SEQUENCE_NODE) {
			yaml_node_item_t *it = v->data.sequence.items.start;
			yaml_node_item_t *end = v->data.sequence.items.top;

			n = (size_t)(end - it);
			for (size_t i = 0; i < n; i++) {
				yaml_node_t *e =
					yaml_document_get_node(p->doc, it[i]);
				char ipath[CFG_PATH_MAX + 24];

				snprintf(ipath, sizeof(ipath), "%s[%zu]", path,
					 i);
				rc = want_scalar(p, e, ipath, "a string");
				if (rc)
					return rc;
			}
		} else {
			/* A single string is a one-element list. */
			rc = want_scalar(p, v, path,
					 "a list of strings or one string");
			if (rc)
				return rc;
			n = 1;
		}
		list = calloc(n ? n : 1, sizeof(*list));
		if (!list)
			return oom(p);
		for (size_t i = 0; i < n; i++) {
			const yaml_node_t *e =
				v->type == YAML_SEQUENCE_NODE
					? yaml_document_get_node(
						  p->doc,
						  v->data.sequence.items.start[i])
					: v;

			list[i] = strdup(scalar(e));
			if (!list[i]) {
				while (i--)
					free(list[i]);
				free(list);
				return oom(p);
			}
		}
		slot = opts_slot(opts, key);
		if (!slot) {
			for (size_t i = 0; i < n; i++)
				free(list[i]);
			free(list);
			return oom(p);
		}
		slot->type = AM_OPT_STRLIST;
		slot->u.list.v = list;
		slot->u.list.n = n;
		return 0;
	}

	if (type == AM_OPT_TREE) {
		struct tree_build tb = {p, strcmp(p->source, CFG_EMBEDDED_SOURCE) != 0};
		struct am_node *t;

		if ((rc = tree_build(&tb, v, path, 0,
				     tb.lines ? (unsigned long)v->start_mark.line + 1 : 0,
				     &t)))
			return rc;
		if (!(slot = opts_slot(opts, key))) {
			cfg_tree_free(t);
			return oom(p);
		}
		slot->type = AM_OPT_TREE;
		slot->u.tree = t;
		return 0;
	}

	switch (type) {
	case AM_OPT_BOOL: {
		bool b;

		rc = want_scalar(p, v, path, "a boolean (true or false)");
		if (rc)
			return rc;
		if (config_parse_bool(scalar(v), &b))
			return node_err(p, v, path,
					"expected a boolean (true or false), got %s",
					describe(v, d, sizeof(d)));
		if (!(slot = opts_slot(opts, key)))
			return oom(p);
		slot->type = type;
		slot->u.b = b;
		return 0;
	}
	case AM_OPT_INT: {
		const char *s;
		char *end;
		long long i;

		rc = want_scalar(p, v, path, "an integer");
		if (rc)
			return rc;
		s = scalar(v);
		/* strtoll skips blanks and takes base prefixes in base 0:
		 * insist on a plain decimal so "010" is ten, not eight. */
		if (!((*s >= '0' && *s <= '9') || *s == '-' || *s == '+'))
			return node_err(p, v, path,
					"expected an integer, got %s",
					describe(v, d, sizeof(d)));
		errno = 0;
		i = strtoll(s, &end, 10);
		if (end == s || *end)
			return node_err(p, v, path,
					"expected an integer, got %s",
					describe(v, d, sizeof(d)));
		if (errno == ERANGE)
			return node_err(p, v, path,
					"integer out of range: %s",
					describe(v, d, sizeof(d)));
		if (!(slot = opts_slot(opts, key)))
			return oom(p);
		slot->type = type;
		slot->u.i = i;
		return 0;
	}
	case AM_OPT_DURATION: {
		double s;

		rc = want_scalar(p, v, path, "a duration (e.g. 250ms, 1s, 2m)");
		if (rc)
			return rc;
		if (config_parse_duration(scalar(v), &s))
			return node_err(p, v, path,
					"invalid duration %s (use e.g. 250ms, 1s, 1.5s, 2m, 1h)",
					describe(v, d, sizeof(d)));
		if (!strcmp(key, "interval") &&
		    s < CFG_MIN_INTERVAL_S - 1e-12)
			return node_err(p, v, path,
					"%s is below the minimum interval of 100ms",
					describe(v, d, sizeof(d)));
		if (!strcmp(key, "rescan") && s != 0 &&
		    s < CFG_MIN_INTERVAL_S - 1e-12)
			return node_err(p, v, path,
					"%s is below the minimum of 100ms (0 turns rescans off)",
					describe(v, d, sizeof(d)));
		if (!strcmp(key, "timeout") && s <= 0)
			return node_err(p, v, path,
					"timeout must be greater than 0, got %s",
					describe(v, d, sizeof(d)));
		/* Durations end up in int64 nanoseconds (overflow past 292
		 * years): a poll interval or deadline of a day is plenty, and
		 * ten years for anything else (retention ages). */
		if ((!strcmp(key, "interval") || !strcmp(key, "timeout") ||
		     !strcmp(key, "rescan")) &&
		    s > CFG_MAX_INTERVAL_S)
			return node_err(p, v, path, "%s is above the maximum of 1d",
					describe(v, d, sizeof(d)));
		if (s > CFG_MAX_DURATION_S)
			return node_err(p, v, path, "%s is above the maximum of 3650d",
					describe(v, d, sizeof(d)));
		if (!(slot = opts_slot(opts, key)))
			return oom(p);
		slot->type = type;
		slot->u.d = s;
		return 0;
	}
	case AM_OPT_STRING:
	case AM_OPT_REGEX: {
		bool re_type = type == AM_OPT_REGEX;
		char *s;

		rc = want_scalar(p, v, path,
				 re_type ? "a regular expression" : "a string");
		if (rc)
			return rc;
		if (re_type) {
			/* Checked here so a bad pattern stops startup with
			 * its line number; the component compiles its own
			 * copy from the string. */
			const char *why = regex_problem(scalar(v));
			regex_t re;
			int erc;

			if (why)
				return node_err(p, v, path,
						"invalid regex %s: %s",
						describe(v, d, sizeof(d)), why);
			erc = regcomp(&re, scalar(v), REG_EXTENDED | REG_NOSUB);
			if (erc) {
				char rwhy[128];

				regerror(erc, &re, rwhy, sizeof(rwhy));
				return node_err(p, v, path,
						"invalid regex %s: %s",
						describe(v, d, sizeof(d)), rwhy);
			}
			regfree(&re);
		}
		if (!(s = strdup(scalar(v))))
			return oom(p);
		if (!(slot = opts_slot(opts, key))) {
			free(s);
			return oom(p);
		}
		slot->type = type;
		slot->u.s = s;
		return 0;
	}
	default:
		return node_err(p, v, path, "option has an unknown type %d",
				(int)type);
	}
}

/* ---- sections (collectors.NAME, exporters.NAME) ---- */

/* Keys of every section, handled by the core; collectors also rediscover
 * their devices every `rescan`. */
static const char *const section_generic[] = {"enabled", "interval",
					      "timeout", NULL};
static const char *const collector_generic[] = {"enabled", "interval",
						"timeout", "rescan", NULL};

struct section_ctx {
	const struct cfg_component *comp;
	struct cfg_section *sec;
	const char *const *generic;
};

static const struct am_option *comp_option(const struct cfg_component *c,
					   const char *key)
{
	for (size_t i = 0; c->options && c->options[i].name; i++)
		if (!strcmp(c->options[i].name, key))
			return &c->options[i];
	return NULL;
}

static bool section_known(void *vctx, const char *key)
{
	struct section_ctx *sc = vctx;

	for (size_t i = 0; sc->generic[i]; i++)
		if (!strcmp(sc->generic[i], key))
			return true;
	return comp_option(sc->comp, key) != NULL;
}

static void section_list(void *vctx, char *buf, size_t len)
{
	struct section_ctx *sc = vctx;

	known_list(buf, len, sc->generic, sc->comp->options);
}

/* Remember where a value (and each list item) is, for the checks that run
 * after parsing (cfg_check_fn); the embedded default has no lines. */
static void note_lines(struct cfg_parse *p, struct cfg_value *slot,
		       const yaml_node_t *val)
{
	bool file = strcmp(p->source, CFG_EMBEDDED_SOURCE) != 0;

	if (!slot || !file)
		return;
	slot->line = (unsigned long)val->start_mark.line + 1;
	if (val->type == YAML_SEQUENCE_NODE && slot->type == AM_OPT_STRLIST &&
	    (slot->item_line = calloc(slot->u.list.n + 1, sizeof(unsigned long))))
		for (size_t i = 0; i < slot->u.list.n; i++)
			slot->item_line[i] =
				(unsigned long)yaml_document_get_node(
					p->doc, val->data.sequence.items.start[i])
					->start_mark.line + 1;
}

static int section_pair(struct cfg_parse *p, void *vctx, const char *path,
			const char *key, const yaml_node_t *knode,
			const yaml_node_t *val)
{
	struct section_ctx *sc = vctx;
	const struct am_option *opt;
	enum am_opt_type type;
	int rc;

	(void)knode;
	/* The generic keys keep their meaning even if a component's table
	 * repeats one of them. */
	if (!strcmp(key, "enabled"))
		type = AM_OPT_BOOL;
	else if (!strcmp(key, "interval") || !strcmp(key, "timeout") ||
		 (sc->generic == collector_generic && !strcmp(key, "rescan")))
		type = AM_OPT_DURATION;
	else
		type = comp_option(sc->comp, key)->type;
	rc = set_option(p, sc->sec->opts, path, key, type, val);
	if (rc)
		return rc;
	note_lines(p, opts_get(sc->sec->opts, key), val);
	opt = comp_option(sc->comp, key);
	if (opt && opt->min < opt->max &&
	    (type == AM_OPT_INT || type == AM_OPT_DURATION)) {
		double x = type == AM_OPT_INT
				   ? (double)am_cfg_int(sc->sec->opts, key, 0)
				   : am_cfg_duration(sc->sec->opts, key, 0);

		if (x < opt->min || x > opt->max)
			return node_err(p, val, path, "%s is out of range (%g..%g%s)",
					scalar(val), opt->min, opt->max,
					type == AM_OPT_DURATION ? " seconds" : "");
	}
	return 0;
}

#define CFG_INSTANCE_MAX 64

/* Append a section for component comp named `name` ("smi" or
 * "smi/ixsmi"); NULL when out of memory. Earlier pointers into the array
 * are invalid afterwards. */
static struct cfg_section *section_add(struct cfg_section **secs, size_t *n,
				       const struct cfg_component *comp,
				       const char *name)
{
	struct cfg_section *ns = realloc(*secs, (*n + 1) * sizeof(*ns));
	struct cfg_section *sec;
	const char *slash;

	if (!ns)
		return NULL;
	*secs = ns;
	sec = &ns[*n];
	memset(sec, 0, sizeof(*sec));
	sec->name = strdup(name);
	sec->component = strdup(comp->name);
	sec->opts = opts_new();
	sec->needs_config = comp->needs_config;
	(*n)++; /* counted even when incomplete: config_free frees it */
	if (!sec->name || !sec->component || !sec->opts)
		return NULL;
	slash = strchr(sec->name, '/');
	sec->instance = slash ? slash + 1 : NULL;
	return sec;
}

struct group_ctx {
	const struct cfg_component *comps;
	size_t ncomps;
	bool coll;
};

/* The component a key names: "netdev", or for collectors also
 * "smi/INSTANCE" (the instance name is checked by group_pair). */
static const struct cfg_component *group_comp(const struct group_ctx *g,
					      const char *key)
{
	size_t len = strcspn(key, "/");

	if (key[len] && !g->coll)
		return NULL;
	for (size_t i = 0; i < g->ncomps; i++)
		if (strlen(g->comps[i].name) == len &&
		    !strncmp(g->comps[i].name, key, len))
			return &g->comps[i];
	return NULL;
}

static bool group_known(void *vctx, const char *key)
{
	return group_comp(vctx, key) != NULL;
}

static void group_list(void *vctx, char *buf, size_t len)
{
	struct group_ctx *g = vctx;
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < g->ncomps && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%s", o ? ", " : "",
				      g->comps[i].name);
	if (!buf[0])
		snprintf(buf, len, "none");
}

/* An instance name becomes part of a label value and of log prefixes:
 * keep it to a short word. Returns why not, or NULL. */
static const char *instance_problem(const char *inst)
{
	size_t n = 0;

	for (const char *c = inst; *c; c++, n++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '_' || *c == '-' ||
		      *c == '.'))
			return "an instance name is letters, digits, '_', '-' and '.'";
	if (!n)
		return "empty instance name after '/'";
	if (n > CFG_INSTANCE_MAX)
		return "instance name longer than 64 characters";
	return NULL;
}

static int group_pair(struct cfg_parse *p, void *vctx, const char *path,
		      const char *key, const yaml_node_t *knode,
		      const yaml_node_t *val)
{
	struct group_ctx *g = vctx;
	struct section_ctx sc;
	struct cfg_section **secs = g->coll ? &p->cfg->collectors
					    : &p->cfg->exporters;
	size_t *n = g->coll ? &p->cfg->ncollectors : &p->cfg->nexporters;
	const char *slash = strchr(key, '/');
	char d[96];
	size_t i;

	sc.comp = group_comp(g, key);
	sc.generic = g->coll ? collector_generic : section_generic;
	if (slash) {
		const char *why = instance_problem(slash + 1);

		if (why)
			return node_err(p, knode, path, "%s", why);
	}
	for (i = 0; i < *n; i++)
		if (!strcmp((*secs)[i].name, key))
			break;
	if (i < *n)
		sc.sec = &(*secs)[i];
	else if (!(sc.sec = section_add(secs, n, sc.comp, key)))
		return oom(p);
	sc.sec->present = true;
	sc.sec->line = (unsigned long)knode->start_mark.line + 1;
	/* `netdev:` (null) and `netdev: {}` both mean "on, defaults". */
	if (is_null(val))
		return 0;
	if (val->type != YAML_MAPPING_NODE)
		return node_err(p, val, path, "expected a mapping, got %s",
				describe(val, d, sizeof(d)));
	return walk_mapping(p, val, path, section_known, section_list, "key",
			    section_pair, &sc);
}

/* ---- top level ---- */

static const char *const top_keys[] = {"listen",	"log_level",
				       "plugins",	"plugin_dir",
				       "collectors", "exporters",
				       NULL};
static const char *const log_levels[] = {"error", "warn", "info", "debug",
					 NULL};

static bool top_known(void *vctx, const char *key)
{
	(void)vctx;
	for (size_t i = 0; top_keys[i]; i++)
		if (!strcmp(top_keys[i], key))
			return true;
	return false;
}

static void top_list(void *vctx, char *buf, size_t len)
{
	(void)vctx;
	known_list(buf, len, top_keys, NULL);
}

/* HOST:PORT as the listener will take it; NULL if fine, else why not. */
static const char *listen_problem(const char *s)
{
	char host[HOSTPORT_HOST_MAX], port[HOSTPORT_PORT_MAX];

	return hostport_split(s, host, sizeof(host), port, sizeof(port));
}

static int top_pair(struct cfg_parse *p, void *vctx, const char *path,
		    const char *key, const yaml_node_t *knode,
		    const yaml_node_t *val)
{
	struct agent_config *cfg = p->cfg;
	char d[96];
	int rc;

	(void)vctx;
	(void)knode;
	if (!strcmp(key, "listen")) {
		const char *why;
		char *s;

		if (val->type == YAML_SEQUENCE_NODE)
			return node_err(p, val, path,
					"expected a string, got a sequence (quote an IPv6 address: listen: \"[::1]:" CFG_STR(
						ACCELMON_DEFAULT_PORT) "\")");
		rc = want_scalar(p, val, path, "a string");
		if (rc)
			return rc;
		why = listen_problem(scalar(val));
		if (why)
			return node_err(p, val, path,
					"invalid address %s: %s (expected HOST:PORT, e.g. 127.0.0.1:%d or [::1]:%d)",
					describe(val, d, sizeof(d)), why,
					ACCELMON_DEFAULT_PORT,
					ACCELMON_DEFAULT_PORT);
		if (!(s = strdup(scalar(val))))
			return oom(p);
		free(cfg->listen);
		cfg->listen = s;
		cfg->listen_line = strcmp(p->source, CFG_EMBEDDED_SOURCE)
				       ? (unsigned long)val->start_mark.line + 1
				       : 0;
		return 0;
	}
	if (!strcmp(key, "log_level")) {
		rc = want_scalar(p, val, path, "a string");
		if (rc)
			return rc;
		for (int i = 0; log_levels[i]; i++) {
			if (!strcasecmp(scalar(val), log_levels[i])) {
				cfg->log_level = i;
				return 0;
			}
		}
		return node_err(p, val, path,
				"unknown level %s (known: error, warn, info, debug)",
				describe(val, d, sizeof(d)));
	}
	if (!strcmp(key, "collectors") || !strcmp(key, "exporters")) {
		bool coll = key[0] == 'c';
		struct group_ctx g = {
			.comps = coll ? p->collectors : p->exporters,
			.ncomps = coll ? p->ncollectors : p->nexporters,
			.coll = coll,
		};

		if (is_null(val))
			return 0;
		if (val->type != YAML_MAPPING_NODE)
			return node_err(p, val, path,
					"expected a mapping of %s names, got %s",
					coll ? "collector" : "exporter",
					describe(val, d, sizeof(d)));
		return walk_mapping(p, val, path, group_known, group_list,
				    coll ? "collector" : "exporter",
				    group_pair, &g);
	}
	/* plugins, plugin_dir: read by plugin_keys before everything else */
	return 0;
}

static int plugin_list(struct cfg_parse *p, const yaml_node_t *v,
		       const char *path)
{
	struct agent_config *cfg = p->cfg;
	yaml_node_item_t *it = NULL;
	size_t n = 0;
	char **list;
	int rc;

	if (v->type == YAML_SEQUENCE_NODE) {
		it = v->data.sequence.items.start;
		n = (size_t)(v->data.sequence.items.top - it);
	} else if (!is_null(v)) {
		n = 1; /* one path */
	}
	list = calloc(n ? n : 1, sizeof(*list));
	if (!list)
		return oom(p);
	for (size_t i = 0; i < n; i++) {
		const yaml_node_t *e = it ? yaml_document_get_node(p->doc, it[i]) : v;
		char ipath[CFG_PATH_MAX + 24];

		snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i);
		rc = want_scalar(p, e, it ? ipath : path,
				 "a .so path or a list of them");
		if (!rc && !*scalar(e))
			rc = node_err(p, e, it ? ipath : path, "empty path");
		if (!rc && !(list[i] = strdup(scalar(e))))
			rc = oom(p);
		if (rc) {
			while (i--)
				free(list[i]);
			free(list);
			return rc;
		}
	}
	for (size_t i = 0; i < cfg->nplugins; i++)
		free(cfg->plugins[i]);
	free(cfg->plugins);
	cfg->plugins = list;
	cfg->nplugins = n;
	return 0;
}

/* `plugins:` and `plugin_dir:` are read first, wherever they are in the
 * text: the plugins they name define collectors that the same text's
 * `collectors:` may then configure. After the last text's keys the schema
 * loads them, and each new collector gets its section. */
static int plugin_keys(struct cfg_parse *p, const yaml_node_t *root)
{
	const struct cfg_schema *sc = p->schema;
	struct agent_config *cfg = p->cfg;
	int rc;

	for (yaml_node_pair_t *pr = root ? root->data.mapping.pairs.start : NULL;
	     root && pr < root->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = yaml_document_get_node(p->doc, pr->key);
		yaml_node_t *v = yaml_document_get_node(p->doc, pr->value);
		char *dir;

		/* Malformed keys are walk_mapping's to report. */
		if (!k || !v || k->type != YAML_SCALAR_NODE)
			continue;
		if (!strcmp(scalar(k), "plugins")) {
			rc = plugin_list(p, v, "plugins");
			if (rc)
				return rc;
		} else if (!strcmp(scalar(k), "plugin_dir")) {
			if (!is_null(v) &&
			    (rc = want_scalar(p, v, "plugin_dir", "a directory")))
				return rc;
			if (!(dir = strdup(is_null(v) ? "" : scalar(v))))
				return oom(p);
			free(cfg->plugin_dir);
			cfg->plugin_dir = dir;
		}
	}
	if (!p->last_layer || !sc || !sc->load_plugins)
		return 0;
	{
		const struct cfg_component *colls = p->collectors;
		size_t n = p->ncollectors;

		rc = sc->load_plugins(sc->arg, cfg, &colls, &n, p->err,
				      p->errlen);
		if (rc)
			return rc;
		for (size_t i = p->ncollectors; i < n; i++)
			if (!section_add(&cfg->collectors, &cfg->ncollectors,
					 &colls[i], colls[i].name))
				return oom(p);
		p->collectors = colls;
		p->ncollectors = n;
	}
	return 0;
}

/* Line of a libyaml error: reader errors (bad UTF-8) only carry a byte
 * offset, the others a mark. */
static unsigned long yaml_err_line(const yaml_parser_t *ps, const char *text,
				   size_t len)
{
	unsigned long line = 1;

	if (ps->error != YAML_READER_ERROR)
		return (unsigned long)ps->problem_mark.line + 1;
	for (size_t i = 0; i < ps->problem_offset && i < len; i++)
		line += text[i] == '\n';
	return line;
}

/* `listen: [::1]:9917` is a YAML flow sequence, not a string: the commonest
 * way to trip over YAML here, so the error says what to write instead. */
static const char *yaml_hint(const char *text, size_t len, unsigned long line)
{
	const char *s = text, *end = text + len;

	for (unsigned long l = 1; l < line && s < end; l++) {
		s = memchr(s, '\n', (size_t)(end - s));
		if (!s)
			return "";
		s++;
	}
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	if ((size_t)(end - s) > 7 && !strncmp(s, "listen:", 7)) {
		for (s += 7; s < end && *s == ' '; s++)
			;
		if (s < end && *s == '[')
			return " (quote an IPv6 address: listen: \"[::1]:" CFG_STR(
				ACCELMON_DEFAULT_PORT) "\")";
	}
	return "";
}

static void yaml_error(struct cfg_parse *p, const yaml_parser_t *ps,
		       const char *text, size_t len)
{
	const char *problem = ps->problem ? ps->problem : "parse error";
	unsigned long line = yaml_err_line(ps, text, len);
	const char *hint = yaml_hint(text ? text : "", text ? len : 0, line);

	if (ps->context)
		config_err(p->err, p->errlen,
			"%s:%lu: invalid YAML: %s %s starting at line %lu%s",
			p->source, line, problem, ps->context,
			(unsigned long)ps->context_mark.line + 1, hint);
	else
		config_err(p->err, p->errlen, "%s:%lu: invalid YAML: %s%s",
			p->source, line, problem, hint);
}

/* Deeper than any config needs (the deepest today is 4 levels). */
#define CFG_MAX_DEPTH 64

/* libyaml composes documents of any depth, and its scanner spends time in
 * proportion to the flow depth on every token: a 100,000-deep list took
 * 45 s to reject. One pass over the events first (agent/yaml_depth.c) stops
 * at the first node deeper than CFG_MAX_DEPTH, in time linear in the text.
 * Syntax errors are left to the load that follows, which words them. */
static int depth_check(struct cfg_parse *p, const char *text, size_t len)
{
	unsigned long line;
	int rc = yaml_depth_check(text, len, CFG_MAX_DEPTH, &line, NULL, 0);

	if (rc == -ENOMEM)
		return oom(p);
	if (rc != 1)
		return 0;
	config_err(p->err, p->errlen, "%s:%lu: nested deeper than %d levels",
		   p->source, line, CFG_MAX_DEPTH);
	return -EINVAL;
}

/* Apply one YAML text on top of p->cfg. */
static int apply_text(struct cfg_parse *p, const char *text, size_t len,
		      const char *source)
{
	yaml_parser_t ps;
	yaml_document_t doc, extra;
	yaml_node_t *root, *xroot;
	char d[96];
	int rc = 0;

	p->source = source;
	if (len > CFG_MAX_BYTES) {
		config_err(p->err, p->errlen, "%s: too large (over %d bytes)",
			source, CFG_MAX_BYTES);
		return -EINVAL;
	}
	if ((rc = depth_check(p, text, len)) < 0)
		return rc;
	if (!yaml_parser_initialize(&ps))
		return oom(p);
	yaml_parser_set_input_string(&ps, (const unsigned char *)(text ? text : ""),
				     len);
	if (!yaml_parser_load(&ps, &doc)) {
		rc = ps.error == YAML_MEMORY_ERROR ? -ENOMEM : -EINVAL;
		yaml_error(p, &ps, text, len);
		yaml_parser_delete(&ps);
		return rc;
	}
	p->doc = &doc;
	root = yaml_document_get_root_node(&doc);

	/* A second document would be silently ignored otherwise. */
	if (root) {
		if (!yaml_parser_load(&ps, &extra)) {
			yaml_error(p, &ps, text, len);
			rc = -EINVAL;
			goto out;
		}
		xroot = yaml_document_get_root_node(&extra);
		if (xroot)
			rc = node_err(p, xroot, "top level",
				      "only one YAML document is allowed");
		yaml_document_delete(&extra);
		if (rc)
			goto out;
	}

	if (!root || is_null(root)) {
		/* empty file: everything stays as it was */
		rc = plugin_keys(p, NULL);
		goto out;
	}
	if (root->type != YAML_MAPPING_NODE) {
		rc = node_err(p, root, "top level",
			      "expected a mapping of settings, got %s",
			      describe(root, d, sizeof(d)));
		goto out;
	}
	rc = plugin_keys(p, root);
	if (!rc)
		rc = walk_mapping(p, root, "", top_known, top_list, "key",
				  top_pair, NULL);
out:
	p->doc = NULL;
	yaml_document_delete(&doc);
	yaml_parser_delete(&ps);
	return rc;
}

static int init_sections(struct cfg_section **out, size_t *nout,
			 const struct cfg_component *comps, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!section_add(out, nout, &comps[i], comps[i].name))
			return -ENOMEM;
	return 0;
}

/* The scheduler runs at most CFG_MAX_INSTANCES collector instances: one
 * more enabled is an error at its line, not one that silently never runs. */
static int check_instances(struct cfg_parse *p, const char *source)
{
	size_t on = 0;

	for (size_t i = 0; i < p->cfg->ncollectors; i++) {
		const struct cfg_section *sec = &p->cfg->collectors[i];

		if (!sec->enabled || ++on <= CFG_MAX_INSTANCES)
			continue;
		config_err(p->err, p->errlen,
			   "%s:%lu: collectors.%s: more than %d collector instances "
			   "enabled (turn some off with enabled: false)",
			   source, sec->line ? sec->line : 1UL,
			   sec->name, CFG_MAX_INSTANCES);
		return -EINVAL;
	}
	return 0;
}

static void finish_sections(struct cfg_section *s, size_t n, bool coll,
			    const struct cfg_component *comps, size_t ncomps)
{
	for (size_t i = 0; i < n; i++) {
		bool dflt = !(s[i].needs_config && !s[i].present);
		double interval = CFG_DEFAULT_INTERVAL_S;

		/* a component's own default (vendor tools: 5 s) */
		for (size_t c = 0; c < ncomps; c++)
			if (!strcmp(comps[c].name, s[i].component) && comps[c].interval_s > 0)
				interval = comps[c].interval_s;
		s[i].enabled = am_cfg_bool(s[i].opts, "enabled", dflt);
		s[i].interval_s = am_cfg_duration(s[i].opts, "interval", interval);
		/* The watchdog deadline of one poll. Twice the interval, and
		 * at least 2 s: some sysfs reads sleep in the driver for a
		 * second (amdgpu pcie_bw), which is slow, not hung. */
		s[i].timeout_s = am_cfg_duration(
			s[i].opts, "timeout",
			s[i].interval_s * 2 > 2.0 ? s[i].interval_s * 2 : 2.0);
		s[i].rescan_s = coll ? am_cfg_duration(s[i].opts, "rescan",
						       CFG_DEFAULT_RESCAN_S)
				     : 0;
	}
}

/* The components' own checks of their enabled sections (every instance of
 * a collector), each error at the line of the value at fault: a list item
 * ("url[1]"), a node of a tree option ("profiles.mychip.format"), or the
 * section's line for a key left out. */
static int check_sections(struct cfg_parse *p, const struct cfg_section *s,
			  size_t n, const struct cfg_component *comps,
			  size_t ncomps, const char *group)
{
	for (size_t i = 0; i < n; i++) {
		const struct cfg_component *c = NULL;
		char key[CFG_PATH_MAX], why[512], cut;
		const struct cfg_value *v;
		unsigned long line = 0;
		size_t base;
		int rc;

		for (size_t j = 0; j < ncomps && !c; j++)
			if (!strcmp(comps[j].name, s[i].component))
				c = &comps[j];
		if (!s[i].enabled || !c || !c->check)
			continue;
		key[0] = why[0] = '\0';
		rc = c->check(s[i].opts, key, sizeof(key), why, sizeof(why));
		if (rc == -ENOMEM)
			return oom(p);
		if (rc == 0)
			continue;
		key[sizeof(key) - 1] = '\0';
		base = strcspn(key, "[.");
		cut = key[base];
		key[base] = '\0';
		v = opts_get(s[i].opts, key);
		key[base] = cut;
		if (v && v->type == AM_OPT_TREE) {
			line = cfg_tree_path_line(v->u.tree, key + base);
		} else if (v) {
			size_t idx = cut == '[' ? strtoul(key + base + 1, NULL, 10)
						: SIZE_MAX;

			line = v->line;
			if (v->item_line && idx < v->u.list.n)
				line = v->item_line[idx];
		}
		if (!line)
			line = s[i].line;
		config_err(p->err, p->errlen, "%s:%lu: %s.%s%s%s: %s",
			   line ? p->cfg->source : CFG_EMBEDDED_SOURCE,
			   line ? line : 1UL, group, s[i].name, key[0] ? "." : "",
			   key, why[0] ? why : "invalid");
		return -EINVAL;
	}
	return 0;
}

int config_parse_schema(const char *yaml, size_t len, const char *source,
			const struct cfg_schema *schema,
			struct agent_config **out, char *err, size_t errlen)
{
	struct cfg_parse p = {
		.err = err,
		.errlen = errlen,
		.collectors = schema->collectors,
		.ncollectors = schema->collectors ? schema->ncollectors : 0,
		.exporters = schema->exporters,
		.nexporters = schema->exporters ? schema->nexporters : 0,
		.schema = schema,
	};
	bool file = yaml != config_embedded_default;
	struct agent_config *cfg;
	int rc;

	if (err && errlen)
		err[0] = '\0';
	*out = NULL;
	if (!source)
		source = "<config>";
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg) {
		config_err(err, errlen, "%s: out of memory", source);
		return -ENOMEM;
	}
	p.cfg = cfg;
	cfg->log_level = CFG_LOG_INFO;
	cfg->source = strdup(source);
	if (!cfg->source ||
	    init_sections(&cfg->collectors, &cfg->ncollectors, p.collectors,
			  p.ncollectors) ||
	    init_sections(&cfg->exporters, &cfg->nexporters, p.exporters,
			  p.nexporters)) {
		p.source = source;
		rc = oom(&p);
		goto fail;
	}

	/* The embedded default is the base; the text overrides it key by key.
	 * Both go through apply_text, so the default is checked exactly like
	 * a file. */
	p.last_layer = !file;
	rc = apply_text(&p, config_embedded_default,
			sizeof(config_embedded_default) - 1,
			CFG_EMBEDDED_SOURCE);
	p.last_layer = true;
	if (!rc && file)
		rc = apply_text(&p, yaml, len, source);
	if (rc)
		goto fail;
	if (!cfg->listen) {
		/* Only if someone removes `listen` from the embedded text. */
		cfg->listen = strdup("127.0.0.1:" CFG_STR(ACCELMON_DEFAULT_PORT));
		if (!cfg->listen) {
			rc = oom(&p);
			goto fail;
		}
	}
	finish_sections(cfg->collectors, cfg->ncollectors, true, p.collectors,
			p.ncollectors);
	finish_sections(cfg->exporters, cfg->nexporters, false, p.exporters,
			p.nexporters);
	if ((rc = check_instances(&p, source)))
		goto fail;
	if ((rc = check_sections(&p, cfg->collectors, cfg->ncollectors,
				 p.collectors, p.ncollectors, "collectors")) < 0 ||
	    (rc = check_sections(&p, cfg->exporters, cfg->nexporters,
				 p.exporters, p.nexporters, "exporters")) < 0)
		goto fail;
	*out = cfg;
	return 0;
fail:
	config_free(cfg);
	return rc;
}

int config_parse(const char *yaml, size_t len, const char *source,
		 const struct cfg_component *collectors, size_t ncollectors,
		 const struct cfg_component *exporters, size_t nexporters,
		 struct agent_config **out, char *err, size_t errlen)
{
	struct cfg_schema sc = {collectors, exporters, ncollectors,
				nexporters, NULL, NULL};

	return config_parse_schema(yaml, len, source, &sc, out, err, errlen);
}

int config_load_file_schema(const char *path, const struct cfg_schema *schema,
			    struct agent_config **out, char *err, size_t errlen)
{
	size_t len = 0, cap = 64 * 1024;
	char *buf = NULL;
	struct stat st;
	int fd, rc;

	*out = NULL;
	/* O_NONBLOCK: opening a FIFO would wait for a writer, reading a
	 * device for input; both are refused below, before any read (a reload
	 * runs in the thread that takes SIGTERM). */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		rc = -errno;
		config_err(err, errlen, "%s: cannot read: %s", path, strerror(-rc));
		return rc;
	}
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		config_err(err, errlen, "%s: cannot read: %s", path, strerror(-rc));
		close(fd);
		return rc;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
		if (rc == -EISDIR)
			config_err(err, errlen, "%s: cannot read: %s", path,
				   strerror(EISDIR));
		else
			config_err(err, errlen,
				   "%s: not a regular file (a FIFO or "
				   "device is not read as a config)",
				   path);
		close(fd);
		return rc;
	}
	/* Read to EOF rather than trusting st_size, which may change while we
	 * read. One byte past the cap tells "too large". */
	for (;;) {
		ssize_t r;

		if (len == cap || !buf) {
			char *nb;

			cap = buf ? cap * 2 : cap;
			if (cap > CFG_MAX_BYTES + 1)
				cap = CFG_MAX_BYTES + 1;
			nb = realloc(buf, cap + 1);
			if (!nb) {
				rc = -ENOMEM;
				config_err(err, errlen, "%s: out of memory", path);
				goto out;
			}
			buf = nb;
		}
		r = read(fd, buf + len, cap - len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			config_err(err, errlen, "%s: cannot read: %s", path,
				strerror(-rc));
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len > CFG_MAX_BYTES) {
			rc = -EFBIG;
			config_err(err, errlen,
				"%s: file too large (a config file is at most %d KiB)",
				path, CFG_MAX_BYTES / 1024);
			goto out;
		}
	}
	buf[len] = '\0';
	rc = config_parse_schema(buf, len, path, schema, out, err, errlen);
out:
	free(buf);
	close(fd);
	return rc;
}

int config_load_file(const char *path,
		     const struct cfg_component *collectors, size_t ncollectors,
		     const struct cfg_component *exporters, size_t nexporters,
		     struct agent_config **out, char *err, size_t errlen)
{
	struct cfg_schema sc = {collectors, exporters, ncollectors,
				nexporters, NULL, NULL};

	return config_load_file_schema(path, &sc, out, err, errlen);
}
