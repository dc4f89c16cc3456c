/* Workload of a process (accelmon/attrib.h): the one place that maps a
 * /proc/<pid>/cgroup file to a job. Paths come from cgroup v2 ("0::/p") and
 * v1 ("3:freezer:/p") lines; each path is classified on its own and the most
 * specific answer wins. The shapes are those systemd, slurmd (cgroup/v1 and
 * v2 plugins), the kubelet (systemd and cgroupfs drivers), containerd, cri-o,
 * docker and podman write; collectors/attribution.md lists them.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "accelmon/attrib.h"
#include "accelmon/util.h"

static const char *const job_kind_names[AM_JOB__COUNT] = {
    [AM_JOB_USER] = "user",	[AM_JOB_SYSTEMD] = "systemd", [AM_JOB_PODMAN] = "podman",
    [AM_JOB_DOCKER] = "docker", [AM_JOB_K8S] = "kubernetes",  [AM_JOB_SLURM] = "slurm",
};

const char *am_job_kind_name(enum am_job_kind k)
{
	if ((int)k < 0 || k >= AM_JOB__COUNT)
		return "unknown";
	return job_kind_names[k];
}

/* One path component, not NUL-terminated. */
struct wl_comp {
	const char *s;
	size_t n;
};

static bool wl_prefix(const struct wl_comp *c, const char *p)
{
	size_t n = strlen(p);

	return c->n >= n && memcmp(c->s, p, n) == 0;
}

static bool wl_suffix(const struct wl_comp *c, const char *p)
{
	size_t n = strlen(p);

	return c->n >= n && memcmp(c->s + c->n - n, p, n) == 0;
}

static bool wl_all(const char *s, size_t n, const char *set)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!strchr(set, s[i]))
			return false;
	return true;
}

#define WL_DIGITS "0123456789"
#define WL_HEX "0123456789abcdefABCDEF"

static void wl_copy(char *dst, size_t cap, const char *s, size_t n)
{
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, s, n);
	dst[n] = '\0';
}

/* A container id: hex, 12 (docker's short form) to 64 characters. */
static bool wl_is_cid(const char *s, size_t n)
{
	return n >= 12 && n <= 64 && wl_all(s, n, WL_HEX);
}

/* The container of a scope name: "cri-containerd-<id>.scope",
 * "crio-<id>.scope", "docker-<id>.scope", "libpod-<id>.scope"; cri-o's
 * monitor ("crio-conmon-<id>.scope") is not the container. Sets *rt to the
 * kind of a runtime of its own (docker, podman). */
static bool wl_scope_cid(const struct wl_comp *c, const char **id, size_t *n,
			 enum am_job_kind *rt)
{
	static const struct {
		const char *prefix;
		enum am_job_kind kind;
	} rts[] = {
	    {"cri-containerd-", AM_JOB_K8S},
	    {"crio-", AM_JOB_K8S},
	    {"docker-", AM_JOB_DOCKER},
	    {"libpod-", AM_JOB_PODMAN},
	};

	if (!wl_suffix(c, ".scope") || wl_prefix(c, "crio-conmon-") ||
	    wl_prefix(c, "libpod-conmon-"))
		return false;
	for (size_t i = 0; i < sizeof(rts) / sizeof(rts[0]); i++) {
		size_t p = strlen(rts[i].prefix);

		if (!wl_prefix(c, rts[i].prefix))
			continue;
		*id = c->s + p;
		*n = c->n - p - strlen(".scope");
		*rt = rts[i].kind;
		return wl_is_cid(*id, *n);
	}
	return false;
}

/* A pod UID as the kubelet writes it into a name: the systemd driver swaps
 * its dashes for underscores ("pod1f2e..._..."); the label has dashes. */
static bool wl_pod_uid(const char *s, size_t n, char *out, size_t cap)
{
	if (n < 8 || n >= cap || !wl_all(s, n, WL_HEX "-_"))
		return false;
	for (size_t i = 0; i < n; i++)
		out[i] = s[i] == '_' ? '-' : s[i];
	out[n] = '\0';
	return true;
}

/* Classify one cgroup path into *w (kind and its ids). */
static void wl_classify(const char *path, size_t len, struct am_workload *w)
{
	struct wl_comp c[64];
	size_t nc = 0, i = 0;
	const char *unit = NULL;
	size_t unit_n = 0;
	bool user_slice = false;

	memset(w, 0, sizeof(*w));
	w->kind = AM_JOB_USER;
	while (i < len && nc < sizeof(c) / sizeof(c[0])) {
		size_t j = i;

		while (j < len && path[j] != '/')
			j++;
		if (j > i)
			c[nc++] = (struct wl_comp){path + i, j - i};
		i = j + 1;
	}
	/* Slurm: .../job_<id>/step_<step>/... (v1: /slurm/uid_N/job_N/step_N,
	 * v2: /system.slice/slurmstepd.scope/job_N/step_N/user/task_N). */
	for (size_t k = 0; k < nc; k++) {
		if (!wl_prefix(&c[k], "job_") ||
		    !wl_all(c[k].s + 4, c[k].n - 4, WL_DIGITS))
			continue;
		w->kind = AM_JOB_SLURM;
		wl_copy(w->job, sizeof(w->job), c[k].s + 4, c[k].n - 4);
		if (k + 1 < nc && wl_prefix(&c[k + 1], "step_"))
			wl_copy(w->step, sizeof(w->step), c[k + 1].s + 5, c[k + 1].n - 5);
		return;
	}
	/* Kubernetes: a pod component under kubepods, then the container. */
	for (size_t k = 0; k < nc; k++) {
		const char *id = NULL;
		size_t idn = 0;
		enum am_job_kind rt;
		char uid[64];
		bool pod = false;

		if (wl_prefix(&c[k], "kubepods") && wl_suffix(&c[k], ".slice")) {
			/* systemd driver: kubepods[-QOS]-pod<uid>.slice */
			const char *p = memmem(c[k].s, c[k].n, "-pod", 4);

			if (p) {
				const char *u = p + 4;

				pod = wl_pod_uid(u, (size_t)(c[k].s + c[k].n - 6 - u),
						 uid, sizeof(uid));
			}
		} else if (wl_prefix(&c[k], "pod") && k > 0 &&
			   (wl_prefix(&c[0], "kubepods") ||
			    wl_prefix(&c[k - 1], "kubepods") ||
			    (k > 1 && wl_prefix(&c[k - 2], "kubepods")))) {
			/* cgroupfs driver: kubepods[/QOS]/pod<uid>/<id> */
			pod = wl_pod_uid(c[k].s + 3, c[k].n - 3, uid, sizeof(uid));
		}
		if (!pod)
			continue;
		w->kind = AM_JOB_K8S;
		snprintf(w->job, sizeof(w->job), "%s", uid);
		if (k + 1 < nc) {
			if (wl_scope_cid(&c[k + 1], &id, &idn, &rt) ||
			    (wl_is_cid(c[k + 1].s, c[k + 1].n) &&
			     (id = c[k + 1].s, idn = c[k + 1].n, true)))
				wl_copy(w->container, sizeof(w->container), id, idn);
		}
		return;
	}
	/* docker and podman outside Kubernetes. */
	for (size_t k = 0; k < nc; k++) {
		const char *id;
		size_t idn;
		enum am_job_kind rt;

		if (wl_scope_cid(&c[k], &id, &idn, &rt) && rt != AM_JOB_K8S) {
			w->kind = rt;
		} else if (k + 1 < nc && c[k].n == 6 &&
			   memcmp(c[k].s, "docker", 6) == 0 &&
			   wl_is_cid(c[k + 1].s, c[k + 1].n)) {
			/* cgroupfs driver: /docker/<id> */
			w->kind = AM_JOB_DOCKER;
			id = c[k + 1].s;
			idn = c[k + 1].n;
		} else {
			continue;
		}
		wl_copy(w->job, sizeof(w->job), id, idn);
		wl_copy(w->container, sizeof(w->container), id, idn);
		return;
	}
	/* systemd: the innermost unit outside user.slice; a user's own units
	 * (user@UID.service, session-N.scope) are that user's. */
	for (size_t k = 0; k < nc; k++) {
		if (c[k].n == 10 && memcmp(c[k].s, "user.slice", 10) == 0)
			user_slice = true;
		if (wl_suffix(&c[k], ".service") || wl_suffix(&c[k], ".scope")) {
			unit = c[k].s;
			unit_n = c[k].n;
		}
	}
	if (user_slice) {
		for (size_t k = 0; k < nc; k++)
			if (wl_prefix(&c[k], "user-") && wl_suffix(&c[k], ".slice") &&
			    wl_all(c[k].s + 5, c[k].n - 11, WL_DIGITS))
				wl_copy(w->job, sizeof(w->job), c[k].s + 5, c[k].n - 11);
		return;
	}
	if (unit && !(unit_n == 10 && memcmp(unit, "init.scope", 10) == 0)) {
		w->kind = AM_JOB_SYSTEMD;
		wl_copy(w->job, sizeof(w->job), unit, unit_n);
	}
}

int am_workload_parse_cgroup(const char *text, size_t n, struct am_workload *out)
{
	struct am_workload best, cur;
	bool any = false;
	size_t i = 0;

	memset(&best, 0, sizeof(best));
	best.kind = AM_JOB_USER;
	while (i < n) {
		size_t e = i, c1, c2;

		while (e < n && text[e] != '\n')
			e++;
		/* ID:controllers:/path; the path may hold ':' itself */
		c1 = i;
		while (c1 < e && text[c1] != ':')
			c1++;
		c2 = c1 + 1;
		while (c2 < e && text[c2] != ':')
			c2++;
		if (c1 > i && c1 < e && c2 < e && wl_all(text + i, c1 - i, WL_DIGITS) &&
		    c2 + 1 < e && text[c2 + 1] == '/') {
			any = true;
			wl_classify(text + c2 + 1, e - c2 - 1, &cur);
			if (cur.kind > best.kind ||
			    (cur.kind == best.kind && !best.job[0]))
				best = cur;
		}
		i = e + 1;
	}
	if (!any)
		return -EINVAL;
	snprintf(best.user, sizeof(best.user), "%s", out->user);
	*out = best;
	return 0;
}

/* procfs/pid/name whole (small files) into buf; length or -errno. */
static ssize_t wl_read(const char *procfs, pid_t pid, const char *name, char *buf,
		       size_t cap)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%d/%s", procfs, (int)pid, name);
	return am_read_text_at(AT_FDCWD, path, buf, cap);
}

int am_proc_start_time(const char *procfs, pid_t pid, uint64_t *start)
{
	char buf[2048], *p;
	ssize_t n = wl_read(procfs, pid, "stat", buf, sizeof(buf));
	int field = 2;

	if (n < 0)
		return (int)n;
	/* "pid (comm) state ...": comm may hold spaces and parentheses */
	p = strrchr(buf, ')');
	if (!p)
		return -EINVAL;
	p++;
	while (*p && field < 22) {
		while (*p == ' ')
			p++;
		if (++field == 22)
			break;
		while (*p && *p != ' ')
			p++;
	}
	if (field != 22 || !*p)
		return -EINVAL;
	{
		size_t len = strcspn(p, " \n");

		return am_parse_u64(p, len, start);
	}
}

int am_workload_of_pid(const char *procfs, pid_t pid, struct am_workload *out,
		       uint64_t *start)
{
	char buf[8192];
	ssize_t n;
	int rc;
	const char *uid;

	memset(out, 0, sizeof(*out));
	if (start) {
		rc = am_proc_start_time(procfs, pid, start);
		if (rc < 0)
			return rc;
	}
	n = wl_read(procfs, pid, "status", buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	/* "Uid:\treal\teffective\tsaved\tfs" */
	uid = strstr(buf, "\nUid:");
	if (uid) {
		size_t d;

		uid += 5;
		uid += strspn(uid, " \t");
		d = strspn(uid, WL_DIGITS);
		if (d > 0 && d < sizeof(out->user))
			wl_copy(out->user, sizeof(out->user), uid, d);
	}
	n = wl_read(procfs, pid, "cgroup", buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	rc = am_workload_parse_cgroup(buf, (size_t)n, out);
	if (rc < 0)
		return rc;
	if (out->kind == AM_JOB_USER && !out->job[0])
		snprintf(out->job, sizeof(out->job), "%s", out->user);
	return out->job[0] ? 0 : -EINVAL;
}

/* ---- allocations: cgroup v1 device lists ---- */

#define ALLOC_MAX_DEPTH 8

/* The "c MAJ:MIN ..." entries of a devices.list into a; wildcards and
 * block devices allocate nothing. */
static void alloc_parse_list(const char *text, struct am_alloc *a)
{
	const char *p = text;

	while (*p) {
		unsigned maj, min;
		char type;
		int used = 0;

		if (sscanf(p, "%c %u:%u %n", &type, &maj, &min, &used) == 3 && used > 0 &&
		    type == 'c') {
			char dev[16];
			bool have = false;

			snprintf(dev, sizeof(dev), "%u:%u", maj, min);
			for (unsigned i = 0; i < a->ndevs; i++)
				have |= strcmp(a->devs[i], dev) == 0;
			if (!have && a->ndevs < AM_ALLOC_MAX_DEVS)
				snprintf(a->devs[a->ndevs++], sizeof(a->devs[0]), "%s",
					 dev);
		}
		p = strchr(p, '\n');
		if (!p)
			break;
		p++;
	}
}

struct am_alloc *am_alloc_add(struct am_alloc **v, size_t *n, size_t *cap,
			      const struct am_workload *wl)
{
	struct am_alloc *a;

	for (size_t i = 0; i < *n; i++)
		if ((*v)[i].wl.kind == wl->kind && strcmp((*v)[i].wl.job, wl->job) == 0)
			return &(*v)[i];
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 8;
		struct am_alloc *nv = realloc(*v, nc * sizeof(*nv));

		if (!nv)
			return NULL;
		*v = nv;
		*cap = nc;
	}
	a = &(*v)[(*n)++];
	memset(a, 0, sizeof(*a));
	a->wl = *wl;
	a->wl.step[0] = a->wl.container[0] = '\0';
	return a;
}

void am_alloc_add_ref(struct am_alloc *a, enum am_alloc_by by, const char *id)
{
	size_t len = strlen(id);

	if (len == 0 || len >= sizeof(a->refs[0].id) || a->nrefs >= AM_ALLOC_MAX_DEVS)
		return;
	for (unsigned i = 0; i < a->nrefs; i++)
		if (a->refs[i].by == by && strcmp(a->refs[i].id, id) == 0)
			return;
	a->refs[a->nrefs].by = by;
	memcpy(a->refs[a->nrefs].id, id, len + 1);
	a->nrefs++;
}

static int alloc_add(struct am_alloc **v, size_t *n, size_t *cap,
		     const struct am_workload *wl, const char *list)
{
	struct am_alloc *a = am_alloc_add(v, n, cap, wl);

	if (!a)
		return -ENOMEM;
	alloc_parse_list(list, a);
	return 0;
}

/* The cgroup at sub (below root): a Slurm job's or a pod's (or below one)
 * with a devices.list adds to its job. */
static int alloc_dir(const char *root, const char *sub, struct am_alloc **v, size_t *n,
		     size_t *cap)
{
	char path[PATH_MAX], text[4096], cg[PATH_MAX + 16];
	struct am_workload wl;
	const char *u;

	if (snprintf(path, sizeof(path), "%s%s/devices.list", root, sub) >=
		(int)sizeof(path) ||
	    am_read_text_at(AT_FDCWD, path, text, sizeof(text)) < 0)
		return 0; /* not a cgroup (or one a test tree leaves out) */
	memset(&wl, 0, sizeof(wl));
	snprintf(cg, sizeof(cg), "1:devices:%s\n", sub);
	if (am_workload_parse_cgroup(cg, strlen(cg), &wl) < 0 ||
	    (wl.kind != AM_JOB_SLURM && wl.kind != AM_JOB_K8S))
		return 0;
	/* slurm's v1 hierarchy names the owner: /slurm/uid_N/job_M */
	u = strstr(sub, "/uid_");
	if (u) {
		size_t d = strspn(u + 5, WL_DIGITS);

		if (d > 0 && d < sizeof(wl.user))
			wl_copy(wl.user, sizeof(wl.user), u + 5, d);
	}
	return alloc_add(v, n, cap, &wl, text);
}

/* Walk the directories below root + rel for job cgroups; a directory
 * without a list may still hold some. */
static int alloc_walk(const char *root, const char *rel, int depth, struct am_alloc **v,
		      size_t *n, size_t *cap)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *dir;
	int rc = 0;

	snprintf(path, sizeof(path), "%s%s", root, rel);
	if (!(dir = opendir(path)))
		return 0;
	while (rc == 0 && (de = readdir(dir))) {
		char sub[PATH_MAX];

		if (de->d_name[0] == '.' ||
		    (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN))
			continue;
		if (snprintf(sub, sizeof(sub), "%s/%s", rel, de->d_name) >=
		    (int)sizeof(sub))
			continue;
		rc = alloc_dir(root, sub, v, n, cap);
		if (rc == 0 && depth < ALLOC_MAX_DEPTH)
			rc = alloc_walk(root, sub, depth + 1, v, n, cap);
	}
	closedir(dir);
	return rc;
}

int am_alloc_scan(const char *sysfs, struct am_alloc **v, size_t *n, size_t *cap)
{
	char root[PATH_MAX];
	int rc;

	*n = 0;
	snprintf(root, sizeof(root), "%s/fs/cgroup/devices", sysfs);
	am_call_begin(NULL, "fs/cgroup/devices (allocations)");
	rc = alloc_walk(root, "", 0, v, n, cap);
	am_call_end(NULL);
	return rc;
}
