/* accelmon-audit: the capacity planner's report from record files. Reads any
 * number of files and directories of them (many nodes, many days), streaming,
 * and prints what the accelerators did: observed, busy and idle hours,
 * energy, peak memory, per device, node, model and in total.
 * Exit status: 0 everything was read, 1 something was skipped (an unreadable
 * file, damaged bytes, a torn tail), 2 usage error.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "audit.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "dev"
#endif

static void usage(FILE *f)
{
	fputs("usage: accelmon-audit [--format table|csv|json|html] [--from TIME]\n"
	      "                      [--to TIME] [--idle-below RATIO] [--top N]\n"
	      "                      [--output FILE] RECORD_FILE_OR_DIR...\n"
	      "  TIME: 2026-01-31, 2026-01-31T12:00[:00][Z] (UTC) or @UNIX_SECONDS\n"
	      "  directories are searched for *.amrec files\n"
	      "exit status: 0 all input read, 1 something skipped (see warnings), "
	      "2 usage\n",
	      f);
}

/* UTC time -> Unix ms; -EINVAL when it does not parse. */
static int parse_time(const char *s, int64_t *ms)
{
	static const char *const fmts[] = {
	    "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%MZ",
	    "%Y-%m-%dT%H:%M",	  "%Y-%m-%d %H:%M:%S", "%Y-%m-%d",
	};
	char *end;

	if (s[0] == '@') {
		errno = 0;
		double v = strtod(s + 1, &end);
		if (errno || end == s + 1 || *end)
			return -EINVAL;
		*ms = (int64_t)(v * 1000);
		return 0;
	}
	for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
		struct tm tm = {0};
		end = strptime(s, fmts[i], &tm);
		if (end && *end == '\0') {
			*ms = (int64_t)timegm(&tm) * 1000;
			return 0;
		}
	}
	return -EINVAL;
}

struct paths {
	char **v;
	size_t n, cap;
};

static int paths_add(struct paths *p, const char *path)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 64;
		char **v = realloc(p->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		p->v = v;
		p->cap = cap;
	}
	/* Canonical names, so that a file named twice (itself and through
	 * its directory) can be read once. */
	char *canon = realpath(path, NULL);
	p->v[p->n] = canon ? canon : strdup(path);
	if (!p->v[p->n])
		return -ENOMEM;
	p->n++;
	return 0;
}

static int has_suffix(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);
	return n >= m && strcmp(s + n - m, suf) == 0;
}

/* Collect *.amrec under dir (recursively); 0 or a negative errno. */
static int walk(struct paths *p, const char *dir, int depth)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int rc = 0;

	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		char path[PATH_MAX];
		struct stat st;
		if (e->d_name[0] == '.')
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >=
		    (int)sizeof(path))
			continue;
		if (stat(path, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode) && depth < 16)
			rc = walk(p, path, depth + 1);
		else if (S_ISREG(st.st_mode) && has_suffix(e->d_name, ".amrec"))
			rc = paths_add(p, path);
		if (rc < 0)
			break;
	}
	closedir(d);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"format", required_argument, NULL, 'f'},
	    {"from", required_argument, NULL, 'F'},
	    {"to", required_argument, NULL, 'T'},
	    {"idle-below", required_argument, NULL, 'i'},
	    {"top", required_argument, NULL, 'n'},
	    {"output", required_argument, NULL, 'o'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	struct audit_opts o = {
	    .from_ms = INT64_MIN,
	    .to_ms = INT64_MAX,
	    .idle_below = 0.05,
	    .top = 10,
	    .gap_intervals = 3,
	};
	enum audit_format fmt = AUDIT_TABLE;
	const char *output = NULL;
	struct paths p = {0};
	struct audit a;
	int c, status = 0;
	char *end;

	while ((c = getopt_long(argc, argv, "f:o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			if (strcmp(optarg, "table") == 0)
				fmt = AUDIT_TABLE;
			else if (strcmp(optarg, "csv") == 0)
				fmt = AUDIT_CSV;
			else if (strcmp(optarg, "json") == 0)
				fmt = AUDIT_JSON;
			else if (strcmp(optarg, "html") == 0)
				fmt = AUDIT_HTML;
			else {
				fprintf(stderr,
					"accelmon-audit: --format: unknown format '%s' "
					"(table, csv, json, html)\n",
					optarg);
				return 2;
			}
			break;
		case 'F':
		case 'T':
			if (parse_time(optarg, c == 'F' ? &o.from_ms : &o.to_ms) < 0) {
				fprintf(stderr,
					"accelmon-audit: --%s: cannot parse time '%s'\n",
					c == 'F' ? "from" : "to", optarg);
				return 2;
			}
			break;
		case 'i':
			errno = 0;
			o.idle_below = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(o.idle_below >= 0) ||
			    o.idle_below > 1) {
				fprintf(stderr,
					"accelmon-audit: --idle-below: want a ratio "
					"0..1, got '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'n': {
			errno = 0;
			long v = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || v < 0 || v > 1000000) {
				fprintf(stderr,
					"accelmon-audit: --top: want a count, got '%s'\n",
					optarg);
				return 2;
			}
			o.top = (unsigned)v;
			break;
		}
		case 'o':
			output = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("accelmon-audit %s\n", PACKAGE_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "accelmon-audit: no record files given\n");
		usage(stderr);
		return 2;
	}
	if (o.from_ms != INT64_MIN && o.to_ms != INT64_MAX && o.to_ms <= o.from_ms) {
		fprintf(stderr, "accelmon-audit: --to must be later than --from\n");
		return 2;
	}
	audit_init(&a, &o);
	for (int i = optind; i < argc; i++) {
		struct stat st;
		int rc;
		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "accelmon-audit: %s: %s\n", argv[i],
				strerror(errno));
			a.skipped = true;
			a.in.files_failed++;
			continue;
		}
		rc = S_ISDIR(st.st_mode) ? walk(&p, argv[i], 0) : paths_add(&p, argv[i]);
		if (rc < 0) {
			fprintf(stderr, "accelmon-audit: %s: %s\n", argv[i],
				strerror(-rc));
			a.skipped = true;
		}
	}
	audit_sort_files(&a, p.v, p.n);
	for (size_t i = 0; i < p.n; i++)
		if (i == 0 || strcmp(p.v[i], p.v[i - 1]) != 0) /* adjacent */
			audit_file(&a, p.v[i]);
	if (audit_finish(&a) < 0) {
		fprintf(stderr, "accelmon-audit: out of memory\n");
		return 1;
	}
	FILE *out = stdout;
	if (output && !(out = fopen(output, "w"))) {
		fprintf(stderr, "accelmon-audit: %s: %s\n", output, strerror(errno));
		return 1;
	}
	if (audit_write(&a, fmt, out) < 0 || fflush(out) != 0) {
		fprintf(stderr, "accelmon-audit: writing the report: %s\n",
			strerror(errno));
		status = 1;
	}
	if (out != stdout)
		fclose(out);
	if (a.skipped)
		status = 1;
	if (a.skipped)
		fprintf(stderr, "accelmon-audit: some input was skipped (see above); "
				"the report covers the rest\n");
	audit_free(&a);
	for (size_t i = 0; i < p.n; i++)
		free(p.v[i]);
	free(p.v);
	return status;
}
