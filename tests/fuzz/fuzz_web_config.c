/* libFuzzer target for the web config parser (exporters/web_config.c):
 * arbitrary bytes as an exporter-toolkit web config, without reading the
 * files it names. It must never crash or leak; a failure leaves one line
 * "fuzz.yml:..." and no config, a success a config whose TLS priorities are
 * set when TLS is on. Seeds: tests/fuzz/corpus/web_config. Build: make
 * fuzz-web-config (clang, not part of `make`).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "exporters/web_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct web_config *w = NULL;
	char err[512];
	int rc;

	err[0] = '\0';
	rc = web_config_parse((const char *)data, size, "fuzz.yml", false, &w, err,
			      sizeof(err));
	if (rc < 0) {
		if (w || strncmp(err, "fuzz.yml", 8) != 0 || strchr(err, '\n'))
			abort();
		return 0;
	}
	if (!w || (w->tls && !w->priorities) || w->min_version > w->max_version)
		abort();
	for (size_t i = 0; i < w->nusers; i++)
		if (strlen(w->users[i].hash) != 60)
			abort();
	web_config_unref(w);
	return 0;
}
