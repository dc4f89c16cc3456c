/* libFuzzer target for the smi collector's output parsers and value rule
 * (collectors/smi_parse.c): arbitrary bytes as a tool's output, read by
 * each format (csv by position and by header, json, kv blocks, columns),
 * every reported value run through smi_value. Never a read outside the
 * input, device indexes in range, values finite.
 * Built only by `make fuzz` (clang -fsanitize=fuzzer,address,undefined).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct smi_query queries[5];

static void field(struct smi_query *q, const char *key, int column, enum smi_metric m,
		  const char *unit, double uf)
{
	struct smi_field *f = &q->fields[q->nfields++];

	f->key = (char *)key;
	f->column = column;
	f->metric = m;
	f->unit = (char *)unit;
	f->ufactor = uf;
	f->scale = 1;
	f->label = (char *)"x";
}

static void setup(void)
{
	static int done;
	struct smi_query *q;

	if (done)
		return;
	done = 1;
	q = &queries[0]; /* csv by position */
	q->format = SMI_CSV;
	field(q, "index", -1, SMI_M_NONE, NULL, 0);
	q->fields[0].index = true;
	field(q, "power", -1, SMI_M_POWER, "W", 1);
	field(q, "mem", -1, SMI_M_MEM_USED, "MiB", 1048576);
	q = &queries[1]; /* csv by header */
	q->format = SMI_CSV;
	q->header = true;
	field(q, "index", -1, SMI_M_NONE, NULL, 0);
	q->fields[0].index = true;
	field(q, "utilization.gpu|util", -1, SMI_M_UTIL, "%", 0.01);
	q = &queries[2]; /* json */
	q->format = SMI_JSON;
	q->devices = (char *)"GPU";
	field(q, "Index", -1, SMI_M_NONE, NULL, 0);
	q->fields[0].index = true;
	field(q, "A/B", -1, SMI_M_TEMP, "C", 1);
	field(q, "/Driver", -1, SMI_M_PORT_UP, NULL, 0);
	q = &queries[3]; /* kv */
	q->format = SMI_KV;
	q->devices = (char *)"DEV ID";
	field(q, "Sect/Used|Mem", -1, SMI_M_MEM_USED, "MiB", 1048576);
	field(q, "Speed", -1, SMI_M_PORT_SPEED, "Mb/s", 125000);
	q = &queries[4]; /* columns */
	q->format = SMI_COLUMNS;
	q->width = 4;
	field(q, "1", 1, SMI_M_NONE, NULL, 0);
	q->fields[0].index = true;
	field(q, "3", 3, SMI_M_CLOCK, "MHz", 1e6);
}

static const struct smi_query *cur;

static void on_value(void *arg, int dev, size_t fi, const char *text, size_t len)
{
	char why[256];
	double v;

	if (dev < 0 || dev >= SMI_MAX_DEVICES || fi >= cur->nfields)
		abort();
	if (cur->fields[fi].metric != SMI_M_NONE &&
	    smi_value(&cur->fields[fi], text, len, &v, why, sizeof(why)) == 0 &&
	    !isfinite(v))
		abort();
	(void)arg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy;
	char why[256];
	unsigned skipped;

	setup();
	if (size > (1u << 20))
		return 0;
	/* An exact-size heap copy, so ASan flags any read past the end. */
	copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
		int n;

		cur = &queries[i];
		n = smi_parse(cur, copy, size, -1, on_value, NULL, &skipped, why,
			      sizeof(why));
		if (n > 0 && (size_t)n > size) /* a device per line at most */
			abort();
		n = smi_parse(cur, copy, size, 3, on_value, NULL, &skipped, why,
			      sizeof(why));
		(void)n;
	}
	free(copy);
	return 0;
}
