/* libFuzzer target for the HTTP content negotiation of the Prometheus
 * exporter (exporters/prom_negotiate.c): arbitrary bytes as an Accept and an
 * Accept-Encoding header. It must never crash, read out of bounds or return
 * anything but 0 or 1. Seeds: tests/fuzz/corpus/accept. Build: make fuzz-accept.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "exporters/prometheus.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A header value as MHD hands it over: NUL-terminated, no NUL inside. */
	char *s = malloc(size + 1);
	int om, gz;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	om = prom_wants_openmetrics(s);
	gz = prom_accepts_gzip(s);
	free(s);
	if ((om != 0 && om != 1) || (gz != 0 && gz != 1))
		abort();
	return 0;
}
