/* Process self-metrics from the real /proc (not --procfs: these describe
 * the agent itself): CPU time, memory, start time, file descriptors. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "selfstats.h"

static double boot_time_s(void)
{
	static double btime;
	char line[256];
	FILE *f;

	if (btime > 0)
		return btime;
	f = fopen("/proc/stat", "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "btime %lf", &btime) == 1)
			break;
	fclose(f);
	return btime;
}

int selfstats_read(struct selfstats *out)
{
	char buf[1024], *p;
	unsigned long utime, stime, vsize;
	unsigned long long start;
	long rss, tck = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	struct rlimit rl;
	FILE *f = fopen("/proc/self/stat", "r");
	size_t n;
	DIR *d;

	if (!f)
		return -errno;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command name may hold spaces and parentheses: skip to the last ')'. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2,
			 "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d %*d %*d %llu %lu %ld",
			 &utime, &stime, &start, &vsize, &rss) != 5)
		return -EINVAL;
	out->cpu_seconds = (double)(utime + stime) / tck;
	out->rss_bytes = (double)rss * page;
	out->vsize_bytes = (double)vsize;
	out->start_time_s = boot_time_s() + (double)start / tck;
	out->open_fds = 0;
	d = opendir("/proc/self/fd");
	if (d) {
		struct dirent *e;

		while ((e = readdir(d)))
			if (e->d_name[0] != '.')
				out->open_fds++;
		closedir(d);
		out->open_fds--; /* the directory stream itself */
	}
	out->max_fds = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? (double)rl.rlim_cur : 0;
	return 0;
}
