/* pcap collector: who this node talks to. Captures headers (snaplen 128) on
 * the configured interfaces with libpcap, or replays a pcap/pcapng file,
 * parses each frame (collectors/pcap_parse.c) and exports bytes, packets,
 * RoCEv2 CNPs and ECN-CE per (peer, protocol, direction) for the top K peers,
 * the rest folded into peer="other"; plus capture drops and an info series
 * of this node's own addresses. Off until configured; docs: pcap.md.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <ifaddrs.h>
#include <math.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "accelmon/collector.h"
#include "accelmon/schema.h"
#include "accelmon/util.h"
#include "pcap_parse.h"

#define PC "pcap"
#define PC_MAX_IFS 16
#define PC_SNAPLEN 128		     /* every header of a RoCEv2 or TCP frame fits */
#define PC_BUFFER (16 * 1024 * 1024) /* kernel ring per handle */
#define PC_TIMEOUT_MS 100 /* TPACKET_V3 hands a block over at least this often */
/* pcap_dispatch rounds per poll on a live handle: each takes what the ring
 * holds, so this bounds a poll under a flood; the rest waits a poll. */
#define PC_MAX_ROUNDS 64
/* Half-life of the ranking score: top K means "most bytes lately". */
#define PC_HALFLIFE_S 30.0

/* The series of one exported peer (or of "other"), made when a counter first
 * has something to say, so an idle protocol adds no series. */
struct pc_series {
	am_series_t bytes[PP_NPROTO][PP_NDIR], pkts[PP_NPROTO][PP_NDIR];
	am_series_t cnp[PP_NDIR], ce[PP_NDIR];
};

struct pc_if {
	char name[IF_NAMESIZE + 64]; /* interface, or the file's base name */
	char path[4096];	     /* file replay */
	bool offline, eof, rdma;
	pcap_t *h;
	int linktype;
	struct pp_table t;
	/* sampled windows (RDMA devices) */
	bool capturing;
	int64_t win_end_ns, next_win_ns, capture_start_ns;
	uint64_t capture_ns; /* time spent capturing, all windows */
	/* 64-bit totals (pcap_stats deltas of every handle; a replay: records
	 * read), and the last pcap_stats reading of the current handle */
	uint64_t recv_acc, drop_acc, ifdrop_acc;
	struct pcap_stat st;
	/* a live handle that died (the interface went away): closed, reopened
	 * at a later poll with a back-off */
	bool dead;
	int64_t reopen_ns, reopen_backoff_ns;
	am_series_t s_recv, s_drop, s_ifdrop, s_capturing, s_capture_s;
	am_series_t s_skip[PP_NSKIP];
	struct pc_series other;
	int64_t last_fold_ns;
	struct pc *pc;
};

struct pc_info {
	char device[sizeof(((struct pc_if *)0)->name)];
	char address[64];
	am_series_t s;
	bool seen;
};

struct pc {
	struct am_ctx *ctx;
	const struct am_config *cfg;
	char filter[1024];
	char node[256];
	size_t top_k, max_peers;
	double window_s, every_s, linger_s;
	am_family_t f_bytes[PP_NDIR], f_pkts[PP_NDIR], f_cnp, f_ce, f_info;
	am_family_t f_recv, f_drop, f_skip, f_capturing, f_capture_s;
	struct pc_if ifs[PC_MAX_IFS];
	size_t nifs;
	struct pc_info info[64];
	size_t ninfo;
	bool warned_local; /* the local address set overflowed once */
};

static const struct am_option pc_options[] = {
    {"interfaces", AM_OPT_STRLIST,
     "interfaces to capture on (netdevs, or RDMA devices with a sample window)"},
    {"file", AM_OPT_STRING, "replay this pcap or pcapng file instead (offline)"},
    {"filter", AM_OPT_STRING, "BPF filter expression (pcap-filter(7))"},
    {"top_k", AM_OPT_INT,
     "peers exported by name; the rest are peer=\"other\" (default 64)", 1, 10000},
    {"max_peers", AM_OPT_INT, "peers tracked for the ranking (default 16 x top_k)", 1,
     1000000},
    {"local_addresses", AM_OPT_STRLIST,
     "this node's addresses besides its interfaces' (file replay: all of them)"},
    {"node", AM_OPT_STRING,
     "node label of fabric_peer_address_info (default: host name)"},
    {"sample_window", AM_OPT_DURATION,
     "capture this long in each window (required for RDMA devices)", 0, 86400},
    {"sample_every", AM_OPT_DURATION,
     "start a capture window this often (required for RDMA devices)", 0, 86400},
    {"linger", AM_OPT_DURATION,
     "a peer out of the top K keeps its series this long (default 5m)", 0, 86400},
    {NULL, 0, NULL},
};

/* An RDMA device (mlx5_0): capturing there sends the device's RoCE traffic
 * through a sniffer flow, which slows it. */
static bool pc_is_rdma_at(const char *sysfs, const char *name)
{
	char path[4096];
	struct stat st;

	snprintf(path, sizeof(path), "%s/class/infiniband/%s", sysfs, name);
	if (stat(path, &st) == 0)
		return true;
	return strncmp(name, "mlx", 3) == 0 && strchr(name, '_') && !strchr(name, '.');
}

static bool pc_is_rdma(struct am_ctx *ctx, const char *name)
{
	return pc_is_rdma_at(am_sysfs(ctx), name);
}

/* ---- live handles opened on the agent's main thread (pcap_preopen) ----
 * The agent opens the capture handles of its config before it drops
 * privileges and then drops CAP_NET_RAW too (unless an RDMA window needs
 * it: each window opens its handle); an instance takes its handles from
 * here, and gives them back at fini, so that a reload that keeps an
 * interface keeps its handle (no CAP_NET_RAW needed, no capture gap). */
#define PC_MAX_HELD 64
static struct pc_held {
	char name[IF_NAMESIZE];
	pcap_t *h;
	bool claimed, wanted;
	/* until pcap_preopen_done: opened by the latest pcap_preopen, and
	 * wanted as it was before it (a refused reload goes back) */
	bool fresh, was_wanted;
} pc_held[PC_MAX_HELD];
static size_t pc_nheld;
static pthread_mutex_t pc_held_lock = PTHREAD_MUTEX_INITIALIZER;

/* The privileged step: create and activate. NULL with *rc (a PCAP_ERROR_*)
 * and the words in err (or in *failed the handle that failed, for
 * pcap_geterr, which the caller closes). */
static pcap_t *pc_activate(const char *name, int *rc, char *err, pcap_t **failed)
{
	pcap_t *h = pcap_create(name, err);

	*failed = NULL;
	if (!h) {
		*rc = PCAP_ERROR;
		return NULL;
	}
	pcap_set_snaplen(h, PC_SNAPLEN);
	pcap_set_promisc(h, 0);
	/* immediate mode would make libpcap use the older per-packet ring */
	pcap_set_immediate_mode(h, 0);
	pcap_set_buffer_size(h, PC_BUFFER);
	pcap_set_timeout(h, PC_TIMEOUT_MS);
	*rc = pcap_activate(h);
	if (*rc < 0) {
		*failed = h;
		return NULL;
	}
	return h;
}

/* A handle pcap_preopen opened for NAME, now this caller's; or NULL. */
static pcap_t *pc_claim(const char *name)
{
	pcap_t *h = NULL;

	pthread_mutex_lock(&pc_held_lock);
	for (size_t k = 0; k < pc_nheld && !h; k++)
		if (!pc_held[k].claimed && !strcmp(pc_held[k].name, name)) {
			pc_held[k].claimed = true;
			h = pc_held[k].h;
		}
	pthread_mutex_unlock(&pc_held_lock);
	return h;
}

static void pc_held_remove(size_t k)
{
	pcap_close(pc_held[k].h);
	pc_held[k] = pc_held[--pc_nheld];
}

/* Done with h: a held handle the latest config still wants goes back (open,
 * for the next instance); any other is closed. broken: closed whatever. */
static void pc_release(pcap_t *h, bool broken)
{
	pthread_mutex_lock(&pc_held_lock);
	for (size_t k = 0; k < pc_nheld; k++)
		if (pc_held[k].h == h) {
			if (pc_held[k].wanted && !broken)
				pc_held[k].claimed = false;
			else
				pc_held_remove(k);
			pthread_mutex_unlock(&pc_held_lock);
			return;
		}
	pthread_mutex_unlock(&pc_held_lock);
	pcap_close(h);
}

int pcap_preopen(size_t n, const char *const *names,
		 const struct am_config *const *cfgs, const char *sysfs,
		 bool raw_dropped, bool *keep_raw, char *err, size_t errlen);
void pcap_preopen_done(bool keep);

int pcap_preopen(size_t n, const char *const *names,
		 const struct am_config *const *cfgs, const char *sysfs,
		 bool raw_dropped, bool *keep_raw, char *err, size_t errlen)
{
	bool want[PC_MAX_HELD] = {false};
	size_t start;

	*keep_raw = false;
	pthread_mutex_lock(&pc_held_lock);
	start = pc_nheld;
	for (size_t i = 0; i < n; i++) {
		size_t nif = am_cfg_list_len(cfgs[i], "interfaces");

		for (size_t j = 0; j < nif; j++) {
			const char *name = am_cfg_list_at(cfgs[i], "interfaces", j);
			char perr[PCAP_ERRBUF_SIZE] = "";
			pcap_t *h, *failed;
			size_t k;
			int rc;

			if (!name || !*name || strlen(name) >= IF_NAMESIZE)
				continue; /* the instance's init says what is wrong */
			if (pc_is_rdma_at(sysfs, name)) {
				/* each sampled window opens a handle */
				*keep_raw = true;
				if (raw_dropped)
					goto dropped;
				continue;
			}
			for (k = 0; k < pc_nheld && strcmp(pc_held[k].name, name); k++)
				;
			if (k < pc_nheld) {
				want[k] = true;
				continue;
			}
			if (pc_nheld == PC_MAX_HELD)
				continue;
			h = pc_activate(name, &rc, perr, &failed);
			if (failed)
				pcap_close(failed);
			if (!h) {
				/* A missing device, or no CAP_NET_RAW before any was
				 * dropped: the instance's init says so (collector down). */
				if (raw_dropped && rc != PCAP_ERROR_NO_SUCH_DEVICE)
					goto dropped;
				continue;
			}
			k = pc_nheld++;
			snprintf(pc_held[k].name, sizeof(pc_held[k].name), "%s", name);
			pc_held[k].h = h;
			pc_held[k].claimed = false;
			pc_held[k].wanted = false;
			pc_held[k].fresh = true;
			want[k] = true;
			continue;
		dropped:
			snprintf(err, errlen,
				 "collectors.%s: interfaces: %s: a new capture "
				 "interface needs a restart: CAP_NET_RAW was dropped",
				 names[i], name);
			while (pc_nheld > start)
				pc_held_remove(pc_nheld - 1);
			pthread_mutex_unlock(&pc_held_lock);
			return -EPERM;
		}
	}
	/* What the config no longer names is closed at pcap_preopen_done, or
	 * at the release by the running instance. */
	for (size_t k = 0; k < pc_nheld; k++) {
		pc_held[k].was_wanted = pc_held[k].wanted;
		pc_held[k].wanted = want[k];
	}
	pthread_mutex_unlock(&pc_held_lock);
	return 0;
}

/* After a pcap_preopen that returned 0: keep, the config it was given is
 * taken (what it no longer names and no instance holds is closed); else it
 * was refused, and the handles opened for it are closed, the wanted flags
 * back as they were. */
void pcap_preopen_done(bool keep)
{
	pthread_mutex_lock(&pc_held_lock);
	for (size_t k = pc_nheld; k-- > 0;) {
		if (!keep)
			pc_held[k].wanted = pc_held[k].was_wanted;
		if ((!keep && pc_held[k].fresh) || (!pc_held[k].wanted && !pc_held[k].claimed))
			pc_held_remove(k);
		else
			pc_held[k].fresh = false;
	}
	pthread_mutex_unlock(&pc_held_lock);
}

/* A captured netdev stacked on another captured one (a VLAN on its parent,
 * a bridge or bond on a port: sysfs class/net/UPPER/lower_LOWER) sees the
 * same frames twice. Said with am_found; -EINVAL. */
static int pc_stacked(struct pc *pc)
{
	for (size_t i = 0; i < pc->nifs; i++)
		for (size_t j = 0; j < pc->nifs; j++) {
			char path[4096];
			struct stat st;

			if (i == j || pc->ifs[i].offline || pc->ifs[j].offline)
				continue;
			snprintf(path, sizeof(path), "%s/class/net/%s/lower_%s",
				 am_sysfs(pc->ctx), pc->ifs[i].name, pc->ifs[j].name);
			if (stat(path, &st) == 0) {
				am_found(
				    pc->ctx,
				    "%s is stacked on %s (VLAN, bridge or bond): "
				    "capturing both counts its traffic twice; capture "
				    "one of them",
				    pc->ifs[i].name, pc->ifs[j].name);
				return -EINVAL;
			}
		}
	return 0;
}

/* Take the live handle opened on main (pcap_preopen), or open and activate
 * it: the privileged step (CAP_NET_RAW), which after the agent dropped it
 * only an RDMA window does (pcap.md). 0, or a negative errno with am_found
 * saying what and why. */
static int pc_open_live(struct pc *pc, struct pc_if *ifp)
{
	char err[PCAP_ERRBUF_SIZE] = "";
	struct bpf_program prog;
	pcap_t *h, *failed = NULL;
	bool claimed = false;
	int rc = 0;

	am_call_begin(pc->ctx, "pcap_activate");
	if (!ifp->rdma && (h = pc_claim(ifp->name)) != NULL)
		claimed = true;
	else
		h = pc_activate(ifp->name, &rc, err, &failed);
	am_call_end(pc->ctx);
	if (!h && !failed) {
		am_found(pc->ctx, "%s: %s", ifp->name, err);
		return -EIO;
	}
	if (!h) {
		int e = -EIO;

		h = failed;
		if (rc == PCAP_ERROR_PERM_DENIED) {
			am_found(pc->ctx,
				 "cannot capture on %s: permission denied (needs "
				 "CAP_NET_RAW; the pcap collector is off)",
				 ifp->name);
			e = -EPERM;
		} else if (rc == PCAP_ERROR_NO_SUCH_DEVICE) {
			am_found(pc->ctx, "cannot capture on %s: no such device%s",
				 ifp->name,
				 ifp->rdma ? " (or this libpcap was built without RDMA "
					     "capture)"
					   : "");
			e = -ENOENT;
		} else
			am_found(pc->ctx, "cannot capture on %s: %s", ifp->name,
				 pcap_geterr(h));
		pcap_close(h);
		return e;
	}
	if (rc > 0)
		am_log(pc->ctx, AM_LOG_WARN, "%s: %s", ifp->name, pcap_statustostr(rc));
	if (pcap_setnonblock(h, 1, err) < 0) {
		am_found(pc->ctx, "%s: non-blocking mode: %s", ifp->name, err);
		pc_release(h, false);
		return -EIO;
	}
	ifp->linktype = pcap_datalink(h);
	if (!pp_linktype_ok(ifp->linktype)) {
		am_found(pc->ctx, "%s: link type %d (%s) is not one the parser reads",
			 ifp->name, ifp->linktype,
			 pcap_datalink_val_to_name(ifp->linktype));
		pc_release(h, false);
		return -EINVAL;
	}
	/* a held handle may carry the filter of the config before a reload */
	if (pc->filter[0] || claimed) {
		if (pcap_compile(h, &prog, pc->filter, 1, PCAP_NETMASK_UNKNOWN) < 0 ||
		    pcap_setfilter(h, &prog) < 0) {
			am_found(pc->ctx, "filter \"%s\": %s", pc->filter,
				 pcap_geterr(h));
			pc_release(h, false);
			return -EINVAL;
		}
		pcap_freecode(&prog);
	}
	ifp->h = h;
	memset(&ifp->st, 0, sizeof(ifp->st));
	return 0;
}

static int pc_open_file(struct pc *pc, struct pc_if *ifp)
{
	char err[PCAP_ERRBUF_SIZE] = "";
	struct bpf_program prog;

	ifp->h = pcap_open_offline(ifp->path, err);
	if (!ifp->h) {
		am_found(pc->ctx, "file %s: %s", ifp->path, err);
		return -EINVAL;
	}
	ifp->linktype = pcap_datalink(ifp->h);
	if (!pp_linktype_ok(ifp->linktype)) {
		am_found(
		    pc->ctx, "file %s: link type %d (%s) is not one the parser reads",
		    ifp->path, ifp->linktype, pcap_datalink_val_to_name(ifp->linktype));
		return -EINVAL;
	}
	if (pc->filter[0]) {
		if (pcap_compile(ifp->h, &prog, pc->filter, 1, PCAP_NETMASK_UNKNOWN) <
			0 ||
		    pcap_setfilter(ifp->h, &prog) < 0) {
			am_found(pc->ctx, "filter \"%s\": %s", pc->filter,
				 pcap_geterr(ifp->h));
			return -EINVAL;
		}
		pcap_freecode(&prog);
	}
	return 0;
}

/* pcap_stats of a live handle into 64-bit totals: its fields are 32-bit
 * counters that wrap, so the difference from the last reading (modulo 2^32)
 * is added; the totals never go backwards. -1 when the handle cannot say. */
static int pc_stats(struct pc_if *ifp)
{
	struct pcap_stat now;

	if (pcap_stats(ifp->h, &now) < 0)
		return -1;
	ifp->recv_acc += (uint32_t)(now.ps_recv - ifp->st.ps_recv);
	ifp->drop_acc += (uint32_t)(now.ps_drop - ifp->st.ps_drop);
	ifp->ifdrop_acc += (uint32_t)(now.ps_ifdrop - ifp->st.ps_ifdrop);
	ifp->st = now;
	return 0;
}

/* Close a live handle, keeping its statistics for the counters (the last
 * ones read when the handle can no longer say). */
static void pc_close(struct pc_if *ifp, bool broken)
{
	if (!ifp->h)
		return;
	if (!ifp->offline)
		pc_stats(ifp);
	memset(&ifp->st, 0, sizeof(ifp->st));
	if (ifp->offline)
		pcap_close(ifp->h);
	else
		pc_release(ifp->h, broken);
	ifp->h = NULL;
}

static void pc_packet(u_char *user, const struct pcap_pkthdr *hdr, const u_char *bytes)
{
	struct pc_if *ifp = (struct pc_if *)user;

	/* a replay's "received" is the records read, also those before a
	 * truncated file's error (pcap_dispatch then returns -1, not a count) */
	if (ifp->offline)
		ifp->recv_acc++;
	pp_frame(&ifp->t, ifp->linktype, bytes, hdr->caplen, hdr->len);
}

/* ---- this node's addresses ---- */

static void pc_info_add(struct pc *pc, const char *device, const struct pp_addr *a)
{
	char text[64];

	pp_addr_text(a, text, sizeof(text));
	for (size_t i = 0; i < pc->ninfo; i++)
		if (strcmp(pc->info[i].device, device) == 0 &&
		    strcmp(pc->info[i].address, text) == 0) {
			pc->info[i].seen = true;
			return;
		}
	if (pc->ninfo == sizeof(pc->info) / sizeof(pc->info[0]))
		return;
	struct pc_info *in = &pc->info[pc->ninfo++];
	const char *lv[3] = {device, text, pc->node};

	snprintf(in->device, sizeof(in->device), "%s", device);
	snprintf(in->address, sizeof(in->address), "%s", text);
	in->s = am_series(pc->ctx, pc->f_info, lv);
	in->seen = true;
}

static bool pc_loopback(const struct pp_addr *a)
{
	static const uint8_t v6lo[16] = {[15] = 1};

	return a->af == 4 ? a->a[0] == 127 : memcmp(a->a, v6lo, 16) == 0;
}

/* The netdev an address belongs to is "ours" for an interface when it is
 * the interface itself, or the netdev of an RDMA device (sysfs
 * class/infiniband/X/device/net/NETDEV). */
static bool pc_if_owns(struct pc *pc, const struct pc_if *ifp, const char *netdev)
{
	char path[4096];
	struct stat st;

	if (strcmp(ifp->name, netdev) == 0)
		return true;
	if (!ifp->rdma)
		return false;
	snprintf(path, sizeof(path), "%s/class/infiniband/%s/device/net/%s",
		 am_sysfs(pc->ctx), ifp->name, netdev);
	return stat(path, &st) == 0;
}

/* One local address into an interface's table; said once when the set is
 * full (the addresses past PP_MAX_LOCAL decide no direction). */
static void pc_add_local(struct pc *pc, struct pc_if *ifp, const struct pp_addr *a)
{
	int rc = pp_table_add_local(&ifp->t, a);

	if (rc < 0 && !pc->warned_local) {
		pc->warned_local = true;
		am_log(
		    pc->ctx, AM_LOG_WARN,
		    "%s: local addresses past %zu left out (%s): traffic to them counts "
		    "as not_local",
		    ifp->name, ifp->t.max_local, strerror(-rc));
	}
}

/* Local addresses (direction) from getifaddrs and local_addresses; info
 * series for those of captured interfaces; info series of addresses gone
 * since the last call are retired. */
static int pc_addresses(struct pc *pc)
{
	struct ifaddrs *ifa = NULL;
	size_t n = am_cfg_list_len(pc->cfg, "local_addresses");

	for (size_t i = 0; i < pc->ninfo; i++)
		pc->info[i].seen = false;
	for (size_t k = 0; k < pc->nifs; k++)
		pp_table_clear_local(&pc->ifs[k].t);
	for (size_t i = 0; i < n; i++) {
		struct pp_addr a;
		const char *s = am_cfg_list_at(pc->cfg, "local_addresses", i);

		if (pp_addr_parse(s, &a) < 0) {
			am_found(pc->ctx,
				 "local_addresses: \"%s\" is not an IPv4 or IPv6 address",
				 s);
			return -EINVAL;
		}
		for (size_t k = 0; k < pc->nifs; k++) {
			pc_add_local(pc, &pc->ifs[k], &a);
			if (!pc_loopback(&a))
				pc_info_add(pc, pc->ifs[k].name, &a);
		}
	}
	if (!pc->ifs[0].offline) {
		if (getifaddrs(&ifa) < 0) {
			int rc = -errno;

			am_log(pc->ctx, AM_LOG_ERROR, "getifaddrs: %s", strerror(-rc));
			return rc;
		}
		/* two passes: the captured interfaces' own addresses first, so
		 * that they are never the ones left out past the bound */
		for (int pass = 0; pass < 2; pass++)
			for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
				struct pp_addr a = {0};

				if (!i->ifa_addr)
					continue;
				if (i->ifa_addr->sa_family == AF_INET) {
					a.af = 4;
					memcpy(
					    a.a,
					    &((struct sockaddr_in *)(void *)i->ifa_addr)
						 ->sin_addr,
					    4);
				} else if (i->ifa_addr->sa_family == AF_INET6) {
					a.af = 6;
					memcpy(
					    a.a,
					    &((struct sockaddr_in6 *)(void *)i->ifa_addr)
						 ->sin6_addr,
					    16);
				} else
					continue;
				for (size_t k = 0; k < pc->nifs; k++) {
					bool own =
					    pc_if_owns(pc, &pc->ifs[k], i->ifa_name);

					if (own != (pass == 0))
						continue;
					/* every address of the host decides direction */
					pc_add_local(pc, &pc->ifs[k], &a);
					if (own && !pc_loopback(&a))
						pc_info_add(pc, pc->ifs[k].name, &a);
				}
			}
		freeifaddrs(ifa);
	}
	for (size_t i = 0; i < pc->ninfo;) {
		if (pc->info[i].seen) {
			i++;
			continue;
		}
		am_series_release(pc->ctx, pc->info[i].s);
		pc->info[i] = pc->info[--pc->ninfo];
	}
	return 0;
}

/* ---- series ---- */

static void pc_series_init(struct pc_series *s)
{
	for (int p = 0; p < PP_NPROTO; p++)
		for (int d = 0; d < PP_NDIR; d++)
			s->bytes[p][d] = s->pkts[p][d] = AM_SERIES_INVALID;
	for (int d = 0; d < PP_NDIR; d++)
		s->cnp[d] = s->ce[d] = AM_SERIES_INVALID;
}

static void pc_retire1(struct am_ctx *ctx, am_series_t *s)
{
	if (*s != AM_SERIES_INVALID)
		am_series_release(ctx, *s);
	*s = AM_SERIES_INVALID;
}

static void pc_series_retire(struct am_ctx *ctx, struct pc_series *s)
{
	for (int p = 0; p < PP_NPROTO; p++)
		for (int d = 0; d < PP_NDIR; d++) {
			pc_retire1(ctx, &s->bytes[p][d]);
			pc_retire1(ctx, &s->pkts[p][d]);
		}
	for (int d = 0; d < PP_NDIR; d++) {
		pc_retire1(ctx, &s->cnp[d]);
		pc_retire1(ctx, &s->ce[d]);
	}
}

/* Emit v on *s, interning it first when v has become nonzero. */
static void pc_emit(struct pc *pc, am_series_t *s, am_family_t fam, const char *const *lv,
		    uint64_t v)
{
	if (*s == AM_SERIES_INVALID) {
		if (v == 0)
			return;
		*s = am_series(pc->ctx, fam, lv);
		if (*s == AM_SERIES_INVALID)
			return;
	}
	am_emit_u64(pc->ctx, *s, v);
}

/* Whether some counter of the peer needs its series interned now (has a
 * value, no series): only then is the peer's address formatted. */
static bool pc_needs_intern(const struct pc_series *s, const struct pp_counts *c)
{
	for (int d = 0; d < PP_NDIR; d++) {
		for (int p = 0; p < PP_NPROTO; p++)
			if ((s->bytes[p][d] == AM_SERIES_INVALID && c->f[p][d].bytes) ||
			    (s->pkts[p][d] == AM_SERIES_INVALID && c->f[p][d].pkts))
				return true;
		if ((s->cnp[d] == AM_SERIES_INVALID && c->cnp[d]) ||
		    (s->ce[d] == AM_SERIES_INVALID && c->ecn_ce[d]))
			return true;
	}
	return false;
}

static void pc_emit_peer(struct pc *pc, struct pc_if *ifp, const char *peer,
			 struct pc_series *s, const struct pp_counts *c)
{
	for (int d = 0; d < PP_NDIR; d++) {
		const char *dl[3] = {ifp->name, peer, pp_dir_name(d)};

		for (int p = 0; p < PP_NPROTO; p++) {
			const char *lv[3] = {ifp->name, peer, pp_proto_name(p)};

			pc_emit(pc, &s->bytes[p][d], pc->f_bytes[d], lv,
				c->f[p][d].bytes);
			pc_emit(pc, &s->pkts[p][d], pc->f_pkts[d], lv, c->f[p][d].pkts);
		}
		pc_emit(pc, &s->cnp[d], pc->f_cnp, dl, c->cnp[d]);
		pc_emit(pc, &s->ce[d], pc->f_ce, dl, c->ecn_ce[d]);
	}
}

/* A table entry leaves (idle): its series, if any, go. */
static void pc_on_drop(struct pp_peer *p, void *arg)
{
	struct pc_if *ifp = arg;

	if (p->user) {
		pc_series_retire(ifp->pc->ctx, p->user);
		free(p->user);
		p->user = NULL;
	}
}

/* Fold and export one interface's counters. */
static void pc_export(struct pc *pc, struct pc_if *ifp)
{
	int64_t now = am_poll_time_ns(pc->ctx);
	double dt = ifp->last_fold_ns ? (double)(now - ifp->last_fold_ns) / 1e9 : 0;
	double linger =
	    pc->linger_s / (am_interval_s(pc->ctx) > 0 ? am_interval_s(pc->ctx) : 1);
	char text[64];

	ifp->last_fold_ns = now;
	pp_fold(&ifp->t, dt > 0 ? pow(0.5, dt / PC_HALFLIFE_S) : 1.0,
		(uint64_t)ceil(linger > 1 ? linger : 1));
	for (size_t i = 0; i < ifp->t.cap; i++) {
		struct pp_peer *p = &ifp->t.slot[i];

		if (!p->used)
			continue;
		if (!p->exported) {
			pc_on_drop(p, ifp);
			continue;
		}
		if (!p->user) {
			p->user = malloc(sizeof(struct pc_series));
			if (!p->user)
				continue; /* its bytes stay in exp; tried again */
			pc_series_init(p->user);
		}
		/* formatted only when a series is made: a steady poll formats and
		 * allocates nothing */
		pc_emit_peer(pc, ifp,
			     pc_needs_intern(p->user, &p->exp)
				 ? pp_addr_text(&p->addr, text, sizeof(text))
				 : "",
			     p->user, &p->exp);
	}
	pc_emit_peer(pc, ifp, "other", &ifp->other, &ifp->t.other.exp);
	for (int s = 1; s < PP_NSKIP; s++)
		am_emit_u64(pc->ctx, ifp->s_skip[s], ifp->t.skipped[s]);
}

/* ---- init, poll, fini ---- */

static void pc_fini(struct am_ctx *ctx, void *state);

static int pc_add_if(struct pc *pc, const char *name, const char *path)
{
	struct pc_if *ifp;
	const char *base;

	if (pc->nifs == PC_MAX_IFS) {
		am_found(pc->ctx, "interfaces: more than %d", PC_MAX_IFS);
		return -EINVAL;
	}
	ifp = &pc->ifs[pc->nifs++];
	ifp->pc = pc;
	pc_series_init(&ifp->other);
	if (path) {
		base = strrchr(path, '/');
		snprintf(ifp->name, sizeof(ifp->name), "%s", base ? base + 1 : path);
		snprintf(ifp->path, sizeof(ifp->path), "%s", path);
		ifp->offline = true;
	} else {
		if (!*name || strlen(name) >= IF_NAMESIZE) {
			am_found(pc->ctx, "interfaces: \"%s\" is not an interface name",
				 name);
			return -EINVAL;
		}
		snprintf(ifp->name, sizeof(ifp->name), "%s", name);
		ifp->rdma = pc_is_rdma(pc->ctx, name);
	}
	if (pp_table_init(&ifp->t, pc->top_k, pc->max_peers) < 0)
		return -ENOMEM;
	ifp->t.on_drop = pc_on_drop;
	ifp->t.on_drop_arg = ifp;
	return 0;
}

static void pc_families(struct pc *pc)
{
	struct am_ctx *ctx = pc->ctx;

	pc->f_bytes[PP_TX] = am_std_family(ctx, AM_STD_PEER_TRANSMIT_BYTES, NULL);
	pc->f_bytes[PP_RX] = am_std_family(ctx, AM_STD_PEER_RECEIVE_BYTES, NULL);
	pc->f_pkts[PP_TX] = am_std_family(ctx, AM_STD_PEER_TRANSMIT_PACKETS, NULL);
	pc->f_pkts[PP_RX] = am_std_family(ctx, AM_STD_PEER_RECEIVE_PACKETS, NULL);
	pc->f_cnp = am_std_family(ctx, AM_STD_PEER_CNP_PACKETS, NULL);
	pc->f_ce = am_std_family(ctx, AM_STD_PEER_ECN_CE_PACKETS, NULL);
	pc->f_info = am_std_family(ctx, AM_STD_PEER_ADDRESS_INFO, NULL);
	pc->f_recv = am_family(
	    ctx,
	    &(struct am_family_def){
		.name = "fabric_pcap_received_packets_total",
		.help = "Packets the capture handle received (pcap_stats ps_recv; a file "
			"replay: the records read that passed the filter).",
		.kind = AM_COUNTER,
		.labels = {"device"}});
	pc->f_drop = am_family(
	    ctx,
	    &(struct am_family_def){
		.name = "fabric_pcap_dropped_packets_total",
		.help = "Packets the capture lost, by where: kernel (no room in the "
			"capture buffer, pcap_stats ps_drop) or interface (ps_ifdrop). "
			"Per-peer counts miss exactly these.",
		.kind = AM_COUNTER,
		.labels = {"device", "reason"}});
	pc->f_skip = am_family(
	    ctx, &(struct am_family_def){
		     .name = "fabric_pcap_unattributed_packets_total",
		     .help = "Captured frames counted toward no peer, by reason (not_ip, "
			     "truncated, malformed, not_local: neither address is this "
			     "node's, link_type).",
		     .kind = AM_COUNTER,
		     .labels = {"device", "reason"}});
	pc->f_capturing = am_family(
	    ctx, &(struct am_family_def){
		     .name = "fabric_pcap_capturing",
		     .help = "1 while a capture is running on the device (RDMA devices "
			     "capture in sampled windows), else 0.",
		     .kind = AM_GAUGE,
		     .labels = {"device"}});
	pc->f_capture_s = am_family(
	    ctx, &(struct am_family_def){
		     .name = "fabric_pcap_capture_seconds_total",
		     .help = "Seconds the device was captured (divide peer byte rates by "
			     "its rate to scale sampled windows up).",
		     .kind = AM_COUNTER,
		     .unit = "seconds",
		     .labels = {"device"},
		     .scale = 1e-9});
}

static int pc_init(struct am_ctx *ctx, const struct am_config *cfg, void **state)
{
	struct pc *pc = calloc(1, sizeof(*pc));
	const char *file = am_cfg_string(cfg, "file", NULL);
	size_t nif = am_cfg_list_len(cfg, "interfaces");
	int rc = 0;

	if (!pc)
		return -ENOMEM;
	pc->ctx = ctx;
	pc->cfg = cfg;
	snprintf(pc->filter, sizeof(pc->filter), "%s", am_cfg_string(cfg, "filter", ""));
	pc->top_k = (size_t)am_cfg_int(cfg, "top_k", 64);
	pc->max_peers = (size_t)am_cfg_int(cfg, "max_peers", (long long)pc->top_k * 16);
	pc->window_s = am_cfg_duration(cfg, "sample_window", 0);
	pc->every_s = am_cfg_duration(cfg, "sample_every", 0);
	pc->linger_s = am_cfg_duration(cfg, "linger", 300);
	if (gethostname(pc->node, sizeof(pc->node) - 1) < 0)
		snprintf(pc->node, sizeof(pc->node), "unknown");
	snprintf(pc->node, sizeof(pc->node), "%s", am_cfg_string(cfg, "node", pc->node));
	if ((file && nif) || (!file && !nif)) {
		am_found(ctx, file ? "file and interfaces exclude each other"
				   : "nothing to capture: set interfaces (or file)");
		rc = -EINVAL;
		goto out;
	}
	if (file && am_cfg_list_len(cfg, "local_addresses") == 0) {
		am_found(ctx,
			 "file %s: set local_addresses (this node's addresses in the "
			 "capture), which tell transmit from receive",
			 file);
		rc = -EINVAL;
		goto out;
	}
	pc_families(pc);
	if (file)
		rc = pc_add_if(pc, NULL, file);
	for (size_t i = 0; rc == 0 && i < nif; i++)
		rc = pc_add_if(pc, am_cfg_list_at(cfg, "interfaces", i), NULL);
	if (rc == 0)
		rc = pc_stacked(pc);
	for (size_t i = 0; rc == 0 && i < pc->nifs; i++) {
		struct pc_if *ifp = &pc->ifs[i];
		const char *lv[2] = {ifp->name, NULL};

		if (ifp->rdma && (pc->window_s <= 0 || pc->every_s <= pc->window_s)) {
			am_found(ctx,
				 "%s is an RDMA device: a capture there slows its RoCE "
				 "traffic, so it needs a sampled window (sample_window "
				 "shorter than sample_every, e.g. 10s every 10m)",
				 ifp->name);
			rc = -EINVAL;
			break;
		}
		rc = ifp->offline ? pc_open_file(pc, ifp) : pc_open_live(pc, ifp);
		if (rc < 0)
			break;
		ifp->capturing = true;
		ifp->capture_start_ns = am_poll_time_ns(ctx);
		if (ifp->rdma)
			ifp->win_end_ns =
			    ifp->capture_start_ns + (int64_t)(pc->window_s * 1e9);
		ifp->s_recv = am_series(ctx, pc->f_recv, lv);
		ifp->s_capturing = am_series(ctx, pc->f_capturing, lv);
		ifp->s_capture_s = am_series(ctx, pc->f_capture_s, lv);
		{
			const char *dv[2][2] = {{ifp->name, "kernel"},
						{ifp->name, "interface"}};

			ifp->s_drop = am_series(ctx, pc->f_drop, dv[0]);
			ifp->s_ifdrop = am_series(ctx, pc->f_drop, dv[1]);
		}
		for (int s = 1; s < PP_NSKIP; s++) {
			const char *sv[2] = {ifp->name, pp_skip_name(s)};

			ifp->s_skip[s] = am_series(ctx, pc->f_skip, sv);
		}
	}
	if (rc == 0)
		rc = pc_addresses(pc);
out:
	if (rc < 0) {
		pc_fini(ctx, pc);
		return rc;
	}
	if (file)
		am_found(ctx, "replaying %s (top %zu peers, %zu local address%s)", file,
			 pc->top_k, pc->ifs[0].t.nlocal,
			 pc->ifs[0].t.nlocal == 1 ? "" : "es");
	else
		am_found(ctx, "capturing on %zu interface%s (top %zu peers%s%s)",
			 pc->nifs, pc->nifs == 1 ? "" : "s", pc->top_k,
			 pc->filter[0] ? ", filter " : "", pc->filter);
	*state = pc;
	return 0;
}

/* Start or end a sampled window (RDMA devices). */
static void pc_window(struct pc *pc, struct pc_if *ifp, int64_t now)
{
	if (ifp->capturing && now >= ifp->win_end_ns) {
		if (ifp->h) {
			am_call_begin(pc->ctx, "pcap_dispatch");
			/* what the window caught, bounded as a poll is */
			for (int r = 0; r < PC_MAX_ROUNDS; r++)
				if (pcap_dispatch(ifp->h, -1, pc_packet, (u_char *)ifp) <=
				    0)
					break;
			am_call_end(pc->ctx);
		}
		pc_close(ifp, true);
		ifp->capture_ns += (uint64_t)(now - ifp->capture_start_ns);
		ifp->capturing = false;
		if (!ifp->next_win_ns)
			ifp->next_win_ns =
			    ifp->capture_start_ns + (int64_t)(pc->every_s * 1e9);
	} else if (!ifp->capturing && now >= ifp->next_win_ns) {
		/* Needs CAP_NET_RAW, which the agent keeps for RDMA (pcap.md). */
		if (pc_open_live(pc, ifp) < 0) {
			am_log(pc->ctx, AM_LOG_WARN, "%s: window not captured: %s",
			       ifp->name, "cannot reopen the capture");
			am_read_error(pc->ctx);
		} else {
			ifp->capturing = true;
			ifp->capture_start_ns = now;
			ifp->win_end_ns = now + (int64_t)(pc->window_s * 1e9);
		}
		ifp->next_win_ns += (int64_t)(pc->every_s * 1e9);
		if (ifp->next_win_ns <= now) /* keep the phase after a long stall */
			ifp->next_win_ns = now + (int64_t)(pc->every_s * 1e9);
	}
}

/* Back-off of the reopening of a dead handle: 1 s doubling to 60 s. */
#define PC_REOPEN_MIN_NS 1000000000LL
#define PC_REOPEN_MAX_NS 60000000000LL

/* A live handle that failed (PCAP_ERROR: "The interface disappeared"):
 * closed, its statistics kept, capturing 0 until it reopens. */
static void pc_dead(struct pc *pc, struct pc_if *ifp, int64_t now)
{
	am_log(pc->ctx, AM_LOG_WARN, "%s: capture failed (%s); reopening it", ifp->name,
	       pcap_geterr(ifp->h));
	am_read_error(pc->ctx);
	pc_close(ifp, true);
	ifp->capture_ns += (uint64_t)(now - ifp->capture_start_ns);
	ifp->capturing = false;
	ifp->dead = true;
	ifp->reopen_backoff_ns = PC_REOPEN_MIN_NS;
	ifp->reopen_ns = now + ifp->reopen_backoff_ns;
}

/* Reopen a dead handle when its back-off is over (needs CAP_NET_RAW, which
 * an agent that dropped it lacks: then it stays down until a restart). */
static void pc_reopen(struct pc *pc, struct pc_if *ifp, int64_t now)
{
	if (now < ifp->reopen_ns)
		return;
	if (pc_open_live(pc, ifp) < 0) {
		ifp->reopen_backoff_ns *= 2;
		if (ifp->reopen_backoff_ns > PC_REOPEN_MAX_NS)
			ifp->reopen_backoff_ns = PC_REOPEN_MAX_NS;
		ifp->reopen_ns = now + ifp->reopen_backoff_ns;
		return;
	}
	am_log(pc->ctx, AM_LOG_INFO, "%s: capturing again", ifp->name);
	ifp->dead = false;
	ifp->capturing = true;
	ifp->capture_start_ns = now;
}

static void pc_poll_if(struct pc *pc, struct pc_if *ifp)
{
	int64_t now = am_poll_time_ns(pc->ctx);
	uint64_t cap_ns;
	int n = 0;

	if (ifp->rdma)
		pc_window(pc, ifp, now);
	else if (ifp->dead)
		pc_reopen(pc, ifp, now);
	cap_ns = ifp->capture_ns;
	if (ifp->h && !ifp->eof) {
		am_call_begin(pc->ctx, "pcap_dispatch");
		if (ifp->offline) {
			/* the whole file at the first poll: --once prints it all */
			n = pcap_dispatch(ifp->h, -1, pc_packet, (u_char *)ifp);
			ifp->eof = true;
		} else {
			for (int r = 0; r < PC_MAX_ROUNDS; r++)
				if ((n = pcap_dispatch(ifp->h, -1, pc_packet,
						       (u_char *)ifp)) <= 0)
					break;
		}
		am_call_end(pc->ctx);
		if (n == PCAP_ERROR && !ifp->offline && !ifp->rdma) {
			pc_dead(pc, ifp, now);
		} else if (n < 0) {
			/* a truncated file ends here: what came before counts */
			am_log(pc->ctx, AM_LOG_WARN, "%s: %s", ifp->name,
			       pcap_geterr(ifp->h));
			am_read_error(pc->ctx);
		}
		if (ifp->h && !ifp->offline && pc_stats(ifp) < 0) {
			am_log(pc->ctx, AM_LOG_WARN, "%s: pcap_stats: %s", ifp->name,
			       pcap_geterr(ifp->h));
			am_read_error(pc->ctx);
		}
	}
	if (ifp->capturing && !ifp->offline)
		cap_ns += (uint64_t)(now - ifp->capture_start_ns);
	pc_export(pc, ifp);
	/* a replay reads every record (received: the records read, after
	 * the filter) and drops none */
	am_emit_u64(pc->ctx, ifp->s_recv, ifp->recv_acc);
	am_emit_u64(pc->ctx, ifp->s_drop, ifp->drop_acc);
	am_emit_u64(pc->ctx, ifp->s_ifdrop, ifp->ifdrop_acc);
	if (!ifp->offline)
		am_emit_u64(pc->ctx, ifp->s_capture_s, cap_ns);
	am_emit(pc->ctx, ifp->s_capturing, ifp->capturing && !ifp->eof);
}

static int pc_poll(struct am_ctx *ctx, void *state)
{
	struct pc *pc = state;

	(void)ctx;
	for (size_t i = 0; i < pc->nifs; i++)
		pc_poll_if(pc, &pc->ifs[i]);
	for (size_t i = 0; i < pc->ninfo; i++)
		am_emit(pc->ctx, pc->info[i].s, 1);
	return 0;
}

/* Addresses change (DHCP, a new VF): read them again. */
static int pc_rescan(struct am_ctx *ctx, void *state)
{
	struct pc *pc = state;

	(void)ctx;
	return pc->ifs[0].offline ? 0 : pc_addresses(pc);
}

static void pc_fini(struct am_ctx *ctx, void *state)
{
	struct pc *pc = state;

	(void)ctx;
	if (!pc)
		return;
	for (size_t i = 0; i < pc->nifs; i++) {
		struct pc_if *ifp = &pc->ifs[i];

		if (ifp->h && ifp->offline)
			pcap_close(ifp->h);
		else if (ifp->h)
			pc_release(ifp->h, false); /* held: open for the next instance */
		for (size_t k = 0; ifp->t.slot && k < ifp->t.cap; k++)
			free(ifp->t.slot[k].user);
		pp_table_free(&ifp->t);
	}
	free(pc);
}

/* At config load (start and reload): what can be told without capturing,
 * so that a typo is FILE:LINE and exit 2, not a collector that stays off. */
static int pc_check(const struct am_config *cfg, char *key, size_t keylen, char *why,
		    size_t whylen)
{
	const char *file = am_cfg_string(cfg, "file", NULL);
	const char *filter = am_cfg_string(cfg, "filter", NULL);
	size_t nif = am_cfg_list_len(cfg, "interfaces");

	for (size_t i = 0; i < am_cfg_list_len(cfg, "local_addresses"); i++) {
		struct pp_addr a;
		const char *s = am_cfg_list_at(cfg, "local_addresses", i);

		if (pp_addr_parse(s, &a) < 0) {
			snprintf(key, keylen, "local_addresses[%zu]", i);
			snprintf(why, whylen, "\"%s\" is not an IPv4 or IPv6 address", s);
			return -EINVAL;
		}
	}
	if (file && nif) {
		snprintf(key, keylen, "file");
		snprintf(why, whylen, "file and interfaces exclude each other");
		return -EINVAL;
	}
	if (!file && !nif) {
		snprintf(key, keylen, "interfaces");
		snprintf(why, whylen, "nothing to capture: set interfaces (or file)");
		return -EINVAL;
	}
	for (size_t i = 0; i < nif; i++)
		if (strcmp(am_cfg_list_at(cfg, "interfaces", i), "any") == 0) {
			/* "any" is every netdev at once: a stacked device and its
			 * lower device would count twice, and no device owns the
			 * addresses the info series need */
			snprintf(key, keylen, "interfaces[%zu]", i);
			snprintf(why, whylen,
				 "\"any\" is not supported (stacked devices would count "
				 "twice, and it has no addresses of its own): name the "
				 "netdevs to capture");
			return -EINVAL;
		}
	if (file && !am_cfg_list_len(cfg, "local_addresses")) {
		snprintf(key, keylen, "local_addresses");
		snprintf(why, whylen,
			 "a file replay needs this node's addresses in the capture, "
			 "which tell transmit from receive");
		return -EINVAL;
	}
	if (filter && *filter) {
		/* Compiled for Ethernet as a syntax check; the capture compiles
		 * it again for its own link type. */
		pcap_t *dead = pcap_open_dead(DLT_EN10MB, PC_SNAPLEN);
		struct bpf_program prog;
		int bad;

		if (!dead)
			return -ENOMEM;
		bad = pcap_compile(dead, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) < 0;
		if (bad) {
			snprintf(key, keylen, "filter");
			snprintf(why, whylen, "%s", pcap_geterr(dead));
		} else {
			pcap_freecode(&prog);
		}
		pcap_close(dead);
		if (bad)
			return -EINVAL;
	}
	return 0;
}

const struct am_collector pcap_collector = {
    .abi_version = ACCELMON_COLLECTOR_ABI_VERSION,
    .size = sizeof(struct am_collector),
    .flags = AM_COLLECTOR_NEEDS_CONFIG,
    .name = PC,
    .description = "per-peer traffic from a libpcap capture or a pcap file",
    .options = pc_options,
    .once_polls = 2,
    .init = pc_init,
    .poll = pc_poll,
    .rescan = pc_rescan,
    .fini = pc_fini,
    .check = pc_check,
};
