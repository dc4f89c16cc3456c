/* libFuzzer target for the sample-line reader of remote write's
 * self_metrics (rw_parse_sample_line in exporters/remote_write_codec.c):
 * arbitrary bytes as one line, parsed in place in an exact-size copy (so
 * ASan flags any read past it). A line taken must give a metric name and
 * labels that lie inside the buffer, at most the limit of them, and a label
 * set that rw_labels_build accepts or refuses with -EINVAL / -E2BIG, never
 * anything else; a built set is sorted by name with one __name__.
 *   make fuzz-rw-line && tests/fuzz/fuzz_rw_line -max_total_time=60
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "exporters/remote_write_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int inside(const char *p, const char *buf, size_t len)
{
	return p >= buf && p < buf + len && strlen(p) < (size_t)(buf + len - p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *metric, *names[RW_MAX_LABELS], *values[RW_MAX_LABELS];
	struct rw_label out[RW_MAX_LABELS];
	unsigned n = 99;
	double v;
	char *line = malloc(size + 1);
	int rc;

	if (!line)
		return 0;
	memcpy(line, data, size);
	line[size] = '\0'; /* the reader gets a string, as from the snapshot */
	rc = rw_parse_sample_line(line, &metric, names, values, RW_MAX_LABELS, &n, &v);
	if (rc == 0) {
		if (!inside(metric, line, size + 1) || !*metric || n > RW_MAX_LABELS)
			abort();
		for (unsigned i = 0; i < n; i++)
			if (!inside(names[i], line, size + 1) || !*names[i] ||
			    !inside(values[i], line, size + 1))
				abort();
		rc = rw_labels_build(metric, n, names, values, NULL, 0, out,
				     RW_MAX_LABELS);
		if (rc < 0 && rc != -EINVAL && rc != -E2BIG)
			abort();
		int named = 0;
		for (int i = 0; i < rc; i++) {
			named += !strcmp(out[i].name, "__name__");
			if (i && strcmp(out[i - 1].name, out[i].name) >= 0)
				abort();
		}
		if (rc > 0 && named != 1)
			abort();
	} else if (rc != -EINVAL && rc != -E2BIG) {
		abort();
	}
	free(line);
	return 0;
}
