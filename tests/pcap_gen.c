/* pcap_gen FILE PACKETS PEERS: writes the generated traffic mix of
 * tests/pcap_frames.c (local 10.0.0.1 and fd00::1, TCP, UDP, RoCEv2, VLAN,
 * QinQ, IPv6; trains of up to 16 frames) for the tshark cross-check.
 */
#include <stdio.h>
#include <stdlib.h>

#include "pcap_frames.h"

int main(int argc, char **argv)
{
	char *end;
	unsigned long n, peers;

	if (argc != 4) {
		fprintf(stderr, "usage: pcap_gen FILE PACKETS PEERS\n");
		return 2;
	}
	n = strtoul(argv[2], &end, 10);
	if (*end || n == 0) {
		fprintf(stderr, "pcap_gen: PACKETS: not a positive number: %s\n",
			argv[2]);
		return 2;
	}
	peers = strtoul(argv[3], &end, 10);
	if (*end || peers == 0 || peers > 60000) {
		fprintf(stderr, "pcap_gen: PEERS: 1..60000: %s\n", argv[3]);
		return 2;
	}
	if (pf_mix(argv[1], n, (unsigned)peers, 16) < 0) {
		fprintf(stderr, "pcap_gen: cannot write %s\n", argv[1]);
		return 1;
	}
	return 0;
}
