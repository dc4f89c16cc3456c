/* InfiniBand collector: what it knows of sysfs text and layout, apart from
 * the collector (collectors/infiniband.c) so that tests and the fuzzer call
 * it directly: the port state and rate parsers, and the table of counter
 * files with their family, width and saturation.
 */
#ifndef ACCELMON_INFINIBAND_PARSE_H
#define ACCELMON_INFINIBAND_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The collector's families (collectors/infiniband.c defines them). */
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
	IBF_ADP_RETRANS,
	IBF_SLOW_RESTART,
	IBF_RX_REQUESTS,
	IBF_DCT_CONNECT,
	IBF_DUP,
	IBF_COMPL,
	IBF_LIFESPAN,
	IBF_N
};

/* The per-port folders counters are read from. */
enum ib_dir { IBD_COUNTERS, IBD_EXT, IBD_HW, IBD_N };
extern const char *const ib_dir_names[IBD_N];

/* What a counter file feeds: transmit or receive bytes (the inputs of the
 * utilization ratio), a layout-dependent data/packet counter, or neither. */
enum ib_role { IBR_NONE, IBR_TX, IBR_RX };

/* One known counter file. bits 0 means "depends on the port's PortCounters
 * layout" (ib_layout_width). */
struct ib_ctr {
	const char *file;
	uint8_t dir;
	uint8_t fam;
	uint8_t bits;
	bool sat;
	uint8_t role;
	const char *label; /* type label, NULL for families without one */
};

extern const struct ib_ctr ib_ctrs[];
extern const size_t ib_nctrs;

/* The three PortCounters layouts of the kernel (drivers/infiniband/core/
 * sysfs.c): classic 32-bit data/packet counters, which saturate; extended
 * (64-bit, with unicast/multicast files); "noietf" (64-bit data/packets
 * without unicast/multicast files: hfi1, mlx4). Only extended can be told
 * from the file names; the other two are told by their values. */
enum ib_layout {
	IBL_UNKNOWN, /* no unicast files, no reading that tells */
	IBL_CLASSIC, /* a data/packet counter sits at 2^32-1 */
	IBL_EXTENDED,
	IBL_NOIETF, /* a data/packet counter read above 2^32-1 */
};

/* The layout told by the port's files and first readings: has_unicast when
 * counters/unicast_xmit_packets exists, else the largest of the readings of
 * the four data/packet counters (max_reading; have_reading false when none
 * read). */
enum ib_layout ib_layout_of(bool has_unicast, bool have_reading, uint64_t max_reading);

/* Width and saturation of a layout-dependent counter (ib_ctr.bits 0):
 * classic: 32-bit saturating; every other layout 64-bit (an unknown one is
 * taken as 64-bit: a 32-bit counter that later sticks at its maximum stays
 * there, a 64-bit one is never refused). */
void ib_layout_width(enum ib_layout l, uint8_t *bits, bool *sat);

/* Length of buf[0..n) without trailing white space and NUL bytes. */
size_t ib_trim(const char *buf, size_t n);

/* "4: ACTIVE" -> 4. 0 or -EINVAL. */
int ib_parse_state(const char *buf, size_t n, unsigned *id);

/* "400 Gb/sec (4X NDR)", "2.5 Gb/sec (1X SDR)" -> bytes/s and lanes (0 when
 * the width part is missing). 0 or -EINVAL. */
int ib_parse_rate(const char *buf, size_t n, double *bytes_s, unsigned *lanes);

/* A counter file that holds no counter because the port has no
 * performance management agent (iWARP i40iw: "N/A (no PMA)"). */
bool ib_is_no_pma(const char *buf, size_t n);

#endif
