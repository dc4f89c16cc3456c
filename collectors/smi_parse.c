/* smi collector: reading what vendor tools print. The value rule (absent
 * words, numbers, units checked against the field's dimension and converted
 * to base units) and the four output formats: csv (nvidia-smi style, by
 * column name or position), json (jansson: paths into the document), kv
 * (`key : value` lines in per-device blocks) and columns (whitespace
 * fields). Pure functions over a buffer: fuzzed by tests/fuzz/fuzz_smi_parse.c.
 */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smi.h"

static const struct smi_metric_info metric_info[SMI_M__COUNT] = {
    [SMI_M_NONE] = {"none", SMI_D_TEXT, NULL, false},
    [SMI_M_INFO] = {"info", SMI_D_TEXT, NULL, false},
    [SMI_M_UUID] = {"uuid", SMI_D_TEXT, NULL, false},
    [SMI_M_UTIL] = {"utilization", SMI_D_RATIO, NULL, false},
    [SMI_M_MEM_BW_UTIL] = {"memory_bandwidth_utilization", SMI_D_RATIO, NULL, false},
    [SMI_M_MEM_USED] = {"memory_used", SMI_D_BYTES, NULL, false},
    [SMI_M_MEM_TOTAL] = {"memory_total", SMI_D_BYTES, NULL, false},
    [SMI_M_MEM_USED_RATIO] = {"memory_used_ratio", SMI_D_RATIO, NULL, false},
    [SMI_M_POWER] = {"power", SMI_D_WATTS, NULL, false},
    [SMI_M_POWER_LIMIT] = {"power_limit", SMI_D_WATTS, NULL, false},
    [SMI_M_TEMP] = {"temperature", SMI_D_CELSIUS, "sensor", false},
    [SMI_M_CLOCK] = {"clock", SMI_D_HERTZ, "clock", false},
    [SMI_M_ENGINE_UTIL] = {"engine_utilization", SMI_D_RATIO, "engine", false},
    [SMI_M_ECC] = {"ecc_errors", SMI_D_COUNT, "type", false},
    [SMI_M_HEALTH] = {"health", SMI_D_STATE, NULL, false},
    [SMI_M_PORT_UP] = {"port_up", SMI_D_STATE, NULL, true},
    [SMI_M_PORT_SPEED] = {"port_link_speed", SMI_D_BITRATE, NULL, true},
    [SMI_M_PORT_TX_PKTS] = {"port_transmit_packets", SMI_D_COUNT, NULL, true},
    [SMI_M_PORT_RX_PKTS] = {"port_receive_packets", SMI_D_COUNT, NULL, true},
    [SMI_M_PORT_TX_BYTES] = {"port_transmit_bytes", SMI_D_BYTES, NULL, true},
    [SMI_M_PORT_RX_BYTES] = {"port_receive_bytes", SMI_D_BYTES, NULL, true},
    [SMI_M_PORT_ERRORS] = {"port_errors", SMI_D_COUNT, "type", true},
    [SMI_M_ROCE_PAUSE] = {"roce_pause_frames", SMI_D_COUNT, "direction", true},
    [SMI_M_ROCE_PFC] = {"roce_pfc_frames", SMI_D_COUNT, "direction", true},
    [SMI_M_ROCE_CNP] = {"roce_cnp_packets", SMI_D_COUNT, "direction", true},
    [SMI_M_ROCE_ECN] = {"roce_ecn_packets", SMI_D_COUNT, NULL, true},
    [SMI_M_ROCE_RETRY] = {"roce_retries", SMI_D_COUNT, NULL, true},
};

const struct smi_metric_info *smi_metric_info(enum smi_metric m)
{
	return (unsigned)m < SMI_M__COUNT ? &metric_info[m] : NULL;
}

/* ---- values ---- */

static void trim(const char **s, size_t *n)
{
	while (*n && isspace((unsigned char)**s)) {
		(*s)++;
		(*n)--;
	}
	while (*n && isspace((unsigned char)(*s)[*n - 1]))
		(*n)--;
}

static bool word_is(const char *s, size_t n, const char *w)
{
	return strlen(w) == n && !strncasecmp(s, w, n);
}

bool smi_absent(const char *s, size_t n)
{
	static const char *const words[] = {"N/A",
					    "[N/A]",
					    "NA",
					    "[Not Supported]",
					    "Not Supported",
					    "-",
					    "--",
					    "Unknown",
					    "[Unknown]",
					    "None",
					    "null",
					    "Unavailable",
					    "[Unavailable]",
					    "Not Available",
					    NULL};

	trim(&s, &n);
	if (!n)
		return true;
	for (size_t i = 0; words[i]; i++)
		if (word_is(s, n, words[i]))
			return true;
	return false;
}

struct unit_def {
	enum smi_dim dim;
	const char *name;
	double factor;
};

static const struct unit_def units[] = {
    {SMI_D_RATIO, "%", 0.01},
    {SMI_D_RATIO, "ratio", 1},
    {SMI_D_BYTES, "B", 1},
    {SMI_D_BYTES, "bytes", 1},
    {SMI_D_BYTES, "KiB", 1024},
    {SMI_D_BYTES, "KB", 1024},
    {SMI_D_BYTES, "kB", 1024},
    {SMI_D_BYTES, "K", 1024},
    {SMI_D_BYTES, "MiB", 1048576},
    {SMI_D_BYTES, "MB", 1048576},
    {SMI_D_BYTES, "M", 1048576},
    {SMI_D_BYTES, "GiB", 1073741824.0},
    {SMI_D_BYTES, "GB", 1073741824.0},
    {SMI_D_BYTES, "G", 1073741824.0},
    {SMI_D_BYTES, "TiB", 1099511627776.0},
    {SMI_D_BYTES, "TB", 1099511627776.0},
    {SMI_D_WATTS, "W", 1},
    {SMI_D_WATTS, "mW", 1e-3},
    {SMI_D_WATTS, "kW", 1e3},
    {SMI_D_CELSIUS, "C", 1},
    {SMI_D_CELSIUS,
     "\xc2\xb0"
     "C",
     1},
    {SMI_D_CELSIUS, "\xe2\x84\x83", 1},
    {SMI_D_CELSIUS, "degC", 1},
    {SMI_D_CELSIUS, "centi-C", 0.01},
    {SMI_D_HERTZ, "Hz", 1},
    {SMI_D_HERTZ, "kHz", 1e3},
    {SMI_D_HERTZ, "KHz", 1e3},
    {SMI_D_HERTZ, "MHz", 1e6},
    {SMI_D_HERTZ, "GHz", 1e9},
    {SMI_D_BITRATE, "b/s", 0.125},
    {SMI_D_BITRATE, "Kb/s", 125},
    {SMI_D_BITRATE, "Mb/s", 125000},
    {SMI_D_BITRATE, "Mbps", 125000},
    {SMI_D_BITRATE, "Mbit/s", 125000},
    {SMI_D_BITRATE, "Gb/s", 125000000},
    {SMI_D_BITRATE, "Gbps", 125000000},
    {SMI_D_BITRATE, "Gbit/s", 125000000},
    {SMI_D_BITRATE, "B/s", 1},
    {SMI_D_BITRATE, "MB/s", 1e6},
};

double smi_unit_factor(enum smi_dim dim, const char *u, size_t n)
{
	trim(&u, &n);
	if (!n)
		return dim == SMI_D_COUNT || dim == SMI_D_RATIO ? 1 : 0;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (units[i].dim == dim && strlen(units[i].name) == n &&
		    !memcmp(units[i].name, u, n))
			return units[i].factor;
	return 0;
}

static int state_word(const char *s, size_t n, double *out)
{
	static const char *const up[] = {"UP",	   "OK", "True",    "Yes", "Healthy",
					 "Normal", "1",	 "Link up", NULL};
	static const char *const down[] = {"DOWN",	"False",   "No",    "Unhealthy",
					   "Abnormal",	"Error",   "Fault", "0",
					   "Link down", "Warning", "Alarm", NULL};

	for (size_t i = 0; up[i]; i++)
		if (word_is(s, n, up[i])) {
			*out = 1;
			return 0;
		}
	for (size_t i = 0; down[i]; i++)
		if (word_is(s, n, down[i])) {
			*out = 0;
			return 0;
		}
	return -EINVAL;
}

int smi_value(const struct smi_field *f, const char *s, size_t n, double *out, char *why,
	      size_t whylen)
{
	const struct smi_metric_info *mi = smi_metric_info(f->metric);
	char buf[64], *end;
	const char *u;
	size_t un;
	double v, uf;

	trim(&s, &n);
	if (smi_absent(s, n))
		return -ENODATA;
	if (mi->dim == SMI_D_STATE) {
		if (state_word(s, n, out) == 0)
			return 0;
		snprintf(why, whylen, "'%.*s' is not a state word",
			 (int)(n > 32 ? 32 : n), s);
		return -EINVAL;
	}
	if (mi->dim == SMI_D_TEXT)
		return -EINVAL;
	/* strtod would take hex, inf and nan: a tool's number is decimal. */
	if (n >= sizeof(buf) ||
	    !(isdigit((unsigned char)s[0]) || s[0] == '-' || s[0] == '+' || s[0] == '.'))
		goto bad;
	memcpy(buf, s, n);
	buf[n] = '\0';
	errno = 0;
	v = strtod(buf, &end);
	if (end == buf || errno == ERANGE || !isfinite(v) ||
	    strspn(buf, "0123456789+-.eE") < (size_t)(end - buf))
		goto bad; /* strtod also reads hex, inf and nan */
	u = end;
	un = n - (size_t)(end - buf);
	trim(&u, &un);
	if (!un) {
		uf = f->ufactor;
	} else {
		uf = smi_unit_factor(mi->dim, u, un);
		if (uf == 0) {
			snprintf(why, whylen, "unit '%.*s' is not of a %s (profile: %s)",
				 (int)(un > 16 ? 16 : un), u, mi->name,
				 f->unit ? f->unit : "no unit");
			return -EINVAL;
		}
	}
	/* Vendors print -1 for "not supported"; only a temperature may be
	 * below zero. */
	if (v < 0 && mi->dim != SMI_D_CELSIUS)
		return -ENODATA;
	v *= uf * (f->scale ? f->scale : 1);
	/* A share of time is at most 1 (rounding aside): more would make
	 * busy seconds grow faster than the clock. */
	if (!isfinite(v) || (mi->dim == SMI_D_RATIO && v > 1.001)) {
		snprintf(why, whylen, "'%.*s' is out of range for a %s",
			 (int)(n > 32 ? 32 : n), s, mi->name);
		return -EINVAL;
	}
	*out = v;
	return 0;
bad:
	snprintf(why, whylen, "'%.*s' is not a number", (int)(n > 32 ? 32 : n), s);
	return -EINVAL;
}

/* ---- formats ---- */

struct line_iter {
	const char *p, *end;
};

static bool next_line(struct line_iter *it, const char **s, size_t *n)
{
	const char *nl;

	if (it->p >= it->end)
		return false;
	nl = memchr(it->p, '\n', (size_t)(it->end - it->p));
	*s = it->p;
	*n = (size_t)((nl ? nl : it->end) - it->p);
	it->p = nl ? nl + 1 : it->end;
	if (*n && (*s)[*n - 1] == '\r')
		(*n)--;
	return true;
}

/* A device index: a small decimal integer. -1 if not. */
static int parse_index(const char *s, size_t n)
{
	int v = 0;

	trim(&s, &n);
	if (!n || n > 4)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v < SMI_MAX_DEVICES ? v : -1;
}

static int index_field(const struct smi_query *q)
{
	for (size_t i = 0; i < q->nfields; i++)
		if (q->fields[i].index)
			return (int)i;
	return -1;
}

/* "A|B|C": does s[0..n) equal one of the alternatives (case-insensitive)? */
static bool key_match(const char *alts, const char *s, size_t n)
{
	trim(&s, &n);
	while (*alts) {
		size_t an = strcspn(alts, "|");

		if (an == n && !strncasecmp(alts, s, n))
			return true;
		alts += an + (alts[an] == '|');
	}
	return false;
}

#define SMI_MAX_CELLS 128

struct cells {
	const char *s[SMI_MAX_CELLS];
	size_t n[SMI_MAX_CELLS];
	size_t count;
};

static void split_csv(const char *s, size_t n, struct cells *c)
{
	size_t start = 0;

	c->count = 0;
	for (size_t i = 0; i <= n && c->count < SMI_MAX_CELLS; i++) {
		if (i == n || s[i] == ',') {
			const char *cs = s + start;
			size_t cn = i - start;

			trim(&cs, &cn);
			c->s[c->count] = cs;
			c->n[c->count++] = cn;
			start = i + 1;
		}
	}
}

static void split_ws(const char *s, size_t n, struct cells *c)
{
	size_t i = 0;

	c->count = 0;
	while (i < n && c->count < SMI_MAX_CELLS) {
		while (i < n && isspace((unsigned char)s[i]))
			i++;
		if (i >= n)
			break;
		c->s[c->count] = s + i;
		while (i < n && !isspace((unsigned char)s[i]))
			i++;
		c->n[c->count] = (size_t)(s + i - c->s[c->count]);
		c->count++;
	}
}

/* Column names of a csv header: "memory.used [MiB]" names memory.used. */
static void header_name(const char **s, size_t *n)
{
	const char *br = memchr(*s, '[', *n);

	if (br)
		*n = (size_t)(br - *s);
	trim(s, n);
}

static int parse_rows(const struct smi_query *q, const char *out, size_t len,
		      int single_dev, smi_value_fn *fn, void *arg, unsigned *skipped)
{
	struct line_iter it = {out, out + len};
	int pos[SMI_MAX_FIELDS];
	int ixf = index_field(q), order = 0, devs = 0;
	size_t need = 0;
	bool have_header = !(q->format == SMI_CSV && q->header);
	const char *s;
	size_t n;

	for (size_t i = 0; i < q->nfields; i++) {
		pos[i] = q->fields[i].column >= 0 ? q->fields[i].column : (int)i;
		if (q->format == SMI_CSV && q->header && q->fields[i].column < 0)
			pos[i] = -1;
		if (pos[i] >= 0 && (size_t)pos[i] + 1 > need)
			need = (size_t)pos[i] + 1;
	}
	while (next_line(&it, &s, &n)) {
		struct cells c;
		int dev;

		trim(&s, &n);
		if (!n || s[0] == '#')
			continue;
		if (q->format == SMI_CSV)
			split_csv(s, n, &c);
		else
			split_ws(s, n, &c);
		if (!have_header) {
			/* the first line names the columns */
			need = 0;
			for (size_t i = 0; i < q->nfields; i++) {
				if (q->fields[i].column >= 0) {
					pos[i] = q->fields[i].column;
				} else {
					pos[i] = -1;
					for (size_t k = 0; k < c.count; k++) {
						const char *hs = c.s[k];
						size_t hn = c.n[k];

						header_name(&hs, &hn);
						if (key_match(q->fields[i].key, hs, hn)) {
							pos[i] = (int)k;
							break;
						}
					}
				}
				if (pos[i] >= 0 && (size_t)pos[i] + 1 > need)
					need = (size_t)pos[i] + 1;
			}
			need = need > c.count ? need : c.count;
			have_header = true;
			continue;
		}
		/* A row of another width is not one of ours (an error message,
		 * a banner, a row cut short): its positions mean nothing. */
		if ((q->width && c.count != q->width) ||
		    (q->format == SMI_CSV && c.count != need) ||
		    (q->format == SMI_COLUMNS && c.count < need)) {
			if (skipped)
				(*skipped)++;
			continue;
		}
		if (single_dev >= 0)
			dev = single_dev;
		else if (ixf >= 0)
			dev = pos[ixf] >= 0 ? parse_index(c.s[pos[ixf]], c.n[pos[ixf]])
					    : -1;
		else
			dev = order < SMI_MAX_DEVICES ? order : -1;
		if (dev < 0) {
			if (skipped)
				(*skipped)++;
			continue;
		}
		order++;
		devs++;
		for (size_t i = 0; i < q->nfields; i++)
			if (pos[i] >= 0 && (size_t)pos[i] < c.count)
				fn(arg, dev, i, c.s[pos[i]], c.n[pos[i]]);
	}
	return devs;
}

/* kv: `key : value` lines. A line holding the query's `devices` marker
 * ("DEV ID", "NPU ID") starts a device's block, its index the first number
 * after the marker; a line without a value names the section its keys
 * belong to (field key "Section/Key"; a plain "Key" matches in any). */
static int parse_kv(const struct smi_query *q, const char *out, size_t len,
		    int single_dev, smi_value_fn *fn, void *arg, unsigned *skipped)
{
	struct line_iter it = {out, out + len};
	const char *s, *sect = NULL;
	size_t n, sectn = 0;
	int dev = q->devices ? -1 : (single_dev >= 0 ? single_dev : 0);
	int order = 0, devs = q->devices ? 0 : 1;

	while (next_line(&it, &s, &n)) {
		const char *colon, *k, *v;
		size_t kn, vn;

		trim(&s, &n);
		if (!n)
			continue;
		if (q->devices) {
			size_t mn = strlen(q->devices);
			const char *m = NULL, *c = memchr(s, ':', n);

			/* "DEV ID 0", "Card 0" (the marker anywhere in a line
			 * without a value; case matters: "the card" is prose),
			 * or "NPU ID : 0" (the marker as the key) */
			if (c) {
				const char *mk = s;
				size_t mkn = (size_t)(c - s);

				trim(&mk, &mkn);
				if (mkn == mn && !memcmp(mk, q->devices, mn))
					m = s;
			} else {
				for (size_t i = 0; mn && i + mn <= n; i++)
					if (!memcmp(s + i, q->devices, mn)) {
						m = s + i;
						break;
					}
			}
			if (m) {
				const char *d = m + mn;

				while (d < s + n && !isdigit((unsigned char)*d))
					d++;
				if (d < s + n) {
					const char *e = d;

					while (e < s + n && isdigit((unsigned char)*e))
						e++;
					dev = parse_index(d, (size_t)(e - d));
				} else {
					dev = order < SMI_MAX_DEVICES ? order : -1;
				}
				if (single_dev >= 0)
					dev = single_dev;
				order++;
				if (dev >= 0)
					devs++;
				sect = NULL;
				continue;
			}
		}
		colon = memchr(s, ':', n);
		k = s;
		kn = colon ? (size_t)(colon - s) : n;
		v = colon ? colon + 1 : s + n;
		vn = colon ? n - kn - 1 : 0;
		trim(&k, &kn);
		trim(&v, &vn);
		if (!vn) { /* a section header ("Physical Memory Usage") */
			sect = k;
			sectn = kn;
			continue;
		}
		if (dev < 0) {
			if (skipped)
				(*skipped)++;
			continue;
		}
		for (size_t i = 0; i < q->nfields; i++) {
			const char *fk = q->fields[i].key;
			const char *slash = strchr(fk, '/');

			if (slash) {
				char sec[128];
				size_t sn = (size_t)(slash - fk);

				if (sn >= sizeof(sec) || !sect)
					continue;
				memcpy(sec, fk, sn);
				sec[sn] = '\0';
				if (!key_match(sec, sect, sectn) ||
				    !key_match(slash + 1, k, kn))
					continue;
			} else if (!key_match(fk, k, kn)) {
				continue;
			}
			fn(arg, dev, i, v, vn);
		}
	}
	return devs;
}

/* json: the query's `devices` path ("GPU", "a/b") leads to a list of device
 * objects (or an object of them, {"card0": {...}}); field keys are paths
 * below a device ("FB Memory Usage/Used"). Strings are values as printed;
 * numbers and booleans are written out and read by the same rule. */
static const json_t *json_path(const json_t *j, const char *path)
{
	char seg[128];

	while (j && *path) {
		size_t n = strcspn(path, "/");

		if (n >= sizeof(seg))
			return NULL;
		memcpy(seg, path, n);
		seg[n] = '\0';
		j = json_is_object(j) ? json_object_get(j, seg) : NULL;
		path += n + (path[n] == '/');
	}
	return j;
}

static void json_value(const json_t *v, smi_value_fn *fn, void *arg, int dev,
		       size_t field)
{
	char buf[64];
	int n;

	if (json_is_string(v)) {
		fn(arg, dev, field, json_string_value(v), json_string_length(v));
		return;
	}
	if (json_is_integer(v))
		n = snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT,
			     json_integer_value(v));
	else if (json_is_real(v))
		n = snprintf(buf, sizeof(buf), "%.17g", json_real_value(v));
	else if (json_is_true(v))
		n = snprintf(buf, sizeof(buf), "true");
	else if (json_is_false(v))
		n = snprintf(buf, sizeof(buf), "false");
	else
		n = snprintf(buf, sizeof(buf), "N/A"); /* null: absent */
	fn(arg, dev, field, buf, (size_t)n);
}

/* A field path starting with '/' is from the document's root (a driver
 * version printed once for all devices). */
static int json_device(const struct smi_query *q, const json_t *root, const json_t *d,
		       int dev, smi_value_fn *fn, void *arg)
{
	int ixf = index_field(q);

	if (!json_is_object(d))
		return -1;
	if (ixf >= 0) {
		const json_t *ix = json_path(d, q->fields[ixf].key);
		char buf[32];

		if (json_is_integer(ix)) {
			json_int_t x = json_integer_value(ix);

			dev = x >= 0 && x < SMI_MAX_DEVICES ? (int)x : -1;
		} else if (json_is_string(ix)) {
			snprintf(buf, sizeof(buf), "%s", json_string_value(ix));
			dev = parse_index(buf, strlen(buf));
		} else {
			dev = -1;
		}
	}
	if (dev < 0)
		return -1;
	for (size_t i = 0; i < q->nfields; i++) {
		const char *k = q->fields[i].key;
		const json_t *v = k[0] == '/' ? json_path(root, k + 1) : json_path(d, k);

		if (v && !json_is_object(v) && !json_is_array(v))
			json_value(v, fn, arg, dev, i);
	}
	return dev;
}

static int parse_json(const struct smi_query *q, const char *out, size_t len,
		      int single_dev, smi_value_fn *fn, void *arg, unsigned *skipped,
		      char *why, size_t whylen)
{
	json_error_t err;
	json_t *root =
	    json_loadb(out, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &err);
	const json_t *list;
	int devs = 0;

	if (!root) {
		snprintf(why, whylen, "not JSON: line %d: %s", err.line, err.text);
		return -EINVAL;
	}
	list = q->devices ? json_path(root, q->devices) : root;
	if (single_dev >= 0 || !q->devices) {
		if (json_device(q, root, list, single_dev >= 0 ? single_dev : 0, fn,
				arg) >= 0)
			devs++;
	} else if (json_is_array(list)) {
		size_t i;
		const json_t *d;

		json_array_foreach(list, i, d)
		{
			if (i >= SMI_MAX_DEVICES)
				break;
			if (json_device(q, root, d, (int)i, fn, arg) >= 0)
				devs++;
			else if (skipped)
				(*skipped)++;
		}
	} else if (json_is_object(list)) {
		const char *k;
		const json_t *d;
		int order = 0;

		json_object_foreach((json_t *)list, k, d)
		{
			size_t kn = strlen(k), dn = 0;
			int dev;

			while (dn < kn && isdigit((unsigned char)k[kn - dn - 1]))
				dn++;
			dev = dn ? parse_index(k + kn - dn, dn) : order;
			order++;
			if (json_device(q, root, d, dev, fn, arg) >= 0)
				devs++;
			else if (skipped)
				(*skipped)++;
		}
	} else {
		snprintf(why, whylen, "no device list at '%s'", q->devices);
		json_decref(root);
		return -EINVAL;
	}
	json_decref(root);
	return devs;
}

int smi_parse(const struct smi_query *q, const char *out, size_t len, int single_dev,
	      smi_value_fn *fn, void *arg, unsigned *skipped, char *why, size_t whylen)
{
	switch (q->format) {
	case SMI_CSV:
	case SMI_COLUMNS:
		return parse_rows(q, out, len, single_dev, fn, arg, skipped);
	case SMI_KV:
		return parse_kv(q, out, len, single_dev, fn, arg, skipped);
	case SMI_JSON:
		return parse_json(q, out, len, single_dev, fn, arg, skipped, why, whylen);
	}
	snprintf(why, whylen, "unknown format");
	return -EINVAL;
}
