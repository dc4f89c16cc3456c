/* InfiniBand collector: parsers of sysfs port text and the table of counter
 * files (see infiniband_parse.h). Pure functions over outside input, no
 * state; fuzzed by tests/fuzz/fuzz_infiniband.c.
 */
#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "infiniband_parse.h"

const char *const ib_dir_names[IBD_N] = {"counters", "counters_ext", "hw_counters"};

/* counters_ext/ first: on kernels before 4.5 it holds the 64-bit versions,
 * which then replace the 32-bit ones of counters/ in the same family. */
const struct ib_ctr ib_ctrs[] = {
    {"port_xmit_data_64", IBD_EXT, IBF_TX_BYTES, 64, false, IBR_TX, NULL},
    {"port_rcv_data_64", IBD_EXT, IBF_RX_BYTES, 64, false, IBR_RX, NULL},
    {"port_xmit_packets_64", IBD_EXT, IBF_TX_PKTS, 64, false, 0, NULL},
    {"port_rcv_packets_64", IBD_EXT, IBF_RX_PKTS, 64, false, 0, NULL},
    {"port_unicast_xmit_packets", IBD_EXT, IBF_TX_UCAST, 64, false, 0, NULL},
    {"port_unicast_rcv_packets", IBD_EXT, IBF_RX_UCAST, 64, false, 0, NULL},
    {"port_multicast_xmit_packets", IBD_EXT, IBF_TX_MCAST, 64, false, 0, NULL},
    {"port_multicast_rcv_packets", IBD_EXT, IBF_RX_MCAST, 64, false, 0, NULL},

    /* Width by layout (bits 0): classic, extended or noietf. */
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
    /* Not one of the kernel's PortCounters tables, yet present on real
     * machines; its width is not documented, so it is taken as 64-bit
     * (never refused; no saturation flag). */
    {"port_rcv_discards", IBD_COUNTERS, IBF_ERRORS, 64, false, 0, "port_rcv_discards"},

    /* mlx5 hw_counters: the congestion-control ones and
     * rx_icrc_encapsulated are 64-bit, the rest 32-bit queue counters that
     * wrap. */
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
     * has its own family; the adaptive-retransmission ones have theirs too,
     * because their timeouts overlap local_ack_timeout_err (one sum must not
     * count an event twice). */
    {"local_ack_timeout_err", IBD_HW, IBF_RETRANS, 32, false, 0, "local_ack_timeout_err"},
    {"packet_seq_err", IBD_HW, IBF_RETRANS, 32, false, 0, "packet_seq_err"},
    {"implied_nak_seq_err", IBD_HW, IBF_RETRANS, 32, false, 0, "implied_nak_seq_err"},
    {"rnr_nak_retry_err", IBD_HW, IBF_RETRANS, 32, false, 0, "rnr_nak_retry_err"},
    {"roce_adp_retrans", IBD_HW, IBF_ADP_RETRANS, 32, false, 0, "roce_adp_retrans"},
    {"roce_adp_retrans_to", IBD_HW, IBF_ADP_RETRANS, 32, false, 0, "roce_adp_retrans_to"},
    {"roce_slow_restart", IBD_HW, IBF_SLOW_RESTART, 32, false, 0, "roce_slow_restart"},
    {"roce_slow_restart_cnps", IBD_HW, IBF_SLOW_RESTART, 32, false, 0,
     "roce_slow_restart_cnps"},
    {"roce_slow_restart_trans", IBD_HW, IBF_SLOW_RESTART, 32, false, 0,
     "roce_slow_restart_trans"},
    {"rx_read_requests", IBD_HW, IBF_RX_REQUESTS, 32, false, 0, "read"},
    {"rx_write_requests", IBD_HW, IBF_RX_REQUESTS, 32, false, 0, "write"},
    {"rx_atomic_requests", IBD_HW, IBF_RX_REQUESTS, 32, false, 0, "atomic"},
    {"rx_dct_connect", IBD_HW, IBF_DCT_CONNECT, 32, false, 0, NULL},
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
const size_t ib_nctrs = sizeof(ib_ctrs) / sizeof(ib_ctrs[0]);

enum ib_layout ib_layout_of(bool has_unicast, bool have_reading, uint64_t max_reading)
{
	if (has_unicast)
		return IBL_EXTENDED;
	if (!have_reading)
		return IBL_UNKNOWN;
	if (max_reading > UINT32_MAX)
		return IBL_NOIETF;
	if (max_reading == UINT32_MAX)
		return IBL_CLASSIC;
	return IBL_UNKNOWN;
}

void ib_layout_width(enum ib_layout l, uint8_t *bits, bool *sat)
{
	*bits = l == IBL_CLASSIC ? 32 : 64;
	*sat = l == IBL_CLASSIC;
}

size_t ib_trim(const char *buf, size_t n)
{
	while (n > 0 && (buf[n - 1] == '\0' || isspace((unsigned char)buf[n - 1])))
		n--;
	return n;
}

int ib_parse_state(const char *buf, size_t n, unsigned *id)
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

/* Decimal arithmetic, so 2.5 Gb/s is exactly 312500000 B/s (1 Gb/s =
 * 125000000 B/s, and 10^k divides that for k <= 6). */
int ib_parse_rate(const char *buf, size_t n, double *bytes_s, unsigned *lanes)
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

bool ib_is_no_pma(const char *buf, size_t n)
{
	static const char na[] = "N/A";

	n = ib_trim(buf, n);
	return n >= sizeof(na) - 1 && memcmp(buf, na, sizeof(na) - 1) == 0;
}
