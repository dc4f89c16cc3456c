/* libFuzzer target for the pcap collector's packet parser and peer table
 * (collectors/pcap_parse.c): the first byte picks the link type, the next
 * four the wire length, the rest is the captured frame. Every parsed frame
 * is accounted in one table that is folded now and then, so ranking,
 * folding, pruning and rehashing run on fuzzed addresses too.
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
	if (++calls % 64 == 0)
		pp_fold(&t, 0.5, 3);
	free(frame);
	return 0;
}
