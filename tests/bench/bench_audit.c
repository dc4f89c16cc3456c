/* Benchmark: accelmon-audit throughput. Generates node-days of realistic
 * records (8 GPUs, 8 HCA ports, agent series; 15 s), audits them on one
 * core, and prints samples per second, peak RSS, and the extrapolation to a
 * year of a 1,000-node cluster. Usage: bench_audit [NODE_DAYS] [DIR]
 * (default 1000 node-days in a temporary directory, deleted afterwards).
 */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "audit/audit.h"
#include "tests/rec_gen.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static long peak_rss_kib(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

int main(int argc, char **argv)
{
	unsigned ndays = argc > 1 ? (unsigned)atoi(argv[1]) : 1000;
	char tmpl[] = "/tmp/bench-audit-XXXXXX";
	const char *dir = argc > 2 ? argv[2] : mkdtemp(tmpl);
	unsigned nodes = ndays < 50 ? ndays : 50, days = (ndays + nodes - 1) / nodes;
	uint64_t samples = 0, generated = 0;
	long long bytes = 0;
	char **paths = calloc((size_t)nodes * days, sizeof(*paths));
	size_t n = 0;

	if (!dir || !paths)
		return 1;
	double t0 = now_s();
	for (unsigned d = 0; d < days; d++)
		for (unsigned k = 0; k < nodes && n < ndays; k++) {
			char path[PATH_MAX], host[32];
			snprintf(host, sizeof(host), "node%04u", k);
			snprintf(path, sizeof(path), "%s/%s-%03u.amrec", dir, host, d);
			if (access(path, R_OK) != 0) {
				struct recgen_node_opts o = {
				    .path = path,
				    .host = host,
				    .start_ms = 1764028800000LL + (int64_t)d * 86400000,
				    .interval_ms = 15000,
				    .nbatches = 5760,
				    .ngpus = 8,
				    .nhcas = 8,
				    .nvlinks = 0,
				    .seed = k * 7919 + d,
				};
				long long b = recgen_node(&o, &generated);
				if (b < 0) {
					fprintf(stderr, "bench_audit: cannot write %s\n",
						path);
					return 1;
				}
			}
			FILE *f = fopen(path, "rb");
			if (f) {
				fseek(f, 0, SEEK_END);
				bytes += ftell(f);
				fclose(f);
			}
			paths[n++] = strdup(path);
		}
	double tgen = now_s() - t0;
	long rss_before = peak_rss_kib();

	struct audit_opts o = {
	    .from_ms = INT64_MIN,
	    .to_ms = INT64_MAX,
	    .idle_below = 0.05,
	    .top = 10,
	    .gap_intervals = 3,
	};
	struct audit a;
	t0 = now_s();
	audit_init(&a, &o);
	audit_sort_files(&a, paths, n);
	for (size_t i = 0; i < n; i++)
		audit_file(&a, paths[i]);
	audit_finish(&a);
	double t = now_s() - t0;
	long rss = peak_rss_kib();

	samples = a.in.samples; /* also right when files are reused */
	double year_samples = (double)samples / n * 365 * 1000;
	printf("bench_audit: %zu node-days (%u nodes x %u days), %.0f MiB on disk (%.2f "
	       "MiB per node-day), generated in %.1f s\n",
	       n, nodes, days, bytes / 1048576.0, bytes / 1048576.0 / n, tgen);
	printf("bench_audit: audit %.2f s: %.3g samples/s in the files (%.3g audited "
	       "device samples/s), %.0f node-days/s, %.0f MiB/s\n",
	       t, samples / t, a.in.device_samples / t, n / t, bytes / 1048576.0 / t);
	printf("bench_audit: peak RSS %ld KiB (%ld KiB before the audit); %zu devices, "
	       "%.0f busy h of %.0f observed h\n",
	       rss, rss_before, a.ndev, a.total.t.busy_s / 3600,
	       a.total.t.observed_s / 3600);
	printf("bench_audit: a year of 1,000 nodes at 15 s = %.3g samples = 365,000 "
	       "node-days: %.1f min on one core (target 60 min), ratio %.2f\n",
	       year_samples, 365000.0 / (n / t) / 60, 365000.0 / (n / t) / 3600);
	audit_free(&a);
	if (argc <= 2) {
		for (size_t i = 0; i < n; i++)
			unlink(paths[i]);
		rmdir(dir);
	}
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
	return 0;
}
