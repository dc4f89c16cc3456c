/* netdev collector: /sys/class/net/<if>/statistics, speed, operstate and mtu
 * as fabric_netdev_* families, so the agent reports something real on any
 * Linux machine. By default only physical interfaces (those with a `device`
 * link) are read; include/exclude regexes narrow that further. Files go
 * through the SDK's file layer (opened once, back-off, rate-limited logs);
 * the core's `rescan` finds new interfaces and retires vanished ones.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "accelmon/collector.h"
#include "accelmon/util.h"

#define ND "netdev"
#define ND_MAX_IFS 256
/* Held fds: the SDK's default; files past it are opened per read. */
#define ND_FD_BUDGET 0
/* Read buffers hold a whole attribute: at most a page, which dump tools and
 * some drivers fill with NUL padding after the text. */
#define ND_TEXT_BUF (4096 + 1)
/* sysfs prints SPEED_UNKNOWN (u32 -1) as "-1" since Linux 4.6, before as
 * its unsigned value. */
#define ND_SPEED_UNKNOWN 4294967295ull

/* Statistics files, in /proc/net/dev's column order. All are the kernel's
 * 64-bit rtnl_link_stats64 fields, so they are exact 64-bit counters. */
static const struct {
	const char *file, *family, *help;
} nd_stats[] = {
	{"rx_bytes", "fabric_netdev_receive_bytes_total", "Bytes received (statistics/rx_bytes)."},
	{"rx_packets", "fabric_netdev_receive_packets_total", "Packets received (statistics/rx_packets)."},
	{"rx_errors", "fabric_netdev_receive_errors_total", "Receive errors (statistics/rx_errors)."},
	{"rx_dropped", "fabric_netdev_receive_drop_total", "Received packets dropped (statistics/rx_dropped)."},
	{"rx_fifo_errors", "fabric_netdev_receive_fifo_total", "Receive FIFO overruns (statistics/rx_fifo_errors)."},
	{"rx_frame_errors", "fabric_netdev_receive_frame_total", "Receive frame alignment errors (statistics/rx_frame_errors)."},
	{"rx_compressed", "fabric_netdev_receive_compressed_total", "Compressed packets received (statistics/rx_compressed)."},
	{"multicast", "fabric_netdev_receive_multicast_total", "Multicast packets received (statistics/multicast)."},
	{"tx_bytes", "fabric_netdev_transmit_bytes_total", "Bytes transmitted (statistics/tx_bytes)."},
	{"tx_packets", "fabric_netdev_transmit_packets_total", "Packets transmitted (statistics/tx_packets)."},
	{"tx_errors", "fabric_netdev_transmit_errors_total", "Transmit errors (statistics/tx_errors)."},
	{"tx_dropped", "fabric_netdev_transmit_drop_total", "Transmitted packets dropped (statistics/tx_dropped)."},
	{"tx_fifo_errors", "fabric_netdev_transmit_fifo_total", "Transmit FIFO errors (statistics/tx_fifo_errors)."},
	{"collisions", "fabric_netdev_transmit_colls_total", "Collisions (statistics/collisions)."},
	{"tx_carrier_errors", "fabric_netdev_transmit_carrier_total", "Carrier errors (statistics/tx_carrier_errors)."},
	{"tx_compressed", "fabric_netdev_transmit_compressed_total", "Compressed packets transmitted (statistics/tx_compressed)."},
};
#define ND_NSTATS (sizeof(nd_stats) / sizeof(nd_stats[0]))

/* Per-interface files other than statistics/, in file[] after them. */
enum { ND_OPER = ND_NSTATS, ND_SPEED, ND_MTU, ND_ADDR, ND_DUPLEX, ND_NFILES };
static const char *const nd_attr[] = {"operstate", "speed", "mtu", "address", "duplex"};

struct nd_if {
	char name[64];
	bool active;   /* an interface lives in this slot */
	bool seen;     /* present at the current rescan */
	bool speed_on; /* the speed series is exported */
	/* NULL for a file the interface does not have (older kernels lack
	 * some statistics; virtual devices have no duplex): not an error. */
	struct am_file *file[ND_NFILES];
	am_series_t stat[ND_NSTATS];
	am_series_t up, speed, mtu, info;
	/* Labels of the current info series, to notice a change. MAX_ADDR_LEN
	 * is 32 bytes: 95 characters as hex pairs. */
	char addr[128], duplex[32];
};

struct nd {
	struct am_ctx *ctx;
	char root[4096];
	DIR *dir; /* the class folder, held: a rescan rewinds it */
	int dfd;  /* its fd: every file is opened relative to it */
	struct am_files *files;
	struct am_filter *filter;
	bool physical_only;
	am_family_t f_stat[ND_NSTATS], f_up, f_speed, f_mtu, f_info;
	struct nd_if ifs[ND_MAX_IFS];
	size_t nifs; /* slots in use or used before (high-water mark) */
};

static const struct am_option nd_options[] = {
    {"include", AM_OPT_REGEX, "only interfaces whose name matches"},
    {"exclude", AM_OPT_REGEX, "skip interfaces whose name matches (default ^lo$)"},
    {"physical_only", AM_OPT_BOOL, "only interfaces with a device link (default true)"},
    {NULL, 0, NULL},
};

/* The text of a file read with am_file_read, without its newline: up to the
 * first NUL (NUL padding goes too) and trailing white space removed. */
static const char *nd_text(char *buf)
{
	size_t n = strlen(buf);

	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ' || buf[n - 1] == '\t' ||
			 buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
	return buf;
}

/* An entry of the class folder that names an interface we read: a folder
 * (real sysfs: a symlink to one), so `bonding_masters` (a regular file) and
 * a symlink loop or a dangling link are none; then physical_only and the
 * filter. The cheap checks (system calls only) come first. */
static bool nd_wanted(struct nd *nd, const struct dirent *e)
{
	char path[128];
	struct stat st;

	if (e->d_name[0] == '.' || e->d_type == DT_REG ||
	    strlen(e->d_name) >= sizeof(nd->ifs[0].name))
		return false;
	if (fstatat(nd->dfd, e->d_name, &st, 0) != 0 || !S_ISDIR(st.st_mode))
		return false;
	if (nd->physical_only) {
		snprintf(path, sizeof(path), "%s/device", e->d_name);
		if (faccessat(nd->dfd, path, F_OK, 0) != 0)
			return false;
	}
	/* (regexec allocates only for input it has not seen before: a
	 * rescan of the same names allocates nothing) */
	return am_filter_pass(nd->filter, e->d_name);
}

static struct nd_if *nd_find(struct nd *nd, const char *name)
{
	for (size_t i = 0; i < nd->nifs; i++)
		if (nd->ifs[i].active && strcmp(nd->ifs[i].name, name) == 0)
			return &nd->ifs[i];
	return NULL;
}

/* A slot for a new interface: one whose interface is gone (interfaces come
 * and go: veths, VFs), else the next unused one. */
static struct nd_if *nd_free_slot(struct nd *nd)
{
	for (size_t i = 0; i < nd->nifs; i++)
		if (!nd->ifs[i].active)
			return &nd->ifs[i];
	if (nd->nifs < ND_MAX_IFS)
		return &nd->ifs[nd->nifs++];
	return NULL;
}

static void nd_files_drop(struct nd *nd, struct nd_if *ifp)
{
	for (int k = 0; k < ND_NFILES; k++) {
		am_file_remove(nd->files, ifp->file[k]);
		ifp->file[k] = NULL;
	}
}

/* The files the interface has, added once: a file that is not there is
 * left out here, so the file layer never counts it as a failure. */
static int nd_files_add(struct nd *nd, struct nd_if *ifp)
{
	char rel[192];

	for (int k = 0; k < ND_NFILES; k++) {
		if (k < (int)ND_NSTATS)
			snprintf(rel, sizeof(rel), "%s/statistics/%s", ifp->name,
				 nd_stats[k].file);
		else
			snprintf(rel, sizeof(rel), "%s/%s", ifp->name,
				 nd_attr[k - ND_NSTATS]);
		ifp->file[k] = NULL;
		if (faccessat(nd->dfd, rel, F_OK, 0) != 0)
			continue;
		ifp->file[k] = am_file_add(nd->files, nd->dfd, rel);
		if (!ifp->file[k]) {
			nd_files_drop(nd, ifp);
			return -ENOMEM;
		}
	}
	/* speed and duplex answer EINVAL while the interface is down (no
	 * link settings): that is "unknown", not a failure. */
	am_file_expect(ifp->file[ND_SPEED], -EINVAL);
	am_file_expect(ifp->file[ND_DUPLEX], -EINVAL);
	return 0;
}

static int nd_add(struct nd *nd, const char *name)
{
	const char *lv[1] = {name};
	struct nd_if *ifp = nd_free_slot(nd);

	if (!ifp)
		return -ENOSPC;
	memset(ifp, 0, sizeof(*ifp));
	snprintf(ifp->name, sizeof(ifp->name), "%s", name);
	if (nd_files_add(nd, ifp) < 0) {
		am_log(nd->ctx, AM_LOG_ERROR, "%s: out of memory", name);
		return -ENOMEM;
	}
	for (size_t k = 0; k < ND_NSTATS; k++)
		ifp->stat[k] = ifp->file[k] ? am_series(nd->ctx, nd->f_stat[k], lv)
					    : AM_SERIES_INVALID;
	ifp->up = am_series(nd->ctx, nd->f_up, lv);
	ifp->speed = am_series(nd->ctx, nd->f_speed, lv);
	ifp->mtu = am_series(nd->ctx, nd->f_mtu, lv);
	ifp->info = AM_SERIES_INVALID;
	ifp->active = ifp->seen = true;
	return 0;
}

static void nd_retire(struct nd *nd, am_series_t s)
{
	if (s != AM_SERIES_INVALID)
		am_series_retire(nd->ctx, s);
}

/* The interface is gone: its series leave the exposition now (a counter
 * starts again from its reading if it comes back), its files are closed,
 * its slot is free. */
static void nd_gone(struct nd *nd, struct nd_if *ifp)
{
	for (size_t k = 0; k < ND_NSTATS; k++)
		nd_retire(nd, ifp->stat[k]);
	nd_retire(nd, ifp->up);
	nd_retire(nd, ifp->speed);
	nd_retire(nd, ifp->mtu);
	nd_retire(nd, ifp->info);
	am_log(nd->ctx, AM_LOG_DEBUG, "%s: interface gone, its series retired",
	       ifp->name);
	nd_files_drop(nd, ifp);
	ifp->active = false;
}

/* Two passes over the held class folder: mark the interfaces still there
 * and retire the ones that are gone, then add the new ones, so a new
 * interface can take the slot of one that is gone. Nothing is allocated,
 * opened or interned when nothing changed. */
static int nd_scan(struct nd *nd, bool rescan, size_t *found)
{
	struct dirent *e;
	size_t refused = 0, n = 0;
	char first[64] = "";

	for (size_t i = 0; i < nd->nifs; i++)
		nd->ifs[i].seen = false;
	rewinddir(nd->dir);
	errno = 0;
	while ((e = readdir(nd->dir))) {
		struct nd_if *ifp = nd_find(nd, e->d_name);

		if (ifp)
			ifp->seen = true;
	}
	if (errno) {
		int rc = -errno;

		am_log(nd->ctx, AM_LOG_ERROR, "cannot read %s: %s", nd->root,
		       strerror(-rc));
		return rc;
	}
	for (size_t i = 0; i < nd->nifs; i++)
		if (nd->ifs[i].active && !nd->ifs[i].seen)
			nd_gone(nd, &nd->ifs[i]);
	rewinddir(nd->dir);
	while ((e = readdir(nd->dir))) {
		int rc;

		if (nd_find(nd, e->d_name) || !nd_wanted(nd, e))
			continue;
		rc = nd_add(nd, e->d_name);
		if (rc == -ENOSPC && !refused++)
			snprintf(first, sizeof(first), "%s", e->d_name);
		else if (rc == 0 && rescan)
			am_log(nd->ctx, AM_LOG_DEBUG, "%s: new interface", e->d_name);
	}
	if (refused)
		am_log(nd->ctx, AM_LOG_WARN,
		       "more than %d interfaces under %s: %zu not read (%s and others)",
		       ND_MAX_IFS, nd->root, refused, first);
	for (size_t i = 0; i < nd->nifs; i++)
		n += nd->ifs[i].active;
	if (found)
		*found = n;
	return 0;
}

static void nd_fini(struct am_ctx *ctx, void *state);

static am_family_t nd_family(struct am_ctx *ctx, const char *name, const char *help,
			     enum am_kind kind, const char *unit)
{
	struct am_family_def d = {
	    .name = name, .help = help, .kind = kind, .unit = unit, .labels = {"device"}};

	return am_family(ctx, &d);
}

static int nd_init(struct am_ctx *ctx, const struct am_config *cfg, void **state)
{
	struct nd *nd = calloc(1, sizeof(*nd));
	size_t found = 0;
	int rc;

	if (!nd)
		return -ENOMEM;
	nd->ctx = ctx;
	nd->dfd = -1;
	snprintf(nd->root, sizeof(nd->root), "%s/class/net", am_sysfs(ctx));
	nd->physical_only = am_cfg_bool(cfg, "physical_only", true);
	rc = am_filter_new(ctx, cfg, "include", NULL, "exclude", "^lo$", &nd->filter);
	if (rc == 0 && !(nd->files = am_files_new(ctx, ND_FD_BUDGET)))
		rc = -ENOMEM;
	if (rc < 0) {
		nd_fini(ctx, nd);
		return rc;
	}
	nd->dir = opendir(nd->root);
	if (!nd->dir) {
		rc = -errno;
		/* No class folder: a machine (or container) without network
		 * devices in sysfs. Anything else there is broken: a loop, a
		 * plain file, no permission. */
		if (rc == -ENOENT)
			am_found(ctx, "no %s", nd->root);
		else
			am_found(ctx, "cannot read %s",
				 nd->root); /* the agent adds why */
		nd_fini(ctx, nd);
		return rc == -ENOENT ? -ENODEV : rc;
	}
	nd->dfd = dirfd(nd->dir);
	for (size_t k = 0; k < ND_NSTATS; k++) {
		struct am_family_def d = {.name = nd_stats[k].family,
					  .help = nd_stats[k].help,
					  .kind = AM_COUNTER,
					  .labels = {"device"},
					  .bits = 64};

		if (strstr(d.name, "_bytes_"))
			d.unit = "bytes";
		nd->f_stat[k] = am_family(ctx, &d);
	}
	nd->f_up = nd_family(ctx, "fabric_netdev_up",
			     "1 when the interface's operstate is up.", AM_GAUGE, NULL);
	nd->f_speed =
	    nd_family(ctx, "fabric_netdev_speed_bytes",
		      "Link speed in bytes per second (sysfs speed is Mb/s; absent "
		      "while the link is down or its speed is unknown).",
		      AM_GAUGE, "bytes");
	nd->f_mtu =
	    nd_family(ctx, "fabric_netdev_mtu_bytes", "MTU in bytes.", AM_GAUGE, "bytes");
	nd->f_info = am_family(ctx, &(struct am_family_def){
		.name = "fabric_netdev_info",
		.help = "Interface identity: hardware address and duplex (operstate is "
			"fabric_netdev_up, so a link going down does not change the series).",
		.kind = AM_INFO,
		.labels = {"device", "address", "duplex"}});
	rc = nd_scan(nd, false, &found);
	if (rc < 0) {
		am_found(ctx, "cannot read %s", nd->root);
		nd_fini(ctx, nd);
		return rc;
	}
	if (!found) {
		am_found(ctx, "no %sinterfaces under %s%s",
			 nd->physical_only ? "physical " : "", nd->root,
			 nd->physical_only ? " (none has a device link; physical_only: false reads virtual ones)" : "");
		nd_fini(ctx, nd);
		return -ENODEV;
	}
	am_found(ctx, "%zu interface%s under %s", found, found == 1 ? "" : "s", nd->root);
	*state = nd;
	return 0;
}

static int nd_rescan(struct am_ctx *ctx, void *state)
{
	(void)ctx;
	return nd_scan(state, true, NULL);
}

/* speed: Mb/s, "-1" (or its u32 value) when the link is up but its speed
 * unknown (virtio, some VFs), EINVAL while down: both leave it absent. */
static void nd_poll_speed(struct nd *nd, struct nd_if *ifp)
{
	char buf[ND_TEXT_BUF], why[80];
	const char *t;
	uint64_t v = 0;
	int rc = -ENOENT;

	if (am_file_read(ifp->file[ND_SPEED], buf, sizeof(buf)) >= 0) {
		t = nd_text(buf);
		rc = strcmp(t, "-1") == 0 ? -ENOENT : am_parse_u64(t, (size_t)-1, &v);
		if (rc == 0 && v == ND_SPEED_UNKNOWN)
			rc = -ENOENT;
		if (rc < 0 && rc != -ENOENT) {
			snprintf(why, sizeof(why), "not a speed in Mb/s: \"%.32s\"", t);
			am_file_fail(ifp->file[ND_SPEED], rc, why);
		}
	}
	if (rc == 0) {
		am_emit(nd->ctx, ifp->speed, (double)v * 125000.0);
		ifp->speed_on = true;
	} else if (ifp->speed_on) {
		/* a gauge keeps its last value: take it out instead */
		am_series_retire(nd->ctx, ifp->speed);
		ifp->speed_on = false;
	}
}

/* Text of one attribute into out (its size), kept when unreadable: an
 * address or duplex that cannot be read now does not change the series. */
static void nd_poll_label(struct am_file *f, char *out, size_t cap)
{
	char buf[ND_TEXT_BUF];

	if (am_file_read(f, buf, sizeof(buf)) >= 0)
		snprintf(out, cap, "%s", nd_text(buf));
}

static void nd_poll_if(struct nd *nd, struct nd_if *ifp)
{
	char buf[ND_TEXT_BUF], addr[sizeof(ifp->addr)], duplex[sizeof(ifp->duplex)];
	uint64_t v;

	for (size_t k = 0; k < ND_NSTATS; k++)
		if (ifp->file[k] && am_file_read_u64(ifp->file[k], &v) == 0)
			am_emit_u64(nd->ctx, ifp->stat[k], v);
	/* operstate unreadable or absent reads as not up */
	am_emit(nd->ctx, ifp->up,
		am_file_read(ifp->file[ND_OPER], buf, sizeof(buf)) >= 0 &&
		    strcmp(nd_text(buf), "up") == 0);
	nd_poll_speed(nd, ifp);
	if (am_file_read_u64(ifp->file[ND_MTU], &v) == 0)
		am_emit(nd->ctx, ifp->mtu, (double)v);
	memcpy(addr, ifp->addr, sizeof(addr));
	memcpy(duplex, ifp->duplex, sizeof(duplex));
	nd_poll_label(ifp->file[ND_ADDR], addr, sizeof(addr));
	nd_poll_label(ifp->file[ND_DUPLEX], duplex, sizeof(duplex));
	if (ifp->info == AM_SERIES_INVALID || strcmp(addr, ifp->addr) != 0 ||
	    strcmp(duplex, ifp->duplex) != 0) {
		const char *lv[3] = {ifp->name, addr, duplex};

		/* one info series per interface: the old labels go */
		nd_retire(nd, ifp->info);
		ifp->info = am_series(nd->ctx, nd->f_info, lv);
		memcpy(ifp->addr, addr, sizeof(addr));
		memcpy(ifp->duplex, duplex, sizeof(duplex));
	}
	am_emit(nd->ctx, ifp->info, 1);
}

static int nd_poll(struct am_ctx *ctx, void *state)
{
	struct nd *nd = state;

	(void)ctx;
	for (size_t i = 0; i < nd->nifs; i++) {
		struct nd_if *ifp = &nd->ifs[i];

		if (!ifp->active)
			continue;
		/* Gone since the last rescan (a veth deleted, a VF removed):
		 * retire it now rather than fail each of its files until the
		 * next rescan. One lookup per interface. */
		if (faccessat(nd->dfd, ifp->name, F_OK, 0) != 0 && errno == ENOENT) {
			nd_gone(nd, ifp);
			continue;
		}
		nd_poll_if(nd, ifp);
	}
	return 0;
}

static void nd_fini(struct am_ctx *ctx, void *state)
{
	struct nd *nd = state;

	(void)ctx;
	if (!nd)
		return;
	am_files_free(nd->files); /* before the folder their dirfd belongs to */
	if (nd->dir)
		closedir(nd->dir);
	am_filter_free(nd->filter);
	free(nd);
}

const struct am_collector netdev_collector = {
    .abi_version = ACCELMON_COLLECTOR_ABI_VERSION,
    .size = sizeof(struct am_collector),
    .name = ND,
    .description = "Linux network interfaces from /sys/class/net",
    .options = nd_options,
    .once_polls = 1,
    .init = nd_init,
    .poll = nd_poll,
    .rescan = nd_rescan,
    .fini = nd_fini,
};
