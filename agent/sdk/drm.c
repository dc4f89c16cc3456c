/* DRM clients from fdinfo (accelmon/attrib.h): which processes use a GPU
 * of a DRM driver, how much engine time and device memory each holds, from
 * the standard keys of the kernel's drm-usage-stats document
 * (drm-driver, drm-pdev, drm-client-id, drm-engine-<name>, drm-cycles-*,
 * drm-memory-*, drm-resident-*), so no vendor library is needed. Only fds
 * whose link names /dev/dri/ are read; one client opened through several
 * fds or processes (dup, fork) counts once.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "accelmon/attrib.h"
#include "accelmon/util.h"

/* "N", "N KiB", "N MiB", "N GiB" (drm-memory-*, drm-resident-*), "N ns". */
static int drm_value(const char *s, size_t n, const char *unit_req, uint64_t *out)
{
	size_t d = 0;
	uint64_t v, mul = 1;

	while (d < n && (s[d] == ' ' || s[d] == '\t'))
		d++;
	s += d;
	n -= d;
	d = 0;
	while (d < n && s[d] >= '0' && s[d] <= '9')
		d++;
	if (d == 0 || am_parse_u64(s, d, &v) < 0)
		return -EINVAL;
	s += d;
	n -= d;
	while (n && (*s == ' ' || *s == '\t')) {
		s++;
		n--;
	}
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		n--;
	if (unit_req) {
		if (n != strlen(unit_req) || memcmp(s, unit_req, n) != 0)
			return -EINVAL;
	} else if (n == 3 && memcmp(s, "KiB", 3) == 0) {
		mul = 1ull << 10;
	} else if (n == 3 && memcmp(s, "MiB", 3) == 0) {
		mul = 1ull << 20;
	} else if (n == 3 && memcmp(s, "GiB", 3) == 0) {
		mul = 1ull << 30;
	} else if (n != 0) {
		return -EINVAL;
	}
	if (mul > 1 && v > UINT64_MAX / mul)
		return -ERANGE;
	*out = v * mul;
	return 0;
}

static bool drm_key(const char *k, size_t kn, const char *want)
{
	return kn == strlen(want) && memcmp(k, want, kn) == 0;
}

static bool drm_key_prefix(const char *k, size_t kn, const char *p)
{
	size_t n = strlen(p);

	return kn > n && memcmp(k, p, n) == 0;
}

/* A device-local memory region: amdgpu "vram", xe "vram0", i915 "local0". */
static bool drm_local_region(const char *r, size_t n)
{
	return (n >= 4 && memcmp(r, "vram", 4) == 0) ||
	       (n >= 5 && memcmp(r, "local", 5) == 0);
}

int am_drm_fdinfo_parse(const char *text, size_t n, struct am_drm_client *out)
{
	bool have_driver = false, have_id = false, have_pdev = false;
	bool have_resident = false;
	uint64_t legacy_vram = 0, resident = 0;
	bool have_legacy = false;
	size_t i = 0;

	memset(out, 0, sizeof(*out));
	while (i < n) {
		size_t e = i, colon;
		const char *k = text + i, *v;
		size_t kn, vn;
		uint64_t x;

		while (e < n && text[e] != '\n')
			e++;
		colon = i;
		while (colon < e && text[colon] != ':')
			colon++;
		kn = colon - i;
		v = text + colon + 1;
		vn = colon < e ? e - colon - 1 : 0;
		i = e + 1;
		if (colon >= e || !drm_key_prefix(k, kn + 1, "drm-"))
			continue;
		while (vn && (*v == ' ' || *v == '\t')) {
			v++;
			vn--;
		}
		while (vn && (v[vn - 1] == ' ' || v[vn - 1] == '\t' || v[vn - 1] == '\r'))
			vn--;
		if (drm_key(k, kn, "drm-driver")) {
			if (vn == 0)
				return -EINVAL;
			have_driver = true;
			snprintf(out->driver, sizeof(out->driver), "%.*s", (int)vn, v);
		} else if (drm_key(k, kn, "drm-pdev")) {
			char raw[32];

			snprintf(raw, sizeof(raw), "%.*s", (int)(vn < 31 ? vn : 31), v);
			if (am_pci_norm_bus_id(raw, out->pdev, sizeof(out->pdev)) < 0)
				return -EINVAL;
			have_pdev = true;
		} else if (drm_key(k, kn, "drm-client-id")) {
			if (drm_value(v, vn, "", &out->id) < 0)
				return -EINVAL;
			have_id = true;
		} else if (drm_key_prefix(k, kn, "drm-engine-capacity-")) {
			continue; /* engines of the class, not time */
		} else if (drm_key_prefix(k, kn, "drm-engine-")) {
			if (drm_value(v, vn, "ns", &x) < 0)
				return -EINVAL;
			out->engine_ns += x;
			out->have_engine = true;
		} else if (drm_key_prefix(k, kn, "drm-total-cycles-")) {
			/* xe: the GPU timestamp of each class, one clock */
			if (drm_value(v, vn, "", &x) < 0)
				return -EINVAL;
			if (x > out->total_cycles)
				out->total_cycles = x;
		} else if (drm_key_prefix(k, kn, "drm-cycles-")) {
			if (drm_value(v, vn, "", &x) < 0)
				return -EINVAL;
			out->cycles += x;
			out->have_cycles = true;
		} else if (drm_key_prefix(k, kn, "drm-resident-")) {
			if (!drm_local_region(k + 13, kn - 13))
				continue;
			if (drm_value(v, vn, NULL, &x) < 0)
				return -EINVAL;
			resident += x;
			have_resident = true;
		} else if (drm_key(k, kn, "drm-memory-vram")) {
			/* amdgpu before drm-resident-*: the same figure */
			if (drm_value(v, vn, NULL, &x) < 0)
				return -EINVAL;
			legacy_vram = x;
			have_legacy = true;
		}
	}
	if (!have_driver)
		return -ENOENT;
	if (!have_id || !have_pdev)
		return -EINVAL;
	if (out->have_cycles && out->total_cycles == 0)
		out->have_cycles = false;
	out->mem_bytes = have_resident ? resident : legacy_vram;
	out->have_mem = have_resident || have_legacy;
	return 0;
}

static int drm_add(struct am_drm_client **v, size_t *n, size_t *cap,
		   const struct am_drm_client *c)
{
	for (size_t i = 0; i < *n; i++) {
		struct am_drm_client *o = &(*v)[i];

		if (o->id == c->id && strcmp(o->pdev, c->pdev) == 0) {
			/* the same client seen again (dup, fork): one client,
			 * held by the lowest pid */
			if (c->pid < o->pid)
				o->pid = c->pid;
			return 0;
		}
	}
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 16;
		struct am_drm_client *nv = realloc(*v, nc * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		*v = nv;
		*cap = nc;
	}
	(*v)[(*n)++] = *c;
	return 0;
}

static bool drm_is_pid(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* The DRM clients of one process: 1 when it has an fd on /dev/dri (a
 * client or not), 0 when none; -EACCES/-EPERM when refused. */
static int drm_scan_pid(const char *procfs, const char *pid, struct am_drm_client **v,
			size_t *n, size_t *cap)
{
	char path[PATH_MAX], link[64], buf[4096];
	struct dirent *de;
	DIR *dir;
	int fd, rc = 0;
	bool dri = false;

	snprintf(path, sizeof(path), "%s/%s/fd", procfs, pid);
	fd = openat(AT_FDCWD, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno == EACCES || errno == EPERM ? -errno : 0;
	dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		return 0;
	}
	while ((de = readdir(dir))) {
		struct am_drm_client c;
		ssize_t len;

		if (de->d_name[0] == '.')
			continue;
		len = readlinkat(fd, de->d_name, link, sizeof(link) - 1);
		if (len < 0) {
			if (errno == EACCES || errno == EPERM) {
				rc = -errno;
				break;
			}
			continue; /* closed meanwhile */
		}
		link[len] = '\0';
		if (strncmp(link, "/dev/dri/", 9) != 0)
			continue;
		dri = true;
		snprintf(path, sizeof(path), "%s/%s/fdinfo/%s", procfs, pid, de->d_name);
		len = am_read_text_at(AT_FDCWD, path, buf, sizeof(buf));
		if (len == -EACCES || len == -EPERM) {
			rc = (int)len;
			break;
		}
		/* vanished, or a DRM file without usage stats (old kernels,
		 * a card node without a client): not a client to count */
		if (len < 0 || am_drm_fdinfo_parse(buf, (size_t)len, &c) < 0)
			continue;
		c.pid = (pid_t)atoi(pid);
		if (drm_add(v, n, cap, &c) < 0) {
			rc = -ENOMEM;
			break;
		}
	}
	closedir(dir);
	return rc < 0 ? rc : dri;
}

static int skip_cmp(const void *x, const void *y)
{
	pid_t a = ((const struct am_drm_skip *)x)->pid,
	      b = ((const struct am_drm_skip *)y)->pid;

	return a < b ? -1 : a > b;
}

/* Keep pid out of the scans until until_ns (it had no DRM fd). */
static int skip_add(struct am_drm_skip_set *sk, pid_t pid, int64_t until_ns)
{
	if (sk->ncur == sk->capcur) {
		size_t nc = sk->capcur ? sk->capcur * 2 : 256;
		struct am_drm_skip *ne = realloc(sk->cur, nc * sizeof(*ne));

		if (!ne)
			return -ENOMEM;
		sk->cur = ne;
		sk->capcur = nc;
	}
	sk->cur[sk->ncur++] = (struct am_drm_skip){pid, until_ns};
	return 0;
}

void am_drm_skip_free(struct am_drm_skip_set *sk)
{
	free(sk->old);
	free(sk->cur);
	memset(sk, 0, sizeof(*sk));
}

int am_drm_scan(const char *procfs, struct am_drm_skip_set *sk, int64_t now_ns,
		struct am_drm_client **v, size_t *n, size_t *cap)
{
	struct dirent *de;
	DIR *dir;
	int rc = 0, fd;

	*n = 0;
	if (sk)
		sk->ncur = 0;
	am_call_begin(NULL, "/proc/<pid>/fdinfo (DRM clients)");
	fd = openat(AT_FDCWD, procfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(dir = fdopendir(fd))) {
		rc = -errno;
		if (fd >= 0)
			close(fd);
		am_call_end(NULL);
		return rc;
	}
	while ((de = readdir(dir))) {
		int r;

		if (!drm_is_pid(de->d_name))
			continue;
		if (sk && sk->nold) {
			struct am_drm_skip key = {(pid_t)atoi(de->d_name), 0}, *hit;

			hit = bsearch(&key, sk->old, sk->nold, sizeof(key), skip_cmp);
			if (hit && hit->until_ns > now_ns) {
				if (skip_add(sk, hit->pid, hit->until_ns) < 0) {
					rc = -ENOMEM;
					break;
				}
				continue;
			}
		}
		r = drm_scan_pid(procfs, de->d_name, v, n, cap);
		if (r == 0 && sk &&
		    skip_add(sk, (pid_t)atoi(de->d_name), now_ns + sk->skip_ns) < 0)
			r = -ENOMEM;
		if (r == -ENOMEM) {
			rc = r;
			break;
		}
		if (r < 0 && rc == 0)
			rc = -EACCES;
	}
	closedir(dir);
	am_call_end(NULL);
	if (sk) {
		struct am_drm_skip *t = sk->old;
		size_t tc = sk->capold;

		/* /proc lists pids in order; sorted anyway for bsearch */
		qsort(sk->cur, sk->ncur, sizeof(*sk->cur), skip_cmp);
		sk->old = sk->cur;
		sk->nold = sk->ncur;
		sk->capold = sk->capcur;
		sk->cur = t;
		sk->capcur = tc;
		sk->ncur = 0;
	}
	return rc;
}

void am_drm_prev_free(struct am_drm_prev *prev)
{
	free(prev->e);
	prev->e = NULL;
	prev->n = prev->cap = 0;
}

static struct am_drm_seen *drm_prev_find(struct am_drm_prev *prev, uint64_t id)
{
	for (size_t i = 0; i < prev->n; i++)
		if (prev->e[i].id == id)
			return &prev->e[i];
	return NULL;
}

ssize_t am_drm_procs(const struct am_drm_client *v, size_t n, const char *bus_id,
		     struct am_drm_prev *prev, struct am_attrib_proc *out, size_t cap)
{
	size_t k = 0;

	for (size_t i = 0; i < prev->n; i++)
		prev->e[i].seen = false;
	for (size_t i = 0; i < n && k < cap; i++) {
		const struct am_drm_client *c = &v[i];
		struct am_drm_seen *p;
		double w = 0;

		if (strcmp(c->pdev, bus_id) != 0)
			continue;
		p = drm_prev_find(prev, c->id);
		if (!p) {
			if (prev->n == prev->cap) {
				size_t nc = prev->cap ? prev->cap * 2 : 16;
				struct am_drm_seen *ne =
				    realloc(prev->e, nc * sizeof(*ne));

				if (!ne)
					return -ENOMEM;
				prev->e = ne;
				prev->cap = nc;
			}
			p = &prev->e[prev->n++];
			memset(p, 0, sizeof(*p));
			p->id = c->id;
		} else if (p->have && c->have_engine && c->engine_ns >= p->engine_ns) {
			w = (double)(c->engine_ns - p->engine_ns);
		} else if (p->have && c->have_cycles && c->cycles >= p->cycles &&
			   c->total_cycles > p->total_cycles) {
			/* busy share of the GPU clock, as ns of a second */
			w = (double)(c->cycles - p->cycles) /
			    (double)(c->total_cycles - p->total_cycles) * 1e9;
		}
		p->engine_ns = c->engine_ns;
		p->cycles = c->cycles;
		p->total_cycles = c->total_cycles;
		p->have = c->have_engine || c->have_cycles;
		p->seen = true;
		out[k++] = (struct am_attrib_proc){
		    .pid = c->pid,
		    .weight = p->have ? w : NAN,
		    .mem_bytes = c->have_mem ? (double)c->mem_bytes : NAN};
	}
	for (size_t i = 0; i < prev->n;)
		if (!prev->e[i].seen)
			prev->e[i] = prev->e[--prev->n];
		else
			i++;
	return (ssize_t)k;
}
