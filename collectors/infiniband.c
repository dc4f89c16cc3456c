/* InfiniBand and RoCE fabric collector: every port under
 * /sys/class/infiniband/<dev>/ports/<n> (state, rate, counters/,
 * counters_ext/, hw_counters/) becomes fabric_port_* and fabric_roce_*
 * samples, read through the file layer of accelmon/util.h. Utilization, its
 * peak and the saturation flags are derived series the core computes.
 * Devices and ports are found at init and again at each rescan; a poll is
 * preads, integer parsing and emits.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strverscmp */
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "accelmon/collector.h"
#include "accelmon/schema.h"
#include "accelmon/util.h"
#include "infiniband_parse.h"

/* ---- metric families ---- */

#define IB_PORT_LABELS "device", "port"

/* Counter widths: the definitions below give each family its usual width,
 * and a counter of another width registers its own view of the same family
 * (same name and labels, its own bits and saturation: see am_family) so the
 * core unwraps, resets and flags saturation with the counter's real width:
 *  - transmit/receive bytes and packets: by the port's PortCounters layout
 *    (ib_layout_of: 64-bit extended or noietf, 32-bit saturating classic);
 *  - fabric_port_errors_total{type}: 16, 8 or 4-bit, all saturating.
 * The saturation flag of every saturating counter is a derived series,
 * fabric_port_stat_saturated{device,port,counter}; utilization and its peak
 * are the ratio of the byte counter's delta over the link speed. */
/* Port identity is split in two families:
 * fabric_port_info carries the per-port ones and those DESIGN.md names
 * (link layer, netdev, rate text, firmware, GUID, nearest accelerator), and
 * fabric_device_info{device} the per-device rest (board id, HCA type, NUMA
 * node, PCI address). Join them on `device`. */
/* Schema families (accelmon/schema.h): name, HELP and labels come from the
 * core; ib_fam_defs gives only how this collector feeds them. */
static const struct {
	bool std;
	enum am_std which;
} ib_std[IBF_N] = {
    [IBF_INFO] = {true, AM_STD_PORT_INFO},
    [IBF_UP] = {true, AM_STD_PORT_UP},
    [IBF_SPEED] = {true, AM_STD_PORT_LINK_SPEED},
    [IBF_TX_BYTES] = {true, AM_STD_PORT_TRANSMIT_BYTES},
    [IBF_RX_BYTES] = {true, AM_STD_PORT_RECEIVE_BYTES},
    [IBF_TX_PKTS] = {true, AM_STD_PORT_TRANSMIT_PACKETS},
    [IBF_RX_PKTS] = {true, AM_STD_PORT_RECEIVE_PACKETS},
    [IBF_WAIT] = {true, AM_STD_PORT_TRANSMIT_WAIT},
    [IBF_ERRORS] = {true, AM_STD_PORT_ERRORS},
    [IBF_SATURATED] = {true, AM_STD_PORT_STAT_SATURATED},
    [IBF_UTIL] = {true, AM_STD_PORT_UTILIZATION},
    [IBF_PEAK] = {true, AM_STD_PORT_UTILIZATION_PEAK},
};

static const struct am_family_def ib_fam_defs[IBF_N] = {
    [IBF_INFO] = {.kind = AM_INFO},
    [IBF_DEVINFO] = {"fabric_device_info",
		     "RDMA device identity: board id, HCA type, NUMA node, "
		     "PCI address, firmware.",
		     AM_INFO,
		     NULL,
		     {"device", "board_id", "hca_type", "numa_node", "pci_bus_id",
		      "firmware_version"}},
    [IBF_UP] = {.kind = AM_GAUGE},
    [IBF_STATE] = {"fabric_port_state",
		   "Logical port state number (1 DOWN, 2 INIT, 3 ARMED, "
		   "4 ACTIVE, 5 ACTIVE_DEFER).",
		   AM_GAUGE,
		   NULL,
		   {IB_PORT_LABELS}},
    [IBF_PHYS] = {"fabric_port_physical_state",
		  "Physical port state number (2 Polling, 3 Disabled, "
		  "5 LinkUp, 6 LinkErrorRecovery, ...).",
		  AM_GAUGE,
		  NULL,
		  {IB_PORT_LABELS}},
    [IBF_SPEED] = {.kind = AM_GAUGE},
    [IBF_LANES] = {"fabric_port_link_lanes",
		   "Active link width in lanes (the NX in the rate file).",
		   AM_GAUGE,
		   NULL,
		   {IB_PORT_LABELS}},
    [IBF_TX_BYTES] = {.kind = AM_COUNTER, .bits = 64, .scale = 4.0},
    [IBF_RX_BYTES] = {.kind = AM_COUNTER, .bits = 64, .scale = 4.0},
    [IBF_TX_PKTS] = {.kind = AM_COUNTER, .bits = 64},
    [IBF_RX_PKTS] = {.kind = AM_COUNTER, .bits = 64},
    [IBF_TX_UCAST] = {"fabric_port_unicast_transmit_packets_total",
		      "Unicast packets transmitted.",
		      AM_COUNTER,
		      NULL,
		      {IB_PORT_LABELS},
		      64},
    [IBF_RX_UCAST] = {"fabric_port_unicast_receive_packets_total",
		      "Unicast packets received.",
		      AM_COUNTER,
		      NULL,
		      {IB_PORT_LABELS},
		      64},
    [IBF_TX_MCAST] = {"fabric_port_multicast_transmit_packets_total",
		      "Multicast packets transmitted.",
		      AM_COUNTER,
		      NULL,
		      {IB_PORT_LABELS},
		      64},
    [IBF_RX_MCAST] = {"fabric_port_multicast_receive_packets_total",
		      "Multicast packets received.",
		      AM_COUNTER,
		      NULL,
		      {IB_PORT_LABELS},
		      64},
    [IBF_WAIT] = {.kind = AM_COUNTER, .bits = 32, .saturating = true},
    [IBF_ERRORS] = {.kind = AM_COUNTER, .bits = 16, .saturating = true},
    [IBF_SATURATED] = {.kind = AM_GAUGE},
    [IBF_UTIL] = {.kind = AM_GAUGE},
    [IBF_PEAK] = {.kind = AM_WINDOW_MAX},
    [IBF_CNP_SENT] = {"fabric_roce_cnp_sent_total",
		      "Congestion notification packets sent by the "
		      "notification point (np_cnp_sent).",
		      AM_COUNTER,
		      NULL,
		      {IB_PORT_LABELS},
		      64},
    [IBF_CNP_HANDLED] = {"fabric_roce_cnp_handled_total",
			 "CNPs handled by the reaction point "
			 "(rp_cnp_handled).",
			 AM_COUNTER,
			 NULL,
			 {IB_PORT_LABELS},
			 64},
    [IBF_CNP_IGNORED] = {"fabric_roce_cnp_ignored_total",
			 "CNPs ignored by the reaction point "
			 "(rp_cnp_ignored).",
			 AM_COUNTER,
			 NULL,
			 {IB_PORT_LABELS},
			 64},
    [IBF_ECN] = {"fabric_roce_ecn_marked_packets_total",
		 "RoCE packets received with an ECN mark "
		 "(np_ecn_marked_roce_packets).",
		 AM_COUNTER,
		 NULL,
		 {IB_PORT_LABELS},
		 64},
    [IBF_ICRC] = {"fabric_roce_icrc_encapsulated_packets_total",
		  "RoCE packets with an ICRC error "
		  "(rx_icrc_encapsulated).",
		  AM_COUNTER,
		  NULL,
		  {IB_PORT_LABELS},
		  64},
    [IBF_OOS] = {"fabric_roce_out_of_sequence_total",
		 "Packets received out of sequence (out_of_sequence, "
		 "32-bit wrapping).",
		 AM_COUNTER,
		 NULL,
		 {IB_PORT_LABELS},
		 32},
    [IBF_OOB] = {"fabric_roce_out_of_buffer_total",
		 "Packets dropped for lack of a receive WQE "
		 "(out_of_buffer, 32-bit wrapping).",
		 AM_COUNTER,
		 NULL,
		 {IB_PORT_LABELS},
		 32},
    [IBF_RETRANS] = {"fabric_roce_retransmits_total",
		     "Requester events that make the HCA retransmit, by "
		     "sysfs name (32-bit wrapping).",
		     AM_COUNTER,
		     NULL,
		     {IB_PORT_LABELS, "type"},
		     32},
    [IBF_ADP_RETRANS] =
	{"fabric_roce_adaptive_retransmits_total",
	 "Adaptive retransmissions and their timeouts, by sysfs "
	 "name (roce_adp_retrans*, 32-bit wrapping; they overlap "
	 "fabric_roce_retransmits_total{type=\"local_ack_timeout_err\"}).",
	 AM_COUNTER,
	 NULL,
	 {IB_PORT_LABELS, "type"},
	 32},
    [IBF_SLOW_RESTART] = {"fabric_roce_slow_restart_total",
			  "Slow-restart events of the RoCE congestion control, by "
			  "sysfs name (roce_slow_restart*, 32-bit wrapping).",
			  AM_COUNTER,
			  NULL,
			  {IB_PORT_LABELS, "type"},
			  32},
    [IBF_RX_REQUESTS] = {"fabric_roce_received_requests_total",
			 "RDMA read, write and atomic requests received "
			 "(rx_*_requests, 32-bit wrapping).",
			 AM_COUNTER,
			 NULL,
			 {IB_PORT_LABELS, "type"},
			 32},
    [IBF_DCT_CONNECT] = {"fabric_roce_dct_connects_total",
			 "DC target connections received (rx_dct_connect, "
			 "32-bit wrapping).",
			 AM_COUNTER,
			 NULL,
			 {IB_PORT_LABELS},
			 32},
    [IBF_DUP] = {"fabric_roce_duplicate_requests_total",
		 "Requests received again (the peer retransmitted; "
		 "duplicate_request, 32-bit wrapping).",
		 AM_COUNTER,
		 NULL,
		 {IB_PORT_LABELS},
		 32},
    [IBF_COMPL] = {"fabric_roce_completion_errors_total",
		   "Completions with error, requester and responder side, "
		   "by sysfs name (32-bit wrapping).",
		   AM_COUNTER,
		   NULL,
		   {IB_PORT_LABELS, "type"},
		   32},
    [IBF_LIFESPAN] = {"fabric_roce_lifespan_seconds",
		      "How long the driver caches hw_counters values "
		      "(lifespan, in ms in sysfs).",
		      AM_GAUGE,
		      "seconds",
		      {IB_PORT_LABELS},
		      0,
		      false,
		      1e-3},
};

/* ---- state ---- */

/* Held fds: at most half the soft fd limit (the HTTP server and other
 * collectors need the rest), and no more than IB_FD_MAX; files beyond the
 * budget are opened per read by the file layer. */
#define IB_FD_MAX 4096
#define IB_FD_UNLIMITED 512
/* Device and port numbers are short; longer names are not RDMA devices. */
#define IB_NAME 64
#define IB_VIEWS 16

struct ib_file {
	struct am_file *f;
	const struct ib_ctr *c;
	uint8_t bits;
	bool sat;
	am_family_t fam; /* handle with this counter's width */
	am_series_t sid, sat_sid;
	bool have; /* a setting (lifespan) read: last is its value */
	uint64_t last;
};

struct ib_dev {
	char name[IB_NAME];
	/* Label values read at discovery: room for the longest the core keeps. */
	char fw[AM_LABEL_VALUE_MAX + 1], board[AM_LABEL_VALUE_MAX + 1],
	    hca[AM_LABEL_VALUE_MAX + 1];
	char guid[40], numa[12], pci[32], accel[32];
	am_series_t s_info;
	unsigned nports; /* ports of this device being read */
	bool seen;	 /* found by the current scan */
	bool info_read;
};

struct ib_port {
	struct ib_dev *dev;
	char num[12];
	char link_layer[24];
	char netdev[AM_LABEL_VALUE_MAX + 1]; /* gid_attrs/ndevs/0 */
	char rate_text[64];
	struct am_file *state, *phys, *rate;
	unsigned lanes;
	bool interned, seen;
	am_series_t s_info, s_up, s_state, s_phys, s_speed, s_lanes;
	am_series_t s_util[2], s_peak[2];
	size_t nfiles;
	struct ib_file files[]; /* ib_nctrs entries */
};

/* A family registered with another width than its definition. */
struct ib_view {
	uint8_t fam, bits;
	bool sat;
	am_family_t handle;
};

struct ib_state {
	am_family_t fam[IBF_N];
	bool registered;
	struct ib_view views[IB_VIEWS];
	size_t nviews;
	struct ib_dev **devs; /* in version order of their names */
	size_t ndevs, capdevs;
	struct ib_port **ports; /* in version order of device, then port */
	size_t nports, capports;
	struct am_files *files;
	struct am_filter *dev_filter, *port_filter;
	unsigned fd_budget;
	double peak_s;
	bool reread_settings; /* next poll reads settings again (rescan) */
	unsigned excluded;    /* devices the filters left out at the last scan */
	char root[PATH_MAX];
};

/* ---- options ---- */

static const struct am_option ib_options[] = {
    {"include", AM_OPT_REGEX, "only devices whose name matches"},
    {"exclude", AM_OPT_REGEX, "skip devices whose name matches"},
    {"include_ports", AM_OPT_REGEX,
     "only ports whose DEVICE:PORT matches (e.g. \"^mlx5_[0-3]:1$\")"},
    {"exclude_ports", AM_OPT_REGEX,
     "skip ports whose DEVICE:PORT matches (e.g. \"^mlx5_0:2$|^mlx5_4:\")"},
    {"peak_window", AM_OPT_DURATION,
     "window of fabric_port_utilization_peak_ratio (default 15s)"},
    {NULL, 0, NULL},
};

/* ---- directories without allocating ---- */

/* Call fn for each entry of dir (no dot names), in the order the kernel
 * lists them, reading with getdents64 into a stack buffer so that a rescan
 * that finds nothing new allocates nothing. 0, or -errno from opening or
 * reading dir, or fn's first non-zero return. */
struct ib_dirent64 {
	uint64_t ino;
	int64_t off;
	unsigned short reclen;
	unsigned char type;
	char name[];
};

static int ib_dir_each(const char *dir, int (*fn)(void *arg, const char *name), void *arg)
{
	char buf[4096] __attribute__((aligned(8)));
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int ret = 0;

	if (fd < 0)
		return -errno;
	for (;;) {
		long n = syscall(SYS_getdents64, fd, buf, sizeof buf);

		if (n < 0) {
			ret = -errno;
			break;
		}
		if (n == 0)
			break;
		for (long off = 0; off < n && ret == 0;) {
			const struct ib_dirent64 *d = (const void *)(buf + off);

			off += d->reclen;
			if (d->name[0] != '.')
				ret = fn(arg, d->name);
		}
		if (ret)
			break;
	}
	close(fd);
	return ret;
}

/* ---- registration ---- */

/* Register family f with def's aggregation: a schema family through
 * am_std_family, one of this collector's own through am_family. */
static am_family_t ib_register(struct am_ctx *ctx, int f, const struct am_family_def *def)
{
	struct am_std_use u = {.kind = def->kind,
			       .bits = def->bits,
			       .saturating = def->saturating,
			       .scale = def->scale,
			       .window_s = def->window_s};

	if (ib_std[f].std)
		return am_std_family(ctx, ib_std[f].which, &u);
	return am_family(ctx, def);
}

static int ib_register_all(struct am_ctx *ctx, struct ib_state *st)
{
	for (int f = 0; f < IBF_N; f++) {
		struct am_family_def def = ib_fam_defs[f];

		if (f == IBF_PEAK)
			def.window_s = st->peak_s > 0 ? st->peak_s : 15.0;
		st->fam[f] = ib_register(ctx, f, &def);
		if (st->fam[f] < 0)
			return st->fam[f];
	}
	st->registered = true;
	return 0;
}

/* The family handle for a file: the family's own, or a view with the
 * file's width when that differs from the definition. */
static int ib_file_family(struct am_ctx *ctx, struct ib_state *st, struct ib_file *f)
{
	const struct am_family_def *d = &ib_fam_defs[f->c->fam];
	struct am_family_def def;

	if (d->kind != AM_COUNTER ||
	    ((d->bits ? d->bits : 64) == f->bits && d->saturating == f->sat)) {
		f->fam = st->fam[f->c->fam];
		return 0;
	}
	for (size_t i = 0; i < st->nviews; i++) {
		const struct ib_view *v = &st->views[i];

		if (v->fam == f->c->fam && v->bits == f->bits && v->sat == f->sat) {
			f->fam = v->handle;
			return 0;
		}
	}
	if (st->nviews == IB_VIEWS)
		return -ENOSPC; /* cannot happen with the table of counters */
	def = *d;
	def.bits = f->bits;
	def.saturating = f->sat;
	f->fam = ib_register(ctx, f->c->fam, &def);
	if (f->fam < 0)
		return f->fam;
	st->views[st->nviews++] = (struct ib_view){f->c->fam, f->bits, f->sat, f->fam};
	return 0;
}

/* ---- discovery ---- */

/* An optional attribute read once: absent is fine, any other failure is a
 * read error. Leaves buf empty on failure. */
static void ib_read_opt(struct am_ctx *ctx, const char *dir, const char *name, char *buf,
			size_t size)
{
	char path[PATH_MAX];
	ssize_t r;

	buf[0] = '\0';
	if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
		return;
	r = am_read_text_at(AT_FDCWD, path, buf, size);
	if (r < 0) {
		buf[0] = '\0';
		if (r != -ENOENT) {
			am_read_error(ctx);
			am_log(ctx, AM_LOG_WARN, "%s: %s", path, strerror((int)-r));
		}
	}
}

static void ib_dev_info(struct am_ctx *ctx, struct ib_dev *dev, const char *ddir)
{
	char path[PATH_MAX];
	struct am_pci_id id;
	int rc;

	ib_read_opt(ctx, ddir, "fw_ver", dev->fw, sizeof dev->fw);
	ib_read_opt(ctx, ddir, "board_id", dev->board, sizeof dev->board);
	ib_read_opt(ctx, ddir, "hca_type", dev->hca, sizeof dev->hca);
	ib_read_opt(ctx, ddir, "node_guid", dev->guid, sizeof dev->guid);
	/* The device link points at the PCI function (software devices such
	 * as rxe or siw have none). */
	if (snprintf(path, sizeof path, "%s/device", ddir) >= (int)sizeof path)
		return;
	rc = am_pci_identity(path, &id);
	if (rc < 0) {
		if (rc != -ENOENT)
			am_log(ctx, AM_LOG_WARN, "%s: %s", path, strerror(-rc));
		return;
	}
	if (id.numa_node >= 0)
		snprintf(dev->numa, sizeof dev->numa, "%d", id.numa_node);
	snprintf(dev->pci, sizeof dev->pci, "%s", id.bus_id);
	if (dev->pci[0])
		am_pci_nearest_accel(ctx, path, dev->accel, sizeof dev->accel);
}

/* What one port's counter folders hold: which table entries exist, and
 * the first entry of counters/ (to tell a port without PMA). */
struct ib_listing {
	bool present[128];
	int dir;
	int first_counter; /* index in ib_ctrs, -1 when none */
};

static int ib_list_one(void *arg, const char *name)
{
	struct ib_listing *l = arg;

	for (size_t i = 0; i < ib_nctrs; i++)
		if (ib_ctrs[i].dir == l->dir && strcmp(ib_ctrs[i].file, name) == 0) {
			l->present[i] = true;
			if (l->dir == IBD_COUNTERS && l->first_counter < 0)
				l->first_counter = (int)i;
			break;
		}
	return 0;
}

static int ib_ctr_index(const char *file, int dir)
{
	for (size_t i = 0; i < ib_nctrs; i++)
		if (ib_ctrs[i].dir == dir && strcmp(ib_ctrs[i].file, file) == 0)
			return (int)i;
	return -1;
}

/* The PortCounters layout of a port without unicast files, from the first
 * readings of its layout-dependent counters (see ib_layout_of). */
static enum ib_layout ib_port_layout(const struct ib_listing *l, const bool *use,
				     const char *pdir)
{
	bool have = false;
	uint64_t max = 0;

	if (l->present[ib_ctr_index("unicast_xmit_packets", IBD_COUNTERS)])
		return IBL_EXTENDED;
	for (size_t i = 0; i < ib_nctrs; i++) {
		char path[PATH_MAX];
		uint64_t v;

		if (!use[i] || ib_ctrs[i].bits != 0 ||
		    snprintf(path, sizeof path, "%s/%s/%s", pdir,
			     ib_dir_names[ib_ctrs[i].dir],
			     ib_ctrs[i].file) >= (int)sizeof path ||
		    am_read_u64_at(AT_FDCWD, path, &v) < 0)
			continue;
		have = true;
		if (v > max)
			max = v;
	}
	return ib_layout_of(false, have, max);
}

static void ib_port_free(struct ib_state *st, struct ib_port *p)
{
	if (!p)
		return;
	am_file_remove(st->files, p->state);
	am_file_remove(st->files, p->phys);
	am_file_remove(st->files, p->rate);
	for (size_t i = 0; i < p->nfiles; i++)
		am_file_remove(st->files, p->files[i].f);
	free(p);
}

static struct am_file *ib_add_file(struct ib_state *st, const char *pdir, const char *dir,
				   const char *name)
{
	char path[PATH_MAX];
	int n = dir ? snprintf(path, sizeof path, "%s/%s/%s", pdir, dir, name)
		    : snprintf(path, sizeof path, "%s/%s", pdir, name);

	if (n < 0 || n >= (int)sizeof path)
		return NULL;
	return am_file_add(st->files, AT_FDCWD, path);
}

/* List the counter folders of one port and add a file for each known
 * counter present. Missing folders are normal (no hw_counters on mlx4, no
 * counters_ext on current kernels, no counters/ at all on bnxt_re). */
static int ib_port_files(struct am_ctx *ctx, struct ib_state *st, struct ib_port *p,
			 const char *pdir)
{
	struct ib_listing l;
	bool use[128] = {false}, taken[IBF_N] = {false};
	enum ib_layout layout;

	memset(&l, 0, sizeof l);
	l.first_counter = -1;
	for (int d = 0; d < IBD_N; d++) {
		char dir[PATH_MAX];
		int rc;

		if (snprintf(dir, sizeof dir, "%s/%s", pdir, ib_dir_names[d]) >=
		    (int)sizeof dir)
			continue;
		l.dir = d;
		rc = ib_dir_each(dir, ib_list_one, &l);
		if (rc < 0 && rc != -ENOENT) {
			am_read_error(ctx);
			am_log(ctx, AM_LOG_WARN, "%s: %s", dir, strerror(-rc));
		}
	}
	/* iWARP ports (i40iw) have counters/ whose every file reads
	 * "N/A (no PMA)": a fact of the port, said once, not an error to
	 * retry. State and rate are still read. */
	if (l.first_counter >= 0) {
		char path[PATH_MAX], buf[64];

		if (snprintf(path, sizeof path, "%s/counters/%s", pdir,
			     ib_ctrs[l.first_counter].file) < (int)sizeof path &&
		    am_read_text_at(AT_FDCWD, path, buf, sizeof buf) >= 0 &&
		    ib_is_no_pma(buf, strlen(buf))) {
			am_log(ctx, AM_LOG_INFO,
			       "%s/counters: \"%s\": the port has no performance "
			       "counters; reading its state and rate only",
			       pdir, buf);
			for (size_t i = 0; i < ib_nctrs; i++)
				if (ib_ctrs[i].dir == IBD_COUNTERS)
					l.present[i] = false;
		}
	}
	/* One source per label-less family: counters_ext wins. */
	for (size_t i = 0; i < ib_nctrs; i++) {
		const struct ib_ctr *c = &ib_ctrs[i];

		if (!l.present[i])
			continue;
		if (!c->label) {
			if (taken[c->fam])
				continue;
			taken[c->fam] = true;
		}
		use[i] = true;
	}
	layout = ib_port_layout(&l, use, pdir);
	if (layout == IBL_NOIETF)
		am_log(ctx, AM_LOG_INFO,
		       "%s/counters: a data or packet counter reads above 2^32-1 "
		       "without unicast files: 64-bit (noietf PortCounters)",
		       pdir);
	for (size_t i = 0; i < ib_nctrs; i++) {
		const struct ib_ctr *c = &ib_ctrs[i];
		struct ib_file *f = &p->files[p->nfiles];

		if (!use[i])
			continue;
		f->c = c;
		f->sid = AM_SERIES_INVALID;
		if (c->bits) {
			f->bits = c->bits;
			f->sat = c->sat;
		} else {
			ib_layout_width(layout, &f->bits, &f->sat);
		}
		f->f = ib_add_file(st, pdir, ib_dir_names[c->dir], c->file);
		if (!f->f)
			return -ENOMEM;
		p->nfiles++;
	}
	return 0;
}

static int ib_port_new(struct am_ctx *ctx, struct ib_state *st, struct ib_dev *dev,
		       const char *ddir, const char *num, struct ib_port **out)
{
	struct ib_port *p;
	char pdir[PATH_MAX];
	int ret;

	if (strlen(num) >= sizeof p->num ||
	    snprintf(pdir, sizeof pdir, "%s/ports/%s", ddir, num) >= (int)sizeof pdir)
		return -ENAMETOOLONG;
	p = calloc(1, sizeof *p + ib_nctrs * sizeof p->files[0]);
	if (!p)
		return -ENOMEM;
	p->dev = dev;
	memcpy(p->num, num, strlen(num) + 1);
	p->s_info = AM_SERIES_INVALID;
	ib_read_opt(ctx, pdir, "link_layer", p->link_layer, sizeof p->link_layer);
	/* The netdev of a RoCE port is the one behind GID 0. IB ports have
	 * none (their IPoIB interfaces are not in gid_attrs). */
	if (strcmp(p->link_layer, "Ethernet") == 0)
		ib_read_opt(ctx, pdir, "gid_attrs/ndevs/0", p->netdev, sizeof p->netdev);
	p->state = ib_add_file(st, pdir, NULL, "state");
	p->phys = ib_add_file(st, pdir, NULL, "phys_state");
	p->rate = ib_add_file(st, pdir, NULL, "rate");
	ret = p->state && p->phys && p->rate ? ib_port_files(ctx, st, p, pdir) : -ENOMEM;
	for (size_t i = 0; ret == 0 && st->registered && i < p->nfiles; i++)
		ret = ib_file_family(ctx, st, &p->files[i]);
	if (ret < 0) {
		ib_port_free(st, p);
		return ret;
	}
	*out = p;
	return 0;
}

static int ib_port_cmp(const struct ib_port *a, const char *dev, const char *num)
{
	int c = strverscmp(a->dev->name, dev);

	return c ? c : strverscmp(a->num, num);
}

/* Make room for one more pointer in a sorted array and put x at i. */
static int ib_insert(void ***arr, size_t *n, size_t *cap, size_t i, void *x)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 16;
		void **g = realloc(*arr, nc * sizeof **arr);

		if (!g)
			return -ENOMEM;
		*arr = g;
		*cap = nc;
	}
	memmove(*arr + i + 1, *arr + i, (*n - i) * sizeof **arr);
	(*arr)[i] = x;
	(*n)++;
	return 0;
}

struct ib_scan {
	struct am_ctx *ctx;
	struct ib_state *st;
	struct ib_dev *dev;
	const char *ddir;
	unsigned added, excluded;
	int err;
};

/* One entry of <dev>/ports: known (mark it seen), filtered out, or new. */
static int ib_scan_port(void *arg, const char *num)
{
	struct ib_scan *sc = arg;
	struct ib_state *st = sc->st;
	struct ib_port *p;
	char key[2 * IB_NAME + 2];
	size_t lo = 0, hi = st->nports;
	int rc;

	/* Port directories are numbers (1, 2; 0 on switches). */
	if (strspn(num, "0123456789") != strlen(num) || strlen(num) > 5)
		return 0;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = ib_port_cmp(st->ports[mid], sc->dev->name, num);

		if (c == 0) {
			st->ports[mid]->seen = true;
			return 0;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (snprintf(key, sizeof key, "%s:%s", sc->dev->name, num) >= (int)sizeof key ||
	    !am_filter_pass(st->port_filter, key))
		return 0;
	rc = ib_port_new(sc->ctx, st, sc->dev, sc->ddir, num, &p);
	if (rc == 0)
		rc = ib_insert((void ***)&st->ports, &st->nports, &st->capports, lo, p);
	if (rc < 0) {
		if (rc == -ENOMEM)
			return rc;
		am_log(sc->ctx, AM_LOG_WARN, "%s/ports/%s: %s", sc->ddir, num,
		       strerror(-rc));
		return 0;
	}
	p->seen = true;
	sc->dev->nports++;
	sc->added++;
	return 0;
}

/* One entry of class/infiniband. */
static int ib_scan_dev(void *arg, const char *name)
{
	struct ib_scan *sc = arg;
	struct ib_state *st = sc->st;
	struct ib_dev *dev = NULL;
	char ddir[PATH_MAX], pdir[PATH_MAX];
	size_t i;
	int rc;

	/* The device filter comes before anything under it is opened,
	 * including its ports directory. */
	if (strlen(name) >= IB_NAME || !am_filter_pass(st->dev_filter, name)) {
		sc->excluded++;
		return 0;
	}
	for (i = 0; i < st->ndevs; i++) {
		int c = strverscmp(st->devs[i]->name, name);

		if (c == 0) {
			dev = st->devs[i];
			break;
		}
		if (c > 0)
			break;
	}
	if (snprintf(ddir, sizeof ddir, "%s/%s", st->root, name) >= (int)sizeof ddir ||
	    snprintf(pdir, sizeof pdir, "%s/ports", ddir) >= (int)sizeof pdir)
		return 0;
	if (!dev) {
		/* Listed before its ports are added, so that they never point
		 * at a device outside the list; dropped again without any. */
		dev = calloc(1, sizeof *dev);
		if (!dev || ib_insert((void ***)&st->devs, &st->ndevs, &st->capdevs, i,
				      dev) < 0) {
			free(dev);
			return -ENOMEM;
		}
		memcpy(dev->name, name, strlen(name) + 1);
		dev->s_info = AM_SERIES_INVALID;
	}
	dev->seen = true;
	sc->dev = dev;
	sc->ddir = ddir;
	rc = ib_dir_each(pdir, ib_scan_port, sc);
	/* Identity once, when the first port is read (a device whose ports
	 * are all filtered out stays listed, unread). */
	if (!dev->info_read && dev->nports > 0) {
		ib_dev_info(sc->ctx, dev, ddir);
		dev->info_read = true;
	}
	if (rc == -ENOMEM)
		return rc;
	if (rc < 0) {
		/* Unreadable now is not gone: keep what it had. */
		for (size_t j = 0; j < st->nports; j++)
			if (st->ports[j]->dev == dev)
				st->ports[j]->seen = true;
		if (rc != -ENOENT) {
			am_read_error(sc->ctx);
			am_log(sc->ctx, AM_LOG_WARN, "%s: %s", pdir, strerror(-rc));
		}
	}
	return 0;
}

/* Take a port out: its series leave the exposition (the derived ones with
 * their inputs), its files are closed. */
static void ib_port_retire(struct am_ctx *ctx, struct ib_state *st, struct ib_port *p)
{
	if (p->interned) {
		const am_series_t ids[] = {
		    p->s_info,	p->s_up,      p->s_state,   p->s_phys,	  p->s_speed,
		    p->s_lanes, p->s_util[0], p->s_util[1], p->s_peak[0], p->s_peak[1]};

		for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
			am_series_retire(ctx, ids[i]);
		for (size_t i = 0; i < p->nfiles; i++) {
			am_series_retire(ctx, p->files[i].sid);
			am_series_retire(ctx, p->files[i].sat_sid);
		}
	}
	p->dev->nports--;
	ib_port_free(st, p);
}

/* Walk class/infiniband: add what is new, mark what is still there, and
 * retire what is gone. */
static int ib_scan_all(struct am_ctx *ctx, struct ib_state *st, int *err)
{
	struct ib_scan sc = {.ctx = ctx, .st = st};
	size_t k = 0;
	int rc;

	for (size_t i = 0; i < st->nports; i++)
		st->ports[i]->seen = false;
	for (size_t i = 0; i < st->ndevs; i++)
		st->devs[i]->seen = false;
	rc = ib_dir_each(st->root, ib_scan_dev, &sc);
	*err = rc;
	st->excluded = sc.excluded;
	if (rc == -ENOMEM)
		return rc;
	/* An unreadable class folder is not proof that the ports are gone:
	 * keep them (their files fail and back off) unless it is absent. */
	if (rc < 0 && rc != -ENOENT)
		return 0;
	for (size_t i = 0; i < st->nports; i++) {
		struct ib_port *p = st->ports[i];

		if (p->seen) {
			st->ports[k++] = p;
			continue;
		}
		am_log(ctx, AM_LOG_INFO, "%s port %s is gone: its series are retired",
		       p->dev->name, p->num);
		ib_port_retire(ctx, st, p);
	}
	st->nports = k;
	k = 0;
	for (size_t i = 0; i < st->ndevs; i++) {
		struct ib_dev *d = st->devs[i];

		if (d->seen || d->nports > 0) {
			st->devs[k++] = d;
			continue;
		}
		am_series_retire(ctx, d->s_info);
		free(d);
	}
	st->ndevs = k;
	return (int)sc.added;
}

static unsigned ib_fd_budget(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
		return IB_FD_UNLIMITED;
	if (rl.rlim_cur / 2 > IB_FD_MAX)
		return IB_FD_MAX;
	return rl.rlim_cur / 2 ? (unsigned)(rl.rlim_cur / 2) : 1;
}

static void ib_fini(struct am_ctx *ctx, void *state);

static int ib_init(struct am_ctx *ctx, const struct am_config *cfg, void **state)
{
	struct ib_state *st;
	struct stat sb;
	int ret, err;

	st = calloc(1, sizeof *st);
	if (!st)
		return -ENOMEM;
	snprintf(st->root, sizeof st->root, "%s/class/infiniband", am_sysfs(ctx));
	/* A class folder that is a file, a dangling link or a symlink loop
	 * is a broken sysfs, not a machine without RDMA: an error, said as
	 * such. Only an absent one means "nothing here". */
	if (stat(st->root, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
		struct stat lsb;

		ret = stat(st->root, &sb) != 0 ? -errno : -ENOTDIR;
		if (ret == -ENOENT && lstat(st->root, &lsb) != 0) {
			am_found(ctx, "no %s (no RDMA device, or ib_core not loaded)",
				 st->root);
			ret = -ENODEV;
		} else {
			if (ret == -ENOENT)
				ret = -ENOLINK; /* a dangling link */
			const char *why =
			    ret == -ENOLINK ? "a dangling symbolic link" : strerror(-ret);

			am_log(ctx, AM_LOG_ERROR, "%s: %s: not a folder of RDMA devices",
			       st->root, why);
			am_found(ctx, "%s: %s", st->root, why);
		}
		free(st);
		return ret;
	}
	st->peak_s = am_cfg_duration(cfg, "peak_window", 15.0);
	st->fd_budget = ib_fd_budget();
	ret = am_filter_new(ctx, cfg, "include", NULL, "exclude", NULL, &st->dev_filter);
	if (ret == 0)
		ret = am_filter_new(ctx, cfg, "include_ports", NULL, "exclude_ports",
				    NULL, &st->port_filter);
	if (ret < 0)
		goto fail;
	st->files = am_files_new(ctx, st->fd_budget);
	if (!st->files) {
		ret = -ENOMEM;
		goto fail;
	}
	ret = ib_scan_all(ctx, st, &err);
	if (ret < 0)
		goto fail;
	if (err < 0) {
		am_log(ctx, AM_LOG_ERROR, "%s: %s", st->root, strerror(-err));
		am_found(ctx, "%s: %s", st->root, strerror(-err));
		ret = err;
		goto fail;
	}
	if (st->nports == 0) {
		am_found(ctx, "no RDMA port to read in %s (%u device(s) excluded)",
			 st->root, st->excluded);
		ret = -ENODEV;
		goto fail;
	}
	ret = ib_register_all(ctx, st);
	for (size_t i = 0; ret == 0 && i < st->nports; i++)
		for (size_t j = 0; ret == 0 && j < st->ports[i]->nfiles; j++)
			ret = ib_file_family(ctx, st, &st->ports[i]->files[j]);
	if (ret < 0)
		goto fail;
	am_found(ctx, "%zu RDMA device(s), %zu port(s) in %s (%u excluded)", st->ndevs,
		 st->nports, st->root, st->excluded);
	*state = st;
	return 0;
fail:
	ib_fini(ctx, st);
	return ret;
}

/* New HCAs and ports from the next poll on; vanished ones retired. What is
 * already open is kept; nothing is allocated when nothing changed. */
static int ib_rescan(struct am_ctx *ctx, void *state)
{
	struct ib_state *st = state;
	size_t before = st->nports;
	int err, added = ib_scan_all(ctx, st, &err);

	if (added < 0)
		return added;
	st->reread_settings = true;
	if (err < 0 && err != -ENOENT)
		am_log(ctx, AM_LOG_WARN, "%s: %s (rescan: ports kept)", st->root,
		       strerror(-err));
	if (added > 0 || st->nports != before)
		am_log(ctx, AM_LOG_INFO,
		       "rescan: %zu RDMA device(s), %zu port(s) (%d new)", st->ndevs,
		       st->nports, added);
	return 0;
}

static void ib_fini(struct am_ctx *ctx, void *state)
{
	struct ib_state *st = state;

	(void)ctx;
	if (!st)
		return;
	for (size_t i = 0; i < st->nports; i++)
		free(st->ports[i]); /* their files go with the set */
	for (size_t i = 0; i < st->ndevs; i++)
		free(st->devs[i]);
	free(st->ports);
	free(st->devs);
	am_files_free(st->files);
	am_filter_free(st->dev_filter);
	am_filter_free(st->port_filter);
	free(st);
}

/* ---- polling ---- */

static void ib_intern(struct ib_state *st, struct am_ctx *ctx, struct ib_port *p)
{
	const char *pl[] = {p->dev->name, p->num, NULL, NULL};
	static const char *const dirs[2] = {"transmit", "receive"};
	am_series_t bytes[2] = {AM_SERIES_INVALID, AM_SERIES_INVALID};

	p->s_up = am_series(ctx, st->fam[IBF_UP], pl);
	p->s_state = am_series(ctx, st->fam[IBF_STATE], pl);
	p->s_phys = am_series(ctx, st->fam[IBF_PHYS], pl);
	p->s_speed = am_series(ctx, st->fam[IBF_SPEED], pl);
	p->s_lanes = am_series(ctx, st->fam[IBF_LANES], pl);
	for (size_t i = 0; i < p->nfiles; i++) {
		struct ib_file *f = &p->files[i];

		pl[2] = f->c->label;
		f->sid = am_series(ctx, f->fam, pl);
		f->sat_sid = AM_SERIES_INVALID;
		if (f->c->role != IBR_NONE)
			bytes[f->c->role == IBR_TX ? 0 : 1] = f->sid;
		if (f->sat) {
			struct am_derive d = {.op = AM_DERIVE_SATURATED,
					      .a = f->sid,
					      .b = AM_SERIES_INVALID,
					      .capacity = AM_SERIES_INVALID};

			pl[2] = f->c->file;
			f->sat_sid =
			    am_series_derived(ctx, st->fam[IBF_SATURATED], pl, &d);
		}
	}
	/* Utilization: bytes (x4 already in the family's scale) per second
	 * over the link speed in bytes/s, computed by the core. */
	for (int d = 0; d < 2; d++) {
		struct am_derive r = {.op = AM_DERIVE_RATIO,
				      .a = bytes[d],
				      .b = AM_SERIES_INVALID,
				      .capacity = p->s_speed};

		p->s_util[d] = p->s_peak[d] = AM_SERIES_INVALID;
		if (bytes[d] == AM_SERIES_INVALID)
			continue;
		pl[2] = dirs[d];
		p->s_util[d] = am_series_derived(ctx, st->fam[IBF_UTIL], pl, &r);
		p->s_peak[d] = am_series_derived(ctx, st->fam[IBF_PEAK], pl, &r);
	}
	if (p->dev->s_info == AM_SERIES_INVALID) {
		const struct ib_dev *d = p->dev;
		const char *dl[] = {d->name, d->board, d->hca, d->numa,
				    d->pci,  d->fw,    NULL};

		p->dev->s_info = am_series(ctx, st->fam[IBF_DEVINFO], dl);
	}
	p->interned = true;
}

/* The info series carries the rate text, so it is interned again (a rare
 * allocation) when the link retrains to another rate; the old one is
 * retired. */
static void ib_port_info(struct ib_state *st, struct am_ctx *ctx, struct ib_port *p,
			 const char *rate, size_t n)
{
	const struct ib_dev *d = p->dev;
	const char *il[] = {d->name,	  p->num, p->link_layer, p->netdev,
			    p->rate_text, d->fw,  d->guid,	 d->accel};

	if (p->s_info != AM_SERIES_INVALID && strlen(p->rate_text) == n &&
	    memcmp(p->rate_text, rate, n) == 0)
		return;
	if (n >= sizeof p->rate_text)
		n = sizeof p->rate_text - 1;
	memcpy(p->rate_text, rate, n);
	p->rate_text[n] = '\0';
	am_series_retire(ctx, p->s_info);
	p->s_info = am_series(ctx, st->fam[IBF_INFO], il);
}

static void ib_poll_link(struct ib_state *st, struct am_ctx *ctx, struct ib_port *p)
{
	char buf[64];
	unsigned id;
	ssize_t n;

	n = am_file_read(p->state, buf, sizeof buf);
	if (n >= 0) {
		if (ib_parse_state(buf, (size_t)n, &id) == 0) {
			am_emit(ctx, p->s_state, id);
			am_emit(ctx, p->s_up, id == 4 ? 1 : 0);
		} else {
			am_file_fail(p->state, -EINVAL, "not a port state");
		}
	}
	n = am_file_read(p->phys, buf, sizeof buf);
	if (n >= 0) {
		if (ib_parse_state(buf, (size_t)n, &id) == 0)
			am_emit(ctx, p->s_phys, id);
		else
			am_file_fail(p->phys, -EINVAL, "not a port state");
	}
	n = am_file_read(p->rate, buf, sizeof buf);
	if (n >= 0) {
		double bps;
		unsigned lanes;

		if (ib_parse_rate(buf, (size_t)n, &bps, &lanes) == 0) {
			p->lanes = lanes;
			am_emit(ctx, p->s_speed, bps);
			if (lanes)
				am_emit(ctx, p->s_lanes, lanes);
			ib_port_info(st, ctx, p, buf, ib_trim(buf, (size_t)n));
		} else {
			am_file_fail(p->rate, -EINVAL, "not a link rate");
		}
	}
	if (p->s_info == AM_SERIES_INVALID)
		ib_port_info(st, ctx, p, "", 0);
	am_emit(ctx, p->s_info, 1);
}

static void ib_poll_port(struct ib_state *st, struct am_ctx *ctx, struct ib_port *p)
{
	if (!p->interned)
		ib_intern(st, ctx, p);
	/* The link speed first: it is the capacity of the utilization ratio
	 * computed when the byte counters arrive. */
	ib_poll_link(st, ctx, p);
	for (size_t i = 0; i < p->nfiles; i++) {
		struct ib_file *f = &p->files[i];
		uint64_t v;

		/* hw_counters/lifespan is a setting (the driver's cache time,
		 * written by an admin), not a measurement: read once per
		 * rescan, its value sent every poll. */
		if (f->c->fam == IBF_LIFESPAN && f->have && !st->reread_settings) {
			am_emit(ctx, f->sid, (double)f->last);
			continue;
		}
		if (am_file_read_u64(f->f, &v) < 0)
			continue;
		/* More bits than the counter has: the width assumed for this
		 * port is wrong or the read is; either way not a value. */
		if (f->bits < 64 && v > ((uint64_t)1 << f->bits) - 1) {
			am_file_fail(f->f, -ERANGE, "value wider than the counter");
			continue;
		}
		/* Counters go as exact integers (past 2^53 a double is not). */
		if (ib_fam_defs[f->c->fam].kind == AM_COUNTER) {
			am_emit_u64(ctx, f->sid, v);
		} else {
			f->last = v;
			f->have = true;
			am_emit(ctx, f->sid, (double)v);
		}
	}
}

static int ib_poll(struct am_ctx *ctx, void *state)
{
	struct ib_state *st = state;

	for (size_t i = 0; i < st->nports; i++)
		ib_poll_port(st, ctx, st->ports[i]);
	for (size_t i = 0; i < st->ndevs; i++)
		if (st->devs[i]->s_info != AM_SERIES_INVALID)
			am_emit(ctx, st->devs[i]->s_info, 1);
	st->reread_settings = false;
	return 0;
}

const struct am_collector infiniband_collector = {
    .abi_version = ACCELMON_COLLECTOR_ABI_VERSION,
    .size = sizeof(struct am_collector),
    .flags = 0,
    .name = "infiniband",
    .description = "InfiniBand and RoCE ports from /sys/class/infiniband",
    .options = ib_options,
    .once_polls = 2,
    .init = ib_init,
    .poll = ib_poll,
    .rescan = ib_rescan,
    .fini = ib_fini,
};
