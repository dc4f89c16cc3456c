/* libFuzzer target for the pcap collector's packet parser and peer table
 * (collectors/pcap_parse.c): the first byte picks the link type, the next
 * four the wire length, the rest is the captured frame. Every parsed frame
 * is accounted in one table that is folded now and then, so ranking,
 * folding, pruning and rehashing run on fuzzed addresses too. Each frame
 * also goes, twice, through pp_frame (the collector's path, with its pair
 * and frame caches) into a second table, and through pp_parse + pp_account
 * without caches into a third: their answers and totals must agree.
 *   make fuzz-pcap && tests/fuzz/fuzz_pcap_parse -max_total_time=60
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pcap_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const int links[] = {
    PP_LINK_EN10MB, PP_LINK_RAW, PP_LINK_DLT_RAW, PP_LINK_SLL, PP_LINK_SLL2,
    PP_LINK_NULL,   105};

/* pp_frame (the collector's path, with its caches) into table f, and
 * pp_parse + pp_account without caches into table r: the same answer, and
 * the same totals */
static struct pp_table f, r;

/* Everything a table counted, by protocol and direction (entries, their
 * hot lines and "other"), with its skips, overflow and evictions. */
struct totals {
	struct pp_counts c;
	uint64_t skipped[PP_NSKIP], overflow, evictions, used;
};

static void add_counts(struct pp_counts *to, const struct pp_counts *from)
{
	uint64_t *a = (uint64_t *)to;
	const uint64_t *b = (const uint64_t *)from;

	for (size_t i = 0; i < sizeof(*to) / sizeof(uint64_t); i++)
		a[i] += b[i];
}

static struct totals total(const struct pp_table *t)
{
	struct totals s;

	memset(&s, 0, sizeof(s));
	add_counts(&s.c, &t->other.exp);
	add_counts(&s.c, &t->other_pend);
	for (size_t i = 0; i < t->cap; i++) {
		if (!t->slot[i].used)
			continue;
		add_counts(&s.c, &t->slot[i].pend);
		add_counts(&s.c, &t->slot[i].exp);
		for (int pr = 0; pr < PP_NPROTO; pr++)
			for (int d = 0; d < PP_NDIR; d++) {
				s.c.f[pr][d].bytes += t->hot[i].f[pr][d].bytes;
				s.c.f[pr][d].pkts += t->hot[i].f[pr][d].pkts;
			}
	}
	memcpy(s.skipped, t->skipped, sizeof(s.skipped));
	s.overflow = t->overflow_pkts;
	s.evictions = t->evictions;
	s.used = t->used;
	return s;
}

static void frame_path(int link, const uint8_t *frame, uint32_t caplen, uint32_t len)
{
	struct pp_pkt p;
	enum pp_skip x, y;

	if (!f.slot) {
		struct pp_addr a;

		if (pp_table_init(&f, 2, 8) < 0 || pp_table_init(&r, 2, 8) < 0)
			abort();
		pp_addr_parse("10.0.0.1", &a);
		pp_table_add_local(&f, &a);
		pp_table_add_local(&r, &a);
		pp_addr_parse("fd00::1", &a);
		pp_table_add_local(&f, &a);
		pp_table_add_local(&r, &a);
	}
	/* twice: the second may come from the frame cache */
	for (int k = 0; k < 2; k++) {
		x = pp_frame(&f, link, frame, caplen, len);
		pp_parse(link, frame, caplen, len, &p);
		r.last_valid = false;
		r.pair_af = 0;
		y = pp_account(&r, &p);
		struct totals tf = total(&f), tr = total(&r);

		if (x != y || memcmp(&tf, &tr, sizeof(tf)) != 0)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct pp_table t;
	static unsigned calls;
	struct pp_pkt p;
	uint32_t len;
	uint8_t *frame;
	char text[64];

	if (!t.slot) {
		struct pp_addr a;

		if (pp_table_init(&t, 4, 32) < 0)
			abort();
		pp_addr_parse("10.0.0.1", &a);
		pp_table_add_local(&t, &a);
		pp_addr_parse("fd00::1", &a);
		pp_table_add_local(&t, &a);
	}
	if (size < 5)
		return 0;
	len = (uint32_t)data[1] << 24 | (uint32_t)data[2] << 16 | (uint32_t)data[3] << 8 |
	      data[4];
	/* a copy of exactly the captured bytes: ASan sees any read past them */
	frame = malloc(size - 5 ? size - 5 : 1);
	if (!frame)
		return 0;
	memcpy(frame, data + 5, size - 5);
	pp_parse(links[data[0] % (sizeof(links) / sizeof(links[0]))], frame,
		 (uint32_t)(size - 5), len, &p);
	if (p.skip == PP_SKIP_NONE) {
		/* make the fuzzed frame local half the time, so it is accounted */
		if (data[0] & 0x80)
			p.src = t.local[p.src.af == 6 ? 1 : 0];
		pp_addr_text(&p.src, text, sizeof(text));
		pp_addr_text(&p.dst, text, sizeof(text));
	}
	pp_account(&t, &p);
	/* an untagged IPv4 Ethernet frame from this node half the time, so
	 * that pp_frame counts it (and its frame cache fills) */
	if ((data[0] & 0x80) && links[data[0] % (sizeof(links) / sizeof(links[0]))] ==
				    PP_LINK_EN10MB &&
	    size - 5 >= 30 && frame[12] == 0x08 && frame[13] == 0x00)
		memcpy(frame + 26, "\x0a\x00\x00\x01", 4);
	frame_path(links[data[0] % (sizeof(links) / sizeof(links[0]))], frame,
		   (uint32_t)(size - 5), len);
	if (++calls % 64 == 0) {
		pp_fold(&t, 0.5, 3);
		pp_fold(&f, 0.5, 3);
		pp_fold(&r, 0.5, 3);
	}
	free(frame);
	return 0;
}
