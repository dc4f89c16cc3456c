/* Logging to stderr: one line per message, a level and a component prefix
 * ("netdev: ..."), and a rate limiter so a failing device does not flood the
 * log (the first message, then one summary per minute with a count).
 */
#ifndef ACCELMON_LOG_H
#define ACCELMON_LOG_H

#include <stdarg.h>
#include <stdint.h>

enum { LOGL_ERROR = 0, LOGL_WARN = 1, LOGL_INFO = 2, LOGL_DEBUG = 3 };

void log_set_level(int level);
int log_get_level(void);
int log_level_parse(const char *s); /* -1 when unknown */

void log_msg(int level, const char *prefix, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void log_vmsg(int level, const char *prefix, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

/* Per-component rate limiter: remembers the last few distinct messages. */
#define LOG_RL_SLOTS 16
struct log_ratelimit {
	struct {
		uint64_t hash;
		int64_t window_start_ns;
		unsigned suppressed;
	} slot[LOG_RL_SLOTS];
	unsigned next;
};

/* Log unless the same text was logged in the last 60 s (then count it). */
void log_limited(struct log_ratelimit *rl, int level, const char *prefix,
		 const char *fmt, va_list ap) __attribute__((format(printf, 4, 0)));

void log_limitedf(struct log_ratelimit *rl, int level, const char *prefix,
		  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Warn when a file the agent trusts (its config, a plugin it loads), or the
 * directory holding it, may be written by every user: whoever can write it
 * controls the agent. */
void log_warn_writable(const char *path, const char *what);

#endif
