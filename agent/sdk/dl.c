/* Vendor libraries for the collector helpers (accelmon/util.h): dlopen over
 * candidate names and directories (a container's driver mount is not in the
 * loader's cache), and symbol tables that take a versioned name where the
 * driver has it and fall back to older ones, as NVML and its peers version
 * their entry points (nvmlInit_v2, nvmlInit).
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "accelmon/util.h"

/* Whether dlopen's message says only that `file` itself is not there
 * ("FILE: cannot open shared object file: No such file or directory").
 * Any other reason to fail opening it (Permission denied, Not a directory)
 * says more than the misses of the folders tried after it. */
static bool dl_absent(const char *file, const char *why)
{
	static const char miss[] = ": cannot open shared object file: No such file";
	size_t n = strlen(file);

	return strncmp(why, file, n) == 0 &&
	       strncmp(why + n, miss, sizeof(miss) - 1) == 0;
}

/* dlopen one file. On failure its message goes to err, unless an earlier
 * candidate failed for a reason other than being absent (*kept): a library
 * that is there but is not one, or whose own dependency is missing, says
 * more than the misses of the folders tried after it. */
static void *dl_try(const char *file, char *err, size_t errlen, bool *kept)
{
	void *h = dlopen(file, RTLD_NOW | RTLD_LOCAL);
	const char *why;

	if (h)
		return h;
	why = dlerror();
	if (!why)
		why = file;
	if (err && errlen && !*kept)
		snprintf(err, errlen, "%s", why); /* dlerror() names the file */
	if (!dl_absent(file, why))
		*kept = true;
	return NULL;
}

void *am_dl_open(const char *const *candidates, const char *const *dirs, char *err,
		 size_t errlen)
{
	bool kept = false;

	if (err && errlen)
		snprintf(err, errlen, "no library to open");
	for (size_t i = 0; candidates && candidates[i]; i++) {
		const char *name = candidates[i];
		void *h = dl_try(name, err, errlen, &kept);

		if (h)
			return h;
		for (size_t d = 0; !strchr(name, '/') && dirs && dirs[d]; d++) {
			char path[PATH_MAX];

			if (snprintf(path, sizeof(path), "%s/%s", dirs[d], name) >=
			    (int)sizeof(path))
				continue;
			h = dl_try(path, err, errlen, &kept);
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
