/* netdev collector: /sys/class/net/<if>/statistics, speed, operstate and mtu
 * as fabric_netdev_* families, so the agent reports something real on any
 * Linux machine. By default only physical interfaces (those with a `device`
 * link) are read; include/exclude regexes narrow that further.
 */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "accelmon/collector.h"

#define ND "netdev"
#define ND_MAX_IFS 256

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

/* Per-interface files other than statistics/, in path[] after them. */
enum { ND_OPER = ND_NSTATS, ND_SPEED, ND_MTU, ND_ADDR, ND_DUPLEX, ND_NPATHS };
static const char *const nd_attr[] = {"operstate", "speed", "mtu", "address", "duplex"};

struct nd_if {
	char name[64];
	int seen; /* present at the last scan; if not, its slot may be reused */
	am_series_t stat[ND_NSTATS];
	am_series_t up, speed, mtu, info;
	/* Built once at discovery: a poll formats no strings. */
	char *path[ND_NPATHS];
	/* Labels of the current info series, to notice a change. */
	char addr[64], duplex[32];
};

struct nd {
	struct am_ctx *ctx;
	char root[4096];
	regex_t include, exclude;
	int has_include, has_exclude, physical_only;
	double rescan_s;
	int64_t last_scan;
	am_family_t f_stat[ND_NSTATS], f_up, f_speed, f_mtu, f_info;
	struct nd_if ifs[ND_MAX_IFS];
	size_t nifs;
};

static const struct am_option nd_options[] = {
	{"include", AM_OPT_REGEX, "only interfaces whose name matches"},
	{"exclude", AM_OPT_REGEX, "skip interfaces whose name matches (default ^lo$)"},
	{"physical_only", AM_OPT_BOOL, "only interfaces with a device link (default true)"},
	{"rescan", AM_OPT_DURATION, "how often to look for new interfaces (default 30s)"},
	{NULL, 0, NULL},
};

/* Read a small sysfs file into buf, trailing newline removed. */
static int nd_read(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, cap - 1);
	if (n < 0) {
		int e = -errno;

		close(fd);
		return e;
	}
	close(fd);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		n--;
	buf[n] = '\0';
	return (int)n;
}

static int nd_parse_u64(const char *s, uint64_t *out)
{
	char *end;

	if (!*s || *s == '-' || strlen(s) > 20)
		return -EINVAL;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno || *end ? -EINVAL : 0;
}

static int nd_wanted(struct nd *nd, const char *name)
{
	char path[4352];

	if (name[0] == '.')
		return 0;
	if (nd->has_include && regexec(&nd->include, name, 0, NULL, 0) != 0)
		return 0;
	if (nd->has_exclude && regexec(&nd->exclude, name, 0, NULL, 0) == 0)
		return 0;
	if (nd->physical_only) {
		snprintf(path, sizeof(path), "%s/%s/device", nd->root, name);
		if (access(path, F_OK) != 0)
			return 0;
	}
	return 1;
}

static int nd_paths(struct nd *nd, struct nd_if *ifp)
{
	for (int k = 0; k < ND_NPATHS; k++) {
		int n = k < (int)ND_NSTATS
				? asprintf(&ifp->path[k], "%s/%s/statistics/%s", nd->root,
					   ifp->name, nd_stats[k].file)
				: asprintf(&ifp->path[k], "%s/%s/%s", nd->root, ifp->name,
					   nd_attr[k - ND_NSTATS]);
		if (n < 0) {
			ifp->path[k] = NULL;
			return -ENOMEM;
		}
	}
	return 0;
}

static void nd_if_clear(struct nd_if *ifp)
{
	for (int k = 0; k < ND_NPATHS; k++)
		free(ifp->path[k]);
	memset(ifp, 0, sizeof(*ifp));
}

/* A slot for a new interface: the next unused one, else one whose interface
 * is gone (interfaces come and go: veths, VFs). Called after the scan has
 * marked every interface still present. */
static struct nd_if *nd_free_slot(struct nd *nd)
{
	if (nd->nifs < ND_MAX_IFS)
		return &nd->ifs[nd->nifs];
	for (size_t i = 0; i < nd->nifs; i++)
		if (!nd->ifs[i].seen) {
			nd_if_clear(&nd->ifs[i]);
			return &nd->ifs[i];
		}
	return NULL;
}

static struct nd_if *nd_find(struct nd *nd, const char *name)
{
	for (size_t i = 0; i < nd->nifs; i++)
		if (strcmp(nd->ifs[i].name, name) == 0)
			return &nd->ifs[i];
	return NULL;
}

static void nd_add(struct nd *nd, const char *name)
{
	const char *lv[1] = {name};
	struct nd_if *ifp = nd_free_slot(nd);

	if (!ifp) {
		am_log(nd->ctx, AM_LOG_WARN, "more than %d interfaces; ignoring %s",
		       ND_MAX_IFS, name);
		return;
	}
	memset(ifp, 0, sizeof(*ifp));
	snprintf(ifp->name, sizeof(ifp->name), "%s", name);
	if (nd_paths(nd, ifp) < 0) {
		am_log(nd->ctx, AM_LOG_ERROR, "out of memory");
		nd_if_clear(ifp);
		return;
	}
	if (ifp == &nd->ifs[nd->nifs])
		nd->nifs++;
	for (size_t k = 0; k < ND_NSTATS; k++)
		ifp->stat[k] = am_series(nd->ctx, nd->f_stat[k], lv);
	ifp->up = am_series(nd->ctx, nd->f_up, lv);
	ifp->speed = am_series(nd->ctx, nd->f_speed, lv);
	ifp->mtu = am_series(nd->ctx, nd->f_mtu, lv);
	ifp->info = AM_SERIES_INVALID;
	ifp->seen = 1;
}

/* Two passes: mark the interfaces still there, then add the new ones, so a
 * new interface can take the slot of one that is gone. */
static void nd_scan(struct nd *nd)
{
	DIR *d = opendir(nd->root);
	struct dirent *e;
	char (*fresh)[64] = NULL;
	size_t nfresh = 0, cap = 0;

	for (size_t i = 0; i < nd->nifs; i++)
		nd->ifs[i].seen = 0;
	if (!d) {
		am_log(nd->ctx, AM_LOG_WARN, "cannot open %s: %s", nd->root,
		       strerror(errno));
		am_read_error(nd->ctx);
		return;
	}
	while ((e = readdir(d))) {
		struct nd_if *ifp;

		if (strlen(e->d_name) >= sizeof(ifp->name) || !nd_wanted(nd, e->d_name))
			continue;
		ifp = nd_find(nd, e->d_name);
		if (ifp) {
			ifp->seen = 1;
			continue;
		}
		if (nfresh == cap) {
			void *n = realloc(fresh, (cap ? cap * 2 : 16) * sizeof(*fresh));

			if (!n)
				break;
			fresh = n;
			cap = cap ? cap * 2 : 16;
		}
		snprintf(fresh[nfresh++], sizeof(fresh[0]), "%s", e->d_name);
	}
	closedir(d);
	for (size_t i = 0; i < nfresh; i++)
		nd_add(nd, fresh[i]);
	free(fresh);
}

static void nd_fini(struct am_ctx *ctx, void *state);

static int nd_init(struct am_ctx *ctx, const struct am_config *cfg, void **state)
{
	struct nd *nd = calloc(1, sizeof(*nd));
	const char *inc = am_cfg_string(cfg, "include", NULL);
	const char *exc = am_cfg_string(cfg, "exclude", "^lo$");
	size_t found = 0;

	if (!nd)
		return -ENOMEM;
	nd->ctx = ctx;
	snprintf(nd->root, sizeof(nd->root), "%s/class/net", am_sysfs(ctx));
	nd->physical_only = am_cfg_bool(cfg, "physical_only", true);
	nd->rescan_s = am_cfg_duration(cfg, "rescan", 30);
	/* The config layer already compiled these once to validate them. */
	if (inc && *inc)
		nd->has_include = regcomp(&nd->include, inc, REG_EXTENDED | REG_NOSUB) == 0;
	if (exc && *exc)
		nd->has_exclude = regcomp(&nd->exclude, exc, REG_EXTENDED | REG_NOSUB) == 0;
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
	nd->f_up = am_family(ctx, &(struct am_family_def){
		.name = "fabric_netdev_up",
		.help = "1 when the interface's operstate is up.",
		.kind = AM_GAUGE, .labels = {"device"}});
	nd->f_speed = am_family(ctx, &(struct am_family_def){
		.name = "fabric_netdev_speed_bytes",
		.help = "Link speed in bytes per second (sysfs speed is Mb/s; absent while the link is down).",
		.kind = AM_GAUGE, .unit = "bytes", .labels = {"device"}});
	nd->f_mtu = am_family(ctx, &(struct am_family_def){
		.name = "fabric_netdev_mtu_bytes",
		.help = "MTU in bytes.",
		.kind = AM_GAUGE, .unit = "bytes", .labels = {"device"}});
	nd->f_info = am_family(ctx, &(struct am_family_def){
		.name = "fabric_netdev_info",
		.help = "Interface identity: hardware address and duplex (operstate is "
			"fabric_netdev_up, so a link going down does not change the series).",
		.kind = AM_INFO,
		.labels = {"device", "address", "duplex"}});
	nd_scan(nd);
	nd->last_scan = am_poll_time_ns(ctx);
	for (size_t i = 0; i < nd->nifs; i++)
		found += nd->ifs[i].seen;
	if (!found) {
		am_found(ctx, "no %sinterfaces under %s%s",
			 nd->physical_only ? "physical " : "", nd->root,
			 nd->physical_only ? " (none has a device link; physical_only: false reads virtual ones)" : "");
		nd_fini(ctx, nd);
		return -ENODEV;
	}
	am_found(ctx, "%zu interface%s under %s", found, found == 1 ? "" : "s",
		 nd->root);
	*state = nd;
	return 0;
}

static void nd_poll_if(struct nd *nd, struct nd_if *ifp)
{
	char val[128], addr[64], oper[32], duplex[32];
	uint64_t v;
	int n;

	for (size_t k = 0; k < ND_NSTATS; k++) {
		n = nd_read(ifp->path[k], val, sizeof(val));
		if (n == -ENOENT)
			continue; /* older kernels lack some files */
		if (n < 0 || nd_parse_u64(val, &v) < 0) {
			am_log(nd->ctx, AM_LOG_WARN, "%s: %s", ifp->path[k],
			       n < 0 ? strerror(-n) : "not an unsigned integer");
			am_read_error(nd->ctx);
			continue;
		}
		am_emit_u64(nd->ctx, ifp->stat[k], v);
	}
	if (nd_read(ifp->path[ND_OPER], oper, sizeof(oper)) < 0)
		strcpy(oper, "unknown");
	am_emit(nd->ctx, ifp->up, strcmp(oper, "up") == 0);
	/* speed reads EINVAL, or -1, while the link is down: leave it absent. */
	if (nd_read(ifp->path[ND_SPEED], val, sizeof(val)) > 0 && val[0] != '-' &&
	    nd_parse_u64(val, &v) == 0)
		am_emit(nd->ctx, ifp->speed, (double)v * 125000.0);
	if (nd_read(ifp->path[ND_MTU], val, sizeof(val)) > 0 && nd_parse_u64(val, &v) == 0)
		am_emit(nd->ctx, ifp->mtu, (double)v);
	if (nd_read(ifp->path[ND_ADDR], addr, sizeof(addr)) < 0)
		addr[0] = '\0';
	if (nd_read(ifp->path[ND_DUPLEX], duplex, sizeof(duplex)) < 0)
		duplex[0] = '\0';
	if (ifp->info == AM_SERIES_INVALID || strcmp(addr, ifp->addr) != 0 ||
	    strcmp(duplex, ifp->duplex) != 0) {
		const char *lv[3] = {ifp->name, addr, duplex};

		ifp->info = am_series(nd->ctx, nd->f_info, lv);
		memcpy(ifp->addr, addr, sizeof(addr));
		memcpy(ifp->duplex, duplex, sizeof(duplex));
	}
	am_emit(nd->ctx, ifp->info, 1);
}

static int nd_poll(struct am_ctx *ctx, void *state)
{
	struct nd *nd = state;
	int64_t now = am_poll_time_ns(ctx);

	if ((double)(now - nd->last_scan) / 1e9 >= nd->rescan_s) {
		nd_scan(nd);
		nd->last_scan = now;
	}
	for (size_t i = 0; i < nd->nifs; i++)
		if (nd->ifs[i].seen)
			nd_poll_if(nd, &nd->ifs[i]);
	return 0;
}

static void nd_fini(struct am_ctx *ctx, void *state)
{
	struct nd *nd = state;

	if (!nd)
		return;
	for (size_t i = 0; i < nd->nifs; i++)
		nd_if_clear(&nd->ifs[i]);
	if (nd->has_include)
		regfree(&nd->include);
	if (nd->has_exclude)
		regfree(&nd->exclude);
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
	.fini = nd_fini,
};
