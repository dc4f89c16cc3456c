/* Packet parser and bounded per-peer accounting of the pcap collector
 * (collectors/pcap.c): pure code, no libpcap and no agent calls, so the Check
 * suite, the fuzz target and the benchmark drive it directly. A frame gives
 * its peer address, protocol class, direction, RoCEv2 BTH fields and ECN-CE;
 * the table keeps per-peer counters, ranks peers and folds all but the top K
 * into one "other" entry with counters that only grow (see pp_fold).
 */
#ifndef ACCELMON_PCAP_PARSE_H
#define ACCELMON_PCAP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Link types (the LINKTYPE_/DLT_ values of pcap files and handles). */
#define PP_LINK_NULL 0	   /* BSD loopback: 4-byte host-order family */
#define PP_LINK_EN10MB 1   /* Ethernet */
#define PP_LINK_RAW 101	   /* raw IPv4/IPv6 (LINKTYPE_RAW) */
#define PP_LINK_DLT_RAW 12 /* the same as libpcap's DLT_RAW on Linux */
#define PP_LINK_SLL 113	   /* Linux cooked v1 ("any" device) */
#define PP_LINK_SLL2 276   /* Linux cooked v2 */

/* RoCEv2 is InfiniBand transport over UDP to this port (IANA). */
#define PP_ROCEV2_PORT 4791
/* Congestion Notification Packet: the one opcode of the CNP class. */
#define PP_OPCODE_CNP 0x81

enum pp_proto { PP_ROCEV2, PP_TCP, PP_UDP, PP_OTHER, PP_NPROTO };
enum pp_dir { PP_TX, PP_RX, PP_NDIR };
/* Transport class of the BTH opcode (its top 3 bits). */
enum pp_opclass { PP_RC, PP_UC, PP_RD, PP_UD, PP_CNP, PP_XRC, PP_OPC_OTHER };

/* Why a frame counts toward no peer (fabric_pcap_unattributed_packets_total). */
enum pp_skip {
	PP_SKIP_NONE = 0,
	PP_SKIP_NOT_IP,	   /* ARP, LLDP, an unknown EtherType */
	PP_SKIP_TRUNCATED, /* captured bytes end before the IP addresses */
	PP_SKIP_MALFORMED, /* an IP header that cannot be (version, IHL, length) */
	PP_SKIP_NOT_LOCAL, /* neither address is this node's */
	PP_SKIP_LINKTYPE,  /* a link type the parser does not know */
	PP_NSKIP
};

struct pp_addr {
	uint8_t af; /* 4 or 6 */
	uint8_t pad[3];
	uint8_t a[16]; /* IPv4: the first 4 bytes, the rest zero */
};

/* What pp_parse found in one frame. */
struct pp_pkt {
	enum pp_skip skip; /* PP_SKIP_NONE: src and dst are valid */
	struct pp_addr src, dst;
	enum pp_proto proto;
	bool ecn_ce;  /* IP ECN field = 11 (congestion experienced) */
	bool has_bth; /* RoCEv2 with all 12 BTH bytes captured */
	uint8_t opcode;
	enum pp_opclass opclass;
	bool fecn, becn;
	uint32_t dest_qp; /* 24 bits */
	uint32_t bytes;	  /* counted length: the wire length */
};

/* Parse one frame: link type, captured bytes (caplen) and the length the
 * frame had on the wire (len; a header whose len is below caplen is taken
 * as caplen). Every read is bounded by caplen; outside data never reads out
 * of bounds. Returns the skip reason (also in out->skip). */
enum pp_skip pp_parse(int linktype, const uint8_t *data, uint32_t caplen, uint32_t len,
		      struct pp_pkt *out);

/* Whether the parser knows this link type. */
bool pp_linktype_ok(int linktype);

const char *pp_proto_name(enum pp_proto p);
const char *pp_dir_name(enum pp_dir d);
const char *pp_skip_name(enum pp_skip s);
const char *pp_opclass_name(enum pp_opclass c);

/* Text of an address (inet_ntop); buf of at least 46 bytes. */
const char *pp_addr_text(const struct pp_addr *a, char *buf, size_t cap);
/* Parse "10.0.0.1" or "fd00::1"; 0 or -EINVAL. */
int pp_addr_parse(const char *text, struct pp_addr *out);

/* ---- per-peer accounting ---- */

/* bytes and packets side by side: a packet touches one cache line */
struct pp_flow {
	uint64_t bytes, pkts;
};

struct pp_counts {
	struct pp_flow f[PP_NPROTO][PP_NDIR];
	uint64_t cnp[PP_NDIR];	  /* RoCEv2 CNPs (opcode 0x81) */
	uint64_t ecn_ce[PP_NDIR]; /* packets marked congestion experienced */
};

/* One tracked peer. `pend` (with the slot's pp_hot) collects what arrived
 * since the last pp_fold; `exp` is what the peer's own series export (only
 * grows). */
struct pp_peer {
	struct pp_addr addr;
	bool used;
	bool top;	    /* among the top K at the last fold */
	bool exported;	    /* its series exist (top now, or lingering) */
	uint64_t left_fold; /* fold at which it last left the top K */
	/* fold at which its series were retired (0: never, or named again
	 * since): the entry stays one more linger, so a peer that returns
	 * continues its counters instead of restarting them from 0 */
	uint64_t retired_fold;
	/* admitted by evicting another entry: not named at its first fold,
	 * so a scan's one-packet addresses do not each get series */
	bool probation;
	uint64_t admitted_fold; /* the table's fold count when it came in */
	double score;		/* decayed bytes, the ranking key */
	struct pp_counts pend, exp;
	void *user; /* the collector's series ids; moved with the entry */
};

/* What packets add to one tracked peer until the next fold, by protocol and
 * direction: 32-bit counts in one cache line per slot (hot[i] beside
 * slot[i]), so that a packet, or the first of a train, touches one line of
 * counters; a count that would pass 32 bits first moves the line into the
 * entry's 64-bit `pend` (pp_fold and an eviction take both). */
struct pp_hot {
	struct {
		uint32_t bytes, pkts;
	} f[PP_NPROTO][PP_NDIR];
};

/* 16 bytes compared at a time (GCC's vector extension: SSE2 on x86-64) */
typedef uint64_t pp_v2 __attribute__((vector_size(16)));

struct pp_key {
	uint32_t tag;
	struct pp_addr addr;
};

struct pp_table {
	/* local addresses, sorted (binary search): a node may carry
	 * thousands (Kubernetes IPVS puts every service IP on kube-ipvs0) */
	struct pp_addr *local;
	size_t nlocal, cap_local;
	uint32_t *local4; /* the IPv4 ones as words, sorted */
	size_t nlocal4, cap_local4;
	size_t max_local;	 /* at most this many (PP_MAX_LOCAL) */
	uint64_t local_left_out; /* add_local calls refused past max_local */
	struct pp_peer *slot;	 /* open addressing, linear probing */
	/* per slot, its key: tag 0 free, else the upper hash bits | 1, and
	 * the address; probes read this compact array (24 bytes a slot) and
	 * touch the large slot only for the counters of a match */
	struct pp_key *key, *spare_key;
	struct pp_peer *spare; /* same size: pp_fold rehashes into it */
	struct pp_hot *hot;    /* per slot, 64-byte aligned; zero after a fold */
	struct pp_peer **rank; /* max_used entries: pp_fold's ranking */
	/* entries without series, lowest score first (tombstones last):
	 * when the table is full a new peer takes the place of the next one
	 * (space saving), so a heavy new peer is not kept out by a scan */
	struct pp_peer **evict;
	size_t nevict, evict_next, evicted_since_fold;
	uint64_t evictions;
	size_t cap; /* power of two */
	size_t used, max_used;
	size_t top_k;
	struct pp_peer other; /* peer="other": folded and overflow traffic */
	struct pp_counts other_pend;
	uint64_t skipped[PP_NSKIP];
	uint64_t folds;
	uint64_t overflow_pkts; /* packets of new peers while the table was full */
	/* lookup cache: the previous lookup's address and its slot, SIZE_MAX
	 * when it went to "other" (a full table stays full until the next
	 * fold) */
	bool last_valid;
	size_t last;
	struct pp_addr last_addr;
	/* pair cache: the previous frame's source and destination (IPv4: one
	 * word, pair_key; IPv6: pair_src, pair_dst) with the slot and direction
	 * pp_account found for them (direction PP_NDIR: not local); pair_af 0
	 * (empty) after pp_fold, an eviction and a change of the local
	 * addresses */
	uint32_t pair_af;
	enum pp_dir pair_dir;
	uint64_t pair_key;
	size_t pair_slot;
	uint8_t pair_src[16], pair_dst[16];
	/* frame cache (pp_frame): the previous frame's bytes 12-27 and the 32
	 * from its IP header (at sig_ip) under a mask of those that decide its
	 * accounting, and where it was counted (its 32-bit counts in slot
	 * sig_slot's hot line; its ECN-CE and CNP counters when it had them);
	 * emptied with the pair cache */
	bool sig_ok;
	uint32_t sig_ip, sig_min;
	pp_v2 sig[3], sig_mask[3];
	size_t sig_slot;	     /* SIZE_MAX: "other" */
	uint32_t *sig_count;	     /* NULL for "other" */
	struct pp_flow *sig_other; /* "other": its 64-bit counters */
	uint64_t *sig_ecn, *sig_cnp;
	void (*on_drop)(struct pp_peer *p, void *arg); /* entry leaves the table */
	void *on_drop_arg;
};

/* A table for up to max_peers tracked peers (exported: at most 2 x top_k).
 * When it is full, a new peer evicts the lowest-score entry that has no
 * series (its pending counts go to "other"), at most max_peers / 2 between
 * two folds; with none to evict the new peer's traffic goes to "other".
 * 0 or -ENOMEM. */
int pp_table_init(struct pp_table *t, size_t top_k, size_t max_peers);
void pp_table_free(struct pp_table *t);
#define PP_MAX_LOCAL 65536
/* Add a local address (direction is decided by them); -ENOSPC past
 * max_local (PP_MAX_LOCAL; local_left_out counts them), -ENOMEM. */
int pp_table_add_local(struct pp_table *t, const struct pp_addr *a);
bool pp_is_local(const struct pp_table *t, const struct pp_addr *a);
/* Forget the local addresses (before adding the current ones again). */
void pp_table_clear_local(struct pp_table *t);

/* Account one parsed frame; returns its skip reason (NOT_LOCAL when neither
 * address is local). */
enum pp_skip pp_account(struct pp_table *t, const struct pp_pkt *p);

/* pp_parse and pp_account of one frame in one call: the collector's
 * per-packet path (the same results as the two calls). */
enum pp_skip pp_frame(struct pp_table *t, int linktype, const uint8_t *data,
		      uint32_t caplen, uint32_t len);

/* Fold what arrived since the last fold into the exported counters, with
 * `decay` (0..1) applied to the ranking scores first. The rule that keeps
 * every exported counter monotonic: each new byte and packet goes to exactly
 * one series, the peer's own while the peer is in the top K at this fold,
 * else "other"; nothing is ever moved between series. A peer that leaves the
 * top K keeps its series (frozen, still exported) for `linger_folds` folds,
 * then the series is retired (at most top_k lingering: the longest gone go
 * first); back in the top K it continues from its frozen value. A retired
 * entry stays in the table (a tombstone) at least linger_folds more folds,
 * so a peer that comes back continues from its value rather than 0. Peers
 * whose score decayed below 1 byte, outside the top K, without series and
 * not a tombstone, leave the table (on_drop is called for every entry that
 * leaves, and for an evicted one). */
void pp_fold(struct pp_table *t, double decay, uint64_t linger_folds);

#endif
