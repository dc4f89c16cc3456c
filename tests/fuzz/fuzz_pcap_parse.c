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

static uint64_t total(const struct pp_table *t)
{
	uint64_t s = t->overflow_pkts;

	for (int i = 0; i < PP_NSKIP; i++)
		s += t->skipped[i];
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
		if (x != y || total(&f) != total(&r))
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
