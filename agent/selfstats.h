/* Process self-metrics (process_* families) read from /proc/self. */
#ifndef ACCELMON_SELFSTATS_H
#define ACCELMON_SELFSTATS_H

struct selfstats {
	double cpu_seconds, rss_bytes, vsize_bytes, start_time_s, open_fds, max_fds;
};

int selfstats_read(struct selfstats *out);

#endif
