/* accelmon-audit: writing the report as a terminal table, CSV, JSON or one
 * self-contained HTML page (inline CSS and SVG: a utilization heat map and a
 * histogram of per-device utilization; no scripts, no fonts, no links out).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"

static double ratio(double a, double b)
{
	return b > 0 ? a / b : NAN;
}

static void fmt_time(int64_t ms, char *buf, size_t len)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;

	if (ms == INT64_MIN || ms == INT64_MAX || !gmtime_r(&s, &tm)) {
		snprintf(buf, len, "-");
		return;
	}
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- the figures of one row, shared by every format ---- */

struct field {
	const char *key;  /* JSON / CSV name */
	const char *head; /* table heading */
	int w, prec;	  /* table column width and decimals */
	double scale;	  /* table scale (percent, GiB) */
};

enum {
	F_DEVICES,
	F_OBS,
	F_BUSY,
	F_UTIL,
	F_SMH,
	F_SMR,
	F_TH,
	F_TR,
	F_IDLE,
	F_KWH,
	F_IKWH,
	F_PEAK,
	F_EQ,
	F_RESETS,
	F_GAPS,
	F_GAPH,
	F_JUMPS,
	F_N
};

static const struct field fields[F_N] = {
    [F_DEVICES] = {"devices", "devs", 5, 0, 1},
    [F_OBS] = {"observed_hours", "obs h", 9, 1, 1},
    [F_BUSY] = {"busy_hours", "busy h", 9, 1, 1},
    [F_UTIL] = {"utilization", "util%", 6, 1, 100},
    [F_SMH] = {"sm_active_hours", NULL, 0, 0, 1},
    [F_SMR] = {"sm_active_ratio", "sm%", 6, 1, 100},
    [F_TH] = {"tensor_active_hours", NULL, 0, 0, 1},
    [F_TR] = {"tensor_active_ratio", "tens%", 6, 1, 100},
    [F_IDLE] = {"idle_hours", "idle h", 9, 1, 1},
    [F_KWH] = {"energy_kwh", "kWh", 9, 2, 1},
    [F_IKWH] = {"idle_energy_kwh", "idle kWh", 9, 2, 1},
    [F_PEAK] = {"peak_memory_bytes", "peak GiB", 8, 1, 1.0 / 1073741824},
    [F_EQ] = {"equivalent_busy_accelerators", "eq.busy", 8, 2, 1},
    [F_RESETS] = {"counter_resets", "resets", 6, 0, 1},
    [F_GAPS] = {"gaps", "gaps", 5, 0, 1},
    [F_GAPH] = {"gap_hours", "gap h", 7, 1, 1},
    [F_JUMPS] = {"clock_jumps", "jumps", 5, 0, 1},
};

/* Values of t; NAN where the hardware gave nothing (JSON null, "-"). */
static void values(const struct audit *a, const struct audit_totals *t, double v[F_N])
{
	double period = audit_period_s(a);

	v[F_DEVICES] = t->devices;
	v[F_OBS] = t->observed_s / 3600;
	v[F_BUSY] = t->busy_s / 3600;
	v[F_UTIL] = ratio(t->busy_s, t->observed_s);
	v[F_SMH] = t->has_sm ? t->sm_s / 3600 : NAN;
	v[F_SMR] = t->has_sm ? ratio(t->sm_s, t->observed_s) : NAN;
	v[F_TH] = t->has_tensor ? t->tensor_s / 3600 : NAN;
	v[F_TR] = t->has_tensor ? ratio(t->tensor_s, t->observed_s) : NAN;
	v[F_IDLE] = t->idle_s / 3600;
	v[F_KWH] = t->has_energy ? t->energy_j / 3.6e6 : NAN;
	v[F_IKWH] = t->has_energy ? t->idle_energy_j / 3.6e6 : NAN;
	v[F_PEAK] = t->has_mem ? t->peak_mem : NAN;
	/* Busy hours over the wall-clock hours of the report: how many
	 * accelerators running flat out would have done the same work. */
	v[F_EQ] = ratio(t->busy_s, period);
	v[F_RESETS] = (double)t->resets;
	v[F_GAPS] = (double)t->gaps;
	v[F_GAPH] = t->gap_s / 3600;
	v[F_JUMPS] = (double)t->clock_jumps;
}

static double group_util(const struct audit_group *g)
{
	return ratio(g->t.busy_s, g->t.observed_s);
}

/* Nodes by utilization, least used first (nodes never observed last). */
static int least_cmp(const void *x, const void *y)
{
	const struct audit_group *a = *(struct audit_group *const *)x;
	const struct audit_group *b = *(struct audit_group *const *)y;
	double ua = group_util(a), ub = group_util(b);
	if (isnan(ua) != isnan(ub))
		return isnan(ua) ? 1 : -1;
	if (ua != ub && !isnan(ua))
		return ua < ub ? -1 : 1;
	return strverscmp(a->name, b->name);
}

static const struct audit_group **least_used(const struct audit *a, size_t *n)
{
	const struct audit_group **v = malloc((a->nnodes ? a->nnodes : 1) * sizeof(*v));
	if (!v) {
		*n = 0;
		return NULL;
	}
	for (size_t i = 0; i < a->nnodes; i++)
		v[i] = &a->nodes[i];
	qsort(v, a->nnodes, sizeof(*v), least_cmp);
	*n = a->nnodes;
	return v;
}

/* ---- JSON ---- */

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

static void json_num(FILE *f, double v)
{
	if (isnan(v) || isinf(v))
		fputs("null", f);
	else
		fprintf(f, "%.10g", v);
}

static void json_totals(FILE *f, const struct audit *a, const struct audit_totals *t)
{
	double v[F_N];

	values(a, t, v);
	for (int i = 0; i < F_N; i++) {
		fprintf(f, "%s\"%s\": ", i ? ", " : "", fields[i].key);
		json_num(f, v[i]);
	}
}

static void json_groups(FILE *f, const struct audit *a, const char *key,
			const struct audit_group *g, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		fprintf(f, "%s\n    {\"%s\": ", i ? "," : "", key);
		json_str(f, g[i].name);
		fputs(", ", f);
		json_totals(f, a, &g[i].t);
		fputc('}', f);
	}
}

static void json_devices(FILE *f, const struct audit *a, struct audit_device *const *v,
			 size_t n);

static int write_json(const struct audit *a, FILE *f)
{
	char from[32], to[32];
	const struct audit_input *in = &a->in;
	size_t nl;
	const struct audit_group **least = least_used(a, &nl);

	fmt_time(a->first_ms, from, sizeof(from));
	fmt_time(a->last_ms, to, sizeof(to));
	fprintf(f, "{\n  \"report\": \"accelmon-audit\", \"version\": 1,\n");
	fprintf(f, "  \"period\": {\"from\": \"%s\", \"to\": \"%s\", \"hours\": ", from,
		to);
	json_num(f, audit_period_s(a) / 3600);
	fprintf(f, "},\n  \"idle_below\": ");
	json_num(f, a->o.idle_below);
	fprintf(f,
		",\n  \"input\": {\"files\": %llu, \"files_failed\": %llu, "
		"\"frames\": %llu, \"batches\": %llu, \"samples\": %llu, "
		"\"device_samples\": %llu, "
		"\"corrupt_regions\": %llu, \"corrupt_bytes\": %llu, "
		"\"torn_tails\": %llu, \"bad_records\": %llu, "
		"\"skipped_batches\": %llu, \"duplicate_files\": %llu, "
		"\"overlap_batches\": %llu, \"complete\": %s},\n",
		(unsigned long long)in->files, (unsigned long long)in->files_failed,
		(unsigned long long)in->frames, (unsigned long long)in->batches,
		(unsigned long long)in->samples, (unsigned long long)in->device_samples,
		(unsigned long long)in->corrupt_regions,
		(unsigned long long)in->corrupt_bytes, (unsigned long long)in->torn_tails,
		(unsigned long long)in->bad_records,
		(unsigned long long)in->skipped_batches,
		(unsigned long long)in->duplicate_files,
		(unsigned long long)in->overlap_batches, a->skipped ? "false" : "true");
	fputs("  \"total\": {", f);
	json_totals(f, a, &a->total.t);
	fputs("},\n  \"models\": [", f);
	json_groups(f, a, "model", a->models, a->nmodels);
	fputs("\n  ],\n  \"least_used_nodes\": [", f);
	for (size_t i = 0; least && i < nl && i < a->o.top; i++) {
		fprintf(f, "%s\n    {\"node\": ", i ? "," : "");
		json_str(f, least[i]->name);
		fputs(", \"utilization\": ", f);
		json_num(f, group_util(least[i]));
		fputs(", \"busy_hours\": ", f);
		json_num(f, least[i]->t.busy_s / 3600);
		fputc('}', f);
	}
	fputs("\n  ],\n  \"nodes\": [", f);
	json_groups(f, a, "node", a->nodes, a->nnodes);
	fputs("\n  ],\n  \"devices\": [", f);
	json_devices(f, a, a->dev, a->ndev);
	if (a->njobs) {
		/* only where the records hold jobs: older reports stay as
		 * they were */
		fputs("\n  ],\n  \"jobs\": [", f);
		json_groups(f, a, "job", a->jobs, a->njobs);
		fputs("\n  ],\n  \"users\": [", f);
		json_groups(f, a, "user", a->users, a->nusers);
		fputs("\n  ],\n  \"tenants\": [", f);
		json_groups(f, a, "tenant", a->tenants, a->ntenants);
		fputs("\n  ],\n  \"job_devices\": [", f);
		json_devices(f, a, a->jdev, a->njdev);
	}
	fputs("\n  ]\n}\n", f);
	free(least);
	return ferror(f) ? -1 : 0;
}

/* Device records (or a job's on each device: job, kind, user too). */
static void json_devices(FILE *f, const struct audit *a, struct audit_device *const *v,
			 size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct audit_device *d = v[i];
		fprintf(f, "%s\n    {\"node\": ", i ? "," : "");
		json_str(f, d->node);
		fputs(", \"device\": ", f);
		if (d->job) {
			/* the device's own name: the record's key less the job */
			const char *e =
			    d->device + strlen(d->device) - strlen(d->jobkey) - 1;
			fprintf(f, "\"%.*s\"", (int)(e - d->device), d->device);
			fputs(", \"job\": ", f);
			json_str(f, d->job);
			fputs(", \"kind\": ", f);
			json_str(f, d->kind);
			fputs(", \"user\": ", f);
			json_str(f, d->user ? d->user : "unknown");
		} else {
			json_str(f, d->device);
		}
		fputs(", \"uuid\": ", f);
		json_str(f, d->uuid);
		if (!d->job) {
			fputs(", \"model\": ", f);
			json_str(f, d->model ? d->model : "unknown");
		}
		fputs(", ", f);
		json_totals(f, a, &d->t);
		fputc('}', f);
	}
}

/* ---- CSV: one table, a `level` column says what a row is ---- */

static void csv_str(FILE *f, const char *s)
{
	s = s ? s : "";
	if (!strpbrk(s, ",\"\n\r")) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static void csv_row(FILE *f, const struct audit *a, const char *level, const char *node,
		    const char *dev, const char *uuid, const char *model,
		    const struct audit_totals *t)
{
	double v[F_N];

	fputs(level, f);
	const char *cols[] = {node, dev, uuid, model};
	for (int i = 0; i < 4; i++) {
		fputc(',', f);
		csv_str(f, cols[i]);
	}
	values(a, t, v);
	for (int i = 0; i < F_N; i++) {
		if (isnan(v[i]))
			fputc(',', f);
		else
			fprintf(f, ",%.10g", v[i]);
	}
	fputc('\n', f);
}

static int write_csv(const struct audit *a, FILE *f)
{
	fputs("level,node,device,uuid,model", f);
	for (int i = 0; i < F_N; i++)
		fprintf(f, ",%s", fields[i].key);
	fputc('\n', f);
	for (size_t i = 0; i < a->ndev; i++) {
		const struct audit_device *d = a->dev[i];
		csv_row(f, a, "device", d->node, d->device, d->uuid,
			d->model ? d->model : "unknown", &d->t);
	}
	for (size_t i = 0; i < a->nnodes; i++)
		csv_row(f, a, "node", a->nodes[i].name, "", "", "", &a->nodes[i].t);
	for (size_t i = 0; i < a->nmodels; i++)
		csv_row(f, a, "model", "", "", "", a->models[i].name, &a->models[i].t);
	csv_row(f, a, "total", "", "", "", "", &a->total.t);
	/* jobs: the device column holds "<kind>/<job>", the uid or the tenant */
	for (size_t i = 0; i < a->njobs; i++)
		csv_row(f, a, "job", "", a->jobs[i].name, "", "", &a->jobs[i].t);
	for (size_t i = 0; i < a->nusers; i++)
		csv_row(f, a, "user", "", a->users[i].name, "", "", &a->users[i].t);
	for (size_t i = 0; i < a->ntenants; i++)
		csv_row(f, a, "tenant", "", a->tenants[i].name, "", "", &a->tenants[i].t);
	return ferror(f) ? -1 : 0;
}

/* ---- terminal table ---- */

static void table_head(FILE *f, const char *what, int width)
{
	fprintf(f, "%-*s", width, what);
	for (int i = 0; i < F_N; i++)
		if (fields[i].head) {
			fprintf(f, " %*s", fields[i].w, fields[i].head);
		}
	fputc('\n', f);
}

static void table_row(FILE *f, const struct audit *a, const char *name, int width,
		      const struct audit_totals *t)
{
	double v[F_N];

	values(a, t, v);
	fprintf(f, "%-*.*s", width, width, name);
	for (int i = 0; i < F_N; i++) {
		if (!fields[i].head)
			continue;
		fputc(' ', f);
		if (isnan(v[i]))
			fprintf(f, "%*s", fields[i].w, "-");
		else
			fprintf(f, "%*.*f", fields[i].w, fields[i].prec,
				v[i] * fields[i].scale);
	}
	fputc('\n', f);
}

static int write_table(const struct audit *a, FILE *f)
{
	char from[32], to[32], name[256];
	size_t nl;
	const struct audit_group **least = least_used(a, &nl);
	const int w = 28;

	fmt_time(a->first_ms, from, sizeof(from));
	fmt_time(a->last_ms, to, sizeof(to));
	fprintf(f, "accelmon-audit: %s .. %s (%.1f h), idle below %.1f%%\n", from, to,
		audit_period_s(a) / 3600, a->o.idle_below * 100);
	fprintf(
	    f,
	    "input: %llu files (%llu unreadable, %llu duplicate copies), %llu batches "
	    "(%llu overlapping); %llu corrupt regions, %llu torn tails, "
	    "%llu batches skipped%s\n\n",
	    (unsigned long long)a->in.files, (unsigned long long)a->in.files_failed,
	    (unsigned long long)a->in.duplicate_files, (unsigned long long)a->in.batches,
	    (unsigned long long)a->in.overlap_batches,
	    (unsigned long long)a->in.corrupt_regions,
	    (unsigned long long)a->in.torn_tails,
	    (unsigned long long)a->in.skipped_batches, a->skipped ? " (incomplete)" : "");
	table_head(f, "TOTAL", w);
	table_row(f, a, "all", w, &a->total.t);
	fputc('\n', f);
	table_head(f, "MODEL", w);
	for (size_t i = 0; i < a->nmodels; i++)
		table_row(f, a, a->models[i].name, w, &a->models[i].t);
	fputc('\n', f);
	snprintf(name, sizeof(name), "LEAST-USED NODES (%u)", a->o.top);
	table_head(f, name, w);
	for (size_t i = 0; least && i < nl && i < a->o.top; i++)
		table_row(f, a, least[i]->name, w, &least[i]->t);
	fputc('\n', f);
	table_head(f, "NODE", w);
	for (size_t i = 0; i < a->nnodes; i++)
		table_row(f, a, a->nodes[i].name, w, &a->nodes[i].t);
	fputc('\n', f);
	table_head(f, "DEVICE", w);
	for (size_t i = 0; i < a->ndev; i++) {
		snprintf(name, sizeof(name), "%s/%s", a->dev[i]->node, a->dev[i]->device);
		table_row(f, a, name, w, &a->dev[i]->t);
	}
	if (a->njobs) {
		/* for jobs: obs h is the time held, idle h held but idle */
		fputc('\n', f);
		table_head(f, "JOB (obs h = held)", w);
		for (size_t i = 0; i < a->njobs; i++)
			table_row(f, a, a->jobs[i].name, w, &a->jobs[i].t);
		fputc('\n', f);
		table_head(f, "USER (uid)", w);
		for (size_t i = 0; i < a->nusers; i++)
			table_row(f, a, a->users[i].name, w, &a->users[i].t);
		fputc('\n', f);
		table_head(f, "TENANT (namespace)", w);
		for (size_t i = 0; i < a->ntenants; i++)
			table_row(f, a, a->tenants[i].name, w, &a->tenants[i].t);
	}
	free(least);
	return ferror(f) ? -1 : 0;
}

/* ---- HTML ---- */

static void html_str(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '&':
			fputs("&amp;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		default:
			fputc(*s, f);
		}
	}
}

/* Utilization 0..1 -> a light-to-dark blue; no data is drawn grey. */
static void heat_colour(char *buf, size_t len, double u)
{
	if (isnan(u)) {
		snprintf(buf, len, "#e8e8e8");
		return;
	}
	u = u < 0 ? 0 : u > 1 ? 1 : u;
	snprintf(buf, len, "hsl(215,70%%,%d%%)", (int)lround(95 - 65 * u));
}

struct heat_row {
	const char *name;
	const float *busy, *obs;
};

static void html_heat(FILE *f, const struct audit *a)
{
	const int maxrows = 200, cw = 8, ch = 12, left = 190, top = 24;
	struct heat_row *rows;
	size_t nrows = 0, ncols = 0;
	char col[32], t0[32], t1[32];
	bool by_node = a->ndev > (size_t)maxrows;
	size_t nl = 0;
	const struct audit_group **least = by_node ? least_used(a, &nl) : NULL;
	char(*names)[160] = NULL;

	rows = calloc(maxrows, sizeof(*rows));
	names = calloc(maxrows, sizeof(*names));
	if (!rows || !names)
		goto out;
	if (!by_node) {
		for (size_t i = 0; i < a->ndev && nrows < (size_t)maxrows; i++) {
			snprintf(names[nrows], sizeof(names[0]), "%s/%s", a->dev[i]->node,
				 a->dev[i]->device);
			rows[nrows] = (struct heat_row){
			    names[nrows], a->dev[i]->heat_busy, a->dev[i]->heat_obs};
			nrows++;
		}
	} else {
		for (size_t i = 0; least && i < nl && nrows < (size_t)maxrows; i++)
			rows[nrows++] = (struct heat_row){
			    least[i]->name, least[i]->heat_busy, least[i]->heat_obs};
	}
	for (size_t r = 0; r < nrows; r++)
		for (size_t c = 0; c < AUDIT_HEAT_BUCKETS; c++)
			if (rows[r].obs[c] > 0 && c + 1 > ncols)
				ncols = c + 1;
	fprintf(f, "<h2>Utilization over time</h2>\n<p>%s",
		by_node ? "One row per node (the least used first"
			: "One row per device");
	if (by_node)
		fprintf(f, ", %zu of %zu nodes)", nrows, a->nnodes);
	fprintf(f, "; each cell is %.3g h; grey: no data.</p>\n",
		a->heat_w_ms / 3600000.0);
	fprintf(f,
		"<svg width=\"%zu\" "
		"height=\"%zu\" role=\"img\" aria-label=\"utilization heat map\">\n",
		left + ncols * cw + 20, top + nrows * ch + 40);
	for (size_t r = 0; r < nrows; r++) {
		fprintf(f, "<text x=\"%d\" y=\"%zu\" class=\"l\">", left - 6,
			top + r * ch + ch - 2);
		html_str(f, rows[r].name);
		fputs("</text>\n", f);
		for (size_t c = 0; c < ncols; c++) {
			double u =
			    rows[r].obs[c] > 0 ? rows[r].busy[c] / rows[r].obs[c] : NAN;
			heat_colour(col, sizeof(col), u);
			fprintf(
			    f,
			    "<rect x=\"%zu\" y=\"%zu\" width=\"%d\" "
			    "height=\"%d\" fill=\"%s\"><title>%.1f%%</title></rect>\n",
			    left + c * cw, top + r * ch, cw - 1, ch - 1, col,
			    isnan(u) ? 0.0 : u * 100);
		}
	}
	fmt_time(a->heat_origin_ms, t0, sizeof(t0));
	fmt_time(a->heat_origin_ms == INT64_MIN
		     ? INT64_MIN
		     : a->heat_origin_ms + (int64_t)ncols * a->heat_w_ms,
		 t1, sizeof(t1));
	fprintf(f,
		"<text x=\"%d\" y=\"%zu\" class=\"a\">%s</text>"
		"<text x=\"%zu\" y=\"%zu\" class=\"a\" text-anchor=\"end\">%s</text>\n",
		left, top + nrows * ch + 16, t0, left + ncols * cw, top + nrows * ch + 16,
		t1);
	/* legend: the colour scale */
	for (int i = 0; i <= 4; i++) {
		heat_colour(col, sizeof(col), i / 4.0);
		fprintf(f,
			"<rect x=\"%d\" y=\"%zu\" width=\"10\" height=\"10\" "
			"fill=\"%s\"/><text x=\"%d\" y=\"%zu\" class=\"a\">%d%%</text>\n",
			left + i * 52, top + nrows * ch + 22, col, left + i * 52 + 13,
			top + nrows * ch + 31, i * 25);
	}
	fputs("</svg>\n", f);
out:
	free(rows);
	free(names);
	free(least);
}

static void html_hist(FILE *f, const struct audit *a)
{
	unsigned bins[10] = {0}, max = 1;
	const int bw = 48, hh = 160, left = 40, top = 14;

	for (size_t i = 0; i < a->ndev; i++) {
		double u = ratio(a->dev[i]->t.busy_s, a->dev[i]->t.observed_s);
		if (isnan(u))
			continue;
		int b = (int)(u * 10);
		b = b < 0 ? 0 : b > 9 ? 9 : b;
		if (++bins[b] > max)
			max = bins[b];
	}
	fputs("<h2>Devices by mean utilization</h2>\n", f);
	fprintf(f,
		"<svg width=\"%d\" "
		"height=\"%d\" role=\"img\" aria-label=\"utilization histogram\">\n",
		left + 10 * bw + 10, top + hh + 40);
	for (int b = 0; b < 10; b++) {
		int h = (int)lround((double)bins[b] / max * hh);
		fprintf(
		    f,
		    "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
		    "fill=\"hsl(215,70%%,45%%)\"><title>%u devices</title></rect>"
		    "<text x=\"%d\" y=\"%d\" class=\"a\" text-anchor=\"middle\">%u</text>"
		    "<text x=\"%d\" y=\"%d\" class=\"a\" "
		    "text-anchor=\"middle\">%d-%d%%</text>\n",
		    left + b * bw + 2, top + hh - h, bw - 4, h, bins[b],
		    left + b * bw + bw / 2, top + hh - h - 3, bins[b],
		    left + b * bw + bw / 2, top + hh + 16, b * 10, b * 10 + 10);
	}
	fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#444\"/>\n",
		left, top + hh, left + 10 * bw, top + hh);
	fputs("</svg>\n", f);
}

static void html_table(FILE *f, const struct audit *a, const char *what,
		       const struct audit_group *const *g, size_t n)
{
	double v[F_N];

	fprintf(f, "<table>\n<tr><th>%s</th>", what);
	for (int i = 0; i < F_N; i++)
		if (fields[i].head)
			fprintf(f, "<th>%s</th>", fields[i].head);
	fputs("</tr>\n", f);
	for (size_t r = 0; r < n; r++) {
		fputs("<tr><td>", f);
		html_str(f, g[r]->name);
		fputs("</td>", f);
		values(a, &g[r]->t, v);
		for (int i = 0; i < F_N; i++) {
			if (!fields[i].head)
				continue;
			fputs("<td>", f);
			if (isnan(v[i]))
				fputs("-", f);
			else
				fprintf(f, "%*.*f", fields[i].w, fields[i].prec,
					v[i] * fields[i].scale);
			fputs("</td>", f);
		}
		fputs("</tr>\n", f);
	}
	fputs("</table>\n", f);
}

/* A titled table of groups, nothing when there are none. */
static void html_groups(FILE *f, const struct audit *a, const char *title,
			const char *what, const struct audit_group *g, size_t n)
{
	const struct audit_group **v;

	if (!n || !(v = malloc(n * sizeof(*v))))
		return;
	for (size_t i = 0; i < n; i++)
		v[i] = &g[i];
	fprintf(f, "<h2>%s</h2>\n", title);
	html_table(f, a, what, v, n);
	free(v);
}

static int write_html(const struct audit *a, FILE *f)
{
	char from[32], to[32];
	size_t nl;
	const struct audit_group **least = least_used(a, &nl);
	const struct audit_group *tot = &a->total;
	const struct audit_group **models =
	    malloc((a->nmodels ? a->nmodels : 1) * sizeof(*models));

	fmt_time(a->first_ms, from, sizeof(from));
	fmt_time(a->last_ms, to, sizeof(to));
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	      "<title>accelmon audit</title>\n<style>\n"
	      "body{font-family:sans-serif;margin:1.5em;color:#222}\n"
	      "table{border-collapse:collapse;margin:.5em 0 1.5em}\n"
	      "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}\n"
	      "td:first-child,th:first-child{text-align:left}\n"
	      "th{background:#f0f0f0}\n"
	      ".l{font-size:10px;text-anchor:end}.a{font-size:11px}\n"
	      ".warn{color:#a40}\n</style></head><body>\n",
	      f);
	fprintf(f,
		"<h1>Accelerator audit</h1>\n<p>%s to %s (%.1f hours); idle "
		"means busy below %.1f%% of an interval.</p>\n",
		from, to, audit_period_s(a) / 3600, a->o.idle_below * 100);
	fprintf(f,
		"<p%s>Input: %llu files (%llu unreadable, %llu duplicate copies), %llu "
		"batches (%llu overlapping); %llu corrupt regions, %llu torn tails, "
		"%llu batches skipped.</p>\n",
		a->skipped ? " class=\"warn\"" : "", (unsigned long long)a->in.files,
		(unsigned long long)a->in.files_failed,
		(unsigned long long)a->in.duplicate_files, (unsigned long long)a->in.batches,
		(unsigned long long)a->in.overlap_batches,
		(unsigned long long)a->in.corrupt_regions,
		(unsigned long long)a->in.torn_tails,
		(unsigned long long)a->in.skipped_batches);
	html_table(f, a, "Total", &tot, 1);
	if (models) {
		for (size_t i = 0; i < a->nmodels; i++)
			models[i] = &a->models[i];
		html_table(f, a, "Model", models, a->nmodels);
	}
	html_heat(f, a);
	html_hist(f, a);
	if (least) {
		fprintf(f, "<h2>Least-used nodes</h2>\n");
		html_table(f, a, "Node", least, nl < a->o.top ? nl : a->o.top);
	}
	html_groups(f, a, "Jobs (observed = held, idle = held but idle)", "Job", a->jobs,
		    a->njobs);
	html_groups(f, a, "Users", "User (uid)", a->users, a->nusers);
	html_groups(f, a, "Tenants", "Tenant (namespace, else user:uid)", a->tenants,
		    a->ntenants);
	fputs("</body></html>\n", f);
	free(least);
	free(models);
	return ferror(f) ? -1 : 0;
}

int audit_write(const struct audit *a, enum audit_format fmt, FILE *out)
{
	switch (fmt) {
	case AUDIT_CSV:
		return write_csv(a, out);
	case AUDIT_JSON:
		return write_json(a, out);
	case AUDIT_HTML:
		return write_html(a, out);
	case AUDIT_TABLE:
	default:
		return write_table(a, out);
	}
}
