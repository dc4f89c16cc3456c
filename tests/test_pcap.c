/* Check suite for the pcap collector: the parser (collectors/pcap_parse.c)
 * on frames built by tests/pcap_frames.c, the top-K table and its monotonic
 * folding rule, and the collector on the fake of the collector API replaying
 * pcap files this suite writes (pcap_open_dead + pcap_dump), with exact
 * per-peer figures; plus the clear errors (no CAP_NET_RAW, RDMA device
 * without a sample window, unknown link type).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../collectors/pcap_parse.h"
#include "accelmon/collector.h"
#include "fake_am.h"
#include "pcap_frames.h"

extern const struct am_collector pcap_collector;
static const struct am_collector *const PC = &pcap_collector;

static struct am_ctx *C;
static void *S;
static char dir[64], path[128];

static void violation(const char *msg)
{
	ck_abort_msg("%s", msg);
}

static void setup(void)
{
	fake_am_on_violation(violation);
	C = fake_am_new("pcap", NULL);
	S = NULL;
	snprintf(dir, sizeof(dir), "/tmp/test_pcap.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/t.pcap", dir);
}

static void teardown(void)
{
	if (S)
		PC->fini(C, S);
	fake_am_free(C);
	unlink(path);
	/* the fixture sysfs of rdma_windows_on_a_live_handle, where made */
	for (int i = 0; i < 4; i++) {
		static const char *const sub[] = {"sys/class/infiniband/lo",
						  "sys/class/infiniband", "sys/class",
						  "sys"};
		char p[160];

		snprintf(p, sizeof(p), "%s/%s", dir, sub[i]);
		rmdir(p);
	}
	rmdir(dir);
}

/* init with this YAML section; its return code */
static int start(const char *yaml)
{
	char err[256] = "";
	const struct am_config *cfg = fake_am_config(C, PC, yaml, err, sizeof(err));

	ck_assert_msg(cfg, "config: %s", err);
	return PC->init(C, cfg, &S);
}

static size_t frame(uint8_t *buf, const struct pf_spec *s)
{
	size_t n = pf_frame(buf, 9000, s);

	ck_assert_uint_gt(n, 0);
	return n;
}

static uint64_t val(const char *fam, const char *key)
{
	const struct fake_series *s = fake_am_find(C, fam, key);

	ck_assert_msg(s, "no %s{%s}", fam, key);
	return s->last_u64;
}

static bool has(const char *fam, const char *key)
{
	return fake_am_find(C, fam, key) != NULL;
}

/* ---- parser ---- */

static struct pp_pkt parse(const uint8_t *buf, size_t len, uint32_t caplen)
{
	struct pp_pkt p;

	pp_parse(PP_LINK_EN10MB, buf, caplen ? caplen : (uint32_t)len, (uint32_t)len, &p);
	return p;
}

START_TEST(rocev2_bth)
{
	static const struct {
		uint8_t opcode;
		enum pp_opclass cls;
	} ops[] = {
	    {0x0a, PP_RC}, /* RDMA WRITE only */
	    {0x0c, PP_RC}, /* RDMA READ request */
	    {0x10, PP_RC}, /* RDMA READ response only */
	    {0x11, PP_RC}, /* acknowledge */
	    {0x24, PP_UC}, /* UC send only */
	    {0x64, PP_UD}, /* UD send only */
	    {0x81, PP_CNP},
	};
	uint8_t buf[9000];

	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		struct pf_spec s = {.src = "10.0.0.1",
				    .dst = "10.0.0.2",
				    .proto = 17,
				    .sport = 50000,
				    .dport = 4791,
				    .bth = true,
				    .opcode = ops[i].opcode,
				    .dest_qp = 0x12345 + (uint32_t)i,
				    .fecn = i == 3,
				    .becn = ops[i].opcode == 0x81,
				    .payload = 16};
		size_t n = frame(buf, &s);
		struct pp_pkt p = parse(buf, n, 0);

		ck_assert_int_eq(p.skip, PP_SKIP_NONE);
		ck_assert_int_eq(p.proto, PP_ROCEV2);
		ck_assert(p.has_bth);
		ck_assert_uint_eq(p.opcode, ops[i].opcode);
		ck_assert_int_eq(p.opclass, ops[i].cls);
		ck_assert_uint_eq(p.dest_qp, 0x12345 + i);
		ck_assert_int_eq(p.fecn, i == 3);
		ck_assert_int_eq(p.becn, ops[i].opcode == 0x81);
		ck_assert_uint_eq(p.bytes, 14 + 20 + 8 + 12 + 16);
	}
	/* UDP to 4791 with the BTH cut off by the snap length: still rocev2 */
	struct pf_spec s = {.src = "10.0.0.1",
			    .dst = "10.0.0.2",
			    .proto = 17,
			    .dport = 4791,
			    .bth = true,
			    .payload = 100};
	size_t n = frame(buf, &s);
	struct pp_pkt p = parse(buf, n, 14 + 20 + 8 + 4);

	ck_assert_int_eq(p.proto, PP_ROCEV2);
	ck_assert(!p.has_bth);
	ck_assert_uint_eq(p.bytes, n);
}
END_TEST

START_TEST(tcp_udp_vlan_qinq)
{
	uint8_t buf[9000];
	for (int nvlan = 0; nvlan <= 2; nvlan++) {
		struct pf_spec t = {.src = "10.0.0.1",
				    .dst = "192.168.7.9",
				    .proto = 6,
				    .sport = 1,
				    .dport = 2,
				    .payload = 300,
				    .nvlan = nvlan,
				    .ecn = 3};
		struct pf_spec u = t;
		size_t n = frame(buf, &t);
		struct pp_pkt p = parse(buf, n, 0);
		char a[64];

		ck_assert_int_eq(p.skip, PP_SKIP_NONE);
		ck_assert_int_eq(p.proto, PP_TCP);
		ck_assert(p.ecn_ce);
		ck_assert_uint_eq(p.bytes, 14 + 4 * nvlan + 20 + 20 + 300);
		ck_assert_str_eq(pp_addr_text(&p.dst, a, sizeof(a)), "192.168.7.9");
		u.proto = 17;
		u.ecn = 1; /* ECT(1): not CE */
		n = frame(buf, &u);
		p = parse(buf, n, 0);
		ck_assert_int_eq(p.proto, PP_UDP);
		ck_assert(!p.ecn_ce);
	}
	/* five tags: more than any network stacks, not walked */
	buf[12] = 0x81;
	buf[13] = 0;
	for (int i = 0; i < 5; i++) {
		buf[12 + 4 * i] = 0x81;
		buf[13 + 4 * i] = 0;
	}
	ck_assert_int_eq(parse(buf, 200, 0).skip, PP_SKIP_NOT_IP);
}
END_TEST

START_TEST(ipv6_extension_headers)
{
	uint8_t buf[9000];
	struct pf_spec s = {.src = "fd00::1",
			    .dst = "fd00::2",
			    .proto = 6,
			    .payload = 10,
			    .v6_ext = 3,
			    .v6_frag = true,
			    .ecn = 3};
	size_t n = frame(buf, &s);
	struct pp_pkt p = parse(buf, n, 0);
	char a[64];

	ck_assert_int_eq(p.skip, PP_SKIP_NONE);
	ck_assert_int_eq(p.proto, PP_TCP);
	ck_assert(p.ecn_ce);
	ck_assert_str_eq(pp_addr_text(&p.src, a, sizeof(a)), "fd00::1");
	/* RoCEv2 behind two extension headers */
	s = (struct pf_spec){.src = "fd00::1",
			     .dst = "fd00::2",
			     .proto = 17,
			     .dport = 4791,
			     .bth = true,
			     .opcode = 0x81,
			     .dest_qp = 7,
			     .v6_ext = 2};
	n = frame(buf, &s);
	p = parse(buf, n, 0);
	ck_assert_int_eq(p.proto, PP_ROCEV2);
	ck_assert_uint_eq(p.opcode, 0x81);
	ck_assert_uint_eq(p.dest_qp, 7);
	/* the chain cut by the capture: addresses known, protocol not */
	s = (struct pf_spec){.src = "fd00::1", .dst = "fd00::2", .proto = 6, .v6_ext = 3};
	n = frame(buf, &s);
	p = parse(buf, n, 14 + 40 + 12);
	ck_assert_int_eq(p.skip, PP_SKIP_NONE);
	ck_assert_int_eq(p.proto, PP_OTHER);
	/* a later fragment has no UDP header: classed by next header only */
	s = (struct pf_spec){.src = "fd00::1",
			     .dst = "fd00::2",
			     .proto = 17,
			     .dport = 4791,
			     .bth = true,
			     .v6_frag = true};
	n = frame(buf, &s);
	buf[14 + 40 + 2] = 0x01; /* offset 32 */
	p = parse(buf, n, 0);
	ck_assert_int_eq(p.proto, PP_UDP);
}
END_TEST

START_TEST(truncated_and_lying)
{
	uint8_t buf[9000];
	struct pf_spec s = {
	    .src = "10.0.0.1", .dst = "10.0.0.2", .proto = 6, .payload = 100};
	size_t n = frame(buf, &s);
	struct pp_pkt p;

	for (uint32_t cap = 1; cap < 14 + 20; cap++)
		ck_assert_int_eq(parse(buf, n, cap).skip, PP_SKIP_TRUNCATED);
	/* addresses there, TCP header cut: still counted as TCP */
	p = parse(buf, n, 14 + 20 + 3);
	ck_assert_int_eq(p.skip, PP_SKIP_NONE);
	ck_assert_int_eq(p.proto, PP_TCP);
	ck_assert_uint_eq(p.bytes, n);
	/* IPv4 total length below its header: malformed */
	buf[14 + 2] = 0;
	buf[14 + 3] = 10;
	ck_assert_int_eq(parse(buf, n, 0).skip, PP_SKIP_MALFORMED);
	/* total length beyond the frame: the frame's own length counts */
	buf[14 + 2] = 0xff;
	p = parse(buf, n, 0);
	ck_assert_int_eq(p.skip, PP_SKIP_NONE);
	ck_assert_uint_eq(p.bytes, n);
	/* IHL below 5 words, then a version that is not 4 */
	buf[14] = 0x44;
	ck_assert_int_eq(parse(buf, n, 0).skip, PP_SKIP_MALFORMED);
	buf[14] = 0x65;
	ck_assert_int_eq(parse(buf, n, 0).skip, PP_SKIP_MALFORMED);
	buf[14] = 0x4f; /* 60 bytes of options, only 40 captured */
	p = parse(buf, n, 14 + 40);
	ck_assert_int_eq(p.skip, PP_SKIP_NONE);
	ck_assert_int_eq(p.proto, PP_TCP);
	/* a record whose wire length is below its captured length */
	buf[14] = 0x45;
	pp_parse(PP_LINK_EN10MB, buf, 80, 20, &p);
	ck_assert_uint_eq(p.bytes, 80);
}
END_TEST

START_TEST(link_types)
{
	uint8_t buf[9000], sll[9000];
	struct pf_spec s = {
	    .src = "10.1.0.1", .dst = "10.1.0.2", .proto = 17, .payload = 5, .raw = true};
	size_t n = frame(buf, &s);
	struct pp_pkt p;

	ck_assert_uint_eq(n, 20 + 8 + 5);
	pp_parse(PP_LINK_RAW, buf, (uint32_t)n, (uint32_t)n, &p);
	ck_assert_int_eq(p.skip, PP_SKIP_NONE);
	ck_assert_int_eq(p.proto, PP_UDP);
	pp_parse(PP_LINK_DLT_RAW, buf, (uint32_t)n, (uint32_t)n, &p);
	ck_assert_int_eq(p.proto, PP_UDP);
	/* Linux cooked v1: 16 bytes, protocol at 14 */
	memset(sll, 0, 16);
	sll[14] = 0x08;
	memcpy(sll + 16, buf, n);
	pp_parse(PP_LINK_SLL, sll, (uint32_t)n + 16, (uint32_t)n + 16, &p);
	ck_assert_int_eq(p.skip, PP_SKIP_NONE);
	ck_assert_int_eq(p.proto, PP_UDP);
	/* 802.11 (105) is not read: counted, never guessed at */
	ck_assert(!pp_linktype_ok(105));
	ck_assert_int_eq(pp_parse(105, buf, (uint32_t)n, (uint32_t)n, &p),
			 PP_SKIP_LINKTYPE);
	ck_assert_int_eq(pp_parse(PP_LINK_EN10MB, buf, 0, 0, &p), PP_SKIP_TRUNCATED);
}
END_TEST

/* VLAN tags behind Linux cooked headers: the same tag walk as Ethernet
 * (libpcap puts an offloaded tag back as protocol 0x8100, TCI, EtherType). */
START_TEST(vlan_behind_cooked_headers)
{
	uint8_t ip[9000], f[9000];
	struct pf_spec s = {
	    .src = "10.1.0.1", .dst = "10.1.0.2", .proto = 6, .payload = 10, .raw = true};
	size_t n = frame(ip, &s);
	struct pp_pkt p;

	/* SLL v1: protocol 0x8100 at 14, then TCI 0x0007 and 0x8100 (QinQ),
	 * TCI, 0x0800, the IP packet at 24 */
	memset(f, 0, 24);
	f[14] = 0x81;
	f[17] = 0x07;
	f[18] = 0x81;
	f[20] = 0x00;
	f[21] = 0x09;
	f[22] = 0x08;
	memcpy(f + 24, ip, n);
	pp_parse(PP_LINK_SLL, f, (uint32_t)n + 24, (uint32_t)n + 24, &p);
	ck_assert_int_eq(p.skip, PP_SKIP_NONE);
	ck_assert_int_eq(p.proto, PP_TCP);
	ck_assert_uint_eq(p.dst.a[3], 2);
	/* cut inside the second tag */
	ck_assert_int_eq(pp_parse(PP_LINK_SLL, f, 21, 21, &p), PP_SKIP_TRUNCATED);
	/* SLL v2: protocol 0x8100 first, the tag after the 20-byte header */
	memset(f, 0, 24);
	f[0] = 0x81;
	f[21] = 0x07;
	f[22] = 0x08;
	memcpy(f + 24, ip, n);
	pp_parse(PP_LINK_SLL2, f, (uint32_t)n + 24, (uint32_t)n + 24, &p);
	ck_assert_int_eq(p.skip, PP_SKIP_NONE);
	ck_assert_int_eq(p.proto, PP_TCP);
	/* five tags: past PP_MAX_VLAN, not IP */
	memset(f, 0, 40);
	f[0] = 0x81;
	for (int i = 0; i < 5; i++)
		f[20 + 4 * i + 2] = 0x81;
	ck_assert_int_eq(pp_parse(PP_LINK_SLL2, f, 60, 60, &p), PP_SKIP_NOT_IP);
}
END_TEST

/* ---- the top-K table ---- */

static void feed(struct pp_table *t, const char *peer, uint32_t bytes, int n)
{
	struct pp_pkt p = {.proto = PP_UDP, .bytes = bytes};

	pp_addr_parse("10.0.0.1", &p.src);
	pp_addr_parse(peer, &p.dst);
	for (int i = 0; i < n; i++)
		ck_assert_int_eq(pp_account(t, &p), PP_SKIP_NONE);
}

static struct pp_peer *peer_of(struct pp_table *t, const char *text)
{
	struct pp_addr a;

	pp_addr_parse(text, &a);
	for (size_t i = 0; i < t->cap; i++)
		if (t->slot[i].used && t->slot[i].addr.af == a.af &&
		    memcmp(t->slot[i].addr.a, a.a, 16) == 0)
			return &t->slot[i];
	return NULL;
}

static uint64_t tx(const struct pp_counts *c)
{
	return c->f[PP_UDP][PP_TX].bytes;
}

START_TEST(top_k_folds_the_rest)
{
	struct pp_table t;
	struct pp_addr me;

	ck_assert_int_eq(pp_table_init(&t, 2, 16), 0);
	pp_addr_parse("10.0.0.1", &me);
	pp_table_add_local(&t, &me);
	feed(&t, "10.0.0.2", 1000, 5);
	feed(&t, "10.0.0.3", 1000, 4);
	feed(&t, "10.0.0.4", 1000, 3);
	feed(&t, "10.0.0.5", 1000, 2);
	pp_fold(&t, 1.0, 10);
	ck_assert(peer_of(&t, "10.0.0.2")->top);
	ck_assert(peer_of(&t, "10.0.0.3")->top);
	ck_assert(!peer_of(&t, "10.0.0.4")->exported);
	ck_assert_uint_eq(tx(&peer_of(&t, "10.0.0.2")->exp), 5000);
	ck_assert_uint_eq(tx(&peer_of(&t, "10.0.0.3")->exp), 4000);
	ck_assert_uint_eq(tx(&t.other.exp), 5000);
	ck_assert_uint_eq(t.other.exp.f[PP_UDP][PP_TX].pkts, 5);
	pp_table_free(&t);
}
END_TEST

/* A peer leaves the top K and comes back: every exported counter only grows,
 * and the totals add up to what was sent. */
START_TEST(leaving_the_top_k_is_monotonic)
{
	struct pp_table t;
	struct pp_addr me;
	uint64_t a_prev = 0, other_prev = 0, sent = 0;

	ck_assert_int_eq(pp_table_init(&t, 1, 16), 0);
	pp_addr_parse("10.0.0.1", &me);
	pp_table_add_local(&t, &me);
	for (int round = 0; round < 12; round++) {
		/* A leads in even pairs of rounds, B in the others */
		bool a_leads = (round / 3) % 2 == 0;
		struct pp_peer *a, *b;

		feed(&t, "10.0.0.2", 100, a_leads ? 50 : 1);
		feed(&t, "10.0.0.3", 100, a_leads ? 1 : 50);
		sent += 51 * 100;
		pp_fold(&t, 0.1, 100);
		a = peer_of(&t, "10.0.0.2");
		b = peer_of(&t, "10.0.0.3");
		ck_assert_uint_ge(tx(&a->exp), a_prev);
		ck_assert_uint_ge(tx(&t.other.exp), other_prev);
		ck_assert_int_eq(a->top, a_leads);
		ck_assert_int_eq(b->top, !a_leads);
		/* both keep series: the one that left lingers, frozen */
		ck_assert(a->exported);
		if (round > 3)
			ck_assert(b->exported);
		ck_assert_uint_eq(tx(&a->exp) + tx(&b->exp) + tx(&t.other.exp), sent);
		a_prev = tx(&a->exp);
		other_prev = tx(&t.other.exp);
	}
	/* a linger of 2 folds: the one out of the top K loses its series */
	feed(&t, "10.0.0.2", 100, 50);
	pp_fold(&t, 0.1, 2);
	pp_fold(&t, 0.1, 2);
	pp_fold(&t, 0.1, 2);
	ck_assert(!peer_of(&t, "10.0.0.3") || !peer_of(&t, "10.0.0.3")->exported);
	pp_table_free(&t);
}
END_TEST

static unsigned drops;
static void count_drop(struct pp_peer *p, void *arg)
{
	(void)p;
	(void)arg;
	drops++;
}

/* A slot counts in 32 bits between folds (collectors/pcap_parse.h, struct
 * pp_hot) and moves them to 64 bits before one would wrap; a train of a peer
 * with no room goes to "other" packet after packet (the lookup cache
 * remembers it), and after the next fold the same peer gets its place. */
START_TEST(counts_past_32_bits_and_trains_without_room)
{
	struct pp_table t;
	struct pp_addr me;
	char peer[32];

	ck_assert_int_eq(pp_table_init(&t, 2, 4), 0);
	pp_addr_parse("10.0.0.1", &me);
	pp_table_add_local(&t, &me);
	feed(&t, "10.0.1.2", 0xf0000000u, 3);
	pp_fold(&t, 1.0, 1);
	ck_assert_uint_eq(tx(&peer_of(&t, "10.0.1.2")->exp), 3 * 0xf0000000ull);
	ck_assert_uint_eq(peer_of(&t, "10.0.1.2")->exp.f[PP_UDP][PP_TX].pkts, 3);
	for (int i = 0; i < 3; i++) {
		snprintf(peer, sizeof(peer), "10.0.1.%d", i + 3);
		feed(&t, peer, 10, 1);
	}
	/* full: a train of a fifth peer, a tracked peer, the fifth again */
	feed(&t, "10.0.2.9", 7, 5);
	feed(&t, "10.0.1.3", 10, 1);
	feed(&t, "10.0.2.9", 7, 2);
	ck_assert_uint_eq(t.overflow_pkts, 7);
	ck_assert_ptr_null(peer_of(&t, "10.0.2.9"));
	pp_fold(&t, 1.0, 1);
	ck_assert_uint_eq(tx(&t.other.exp), 7 * 7 + 10 + 10); /* 10.0.1.4, .5 */
	/* room again: it takes the place of an entry without series */
	feed(&t, "10.0.2.9", 7, 3);
	ck_assert_uint_eq(t.overflow_pkts, 7);
	ck_assert_uint_eq(t.evictions, 1);
	pp_fold(&t, 1.0, 1);
	ck_assert_uint_eq(tx(&t.other.exp) + tx(&peer_of(&t, "10.0.1.2")->exp) +
			      tx(&peer_of(&t, "10.0.1.3")->exp),
			  3 * 0xf0000000ull + 10 + 10 + 10 + 10 + 7 * 7 + 3 * 7);
	pp_table_free(&t);
}
END_TEST

START_TEST(table_full_goes_to_other_and_idle_peers_leave)
{
	struct pp_table t;
	struct pp_addr me;
	char peer[32];

	ck_assert_int_eq(pp_table_init(&t, 1, 4), 0);
	t.on_drop = count_drop;
	drops = 0;
	pp_addr_parse("10.0.0.1", &me);
	pp_table_add_local(&t, &me);
	for (int i = 0; i < 10; i++) {
		snprintf(peer, sizeof(peer), "10.0.1.%d", i + 2);
		feed(&t, peer, 10, 1);
	}
	ck_assert_uint_eq(t.used, 4);
	ck_assert_uint_eq(t.overflow_pkts, 6);
	pp_fold(&t, 1.0, 1);
	ck_assert_uint_eq(tx(&t.other.exp), 90); /* 3 tracked + 6 overflow */
	/* idle: the scores decay to nothing, the entries leave */
	for (int i = 0; i < 40; i++)
		pp_fold(&t, 0.5, 1);
	ck_assert_uint_eq(t.used, 0);
	ck_assert_uint_eq(drops, 4);
	feed(&t, "10.0.2.2", 10, 1);
	ck_assert_uint_eq(t.used, 1);
	pp_table_free(&t);
}
END_TEST

/* A named peer retired at the end of its linger keeps its entry one more
 * linger (a tombstone): back, it continues from its value, not from 0. */
START_TEST(retired_peer_returns_and_continues)
{
	struct pp_table t;
	struct pp_addr me;
	struct pp_peer *a;

	ck_assert_int_eq(pp_table_init(&t, 1, 16), 0);
	t.on_drop = count_drop;
	drops = 0;
	pp_addr_parse("10.0.0.1", &me);
	pp_table_add_local(&t, &me);
	feed(&t, "10.0.0.2", 100, 1);
	pp_fold(&t, 0.001, 1); /* 1: A named, 100 */
	feed(&t, "10.0.0.3", 10000, 1);
	pp_fold(&t, 0.001, 1); /* 2: B named, A lingers */
	feed(&t, "10.0.0.3", 10000, 1);
	pp_fold(&t, 0.001, 1); /* 3: A retired, its score below 1 byte */
	a = peer_of(&t, "10.0.0.2");
	ck_assert_ptr_nonnull(a);
	ck_assert(!a->exported);
	ck_assert_uint_eq(tx(&a->exp), 100);
	ck_assert_uint_eq(drops, 0);
	feed(&t, "10.0.0.2", 60, 1);
	pp_fold(&t, 0.001, 1); /* 4: A back, named again */
	a = peer_of(&t, "10.0.0.2");
	ck_assert(a->exported && a->top);
	ck_assert_uint_eq(tx(&a->exp), 160);
	/* gone for good: retired again, then the tombstone leaves a linger later */
	for (int i = 0; i < 4; i++) {
		feed(&t, "10.0.0.3", 10000, 1);
		pp_fold(&t, 0.001, 1);
	}
	ck_assert_ptr_null(peer_of(&t, "10.0.0.2"));
	ck_assert_uint_eq(drops, 1);
	pp_table_free(&t);
}
END_TEST

/* Full table: a new peer takes the place of the lowest-score entry without
 * series (at most max_peers / 2 between folds), so a heavy newcomer is named
 * at the next fold instead of staying in "other" behind a scan. */
START_TEST(full_table_evicts_the_lowest_entry_without_series)
{
	struct pp_table t;
	struct pp_addr me;
	uint64_t sent = 0;

	ck_assert_int_eq(pp_table_init(&t, 1, 4), 0);
	t.on_drop = count_drop;
	drops = 0;
	pp_addr_parse("10.0.0.1", &me);
	pp_table_add_local(&t, &me);
	feed(&t, "10.0.0.2", 1000, 10);
	pp_fold(&t, 0.5, 100);
	feed(&t, "10.0.1.1", 60, 3);
	feed(&t, "10.0.1.2", 60, 1);
	feed(&t, "10.0.1.3", 60, 2);
	sent = 10000 + 360;
	pp_fold(&t, 0.5, 100);
	ck_assert_uint_eq(t.used, 4);
	/* the heavy one arrives: 10.0.1.2 (lowest score) leaves for it */
	feed(&t, "10.0.0.9", 1500, 20);
	sent += 30000;
	ck_assert_uint_eq(t.overflow_pkts, 0);
	ck_assert_ptr_nonnull(peer_of(&t, "10.0.0.9"));
	ck_assert_ptr_null(peer_of(&t, "10.0.1.2"));
	ck_assert_uint_eq(drops, 1);
	/* one more eviction allowed before the next fold, then overflow */
	feed(&t, "10.0.2.1", 60, 1);
	feed(&t, "10.0.2.2", 60, 1);
	sent += 120;
	ck_assert_uint_eq(t.evictions, 2);
	ck_assert_uint_eq(t.overflow_pkts, 1);
	ck_assert_uint_eq(t.used, 4);
	/* admitted by eviction: on probation at its first fold (a scan's
	 * one-packet addresses get no series), named at the next */
	pp_fold(&t, 0.5, 100);
	ck_assert(!peer_of(&t, "10.0.0.9")->exported);
	ck_assert(peer_of(&t, "10.0.0.2")->top);
	feed(&t, "10.0.0.9", 1500, 20);
	sent += 30000;
	pp_fold(&t, 0.5, 100);
	ck_assert(peer_of(&t, "10.0.0.9")->top);
	ck_assert(peer_of(&t, "10.0.0.9")->exported);
	ck_assert_uint_eq(tx(&peer_of(&t, "10.0.0.9")->exp), 30000);
	/* nothing lost, nothing counted twice */
	ck_assert_uint_eq(tx(&peer_of(&t, "10.0.0.9")->exp) +
			      tx(&peer_of(&t, "10.0.0.2")->exp) + tx(&t.other.exp),
			  sent);
	/* the table still finds every entry after the rehash */
	feed(&t, "10.0.2.1", 60, 1);
	ck_assert_uint_eq(t.overflow_pkts, 1);
	pp_table_free(&t);
}
END_TEST

/* Group destinations: this node's own multicast/broadcast is transmit to
 * the group address; another node's is receive from its source (not
 * not_local); a subnet-directed broadcast stays not_local. */
START_TEST(multicast_and_broadcast_direction)
{
	struct pp_table t;
	struct pp_addr me;
	struct pp_pkt p = {.proto = PP_UDP, .bytes = 100};
	static const char *const groups[] = {"239.1.2.3", "224.0.0.251",
					     "255.255.255.255", "ff02::1"};

	ck_assert_int_eq(pp_table_init(&t, 8, 32), 0);
	pp_addr_parse("10.0.0.1", &me);
	pp_table_add_local(&t, &me);
	pp_addr_parse("fd00::1", &me);
	pp_table_add_local(&t, &me);
	for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++) {
		bool v6 = strchr(groups[i], ':') != NULL;

		/* sent by this node: transmit, peer = the group */
		pp_addr_parse(v6 ? "fd00::1" : "10.0.0.1", &p.src);
		pp_addr_parse(groups[i], &p.dst);
		ck_assert_int_eq(pp_account(&t, &p), PP_SKIP_NONE);
		/* from another node to the group: receive from that node */
		pp_addr_parse(v6 ? "fd00::7" : "10.0.0.7", &p.src);
		ck_assert_int_eq(pp_account(&t, &p), PP_SKIP_NONE);
	}
	pp_addr_parse("10.0.0.7", &p.src);
	pp_addr_parse("10.0.0.255", &p.dst);
	ck_assert_int_eq(pp_account(&t, &p), PP_SKIP_NOT_LOCAL);
	pp_fold(&t, 1.0, 10);
	ck_assert_uint_eq(tx(&peer_of(&t, "239.1.2.3")->exp), 100);
	ck_assert_uint_eq(tx(&peer_of(&t, "255.255.255.255")->exp), 100);
	ck_assert_uint_eq(tx(&peer_of(&t, "ff02::1")->exp), 100);
	ck_assert_uint_eq(peer_of(&t, "10.0.0.7")->exp.f[PP_UDP][PP_RX].bytes, 300);
	ck_assert_uint_eq(peer_of(&t, "fd00::7")->exp.f[PP_UDP][PP_RX].bytes, 100);
	ck_assert_uint_eq(tx(&peer_of(&t, "10.0.0.7")->exp), 0);
	pp_table_free(&t);
}
END_TEST

/* Thousands of local addresses (IPVS service IPs): all decide direction. */
/* ---- pp_frame (the collector's path, with its pair and frame caches)
 * against pp_parse + pp_account, frame by frame ---- */

/* What an entry collected: exported, pending and its slot's 32-bit hot
 * counts, summed. */
static struct pp_counts entry_sum(const struct pp_table *t, size_t i)
{
	struct pp_counts c = t->slot[i].pend;
	const uint64_t *e = (const uint64_t *)&t->slot[i].exp;
	uint64_t *o = (uint64_t *)&c;

	for (size_t k = 0; k < sizeof(c) / sizeof(uint64_t); k++)
		o[k] += e[k];
	for (int pr = 0; pr < PP_NPROTO; pr++)
		for (int d = 0; d < PP_NDIR; d++) {
			c.f[pr][d].bytes += t->hot[i].f[pr][d].bytes;
			c.f[pr][d].pkts += t->hot[i].f[pr][d].pkts;
		}
	return c;
}

static bool same_addr(const uint8_t *x, const uint8_t *y)
{
	uint8_t d = 0;

	for (int k = 0; k < 16; k++)
		d |= x[k] ^ y[k];
	return d == 0;
}

static void same_tables(const struct pp_table *a, const struct pp_table *b, unsigned long at)
{
	ck_assert_msg(a->used == b->used, "frame %lu: %zu entries, %zu", at, a->used, b->used);
	ck_assert_msg(memcmp(a->skipped, b->skipped, sizeof(a->skipped)) == 0,
		      "frame %lu: skips differ", at);
	ck_assert_msg(a->overflow_pkts == b->overflow_pkts && a->evictions == b->evictions,
		      "frame %lu: overflow %llu/%llu evictions %llu/%llu", at,
		      (unsigned long long)a->overflow_pkts,
		      (unsigned long long)b->overflow_pkts, (unsigned long long)a->evictions,
		      (unsigned long long)b->evictions);
	ck_assert_msg(memcmp(&a->other.exp, &b->other.exp, sizeof(a->other.exp)) == 0 &&
			  memcmp(&a->other_pend, &b->other_pend, sizeof(a->other_pend)) == 0,
		      "frame %lu: \"other\" differs", at);
	for (size_t i = 0; i < a->cap; i++) {
		size_t j;

		if (!a->slot[i].used)
			continue;
		/* the same address in b (without memcmp: a sanitizer intercepts every
		 * call) */
		for (j = 0; j < b->cap; j++)
			if (b->slot[j].used && b->slot[j].addr.af == a->slot[i].addr.af &&
			    same_addr(b->slot[j].addr.a, a->slot[i].addr.a))
				break;
		ck_assert_msg(j < b->cap, "frame %lu: an entry only pp_frame has", at);
		struct pp_counts x = entry_sum(a, i), y = entry_sum(b, j);

		ck_assert_msg(memcmp(&x, &y, sizeof(x)) == 0 &&
				  memcmp(&a->slot[i].exp, &b->slot[j].exp, sizeof(x)) == 0,
			      "frame %lu: an entry's counts differ", at);
		ck_assert(a->slot[i].top == b->slot[j].top &&
			  a->slot[i].exported == b->slot[j].exported &&
			  a->slot[i].score == b->slot[j].score);
	}
}

/* One frame both ways: pp_frame into a, pp_parse + pp_account into b with
 * b's lookup caches emptied first (b is the reference without any cache);
 * the skip reasons equal. */
static void both(struct pp_table *a, struct pp_table *b, const uint8_t *f, uint32_t caplen,
		 uint32_t len, unsigned long at)
{
	struct pp_pkt p;
	enum pp_skip x = pp_frame(a, PP_LINK_EN10MB, f, caplen, len), y;

	pp_parse(PP_LINK_EN10MB, f, caplen, len, &p);
	b->last_valid = false;
	b->pair_af = 0;
	y = pp_account(b, &p);
	ck_assert_msg(x == y, "frame %lu: pp_frame %s, pp_account %s", at, pp_skip_name(x),
		      pp_skip_name(y));
}

/* The IP header of an Ethernet frame behind its VLAN tags; 0 when none. */
static uint32_t ip_at(const uint8_t *f, uint32_t n)
{
	for (uint32_t o = 12; o + 2 <= n; o += 4) {
		unsigned et = (unsigned)f[o] << 8 | f[o + 1];

		if (et == 0x0800)
			return o + 2;
		if (et != 0x8100 && et != 0x88a8 && et != 0x9100)
			return 0;
	}
	return 0;
}

/* The mix both ways through tables of top_k / max_peers, folded every
 * fold_every frames. */
static void frame_path_run(const char *file, size_t top_k, size_t max_peers,
			   unsigned long fold_every)
{
	/* offsets from the IP header the frame cache decides by, and one
	 * beside each that it must not */
	static const uint8_t field[] = {0, 1, 6, 7, 9, 12, 15, 16, 19, 22, 23, 28,
					2, 3, 5, 8, 10, 20, 21, 24, 29};
	char err[PCAP_ERRBUF_SIZE];
	struct pp_table a, b;
	struct pcap_pkthdr *h;
	const u_char *data;
	uint64_t x = 0x9e3779b97f4a7c15ull;
	unsigned long at = 0, cached = 0;
	uint8_t prev[256];
	uint32_t prev_n = 0, prev_len = 0;
	pcap_t *pc = pcap_open_offline(file, err);

	ck_assert_msg(pc, "%s", err);
	ck_assert_int_eq(pp_table_init(&a, top_k, max_peers), 0);
	ck_assert_int_eq(pp_table_init(&b, top_k, max_peers), 0);
	for (int k = 0; k < 2; k++) {
		struct pp_addr l;

		pp_addr_parse(k ? "fd00::1" : "10.0.0.1", &l);
		pp_table_add_local(&a, &l);
		pp_table_add_local(&b, &l);
	}
	while (pcap_next_ex(pc, &h, &data) == 1) {
		uint8_t f[256], g[256];
		uint32_t n = h->caplen < sizeof(f) ? h->caplen : (uint32_t)sizeof(f);
		uint32_t ip = ip_at(data, n);

		memcpy(f, data, n);
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		both(&a, &b, f, n, h->len, at++);
		if (x % 3 == 0 && n > 12) {
			/* one byte of the headers changed: anywhere in the
			 * first 64, or a field (and its neighbours) */
			uint32_t o = 12 + (uint32_t)(x >> 8) % ((n < 64 ? n : 64) - 12);

			if ((x >> 50) % 2 && ip)
				o = ip + field[(x >> 52) % sizeof(field)];
			if (o < n) {
				memcpy(g, f, n);
				g[o] = (x >> 20) % 4 == 0   ? (uint8_t)(x >> 32)
				       : (x >> 20) % 4 == 1 ? 0x81 /* CNP */
				       : (x >> 20) % 4 == 2 ? (uint8_t)(g[o] | 3) /* ECN-CE */
							    : (uint8_t)(g[o] ^ (1u << ((x >> 40) % 8)));
				both(&a, &b, g, n, h->len, at++);
			}
		}
		if (x % 8 == 1)
			both(&a, &b, f, 14 + (uint32_t)(x >> 12) % (n > 14 ? n - 14 : 1), h->len, at++);
		if (x % 64 == 2)
			for (int k = 0; k < 3; k++)
				both(&a, &b, f, n, 0xf0000000u, at++);
		/* flows interleaved: the previous frame (its train) between two
		 * of this one; the table may have evicted its peer meanwhile */
		if (x % 4 == 3 && prev_n)
			both(&a, &b, prev, prev_n, prev_len, at++);
		/* this frame's source becomes local, without clearing the
		 * others: its next frame goes the other way */
		if (x % 3000 == 8 && ip && data[ip] == 0x45) {
			struct pp_addr l = {.af = 4};

			memcpy(l.a, data + ip + 12, 4);
			pp_table_add_local(&a, &l);
			pp_table_add_local(&b, &l);
		}
		both(&a, &b, f, n, h->len, at++);
		cached += a.sig_ok;
		memcpy(prev, f, n);
		prev_n = n;
		prev_len = h->len;
		if (at % fold_every < 6) {
			same_tables(&a, &b, at);
			pp_fold(&a, 0.5, 2);
			pp_fold(&b, 0.5, 2);
			same_tables(&a, &b, at);
		}
		if (at % 15000 < 6) {
			/* a peer of the mix becomes local, then is not again */
			struct pp_addr l;
			static const char *const set[] = {"10.1.0.5", "10.1.0.9"};

			pp_table_clear_local(&a);
			pp_table_clear_local(&b);
			for (int k = 0; k < 3; k++) {
				pp_addr_parse(k == 2 ? set[(at / 15000) % 2] : k ? "fd00::1" : "10.0.0.1",
					      &l);
				pp_table_add_local(&a, &l);
				pp_table_add_local(&b, &l);
			}
		}
	}
	same_tables(&a, &b, at);
	pp_fold(&a, 0.5, 2);
	pp_fold(&b, 0.5, 2);
	same_tables(&a, &b, at);
	/* the frame cache held a frame after most, the table filled up */
	ck_assert_uint_gt(cached, 3000);
	ck_assert_uint_gt(a.evictions, 0);
	ck_assert_uint_gt(a.overflow_pkts, 0);
	pcap_close(pc);
	pp_table_free(&a);
	pp_table_free(&b);
}

/* The frame cache forgets a peer the table evicted, and a direction a
 * change of the local addresses changes: the same frame again is counted as
 * pp_parse + pp_account count it without caches (seen failing without each
 * of the three pp_cache_clear calls). */
START_TEST(frame_cache_forgets_evicted_peers_and_old_directions)
{
	struct pp_table a, b;
	struct pp_addr me, p1;
	uint8_t f1[256], f2[256], f3[256];
	size_t n1, n2, n3;
	struct pf_spec s1 = {.src = "10.9.0.1", .dst = "10.0.0.1", .proto = 17,
			     .sport = 40000, .dport = 9000, .payload = 100};
	struct pf_spec s2 = s1, s3 = {.src = "fd00::9", .dst = "fd00::1", .proto = 17,
				      .sport = 40000, .dport = 9000, .payload = 100};
	unsigned long at = 0;

	s2.src = "10.9.0.2";
	n1 = frame(f1, &s1);
	n2 = frame(f2, &s2);
	n3 = frame(f3, &s3);
	ck_assert_int_eq(pp_table_init(&a, 1, 2), 0);
	ck_assert_int_eq(pp_table_init(&b, 1, 2), 0);
	pp_addr_parse("10.0.0.1", &me);
	pp_table_add_local(&a, &me);
	pp_table_add_local(&b, &me);
	pp_addr_parse("fd00::1", &me);
	pp_table_add_local(&a, &me);
	pp_table_add_local(&b, &me);
	/* P2 the top peer, P1 an entry without series */
	both(&a, &b, f1, (uint32_t)n1, (uint32_t)n1, at++);
	for (int k = 0; k < 3; k++)
		both(&a, &b, f2, (uint32_t)n2, (uint32_t)n2, at++);
	pp_fold(&a, 0.5, 2);
	pp_fold(&b, 0.5, 2);
	/* P1 cached; a new IPv6 peer (not cached) evicts P1's entry */
	both(&a, &b, f1, (uint32_t)n1, (uint32_t)n1, at++);
	ck_assert(a.sig_ok);
	both(&a, &b, f3, (uint32_t)n3, (uint32_t)n3, at++);
	ck_assert_uint_eq(a.evictions, 1);
	both(&a, &b, f1, (uint32_t)n1, (uint32_t)n1, at++);
	same_tables(&a, &b, at);
	pp_fold(&a, 0.5, 2);
	pp_fold(&b, 0.5, 2);
	same_tables(&a, &b, at);
	/* P1 cached again; then it becomes local: both ends local, counted
	 * as transmit to 10.0.0.1 */
	both(&a, &b, f1, (uint32_t)n1, (uint32_t)n1, at++);
	both(&a, &b, f1, (uint32_t)n1, (uint32_t)n1, at++);
	ck_assert(a.sig_ok);
	pp_addr_parse("10.9.0.1", &p1);
	pp_table_add_local(&a, &p1);
	pp_table_add_local(&b, &p1);
	both(&a, &b, f1, (uint32_t)n1, (uint32_t)n1, at++);
	same_tables(&a, &b, at);
	/* no local address left: not local */
	pp_table_clear_local(&a);
	pp_table_clear_local(&b);
	both(&a, &b, f1, (uint32_t)n1, (uint32_t)n1, at++);
	ck_assert_uint_eq(a.skipped[PP_SKIP_NOT_LOCAL], 1);
	same_tables(&a, &b, at);
	pp_table_free(&a);
	pp_table_free(&b);
}
END_TEST

/* The generated mix (trains of one flow: the caches hit), each frame
 * followed now and then by a copy with one header byte changed (a field
 * the cache must compare, or one it must not), cut short, or with a wire
 * length that passes 32 bits in three frames, and by the previous frame
 * (flows interleaved); a table that fills up (evictions, "other"), folds,
 * and local addresses that change (a peer becomes local). Every count
 * equals what pp_parse + pp_account make. */
START_TEST(frame_path_counts_what_parse_and_account_count)
{
	char file[] = "/tmp/test_pcap_mix.XXXXXX";
	int fd = mkstemp(file);

	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(pf_mix(file, 6000, 500, 16), 0);
	frame_path_run(file, 16, 256, 4000);
	/* a table of 8 folded every 50 frames: evictions all the time */
	frame_path_run(file, 2, 8, 50);
	unlink(file);
}
END_TEST

START_TEST(many_local_addresses)
{
	struct pp_table t;
	struct pp_addr a;
	char text[48];

	ck_assert_int_eq(pp_table_init(&t, 4, 16), 0);
	for (int i = 4999; i >= 0; i--) {
		snprintf(text, sizeof(text), "10.96.%d.%d", i / 250, i % 250 + 1);
		pp_addr_parse(text, &a);
		ck_assert_int_eq(pp_table_add_local(&t, &a), 0);
		snprintf(text, sizeof(text), "fd00::%x", i + 1);
		pp_addr_parse(text, &a);
		ck_assert_int_eq(pp_table_add_local(&t, &a), 0);
	}
	ck_assert_uint_eq(t.nlocal, 10000);
	ck_assert_uint_eq(t.nlocal4, 5000);
	for (int i = 0; i < 5000; i++) {
		snprintf(text, sizeof(text), "10.96.%d.%d", i / 250, i % 250 + 1);
		pp_addr_parse(text, &a);
		ck_assert(pp_is_local(&t, &a));
		snprintf(text, sizeof(text), "fd00::%x", i + 1);
		pp_addr_parse(text, &a);
		ck_assert(pp_is_local(&t, &a));
	}
	pp_addr_parse("10.96.0.0", &a);
	ck_assert(!pp_is_local(&t, &a));
	pp_addr_parse("10.96.20.1", &a);
	ck_assert(!pp_is_local(&t, &a));
	pp_addr_parse("fd00::0", &a);
	ck_assert(!pp_is_local(&t, &a));
	/* past the bound: refused and counted, the rest still there */
	t.max_local = 10000;
	pp_addr_parse("192.168.0.1", &a);
	ck_assert_int_eq(pp_table_add_local(&t, &a), -ENOSPC);
	ck_assert_uint_eq(t.local_left_out, 1);
	ck_assert(!pp_is_local(&t, &a));
	pp_table_clear_local(&t);
	ck_assert_int_eq(pp_table_add_local(&t, &a), 0);
	ck_assert(pp_is_local(&t, &a));
	pp_table_free(&t);
}
END_TEST

/* ---- the collector on a written file ---- */

static void w_frame(struct pf_writer *w, const struct pf_spec *s, uint32_t caplen,
		    uint32_t wirelen)
{
	uint8_t buf[9000];
	size_t n = frame(buf, s);

	pf_write(w, buf, n, caplen, wirelen);
}

/* The frames of the replay fixture, with what each counts for. */
static const struct {
	struct pf_spec s;
	uint32_t caplen, wirelen; /* 0: as built (snap length 128) */
} mix[] = {
    /* RoCEv2 RC: a write (1078), a read request (70) out; the read response
     * (4154 on the wire, 128 captured), an ack (58), a CNP (70) and an
     * ECN-CE marked write (154) in */
    {{"10.0.0.1", "10.0.0.2", 17, 50000, 4791, 1024, .bth = true, .opcode = 0x0a}},
    {{"10.0.0.1", "10.0.0.2", 17, 50000, 4791, 16, .bth = true, .opcode = 0x0c}},
    {{"10.0.0.2", "10.0.0.1", 17, 50000, 4791, 4100, .bth = true, .opcode = 0x10}},
    {{"10.0.0.2", "10.0.0.1", 17, 50000, 4791, 4, .bth = true, .opcode = 0x11}},
    {{"10.0.0.2", "10.0.0.1", 17, 50000, 4791, 16, .bth = true, .opcode = 0x81,
      .becn = true}},
    {{"10.0.0.2", "10.0.0.1", 17, 50000, 4791, 100, .ecn = 3, .bth = true,
      .opcode = 0x0a}},
    /* TCP over a VLAN out (1058), back over QinQ (62) */
    {{"10.0.0.1", "10.0.0.3", 6, 1, 2, 1000, .nvlan = 1}},
    {{"10.0.0.3", "10.0.0.1", 6, 2, 1, 0, .nvlan = 2}},
    /* UDP out (82), a record whose wire length (30) lies below its
     * captured 52 bytes (52 count), ICMP (90, "other") */
    {{"10.0.0.1", "10.0.0.4", 17, 3, 53, 40}},
    {{"10.0.0.1", "10.0.0.4", 17, 3, 53, 10}, 0, 30},
    {{"10.0.0.1", "10.0.0.4", 1, 0, 0, 56}},
    /* IPv6 TCP behind three extension headers and a fragment header
     * (606), a RoCEv2 CNP behind two (106, ECN-CE) */
    {{"fd00::1", "fd00::2", 6, 1, 2, 500, .v6_ext = 3, .v6_frag = true}},
    {{"fd00::2", "fd00::1", 17, 1, 4791, 16, .ecn = 3, .v6_ext = 2, .bth = true,
      .opcode = 0x81}},
    /* counted toward no peer: a frame cut at 20 bytes, two strangers (the
     * ARP frame and the lying IPv4 header are written by write_mix) */
    {{"10.0.0.1", "10.0.0.3", 6, 1, 2, 10}, 20, 0},
    {{"10.9.9.9", "10.9.9.8", 6, 1, 2, 0}},
    {{"10.9.9.8", "10.9.9.9", 6, 2, 1, 0}},
};

static void write_mix(void)
{
	struct pf_writer w;
	uint8_t arp[42] = {[12] = 0x08, [13] = 0x06}, buf[9000];
	size_t n;

	ck_assert_int_eq(pf_open(&w, path, DLT_EN10MB, 128), 0);
	for (size_t i = 0; i + 2 < sizeof(mix) / sizeof(mix[0]); i++)
		pf_write(&w, buf, frame(buf, &mix[i].s), mix[i].caplen, mix[i].wirelen);
	pf_write(&w, arp, sizeof(arp), 0, 0);
	/* an IPv4 header whose total length (12) is below its own size */
	n = frame(buf,
		  &(struct pf_spec){.src = "10.0.0.1", .dst = "10.0.0.3", .proto = 6});
	buf[14 + 2] = 0, buf[14 + 3] = 12;
	pf_write(&w, buf, n, 0, 0);
	/* the strangers last: the truncated-file test cuts the last one */
	for (size_t i = sizeof(mix) / sizeof(mix[0]) - 2;
	     i < sizeof(mix) / sizeof(mix[0]); i++)
		pf_write(&w, buf, frame(buf, &mix[i].s), mix[i].caplen, mix[i].wirelen);
	pf_close(&w);
}

/* A fresh context for the next init of the same test. */
static void restart(void)
{
	if (S)
		PC->fini(C, S);
	S = NULL;
	fake_am_free(C);
	C = fake_am_new("pcap", NULL);
}

static int start_file(const char *extra)
{
	char yaml[512];

	snprintf(yaml, sizeof(yaml),
		 "{file: %s, local_addresses: [10.0.0.1, \"fd00::1\"], node: n1%s}", path,
		 extra);
	return start(yaml);
}

#define TXB "fabric_peer_transmit_bytes_total"
#define RXB "fabric_peer_receive_bytes_total"
#define TXP "fabric_peer_transmit_packets_total"
#define RXP "fabric_peer_receive_packets_total"

START_TEST(replay_exact_figures)
{
	write_mix();
	ck_assert_int_eq(start_file(""), 0);
	ck_assert_int_eq(PC->poll(C, S), 0);
	/* RoCEv2 with 10.0.0.2 */
	ck_assert_uint_eq(val(TXB, "t.pcap,10.0.0.2,rocev2"), 1078 + 70);
	ck_assert_uint_eq(val(TXP, "t.pcap,10.0.0.2,rocev2"), 2);
	ck_assert_uint_eq(val(RXB, "t.pcap,10.0.0.2,rocev2"), 4154 + 58 + 70 + 154);
	ck_assert_uint_eq(val(RXP, "t.pcap,10.0.0.2,rocev2"), 4);
	ck_assert_uint_eq(val("fabric_peer_cnp_packets_total", "t.pcap,10.0.0.2,receive"),
			  1);
	ck_assert_uint_eq(
	    val("fabric_peer_ecn_ce_packets_total", "t.pcap,10.0.0.2,receive"), 1);
	ck_assert(!has("fabric_peer_cnp_packets_total", "t.pcap,10.0.0.2,transmit"));
	/* TCP over VLAN and QinQ */
	ck_assert_uint_eq(val(TXB, "t.pcap,10.0.0.3,tcp"), 1058);
	ck_assert_uint_eq(val(RXB, "t.pcap,10.0.0.3,tcp"), 62);
	/* UDP, the lying record, ICMP */
	ck_assert_uint_eq(val(TXB, "t.pcap,10.0.0.4,udp"), 82 + 52);
	ck_assert_uint_eq(val(TXP, "t.pcap,10.0.0.4,udp"), 2);
	ck_assert_uint_eq(val(TXB, "t.pcap,10.0.0.4,other"), 90);
	ck_assert(!has(RXB, "t.pcap,10.0.0.4,udp"));
	/* IPv6 */
	ck_assert_uint_eq(val(TXB, "t.pcap,fd00::2,tcp"), 606);
	ck_assert_uint_eq(val(RXB, "t.pcap,fd00::2,rocev2"), 106);
	ck_assert_uint_eq(val("fabric_peer_cnp_packets_total", "t.pcap,fd00::2,receive"),
			  1);
	ck_assert_uint_eq(
	    val("fabric_peer_ecn_ce_packets_total", "t.pcap,fd00::2,receive"), 1);
	/* nothing folded: 4 peers, top 64 */
	ck_assert(!has(TXB, "t.pcap,other,tcp"));
	/* the rest */
	const char *F = "fabric_pcap_unattributed_packets_total";

	ck_assert_uint_eq(val(F, "t.pcap,not_ip"), 1);
	ck_assert_uint_eq(val(F, "t.pcap,truncated"), 1);
	ck_assert_uint_eq(val(F, "t.pcap,malformed"), 1);
	ck_assert_uint_eq(val(F, "t.pcap,not_local"), 2);
	ck_assert_uint_eq(val(F, "t.pcap,link_type"), 0);
	/* every record read (16 of the table, the ARP frame, the lying IPv4
	 * header), none dropped */
	ck_assert_uint_eq(val("fabric_pcap_received_packets_total", "t.pcap"), 18);
	ck_assert_uint_eq(val("fabric_pcap_dropped_packets_total", "t.pcap,kernel"), 0);
	/* this node's addresses */
	ck_assert(has("fabric_peer_address_info", "t.pcap,10.0.0.1,n1"));
	ck_assert(has("fabric_peer_address_info", "t.pcap,fd00::1,n1"));
	/* a second poll: the file is done, the counters stay */
	fake_am_advance(C, 1000000000);
	ck_assert_int_eq(PC->poll(C, S), 0);
	ck_assert_uint_eq(val(TXB, "t.pcap,10.0.0.2,rocev2"), 1078 + 70);
}
END_TEST

START_TEST(replay_top_k_and_filter)
{
	write_mix();
	ck_assert_int_eq(start_file(", top_k: 1"), 0);
	ck_assert_int_eq(PC->poll(C, S), 0);
	/* 10.0.0.2 has the most bytes (5584); the others are "other" */
	ck_assert_uint_eq(val(TXB, "t.pcap,10.0.0.2,rocev2"), 1148);
	ck_assert(!has(TXB, "t.pcap,10.0.0.3,tcp"));
	ck_assert_uint_eq(val(TXB, "t.pcap,other,tcp"), 1058 + 606);
	ck_assert_uint_eq(val(RXB, "t.pcap,other,rocev2"), 106);
	ck_assert_uint_eq(val(TXB, "t.pcap,other,udp"), 134);
	restart();
	/* a BPF filter: only UDP (RoCEv2 is UDP); a plain filter does not
	 * look behind VLAN tags or IPv6 extension headers (pcap-filter(7):
	 * "vlan and tcp" does the first) */
	ck_assert_int_eq(start_file(", filter: udp"), 0);
	ck_assert_int_eq(PC->poll(C, S), 0);
	ck_assert_uint_eq(val(TXB, "t.pcap,10.0.0.2,rocev2"), 1148);
	ck_assert_uint_eq(val(TXB, "t.pcap,10.0.0.4,udp"), 134);
	ck_assert(!has(TXB, "t.pcap,10.0.0.4,other"));
	ck_assert(!has(TXB, "t.pcap,10.0.0.3,tcp"));
	ck_assert(!has(RXB, "t.pcap,fd00::2,rocev2"));
	restart();
	ck_assert_int_eq(start_file(", filter: \"vlan and tcp\""), 0);
	ck_assert_int_eq(PC->poll(C, S), 0);
	ck_assert_uint_eq(val(TXB, "t.pcap,10.0.0.3,tcp"), 1058);
	ck_assert(!has(TXB, "t.pcap,fd00::2,tcp"));
	restart();
	ck_assert_int_eq(start_file(", filter: \"tcp and\""), -EINVAL);
	ck_assert_msg(strstr(fake_am_found(C), "filter \"tcp and\""), "%s",
		      fake_am_found(C));
}
END_TEST

START_TEST(replay_truncated_file)
{
	FILE *f;
	long size;

	write_mix();
	f = fopen(path, "r+");
	ck_assert_ptr_nonnull(f);
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fclose(f);
	ck_assert_int_eq(truncate(path, size - 10), 0); /* the last record cut */
	ck_assert_int_eq(start_file(""), 0);
	ck_assert_int_eq(PC->poll(C, S), 0);
	ck_assert_uint_eq(val(TXB, "t.pcap,10.0.0.2,rocev2"), 1148);
	/* the 17 records before the cut one count as received */
	ck_assert_uint_eq(val("fabric_pcap_received_packets_total", "t.pcap"), 17);
	ck_assert_uint_eq(
	    val("fabric_pcap_unattributed_packets_total", "t.pcap,not_local"), 1);
	ck_assert_uint_eq(fake_am_log_count(C, "truncated"), 1);
	ck_assert_uint_eq(fake_am_read_errors(C), 1);
}
END_TEST

START_TEST(replay_other_link_types)
{
	struct pf_writer w;

	/* raw IP: parsed */
	ck_assert_int_eq(pf_open(&w, path, DLT_RAW, 128), 0);
	w_frame(&w,
		&(struct pf_spec){.src = "10.0.0.1",
				  .dst = "10.0.0.9",
				  .proto = 17,
				  .payload = 72,
				  .raw = true},
		0, 0);
	pf_close(&w);
	ck_assert_int_eq(start_file(""), 0);
	ck_assert_int_eq(PC->poll(C, S), 0);
	ck_assert_uint_eq(val(TXB, "t.pcap,10.0.0.9,udp"), 100);
	PC->fini(C, S);
	S = NULL;
	/* Linux cooked v1 ("any"-style capture) with a VLAN tag: parsed */
	{
		uint8_t ip[256], f[256];
		size_t n = frame(ip, &(struct pf_spec){.src = "10.0.0.1",
						       .dst = "10.0.0.8",
						       .proto = 17,
						       .payload = 50,
						       .raw = true});

		memset(f, 0, 20);
		f[14] = 0x81;
		f[17] = 0x05;
		f[18] = 0x08;
		memcpy(f + 20, ip, n);
		ck_assert_int_eq(pf_open(&w, path, DLT_LINUX_SLL, 128), 0);
		pf_write(&w, f, n + 20, 0, 0);
		pf_close(&w);
	}
	ck_assert_int_eq(start_file(""), 0);
	ck_assert_int_eq(PC->poll(C, S), 0);
	ck_assert_uint_eq(val(TXB, "t.pcap,10.0.0.8,udp"), 20 + 20 + 8 + 50);
	PC->fini(C, S);
	S = NULL;
	/* 802.11: refused at init with the link type named */
	ck_assert_int_eq(pf_open(&w, path, DLT_IEEE802_11, 128), 0);
	pf_write(&w, (const uint8_t *)"0123456789abcdefghijklmn", 24, 0, 0);
	pf_close(&w);
	ck_assert_int_eq(start_file(""), -EINVAL);
	ck_assert_msg(strstr(fake_am_found(C), "link type 105 (IEEE802_11)"), "%s",
		      fake_am_found(C));
}
END_TEST

START_TEST(config_errors)
{
	ck_assert_int_eq(start("{top_k: 4}"), -EINVAL);
	ck_assert_str_eq(fake_am_found(C),
			 "nothing to capture: set interfaces (or file)");
	ck_assert_int_eq(start("{file: /nonexistent.pcap}"), -EINVAL);
	ck_assert_msg(strstr(fake_am_found(C), "set local_addresses"), "%s",
		      fake_am_found(C));
	ck_assert_int_eq(start("{file: /nonexistent.pcap, local_addresses: [10.0.0.1]}"),
			 -EINVAL);
	ck_assert_msg(strstr(fake_am_found(C), "/nonexistent.pcap"), "%s",
		      fake_am_found(C));
	write_mix();
	ck_assert_int_eq(start_file(", interfaces: [lo]"), -EINVAL);
	ck_assert_str_eq(fake_am_found(C), "file and interfaces exclude each other");
	/* an RDMA device name without a sample window: the warning */
	ck_assert_int_eq(start("{interfaces: [mlx5_0]}"), -EINVAL);
	ck_assert_msg(strstr(fake_am_found(C),
			     "mlx5_0 is an RDMA device: a capture there "
			     "slows its RoCE traffic"),
		      "%s", fake_am_found(C));
	ck_assert_int_eq(
	    start("{interfaces: [mlx5_0], sample_window: 10m, sample_every: 1m}"),
	    -EINVAL);
	ck_assert_int_eq(start("{interfaces: [no-such-if0]}"), -ENOENT);
	ck_assert_msg(strstr(fake_am_found(C), "no-such-if0: no such device"), "%s",
		      fake_am_found(C));
}
END_TEST

/* "any" is refused at config load (check hook): it would count a stacked
 * device and its lower device twice and owns no addresses. */
START_TEST(any_refused_at_load)
{
	char err[256] = "";
	const struct am_config *cfg =
	    fake_am_config(C, PC, "{interfaces: [lo, any]}", err, sizeof(err));
	char key[64] = "", why[256] = "";

	ck_assert_ptr_nonnull(cfg);
	ck_assert_ptr_nonnull(PC->check);
	ck_assert_int_eq(PC->check(cfg, key, sizeof(key), why, sizeof(why)), -EINVAL);
	ck_assert_str_eq(key, "interfaces[1]");
	ck_assert_msg(strstr(why, "\"any\" is not supported"), "%s", why);
	cfg = fake_am_config(C, PC, "{interfaces: [lo]}", err, sizeof(err));
	ck_assert_int_eq(PC->check(cfg, key, sizeof(key), why, sizeof(why)), 0);
}
END_TEST

/* A netdev stacked on another captured one (sysfs lower_X): refused. */
START_TEST(stacked_devices_refused)
{
	char sys[128], p[256];
	static const char *const mk[] = {"", "/class", "/class/net", "/class/net/vlan7",
					 "/class/net/vlan7/lower_lo"};

	snprintf(sys, sizeof(sys), "%s/sys", dir);
	for (size_t i = 0; i < sizeof(mk) / sizeof(mk[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", sys, mk[i]);
		ck_assert_int_eq(mkdir(p, 0755), 0);
	}
	fake_am_set_sysfs(C, sys);
	ck_assert_int_eq(start("{interfaces: [lo, vlan7]}"), -EINVAL);
	ck_assert_str_eq(fake_am_found(C),
			 "vlan7 is stacked on lo (VLAN, bridge or bond): capturing both "
			 "counts its traffic twice; capture one of them");
	for (size_t i = sizeof(mk) / sizeof(mk[0]); i-- > 0;) {
		snprintf(p, sizeof(p), "%s%s", sys, mk[i]);
		rmdir(p);
	}
}
END_TEST

/* Without CAP_NET_RAW: one clear line, -EPERM (the agent goes on). Run as
 * nobody in a child, so the suite itself keeps its privileges. */
START_TEST(no_cap_net_raw)
{
	pid_t pid = fork();
	int st;

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int rc;

		if (geteuid() == 0 &&
		    (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0))
			_exit(3);
		rc = start("{interfaces: [lo]}");
		if (rc != -EPERM) {
			fprintf(stderr, "init: %d: %s\n", rc, fake_am_found(C));
			_exit(1);
		}
		if (!strstr(fake_am_found(C),
			    "cannot capture on lo: permission denied (needs "
			    "CAP_NET_RAW"))
			_exit(2);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %d", st);
}
END_TEST

/* A live capture on lo, taken for an RDMA device by a fixture sysfs
 * (class/infiniband/lo): windows of 2 s every 10 s on the fake clock, the
 * handle closed between them; datagrams sent during a window are counted
 * exactly (the filter keeps other users of lo out). Needs CAP_NET_RAW. */
START_TEST(rdma_windows_on_a_live_handle)
{
	char sys[128], p[160];
	int rc, s;
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(45678)};

	snprintf(sys, sizeof(sys), "%s/sys", dir);
	ck_assert_int_eq(mkdir(sys, 0755), 0);
	for (int i = 0; i < 3; i++) {
		static const char *const sub[] = {"class", "class/infiniband",
						  "class/infiniband/lo"};

		snprintf(p, sizeof(p), "%s/%s", sys, sub[i]);
		ck_assert_int_eq(mkdir(p, 0755), 0);
	}
	fake_am_set_sysfs(C, sys);
	fake_am_set_time(C, 1000000000);
	rc = start("{interfaces: [lo], sample_window: 2s, sample_every: 10s, "
		   "filter: \"udp port 45678\"}");
	if (rc == -EPERM) {
		fprintf(stderr, "rdma_windows_on_a_live_handle: skipped: %s\n",
			fake_am_found(C));
		return;
	}
	ck_assert_msg(rc == 0, "init: %d: %s", rc, fake_am_found(C));
	/* three datagrams to ourselves inside the first window */
	s = socket(AF_INET, SOCK_DGRAM, 0);
	ck_assert_int_ge(s, 0);
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(
		    sendto(s, "0123456789", 10, 0, (struct sockaddr *)&to, sizeof(to)),
		    10);
	close(s);
	usleep(400000); /* the kernel hands a block over within 100 ms */
	ck_assert_int_eq(PC->poll(C, S), 0);
	ck_assert_double_eq(fake_am_find(C, "fabric_pcap_capturing", "lo")->last, 1);
	/* both ends are ours: counted once, as transmit to 127.0.0.1 */
	ck_assert_uint_eq(val(TXP, "lo,127.0.0.1,udp"), 3);
	ck_assert_uint_eq(val(TXB, "lo,127.0.0.1,udp"), 3 * (14 + 20 + 8 + 10));
	/* loopback is never an address of the node in the matrix */
	ck_assert(!has("fabric_peer_address_info", "lo,127.0.0.1,n1"));
	fake_am_set_time(C, 3000000000); /* the window ends */
	ck_assert_int_eq(PC->poll(C, S), 0);
	ck_assert_double_eq(fake_am_find(C, "fabric_pcap_capturing", "lo")->last, 0);
	ck_assert_uint_eq(val("fabric_pcap_capture_seconds_total", "lo"), 2000000000);
	fake_am_set_time(C, 8000000000);
	ck_assert_int_eq(PC->poll(C, S), 0);
	ck_assert_double_eq(fake_am_find(C, "fabric_pcap_capturing", "lo")->last, 0);
	ck_assert_uint_eq(val("fabric_pcap_capture_seconds_total", "lo"), 2000000000);
	fake_am_set_time(C, 11000000000); /* the next window: reopened */
	ck_assert_int_eq(PC->poll(C, S), 0);
	ck_assert_double_eq(fake_am_find(C, "fabric_pcap_capturing", "lo")->last, 1);
	fake_am_set_time(C, 12000000000);
	ck_assert_int_eq(PC->poll(C, S), 0);
	ck_assert_uint_eq(val("fabric_pcap_capture_seconds_total", "lo"), 3000000000);
	ck_assert_uint_eq(val(TXP, "lo,127.0.0.1,udp"), 3);
}
END_TEST

int main(void)
{
	/* the frame-path comparisons take seconds under a sanitizer (read
	 * by tcase_create; a value given outside wins) */
	setenv("CK_DEFAULT_TIMEOUT", "120", 0);
	Suite *s = suite_create("pcap");
	TCase *tp = tcase_create("parser"), *tt = tcase_create("table"),
	      *tc = tcase_create("collector");
	SRunner *sr;
	int failed;

	tcase_add_test(tp, rocev2_bth);
	tcase_add_test(tp, tcp_udp_vlan_qinq);
	tcase_add_test(tp, ipv6_extension_headers);
	tcase_add_test(tp, truncated_and_lying);
	tcase_add_test(tp, link_types);
	tcase_add_test(tp, vlan_behind_cooked_headers);
	tcase_add_test(tt, top_k_folds_the_rest);
	tcase_add_test(tt, leaving_the_top_k_is_monotonic);
	tcase_add_test(tt, table_full_goes_to_other_and_idle_peers_leave);
	tcase_add_test(tt, counts_past_32_bits_and_trains_without_room);
	tcase_add_test(tt, retired_peer_returns_and_continues);
	tcase_add_test(tt, full_table_evicts_the_lowest_entry_without_series);
	tcase_add_test(tt, many_local_addresses);
	tcase_add_test(tt, multicast_and_broadcast_direction);
	tcase_add_test(tt, frame_cache_forgets_evicted_peers_and_old_directions);
	tcase_add_test(tt, frame_path_counts_what_parse_and_account_count);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, replay_exact_figures);
	tcase_add_test(tc, replay_top_k_and_filter);
	tcase_add_test(tc, replay_truncated_file);
	tcase_add_test(tc, replay_other_link_types);
	tcase_add_test(tc, config_errors);
	tcase_add_test(tc, any_refused_at_load);
	tcase_add_test(tc, stacked_devices_refused);
	tcase_add_test(tc, no_cap_net_raw);
	tcase_add_test(tc, rdma_windows_on_a_live_handle);
	suite_add_tcase(s, tp);
	suite_add_tcase(s, tt);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
