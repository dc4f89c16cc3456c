/* am_filter: the include/exclude name filter of the collector helpers
 * (accelmon/util.h), from two POSIX ERE options of a collector's config
 * section with per-collector defaults ("^lo$" for netdev). An empty option
 * value switches its side off, so `exclude: ""` undoes a default.
 */
#include <errno.h>
#include <regex.h>
#include <stdlib.h>

#include "accelmon/util.h"

struct am_filter {
	regex_t inc, exc;
	bool has_inc, has_exc;
};

/* Compile the value of one side; key names it in the message ("default"
 * for a collector's built-in pattern). */
static int filter_side(struct am_ctx *ctx, const struct am_config *cfg, const char *key,
		       const char *dflt, regex_t *re, bool *has)
{
	const char *s = key ? am_cfg_string(cfg, key, dflt) : dflt;
	char msg[128];
	int rc;

	if (!s || !*s)
		return 0;
	rc = regcomp(re, s, REG_EXTENDED | REG_NOSUB);
	if (rc != 0) {
		regerror(rc, re, msg, sizeof(msg));
		am_log(ctx, AM_LOG_ERROR, "%s: bad regular expression \"%s\": %s",
		       key ? key : "default filter", s, msg);
		return -EINVAL;
	}
	*has = true;
	return 0;
}

int am_filter_new(struct am_ctx *ctx, const struct am_config *cfg,
		  const char *include_key, const char *dflt_include,
		  const char *exclude_key, const char *dflt_exclude,
		  struct am_filter **out)
{
	struct am_filter *f;
	int rc;

	if (!out)
		return -EINVAL;
	*out = NULL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	rc = filter_side(ctx, cfg, include_key, dflt_include, &f->inc, &f->has_inc);
	if (rc == 0)
		rc = filter_side(ctx, cfg, exclude_key, dflt_exclude, &f->exc,
				 &f->has_exc);
	if (rc < 0) {
		am_filter_free(f);
		return rc;
	}
	*out = f;
	return 0;
}

bool am_filter_pass(const struct am_filter *f, const char *name)
{
	if (!f)
		return true;
	if (!name)
		return false;
	if (f->has_inc && regexec(&f->inc, name, 0, NULL, 0) != 0)
		return false;
	return !(f->has_exc && regexec(&f->exc, name, 0, NULL, 0) == 0);
}

void am_filter_free(struct am_filter *f)
{
	if (!f)
		return;
	if (f->has_inc)
		regfree(&f->inc);
	if (f->has_exc)
		regfree(&f->exc);
	free(f);
}
