/* HTTP content negotiation of the Prometheus exporter: the Accept header
 * (text 0.0.4 or OpenMetrics 1.0.0) and Accept-Encoding (gzip). Outside
 * input with no library under it, so in its own file for the fuzzer
 * (tests/fuzz/fuzz_accept.c).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "exporters/prometheus.h"

/* Parse one media range of an Accept header: type and q (default 1). */
static void media_range(const char *s, size_t len, char *type, size_t tcap, double *q,
			char *version, size_t vcap)
{
	size_t i = 0, t = 0;

	*q = 1.0;
	version[0] = '\0';
	while (i < len && isspace((unsigned char)s[i]))
		i++;
	while (i < len && s[i] != ';' && !isspace((unsigned char)s[i])) {
		if (t + 1 < tcap)
			type[t++] = (char)tolower((unsigned char)s[i]);
		i++;
	}
	type[t] = '\0';
	while (i < len) {
		size_t k, v = 0;

		while (i < len && (s[i] == ';' || isspace((unsigned char)s[i])))
			i++;
		k = i;
		while (i < len && s[i] != ';')
			i++;
		if (i - k > 2 && strncasecmp(s + k, "q=", 2) == 0) {
			char tmp[16];
			size_t m =
			    i - k - 2 < sizeof(tmp) - 1 ? i - k - 2 : sizeof(tmp) - 1;

			memcpy(tmp, s + k + 2, m);
			tmp[m] = '\0';
			*q = strtod(tmp, NULL);
		} else if (i - k > 8 && strncasecmp(s + k, "version=", 8) == 0) {
			for (size_t j = k + 8;
			     j < i && v + 1 < vcap && !isspace((unsigned char)s[j]); j++)
				version[v++] = s[j];
			version[v] = '\0';
		}
	}
}

int prom_wants_openmetrics(const char *accept)
{
	double om_q = 0, text_q = 0;

	if (!accept)
		return 0;
	while (*accept) {
		const char *end = strchr(accept, ',');
		size_t len = end ? (size_t)(end - accept) : strlen(accept);
		char type[64], version[32];
		double q;

		media_range(accept, len, type, sizeof(type), &q, version,
			    sizeof(version));
		if (strcmp(type, "application/openmetrics-text") == 0) {
			/* We speak 1.0.0 only; an unversioned range takes it too. */
			if ((!version[0] || strcmp(version, "1.0.0") == 0) && q > om_q)
				om_q = q;
		} else if (strcmp(type, "text/plain") == 0 || strcmp(type, "*/*") == 0 ||
			   strcmp(type, "text/*") == 0) {
			if (q > text_q)
				text_q = q;
		}
		if (!end)
			break;
		accept = end + 1;
	}
	return om_q > 0 && om_q >= text_q;
}

int prom_accepts_gzip(const char *enc)
{
	double gzip_q = -1, star_q = -1;

	if (!enc)
		return 0;
	while (*enc) {
		const char *end = strchr(enc, ',');
		size_t len = end ? (size_t)(end - enc) : strlen(enc);
		char type[64], version[8];
		double q;

		media_range(enc, len, type, sizeof(type), &q, version, sizeof(version));
		if (strcmp(type, "gzip") == 0)
			gzip_q = q;
		else if (strcmp(type, "*") == 0)
			star_q = q;
		if (!end)
			break;
		enc = end + 1;
	}
	/* An explicit gzip entry wins over the wildcard (RFC 9110 12.5.3). */
	return gzip_q >= 0 ? gzip_q > 0 : star_q > 0;
}
