/* InfiniBand and RoCE fabric collector: every port under
 * /sys/class/infiniband/<dev>/ports/<n> (state, rate, counters/,
 * counters_ext/, hw_counters/) becomes fabric_port_* and fabric_roce_*
 * samples. Devices, ports, file paths and series ids are fixed at init and on
 * the first poll; after that a poll is preads, integer parsing and emits.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* asprintf, strverscmp */
#endif
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "accelmon/collector.h"
#include "accelmon/schema.h"

/* ---- metric families ---- */

enum ib_fam {
	IBF_INFO,
	IBF_DEVINFO,
	IBF_UP,
	IBF_STATE,
	IBF_PHYS,
	IBF_SPEED,
	IBF_LANES,
	IBF_TX_BYTES,
	IBF_RX_BYTES,
	IBF_TX_PKTS,
	IBF_RX_PKTS,
	IBF_TX_UCAST,
	IBF_RX_UCAST,
	IBF_TX_MCAST,
	IBF_RX_MCAST,
	IBF_WAIT,
	IBF_ERRORS,
	IBF_SATURATED,
	IBF_UTIL,
	IBF_PEAK,
	IBF_CNP_SENT,
	IBF_CNP_HANDLED,
	IBF_CNP_IGNORED,
	IBF_ECN,
	IBF_ICRC,
	IBF_OOS,
	IBF_OOB,
	IBF_RETRANS,
	IBF_DUP,
	IBF_COMPL,
	IBF_LIFESPAN,
	IBF_N
};

#define IB_PORT_LABELS "device", "port"

/* Counter widths: the definitions below give each family its usual width,
 * and a counter of another width registers its own view of the same family
 * (same name and labels, its own bits and saturation: see am_family) so the
 * core unwraps, resets and flags saturation with the counter's real width:
 *  - transmit/receive bytes and packets: 64-bit when the port has
 *    PortCountersExtended, else the 32-bit PortCounters, which saturate;
 *  - fabric_port_errors_total{type}: 16, 8 or 4-bit, all saturating.
 * This collector still computes the saturation flag itself and exports it
 * as fabric_port_stat_saturated{device,port,counter}. */
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

/* ---- the files a port offers ---- */

enum ib_dir { IBD_COUNTERS, IBD_EXT, IBD_HW, IBD_N };
static const char *const ib_dir_names[IBD_N] = {"counters", "counters_ext",
						"hw_counters"};

enum ib_role { IBR_NONE, IBR_TX, IBR_RX };

/* Width 0 in the table means "port-dependent": 64-bit when the port has
 * counters/unicast_xmit_packets (the kernel then shows PortCountersExtended),
 * else the 32-bit PortCounters, which saturate. */
struct ib_ctr {
	const char *file;
	uint8_t dir;
	uint8_t fam;
	uint8_t bits;
	bool sat;
	uint8_t role;
	const char *label; /* type label, NULL for families without one */
};

/* counters_ext/ first: on kernels before 4.5 it holds the 64-bit versions,
 * which then replace the 32-bit ones of counters/ in the same family. */
static const struct ib_ctr ib_ctrs[] = {
    {"port_xmit_data_64", IBD_EXT, IBF_TX_BYTES, 64, false, IBR_TX, NULL},
    {"port_rcv_data_64", IBD_EXT, IBF_RX_BYTES, 64, false, IBR_RX, NULL},
    {"port_xmit_packets_64", IBD_EXT, IBF_TX_PKTS, 64, false, 0, NULL},
    {"port_rcv_packets_64", IBD_EXT, IBF_RX_PKTS, 64, false, 0, NULL},
    {"port_unicast_xmit_packets", IBD_EXT, IBF_TX_UCAST, 64, false, 0, NULL},
    {"port_unicast_rcv_packets", IBD_EXT, IBF_RX_UCAST, 64, false, 0, NULL},
    {"port_multicast_xmit_packets", IBD_EXT, IBF_TX_MCAST, 64, false, 0, NULL},
    {"port_multicast_rcv_packets", IBD_EXT, IBF_RX_MCAST, 64, false, 0, NULL},

    {"port_xmit_data", IBD_COUNTERS, IBF_TX_BYTES, 0, true, IBR_TX, NULL},
    {"port_rcv_data", IBD_COUNTERS, IBF_RX_BYTES, 0, true, IBR_RX, NULL},
    {"port_xmit_packets", IBD_COUNTERS, IBF_TX_PKTS, 0, true, 0, NULL},
    {"port_rcv_packets", IBD_COUNTERS, IBF_RX_PKTS, 0, true, 0, NULL},
    {"unicast_xmit_packets", IBD_COUNTERS, IBF_TX_UCAST, 64, false, 0, NULL},
    {"unicast_rcv_packets", IBD_COUNTERS, IBF_RX_UCAST, 64, false, 0, NULL},
    {"multicast_xmit_packets", IBD_COUNTERS, IBF_TX_MCAST, 64, false, 0, NULL},
    {"multicast_rcv_packets", IBD_COUNTERS, IBF_RX_MCAST, 64, false, 0, NULL},
    {"port_xmit_wait", IBD_COUNTERS, IBF_WAIT, 32, true, 0, NULL},
    /* IBA PortCounters widths; all saturate at 2^bits - 1. */
    {"symbol_error", IBD_COUNTERS, IBF_ERRORS, 16, true, 0, "symbol_error"},
    {"port_rcv_errors", IBD_COUNTERS, IBF_ERRORS, 16, true, 0, "port_rcv_errors"},
    {"port_rcv_remote_physical_errors", IBD_COUNTERS, IBF_ERRORS, 16, true, 0,
     "port_rcv_remote_physical_errors"},
    {"port_rcv_switch_relay_errors", IBD_COUNTERS, IBF_ERRORS, 16, true, 0,
     "port_rcv_switch_relay_errors"},
    {"port_xmit_discards", IBD_COUNTERS, IBF_ERRORS, 16, true, 0, "port_xmit_discards"},
    {"VL15_dropped", IBD_COUNTERS, IBF_ERRORS, 16, true, 0, "VL15_dropped"},
    {"link_error_recovery", IBD_COUNTERS, IBF_ERRORS, 8, true, 0, "link_error_recovery"},
    {"link_downed", IBD_COUNTERS, IBF_ERRORS, 8, true, 0, "link_downed"},
    {"port_xmit_constraint_errors", IBD_COUNTERS, IBF_ERRORS, 8, true, 0,
     "port_xmit_constraint_errors"},
    {"port_rcv_constraint_errors", IBD_COUNTERS, IBF_ERRORS, 8, true, 0,
     "port_rcv_constraint_errors"},
    {"local_link_integrity_errors", IBD_COUNTERS, IBF_ERRORS, 4, true, 0,
     "local_link_integrity_errors"},
    {"excessive_buffer_overrun_errors", IBD_COUNTERS, IBF_ERRORS, 4, true, 0,
     "excessive_buffer_overrun_errors"},

    /* mlx5 hw_counters: the congestion-control ones and
     * rx_icrc_encapsulated are 64-bit, the rest 32-bit and wrap. */
    {"np_cnp_sent", IBD_HW, IBF_CNP_SENT, 64, false, 0, NULL},
    {"rp_cnp_handled", IBD_HW, IBF_CNP_HANDLED, 64, false, 0, NULL},
    {"rp_cnp_ignored", IBD_HW, IBF_CNP_IGNORED, 64, false, 0, NULL},
    {"np_ecn_marked_roce_packets", IBD_HW, IBF_ECN, 64, false, 0, NULL},
    {"rx_icrc_encapsulated", IBD_HW, IBF_ICRC, 64, false, 0, NULL},
    {"out_of_sequence", IBD_HW, IBF_OOS, 32, false, 0, NULL},
    {"out_of_buffer", IBD_HW, IBF_OOB, 32, false, 0, NULL},
    /* Retransmits: the four requester-side events after which the HCA
     * resends (ACK timeout, NAK sequence error, implied NAK, RNR NAK; each
     * counted only while the QP retry limit was not exceeded).
     * duplicate_request is the responder seeing the peer's retransmits and
     * has its own family; roce_adp_retrans* are left out because adaptive
     * retransmission timeouts overlap local_ack_timeout_err. */
    {"local_ack_timeout_err", IBD_HW, IBF_RETRANS, 32, false, 0, "local_ack_timeout_err"},
    {"packet_seq_err", IBD_HW, IBF_RETRANS, 32, false, 0, "packet_seq_err"},
    {"implied_nak_seq_err", IBD_HW, IBF_RETRANS, 32, false, 0, "implied_nak_seq_err"},
    {"rnr_nak_retry_err", IBD_HW, IBF_RETRANS, 32, false, 0, "rnr_nak_retry_err"},
    {"duplicate_request", IBD_HW, IBF_DUP, 32, false, 0, NULL},
    {"req_cqe_error", IBD_HW, IBF_COMPL, 32, false, 0, "req_cqe_error"},
    {"req_cqe_flush_error", IBD_HW, IBF_COMPL, 32, false, 0, "req_cqe_flush_error"},
    {"req_remote_access_errors", IBD_HW, IBF_COMPL, 32, false, 0,
     "req_remote_access_errors"},
    {"req_remote_invalid_request", IBD_HW, IBF_COMPL, 32, false, 0,
     "req_remote_invalid_request"},
    {"resp_cqe_error", IBD_HW, IBF_COMPL, 32, false, 0, "resp_cqe_error"},
    {"resp_cqe_flush_error", IBD_HW, IBF_COMPL, 32, false, 0, "resp_cqe_flush_error"},
    {"resp_local_length_error", IBD_HW, IBF_COMPL, 32, false, 0,
     "resp_local_length_error"},
    {"resp_remote_access_errors", IBD_HW, IBF_COMPL, 32, false, 0,
     "resp_remote_access_errors"},
    /* A gauge in milliseconds (scaled to seconds by the family). */
    {"lifespan", IBD_HW, IBF_LIFESPAN, 64, false, 0, NULL},
};
#define IB_NCTRS (sizeof(ib_ctrs) / sizeof(ib_ctrs[0]))

/* ---- state ---- */

/* Failed files are retried after IB_RETRY_MIN_S, doubling up to
 * IB_RETRY_MAX_S: a restricted or missing counter costs one open (and one
 * read error) per backoff step instead of one per poll, yet a file that comes
 * back (driver reload, permission fixed) is picked up within 10 minutes. */
#define IB_RETRY_MIN_S 10
#define IB_RETRY_MAX_S 600
/* A value is at most 20 digits (UINT64_MAX); a longer read is garbage. */
#define IB_VALBUF 32

struct ib_file {
	const struct ib_ctr *c; /* NULL for state/phys_state/rate */
	char *path;
	int fd;	   /* held open between polls, else -1 */
	bool keep; /* within the fd budget: hold it open */
	uint8_t bits;
	bool sat;
	bool failed;
	uint32_t backoff_s;
	int64_t retry_ns;
	am_family_t fam; /* handle with this counter's width */
	am_series_t sid, sat_sid;
	uint64_t last; /* last good raw value (for utilization) */
	int64_t last_ns;
	bool have;
};

struct ib_dev {
	char *name;
	char fw[64], board[64], hca[64], guid[40], numa[12], pci[32], accel[32];
	am_series_t s_info;
};

struct ib_port {
	struct ib_dev *dev;
	char num[12];
	char link_layer[24];
	char netdev[64];
	char rate_text[64];
	struct ib_file state, phys, rate;
	struct ib_file *files;
	size_t nfiles;
	double speed; /* bytes/s, 0 when unknown */
	unsigned lanes;
	bool interned;
	am_series_t s_info, s_up, s_state, s_phys, s_speed, s_lanes;
	am_series_t s_util[2], s_peak[2];
};

/* A family registered with another width than its definition. */
struct ib_view {
	uint8_t fam, bits;
	bool sat;
	am_family_t handle;
};

struct ib_state {
	am_family_t fam[IBF_N];
	struct ib_view views[8];
	size_t nviews;
	struct ib_dev *devs;
	size_t ndevs;
	struct ib_port *ports;
	size_t nports;
	size_t fd_budget;
	size_t fds_held;
};

/* Opening goes through this pointer so tests can count opens and inject
 * errors that root cannot otherwise get (EACCES, EOPNOTSUPP). */
static int ib_open_sys(const char *path, int flags)
{
	return open(path, flags);
}
static int (*ib_open)(const char *path, int flags) = ib_open_sys;

/* ---- parsers (outside input; also fuzzed) ---- */

static size_t ib_trim(const char *buf, size_t n)
{
	while (n > 0 && isspace((unsigned char)buf[n - 1]))
		n--;
	return n;
}

/* A sysfs counter: decimal digits, optional trailing newline. Empty,
 * non-numeric, signed, longer than 20 digits or above UINT64_MAX: -EINVAL. */
static int ib_parse_u64(const char *buf, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	n = ib_trim(buf, n);
	if (n == 0 || n > 20)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned char)buf[i] - '0';

		if (d > 9)
			return -EINVAL;
		if (v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* "4: ACTIVE" -> 4. */
static int ib_parse_state(const char *buf, size_t n, unsigned *id)
{
	unsigned v = 0;
	size_t i = 0;

	n = ib_trim(buf, n);
	while (i < n && buf[i] >= '0' && buf[i] <= '9' && v < 1000)
		v = v * 10 + (unsigned)(buf[i++] - '0');
	if (i == 0 || i >= n || buf[i] != ':')
		return -EINVAL;
	*id = v;
	return 0;
}

/* "400 Gb/sec (4X NDR)", "2.5 Gb/sec (1X SDR)" -> bytes/s and lanes (0 when
 * the width part is missing). Decimal arithmetic, so 2.5 Gb/s is exactly
 * 312500000 B/s (1 Gb/s = 125000000 B/s, and 10^k divides that for k <= 6). */
static int ib_parse_rate(const char *buf, size_t n, double *bytes_s, unsigned *lanes)
{
	uint64_t ip = 0, fp = 0, div = 1;
	size_t i = 0, nd = 0;
	const char *unit = " Gb/sec";
	size_t ul = strlen(unit);

	n = ib_trim(buf, n);
	while (i < n && buf[i] >= '0' && buf[i] <= '9' && nd < 9) {
		ip = ip * 10 + (uint64_t)(buf[i++] - '0');
		nd++;
	}
	if (nd == 0)
		return -EINVAL;
	if (i < n && buf[i] == '.') {
		size_t fd = 0;

		i++;
		while (i < n && buf[i] >= '0' && buf[i] <= '9' && fd < 6) {
			fp = fp * 10 + (uint64_t)(buf[i++] - '0');
			div *= 10;
			fd++;
		}
		if (fd == 0)
			return -EINVAL;
	}
	if (n - i < ul || memcmp(buf + i, unit, ul) != 0)
		return -EINVAL;
	i += ul;
	*lanes = 0;
	if (i + 2 < n && buf[i] == ' ' && buf[i + 1] == '(') {
		unsigned l = 0;
		size_t j = i + 2, k = 0;

		while (j < n && buf[j] >= '0' && buf[j] <= '9' && k < 3) {
			l = l * 10 + (unsigned)(buf[j++] - '0');
			k++;
		}
		if (k > 0 && j < n && buf[j] == 'X')
			*lanes = l;
	}
	*bytes_s = (double)(ip * 125000000u + fp * 125000000u / div);
	return 0;
}

/* Utilization of one direction from two raw readings of a 4-octet word
 * counter. Returns 0 and the ratio, or a negative errno when no honest
 * ratio exists: no previous reading or no time passed (-EAGAIN), the
 * counter went backwards (reset, -ERANGE), a saturating counter is or was at
 * its maximum (-EOVERFLOW), the link speed is unknown (-ENODATA), or the
 * delta is more than 10% above line rate (an unseen reset or wrap, -ERANGE).
 * Up to 10% above line rate is poll-timing jitter and is clamped to 1. */
static int ib_util_ratio(uint64_t prev, uint64_t cur, unsigned bits, bool sat,
			 double dt_s, double speed, double *ratio)
{
	uint64_t max = bits >= 64 ? UINT64_MAX : ((uint64_t)1 << bits) - 1;
	double r;

	if (dt_s <= 0)
		return -EAGAIN;
	if (speed <= 0)
		return -ENODATA;
	if (sat && (cur >= max || prev >= max))
		return -EOVERFLOW;
	if (cur < prev)
		return -ERANGE;
	r = (double)(cur - prev) * 4.0 / dt_s / speed;
	if (r > 1.1)
		return -ERANGE;
	*ratio = r > 1.0 ? 1.0 : r;
	return 0;
}

/* Accelerator by PCI class: 3D controller (0x0302, NVIDIA data-centre
 * GPUs), other display controller (0x0380, AMD Instinct, Hygon DCU),
 * processing accelerator (0x12xx: Gaudi, Ascend, ...), and VGA (0x0300)
 * only from a GPU vendor (NVIDIA 0x10de, AMD 0x1002, Hygon 0x1d94) so the
 * BMC's VGA function is never taken for one. Vendor alone is not enough:
 * the same vendors make HDMI audio functions, bridges and NVSwitches. */
static bool ib_is_accel(unsigned cls, unsigned vendor)
{
	unsigned base = cls >> 16, sub = (cls >> 8) & 0xff;

	if (base == 0x12)
		return true;
	if (base != 0x03)
		return false;
	if (sub == 0x02 || sub == 0x80)
		return true;
	return sub == 0x00 && (vendor == 0x10de || vendor == 0x1002 || vendor == 0x1d94);
}

/* ---- small file helpers (init time) ---- */

/* Read a short attribute into buf (NUL-terminated, trailing space cut).
 * Returns the length or -errno. */
static int ib_read_text(const char *path, char *buf, size_t size)
{
	int fd = ib_open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = pread(fd, buf, size - 1, 0);
	if (n < 0) {
		int e = -errno;

		close(fd);
		return e;
	}
	close(fd);
	n = (ssize_t)ib_trim(buf, (size_t)n);
	buf[n] = '\0';
	return (int)n;
}

/* An optional attribute: absent is fine, any other failure is a read
 * error. Leaves buf empty on failure. */
static void ib_read_opt(struct am_ctx *ctx, const char *path, char *buf, size_t size)
{
	int r = ib_read_text(path, buf, size);

	if (r < 0) {
		buf[0] = '\0';
		if (r != -ENOENT) {
			am_read_error(ctx);
			am_log(ctx, AM_LOG_WARN, "%s: %s", path, strerror(-r));
		}
	}
}

static bool ib_is_pci_addr(const char *s)
{
	unsigned d, b, s2, f;
	char tail;

	return sscanf(s, "%x:%x:%x.%x%c", &d, &b, &s2, &f, &tail) == 4;
}

static unsigned ib_read_hex(const char *dir, const char *name)
{
	char path[PATH_MAX], buf[32];

	if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
		return 0;
	if (ib_read_text(path, buf, sizeof buf) <= 0)
		return 0;
	return (unsigned)strtoul(buf, NULL, 16);
}

/* Depth-first search for accelerators below dir (PCI function directories
 * only), skipping the subtree `skip`; keeps the lowest PCI address. */
static void ib_scan_accel(const char *dir, const char *skip, int depth, char *best,
			  size_t bestsz)
{
	DIR *d;
	struct dirent *de;

	if (depth > 8 || !(d = opendir(dir)))
		return;
	while ((de = readdir(d))) {
		char sub[PATH_MAX];

		if (!ib_is_pci_addr(de->d_name))
			continue;
		if (snprintf(sub, sizeof sub, "%s/%s", dir, de->d_name) >=
		    (int)sizeof sub)
			continue;
		if (skip && strcmp(sub, skip) == 0)
			continue;
		if (ib_is_accel(ib_read_hex(sub, "class"), ib_read_hex(sub, "vendor")) &&
		    (!best[0] || strcmp(de->d_name, best) < 0) &&
		    strlen(de->d_name) < bestsz)
			memcpy(best, de->d_name, strlen(de->d_name) + 1);
		ib_scan_accel(sub, skip, depth + 1, best, bestsz);
	}
	closedir(d);
}

/* Nearest accelerator of an HCA by PCI topology. Walk up the HCA's real
 * device path one bridge at a time; at each level search everything below
 * that bridge. The first level with an accelerator wins (the smallest
 * common ancestor: same PCIe switch before same root port before same root
 * complex), the lowest PCI address breaks ties. The walk stops at the host
 * bridge (pciDDDD:BB): accelerators behind another root complex are not
 * "near" (traffic crosses the CPU interconnect), and the label stays "". */
static void ib_nearest_accel(const char *hca_dir, char *out, size_t outsz)
{
	char cur[PATH_MAX], prev[PATH_MAX];

	out[0] = '\0';
	snprintf(cur, sizeof cur, "%s", hca_dir);
	for (int level = 0; level < 8; level++) {
		char *slash = strrchr(cur, '/');
		const char *base;

		if (!slash || slash == cur)
			return;
		snprintf(prev, sizeof prev, "%s", cur);
		*slash = '\0';
		base = strrchr(cur, '/');
		base = base ? base + 1 : cur;
		if (!ib_is_pci_addr(base) && strncmp(base, "pci", 3) != 0)
			return;
		ib_scan_accel(cur, prev, 0, out, outsz);
		if (out[0] || strncmp(base, "pci", 3) == 0)
			return;
	}
}

/* ---- options and filters ---- */

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

struct ib_filter {
	regex_t inc, exc, pinc, pexc;
	bool has_inc, has_exc, has_pinc, has_pexc;
};

static int ib_filter_init(struct am_ctx *ctx, const struct am_config *cfg,
			  struct ib_filter *f)
{
	static const char *const keys[4] = {"include", "exclude", "include_ports",
					    "exclude_ports"};
	regex_t *re[4] = {&f->inc, &f->exc, &f->pinc, &f->pexc};
	bool *has[4] = {&f->has_inc, &f->has_exc, &f->has_pinc, &f->has_pexc};

	memset(f, 0, sizeof *f);
	for (int i = 0; i < 4; i++) {
		const char *s = am_cfg_string(cfg, keys[i], NULL);

		if (!s || !*s)
			continue;
		if (regcomp(re[i], s, REG_EXTENDED | REG_NOSUB) != 0) {
			am_log(ctx, AM_LOG_ERROR, "%s: bad regex \"%s\"", keys[i], s);
			return -EINVAL;
		}
		*has[i] = true;
	}
	return 0;
}

static void ib_filter_free(struct ib_filter *f)
{
	if (f->has_inc)
		regfree(&f->inc);
	if (f->has_exc)
		regfree(&f->exc);
	if (f->has_pinc)
		regfree(&f->pinc);
	if (f->has_pexc)
		regfree(&f->pexc);
}

static bool ib_want(const regex_t *inc, bool has_inc, const regex_t *exc, bool has_exc,
		    const char *s)
{
	if (has_inc && regexec(inc, s, 0, NULL, 0) != 0)
		return false;
	return !(has_exc && regexec(exc, s, 0, NULL, 0) == 0);
}

/* ---- discovery ---- */

static int ib_versionsort(const struct dirent **a, const struct dirent **b)
{
	return strverscmp((*a)->d_name, (*b)->d_name);
}

static int ib_no_dots(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

static char *ib_path(const char *a, const char *b, const char *c)
{
	char *p = NULL;

	if (asprintf(&p, "%s/%s%s%s", a, b, c ? "/" : "", c ? c : "") < 0)
		return NULL;
	return p;
}

static void ib_file_close(struct ib_file *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	free(f->path);
	f->path = NULL;
}

static void ib_file_setup(struct ib_state *st, struct ib_file *f, const struct ib_ctr *c,
			  char *path)
{
	memset(f, 0, sizeof *f);
	f->c = c;
	f->path = path;
	f->fd = -1;
	f->sid = f->sat_sid = AM_SERIES_INVALID;
	if (st->fds_held < st->fd_budget) {
		f->keep = true;
		st->fds_held++;
	}
}

static bool ib_dir_has(char **names, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return true;
	return false;
}

/* List the counter directories of one port and set up a file for each
 * known counter present. Missing directories are normal (no hw_counters on
 * mlx4, no counters_ext on current kernels). */
static int ib_port_files(struct ib_state *st, struct ib_port *p, const char *pdir)
{
	char **names[IBD_N] = {NULL};
	int nn[IBD_N] = {0};
	bool taken[IBF_N] = {false};
	bool wide;
	int ret = 0;

	for (int d = 0; d < IBD_N; d++) {
		struct dirent **de;
		char *dir = ib_path(pdir, ib_dir_names[d], NULL);
		int n;

		if (!dir)
			return -ENOMEM;
		n = scandir(dir, &de, ib_no_dots, NULL);
		free(dir);
		if (n <= 0)
			continue;
		names[d] = calloc((size_t)n, sizeof(char *));
		for (int i = 0; i < n; i++) {
			if (names[d])
				names[d][i] = strdup(de[i]->d_name);
			free(de[i]);
		}
		free(de);
		if (!names[d])
			return -ENOMEM;
		nn[d] = n;
	}
	wide = ib_dir_has(names[IBD_COUNTERS], nn[IBD_COUNTERS], "unicast_xmit_packets");
	p->files = calloc(IB_NCTRS, sizeof *p->files);
	if (!p->files) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < IB_NCTRS; i++) {
		const struct ib_ctr *c = &ib_ctrs[i];
		struct ib_file *f = &p->files[p->nfiles];
		char *path;

		if (!ib_dir_has(names[c->dir], nn[c->dir], c->file))
			continue;
		/* One source per label-less family: counters_ext wins. */
		if (!c->label) {
			if (taken[c->fam])
				continue;
			taken[c->fam] = true;
		}
		path = ib_path(pdir, ib_dir_names[c->dir], c->file);
		if (!path) {
			ret = -ENOMEM;
			goto out;
		}
		ib_file_setup(st, f, c, path);
		f->bits = c->bits ? c->bits : (wide ? 64 : 32);
		f->sat = c->bits ? c->sat : !wide;
		p->nfiles++;
	}
out:
	for (int d = 0; d < IBD_N; d++) {
		for (int i = 0; i < nn[d]; i++)
			free(names[d][i]);
		free(names[d]);
	}
	return ret;
}

static int ib_add_port(struct am_ctx *ctx, struct ib_state *st, struct ib_dev *dev,
		       const char *ddir, const char *num)
{
	struct ib_port *p = &st->ports[st->nports];
	char *pdir = NULL, *path;
	int ret;

	memset(p, 0, sizeof *p);
	p->dev = dev;
	p->s_info = AM_SERIES_INVALID;
	if (strlen(num) >= sizeof p->num)
		return -EINVAL;
	memcpy(p->num, num, strlen(num) + 1);
	if (asprintf(&pdir, "%s/ports/%s", ddir, num) < 0)
		return -ENOMEM;

	path = ib_path(pdir, "link_layer", NULL);
	if (path) {
		ib_read_opt(ctx, path, p->link_layer, sizeof p->link_layer);
		free(path);
	}
	/* The netdev of a RoCE port is the one behind GID 0. IB ports have
	 * none (their IPoIB interfaces are not in gid_attrs). */
	if (strcmp(p->link_layer, "Ethernet") == 0) {
		path = ib_path(pdir, "gid_attrs/ndevs", "0");
		if (path) {
			ib_read_opt(ctx, path, p->netdev, sizeof p->netdev);
			free(path);
		}
	}
	ib_file_setup(st, &p->state, NULL, ib_path(pdir, "state", NULL));
	ib_file_setup(st, &p->phys, NULL, ib_path(pdir, "phys_state", NULL));
	ib_file_setup(st, &p->rate, NULL, ib_path(pdir, "rate", NULL));
	if (!p->state.path || !p->phys.path || !p->rate.path) {
		ret = -ENOMEM;
		goto out;
	}
	ret = ib_port_files(st, p, pdir);
out:
	if (ret == 0) {
		st->nports++;
	} else {
		ib_file_close(&p->state);
		ib_file_close(&p->phys);
		ib_file_close(&p->rate);
		for (size_t j = 0; j < p->nfiles; j++)
			ib_file_close(&p->files[j]);
		free(p->files);
	}
	free(pdir);
	return ret;
}

/* ib_read_opt for DIR/NAME. */
static void ib_read_opt_at(struct am_ctx *ctx, const char *dir, const char *name,
			   char *buf, size_t size)
{
	char path[PATH_MAX];

	buf[0] = '\0';
	if (snprintf(path, sizeof path, "%s/%s", dir, name) < (int)sizeof path)
		ib_read_opt(ctx, path, buf, size);
}

static void ib_dev_info(struct am_ctx *ctx, struct ib_dev *dev, const char *ddir)
{
	char path[PATH_MAX], real[PATH_MAX];
	const char *base;

	ib_read_opt_at(ctx, ddir, "fw_ver", dev->fw, sizeof dev->fw);
	ib_read_opt_at(ctx, ddir, "board_id", dev->board, sizeof dev->board);
	ib_read_opt_at(ctx, ddir, "hca_type", dev->hca, sizeof dev->hca);
	ib_read_opt_at(ctx, ddir, "node_guid", dev->guid, sizeof dev->guid);
	ib_read_opt_at(ctx, ddir, "device/numa_node", dev->numa, sizeof dev->numa);
	if (strcmp(dev->numa, "-1") == 0)
		dev->numa[0] = '\0'; /* no NUMA affinity known */

	/* The device link points at the PCI function (software devices such
	 * as rxe or siw have none). */
	if (snprintf(path, sizeof path, "%s/device", ddir) >= (int)sizeof path ||
	    !realpath(path, real))
		return;
	base = strrchr(real, '/');
	base = base ? base + 1 : real;
	if (!ib_is_pci_addr(base))
		return;
	if (snprintf(dev->pci, sizeof dev->pci, "%s", base) >= (int)sizeof dev->pci) {
		dev->pci[0] = '\0';
		return;
	}
	ib_nearest_accel(real, dev->accel, sizeof dev->accel);
}

static size_t ib_fd_budget(void)
{
	struct rlimit rl;

	/* Hold at most half the soft fd limit (the HTTP server and other
	 * collectors need the rest); files beyond it are opened per read. */
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
		return 512;
	return rl.rlim_cur / 2 > 4096 ? 4096 : rl.rlim_cur / 2;
}

static void ib_fini(struct am_ctx *ctx, void *state);

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
	if (st->nviews == sizeof st->views / sizeof st->views[0])
		return -ENOSPC; /* cannot happen with the table above */
	def = *d;
	def.bits = f->bits;
	def.saturating = f->sat;
	f->fam = ib_register(ctx, f->c->fam, &def);
	if (f->fam < 0)
		return f->fam;
	st->views[st->nviews++] = (struct ib_view){f->c->fam, f->bits, f->sat, f->fam};
	return 0;
}

static int ib_init(struct am_ctx *ctx, const struct am_config *cfg, void **state)
{
	struct ib_state *st;
	struct ib_filter flt;
	struct dirent **de = NULL;
	char root[PATH_MAX];
	int n, ret, excluded = 0;
	size_t maxports = 0;
	double peak = am_cfg_duration(cfg, "peak_window", 15.0);

	snprintf(root, sizeof root, "%s/class/infiniband", am_sysfs(ctx));
	n = scandir(root, &de, ib_no_dots, ib_versionsort);
	if (n < 0) {
		am_found(ctx, "no %s (no RDMA device, or ib_core not loaded)", root);
		return -ENODEV;
	}
	if (n == 0) {
		free(de);
		am_found(ctx, "no RDMA device in %s", root);
		return -ENODEV;
	}
	ret = ib_filter_init(ctx, cfg, &flt);
	if (ret < 0)
		goto out_de;
	st = calloc(1, sizeof *st);
	if (!st) {
		ret = -ENOMEM;
		goto out_flt;
	}
	st->fd_budget = ib_fd_budget();
	st->devs = calloc((size_t)n, sizeof *st->devs);
	if (!st->devs) {
		ret = -ENOMEM;
		goto out_st;
	}
	for (int i = 0; i < n; i++) {
		const char *name = de[i]->d_name;
		struct ib_dev *dev;
		struct dirent **pe;
		char ddir[PATH_MAX], pdir[PATH_MAX];
		int np;
		struct ib_port *grown;

		/* The device filter comes before anything under it is
		 * opened, including its ports directory. */
		if (!ib_want(&flt.inc, flt.has_inc, &flt.exc, flt.has_exc, name)) {
			excluded++;
			continue;
		}
		if (snprintf(ddir, sizeof ddir, "%s/%s", root, name) >=
			(int)sizeof ddir ||
		    snprintf(pdir, sizeof pdir, "%s/ports", ddir) >= (int)sizeof pdir)
			continue;
		np = scandir(pdir, &pe, ib_no_dots, ib_versionsort);
		if (np < 0) {
			am_read_error(ctx);
			am_log(ctx, AM_LOG_WARN, "%s: %s", pdir, strerror(errno));
			continue;
		}
		dev = &st->devs[st->ndevs];
		dev->name = strdup(name);
		if (!dev->name) {
			ret = -ENOMEM;
			goto out_ports;
		}
		dev->s_info = AM_SERIES_INVALID;
		st->ndevs++;
		ib_dev_info(ctx, dev, ddir);
		grown = realloc(st->ports, (maxports + (size_t)np) * sizeof *st->ports);
		if (!grown) {
			ret = -ENOMEM;
			goto out_ports;
		}
		st->ports = grown;
		maxports += (size_t)np;
		for (int j = 0; j < np; j++) {
			char key[2 * NAME_MAX + 2];

			/* Port directories are numbers (1, 2; 0 on switches). */
			if (strspn(pe[j]->d_name, "0123456789") !=
				strlen(pe[j]->d_name) ||
			    strlen(pe[j]->d_name) > 5)
				continue;
			if (snprintf(key, sizeof key, "%s:%s", name, pe[j]->d_name) >=
			    (int)sizeof key)
				continue;
			if (ib_want(&flt.pinc, flt.has_pinc, &flt.pexc, flt.has_pexc,
				    key)) {
				ret = ib_add_port(ctx, st, dev, ddir, pe[j]->d_name);
				if (ret < 0)
					goto out_ports;
			}
		}
	out_ports:
		for (int j = 0; j < np; j++)
			free(pe[j]);
		free(pe);
		if (ret < 0)
			goto out_st;
	}
	if (st->nports == 0) {
		am_found(ctx,
			 "%d RDMA device(s) in %s, %d excluded, no port "
			 "left to read",
			 n, root, excluded);
		ret = -ENODEV;
		goto out_st;
	}
	for (int f = 0; f < IBF_N; f++) {
		struct am_family_def def = ib_fam_defs[f];

		if (f == IBF_PEAK)
			def.window_s = peak > 0 ? peak : 15.0;
		st->fam[f] = ib_register(ctx, f, &def);
		if (st->fam[f] < 0) {
			ret = st->fam[f];
			goto out_st;
		}
	}
	for (size_t i = 0; i < st->nports; i++) {
		struct ib_port *p = &st->ports[i];

		for (size_t j = 0; j < p->nfiles; j++) {
			ret = ib_file_family(ctx, st, &p->files[j]);
			if (ret < 0)
				goto out_st;
		}
	}
	am_found(ctx, "%zu RDMA device(s), %zu port(s) in %s (%d excluded)", st->ndevs,
		 st->nports, root, excluded);
	*state = st;
	ret = 0;
	goto out_flt;
out_st:
	ib_fini(ctx, st);
out_flt:
	ib_filter_free(&flt);
out_de:
	for (int i = 0; i < n; i++)
		free(de[i]);
	free(de);
	return ret;
}

static void ib_fini(struct am_ctx *ctx, void *state)
{
	struct ib_state *st = state;

	if (!st)
		return;
	for (size_t i = 0; i < st->nports; i++) {
		struct ib_port *p = &st->ports[i];

		ib_file_close(&p->state);
		ib_file_close(&p->phys);
		ib_file_close(&p->rate);
		for (size_t j = 0; j < p->nfiles; j++)
			ib_file_close(&p->files[j]);
		free(p->files);
	}
	for (size_t i = 0; i < st->ndevs; i++)
		free(st->devs[i].name);
	free(st->ports);
	free(st->devs);
	free(st);
}

/* ---- polling ---- */

/* A failed open, read or parse: count it, log it (am_log rate-limits), and
 * back off before the next attempt. */
static void ib_file_fail(struct am_ctx *ctx, struct ib_file *f, int err)
{
	if (f->fd >= 0) {
		close(f->fd); /* a device that went away: reopen later */
		f->fd = -1;
	}
	f->failed = true;
	f->backoff_s = f->backoff_s ? f->backoff_s * 2 : IB_RETRY_MIN_S;
	if (f->backoff_s > IB_RETRY_MAX_S)
		f->backoff_s = IB_RETRY_MAX_S;
	f->retry_ns = am_poll_time_ns(ctx) + (int64_t)f->backoff_s * 1000000000;
	f->have = false;
	am_read_error(ctx);
	am_log(ctx, AM_LOG_WARN, "%s: %s (skipped, retry in %us)", f->path,
	       err == -EINVAL && f->c ? "not a counter value"
	       : err == -ERANGE	      ? "value wider than the counter"
				      : strerror(-err),
	       f->backoff_s);
}

/* Read one file into buf. Returns the length, -EAGAIN while a failed file
 * waits for its retry, or -errno (already counted). */
static int ib_file_read(struct am_ctx *ctx, struct ib_file *f, char *buf, size_t size)
{
	ssize_t n;
	int fd = f->fd, err;

	if (f->failed && am_poll_time_ns(ctx) < f->retry_ns)
		return -EAGAIN;
	if (fd < 0) {
		fd = ib_open(f->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
		if (fd < 0) {
			err = -errno;
			ib_file_fail(ctx, f, err);
			return err;
		}
	}
	/* sysfs regenerates the value on every read at offset 0, so a held
	 * fd is as fresh as a new open. */
	n = pread(fd, buf, size, 0);
	err = n < 0 ? -errno : 0;
	if (f->keep && n >= 0)
		f->fd = fd;
	else if (fd != f->fd)
		close(fd);
	if (n < 0) {
		ib_file_fail(ctx, f, err);
		return err;
	}
	return (int)n;
}

static void ib_file_ok(struct ib_file *f)
{
	f->failed = false;
	f->backoff_s = 0;
}

static void ib_intern(struct ib_state *st, struct am_ctx *ctx, struct ib_port *p)
{
	const char *pl[] = {p->dev->name, p->num, NULL, NULL};
	static const char *const dirs[2] = {"transmit", "receive"};

	p->s_up = am_series(ctx, st->fam[IBF_UP], pl);
	p->s_state = am_series(ctx, st->fam[IBF_STATE], pl);
	p->s_phys = am_series(ctx, st->fam[IBF_PHYS], pl);
	p->s_speed = am_series(ctx, st->fam[IBF_SPEED], pl);
	p->s_lanes = am_series(ctx, st->fam[IBF_LANES], pl);
	for (int d = 0; d < 2; d++) {
		pl[2] = dirs[d];
		p->s_util[d] = am_series(ctx, st->fam[IBF_UTIL], pl);
		p->s_peak[d] = am_series(ctx, st->fam[IBF_PEAK], pl);
	}
	for (size_t i = 0; i < p->nfiles; i++) {
		struct ib_file *f = &p->files[i];

		pl[2] = f->c->label;
		f->sid = am_series(ctx, f->fam, pl);
		if (f->sat) {
			pl[2] = f->c->file;
			f->sat_sid = am_series(ctx, st->fam[IBF_SATURATED], pl);
		}
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
 * allocation) when the link retrains to another rate. */
static void ib_port_info(struct ib_state *st, struct am_ctx *ctx, struct ib_port *p,
			 const char *rate, size_t n)
{
	if (p->s_info != AM_SERIES_INVALID && p->interned && strlen(p->rate_text) == n &&
	    memcmp(p->rate_text, rate, n) == 0)
		return;
	if (n >= sizeof p->rate_text)
		n = sizeof p->rate_text - 1;
	memcpy(p->rate_text, rate, n);
	p->rate_text[n] = '\0';
	{
		const struct ib_dev *d = p->dev;
		const char *il[] = {d->name,	  p->num, p->link_layer, p->netdev,
				    p->rate_text, d->fw,  d->guid,	 d->accel};

		p->s_info = am_series(ctx, st->fam[IBF_INFO], il);
	}
}

static void ib_poll_link(struct ib_state *st, struct am_ctx *ctx, struct ib_port *p)
{
	char buf[IB_VALBUF * 2];
	unsigned id;
	int n;

	n = ib_file_read(ctx, &p->state, buf, sizeof buf);
	if (n >= 0) {
		if (ib_parse_state(buf, (size_t)n, &id) == 0) {
			ib_file_ok(&p->state);
			am_emit(ctx, p->s_state, id);
			am_emit(ctx, p->s_up, id == 4 ? 1 : 0);
		} else {
			ib_file_fail(ctx, &p->state, -EINVAL);
		}
	}
	n = ib_file_read(ctx, &p->phys, buf, sizeof buf);
	if (n >= 0) {
		if (ib_parse_state(buf, (size_t)n, &id) == 0) {
			ib_file_ok(&p->phys);
			am_emit(ctx, p->s_phys, id);
		} else {
			ib_file_fail(ctx, &p->phys, -EINVAL);
		}
	}
	n = ib_file_read(ctx, &p->rate, buf, sizeof buf);
	if (n >= 0 && (size_t)n < sizeof buf) {
		double bps;
		unsigned lanes;

		if (ib_parse_rate(buf, (size_t)n, &bps, &lanes) == 0) {
			ib_file_ok(&p->rate);
			p->speed = bps;
			p->lanes = lanes;
			am_emit(ctx, p->s_speed, bps);
			if (lanes)
				am_emit(ctx, p->s_lanes, lanes);
			ib_port_info(st, ctx, p, buf, ib_trim(buf, (size_t)n));
		} else {
			p->speed = 0;
			ib_file_fail(ctx, &p->rate, -EINVAL);
		}
	} else {
		if (n >= 0)
			ib_file_fail(ctx, &p->rate, -EINVAL);
		p->speed = 0;
	}
	if (p->s_info == AM_SERIES_INVALID)
		ib_port_info(st, ctx, p, "", 0);
	am_emit(ctx, p->s_info, 1);
}

static void ib_poll_port(struct ib_state *st, struct am_ctx *ctx, struct ib_port *p,
			 int64_t now)
{
	char buf[IB_VALBUF];

	if (!p->interned)
		ib_intern(st, ctx, p);
	ib_poll_link(st, ctx, p);
	for (size_t i = 0; i < p->nfiles; i++) {
		struct ib_file *f = &p->files[i];
		uint64_t v;
		int n = ib_file_read(ctx, f, buf, sizeof buf);

		if (n < 0)
			continue;
		/* A full buffer means more than a number: garbage. */
		if ((size_t)n == sizeof buf || ib_parse_u64(buf, (size_t)n, &v) < 0) {
			ib_file_fail(ctx, f, -EINVAL);
			continue;
		}
		/* More bits than the counter has: the width assumed for this
		 * port is wrong or the read is; either way not a value. */
		if (f->bits < 64 && v > ((uint64_t)1 << f->bits) - 1) {
			ib_file_fail(ctx, f, -ERANGE);
			continue;
		}
		ib_file_ok(f);
		if (f->c->role != IBR_NONE) {
			double r;
			int d = f->c->role == IBR_TX ? 0 : 1;

			if (f->have && ib_util_ratio(f->last, v, f->bits, f->sat,
						     (double)(now - f->last_ns) / 1e9,
						     p->speed, &r) == 0) {
				am_emit(ctx, p->s_util[d], r);
				am_emit(ctx, p->s_peak[d], r);
			}
			f->last = v;
			f->last_ns = now;
			f->have = true;
		}
		/* Counters go as exact integers (past 2^53 a double is not). */
		if (ib_fam_defs[f->c->fam].kind == AM_COUNTER)
			am_emit_u64(ctx, f->sid, v);
		else
			am_emit(ctx, f->sid, (double)v);
		if (f->sat_sid != AM_SERIES_INVALID) {
			uint64_t max =
			    f->bits >= 64 ? UINT64_MAX : ((uint64_t)1 << f->bits) - 1;

			am_emit(ctx, f->sat_sid, v >= max ? 1 : 0);
		}
	}
}

static int ib_poll(struct am_ctx *ctx, void *state)
{
	struct ib_state *st = state;
	int64_t now = am_poll_time_ns(ctx);

	for (size_t i = 0; i < st->nports; i++)
		ib_poll_port(st, ctx, &st->ports[i], now);
	for (size_t i = 0; i < st->ndevs; i++)
		if (st->devs[i].s_info != AM_SERIES_INVALID)
			am_emit(ctx, st->devs[i].s_info, 1);
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
    .fini = ib_fini,
};
