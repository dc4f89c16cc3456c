/* Frame builder and pcap writer for the pcap collector's tests, fuzz seeds,
 * tshark cross-check and benchmark (see pcap_frames.h). Checksums are left
 * zero: nothing here reads them, and tshark does not validate them by
 * default.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "pcap_frames.h"

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

size_t pf_frame(uint8_t *buf, size_t cap, const struct pf_spec *s)
{
	bool v6 = strchr(s->src, ':') != NULL;
	size_t l4len = (s->proto == 6	 ? 20
			: s->proto == 17 ? 8
					 : 0) +
		       (s->bth ? 12 : 0) + s->payload;
	size_t ext = (size_t)s->v6_ext * 8 + (s->v6_frag ? 8 : 0);
	size_t iplen = (v6 ? 40 + ext : 20) + l4len;
	size_t off = 0, len = (s->raw ? 0 : 14 + 4 * (size_t)s->nvlan) + iplen;
	uint8_t *ip, *l4, nh;

	if (len > cap)
		return 0;
	memset(buf, 0, len);
	if (!s->raw) {
		static const uint8_t mac[12] = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1};

		memcpy(buf, mac, 12);
		off = 12;
		for (int i = 0; i < s->nvlan; i++) {
			wr16(buf + off, s->nvlan == 2 && i == 0 ? 0x88a8 : 0x8100);
			wr16(buf + off + 2, (uint16_t)(100 + i));
			off += 4;
		}
		wr16(buf + off, v6 ? 0x86dd : 0x0800);
		off += 2;
	}
	ip = buf + off;
	if (v6) {
		ip[0] = (uint8_t)(0x60 | 0);
		ip[1] = (uint8_t)(s->ecn << 4);
		wr16(ip + 4, (uint16_t)(ext + l4len));
		ip[7] = 64;
		inet_pton(AF_INET6, s->src, ip + 8);
		inet_pton(AF_INET6, s->dst, ip + 24);
		/* chain: hop-by-hop (0), routing (43), destination options (60), then
		 * the fragment header (44), each 8 bytes */
		static const uint8_t chain[3] = {0, 43, 60};
		uint8_t *h = ip + 40, *prev_nh = ip + 6;

		for (int i = 0; i < s->v6_ext; i++) {
			*prev_nh = chain[i % 3];
			prev_nh = h;
			h[1] = 0; /* (0 + 1) x 8 bytes */
			h += 8;
		}
		if (s->v6_frag) {
			*prev_nh = 44;
			prev_nh = h;
			h[3] = 1; /* offset 0, more fragments */
			h += 8;
		}
		*prev_nh = s->proto;
		l4 = h;
	} else {
		ip[0] = 0x45;
		ip[1] = s->ecn & 3;
		wr16(ip + 2, (uint16_t)iplen);
		ip[8] = 64;
		ip[9] = s->proto;
		inet_pton(AF_INET, s->src, ip + 12);
		inet_pton(AF_INET, s->dst, ip + 16);
		l4 = ip + 20;
	}
	nh = s->proto;
	if (nh == 6 || nh == 17) {
		wr16(l4, s->sport);
		wr16(l4 + 2, s->dport);
	}
	if (nh == 6) {
		l4[12] = 5 << 4; /* data offset */
		l4[13] = 0x18;	 /* PSH ACK */
	} else if (nh == 17) {
		wr16(l4 + 4, (uint16_t)l4len);
		if (s->bth) {
			uint8_t *b = l4 + 8;

			b[0] = s->opcode;
			b[1] = 0x40; /* M bit set, pad 0, tver 0 */
			wr16(b + 2, 0xffff);
			b[4] = (uint8_t)((s->fecn ? 0x80 : 0) | (s->becn ? 0x40 : 0));
			b[5] = (uint8_t)(s->dest_qp >> 16);
			b[6] = (uint8_t)(s->dest_qp >> 8);
			b[7] = (uint8_t)s->dest_qp;
		}
	}
	return len;
}

int pf_open(struct pf_writer *w, const char *path, int linktype, uint32_t snaplen)
{
	memset(w, 0, sizeof(*w));
	w->snaplen = snaplen ? snaplen : 65535;
	w->dead = pcap_open_dead(linktype, (int)w->snaplen);
	if (!w->dead)
		return -1;
	w->d = pcap_dump_open(w->dead, path);
	if (!w->d) {
		fprintf(stderr, "pcap_dump_open %s: %s\n", path, pcap_geterr(w->dead));
		pcap_close(w->dead);
		return -1;
	}
	return 0;
}

void pf_write(struct pf_writer *w, const uint8_t *buf, size_t len, uint32_t caplen,
	      uint32_t wirelen)
{
	struct pcap_pkthdr h = {0};

	h.ts.tv_sec = 1700000000 + w->sec / 1000;
	h.ts.tv_usec = (w->sec % 1000) * 1000;
	w->sec++;
	h.len = wirelen ? wirelen : (uint32_t)len;
	h.caplen = caplen ? caplen : (uint32_t)(len < w->snaplen ? len : w->snaplen);
	pcap_dump((u_char *)w->d, &h, buf);
}

void pf_close(struct pf_writer *w)
{
	if (w->d)
		pcap_dump_close(w->d);
	if (w->dead)
		pcap_close(w->dead);
	memset(w, 0, sizeof(*w));
}

int pf_mix(const char *path, unsigned long n, unsigned npeers, unsigned max_burst)
{
	struct pf_writer w;
	uint8_t buf[2048];
	uint64_t x = 88172645463325252ull; /* xorshift: the same file every run */

	if (npeers == 0 || npeers > 60000 || pf_open(&w, path, DLT_EN10MB, 128) < 0)
		return -1;
	if (max_burst == 0)
		max_burst = 1;
	for (unsigned long i = 0; i < n;) {
		char peer[64];
		struct pf_spec s = {0};
		unsigned p, kind;
		size_t len;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		/* skewed: low peer numbers carry most of the traffic */
		p = (unsigned)((x >> 8) % npeers);
		p = (unsigned)(p * ((x >> 40) % 4 == 0 ? 1 : (x >> 44) % 8 + 1) % npeers);
		kind = (unsigned)((x >> 20) % 10);
		if (kind == 9)
			snprintf(peer, sizeof(peer), "fd00::%x:%x", 1 + p / 256,
				 p % 256 + 2);
		else
			snprintf(peer, sizeof(peer), "10.%u.%u.%u", 1 + p / 65025,
				 (p / 255) % 255, p % 255 + 2);
		bool tx = (x >> 30) & 1;
		const char *me = kind == 9 ? "fd00::1" : "10.0.0.1";

		s.src = tx ? me : peer;
		s.dst = tx ? peer : me;
		s.payload = (size_t)((x >> 33) % 1400);
		s.nvlan = kind == 5 ? 1 : kind == 6 ? 2 : 0;
		s.ecn = (x >> 50) % 16 == 0 ? 3 : 0;
		if (kind < 4) {
			s.proto = 17;
			s.sport = 49152;
			s.dport = 4791;
			s.bth = true;
			s.opcode = kind == 0 && (x >> 52) % 8 == 0 ? 0x81 : 0x0a;
			s.dest_qp = p;
		} else if (kind < 7 || kind == 9) {
			s.proto = 6;
			s.sport = 40000;
			s.dport = 5201;
		} else {
			s.proto = 17;
			s.sport = 40000;
			s.dport = 9000;
		}
		len = pf_frame(buf, sizeof(buf), &s);
		for (unsigned b = 1 + (unsigned)((x >> 56) % max_burst); b > 0 && i < n;
		     b--, i++)
			pf_write(&w, buf, len, 0, 0);
	}
	pf_close(&w);
	return 0;
}
