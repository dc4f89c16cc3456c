/* Generic DRM collector ("drm"): the cards of drivers that report
 * per-client engine time in DRM fdinfo (i915, xe; amdgpu when the amdgpu
 * collector does not run) get accel_info, accel_up, a busy figure made of
 * their clients' engine time and per-job attribution through the collector
 * SDK (collectors/drm.md, collectors/attribution.md). Reads sysfs and
 * /proc only; no vendor library.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "accelmon/attrib.h"
#include "accelmon/collector.h"
#include "accelmon/schema.h"
#include "accelmon/util.h"

enum { F_INFO, F_UP, F_UTIL, F_BUSY, F_COUNT };

struct drm_card {
	int card;	 /* N of /sys/class/drm/cardN */
	char driver[16]; /* the bound driver's name */
	char name[32];	 /* "i915-card0": the device label */
	char devnum[16]; /* "226:0", from cardN/dev */
	struct am_pci_id pci;
	bool up;     /* present with the same driver at the latest look */
	bool att_on; /* has job series */
	am_series_t s[F_COUNT];
	struct am_drm_prev prev;
};

struct drm_state {
	struct am_ctx *ctx;
	am_family_t fam[F_COUNT];
	struct drm_card *cards;
	size_t ncards, cap;
	struct am_attrib *att; /* NULL: attribution off */
	struct am_drm_skip_set skip;
	struct am_drm_client *cl;
	size_t ncl, clcap;
	struct am_attrib_proc *procs;
	size_t nprocs_cap;
	int64_t prev_ns;
	bool have_prev;
	bool amdgpu_claims;   /* the amdgpu collector runs: its cards are its */
	bool amdgpu_starting; /* its init still running at this scan */
};

static const struct am_option drm_options[] = {
    {"attribution", AM_OPT_BOOL,
     "accel_job_* per Slurm job, pod, container, unit or user from DRM fdinfo, and "
     "the cards' busy figure, which is made of the same reads (default true; "
     "collectors/drm.md)"},
    {"max_jobs", AM_OPT_INT, "jobs per card with series of their own (default 16)", 1,
     62},
    {NULL, 0, NULL},
};

/* KEY=value of cardN's device/uevent into out ("" when absent). */
static void drm_uevent(const char *sysfs, int card, const char *key, char *out, size_t cap)
{
	char path[PATH_MAX], text[1024];
	size_t kl = strlen(key);

	out[0] = '\0';
	snprintf(path, sizeof(path), "%s/class/drm/card%d/device/uevent", sysfs, card);
	if (am_read_text_at(AT_FDCWD, path, text, sizeof(text)) <= 0)
		return;
	for (char *l = strtok(text, "\n"); l; l = strtok(NULL, "\n"))
		if (strncmp(l, key, kl) == 0 && l[kl] == '=') {
			if (strlen(l + kl + 1) < cap)
				memcpy(out, l + kl + 1, strlen(l + kl + 1) + 1);
			return;
		}
}

/* The driver of cardN ("" when none is bound): the device/driver link's
 * target name, else uevent's DRIVER= (as amdgpu reads it: a fixture tree
 * copied without symlinks, as `make dist`'s tar -h does, has only that). */
static void drm_driver_of(const char *sysfs, int card, char *out, size_t cap)
{
	char path[PATH_MAX], link[PATH_MAX];
	ssize_t n;
	const char *base;

	out[0] = '\0';
	snprintf(path, sizeof(path), "%s/class/drm/card%d/device/driver", sysfs, card);
	n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0) {
		drm_uevent(sysfs, card, "DRIVER", out, cap);
		return;
	}
	link[n] = '\0';
	base = strrchr(link, '/');
	base = base ? base + 1 : link;
	if (strlen(base) < cap) /* a longer name is no driver of ours */
		memcpy(out, base, strlen(base) + 1);
}

/* cardN's PCI identity; where its device link is a copied directory (a
 * fixture from the dist tarball), uevent's PCI_SLOT_NAME and PCI_ID, as
 * the amdgpu collector reads them. 0, or -1 when it is no PCI device. */
static int drm_pci_of(const char *sysfs, int card, const char *devdir, struct am_pci_id *pci)
{
	char buf[32];
	unsigned v, d;

	if (am_pci_identity(devdir, pci) == 0 && pci->bus_id[0])
		return 0;
	memset(pci, 0, sizeof(*pci));
	pci->numa_node = -1;
	drm_uevent(sysfs, card, "PCI_SLOT_NAME", pci->bus_id, sizeof(pci->bus_id));
	if (!pci->bus_id[0])
		return -1;
	drm_uevent(sysfs, card, "PCI_ID", buf, sizeof(buf));
	if (sscanf(buf, "%x:%x", &v, &d) == 2) {
		pci->vendor = v;
		pci->device = d;
	}
	return 0;
}

/* Whether the amdgpu collector has its cards, once per scan: running
 * (its init found cards), from then on for good (with --once it stops
 * after its polls, and its cards are still its own); while its init is
 * still running, its answer is waited for, bounded well inside this
 * poll's deadline (as smi's defer_to waits), and if none comes the cards
 * are left out of this scan only: an init that then fails (no library,
 * nothing found) leaves them to us. */
static void drm_amdgpu_check(struct drm_state *st)
{
	double iv = am_interval_s(st->ctx);
	double wait_s = iv / 2 < 2.0 ? iv / 2 : 2.0;
	int r;

	if (st->amdgpu_claims)
		return;
	r = am_collector_running("amdgpu");
	for (int i = 0; r == 0 && i < (int)(wait_s * 100); i++) {
		struct timespec ts = {0, 10 * 1000 * 1000};

		nanosleep(&ts, NULL);
		r = am_collector_running("amdgpu");
	}
	st->amdgpu_claims = r > 0;
	st->amdgpu_starting = r == 0;
}

/* Whether cards of this driver are ours: i915 and xe always; amdgpu while
 * the amdgpu collector neither runs nor is starting (drm_amdgpu_check);
 * nothing else (nvidia-drm has no engine time in fdinfo, display-only
 * drivers are no accelerators). */
static bool drm_wanted(struct drm_state *st, const char *driver)
{
	if (strcmp(driver, "i915") == 0 || strcmp(driver, "xe") == 0)
		return true;
	if (strcmp(driver, "amdgpu") != 0)
		return false;
	return !st->amdgpu_claims && !st->amdgpu_starting;
}

static struct drm_card *drm_find(struct drm_state *st, int card)
{
	for (size_t i = 0; i < st->ncards; i++)
		if (st->cards[i].card == card)
			return &st->cards[i];
	return NULL;
}

/* The card is no longer ours: all its series go. */
static void drm_retire(struct drm_state *st, struct drm_card *c)
{
	for (int f = 0; f < F_COUNT; f++)
		if (c->s[f] != AM_SERIES_INVALID) {
			am_series_retire(st->ctx, c->s[f]);
			c->s[f] = AM_SERIES_INVALID;
		}
	if (c->att_on)
		am_attrib_forget(st->att, c->name);
	c->att_on = false;
	am_drm_prev_free(&c->prev);
}

/* Look at /sys/class/drm: new cards of wanted drivers are added, known
 * ones are marked up or down (gone, or another driver bound now), cards
 * of a driver no longer wanted (the amdgpu collector runs now) are
 * dropped. Returns the count of cards up, or -ENOMEM. */
static int drm_scan_cards(struct drm_state *st)
{
	const char *sysfs = am_sysfs(st->ctx);
	char dir[PATH_MAX];
	int up = 0;

	drm_amdgpu_check(st);
	for (size_t i = 0; i < st->ncards; i++)
		st->cards[i].up = false;
	DIR *dh;
	struct dirent *de;

	snprintf(dir, sizeof(dir), "%s/class/drm", sysfs);
	dh = opendir(dir);
	while (dh && (de = readdir(dh)) != NULL) {
		char driver[16], path[PATH_MAX + 16], *end;
		struct drm_card *c;
		struct am_pci_id pci;
		long card;

		/* cardN only: not renderD128, card0-DP-1 (a connector) */
		if (strncmp(de->d_name, "card", 4) != 0 ||
		    !isdigit((unsigned char)de->d_name[4]))
			continue;
		card = strtol(de->d_name + 4, &end, 10);
		if (*end || card > INT_MAX)
			continue;
		snprintf(dir, sizeof(dir), "%s/class/drm/card%ld", sysfs, card);
		drm_driver_of(sysfs, (int)card, driver, sizeof(driver));
		c = drm_find(st, (int)card);
		if (c && strcmp(c->driver, driver) == 0) {
			c->up = drm_wanted(st, driver);
			up += c->up;
			continue;
		}
		if (c || !drm_wanted(st, driver))
			continue; /* another driver now: down, kept as it was */
		snprintf(path, sizeof(path), "%s/device", dir);
		if (drm_pci_of(sysfs, (int)card, path, &pci) != 0)
			continue; /* not a PCI device: no drm-pdev to match */
		if (st->ncards == st->cap) {
			size_t nc = st->cap ? st->cap * 2 : 4;
			struct drm_card *nv = realloc(st->cards, nc * sizeof(*nv));

			if (!nv) {
				closedir(dh);
				return -ENOMEM;
			}
			st->cards = nv;
			st->cap = nc;
		}
		c = &st->cards[st->ncards++];
		memset(c, 0, sizeof(*c));
		c->card = (int)card;
		snprintf(c->driver, sizeof(c->driver), "%s", driver);
		snprintf(c->name, sizeof(c->name), "%s-card%ld", driver, card);
		c->pci = pci;
		am_pci_norm_bus_id(pci.bus_id, c->pci.bus_id, sizeof(c->pci.bus_id));
		snprintf(path, sizeof(path), "%s/dev", dir);
		if (am_read_text_at(AT_FDCWD, path, c->devnum, sizeof(c->devnum)) <= 0)
			c->devnum[0] = '\0';
		for (int f = 0; f < F_COUNT; f++)
			c->s[f] = AM_SERIES_INVALID;
		c->up = true;
		up++;
	}
	if (dh)
		closedir(dh);
	for (size_t i = 0; i < st->ncards; i++) {
		struct drm_card *c = &st->cards[i];

		if (!c->up && c->att_on) {
			am_attrib_forget(st->att, c->name);
			c->att_on = false;
		}
		if (!drm_wanted(st, c->driver)) { /* claimed by its own collector */
			drm_retire(st, c);
			st->cards[i--] = st->cards[--st->ncards];
		}
	}
	return up;
}

static am_series_t drm_series(struct drm_state *st, struct drm_card *c, int f)
{
	char numa[16], model[32];
	const char *vendor;
	char vbuf[16];

	if (c->s[f] != AM_SERIES_INVALID || st->fam[f] < 0)
		return c->s[f];
	if (f != F_INFO) {
		const char *lv[2] = {c->name, ""};

		c->s[f] = am_series(st->ctx, st->fam[f], lv);
		return c->s[f];
	}
	/* the amdgpu collector's convention: vendor "AMD" (any other known
	 * vendor capitalised the same way), model "<vendor> vvvv:dddd" from
	 * the PCI ids where no name is known (sysfs gives i915/xe none) */
	vendor = c->pci.vendor == 0x8086   ? "Intel"
		 : c->pci.vendor == 0x1002 ? "AMD"
		 : c->pci.vendor == 0x1d94 ? "Hygon"
					   : NULL;
	if (!vendor) {
		snprintf(vbuf, sizeof(vbuf), "0x%04x", (unsigned)c->pci.vendor);
		vendor = vbuf;
	}
	snprintf(model, sizeof(model), "%s %04x:%04x", vendor, (unsigned)c->pci.vendor,
		 (unsigned)c->pci.device);
	if (c->pci.numa_node >= 0)
		snprintf(numa, sizeof(numa), "%d", c->pci.numa_node);
	else
		numa[0] = '\0';
	{
		const char *lv[9] = {c->name,	    "",	  vendor, model, "",
				     c->pci.bus_id, numa, "",	  ""};

		c->s[f] = am_series(st->ctx, st->fam[f], lv);
	}
	return c->s[f];
}

static void drm_emit(struct drm_state *st, struct drm_card *c, int f, double v)
{
	am_series_t s = drm_series(st, c, f);

	if (s != AM_SERIES_INVALID)
		am_emit(st->ctx, s, v);
}

/* One card's clients: the busy ratio of the interval (the clients' engine
 * time summed over engines and clients, over the interval, at most 1) and
 * the split. */
static void drm_poll_card(struct drm_state *st, struct drm_card *c, int64_t dt)
{
	struct am_attrib_dev dev = {.device = c->name,
				    .uuid = "",
				    .busy_ratio = NAN,
				    .energy_j = NAN,
				    .power_w = NAN,
				    .devnum = c->devnum};
	bool ns = false;
	double sum = 0;
	ssize_t n;

	if (!am_attrib_enabled(st->att))
		return;
	n = am_drm_procs(st->cl, st->ncl, c->pci.bus_id, &c->prev, st->procs,
			 st->nprocs_cap);
	if (n < 0)
		return;
	for (size_t i = 0; i < st->ncl; i++)
		if (strcmp(st->cl[i].pdev, c->pci.bus_id) == 0 && st->cl[i].have_engine)
			ns = true;
	for (ssize_t i = 0; i < n; i++)
		if (isfinite(st->procs[i].weight))
			sum += st->procs[i].weight;
	/* i915: ns of engine time in dt; xe: each client's share of the GPU
	 * clock, as ns of one second (am_drm_procs) */
	if (dt > 0) {
		dev.busy_ratio = ns ? sum / (double)dt : sum / 1e9;
		if (dev.busy_ratio > 1)
			dev.busy_ratio = 1;
		drm_emit(st, c, F_UTIL, dev.busy_ratio);
		drm_emit(st, c, F_BUSY, dev.busy_ratio);
	}
	if (am_attrib_update(st->att, &dev, st->procs, (size_t)n) == 0)
		c->att_on = true;
}

static int drm_poll(struct am_ctx *ctx, void *state)
{
	struct drm_state *st = state;
	int64_t now = am_poll_time_ns(ctx), dt;
	int rc;

	st->ctx = ctx;
	rc = drm_scan_cards(st);
	if (rc < 0)
		return rc;
	dt = st->have_prev ? now - st->prev_ns : 0;
	st->prev_ns = now;
	st->have_prev = true;
	if (am_attrib_enabled(st->att)) {
		rc = am_drm_scan(am_procfs(ctx), &st->skip, now, &st->cl, &st->ncl,
				 &st->clcap);
		if (rc == -EACCES) {
			char what[PATH_MAX];

			snprintf(what, sizeof(what), "%s/<pid>/fdinfo", am_procfs(ctx));
			am_attrib_refused_device(st->att, what, rc);
		}
		if (st->nprocs_cap < st->ncl) {
			struct am_attrib_proc *np =
			    realloc(st->procs, st->ncl * sizeof(*np));

			if (!np)
				return -ENOMEM;
			st->procs = np;
			st->nprocs_cap = st->ncl;
		}
	}
	for (size_t i = 0; i < st->ncards; i++) {
		struct drm_card *c = &st->cards[i];

		drm_emit(st, c, F_INFO, 1);
		drm_emit(st, c, F_UP, c->up ? 1 : 0);
		if (c->up)
			drm_poll_card(st, c, dt);
	}
	return 0;
}

static int drm_rescan(struct am_ctx *ctx, void *state)
{
	struct drm_state *st = state;
	int rc;

	st->ctx = ctx;
	rc = drm_scan_cards(st);
	return rc < 0 ? rc : 0;
}

static void drm_fini(struct am_ctx *ctx, void *state)
{
	struct drm_state *st = state;

	(void)ctx;
	if (!st)
		return;
	for (size_t i = 0; i < st->ncards; i++)
		am_drm_prev_free(&st->cards[i].prev);
	am_attrib_free(st->att);
	am_drm_skip_free(&st->skip);
	free(st->cards);
	free(st->cl);
	free(st->procs);
	free(st);
}

static int drm_init(struct am_ctx *ctx, const struct am_config *cfg, void **state)
{
	static const enum am_std which[F_COUNT] = {
	    AM_STD_ACCEL_INFO, AM_STD_ACCEL_UP, AM_STD_UTILIZATION, AM_STD_BUSY_SECONDS};
	struct drm_state *st = calloc(1, sizeof(*st));
	int up;

	if (!st)
		return -ENOMEM;
	st->ctx = ctx;
	st->skip.skip_ns = 30 * 1000000000LL;
	up = drm_scan_cards(st);
	if (up <= 0) {
		if (up == 0)
			am_found(
			    ctx,
			    "no i915, xe or unclaimed amdgpu card under %s/class/drm",
			    am_sysfs(ctx));
		drm_fini(ctx, st);
		return up < 0 ? up : -ENODEV;
	}
	for (int f = 0; f < F_COUNT; f++) {
		st->fam[f] = am_std_family(ctx, which[f], NULL);
		if (st->fam[f] < 0)
			am_log(ctx, AM_LOG_WARN, "family %s not registered (%s); omitted",
			       am_std_def(which[f])->name, strerror(-st->fam[f]));
	}
	if (am_cfg_bool(cfg, "attribution", true))
		st->att = am_attrib_new(ctx, (unsigned)am_cfg_int(cfg, "max_jobs", 16));
	am_found(ctx, "%d DRM card(s) (%s%s), attribution %s", up, st->cards[0].name,
		 st->ncards > 1 ? ", ..." : "", st->att ? "on" : "off");
	*state = st;
	return 0;
}

const struct am_collector drm_collector = {
    .abi_version = ACCELMON_COLLECTOR_ABI_VERSION,
    .size = sizeof(struct am_collector),
    .flags = AM_COLLECTOR_NEEDS_CONFIG,
    .name = "drm",
    .description = "i915, xe (and amdgpu without its collector) cards: engine time "
		   "and jobs from DRM fdinfo",
    .options = drm_options,
    .once_polls = 2,
    .init = drm_init,
    .poll = drm_poll,
    .rescan = drm_rescan,
    .fini = drm_fini,
};
