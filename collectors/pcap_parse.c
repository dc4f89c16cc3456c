/* Packet parser and bounded per-peer accounting of the pcap collector: link
 * layer (Ethernet with 802.1Q/QinQ tags, Linux cooked, raw IP), IPv4, IPv6
 * with its extension headers, TCP, UDP and the RoCEv2 Base Transport Header.
 * Every read is checked against the captured length: packets are outside
 * data. No allocation per packet; the peer table is sized at init.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pcap_parse.h"

/* More tags than a provider network stacks (QinQ is 2): a frame with more is
 * counted as not IP rather than walked further. */
#define PP_MAX_VLAN 4
/* IPv6 extension headers walked before the frame is classed "other". */
#define PP_MAX_EXT 8

static inline uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

bool pp_linktype_ok(int linktype)
{
	switch (linktype) {
	case PP_LINK_NULL:
	case PP_LINK_EN10MB:
	case PP_LINK_RAW:
	case PP_LINK_DLT_RAW:
	case PP_LINK_SLL:
	case PP_LINK_SLL2:
		return true;
	default:
		return false;
	}
}

/* The parse below is one function: every helper is inlined, so a frame
 * walks link header -> VLAN tags -> IPv4/IPv6 -> L4 -> BTH without a call
 * (this runs once per captured frame, next to libpcap's own read loop). */
#define PP_INLINE static inline __attribute__((always_inline))

/* Read in place of header bytes a frame did not capture: all zero, so no
 * port or opcode matches (pp_l4 selects a pointer instead of branching). */
static const uint8_t pp_zero[20];

/* Layer 4 at p (n captured bytes); proto is the IP protocol number. A header
 * cut short still classes the frame by its IP protocol. UDP to port 4791 is
 * RoCEv2, and its 12-byte BTH (when captured) gives the opcode; full (a
 * constant) false: the opcode only, what pp_account reads (pp_frame). The
 * class and the opcode are selected without branches: the protocol changes
 * from one train of frames to the next, and a branch on it would often be
 * mispredicted there. */
PP_INLINE void pp_l4(uint8_t proto, const uint8_t *p, uint32_t n, bool first_frag,
		     struct pp_pkt *out, bool full)
{
	/* the class is the top 3 bits: 0-5 are named, 6 and 7 are not */
	static const enum pp_opclass cls[8] = {
	    PP_RC, PP_UC, PP_RD, PP_UD, PP_CNP, PP_XRC, PP_OPC_OTHER, PP_OPC_OTHER};
	const uint8_t *udp = n >= 8 ? p : pp_zero, *bth;
	bool roce = (proto == 17) & first_frag & (rd16(udp + 2) == PP_ROCEV2_PORT);

	/* other 3, tcp 1, udp 2, rocev2 0 (enum pp_proto), by arithmetic */
	out->proto = (enum pp_proto)(PP_OTHER - 2 * (proto == 6) - (proto == 17) - 2 * roce);
	out->has_bth = roce & (n >= 20);
	bth = out->has_bth ? p + 8 : pp_zero;
	out->opcode = bth[0];
	if (!full || !out->has_bth)
		return;
	out->opclass = cls[bth[0] >> 5];
	out->fecn = (bth[4] & 0x80) != 0;
	out->becn = (bth[4] & 0x40) != 0;
	out->dest_qp = (uint32_t)bth[5] << 16 | (uint32_t)bth[6] << 8 | bth[7];
}

PP_INLINE enum pp_skip pp_ipv4(const uint8_t *p, uint32_t n, struct pp_pkt *out,
			       bool full)
{
	uint32_t ihl, tot;
	uint16_t frag;

	if (n < 20)
		return PP_SKIP_TRUNCATED;
	if (p[0] >> 4 != 4)
		return PP_SKIP_MALFORMED;
	ihl = (uint32_t)(p[0] & 0x0f) * 4;
	tot = rd16(p + 2);
	/* A total length below the header is a lie no stack sends (TSO frames
	 * captured before segmentation carry 0 here on some drivers, and are
	 * counted by their captured header anyway: tot is not used further). */
	if (ihl < 20 || (tot != 0 && tot < ihl))
		return PP_SKIP_MALFORMED;
	out->src.af = out->dst.af = 4;
	memcpy(out->src.a, p + 12, 4);
	memcpy(out->dst.a, p + 16, 4);
	out->ecn_ce = (p[1] & 3) == 3;
	frag = rd16(p + 6) & 0x1fff;
	if (n < ihl) /* options cut off: the protocol is still known */
		pp_l4(p[9], p, 0, false, out, full);
	else
		pp_l4(p[9], p + ihl, n - ihl, frag == 0, out, full);
	return PP_SKIP_NONE;
}

/* IPv6 is out of line: the common frame, IPv4, keeps a short function. */
static __attribute__((noinline)) enum pp_skip pp_ipv6(const uint8_t *p, uint32_t n,
						      struct pp_pkt *out)
{
	uint8_t nh;
	uint32_t off = 40;
	bool first_frag = true;

	if (n < 40)
		return PP_SKIP_TRUNCATED;
	if (p[0] >> 4 != 6)
		return PP_SKIP_MALFORMED;
	out->src.af = out->dst.af = 6;
	memcpy(out->src.a, p + 8, 16);
	memcpy(out->dst.a, p + 24, 16);
	/* traffic class: the low 4 bits of byte 0, the high 4 of byte 1 */
	out->ecn_ce = ((p[1] >> 4) & 3) == 3;
	nh = p[6];
	for (int i = 0; i < PP_MAX_EXT; i++) {
		uint32_t len;

		switch (nh) {
		case 0:	  /* hop-by-hop options */
		case 43:  /* routing */
		case 60:  /* destination options */
		case 135: /* mobility */
		case 139: /* HIP */
		case 140: /* shim6 */
			if (off + 2 > n)
				goto cut;
			len = ((uint32_t)p[off + 1] + 1) * 8;
			break;
		case 44: /* fragment: 8 bytes; only the first fragment has L4 */
			if (off + 8 > n)
				goto cut;
			if ((rd16(p + off + 2) & 0xfff8) != 0)
				first_frag = false;
			len = 8;
			break;
		case 51: /* authentication header: length in 4-octet units - 2 */
			if (off + 2 > n)
				goto cut;
			len = ((uint32_t)p[off + 1] + 2) * 4;
			break;
		default:
			pp_l4(nh, p + off, off <= n ? n - off : 0, first_frag, out, true);
			return PP_SKIP_NONE;
		}
		nh = p[off];
		off += len;
		if (off > n)
			goto cut;
	}
cut:
	/* Extension headers run past the capture (or past PP_MAX_EXT): the
	 * addresses are known, the upper protocol is not. */
	out->proto = PP_OTHER;
	return PP_SKIP_NONE;
}

/* pp_l3_in's answer, with full false, for an IPv6 frame: the caller parses
 * it again on the general path (pp_frame). */
#define PP_SKIP_V6 PP_NSKIP

/* The frame behind a link header: `et` is the header's EtherType (or cooked
 * protocol) and p the bytes after the header. A VLAN tag there is the 2-byte
 * TCI and the next EtherType, the same behind Ethernet and behind Linux
 * cooked v1/v2 (libpcap puts an offloaded tag back that way). full (a
 * constant) false, pp_frame's IPv4 path: IPv6 returns PP_SKIP_V6 instead of
 * being parsed, and of a BTH only the opcode is read. */
PP_INLINE enum pp_skip pp_l3_in(uint16_t et, const uint8_t *p, uint32_t n,
				struct pp_pkt *out, bool full)
{
	if (__builtin_expect(et != 0x0800, 0)) {
		for (int i = 0; et == 0x8100 || et == 0x88a8 || et == 0x9100; i++) {
			if (i == PP_MAX_VLAN)
				return PP_SKIP_NOT_IP;
			if (n < 4)
				return PP_SKIP_TRUNCATED;
			et = rd16(p + 2);
			p += 4;
			n -= 4;
		}
		if (et == 0x86dd)
			return full ? pp_ipv6(p, n, out) : PP_SKIP_V6;
		if (et != 0x0800)
			return PP_SKIP_NOT_IP;
	}
	return pp_ipv4(p, n, out, full);
}

PP_INLINE enum pp_skip pp_l3(uint16_t et, const uint8_t *p, uint32_t n,
			     struct pp_pkt *out)
{
	return pp_l3_in(et, p, n, out, true);
}

/* The link types other than Ethernet. */
static __attribute__((noinline)) enum pp_skip pp_link(int linktype, const uint8_t *p,
						      uint32_t n, struct pp_pkt *out)
{
	switch (linktype) {
	case PP_LINK_EN10MB: /* cut short: pp_parse took the rest */
		return PP_SKIP_TRUNCATED;
	case PP_LINK_SLL: /* 16 bytes, protocol at 14 */
		return n < 16 ? PP_SKIP_TRUNCATED
			      : pp_l3(rd16(p + 14), p + 16, n - 16, out);
	case PP_LINK_SLL2: /* 20 bytes, protocol first */
		return n < 20 ? PP_SKIP_TRUNCATED : pp_l3(rd16(p), p + 20, n - 20, out);
	case PP_LINK_NULL: /* a host-order AF_ value: 2 is IPv4 everywhere */
		if (n < 4)
			return PP_SKIP_TRUNCATED;
		p += 4;
		n -= 4;
		/* fall through */
	case PP_LINK_RAW:
	case PP_LINK_DLT_RAW:
		/* raw IP (no link header): the version nibble says which */
		if (n < 1)
			return PP_SKIP_TRUNCATED;
		if (p[0] >> 4 == 4)
			return pp_ipv4(p, n, out, true);
		if (p[0] >> 4 == 6)
			return pp_ipv6(p, n, out);
		return PP_SKIP_NOT_IP;
	default:
		return PP_SKIP_LINKTYPE;
	}
}

PP_INLINE void pp_pkt_init(struct pp_pkt *out, uint32_t caplen, uint32_t len)
{
	memset(out, 0, sizeof(*out));
	out->proto = PP_OTHER;
	/* A record whose wire length is below what was captured lies about one
	 * of them: the bytes are there, so count them. */
	out->bytes = len < caplen ? caplen : len;
}

PP_INLINE enum pp_skip pp_parse_in(int linktype, const uint8_t *data, uint32_t caplen,
				   uint32_t len, struct pp_pkt *out)
{
	enum pp_skip s;

	pp_pkt_init(out, caplen, len);
	if (__builtin_expect(linktype == PP_LINK_EN10MB && caplen >= 14, 1))
		s = pp_l3(rd16(data + 12), data + 14, caplen - 14, out);
	else
		s = pp_link(linktype, data, caplen, out);
	out->skip = s;
	return s;
}

enum pp_skip pp_parse(int linktype, const uint8_t *data, uint32_t caplen, uint32_t len,
		      struct pp_pkt *out)
{
	return pp_parse_in(linktype, data, caplen, len, out);
}

const char *pp_proto_name(enum pp_proto p)
{
	static const char *const n[PP_NPROTO] = {"rocev2", "tcp", "udp", "other"};

	return (unsigned)p < PP_NPROTO ? n[p] : "other";
}

const char *pp_dir_name(enum pp_dir d)
{
	return d == PP_TX ? "transmit" : "receive";
}

const char *pp_skip_name(enum pp_skip s)
{
	static const char *const n[PP_NSKIP] = {"none",	     "not_ip",	  "truncated",
						"malformed", "not_local", "link_type"};

	return (unsigned)s < PP_NSKIP ? n[s] : "none";
}

const char *pp_opclass_name(enum pp_opclass c)
{
	static const char *const n[] = {"RC", "UC", "RD", "UD", "CNP", "XRC", "other"};

	return (unsigned)c <= PP_OPC_OTHER ? n[c] : "other";
}

const char *pp_addr_text(const struct pp_addr *a, char *buf, size_t cap)
{
	if (!inet_ntop(a->af == 6 ? AF_INET6 : AF_INET, a->a, buf, (socklen_t)cap))
		snprintf(buf, cap, "?");
	return buf;
}

int pp_addr_parse(const char *text, struct pp_addr *out)
{
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, text, out->a) == 1) {
		out->af = 4;
		return 0;
	}
	if (inet_pton(AF_INET6, text, out->a) == 1) {
		out->af = 6;
		return 0;
	}
	return -EINVAL;
}

/* ---- accounting ---- */

static inline bool pp_addr_eq(const struct pp_addr *x, const struct pp_addr *y)
{
	return x->af == y->af && memcmp(x->a, y->a, 16) == 0;
}

static inline uint64_t pp_hash(const struct pp_addr *a)
{
	uint64_t w0, w1, h;

	memcpy(&w0, a->a, 8);
	memcpy(&w1, a->a + 8, 8);
	/* MurmurHash3's 64-bit finalizer: every input bit reaches the low bits
	 * the index takes (IPv4 peers differ only in their last bytes) */
	h = w0 ^ (w1 * 0x9e3779b97f4a7c15ull) ^ a->af;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	return h ^ (h >> 33);
}

static inline uint32_t pp_tag(uint64_t h)
{
	return (uint32_t)(h >> 32) | 1u;
}

/* Empty the pair cache and the frame cache: the table changed in a way
 * that can move a peer to another slot or direction. */
static inline void pp_cache_clear(struct pp_table *t)
{
	t->pair_af = 0;
	t->sig_ok = false;
}

void pp_table_free(struct pp_table *t)
{
	free(t->slot);
	free(t->spare);
	free(t->hot);
	free(t->rank);
	free(t->key);
	free(t->spare_key);
	free(t->evict);
	free(t->local);
	free(t->local4);
	t->local = NULL;
	t->local4 = NULL;
	t->nlocal = t->nlocal4 = t->cap_local = t->cap_local4 = 0;
	t->slot = t->spare = NULL;
	t->hot = NULL;
	t->rank = t->evict = NULL;
	t->key = t->spare_key = NULL;
}

int pp_table_init(struct pp_table *t, size_t top_k, size_t max_peers)
{
	size_t cap = 16;

	memset(t, 0, sizeof(*t));
	if (max_peers < top_k * 2)
		max_peers = top_k * 2;
	/* at most half full: probes stay short */
	while (cap < max_peers * 2)
		cap <<= 1;
	/* everything pp_fold needs is allocated here: folding allocates nothing */
	t->slot = calloc(cap, sizeof(*t->slot));
	t->spare = calloc(cap, sizeof(*t->spare));
	t->hot = aligned_alloc(64, cap * sizeof(*t->hot));
	t->rank = calloc(max_peers, sizeof(*t->rank));
	t->key = calloc(cap, sizeof(*t->key));
	t->spare_key = calloc(cap, sizeof(*t->spare_key));
	t->evict = calloc(max_peers, sizeof(*t->evict));
	if (!t->slot || !t->spare || !t->hot || !t->rank || !t->key || !t->spare_key ||
	    !t->evict) {
		pp_table_free(t);
		return -ENOMEM;
	}
	memset(t->hot, 0, cap * sizeof(*t->hot));
	t->cap = cap;
	t->max_used = max_peers;
	t->top_k = top_k;
	t->max_local = PP_MAX_LOCAL;
	return 0;
}

static int pp_addr_cmp(const struct pp_addr *a, const struct pp_addr *b)
{
	if (a->af != b->af)
		return a->af < b->af ? -1 : 1;
	return memcmp(a->a, b->a, 16);
}

/* Index of the first element not below the key (binary search). */
static size_t pp_local_pos(const struct pp_table *t, const struct pp_addr *a)
{
	size_t lo = 0, hi = t->nlocal;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (pp_addr_cmp(&t->local[mid], a) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static size_t pp_local4_pos(const struct pp_table *t, uint32_t w)
{
	size_t lo = 0, hi = t->nlocal4;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (t->local4[mid] < w)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Room for one more element in a growing array. */
static int pp_grow(void **v, size_t *cap, size_t n, size_t size)
{
	size_t ncap;
	void *nv;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 16;
	nv = realloc(*v, ncap * size);
	if (!nv)
		return -ENOMEM;
	*v = nv;
	*cap = ncap;
	return 0;
}

int pp_table_add_local(struct pp_table *t, const struct pp_addr *a)
{
	size_t i;

	if (pp_is_local(t, a))
		return 0;
	if (t->nlocal >= t->max_local) {
		t->local_left_out++;
		return -ENOSPC;
	}
	if (pp_grow((void **)&t->local, &t->cap_local, t->nlocal, sizeof(*t->local)) < 0)
		return -ENOMEM;
	if (a->af == 4 && pp_grow((void **)&t->local4, &t->cap_local4, t->nlocal4,
				  sizeof(*t->local4)) < 0)
		return -ENOMEM;
	pp_cache_clear(t); /* a cached direction may change */
	i = pp_local_pos(t, a);
	memmove(&t->local[i + 1], &t->local[i], (t->nlocal - i) * sizeof(*t->local));
	t->local[i] = *a;
	t->nlocal++;
	if (a->af == 4) {
		uint32_t w;

		memcpy(&w, a->a, 4);
		i = pp_local4_pos(t, w);
		memmove(&t->local4[i + 1], &t->local4[i],
			(t->nlocal4 - i) * sizeof(*t->local4));
		t->local4[i] = w;
		t->nlocal4++;
	}
	return 0;
}

void pp_table_clear_local(struct pp_table *t)
{
	t->nlocal = t->nlocal4 = 0;
	pp_cache_clear(t);
}

/* The common case, one or two local IPv4 addresses (nlocal4 <= 2): no
 * search. */
static inline bool pp_local4_few(const struct pp_table *t, uint32_t w)
{
	/* one branch, on the count (the same for every packet): which of the
	 * two matches, if any, changes from packet to packet */
	return t->nlocal4 > 0 &&
	       ((t->local4[0] == w) | (t->local4[t->nlocal4 > 1] == w));
}

bool pp_is_local(const struct pp_table *t, const struct pp_addr *a)
{
	size_t i;

	if (a->af == 4) {
		uint32_t w;

		memcpy(&w, a->a, 4);
		if (t->nlocal4 <= 2)
			return pp_local4_few(t, w);
		i = pp_local4_pos(t, w);
		return i < t->nlocal4 && t->local4[i] == w;
	}
	/* a few addresses: compares for equality beat the ordered memcmp
	 * calls of a search */
	if (t->nlocal <= 4) {
		for (i = 0; i < t->nlocal; i++)
			if (pp_addr_eq(&t->local[i], a))
				return true;
		return false;
	}
	i = pp_local_pos(t, a);
	return i < t->nlocal && pp_addr_eq(&t->local[i], a);
}

/* pp_is_local for pp_account (two checks a packet): the common IPv4 case,
 * one or two local IPv4 addresses, inline; the rest calls pp_is_local. */
static inline bool pp_local(const struct pp_table *t, const struct pp_addr *a)
{
	uint32_t w;

	if (a->af != 4 || t->nlocal4 > 2)
		return pp_is_local(t, a);
	memcpy(&w, a->a, 4);
	return pp_local4_few(t, w);
}

/* Key tag of a slot emptied by an eviction: real tags are odd. Probes go
 * past it; pp_fold's rehash clears it. */
#define PP_TAG_GONE 2u

static void pp_add(struct pp_counts *to, struct pp_counts *from);

/* Move slot i's 32-bit counts into its entry's pend. */
static void pp_flush(struct pp_table *t, size_t i)
{
	struct pp_hot *h = &t->hot[i];
	struct pp_counts *c = &t->slot[i].pend;

	for (int pr = 0; pr < PP_NPROTO; pr++)
		for (int d = 0; d < PP_NDIR; d++) {
			c->f[pr][d].bytes += h->f[pr][d].bytes;
			c->f[pr][d].pkts += h->f[pr][d].pkts;
		}
	memset(h, 0, sizeof(*h));
}

/* Make room in a full table: the next entry of the eviction list still
 * without series leaves; what it collected since the fold goes to "other"
 * (it has no series of its own, so no exported counter changes). Bounded
 * per fold so that emptied slots never fill the (half-empty) table. */
static bool pp_evict_one(struct pp_table *t)
{
	while (t->evict_next < t->nevict && t->evicted_since_fold < t->max_used / 2) {
		struct pp_peer *p = t->evict[t->evict_next++];

		/* a slot emptied here may hold a newcomer since: skip it */
		if (!p->used || p->top || p->exported || p->admitted_fold == t->folds)
			continue;
		pp_flush(t, (size_t)(p - t->slot));
		pp_add(&t->other_pend, &p->pend);
		if (t->on_drop)
			t->on_drop(p, t->on_drop_arg);
		p->used = false;
		t->key[p - t->slot].tag = PP_TAG_GONE;
		pp_cache_clear(t); /* it may have named this slot */
		t->used--;
		t->evicted_since_fold++;
		t->evictions++;
		return true;
	}
	return false;
}

/* pp_lookup past its cache: probe the table, add the peer when new. Out of
 * line, so that a cache hit does not pay for this path's registers. */
static __attribute__((noinline)) size_t pp_probe(struct pp_table *t,
						 const struct pp_addr *a)
{
	size_t mask = t->cap - 1, i, gone = SIZE_MAX;
	uint64_t h;
	uint32_t tag;

	h = pp_hash(a);
	tag = pp_tag(h);
	/* the home slot's counters are the likely ones: their line comes in
	 * while the key is compared */
	__builtin_prefetch(&t->hot[(size_t)h & mask], 1);
	for (i = (size_t)h & mask;; i = (i + 1) & mask) {
		struct pp_peer *p;

		struct pp_key *k = &t->key[i];

		if (k->tag == PP_TAG_GONE) {
			if (gone == SIZE_MAX)
				gone = i;
			continue;
		}
		if (k->tag == 0) {
			bool evicted = false;

			if (t->used >= t->max_used) {
				if (!pp_evict_one(t)) {
					/* no room until the next fold (pp_evict_one
					 * fails from now on): the cache remembers
					 * that this peer goes to "other" */
					t->last_addr = *a;
					t->last_valid = true;
					return t->last = SIZE_MAX;
				}
				evicted = true;
			}
			if (gone != SIZE_MAX)
				i = gone;
			k = &t->key[i];
			p = &t->slot[i];
			memset(p, 0, sizeof(*p));
			p->addr = k->addr = *a;
			p->used = true;
			p->probation = evicted;
			p->admitted_fold = t->folds;
			k->tag = tag;
			t->used++;
			t->last_addr = *a;
			t->last_valid = true;
			return t->last = i;
		}
		if (k->tag == tag && pp_addr_eq(&k->addr, a)) {
			t->last_addr = *a;
			t->last_valid = true;
			return t->last = i;
		}
	}
}

/* The peer's slot, added when new; SIZE_MAX when the table is full. The
 * previous packet's peer is compared first against the copy of its address
 * in the table (no load from the entry's address line). */
static inline size_t pp_lookup(struct pp_table *t, const struct pp_addr *a)
{
	if (t->last_valid && pp_addr_eq(&t->last_addr, a))
		return t->last;
	return pp_probe(t, a);
}

/* One packet into 64-bit counters ("other"). */
static inline void pp_count(struct pp_counts *c, const struct pp_pkt *p, enum pp_dir d)
{
	struct pp_flow *f = &c->f[p->proto][d];

	f->bytes += p->bytes;
	f->pkts++;
	/* rare: branches keep the common packet off these cache lines (one
	 * branch each: has_bth differs from train to train) */
	if (__builtin_expect(p->has_bth & (p->opcode == PP_OPCODE_CNP), 0))
		c->cnp[d]++;
	if (__builtin_expect(p->ecn_ce, 0))
		c->ecn_ce[d]++;
}

/* One packet into tracked slot i: the 32-bit line, moved into the entry's
 * pend first when a count would wrap. pkts is checked too: a hand-made
 * pp_pkt may carry 0 bytes (a parsed one has at least its IP header). */
static inline void pp_count_slot(struct pp_table *t, size_t i, const struct pp_pkt *p,
				 enum pp_dir d)
{
	uint32_t *f = &t->hot[i].f[p->proto][d].bytes, b;

	if (__builtin_expect(
		__builtin_add_overflow(f[0], p->bytes, &b) || f[1] == UINT32_MAX, 0)) {
		pp_flush(t, i);
		b = p->bytes;
	}
	f[0] = b;
	f[1]++;
	if (__builtin_expect(p->has_bth & (p->opcode == PP_OPCODE_CNP), 0))
		t->slot[i].pend.cnp[d]++;
	if (__builtin_expect(p->ecn_ce, 0))
		t->slot[i].pend.ecn_ce[d]++;
}

/* One packet to tracked slot i, or to "other" (SIZE_MAX: no room). */
PP_INLINE void pp_count_peer(struct pp_table *t, size_t i, const struct pp_pkt *p,
			     enum pp_dir d)
{
	if (__builtin_expect(i == SIZE_MAX, 0)) {
		t->overflow_pkts++;
		pp_count(&t->other_pend, p, d);
		return;
	}
	pp_count_slot(t, i, p, d);
}

/* A multicast destination (224.0.0.0/4, ff00::/8) or the limited
 * broadcast 255.255.255.255. A subnet-directed broadcast needs the netmask
 * and stays not_local. */
static inline bool pp_group(const struct pp_addr *a)
{
	uint32_t w;

	if (a->af == 4) {
		memcpy(&w, a->a, 4);
		return ((a->a[0] & 0xf0) == 0xe0) | (w == 0xffffffffu);
	}
	return a->a[0] == 0xff;
}

/* The slot and direction of the previous frame's address pair; false when
 * this frame's pair is another. The pair decides both: the local checks,
 * the group check and the lookup are skipped for the rest of a train of
 * frames between the same two addresses. key: the IPv4 pair as one word. */
PP_INLINE bool pp_pair_get(const struct pp_table *t, const struct pp_pkt *p,
			   uint64_t *key, size_t *slot, enum pp_dir *d)
{
	if (__builtin_expect(p->src.af == 4, 1)) {
		uint32_t s, x;

		memcpy(&s, p->src.a, 4);
		memcpy(&x, p->dst.a, 4);
		*key = (uint64_t)s << 32 | x;
		/* one branch: it goes one way for a train, the other at its
		 * end */
		if (((t->pair_key ^ *key) | (t->pair_af ^ 4u)) != 0)
			return false;
	} else if (p->src.af != 6 || t->pair_af != 6 || memcmp(t->pair_src, p->src.a, 16) != 0 ||
		   memcmp(t->pair_dst, p->dst.a, 16) != 0)
		return false;
	*slot = t->pair_slot;
	*d = t->pair_dir;
	return true;
}

PP_INLINE void pp_pair_set(struct pp_table *t, const struct pp_pkt *p, uint64_t key,
			   size_t slot, enum pp_dir d)
{
	t->pair_af = p->src.af;
	if (p->src.af == 4)
		t->pair_key = key;
	else {
		memcpy(t->pair_src, p->src.a, 16);
		memcpy(t->pair_dst, p->dst.a, 16);
	}
	t->pair_slot = slot;
	t->pair_dir = d;
}

PP_INLINE enum pp_skip pp_account_in(struct pp_table *t, const struct pp_pkt *p)
{
	const struct pp_addr *peer;
	enum pp_dir d;
	uint64_t key = 0;
	bool ls, ld;
	size_t i;

	if (p->skip != PP_SKIP_NONE) {
		t->skipped[p->skip < PP_NSKIP ? p->skip : 0]++;
		return p->skip;
	}
	if (pp_pair_get(t, p, &key, &i, &d)) {
		if (__builtin_expect(d == PP_NDIR, 0))
			goto not_local;
		goto count;
	}
	/* Both local (a capture of traffic between two of this node's
	 * addresses): counted once, as transmit to the destination. To a
	 * group (multicast, limited broadcast) from elsewhere: received from
	 * its source, as this node's own group traffic counts as transmit to
	 * the group. Both checks are made, and the direction selected without
	 * a branch: it changes from one train of frames to the next. */
	ls = pp_local(t, &p->src);
	ld = pp_local(t, &p->dst) | pp_group(&p->dst);
	if (__builtin_expect(!(ls | ld), 0)) {
		/* PP_NDIR: the cached pair is neither node's */
		pp_pair_set(t, p, key, SIZE_MAX, PP_NDIR);
		goto not_local;
	}
	d = ls ? PP_TX : PP_RX;
	peer = ls ? &p->dst : &p->src;
	i = pp_lookup(t, peer);
	/* after the lookup: an eviction in it clears the cache */
	pp_pair_set(t, p, key, i, d);
count:
	pp_count_peer(t, i, p, d);
	return PP_SKIP_NONE;
not_local:
	t->skipped[PP_SKIP_NOT_LOCAL]++;
	return PP_SKIP_NOT_LOCAL;
}

enum pp_skip pp_account(struct pp_table *t, const struct pp_pkt *p)
{
	return pp_account_in(t, p);
}

/* pp_frame's general path: any link type, IPv6 */
static __attribute__((noinline)) enum pp_skip
pp_frame_all(struct pp_table *t, int linktype, const uint8_t *data, uint32_t caplen,
	     uint32_t len)
{
	struct pp_pkt p;

	pp_parse_in(linktype, data, caplen, len, &p);
	return pp_account_in(t, &p);
}

/* ---- the frame cache ----
 * A train of frames of one flow (a bulk transfer, a RoCE queue pair) differs
 * from frame to frame only in bytes that decide nothing here: lengths, IP
 * id, TTL, checksums, TCP ports, sequence numbers. The cache keeps two
 * windows of the previous IPv4 Ethernet frame, under a mask of the bytes
 * pp_parse and pp_account decided by: bytes 12-27 (the EtherType and up to
 * three VLAN tags, compared whole) and the 32 bytes from the IP header on
 * (version and IHL 5, ECN, fragment offset, protocol, addresses, the UDP
 * destination port, the BTH opcode of RoCEv2). A frame equal to it under
 * the mask, with at least sig_min bytes captured (past every length pp_parse
 * checks: IP + 20 + UDP 8 + BTH 12), and whose total length is not a lie,
 * is counted where the cached one was (a tracked peer, or "other" while
 * the table has no room), without parsing. Every change of the table that
 * can move a peer or its direction (pp_fold, an eviction, the local
 * addresses) empties it (pp_cache_clear). tests/test_pcap.c and the fuzz target check
 * that pp_frame counts exactly what pp_parse + pp_account do. */
#define PP_SIG_TAGS 3 /* VLAN tags window 12-27 holds */

/* The two windows under the cache's mask equal the cached ones (16 bytes
 * at a time, pp_v2). */

PP_INLINE bool pp_sig_match(const struct pp_table *t, const uint8_t *data)
{
	pp_v2 a, b, c, x;

	memcpy(&a, data + 12, 16);
	memcpy(&b, data + t->sig_ip, 16);
	memcpy(&c, data + t->sig_ip + 16, 16);
	x = ((a & t->sig_mask[0]) ^ t->sig[0]) | ((b & t->sig_mask[1]) ^ t->sig[1]) |
	    ((c & t->sig_mask[2]) ^ t->sig[2]);
	return (x[0] | x[1]) == 0;
}

/* The masks: bytes 12-27 by VLAN tags (the EtherType and the tags), the 32
 * from the IP header by class (bit 0: UDP, its destination port; bit 1: a
 * BTH, its opcode). */
static const uint8_t pp_sig_mask_l2[PP_SIG_TAGS + 1][16]
    __attribute__((aligned(16))) = {
	{[0 ... 1] = 0xff}, {[0 ... 5] = 0xff}, {[0 ... 9] = 0xff}, {[0 ... 13] = 0xff}};
#define PP_SIG_IP_MASK                                                                    \
	[0] = 0xff,	     /* version and IHL */                                        \
	    [1] = 0x03,	     /* ECN (the rest of the TOS byte: no) */                     \
	    [6] = 0x1f,	     /* fragment offset, 13 bits */                               \
	    [7] = 0xff, [9] = 0xff, /* protocol */                                         \
	    [12 ... 19] = 0xff	    /* source and destination */
static const uint8_t pp_sig_mask_ip[4][32] __attribute__((aligned(16))) = {
    {PP_SIG_IP_MASK},
    {PP_SIG_IP_MASK, [22 ... 23] = 0xff},
    {PP_SIG_IP_MASK, [28] = 0xff},
    {PP_SIG_IP_MASK, [22 ... 23] = 0xff, [28] = 0xff}};

/* Cache a frame that pp_frame_parse counted to slot i, direction d, if it
 * is one the cache can take. */
PP_INLINE void pp_sig_set(struct pp_table *t, const uint8_t *data, uint32_t caplen,
			  const struct pp_pkt *p, size_t i, enum pp_dir d)
{
	uint32_t off = 14, tags = 0;
	uint16_t et = rd16(data + 12);
	struct pp_counts *c;
	const uint8_t *mi;
	pp_v2 v, m;

	if (d == PP_NDIR)
		return;
	while ((et == 0x8100 || et == 0x88a8 || et == 0x9100) && tags < PP_SIG_TAGS &&
	       off + 4 <= caplen) {
		off += 4;
		tags++;
		et = rd16(data + off - 2);
	}
	/* the IP header at off; past every length pp_parse checks: IP 20 +
	 * UDP 8 + BTH 12 */
	if (et != 0x0800 || caplen < off + 40 || data[off] != 0x45)
		return;
	mi = pp_sig_mask_ip[(data[off + 9] == 17) | (p->has_bth << 1)];
	memcpy(&m, pp_sig_mask_l2[tags], 16);
	memcpy(&v, data + 12, 16);
	t->sig_mask[0] = m;
	t->sig[0] = v & m;
	memcpy(&m, mi, 16);
	memcpy(&v, data + off, 16);
	t->sig_mask[1] = m;
	t->sig[1] = v & m;
	memcpy(&m, mi + 16, 16);
	memcpy(&v, data + off + 16, 16);
	t->sig_mask[2] = m;
	t->sig[2] = v & m;
	t->sig_ip = off;
	t->sig_min = off + 40;
	t->sig_slot = i;
	if (i == SIZE_MAX) { /* no room: "other", 64-bit counters */
		c = &t->other_pend;
		t->sig_count = NULL;
		t->sig_other = &c->f[p->proto][d];
	} else {
		c = &t->slot[i].pend;
		t->sig_count = &t->hot[i].f[p->proto][d].bytes;
		t->sig_other = NULL;
	}
	t->sig_ecn = p->ecn_ce ? &c->ecn_ce[d] : NULL;
	t->sig_cnp = (p->has_bth & (p->opcode == PP_OPCODE_CNP)) ? &c->cnp[d] : NULL;
	t->sig_ok = true;
}

/* A frame the frame cache did not take: Ethernet (tagged or not) with IPv4
 * between the addresses of the previous frame without a call; a frame the
 * pair cache does not know goes to pp_account, IPv6 and other link types to
 * the general path. Of a BTH only the opcode is read: the other fields are
 * pp_parse's, pp_account reads none of them. */
static __attribute__((noinline)) enum pp_skip
pp_frame_parse(struct pp_table *t, int linktype, const uint8_t *data, uint32_t caplen,
	       uint32_t len)
{
	struct pp_pkt p;
	enum pp_skip s;
	enum pp_dir d;
	uint64_t key;
	size_t i;

	if (__builtin_expect(linktype != PP_LINK_EN10MB || caplen < 14, 0))
		return pp_frame_all(t, linktype, data, caplen, len);
	pp_pkt_init(&p, caplen, len);
	s = pp_l3_in(rd16(data + 12), data + 14, caplen - 14, &p, false);
	if (__builtin_expect(s != PP_SKIP_NONE, 0)) {
		if (s == PP_SKIP_V6)
			return pp_frame_all(t, linktype, data, caplen, len);
		t->skipped[s]++;
		return s;
	}
	if (__builtin_expect(!pp_pair_get(t, &p, &key, &i, &d), 0)) {
		struct pp_pkt copy = p;

		s = pp_account(t, &copy);
		/* the pair cache now holds this frame's slot and direction */
		if (s == PP_SKIP_NONE)
			pp_sig_set(t, data, caplen, &p, t->pair_slot, t->pair_dir);
		return s;
	}
	if (__builtin_expect(d == PP_NDIR, 0)) {
		t->skipped[PP_SKIP_NOT_LOCAL]++;
		return PP_SKIP_NOT_LOCAL;
	}
	pp_count_peer(t, i, &p, d);
	pp_sig_set(t, data, caplen, &p, i, d);
	return PP_SKIP_NONE;
}

/* A frame the frame cache takes costs a compare and two adds, in a function
 * that saves no register; any other goes to pp_frame_parse. */
enum pp_skip pp_frame(struct pp_table *t, int linktype, const uint8_t *data,
		      uint32_t caplen, uint32_t len)
{
	uint32_t *f = t->sig_count, b, n = len < caplen ? caplen : len;

	if (__builtin_expect(!(t->sig_ok & (linktype == PP_LINK_EN10MB) &
			       (caplen >= t->sig_min)),
			     0) ||
	    !pp_sig_match(t, data) ||
	    /* a total length of 1-19, below the header, is malformed */
	    __builtin_expect((uint32_t)rd16(data + t->sig_ip + 2) - 1u < 19u, 0))
		return pp_frame_parse(t, linktype, data, caplen, len);
	if (__builtin_expect(f == NULL, 0)) {
		/* to "other" (no room in the table until the next fold) */
		t->sig_other->bytes += n;
		t->sig_other->pkts++;
		t->overflow_pkts++;
	} else {
		/* a count that would pass 32 bits: pp_count_slot moves it */
		if (__builtin_expect(__builtin_add_overflow(f[0], n, &b) || f[1] == UINT32_MAX,
				     0))
			return pp_frame_parse(t, linktype, data, caplen, len);
		f[0] = b;
		f[1]++;
	}
	/* the cached frame's ECN-CE mark and CNP opcode are this one's */
	if (__builtin_expect(t->sig_ecn != NULL, 0))
		(*t->sig_ecn)++;
	if (__builtin_expect(t->sig_cnp != NULL, 0))
		(*t->sig_cnp)++;
	return PP_SKIP_NONE;
}

static uint64_t pp_total_bytes(const struct pp_counts *c)
{
	uint64_t s = 0;

	for (int i = 0; i < PP_NPROTO; i++)
		s += c->f[i][PP_TX].bytes + c->f[i][PP_RX].bytes;
	return s;
}

static void pp_add(struct pp_counts *to, struct pp_counts *from)
{
	uint64_t *a = (uint64_t *)to, *b = (uint64_t *)from;

	for (size_t i = 0; i < sizeof(*to) / sizeof(uint64_t); i++)
		a[i] += b[i];
	memset(from, 0, sizeof(*from));
}

/* Ranking order: higher score first, then the address (deterministic). */
static int pp_rank_cmp(const void *x, const void *y)
{
	const struct pp_peer *a = *(const struct pp_peer *const *)x;
	const struct pp_peer *b = *(const struct pp_peer *const *)y;

	if (a->score != b->score)
		return a->score > b->score ? -1 : 1;
	if (a->addr.af != b->addr.af)
		return a->addr.af < b->addr.af ? -1 : 1;
	return memcmp(a->addr.a, b->addr.a, 16);
}

static int pp_linger_cmp(const void *x, const void *y)
{
	const struct pp_peer *a = *(const struct pp_peer *const *)x;
	const struct pp_peer *b = *(const struct pp_peer *const *)y;

	/* most recently gone first: the first top_k stay */
	if (a->left_fold != b->left_fold)
		return a->left_fold > b->left_fold ? -1 : 1;
	return pp_rank_cmp(x, y);
}

/* Eviction order: the lowest score first; at equal scores plain entries
 * before tombstones (a tombstone keeps a returning peer's counters). */
static int pp_evict_cmp(const void *x, const void *y)
{
	const struct pp_peer *a = *(const struct pp_peer *const *)x;
	const struct pp_peer *b = *(const struct pp_peer *const *)y;

	if (a->score != b->score)
		return a->score < b->score ? -1 : 1;
	if (!a->retired_fold != !b->retired_fold)
		return a->retired_fold ? 1 : -1;
	return -pp_rank_cmp(x, y);
}

/* Re-insert every used entry of a table in which some were dropped (linear
 * probing cannot just clear a slot) into the spare array, which becomes the
 * table. At fold time only: a few thousand entries at most. pp_fold has
 * moved every slot's hot counts into its pend already: the hot lines are all
 * zero and stay with no slot. */
static void pp_rehash(struct pp_table *t)
{
	size_t mask = t->cap - 1, n = 0;
	struct pp_peer *old = t->slot, *fresh = t->spare;
	struct pp_key *old_key = t->key, *fresh_key = t->spare_key;

	memset(fresh, 0, t->cap * sizeof(*fresh));
	memset(fresh_key, 0, t->cap * sizeof(*fresh_key));
	for (size_t i = 0; i < t->cap; i++) {
		uint64_t h;
		size_t j;

		if (!old[i].used)
			continue;
		h = pp_hash(&old[i].addr);
		for (j = (size_t)h & mask; fresh_key[j].tag; j = (j + 1) & mask)
			;
		fresh[j] = old[i];
		fresh_key[j].tag = pp_tag(h);
		fresh_key[j].addr = old[i].addr;
		n++;
	}
	t->spare = old;
	t->slot = fresh;
	t->spare_key = old_key;
	t->key = fresh_key;
	t->used = n;
}

void pp_fold(struct pp_table *t, double decay, uint64_t linger_folds)
{
	struct pp_peer **v = t->rank;
	size_t n = 0, nlinger = 0, dropped = 0, nnamed = 0;

	t->folds++;
	t->last_valid = false;
	pp_cache_clear(t);
	for (size_t i = 0; i < t->cap; i++) {
		struct pp_peer *p = &t->slot[i];

		if (!p->used)
			continue;
		pp_flush(t, i);
		p->score = p->score * decay + (double)pp_total_bytes(&p->pend);
		v[n++] = p;
	}
	qsort(v, n, sizeof(*v), pp_rank_cmp);
	for (size_t i = 0; i < n; i++) {
		struct pp_peer *p = v[i];
		/* on probation, it takes no place in the top K */
		bool top = nnamed < t->top_k && p->score >= 1.0 && !p->probation;

		nnamed += top;
		p->probation = false;
		if (p->top && !top)
			p->left_fold = t->folds;
		p->top = top;
		if (top) {
			p->exported = true;
			p->retired_fold = 0;
		}
		pp_add(top ? &p->exp : &t->other.exp, &p->pend);
	}
	pp_add(&t->other.exp, &t->other_pend);
	/* Lingering series: out of the top K, still exported. Retire those
	 * gone longer than linger_folds, and all but the top_k most recent. */
	for (size_t i = 0; i < n; i++)
		if (v[i]->exported && !v[i]->top) {
			if (t->folds - v[i]->left_fold >= linger_folds) {
				v[i]->exported = false;
				v[i]->retired_fold = t->folds;
			} else
				v[nlinger++] = v[i];
		}
	qsort(v, nlinger, sizeof(*v), pp_linger_cmp);
	for (size_t i = t->top_k; i < nlinger; i++) {
		v[i]->exported = false;
		v[i]->retired_fold = t->folds;
	}
	/* Idle entries leave the table, so new peers find room; a retired
	 * one (tombstone) only a linger after its retirement. */
	for (size_t i = 0; i < t->cap; i++) {
		struct pp_peer *p = &t->slot[i];

		if (p->used && !p->top && !p->exported && p->score < 1.0 &&
		    (!p->retired_fold || t->folds - p->retired_fold >= linger_folds)) {
			if (t->on_drop)
				t->on_drop(p, t->on_drop_arg);
			p->used = false;
			dropped++;
		}
	}
	if (dropped || t->evicted_since_fold)
		pp_rehash(t);
	/* the eviction list for the next interval, from the rehashed table */
	t->nevict = t->evict_next = t->evicted_since_fold = 0;
	for (size_t i = 0; i < t->cap; i++) {
		struct pp_peer *p = &t->slot[i];

		if (p->used && !p->top && !p->exported)
			t->evict[t->nevict++] = p;
	}
	qsort(t->evict, t->nevict, sizeof(*t->evict), pp_evict_cmp);
}
