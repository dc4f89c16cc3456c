/* smi collector: accelerators of vendors without a public library, through
 * their command-line tools. A plain `smi` section stands for one instance
 * per profile (smi/ixsmi, smi/hl-smi, ...: its own thread, interval and
 * watchdog); each poll runs the profile's commands (smi_run.c), parses what
 * they print (smi_parse.c) and maps the fields onto the schema families.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "accelmon/collector.h"
#include "accelmon/schema.h"
#include "accelmon/util.h"
#include "smi.h"

#define SMI_FAILS_BEFORE_BACKOFF 3
#define SMI_BACKOFF_MAX_S 300.0
#define SMI_STDERR_LOG_GAP_NS (60LL * 1000000000)
#define NS 1000000000LL
/* A poll's runs together get 0.9 x max(interval, 2 s): a poll then ends
 * before the watchdog's default deadline (2 x interval, at least 2 s). */
#define SMI_POLL_BUDGET(iv) (0.9 * ((iv) > 2 ? (iv) : 2))
#define SMI_MIN_RUN_NS (200 * 1000000LL)
#define SMI_SYSTEM_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static const struct am_option smi_options[] = {
    {"tools", AM_OPT_STRLIST,
     "built-in profiles to run (default: each one whose command is found)"},
    {"search_path", AM_OPT_STRLIST,
     "folders searched for the tools first, then the vendors' usual ones, then PATH"},
    {"profiles", AM_OPT_TREE,
     "profiles of your own: name -> {command, format, device_prefix, fields, ...}"},
    {NULL},
};

/* ---- one run of a tool at a time, across instances ---- */

struct tool_lock {
	char path[PATH_MAX];
	bool busy;
};

static pthread_mutex_t tools_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t tools_cv;
static pthread_once_t tools_once = PTHREAD_ONCE_INIT;
static struct tool_lock tools_busy[32];

static void tools_init(void)
{
	pthread_condattr_t a;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&tools_cv, &a);
	pthread_condattr_destroy(&a);
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NS + ts.tv_nsec;
}

/* Take path's lock, waiting until deadline (monotonic ns). NULL when another
 * run of the same tool (another instance's, or an abandoned poll's) still
 * holds it, or when the table is full. */
static struct tool_lock *tool_acquire(const char *path, int64_t deadline)
{
	struct tool_lock *t = NULL;
	struct timespec ts = {(time_t)(deadline / NS), (long)(deadline % NS)};

	pthread_once(&tools_once, tools_init);
	pthread_mutex_lock(&tools_mu);
	for (;;) {
		struct tool_lock *free_slot = NULL;

		t = NULL;
		for (size_t i = 0; i < sizeof(tools_busy) / sizeof(tools_busy[0]); i++) {
			if (!strcmp(tools_busy[i].path, path))
				t = &tools_busy[i];
			else if (!free_slot && !tools_busy[i].busy)
				free_slot = &tools_busy[i];
		}
		if (!t && free_slot) {
			t = free_slot;
			snprintf(t->path, sizeof(t->path), "%s", path);
		}
		if (!t || !t->busy)
			break;
		if (pthread_cond_timedwait(&tools_cv, &tools_mu, &ts) == ETIMEDOUT) {
			t = NULL;
			break;
		}
	}
	if (t)
		t->busy = true;
	pthread_mutex_unlock(&tools_mu);
	return t;
}

static void tool_release(struct tool_lock *t)
{
	pthread_mutex_lock(&tools_mu);
	t->busy = false;
	pthread_cond_broadcast(&tools_cv);
	pthread_mutex_unlock(&tools_mu);
}

/* ---- state ---- */

enum { INFO_MODEL, INFO_SERIAL, INFO_BUS, INFO_DRIVER, INFO_FW, INFO__N };
static const char *const info_names[INFO__N] = {"model", "serial", "pci_bus_id",
						"driver_version", "firmware_version"};

struct smi_dev {
	bool known; /* its series exist */
	bool seen;  /* in this poll's output */
	bool enumerated;
	bool health_bad;
	char name[48];
	char uuid[AM_LABEL_VALUE_MAX + 1];
	char info[INFO__N][AM_LABEL_VALUE_MAX + 1];
	char vars[SMI_MAX_VARS][64];
	am_series_t up, info_s;
	am_series_t s[SMI_MAX_QUERIES][SMI_MAX_FIELDS];
	am_series_t s2[SMI_MAX_QUERIES][SMI_MAX_FIELDS]; /* busy/energy seconds */
	bool have[SMI_MAX_QUERIES][SMI_MAX_FIELDS];
	double val[SMI_MAX_QUERIES][SMI_MAX_FIELDS];
	uint64_t raw[SMI_MAX_QUERIES][SMI_MAX_FIELDS];
	bool is_u64[SMI_MAX_QUERIES][SMI_MAX_FIELDS];
	double mem_total;
	bool have_total;
};

/* Families, by metric: [0] the gauge or counter, [1] its integral. */
struct smi_fams {
	am_family_t f[SMI_M__COUNT][2];
	am_family_t info, up;
};

struct smi_state {
	struct am_ctx *ctx;
	struct smi_profile *prof;
	char path[SMI_MAX_QUERIES][PATH_MAX]; /* argv[0] resolved per query */
	char enum_path[PATH_MAX];
	bool accel; /* the profile reports accelerators (else only ports) */
	int pinned[SMI_MAX_QUERIES]; /* generation in use per group, -1: probe */
	struct smi_fams fam;
	struct smi_dev dev[SMI_MAX_DEVICES];
	double timeout_s;
	/* failures in a row, back-off */
	unsigned fails;
	int64_t next_try_ns;
	double backoff_s;
	bool backing_off;
	bool deferred; /* said that the library collector has these devices */
	int64_t stderr_logged_ns;
	unsigned stderr_suppressed;
	/* the query being parsed */
	size_t cur_q;
	char why[256];
	unsigned bad_values;
};

/* ---- profiles of a section ---- */

/* The profile named name: the section's own (profiles:), else built in.
 * NULL with why set. */
static struct smi_profile *profile_for(const struct am_config *cfg, const char *name,
				       char *key, size_t keylen, char *why, size_t whylen)
{
	const struct am_node *n = am_node_get(am_cfg_tree(cfg, "profiles"), name);
	struct smi_profile *p;
	unsigned long line;
	char sub[200];

	if (!n) {
		if ((p = smi_builtin_load(name)))
			return p;
		snprintf(key, keylen, "tools");
		snprintf(why, whylen,
			 "no profile named '%s' (built in: ixsmi, hl-smi, "
			 "brsmi, mthreads-gmi, efsmi, cnmon, mx-smi, "
			 "xpu-smi, npu-smi, hccn_tool; or define it "
			 "under profiles:)",
			 name);
		return NULL;
	}
	if (smi_profile_load(name, n, &p, sub, sizeof(sub), why, whylen, &line)) {
		snprintf(key, keylen, "profiles.%s%s%s", name, sub[0] ? "." : "", sub);
		return NULL;
	}
	return p;
}

static void search_dirs(const struct am_config *cfg, const char **dirs, size_t max)
{
	size_t n = am_cfg_list_len(cfg, "search_path"), i;

	for (i = 0; i < n && i + 1 < max; i++)
		dirs[i] = am_cfg_list_at(cfg, "search_path", i);
	dirs[i] = NULL;
}

static int find_cmd(const struct am_config *cfg, const struct smi_profile *p,
		    const char *cmd, char *out, size_t outlen)
{
	const char *user[17], *vendor[5] = {NULL};

	search_dirs(cfg, user, 17);
	for (size_t i = 0; i < 4 && p->dirs[i]; i++)
		vendor[i] = p->dirs[i];
	return smi_find_command(cmd, user, vendor, out, outlen);
}

static int smi_check(const struct am_config *cfg, char *key, size_t keylen, char *why,
		     size_t whylen)
{
	const struct am_node *t = am_cfg_tree(cfg, "profiles");
	struct smi_profile *p;

	if (t && am_node_kind(t) != AM_NODE_MAP) {
		snprintf(key, keylen, "profiles");
		snprintf(why, whylen, "expected a mapping: name -> profile");
		return -EINVAL;
	}
	for (size_t i = 0; i < am_node_len(t); i++) {
		const char *name = am_node_key(t, i);

		for (const char *c = name; *c; c++)
			if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
			      (*c >= '0' && *c <= '9') || *c == '_' || *c == '-' ||
			      *c == '.') ||
			    c - name >= 64) {
				snprintf(key, keylen, "profiles.%s", name);
				snprintf(why, whylen,
					 "a profile name is letters, digits, "
					 "'_', '-' and '.' (up to 64): it "
					 "names the instance smi/NAME");
				return -EINVAL;
			}
		if (!(p = profile_for(cfg, name, key, keylen, why, whylen)))
			return -EINVAL;
		smi_profile_free(p);
	}
	for (size_t i = 0; i < am_cfg_list_len(cfg, "tools"); i++) {
		if (!(p = profile_for(cfg, am_cfg_list_at(cfg, "tools", i), key, keylen,
				      why, whylen))) {
			if (!strcmp(key, "tools"))
				snprintf(key, keylen, "tools[%zu]", i);
			return -EINVAL;
		}
		smi_profile_free(p);
	}
	return 0;
}

/* A plain `smi` section: one instance per profile to run. */
static int smi_instances(const struct am_config *cfg,
			 char (*names)[AM_INSTANCE_NAME_MAX + 1], size_t max)
{
	const struct am_node *t = am_cfg_tree(cfg, "profiles");
	size_t n = 0, ntools = am_cfg_list_len(cfg, "tools");

	if (ntools) {
		for (size_t i = 0; i < ntools && n < max; i++)
			snprintf(names[n++], AM_INSTANCE_NAME_MAX + 1, "%s",
				 am_cfg_list_at(cfg, "tools", i));
	} else {
		for (size_t i = 0; i < smi_builtin_count() && n < max; i++) {
			struct smi_profile *p = smi_builtin_load(smi_builtin_name(i));
			char path[PATH_MAX];

			if (p && find_cmd(cfg, p, p->queries[0].argv[0], path,
					  sizeof(path)) == 0)
				snprintf(names[n++], AM_INSTANCE_NAME_MAX + 1, "%s",
					 p->name);
			smi_profile_free(p);
		}
	}
	for (size_t i = 0; i < am_node_len(t) && n < max; i++) {
		bool dup = false;

		for (size_t k = 0; k < n; k++)
			dup |= !strcmp(names[k], am_node_key(t, i));
		if (!dup)
			snprintf(names[n++], AM_INSTANCE_NAME_MAX + 1, "%s",
				 am_node_key(t, i));
	}
	return (int)n;
}

/* ---- families ---- */

static am_family_t roce_family(struct am_ctx *ctx, const char *name, const char *help,
			       bool direction)
{
	struct am_family_def d = {
	    .name = name,
	    .help = help,
	    .kind = AM_COUNTER,
	    .labels = {"device", "port", direction ? "direction" : NULL}};

	return am_family(ctx, &d);
}

static int register_metric(struct smi_state *st, enum smi_metric m)
{
	struct am_ctx *ctx = st->ctx;
	am_family_t *f = st->fam.f[m];
	static const enum am_std simple[SMI_M__COUNT] = {
	    [SMI_M_MEM_BW_UTIL] = AM_STD_MEMORY_BW_UTILIZATION,
	    [SMI_M_MEM_USED] = AM_STD_MEMORY_USED,
	    [SMI_M_MEM_USED_RATIO] = AM_STD_MEMORY_USED,
	    [SMI_M_MEM_TOTAL] = AM_STD_MEMORY_TOTAL,
	    [SMI_M_POWER_LIMIT] = AM_STD_POWER_LIMIT,
	    [SMI_M_TEMP] = AM_STD_TEMPERATURE,
	    [SMI_M_CLOCK] = AM_STD_CLOCK,
	    [SMI_M_ECC] = AM_STD_ECC_ERRORS,
	    [SMI_M_PORT_UP] = AM_STD_PORT_UP,
	    [SMI_M_PORT_SPEED] = AM_STD_PORT_LINK_SPEED,
	    [SMI_M_PORT_TX_PKTS] = AM_STD_PORT_TRANSMIT_PACKETS,
	    [SMI_M_PORT_RX_PKTS] = AM_STD_PORT_RECEIVE_PACKETS,
	    [SMI_M_PORT_TX_BYTES] = AM_STD_PORT_TRANSMIT_BYTES,
	    [SMI_M_PORT_RX_BYTES] = AM_STD_PORT_RECEIVE_BYTES,
	    [SMI_M_PORT_ERRORS] = AM_STD_PORT_ERRORS,
	};

	if (f[0] > 0 || m == SMI_M_NONE || m == SMI_M_INFO || m == SMI_M_UUID ||
	    m == SMI_M_HEALTH)
		return 0;
	f[1] = -1;
	switch (m) {
	case SMI_M_UTIL:
		f[0] = am_std_family(ctx, AM_STD_UTILIZATION, NULL);
		f[1] = am_std_family(ctx, AM_STD_BUSY_SECONDS, NULL);
		break;
	case SMI_M_ENGINE_UTIL:
		f[0] = am_std_family(ctx, AM_STD_ENGINE_UTILIZATION, NULL);
		f[1] = am_std_family(ctx, AM_STD_ENGINE_BUSY_SECONDS, NULL);
		break;
	case SMI_M_POWER:
		f[0] = am_std_family(ctx, AM_STD_POWER, NULL);
		/* joules: the aggregator integrates the power series */
		f[1] = am_std_family(ctx, AM_STD_ENERGY,
				     &(struct am_std_use){.kind = AM_COUNTER});
		break;
	case SMI_M_ROCE_PAUSE:
		f[0] = roce_family(ctx, "fabric_roce_pause_frames_total",
				   "Ethernet pause frames of the port, by direction "
				   "(vendor tool).",
				   true);
		break;
	case SMI_M_ROCE_PFC:
		f[0] = roce_family(ctx, "fabric_roce_pfc_frames_total",
				   "Priority flow control frames of the port, by "
				   "direction (vendor tool).",
				   true);
		break;
	case SMI_M_ROCE_CNP:
		f[0] = roce_family(ctx, "fabric_roce_cnp_packets_total",
				   "RoCE congestion notification packets, by direction "
				   "(vendor tool).",
				   true);
		break;
	case SMI_M_ROCE_ECN:
		f[0] = roce_family(ctx, "fabric_roce_ecn_packets_total",
				   "RoCE packets with an ECN mark (vendor tool).", false);
		break;
	case SMI_M_ROCE_RETRY:
		f[0] = roce_family(ctx, "fabric_roce_retries_total",
				   "RoCE packets sent again (vendor tool).", false);
		break;
	default:
		f[0] = am_std_family(ctx, simple[m], NULL);
		break;
	}
	return f[0] < 0 || (m != SMI_M_POWER && m != SMI_M_UTIL && m != SMI_M_ENGINE_UTIL
				? 0
				: f[1] < 0)
		   ? -ENOMEM
		   : 0;
}

/* ---- init ---- */

static int smi_init(struct am_ctx *ctx, const struct am_config *cfg, void **out)
{
	const char *inst = am_instance(ctx);
	struct smi_state *st;
	char key[200], why[512];
	int rc;

	if (!inst) {
		/* The plain section ran as itself: no tool was found. */
		am_found(ctx, "no vendor tool found (looked for the built-in "
			      "profiles' commands in search_path, the vendors' "
			      "folders and PATH)");
		return -ENODEV;
	}
	if (!(st = calloc(1, sizeof(*st))))
		return -ENOMEM;
	st->ctx = ctx;
	if (!(st->prof = profile_for(cfg, inst, key, sizeof(key), why, sizeof(why)))) {
		am_found(ctx, "%s: %s", key, why);
		free(st);
		return -ENODEV;
	}
	for (size_t q = 0; q < st->prof->nqueries; q++) {
		const char *cmd = st->prof->queries[q].argv[0];

		if (find_cmd(cfg, st->prof, cmd, st->path[q], sizeof(st->path[q])) != 0) {
			if (q == 0 || !st->prof->queries[q].fallback) {
				am_found(ctx, "%s not found (search_path, %s%sPATH): off",
					 cmd, st->prof->dirs[0] ? st->prof->dirs[0] : "",
					 st->prof->dirs[0] ? ", " : "");
				rc = -ENODEV;
				goto fail;
			}
		}
		st->pinned[q] = -1;
	}
	if (st->prof->has_enum && find_cmd(cfg, st->prof, st->prof->enumerate.argv[0],
					   st->enum_path, sizeof(st->enum_path)) != 0) {
		am_found(ctx, "%s (lists the devices) not found: off",
			 st->prof->enumerate.argv[0]);
		rc = -ENODEV;
		goto fail;
	}
	st->fam.info = st->fam.up = -1;
	for (size_t q = 0; q < st->prof->nqueries; q++)
		for (size_t i = 0; i < st->prof->queries[q].nfields; i++) {
			enum smi_metric m = st->prof->queries[q].fields[i].metric;

			if (m != SMI_M_NONE && m != SMI_M_UUID &&
			    !smi_metric_info(m)->fabric)
				st->accel = true;
			if ((rc = register_metric(st, m)))
				goto fail;
		}
	if (st->accel) {
		st->fam.info = am_std_family(ctx, AM_STD_ACCEL_INFO, NULL);
		st->fam.up = am_std_family(ctx, AM_STD_ACCEL_UP, NULL);
		if (st->fam.info < 0 || st->fam.up < 0) {
			rc = -ENOMEM;
			goto fail;
		}
	}
	st->timeout_s = st->prof->timeout_s > 0	  ? st->prof->timeout_s
			: am_interval_s(ctx) < 10 ? am_interval_s(ctx)
						  : 10;
	for (size_t d = 0; d < SMI_MAX_DEVICES; d++)
		snprintf(st->dev[d].name, sizeof(st->dev[d].name), "%s%zu",
			 st->prof->prefix, d);
	am_found(ctx, "%s (%s%s%s), timeout %gs", st->path[0], st->prof->vendor,
		 st->prof->defer_to ? "; off while the collector " : "",
		 st->prof->defer_to ? st->prof->defer_to : "", st->timeout_s);
	*out = st;
	return 0;
fail:
	smi_profile_free(st->prof);
	free(st);
	return rc;
}

/* ---- one run ---- */

/* argv with {fields} and {var} put in; strings into buf. */
static int build_argv(const struct smi_state *st, const struct smi_query *q,
		      const char *path, const struct smi_dev *d, const char **argv,
		      char *buf, size_t cap)
{
	size_t o = 0;

	argv[0] = path;
	for (size_t a = 1; a < q->argc; a++) {
		const char *s = q->argv[a];

		argv[a] = buf + o;
		while (*s) {
			const char *close = s[0] == '{' ? strchr(s, '}') : NULL;
			char name[32] = "";
			const char *val = NULL;
			char num[16];

			if (close && (size_t)(close - s - 1) < sizeof(name)) {
				memcpy(name, s + 1, (size_t)(close - s - 1));
				name[close - s - 1] = '\0';
				if (!strcmp(name, "fields")) {
					for (size_t i = 0; i < q->nfields; i++)
						o += (size_t)snprintf(
						    buf + o, o < cap ? cap - o : 0,
						    "%s%s", i ? "," : "",
						    q->fields[i].key);
					s = close + 1;
					continue;
				}
				if (d && !strcmp(name, "index")) {
					snprintf(num, sizeof(num), "%d",
						 (int)(d - st->dev));
					val = num;
				}
				for (size_t v = 0;
				     d && !val && v < st->prof->enumerate.nfields; v++) {
					const struct smi_field *f =
					    &st->prof->enumerate.fields[v];

					if (f->var && !strcmp(f->var, name) &&
					    v < SMI_MAX_VARS)
						val = d->vars[v];
				}
			}
			if (val) {
				o += (size_t)snprintf(buf + o, o < cap ? cap - o : 0,
						      "%s", val);
				s = close + 1;
			} else {
				if (o + 1 < cap)
					buf[o] = *s;
				o++;
				s++;
			}
		}
		if (o < cap)
			buf[o] = '\0';
		o++;
		if (o > cap)
			return -E2BIG;
	}
	argv[q->argc] = NULL;
	return 0;
}

static void log_stderr(struct smi_state *st, const char *tool,
		       const struct smi_run_result *r)
{
	int64_t now = now_ns();
	size_t n = strcspn(r->err, "\n");

	if (!r->errlen)
		return;
	if (st->stderr_logged_ns && now - st->stderr_logged_ns < SMI_STDERR_LOG_GAP_NS) {
		st->stderr_suppressed++;
		return;
	}
	am_log(st->ctx, AM_LOG_WARN, "%s said on stderr: %.*s%s", tool,
	       (int)(n > 200 ? 200 : n), r->err,
	       st->stderr_suppressed ? " (and more since the last such line)" : "");
	st->stderr_logged_ns = now;
	st->stderr_suppressed = 0;
}

struct parse_arg {
	struct smi_state *st;
	const struct smi_query *q;
	size_t qi;
	bool enumerate;
};

static void on_value(void *varg, int dev, size_t fi, const char *text, size_t len)
{
	struct parse_arg *a = varg;
	struct smi_state *st = a->st;
	const struct smi_field *f = &a->q->fields[fi];
	struct smi_dev *d;
	char why[160];
	double v;
	int rc;

	if (dev < 0 || dev >= SMI_MAX_DEVICES)
		return;
	d = &st->dev[dev];
	while (len && (text[0] == ' ' || text[0] == '\t')) {
		text++;
		len--;
	}
	while (len && (text[len - 1] == ' ' || text[len - 1] == '\t'))
		len--;
	if (a->enumerate) {
		d->enumerated = true;
		if (f->var && fi < SMI_MAX_VARS)
			snprintf(d->vars[fi], sizeof(d->vars[fi]), "%.*s", (int)len,
				 text);
		return;
	}
	d->seen = true;
	if (f->metric == SMI_M_NONE || d->have[a->qi][fi])
		return; /* the first of repeated keys counts */
	if (f->metric == SMI_M_INFO || f->metric == SMI_M_UUID) {
		char *dst = f->metric == SMI_M_UUID ? d->uuid : NULL;

		for (size_t i = 0; !dst && i < INFO__N; i++)
			if (!strcmp(f->label, info_names[i]))
				dst = d->info[i];
		/* identity is fixed once series exist */
		if (dst && !smi_absent(text, len) && !(d->known && dst == d->uuid))
			snprintf(dst, AM_LABEL_VALUE_MAX + 1, "%.*s", (int)len, text);
		d->have[a->qi][fi] = true;
		return;
	}
	d->is_u64[a->qi][fi] = false;
	if (smi_metric_info(f->metric)->dim == SMI_D_COUNT && !f->unit && f->scale == 1 &&
	    am_parse_u64(text, len, &d->raw[a->qi][fi]) == 0) {
		d->is_u64[a->qi][fi] = true;
		d->have[a->qi][fi] = true;
		return;
	}
	rc = smi_value(f, text, len, &v, why, sizeof(why));
	if (rc == -ENODATA)
		return;
	if (rc) {
		st->bad_values++;
		am_read_error(st->ctx);
		am_log(st->ctx, AM_LOG_WARN, "%s: %s: %s", st->prof->name, f->key, why);
		return;
	}
	if (f->metric == SMI_M_HEALTH) {
		d->health_bad = v == 0;
		return;
	}
	if (f->metric == SMI_M_MEM_TOTAL) {
		d->mem_total = v;
		d->have_total = true;
	}
	d->val[a->qi][fi] = v;
	d->have[a->qi][fi] = true;
}

/* Run one query (for device d when per-device) and parse it. Returns the
 * number of devices its output held, or a negative errno. */
static int run_query(struct smi_state *st, size_t qi, const struct smi_query *q,
		     const char *path, struct smi_dev *d, bool enumerate,
		     int64_t poll_deadline)
{
	const char *argv[SMI_MAX_ARGS + 1];
	char buf[4096], pathenv[PATH_MAX + 80];
	struct smi_run_result r;
	struct smi_run_opts o = {.out_cap = SMI_OUT_CAP};
	struct parse_arg a = {st, q, qi, enumerate};
	struct tool_lock *lk;
	int64_t left = poll_deadline - now_ns();
	unsigned skipped = 0;
	const char *tool = q->argv[0];
	int rc, ndev;

	/* Not worth starting with less time left than a tool needs to start
	 * (the rest of this poll's runs wait for the next poll). */
	if (left < SMI_MIN_RUN_NS) {
		am_log(st->ctx, AM_LOG_WARN,
		       "%s: this poll's time is spent; runs left "
		       "for the next poll (a longer interval helps)",
		       st->prof->name);
		return -ETIME;
	}
	if (build_argv(st, q, path, d, argv, buf, sizeof(buf)))
		return -E2BIG;
	o.timeout_s =
	    st->timeout_s < (double)left / NS ? st->timeout_s : (double)left / NS;
	/* the tool's own folder first (vendor tools run helpers beside them),
	 * then the system's; never the agent's PATH */
	snprintf(pathenv, sizeof(pathenv), "PATH=%.*s:%s",
		 (int)(strrchr(path, '/') ? strrchr(path, '/') - path : 0), path,
		 SMI_SYSTEM_PATH);
	o.path_env = pathenv;
	if (!(lk = tool_acquire(path, now_ns() + (int64_t)(o.timeout_s * NS)))) {
		am_log(st->ctx, AM_LOG_WARN,
		       "%s: another run of it is still going; "
		       "skipped",
		       path);
		return -EBUSY;
	}
	am_call_begin(st->ctx, path);
	rc = smi_run(argv, &o, &r);
	am_call_end(st->ctx);
	tool_release(lk);
	if (rc) {
		am_log(st->ctx, AM_LOG_WARN, "%s: cannot run: %s", path, strerror(-rc));
		return rc;
	}
	log_stderr(st, tool, &r);
	if (r.timed_out)
		am_log(st->ctx, AM_LOG_WARN, "%s: killed after %gs (timeout)", tool,
		       o.timeout_s);
	else if (r.status)
		am_log(st->ctx, AM_LOG_WARN, "%s: exit status %d", tool, r.status);
	if (r.truncated)
		am_log(st->ctx, AM_LOG_WARN, "%s: output beyond %u bytes dropped", tool,
		       SMI_OUT_CAP);
	/* A killed or cut-off tool's last line may be half written ("5" of
	 * "512"): only whole lines are read. */
	if (r.timed_out || r.truncated) {
		while (r.len > 0 && r.out[r.len - 1] != '\n')
			r.len--;
		if (r.out)
			r.out[r.len] = '\0';
	}
	ndev = smi_parse(q, r.out, r.len, d && !enumerate ? (int)(d - st->dev) : -1,
			 on_value, &a, &skipped, st->why, sizeof(st->why));
	if (ndev < 0 && !r.timed_out)
		am_log(st->ctx, AM_LOG_WARN, "%s: %s", tool, st->why);
	if (skipped)
		am_log(st->ctx, AM_LOG_DEBUG, "%s: %u lines not understood", tool,
		       skipped);
	smi_run_result_free(&r);
	if ((r.timed_out || r.status) && ndev <= 0)
		return -EIO;
	return ndev < 0 ? -EIO : ndev;
}

/* ---- emit ---- */

static am_series_t dev_series(struct smi_state *st, struct smi_dev *d, am_family_t fam,
			      const struct smi_field *f)
{
	const struct smi_metric_info *mi = smi_metric_info(f->metric);
	const char *lv[4];

	if (fam < 0)
		return AM_SERIES_INVALID;
	lv[0] = d->name;
	lv[1] = mi->fabric ? "0" : d->uuid;
	lv[2] = mi->label ? f->label : NULL;
	lv[3] = NULL;
	return am_series(st->ctx, fam, lv);
}

static void emit_dev(struct smi_state *st, struct smi_dev *d)
{
	struct am_ctx *ctx = st->ctx;

	if (!d->known) {
		if (!d->uuid[0])
			snprintf(d->uuid, sizeof(d->uuid), "%s", d->info[INFO_BUS]);
		for (size_t q = 0; q < SMI_MAX_QUERIES; q++)
			for (size_t i = 0; i < SMI_MAX_FIELDS; i++)
				d->s[q][i] = d->s2[q][i] = AM_SERIES_INVALID;
		if (st->accel) {
			const char *lv[] = {d->name,
					    d->uuid,
					    st->prof->vendor,
					    d->info[INFO_MODEL],
					    d->info[INFO_SERIAL],
					    d->info[INFO_BUS],
					    "",
					    d->info[INFO_DRIVER],
					    d->info[INFO_FW],
					    NULL};
			const char *ulv[] = {d->name, d->uuid, NULL};

			d->info_s = am_series(ctx, st->fam.info, lv);
			d->up = am_series(ctx, st->fam.up, ulv);
		}
		d->known = true;
	}
	if (st->accel) {
		am_emit(ctx, d->info_s, 1);
		am_emit(ctx, d->up, d->seen && !d->health_bad ? 1 : 0);
	}
	if (!d->seen)
		return;
	for (size_t q = 0; q < st->prof->nqueries; q++) {
		const struct smi_query *qq = &st->prof->queries[q];

		for (size_t i = 0; i < qq->nfields; i++) {
			const struct smi_field *f = &qq->fields[i];
			am_family_t *fam = st->fam.f[f->metric];
			double v = d->val[q][i];

			if (!d->have[q][i] || f->metric == SMI_M_INFO ||
			    f->metric == SMI_M_UUID || f->metric == SMI_M_NONE ||
			    f->metric == SMI_M_HEALTH)
				continue;
			if (f->metric == SMI_M_MEM_USED_RATIO) {
				if (!d->have_total)
					continue;
				v = floor(v * d->mem_total + 0.5); /* whole bytes */
			}
			if (d->s[q][i] == AM_SERIES_INVALID) {
				d->s[q][i] = dev_series(st, d, fam[0], f);
				if (f->metric == SMI_M_POWER)
					d->s2[q][i] = am_series_derived(
					    ctx, fam[1],
					    (const char *[]){d->name, d->uuid, NULL},
					    &(struct am_derive){.op = AM_DERIVE_INTEGRAL,
								.a = d->s[q][i],
								.b = AM_SERIES_INVALID,
								.capacity =
								    AM_SERIES_INVALID});
				else if (f->metric == SMI_M_UTIL ||
					 f->metric == SMI_M_ENGINE_UTIL)
					d->s2[q][i] = dev_series(st, d, fam[1], f);
			}
			if (d->s[q][i] == AM_SERIES_INVALID)
				continue;
			if (d->is_u64[q][i]) {
				am_emit_u64(ctx, d->s[q][i], d->raw[q][i]);
				continue;
			}
			if (d->s2[q][i] != AM_SERIES_INVALID && f->metric != SMI_M_POWER)
				am_emit(ctx, d->s2[q][i], v);
			am_emit(ctx, d->s[q][i], v);
		}
	}
}

/* ---- poll ---- */

static void clear_poll(struct smi_state *st)
{
	for (size_t i = 0; i < SMI_MAX_DEVICES; i++) {
		struct smi_dev *d = &st->dev[i];

		d->seen = false;
		d->health_bad = false;
		d->have_total = false;
		memset(d->have, 0, sizeof(d->have));
	}
}

/* Run every group of queries: a query and the fallbacks after it, the one
 * that answered last time first. Returns devices the first group found. */
static int run_all(struct smi_state *st, int64_t deadline)
{
	const struct smi_profile *p = st->prof;
	int first = -EIO;

	if (p->has_enum) {
		for (size_t i = 0; i < SMI_MAX_DEVICES; i++)
			st->dev[i].enumerated = false;
		if (run_query(st, 0, &p->enumerate, st->enum_path, NULL, true,
			      deadline) <= 0)
			return -EIO;
	}
	for (size_t g = 0; g < p->nqueries; g++) {
		size_t end = g + 1;
		int got = -EIO;

		if (p->queries[g].fallback)
			continue;
		while (end < p->nqueries && p->queries[end].fallback)
			end++;
		size_t order[SMI_MAX_QUERIES], n = 0;

		/* the one that answered last time first, then the others */
		if (st->pinned[g] >= 0)
			order[n++] = (size_t)st->pinned[g];
		for (size_t qi = g; qi < end; qi++)
			if ((int)qi != st->pinned[g])
				order[n++] = qi;
		for (size_t k = 0; k < n && got <= 0; k++) {
			size_t qi = order[k];

			if (!st->path[qi][0])
				continue;
			if (p->queries[qi].per_device) {
				got = 0;
				for (size_t d = 0; d < SMI_MAX_DEVICES; d++)
					if (st->dev[d].enumerated &&
					    run_query(st, qi, &p->queries[qi],
						      st->path[qi], &st->dev[d], false,
						      deadline) > 0)
						got++;
			} else {
				got = run_query(st, qi, &p->queries[qi], st->path[qi],
						NULL, false, deadline);
			}
			if (got > 0 && st->pinned[g] != (int)qi) {
				if (end - g > 1)
					am_log(st->ctx, AM_LOG_INFO,
					       "%s: using query %zu (%s)", p->name, qi,
					       qi == g ? "first" : "fallback");
				st->pinned[g] = (int)qi;
			}
		}
		if (got <= 0)
			st->pinned[g] = -1;
		if (g == 0)
			first = got;
	}
	return first;
}

static int smi_poll(struct am_ctx *ctx, void *vst)
{
	struct smi_state *st = vst;
	int64_t now = now_ns();
	int devs;

	if (st->prof->defer_to) {
		int r = am_collector_running(st->prof->defer_to);
		/* Its init still running (the first poll of the agent, or
		 * --once): wait for its answer, bounded well inside this poll's
		 * deadline, rather than defer to a collector that may find
		 * nothing (no library here) and leave these devices unseen. */
		double wait_s = am_interval_s(ctx) / 2 < 2.0 ? am_interval_s(ctx) / 2 : 2.0;

		for (int i = 0; r == 0 && i < (int)(wait_s * 100); i++) {
			struct timespec ts = {0, 10 * 1000 * 1000};

			nanosleep(&ts, NULL);
			r = am_collector_running(st->prof->defer_to);
		}
		if (r >= 0) {
			if (!st->deferred)
				am_log(ctx, AM_LOG_INFO,
				       "off: the %s collector %s these "
				       "devices",
				       st->prof->defer_to,
				       r ? "reports" : "is starting for");
			st->deferred = true;
			return 0;
		}
		if (st->deferred)
			am_log(ctx, AM_LOG_INFO, "on: the %s collector reports nothing",
			       st->prof->defer_to);
		st->deferred = false;
	}
	if (st->backing_off && now < st->next_try_ns)
		return -EAGAIN;
	clear_poll(st);
	st->bad_values = 0;
	devs = run_all(st, now + (int64_t)(SMI_POLL_BUDGET(am_interval_s(ctx)) * NS));
	if (devs <= 0) {
		if (++st->fails >= SMI_FAILS_BEFORE_BACKOFF) {
			st->backoff_s =
			    st->backoff_s ? st->backoff_s * 2 : am_interval_s(ctx) * 2;
			if (st->backoff_s > SMI_BACKOFF_MAX_S)
				st->backoff_s = SMI_BACKOFF_MAX_S;
			st->next_try_ns = now_ns() + (int64_t)(st->backoff_s * NS);
			if (!st->backing_off)
				am_log(ctx, AM_LOG_WARN,
				       "%s failed %u times in a row; trying less often "
				       "(up to every %gs) until it works",
				       st->path[0], st->fails, SMI_BACKOFF_MAX_S);
			st->backing_off = true;
		}
		/* devices seen before are reported down, not dropped */
		for (size_t i = 0; i < SMI_MAX_DEVICES; i++)
			if (st->dev[i].known)
				emit_dev(st, &st->dev[i]);
		return -EIO;
	}
	if (st->backing_off)
		am_log(ctx, AM_LOG_INFO, "%s works again after %u failures", st->path[0],
		       st->fails);
	st->fails = 0;
	st->backoff_s = 0;
	st->backing_off = false;
	for (size_t i = 0; i < SMI_MAX_DEVICES; i++)
		if (st->dev[i].seen || st->dev[i].known)
			emit_dev(st, &st->dev[i]);
	return 0;
}

static void smi_fini(struct am_ctx *ctx, void *vst)
{
	struct smi_state *st = vst;

	smi_profile_free(st->prof);
	free(st);
}

/* Vendor tools are slow (hundreds of ms to start): 5 s by default. */
static const struct am_collector_defaults smi_defaults = {.interval_s = 5};

const struct am_collector smi_collector = {
    .abi_version = ACCELMON_COLLECTOR_ABI_VERSION,
    .size = sizeof(struct am_collector),
    .name = "smi",
    .description = "vendor command-line tools (ixsmi, hl-smi, brsmi, mthreads-gmi, "
		   "efsmi, cnmon, mx-smi, xpu-smi, npu-smi, hccn_tool) and profiles "
		   "of your own",
    .options = smi_options,
    .once_polls = 1,
    .init = smi_init,
    .poll = smi_poll,
    .fini = smi_fini,
    .check = smi_check,
    .instances = smi_instances,
    .defaults = &smi_defaults,
};
