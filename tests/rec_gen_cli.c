/* Test helper program: writes realistic record files for the integration
 * tests (rec_gen_cli DIR NODES DAYS [NGPUS NHCAS NVLINKS]), one file per
 * node-day, named like the exporter's.
 */
#include <stdio.h>
#include <stdlib.h>

#include "rec_gen.h"

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr,
			"usage: rec_gen_cli DIR NODES DAYS [NGPUS NHCAS NVLINKS]\n");
		return 2;
	}
	unsigned nodes = (unsigned)atoi(argv[2]), days = (unsigned)atoi(argv[3]);
	uint64_t samples = 0;
	long long bytes = 0;
	for (unsigned n = 0; n < nodes; n++)
		for (unsigned d = 0; d < days; d++) {
			char path[4096], host[32];
			snprintf(host, sizeof(host), "node%03u", n);
			snprintf(path, sizeof(path), "%s/%s-day%u.amrec", argv[1], host,
				 d);
			struct recgen_node_opts o = {
			    .path = path,
			    .host = host,
			    .start_ms = 1764028800000LL + (int64_t)d * 86400000,
			    .interval_ms = 15000,
			    .nbatches = 5760,
			    .ngpus = argc > 4 ? (unsigned)atoi(argv[4]) : 8,
			    .nhcas = argc > 5 ? (unsigned)atoi(argv[5]) : 8,
			    .nvlinks = argc > 6 ? (unsigned)atoi(argv[6]) : 0,
			    .seed = n * 1000 + d,
			};
			long long b = recgen_node(&o, &samples);
			if (b < 0) {
				fprintf(stderr, "rec_gen_cli: %s: error %lld\n", path, b);
				return 1;
			}
			bytes += b;
		}
	printf("%u node-days, %llu samples, %lld bytes (%.2f MiB per node-day, %.2f "
	       "bytes per sample)\n",
	       nodes * days, (unsigned long long)samples, bytes,
	       bytes / 1048576.0 / (nodes && days ? nodes * days : 1),
	       samples ? (double)bytes / samples : 0);
	return 0;
}
