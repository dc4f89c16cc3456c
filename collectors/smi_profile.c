/* smi collector: profiles. A profile says how to ask one vendor tool and how
 * its output maps onto the schema. Built-in profiles (smi_profiles.c) and
 * the user's (`profiles:` in the config) are the same YAML and go through
 * the one loader here, which checks every key and names the path at fault.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "smi.h"

/* ---- loading a profile ---- */

struct load {
	char *key;
	size_t keylen;
	char *why;
	size_t whylen;
	unsigned long *line;
};

__attribute__((format(printf, 4, 5))) static int
fail(struct load *l, const struct am_node *at, const char *path, const char *fmt, ...)
{
	va_list ap;

	snprintf(l->key, l->keylen, "%s", path);
	va_start(ap, fmt);
	vsnprintf(l->why, l->whylen, fmt, ap);
	va_end(ap);
	if (l->line)
		*l->line = am_node_line(at);
	return -EINVAL;
}

/* A key path, cut to fit (paths are short; a cut one still points near). */
__attribute__((format(printf, 3, 4))) static void path_fmt(char *out, size_t n,
							   const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out, n, fmt, ap);
	va_end(ap);
}

static void join(char *out, size_t n, const char *a, const char *b)
{
	path_fmt(out, n, "%s%s%s", a, *a ? "." : "", b);
}

static const char *scalar(const struct am_node *n)
{
	return am_node_kind(n) == AM_NODE_SCALAR ? am_node_str(n) : NULL;
}

static int get_str(struct load *l, const struct am_node *n, const char *path, char **out)
{
	if (!scalar(n))
		return fail(l, n, path, "expected a string");
	free(*out);
	if (!(*out = strdup(am_node_str(n))))
		return -ENOMEM;
	return 0;
}

static int get_bool(struct load *l, const struct am_node *n, const char *path, bool *out)
{
	const char *s = scalar(n);

	if (s && (!strcmp(s, "true") || !strcmp(s, "yes"))) {
		*out = true;
		return 0;
	}
	if (s && (!strcmp(s, "false") || !strcmp(s, "no"))) {
		*out = false;
		return 0;
	}
	return fail(l, n, path, "expected true or false");
}

static int get_num(struct load *l, const struct am_node *n, const char *path, double lo,
		   double hi, double *out)
{
	const char *s = scalar(n);
	char *end;
	double v;

	if (!s || !*s)
		return fail(l, n, path, "expected a number");
	v = strtod(s, &end);
	if (*end || !isfinite(v) || v < lo || v > hi)
		return fail(l, n, path, "expected a number in %g..%g", lo, hi);
	*out = v;
	return 0;
}

static int check_keys(struct load *l, const struct am_node *map, const char *path,
		      const char *const *known)
{
	char p[256];

	for (size_t i = 0; i < am_node_len(map); i++) {
		const char *mk = am_node_key(map, i);
		size_t k;

		for (k = 0; known[k]; k++)
			if (!strcmp(mk, known[k]))
				break;
		if (!known[k]) {
			char list[256];
			size_t o = 0;

			list[0] = '\0';
			for (k = 0; known[k] && o < sizeof(list); k++)
				o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s",
						      k ? ", " : "", known[k]);
			join(p, sizeof(p), path, mk);
			return fail(l, am_node_at(map, i), p, "unknown key (known: %s)",
				    list);
		}
	}
	return 0;
}

static const char *const field_keys[] = {"metric", "unit",   "scale", "label", "index",
					 "var",	   "column", "key",   NULL};

static int load_field(struct load *l, const char *name, const struct am_node *n,
		      const char *path, enum smi_format fmt, struct smi_field *f)
{
	const struct smi_metric_info *mi;
	const struct am_node *v, *metric;
	char p[256];
	int rc;

	memset(f, 0, sizeof(*f));
	f->column = -1;
	f->scale = 1;
	if (!(f->key = strdup(name)))
		return -ENOMEM;
	if (scalar(n)) { /* shorthand: `utilization.gpu: utilization` */
		metric = n;
	} else if (am_node_kind(n) != AM_NODE_MAP) {
		return fail(l, n, path, "expected a mapping or a metric name");
	} else if ((rc = check_keys(l, n, path, field_keys))) {
		return rc;
	} else {
		metric = am_node_get(n, "metric");
	}
	if ((v = am_node_get(n, "key"))) {
		join(p, sizeof(p), path, "key");
		if ((rc = get_str(l, v, p, &f->key)))
			return rc;
	}
	if ((v = metric)) {
		size_t m;

		join(p, sizeof(p), path, "metric");
		for (m = 0; m < SMI_M__COUNT; m++)
			if (scalar(v) && !strcmp(scalar(v), smi_metric_info(m)->name))
				break;
		if (m == SMI_M__COUNT)
			return fail(l, v, p, "unknown metric '%s'",
				    scalar(v) ? scalar(v) : "(not a string)");
		f->metric = (enum smi_metric)m;
	}
	mi = smi_metric_info(f->metric);
	if ((v = am_node_get(n, "index"))) {
		join(p, sizeof(p), path, "index");
		if ((rc = get_bool(l, v, p, &f->index)))
			return rc;
	}
	if ((v = am_node_get(n, "var"))) {
		join(p, sizeof(p), path, "var");
		if ((rc = get_str(l, v, p, &f->var)))
			return rc;
	}
	if ((v = am_node_get(n, "label"))) {
		join(p, sizeof(p), path, "label");
		if ((rc = get_str(l, v, p, &f->label)))
			return rc;
	}
	if (!f->label && (mi->label || f->metric == SMI_M_INFO))
		return fail(l, n, path, "metric %s needs `label:` (%s)", mi->name,
			    f->metric == SMI_M_INFO
				? "model, serial, pci_bus_id, driver_version or "
				  "firmware_version"
				: mi->label);
	if (f->metric == SMI_M_INFO && strcmp(f->label, "model") &&
	    strcmp(f->label, "serial") && strcmp(f->label, "pci_bus_id") &&
	    strcmp(f->label, "driver_version") && strcmp(f->label, "firmware_version"))
		return fail(l, am_node_get(n, "label"), path,
			    "info label '%s' is not one of model, serial, pci_bus_id, "
			    "driver_version, firmware_version",
			    f->label);
	f->ufactor = smi_unit_factor(mi->dim, "", 0);
	if ((v = am_node_get(n, "unit"))) {
		join(p, sizeof(p), path, "unit");
		if ((rc = get_str(l, v, p, &f->unit)))
			return rc;
		f->ufactor = smi_unit_factor(mi->dim, f->unit, strlen(f->unit));
		if (f->ufactor == 0)
			return fail(l, v, p, "'%s' is not a unit of %s", f->unit,
				    mi->name);
	} else if (mi->dim != SMI_D_TEXT && mi->dim != SMI_D_STATE &&
		   mi->dim != SMI_D_COUNT && f->ufactor == 0) {
		return fail(l, n, path, "metric %s needs `unit:`", mi->name);
	}
	if ((v = am_node_get(n, "scale"))) {
		join(p, sizeof(p), path, "scale");
		if ((rc = get_num(l, v, p, 1e-12, 1e12, &f->scale)))
			return rc;
	}
	if ((v = am_node_get(n, "column"))) {
		double c;

		join(p, sizeof(p), path, "column");
		if ((rc = get_num(l, v, p, 0, 127, &c)))
			return rc;
		if (c != floor(c))
			return fail(l, v, p, "expected a whole number");
		f->column = (int)c;
	} else if (fmt == SMI_COLUMNS) {
		/* columns: a field is named by its position */
		char *end;
		long x = strtol(f->key, &end, 10);

		if (!*f->key || *end || x < 0 || x > 127)
			return fail(l, n, path,
				    "a columns field is named by its "
				    "position (0-based) or has `column:`");
		f->column = (int)x;
	}
	return 0;
}

static const char *const query_keys[] = {"command", "format",	  "devices",
					 "header",  "per_device", "fallback",
					 "width",   "fields",	  NULL};

/* check: whether n's keys are checked here (a query of its own) or were
 * by the profile (the one query given at the top level). */
static int load_query(struct load *l, const struct am_node *n, const char *path,
		      struct smi_query *q, bool check)
{
	static const char *const fmts[] = {NULL, "csv", "json", "kv", "columns"};
	const struct am_node *v;
	char p[256];
	int rc;

	if (am_node_kind(n) != AM_NODE_MAP)
		return fail(l, n, path, "expected a mapping");
	if (check && (rc = check_keys(l, n, path, query_keys)))
		return rc;
	q->line = am_node_line(n);
	join(p, sizeof(p), path, "command");
	v = am_node_get(n, "command");
	if (am_node_kind(v) != AM_NODE_LIST || !am_node_len(v))
		return fail(l, v ? v : n, p,
			    "expected a list: the program, then its "
			    "arguments (no shell)");
	if (am_node_len(v) > SMI_MAX_ARGS)
		return fail(l, v, p, "more than %d arguments", SMI_MAX_ARGS);
	for (size_t i = 0; i < am_node_len(v); i++) {
		const struct am_node *a = am_node_at(v, i);
		char pi[272];

		path_fmt(pi, sizeof(pi), "%s[%zu]", p, i);
		if (!scalar(a) || (i == 0 && !scalar(a)[0]))
			return fail(l, a, pi, "expected a string");
		if ((rc = get_str(l, a, pi, &q->argv[i])))
			return rc;
		q->argc = i + 1;
	}
	join(p, sizeof(p), path, "format");
	v = am_node_get(n, "format");
	for (size_t i = 1; i < 5; i++)
		if (scalar(v) && !strcmp(scalar(v), fmts[i]))
			q->format = (enum smi_format)i;
	if (!q->format)
		return fail(l, v ? v : n, p, "expected csv, json, kv or columns");
	if ((v = am_node_get(n, "devices"))) {
		join(p, sizeof(p), path, "devices");
		if ((rc = get_str(l, v, p, &q->devices)))
			return rc;
	}
	if ((v = am_node_get(n, "header"))) {
		join(p, sizeof(p), path, "header");
		if ((rc = get_bool(l, v, p, &q->header)))
			return rc;
	}
	if ((v = am_node_get(n, "per_device"))) {
		join(p, sizeof(p), path, "per_device");
		if ((rc = get_bool(l, v, p, &q->per_device)))
			return rc;
	}
	if ((v = am_node_get(n, "fallback"))) {
		join(p, sizeof(p), path, "fallback");
		if ((rc = get_bool(l, v, p, &q->fallback)))
			return rc;
	}
	if ((v = am_node_get(n, "width"))) {
		double w;

		join(p, sizeof(p), path, "width");
		if ((rc = get_num(l, v, p, 1, 128, &w)))
			return rc;
		q->width = (size_t)w;
	}
	join(p, sizeof(p), path, "fields");
	v = am_node_get(n, "fields");
	if (am_node_kind(v) != AM_NODE_MAP || !am_node_len(v))
		return fail(l, v ? v : n, p, "expected a mapping of fields");
	if (am_node_len(v) > SMI_MAX_FIELDS)
		return fail(l, v, p, "more than %d fields", SMI_MAX_FIELDS);
	for (size_t i = 0; i < am_node_len(v); i++) {
		char pf[400];

		path_fmt(pf, sizeof(pf), "%s.%s", p, am_node_key(v, i));
		q->nfields = i + 1; /* freed with the profile, even half-read */
		if ((rc = load_field(l, am_node_key(v, i), am_node_at(v, i), pf,
				     q->format, &q->fields[i])))
			return rc;
	}
	return 0;
}

static const char *const profile_keys[] = {
    "command", "format",  "devices",	   "header",  "per_device",
    "width",   "fields",  "device_prefix", "vendor",  "defer_to",
    "dirs",    "timeout", "enumerate",	   "queries", NULL};

int smi_profile_load(const char *name, const struct am_node *n, struct smi_profile **out,
		     char *key, size_t keylen, char *why, size_t whylen,
		     unsigned long *line)
{
	struct load l = {key, keylen, why, whylen, line};
	struct smi_profile *p;
	const struct am_node *v;
	int rc;

	*out = NULL;
	if (am_node_kind(n) != AM_NODE_MAP)
		return fail(&l, n, "",
			    "a profile is a mapping (command, format, "
			    "device_prefix, fields, ...)");
	if ((rc = check_keys(&l, n, "", profile_keys)))
		return rc;
	if (!(p = calloc(1, sizeof(*p))) || !(p->name = strdup(name))) {
		free(p);
		return -ENOMEM;
	}
	if (!(v = am_node_get(n, "device_prefix"))) {
		rc = fail(&l, n, "device_prefix",
			  "missing: devices are named "
			  "<device_prefix><index>");
		goto out;
	}
	if ((rc = get_str(&l, v, "device_prefix", &p->prefix)))
		goto out;
	for (const char *c = p->prefix; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
		      *c == '_')) {
			rc = fail(&l, v, "device_prefix",
				  "lower-case letters, digits and '_' only");
			goto out;
		}
	if ((v = am_node_get(n, "vendor")) && (rc = get_str(&l, v, "vendor", &p->vendor)))
		goto out;
	if (!p->vendor && !(p->vendor = strdup(p->prefix))) {
		rc = -ENOMEM;
		goto out;
	}
	if ((v = am_node_get(n, "defer_to")) &&
	    (rc = get_str(&l, v, "defer_to", &p->defer_to)))
		goto out;
	if ((v = am_node_get(n, "timeout")) &&
	    (rc = get_num(&l, v, "timeout", 0.1, 600, &p->timeout_s)))
		goto out;
	if ((v = am_node_get(n, "dirs"))) {
		if (am_node_kind(v) != AM_NODE_LIST || am_node_len(v) > 4) {
			rc = fail(&l, v, "dirs", "expected a list of up to 4 folders");
			goto out;
		}
		for (size_t i = 0; i < am_node_len(v); i++)
			if ((rc = get_str(&l, am_node_at(v, i), "dirs", &p->dirs[i])))
				goto out;
	}
	if ((v = am_node_get(n, "enumerate"))) {
		p->has_enum = true;
		if ((rc = load_query(&l, v, "enumerate", &p->enumerate, true)))
			goto out;
		for (size_t i = 0; i < p->enumerate.nfields; i++)
			if (p->enumerate.fields[i].var && i >= SMI_MAX_VARS) {
				rc = fail(&l, v, "enumerate.fields",
					  "variables are the first %d fields",
					  SMI_MAX_VARS);
				goto out;
			}
	}
	if ((v = am_node_get(n, "queries"))) {
		if (am_node_get(n, "command")) {
			rc = fail(&l, v, "queries",
				  "give either command (one query) or "
				  "queries (a list), not both");
			goto out;
		}
		if (am_node_kind(v) != AM_NODE_LIST || !am_node_len(v) ||
		    am_node_len(v) > SMI_MAX_QUERIES) {
			rc = fail(&l, v, "queries", "expected a list of 1 to %d queries",
				  SMI_MAX_QUERIES);
			goto out;
		}
		for (size_t i = 0; i < am_node_len(v); i++) {
			char pq[32];

			path_fmt(pq, sizeof(pq), "queries[%zu]", i);
			if ((rc = load_query(&l, am_node_at(v, i), pq, &p->queries[i],
					     true)))
				goto out;
			p->nqueries = i + 1;
		}
	} else {
		/* one query at the top level (its keys were checked with the
		 * profile's) */
		if ((rc = load_query(&l, n, "", &p->queries[0], false)))
			goto out;
		p->nqueries = 1;
	}
	if (p->queries[0].fallback) {
		rc = fail(&l, n, "queries[0].fallback",
			  "the first query cannot be a fallback");
		goto out;
	}
	for (size_t i = 0; i < p->nqueries; i++)
		if (p->queries[i].per_device && !p->has_enum) {
			rc = fail(&l, n, "enumerate",
				  "per_device queries need `enumerate:` to list devices");
			goto out;
		}
	*out = p;
	return 0;
out:
	smi_profile_free(p);
	return rc;
}

static void query_free(struct smi_query *q)
{
	for (size_t i = 0; i < q->argc; i++)
		free(q->argv[i]);
	free(q->devices);
	for (size_t i = 0; i < q->nfields; i++) {
		free(q->fields[i].key);
		free(q->fields[i].label);
		free(q->fields[i].unit);
		free(q->fields[i].var);
	}
}

void smi_profile_free(struct smi_profile *p)
{
	if (!p)
		return;
	query_free(&p->enumerate);
	/* every slot: a query that failed to load holds what it read so far */
	for (size_t i = 0; i < SMI_MAX_QUERIES; i++)
		query_free(&p->queries[i]);
	for (size_t i = 0; i < 4; i++)
		free(p->dirs[i]);
	free(p->name);
	free(p->prefix);
	free(p->vendor);
	free(p->defer_to);
	free(p);
}

/* ---- built-ins ---- */

/* Profiles text is read by the agent's own config parser, as the
 * `profiles` option of an smi section, so built-in profiles obey exactly
 * the rules a user's do (tree bounds, duplicate keys, lines). */
static const struct am_option profiles_opt[] = {{"profiles", AM_OPT_TREE, ""}, {NULL}};

int smi_profiles_parse(const char *text, void **holder, const struct am_node **tree,
		       char *err, size_t errlen)
{
	static const char head[] = "collectors:\n  smi:\n    profiles:\n";
	const struct cfg_component comp = {.name = "smi", .options = profiles_opt};
	struct agent_config *cfg = NULL;
	size_t n = strlen(head) + 1, o;
	char *doc;
	int rc;

	for (const char *c = text; *c; c++)
		n += 1 + (*c == '\n') * 6;
	if (!(doc = malloc(n + 6)))
		return -ENOMEM;
	memcpy(doc, head, strlen(head));
	o = strlen(head);
	/* every line indented under `profiles:` (SMI_PROFILES_LINE0 lines
	 * above it) */
	for (const char *c = text; *c; c++) {
		if (c == text || c[-1] == '\n') {
			memcpy(doc + o, "      ", 6);
			o += 6;
		}
		doc[o++] = *c;
	}
	doc[o] = '\0';
	rc = config_parse(doc, o, "smi profiles", &comp, 1, NULL, 0, &cfg, err, errlen);
	free(doc);
	if (rc)
		return rc;
	*tree = am_cfg_tree(config_collector(cfg, "smi")->opts, "profiles");
	*holder = cfg;
	return 0;
}

void smi_profiles_free(void *holder)
{
	config_free(holder);
}

static const struct am_node *builtin_root;
/* The parsed config holding builtin_root, kept for the life of the process
 * (file scope, so leak checkers see it still referenced). */
static void *builtin_holder;

static void builtin_parse(void)
{
	char err[256];

	/* The text is part of the program: a failure is a bug, caught by the
	 * unit suite, which loads every built-in profile. */
	if (smi_profiles_parse(smi_builtin_yaml, &builtin_holder, &builtin_root, err,
			       sizeof(err)))
		fprintf(stderr, "accelmon: smi built-in profiles: %s\n", err);
}

/* Parsed once, kept for the life of the process. */
static const struct am_node *builtin_tree(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, builtin_parse);
	return builtin_root;
}

size_t smi_builtin_count(void)
{
	const struct am_node *t = builtin_tree();

	return am_node_kind(t) == AM_NODE_MAP ? am_node_len(t) : 0;
}

const char *smi_builtin_name(size_t i)
{
	return i < smi_builtin_count() ? am_node_key(builtin_tree(), i) : NULL;
}

struct smi_profile *smi_builtin_load(const char *name)
{
	const struct am_node *n = am_node_get(builtin_tree(), name);
	struct smi_profile *p;
	char key[128], why[256];
	unsigned long line;

	if (!n)
		return NULL;
	if (smi_profile_load(name, n, &p, key, sizeof(key), why, sizeof(why), &line)) {
		fprintf(stderr, "accelmon: smi built-in profile %s: line %lu: %s: %s\n",
			name, line, key, why);
		return NULL;
	}
	return p;
}
