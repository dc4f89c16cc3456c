/* Plugin loader and the runtime collector list. Built-ins come first, then
 * each plugin as it is loaded: dlopen(RTLD_NOW | RTLD_LOCAL) so a missing
 * am_* symbol fails here rather than in a poll, and one plugin's symbols
 * never satisfy another's. The descriptor is checked (ABI version, size,
 * name, hooks, name collisions) before anything in it is called.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "builtin.h"
#include "log.h"
#include "plugins.h"

#define COLL_NAME_MAX 32
#define COLL_OPTIONS_MAX 256

struct coll_entry {
	const struct am_collector *desc;
	char *file;	 /* realpath of the plugin; NULL for a built-in */
	unsigned listed; /* parse that last listed it (plugins), see below */
	unsigned loaded; /* parse that loaded it */
};

/* A file seen on a reload whose collector name an earlier config's plugin
 * already holds (an upgrade through a swapped link): the running one stays
 * (no dlclose), the file is remembered so the warning is logged once. */
struct shadow_entry {
	char *file;
	size_t owner; /* list[] index of the plugin that keeps the name */
};

static struct coll_entry list[COLLECTORS_MAX];
/* Built-ins, then the plugins the last parsed config lists: a plugin that
 * a failed or a later config loaded stays in list[] (never dlclose()d) but
 * is not a component of a config that does not name it, so it never runs
 * under one. */
static struct cfg_component comps[COLLECTORS_MAX];
static size_t ncomps;
static size_t nlist, nbuiltin;
static int builtins_done;
static struct shadow_entry shadows[COLLECTORS_MAX];
static size_t nshadow;
/* Config parses through plugins_config_hook; 0 outside one (a direct
 * plugins_load, as the tests call it). */
static unsigned parse_gen;

static const char *origin(const struct coll_entry *e)
{
	return e->file ? e->file : "built-in";
}

/* A name is a config key and a label value: a short lower-case word. */
static int name_ok(const char *name)
{
	size_t n = 0;

	if (!name)
		return 0;
	for (; name[n]; n++)
		if (!((name[n] >= 'a' && name[n] <= 'z') ||
		      (name[n] >= '0' && name[n] <= '9') || name[n] == '_'))
			return 0;
	return n > 0 && n <= COLL_NAME_MAX;
}

/* comps[]: the built-ins and the plugins listed by the parse in progress
 * (outside a parse: every plugin loaded, as plugins_load's callers expect). */
static void comps_build(void)
{
	ncomps = 0;
	for (size_t i = 0; i < nlist; i++) {
		const struct am_collector *d = list[i].desc;

		if (list[i].file && parse_gen && list[i].listed != parse_gen)
			continue;
		comps[ncomps].name = d->name;
		comps[ncomps].options = d->options;
		comps[ncomps].needs_config = (d->flags & AM_COLLECTOR_NEEDS_CONFIG) != 0;
		comps[ncomps].check = d->check;
		comps[ncomps].interval_s =
			d->defaults && d->defaults->interval_s >= 0.1
				? d->defaults->interval_s
				: 0;
		ncomps++;
	}
}

/* `file` defines the name list[owner] (a plugin an earlier config loaded)
 * has. It cannot replace it without a dlclose, which an abandoned thread
 * still running in the old code forbids: keep the old one, say once that
 * a restart loads the new file, and let the config apply. */
static int shadow_add(size_t owner, const char *file, const char *shown)
{
	list[owner].listed = parse_gen;
	if (nshadow < COLLECTORS_MAX) {
		char *f = strdup(file);

		if (f) {
			shadows[nshadow].file = f;
			shadows[nshadow].owner = owner;
			nshadow++;
		}
	}
	log_msg(LOGL_WARN, list[owner].desc->name,
		"%s also defines this collector; the one loaded from %s keeps "
		"running: restart the agent to load the new file",
		shown ? shown : file, list[owner].file);
	return 0;
}

/* Check a descriptor from `file` (its real path; NULL: built-in) and
 * append it. Errors name the file as `shown` (as configured). */
static int list_add(const struct am_collector *d, const char *file, const char *shown,
		    char *err, size_t errlen)
{
	const char *what = shown ? shown : "built-in";

	/* Only abi_version is at the same place in every version: read
	 * nothing else of another version's descriptor. */
	if (d->abi_version != ACCELMON_COLLECTOR_ABI_VERSION) {
		config_err(err, errlen,
			   "%s: collector ABI version %u, this agent needs %u", what,
			   d->abi_version, ACCELMON_COLLECTOR_ABI_VERSION);
		return -EPROTO;
	}
	if (d->size < sizeof(struct am_collector)) {
		config_err(
		    err, errlen,
		    "%s: collector descriptor is %u bytes, ABI version %u needs at "
		    "least %zu",
		    what, d->size, ACCELMON_COLLECTOR_ABI_VERSION,
		    sizeof(struct am_collector));
		return -EPROTO;
	}
	if (!name_ok(d->name)) {
		config_err(
		    err, errlen,
		    "%s: invalid collector name \"%.40s\" (1 to %d of a-z, 0-9, _)", what,
		    d->name ? d->name : "(null)", COLL_NAME_MAX);
		return -EINVAL;
	}
	if (!d->init || !d->poll) {
		config_err(err, errlen, "%s: collector %s has no %s function", what,
			   d->name, d->init ? "poll" : "init");
		return -EINVAL;
	}
	/* The config checker trusts these tables: check them once here. */
	for (size_t i = 0; d->options && d->options[i].name; i++) {
		if (i == COLL_OPTIONS_MAX) {
			config_err(
			    err, errlen,
			    "%s: collector %s: more than %d options (no {NULL} end?)",
			    what, d->name, COLL_OPTIONS_MAX);
			return -EINVAL;
		}
		if (d->options[i].type < AM_OPT_BOOL ||
		    d->options[i].type > AM_OPT_TREE) {
			config_err(
			    err, errlen,
			    "%s: collector %s: option %.40s has an unknown type %d", what,
			    d->name, d->options[i].name, (int)d->options[i].type);
			return -EINVAL;
		}
	}
	for (size_t i = 0; i < nlist; i++) {
		if (strcmp(list[i].desc->name, d->name) == 0) {
			if (file && list[i].file && parse_gen &&
			    list[i].loaded != parse_gen)
				return shadow_add(i, file, shown);
			config_err(err, errlen,
				   "%s: collector name %s is already defined by %s", what,
				   d->name, origin(&list[i]));
			return -EEXIST;
		}
	}
	if (nlist == COLLECTORS_MAX) {
		config_err(err, errlen, "%s: more than %d collectors", what,
			   COLLECTORS_MAX);
		return -ENOSPC;
	}
	list[nlist].desc = d;
	list[nlist].file = NULL;
	if (file && !(list[nlist].file = strdup(file))) {
		config_err(err, errlen, "%s: out of memory", what);
		return -ENOMEM;
	}
	list[nlist].listed = list[nlist].loaded = parse_gen;
	nlist++;
	if (!file)
		nbuiltin = nlist;
	comps_build();
	return 0;
}

static void builtins(void)
{
	char err[256];

	if (builtins_done)
		return;
	builtins_done = 1;
	for (size_t i = 0; i < builtin_ncollectors; i++)
		if (list_add(builtin_collectors[i], NULL, NULL, err, sizeof(err)) < 0)
			log_msg(LOGL_ERROR, NULL, "%s: skipped", err);
}

size_t collectors_count(void)
{
	builtins();
	return nlist;
}

const struct am_collector *collectors_at(size_t i)
{
	builtins();
	return i < nlist ? list[i].desc : NULL;
}

const char *collectors_origin(size_t i)
{
	builtins();
	return i < nlist ? origin(&list[i]) : NULL;
}

const struct am_collector *collectors_find(const char *name)
{
	builtins();
	for (size_t i = 0; name && i < nlist; i++)
		if (strcmp(list[i].desc->name, name) == 0)
			return list[i].desc;
	return NULL;
}

const struct cfg_component *collectors_components(size_t *n)
{
	builtins();
	*n = nbuiltin;
	return comps;
}

int plugins_load(const char *path, char *err, size_t errlen)
{
	char real[PATH_MAX];
	const struct am_collector *d;
	struct stat st;
	void *h;
	int rc;

	builtins();
	/* The canonical path names the file once, however it is written
	 * (relative to the working directory, through a link). */
	if (!realpath(path, real)) {
		rc = -errno;
		config_err(err, errlen, "%s: cannot load plugin: %s", path,
			   strerror(-rc));
		return rc;
	}
	for (size_t i = 0; i < nlist; i++)
		if (list[i].file && strcmp(list[i].file, real) == 0) {
			list[i].listed = parse_gen;
			return 0;
		}
	for (size_t i = 0; i < nshadow; i++)
		if (strcmp(shadows[i].file, real) == 0) { /* warned already */
			list[shadows[i].owner].listed = parse_gen;
			return 0;
		}
	/* dlopen() of a FIFO would wait for a writer. */
	if (stat(real, &st) < 0 || !S_ISREG(st.st_mode)) {
		config_err(err, errlen, "%s: cannot load plugin: not a regular file",
			   path);
		return -EINVAL;
	}
	log_warn_writable(real, "plugin");
	dlerror();
	h = dlopen(real, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		const char *why = dlerror();

		config_err(err, errlen, "%s: cannot load plugin: %s", path,
			   why ? why : "dlopen failed");
		return -ENOEXEC;
	}
	/* Never dlclose()d, not even when refused here: nothing of it runs,
	 * and unloading code is the one thing that cannot go wrong later. */
	dlerror();
	d = dlsym(h, ACCELMON_COLLECTOR_SYMBOL);
	if (!d) {
		config_err(err, errlen,
			   "%s: no %s symbol (not an accelmon collector plugin)", path,
			   ACCELMON_COLLECTOR_SYMBOL);
		return -ENOENT;
	}
	rc = list_add(d, real, path, err, errlen);
	if (rc < 0)
		return rc;
	log_msg(LOGL_INFO, d->name, "plugin loaded from %s", real);
	return 0;
}

static int so_name(const struct dirent *e)
{
	size_t n = strlen(e->d_name);

	return e->d_name[0] != '.' && n > 3 && !strcmp(e->d_name + n - 3, ".so");
}

int plugins_load_dir(const char *dir, char *err, size_t errlen)
{
	struct dirent **names = NULL;
	int n, rc = 0;

	n = scandir(dir, &names, so_name, alphasort);
	if (n < 0) {
		rc = -errno;
		if (rc == -ENOENT) {
			log_msg(LOGL_DEBUG, NULL, "plugin_dir %s: not there", dir);
			return 0;
		}
		config_err(err, errlen, "plugin_dir %s: %s", dir, strerror(-rc));
		return rc;
	}
	for (int i = 0; i < n; i++) {
		char path[PATH_MAX];
		struct stat st;

		if (!rc) {
			snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
			if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
				rc = plugins_load(path, err, errlen);
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

int plugins_config_hook(void *arg, const struct agent_config *cfg,
			const struct cfg_component **collectors, size_t *ncollectors,
			char *err, size_t errlen)
{
	int rc;

	(void)arg;
	builtins();
	/* A new parse: only what this text lists becomes a component. */
	if (++parse_gen == 0)
		parse_gen = 1;
	comps_build();
	for (size_t i = 0; i < cfg->nplugins; i++) {
		rc = plugins_load(cfg->plugins[i], err, errlen);
		if (rc < 0)
			return rc;
	}
	if (cfg->plugin_dir && *cfg->plugin_dir) {
		rc = plugins_load_dir(cfg->plugin_dir, err, errlen);
		if (rc < 0)
			return rc;
	}
	comps_build();
	*collectors = comps;
	*ncollectors = ncomps;
	return 0;
}
