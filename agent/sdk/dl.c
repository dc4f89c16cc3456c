/* Vendor libraries for the collector helpers (accelmon/util.h): dlopen over
 * candidate names and directories (a container's driver mount is not in the
 * loader's cache), and symbol tables that take a versioned name where the
 * driver has it and fall back to older ones, as NVML and its peers version
 * their entry points (nvmlInit_v2, nvmlInit).
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "accelmon/util.h"

static void *dl_try(const char *file, char *err, size_t errlen)
{
	void *h = dlopen(file, RTLD_NOW | RTLD_LOCAL);

	if (!h && err && errlen) {
		const char *why = dlerror();

		/* dlerror() names the file already. */
		snprintf(err, errlen, "%s", why ? why : file);
	}
	return h;
}

void *am_dl_open(const char *const *candidates, const char *const *dirs, char *err,
		 size_t errlen)
{
	if (err && errlen)
		snprintf(err, errlen, "no library to open");
	for (size_t i = 0; candidates && candidates[i]; i++) {
		const char *name = candidates[i];
		void *h = dl_try(name, err, errlen);

		if (h)
			return h;
		for (size_t d = 0; !strchr(name, '/') && dirs && dirs[d]; d++) {
			char path[PATH_MAX];

			if (snprintf(path, sizeof(path), "%s/%s", dirs[d], name) >=
			    (int)sizeof(path))
				continue;
			h = dl_try(path, err, errlen);
			if (h)
				return h;
		}
	}
	return NULL;
}

int am_dl_bind(void *handle, const struct am_dl_sym *syms, size_t n, char *err,
	       size_t errlen)
{
	int rc = 0;

	if (!handle || (n && !syms))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		void *p = NULL;

		for (int k = 0; !p && k < 4 && syms[i].names[k]; k++)
			p = dlsym(handle, syms[i].names[k]);
		if (syms[i].slot)
			*syms[i].slot = p;
		if (p || !syms[i].required || rc < 0)
			continue;
		/* The first missing required entry, with every name tried. */
		rc = -ENOENT;
		if (err && errlen) {
			size_t len = 0;

			len += (size_t)snprintf(err, errlen, "missing required symbol %s",
						syms[i].names[0] ? syms[i].names[0]
								 : "(none)");
			for (int k = 1; k < 4 && syms[i].names[k] && len < errlen; k++)
				len += (size_t)snprintf(err + len, errlen - len, " or %s",
							syms[i].names[k]);
		}
	}
	return rc;
}
