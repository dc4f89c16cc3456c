/* stderr logger with levels, component prefixes and rate limiting. */
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "clock.h"
#include "log.h"

/* Set by main on SIGHUP while collector threads log: atomic. */
static atomic_int log_level = LOGL_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static const char *const level_names[] = {"error", "warn", "info", "debug"};

void log_set_level(int level)
{
	log_level = level;
}

int log_get_level(void)
{
	return log_level;
}

int log_level_parse(const char *s)
{
	for (int i = 0; i < 4; i++)
		if (strcasecmp(s, level_names[i]) == 0)
			return i;
	return -1;
}

void log_vmsg(int level, const char *prefix, const char *fmt, va_list ap)
{
	char line[1024];
	int n = 0;

	if (level > log_level)
		return;
	n = snprintf(line, sizeof(line), "accelmon %s: %s%s", level_names[level],
		     prefix ? prefix : "", prefix ? ": " : "");
	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	/* One write per line so lines from threads never interleave. */
	pthread_mutex_lock(&log_lock);
	fprintf(stderr, "%s\n", line);
	pthread_mutex_unlock(&log_lock);
}

void log_msg(int level, const char *prefix, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, prefix, fmt, ap);
	va_end(ap);
}

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

void log_limited(struct log_ratelimit *rl, int level, const char *prefix,
		 const char *fmt, va_list ap)
{
	char text[900];
	uint64_t h;
	int64_t now = clock_monotonic_ns();
	unsigned i;

	if (level > log_level)
		return;
	vsnprintf(text, sizeof(text), fmt, ap);
	h = fnv1a(text);
	for (i = 0; i < LOG_RL_SLOTS; i++) {
		if (rl->slot[i].hash != h)
			continue;
		if (now - rl->slot[i].window_start_ns < 60 * NS_PER_S) {
			rl->slot[i].suppressed++;
			return;
		}
		if (rl->slot[i].suppressed)
			log_msg(level, prefix, "%s (repeated %u times in the last minute)",
				text, rl->slot[i].suppressed);
		else
			log_msg(level, prefix, "%s", text);
		rl->slot[i].window_start_ns = now;
		rl->slot[i].suppressed = 0;
		return;
	}
	i = rl->next++ % LOG_RL_SLOTS;
	rl->slot[i].hash = h;
	rl->slot[i].window_start_ns = now;
	rl->slot[i].suppressed = 0;
	log_msg(level, prefix, "%s", text);
}

void log_limitedf(struct log_ratelimit *rl, int level, const char *prefix,
		  const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_limited(rl, level, prefix, fmt, ap);
	va_end(ap);
}

void log_warn_writable(const char *path, const char *what)
{
	char dir[PATH_MAX];
	const char *parent;
	struct stat st;

	if (stat(path, &st) == 0 && (st.st_mode & S_IWOTH))
		log_msg(LOGL_WARN, NULL,
			"%s %s is writable by every user (mode %04o): whoever can "
			"change it controls the agent (chmod o-w)",
			what, path, (unsigned)(st.st_mode & 07777));
	snprintf(dir, sizeof(dir), "%s", path);
	parent = dirname(dir);
	/* A sticky directory (/tmp) lets no one replace another's file. */
	if (stat(parent, &st) == 0 && (st.st_mode & S_IWOTH) && !(st.st_mode & S_ISVTX))
		log_msg(LOGL_WARN, NULL,
			"%s %s is in %s, which every user may write to (mode %04o): "
			"whoever can replace it controls the agent",
			what, path, parent, (unsigned)(st.st_mode & 07777));
}
