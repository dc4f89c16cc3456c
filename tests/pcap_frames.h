/* Frame builder and pcap writer for the pcap collector's tests, fuzz seeds,
 * tshark cross-check and benchmark: Ethernet (with 802.1Q/QinQ tags), IPv4
 * or IPv6 (with extension headers), TCP, UDP and RoCEv2 BTH frames, written
 * with libpcap's own pcap_open_dead + pcap_dump, so fixtures are made by the
 * tests and never committed.
 */
#ifndef ACCELMON_TESTS_PCAP_FRAMES_H
#define ACCELMON_TESTS_PCAP_FRAMES_H

#include <pcap/pcap.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pf_spec {
	const char *src, *dst; /* IPv4 or IPv6 text (both the same family) */
	uint8_t proto;	       /* 6 TCP, 17 UDP, else another IP protocol */
	uint16_t sport, dport; /* dport 4791 with bth: RoCEv2 */
	size_t payload;	       /* bytes after the L4 header (and BTH) */
	uint8_t ecn;	       /* 0..3 (3: congestion experienced) */
	int nvlan;	       /* 802.1Q tags: 1, or 2 for QinQ (outer 0x88a8) */
	int v6_ext;	       /* IPv6: hop-by-hop, routing, destination opts */
	bool v6_frag;	       /* IPv6: a fragment header (first fragment) */
	bool bth;	       /* a RoCEv2 BTH after the UDP header */
	uint8_t opcode;
	uint32_t dest_qp;
	bool fecn, becn;
	bool raw; /* no Ethernet header (LINKTYPE_RAW) */
};

/* Build the frame into buf (cap bytes); its length, 0 when it does not fit. */
size_t pf_frame(uint8_t *buf, size_t cap, const struct pf_spec *s);

struct pf_writer {
	pcap_t *dead;
	pcap_dumper_t *d;
	uint32_t snaplen;
	unsigned sec;
};

/* Open path for writing: link type, snap length (0: 65535). 0 or -1. */
int pf_open(struct pf_writer *w, const char *path, int linktype, uint32_t snaplen);
/* Write a frame: captured = min(len, snaplen), wire length = len; caplen and
 * wirelen > 0 override them (to write records that lie). */
void pf_write(struct pf_writer *w, const uint8_t *buf, size_t len, uint32_t caplen,
	      uint32_t wirelen);
void pf_close(struct pf_writer *w);

/* The generated mix of the tshark cross-check and the benchmark: n frames
 * between local 10.0.0.1 / fd00::1 and npeers peers (TCP, UDP, RoCEv2, some
 * VLAN-tagged, some IPv6), deterministic. Frames come in trains of 1 to
 * max_burst of one peer, kind and direction (a message cut into MTU-sized
 * packets, as RDMA writes and TCP sends are on the wire); max_burst 1 makes
 * every frame independent, the worst case for caches and branches. 0 or -1. */
int pf_mix(const char *path, unsigned long n, unsigned npeers, unsigned max_burst);

#endif
