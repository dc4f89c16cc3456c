/* The option store and the am_cfg_* getters of the collector ABI: what a
 * component (built in or a .so plugin) reads its config section with, plus
 * durations and the agent_config lifetime and lookups. The YAML reader
 * that fills it is agent/config_yaml.c.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg_tree.h"
#include "config.h"
#include "options.h"

void config_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	/* Exactly one line, whatever the quoted text held. */
	for (char *c = err; *c; c++)
		if (*c == '\n' || *c == '\r')
			*c = ' ';
}

struct am_config *opts_new(void)
{
	return calloc(1, sizeof(struct am_config));
}

static void cfg_value_clear(struct cfg_value *v)
{
	switch (v->type) {
	case AM_OPT_STRING:
	case AM_OPT_REGEX:
		free(v->u.s);
		break;
	case AM_OPT_STRLIST:
		for (size_t i = 0; i < v->u.list.n; i++)
			free(v->u.list.v[i]);
		free(v->u.list.v);
		break;
	case AM_OPT_TREE:
		cfg_tree_free(v->u.tree);
		break;
	default:
		break;
	}
	memset(&v->u, 0, sizeof(v->u));
	free(v->item_line);
	v->item_line = NULL;
	v->line = 0;
}

void opts_free(struct am_config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++) {
		cfg_value_clear(&c->vals[i]);
		free(c->vals[i].key);
	}
	free(c->vals);
	free(c);
}

/* Copy one value into an empty slot d (key and type set); 0 or -ENOMEM. */
static int cfg_value_copy(struct cfg_value *d, const struct cfg_value *v)
{
	switch (v->type) {
	case AM_OPT_STRING:
	case AM_OPT_REGEX:
		if (v->u.s && !(d->u.s = strdup(v->u.s)))
			return -ENOMEM;
		break;
	case AM_OPT_STRLIST:
		if (v->u.list.n &&
		    !(d->u.list.v = calloc(v->u.list.n, sizeof(*d->u.list.v))))
			return -ENOMEM;
		for (size_t i = 0; i < v->u.list.n; i++, d->u.list.n++)
			if (!(d->u.list.v[i] = strdup(v->u.list.v[i])))
				return -ENOMEM;
		break;
	case AM_OPT_TREE:
		if (v->u.tree && !(d->u.tree = cfg_tree_dup(v->u.tree)))
			return -ENOMEM;
		break;
	default:
		d->u = v->u;
		break;
	}
	return 0;
}

struct am_config *opts_dup(const struct am_config *c)
{
	struct am_config *d = opts_new();

	if (!d)
		return NULL;
	if (!c || !c->n)
		return d;
	if (!(d->vals = calloc(c->n, sizeof(*d->vals)))) {
		free(d);
		return NULL;
	}
	d->cap = c->n;
	for (size_t i = 0; i < c->n; i++) {
		struct cfg_value *v = &d->vals[d->n];

		if (!(v->key = strdup(c->vals[i].key))) {
			opts_free(d);
			return NULL;
		}
		v->type = c->vals[i].type;
		d->n++; /* counted first: opts_free frees a half-copied value */
		if (cfg_value_copy(v, &c->vals[i]) < 0) {
			opts_free(d);
			return NULL;
		}
	}
	return d;
}

static struct cfg_value *opts_find(const struct am_config *c, const char *key)
{
	if (!c || !key)
		return NULL;
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->vals[i].key, key) == 0)
			return &c->vals[i];
	return NULL;
}

struct cfg_value *opts_get(const struct am_config *c, const char *key)
{
	return opts_find(c, key);
}

struct cfg_value *opts_slot(struct am_config *c, const char *key)
{
	struct cfg_value *v = opts_find(c, key);

	if (v) {
		cfg_value_clear(v);
		return v;
	}
	if (c->n == c->cap) {
		size_t ncap = c->cap ? 2 * c->cap : 8;
		struct cfg_value *nv = realloc(c->vals, ncap * sizeof(*nv));

		if (!nv)
			return NULL;
		c->vals = nv;
		c->cap = ncap;
	}
	v = &c->vals[c->n];
	memset(v, 0, sizeof(*v));
	v->key = strdup(key);
	if (!v->key)
		return NULL;
	c->n++;
	return v;
}

bool am_cfg_bool(const struct am_config *cfg, const char *key, bool dflt)
{
	const struct cfg_value *v = opts_find(cfg, key);

	return v && v->type == AM_OPT_BOOL ? v->u.b : dflt;
}

long long am_cfg_int(const struct am_config *cfg, const char *key, long long dflt)
{
	const struct cfg_value *v = opts_find(cfg, key);

	return v && v->type == AM_OPT_INT ? v->u.i : dflt;
}

double am_cfg_duration(const struct am_config *cfg, const char *key, double dflt_s)
{
	const struct cfg_value *v = opts_find(cfg, key);

	return v && v->type == AM_OPT_DURATION ? v->u.d : dflt_s;
}

const char *am_cfg_string(const struct am_config *cfg, const char *key, const char *dflt)
{
	const struct cfg_value *v = opts_find(cfg, key);

	if (v && (v->type == AM_OPT_STRING || v->type == AM_OPT_REGEX))
		return v->u.s;
	return dflt;
}

size_t am_cfg_list_len(const struct am_config *cfg, const char *key)
{
	const struct cfg_value *v = opts_find(cfg, key);

	return v && v->type == AM_OPT_STRLIST ? v->u.list.n : 0;
}

const char *am_cfg_list_at(const struct am_config *cfg, const char *key, size_t i)
{
	const struct cfg_value *v = opts_find(cfg, key);

	if (!v || v->type != AM_OPT_STRLIST || i >= v->u.list.n)
		return NULL;
	return v->u.list.v[i];
}

const struct am_node *am_cfg_tree(const struct am_config *cfg, const char *key)
{
	const struct cfg_value *v = opts_find(cfg, key);

	return v && v->type == AM_OPT_TREE ? v->u.tree : NULL;
}

/* ---- durations ---- */

int config_parse_duration(const char *s, double *out_s)
{
	double total = 0;
	const char *p = s;
	int terms = 0;

	if (!s || !*s)
		return -EINVAL;
	/* One or more NUMBER[UNIT] terms ("1m30s"); only the last may omit
	 * its unit, and only when it is the only term (bare seconds). Digits
	 * are checked by hand because strtod alone would take "inf", "nan",
	 * hex floats, signs and leading blanks. */
	while (*p) {
		const char *num = p;
		size_t digits = 0, dots = 0;
		char buf[64];
		double v, mult;

		while ((*p >= '0' && *p <= '9') || *p == '.') {
			if (*p == '.')
				dots++;
			else
				digits++;
			p++;
		}
		if (!digits || dots > 1 || (size_t)(p - num) >= sizeof(buf))
			return -EINVAL;
		memcpy(buf, num, (size_t)(p - num));
		buf[p - num] = '\0';
		v = strtod(buf, NULL);

		if (p[0] == 'm' && p[1] == 's') {
			mult = 1e-3;
			p += 2;
		} else if (*p == 's') {
			mult = 1;
			p++;
		} else if (*p == 'm') {
			mult = 60;
			p++;
		} else if (*p == 'h') {
			mult = 3600;
			p++;
		} else if (*p == 'd') {
			mult = 86400;
			p++;
		} else if (*p == '\0' && terms == 0) {
			mult = 1;
		} else {
			return -EINVAL;
		}
		/* Divide for milliseconds: 100 / 1000.0 is exactly the double
		 * 0.1, so "100ms" meets the 0.1 s minimum. */
		total += mult == 1e-3 ? v / 1000.0 : v * mult;
		terms++;
	}
	if (!isfinite(total) || total < 0)
		return -EINVAL;
	*out_s = total;
	return 0;
}

static void free_sections(struct cfg_section *s, size_t n)
{
	if (!s)
		return;
	for (size_t i = 0; i < n; i++) {
		free((char *)s[i].name);
		free((char *)s[i].component);
		opts_free(s[i].opts);
	}
	free(s);
}

void config_free(struct agent_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->source);
	free(cfg->listen);
	for (size_t i = 0; i < cfg->nplugins; i++)
		free(cfg->plugins[i]);
	free(cfg->plugins);
	free(cfg->plugin_dir);
	free_sections(cfg->collectors, cfg->ncollectors);
	free_sections(cfg->exporters, cfg->nexporters);
	free(cfg);
}

static const struct cfg_section *find_section(const struct cfg_section *s, size_t n,
					      const char *name)
{
	for (size_t i = 0; s && name && i < n; i++)
		if (!strcmp(s[i].name, name))
			return &s[i];
	return NULL;
}

const struct cfg_section *config_collector(const struct agent_config *cfg,
					   const char *name)
{
	return cfg ? find_section(cfg->collectors, cfg->ncollectors, name) : NULL;
}

const struct cfg_section *config_exporter(const struct agent_config *cfg,
					  const char *name)
{
	return cfg ? find_section(cfg->exporters, cfg->nexporters, name) : NULL;
}
