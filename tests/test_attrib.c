/* Check suite for attribution (agent/sdk/workload.c, drm.c, attrib.c;
 * accelmon/attrib.h): cgroup paths of Slurm, Kubernetes (containerd, cri-o,
 * cgroupfs), docker, podman, systemd and plain processes, as a table and on
 * the procfs fixture tree (tests/fixtures/procfs/node, see its gen.sh);
 * DRM fdinfo of amdgpu, i915 and xe with dup'ed and forked clients,
 * vanished fds and garbage; the split of busy seconds, energy and memory
 * on a shared device (shares add up to the device's figures exactly), the
 * per-device cap, jobs ending, pids vanishing and refused reads.
 */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "accelmon/attrib.h"
#include "accelmon/util.h"
#include "fake_am.h"
#include "fake_open.h"
#include "fixture_tree.h"
#include "agent/sdk/podresources.pb-c.h"

#define S(x) ((int64_t)((x)*1e9))
#define CID "3f4e5d6c7b8a99887766554433221100ffeeddccbbaa00112233445566778899"
#define CID2 "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
#define POD1 "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"

static void violation(const char *msg)
{
	ck_abort_msg("%s", msg);
}

static struct fixture_set trees;

static void setup(void)
{
	fake_am_on_violation(violation);
	fake_open_reset();
}

static void teardown(void)
{
	fake_open_reset();
}

/* ---- cgroup paths ---- */

static const struct {
	const char *text;
	int rc;
	enum am_job_kind kind;
	const char *job, *step, *container;
} cg_rows[] = {
    /* Slurm, cgroup/v2 plugin */
    {"0::/system.slice/slurmstepd.scope/job_4242/step_0/user/task_0\n", 0, AM_JOB_SLURM,
     "4242", "0", ""},
    {"0::/system.slice/slurmstepd.scope/job_77/step_extern/slurm_processes\n", 0,
     AM_JOB_SLURM, "77", "extern", ""},
    /* Slurm, cgroup/v1: the freezer names the step, systemd only slurmd */
    {"1:name=systemd:/system.slice/slurmd.service\n"
     "12:freezer:/slurm/uid_1001/job_4343/step_batch/task_0\n",
     0, AM_JOB_SLURM, "4343", "batch", ""},
    /* a job directory that is not a number is not Slurm's */
    {"0::/system.slice/job_x/step_0\n", 0, AM_JOB_USER, "", "", ""},
    /* Kubernetes, systemd driver: containerd, cri-o, guaranteed pods */
    {"0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0f1e2d3c_4b5a_"
     "6978_8a9b_0c1d2e3f4a5b.slice/cri-containerd-" CID ".scope\n",
     0, AM_JOB_K8S, POD1, "", CID},
    {"0::/kubepods.slice/kubepods-pod11112222_3333_4444_5555_666677778888.slice/"
     "crio-" CID2 ".scope\n",
     0, AM_JOB_K8S, "11112222-3333-4444-5555-666677778888", "", CID2},
    /* the kubelet's docker (dockershim, cri-dockerd) */
    {"0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0f1e2d3c_4b5a_"
     "6978_8a9b_0c1d2e3f4a5b.slice/docker-" CID ".scope\n",
     0, AM_JOB_K8S, POD1, "", CID},
    /* cri-o's monitor: the pod, no container */
    {"0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0f1e2d3c_4b5a_"
     "6978_8a9b_0c1d2e3f4a5b.slice/crio-conmon-" CID ".scope\n",
     0, AM_JOB_K8S, POD1, "", ""},
    /* the pod's own slice (the pause process's parent) */
    {"0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0f1e2d3c_4b5a_"
     "6978_8a9b_0c1d2e3f4a5b.slice\n",
     0, AM_JOB_K8S, POD1, "", ""},
    /* cgroupfs driver, v1 and v2 */
    {"5:memory:/kubepods/burstable/pod" POD1 "/" CID "\n", 0, AM_JOB_K8S, POD1, "", CID},
    {"0::/kubepods/pod" POD1 "/" CID "\n", 0, AM_JOB_K8S, POD1, "", CID},
    /* docker and podman on their own */
    {"0::/system.slice/docker-" CID ".scope\n", 0, AM_JOB_DOCKER, CID, "", CID},
    {"4:devices:/docker/" CID "\n", 0, AM_JOB_DOCKER, CID, "", CID},
    {"0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" CID ".scope\n",
     0, AM_JOB_PODMAN, CID, "", CID},
    /* too short an id is not a container */
    {"0::/system.slice/docker-abc.scope\n", 0, AM_JOB_SYSTEMD, "docker-abc.scope", "",
     ""},
    /* systemd units; init.scope is nobody's job */
    {"0::/system.slice/ollama.service\n", 0, AM_JOB_SYSTEMD, "ollama.service", "", ""},
    {"0::/system.slice/system-getty.slice/getty@tty1.service\n", 0, AM_JOB_SYSTEMD,
     "getty@tty1.service", "", ""},
    {"0::/init.scope\n", 0, AM_JOB_USER, "", "", ""},
    /* users: their slice names the uid */
    {"0::/user.slice/user-1000.slice/session-3.scope\n", 0, AM_JOB_USER, "1000", "", ""},
    {"0::/user.slice/user-1000.slice/user@1000.service/app.slice/app-firefox.scope\n", 0,
     AM_JOB_USER, "1000", "", ""},
    {"0::/\n", 0, AM_JOB_USER, "", "", ""},
    /* no newline at the end, a ':' in the path */
    {"0::/system.slice/a:b.service", 0, AM_JOB_SYSTEMD, "a:b.service", "", ""},
    /* not a cgroup file */
    {"", -EINVAL, AM_JOB_USER, "", "", ""},
    {"hello\n", -EINVAL, AM_JOB_USER, "", "", ""},
    {"x::/a\n", -EINVAL, AM_JOB_USER, "", "", ""},
    {"0::relative\n", -EINVAL, AM_JOB_USER, "", "", ""},
};

START_TEST(t_cgroup_table)
{
	struct am_workload w;
	int rc;

	memset(&w, 0, sizeof(w));
	snprintf(w.user, sizeof(w.user), "77");
	rc = am_workload_parse_cgroup(cg_rows[_i].text, strlen(cg_rows[_i].text), &w);
	ck_assert_msg(rc == cg_rows[_i].rc, "row %d: rc %d", _i, rc);
	if (rc < 0)
		return;
	ck_assert_msg(w.kind == cg_rows[_i].kind, "row %d: kind %s", _i,
		      am_job_kind_name(w.kind));
	ck_assert_str_eq(w.job, cg_rows[_i].job);
	ck_assert_str_eq(w.step, cg_rows[_i].step);
	ck_assert_str_eq(w.container, cg_rows[_i].container);
	ck_assert_str_eq(w.user, "77"); /* left as it was */
}
END_TEST

/* ---- the fixture tree ---- */

static const struct {
	int pid;
	int rc;
	enum am_job_kind kind;
	const char *job, *step, *container, *user;
	uint64_t start;
} pid_rows[] = {
    {1001, 0, AM_JOB_SLURM, "4242", "0", "", "1000", 101001},
    {1002, 0, AM_JOB_SLURM, "4343", "batch", "", "1001", 101002},
    {1003, 0, AM_JOB_K8S, POD1, "", CID, "0", 101003},
    {1004, 0, AM_JOB_K8S, "11112222-3333-4444-5555-666677778888", "", CID2, "1000",
     101004},
    {1005, 0, AM_JOB_K8S, "6f1d8c2e-1a2b-4c3d-9e8f-0a1b2c3d4e5f", "", CID, "0", 101005},
    {1006, 0, AM_JOB_DOCKER, CID2, "", CID2, "0", 101006},
    {1007, 0, AM_JOB_DOCKER, CID, "", CID, "0", 101007},
    {1008, 0, AM_JOB_SYSTEMD, "ollama.service", "", "", "998", 101008},
    {1009, 0, AM_JOB_USER, "1000", "", "", "1000", 101009},
    /* the root cgroup: the uid from status */
    {1010, 0, AM_JOB_USER, "1002", "", "", "1002", 101010},
    {1011, -EINVAL, AM_JOB_USER, "", "", "", "", 0},
    {1012, 0, AM_JOB_PODMAN, CID, "", CID, "1000", 101012},
    {1013, 0, AM_JOB_K8S, "99998888-7777-6666-5555-444433332222", "", "", "0", 101013},
    /* gone */
    {4711, -ENOENT, AM_JOB_USER, "", "", "", "", 0},
};

START_TEST(t_fixture_pids)
{
	const char *root = fixture_set_get(&trees, "procfs/node");
	struct am_workload w;
	uint64_t start = 0;
	int rc = am_workload_of_pid(root, pid_rows[_i].pid, &w, &start);

	ck_assert_msg(rc == pid_rows[_i].rc, "pid %d: rc %d", pid_rows[_i].pid, rc);
	if (rc < 0)
		return;
	ck_assert_msg(w.kind == pid_rows[_i].kind, "pid %d: %s", pid_rows[_i].pid,
		      am_job_kind_name(w.kind));
	ck_assert_str_eq(w.job, pid_rows[_i].job);
	ck_assert_str_eq(w.step, pid_rows[_i].step);
	ck_assert_str_eq(w.container, pid_rows[_i].container);
	ck_assert_str_eq(w.user, pid_rows[_i].user);
	ck_assert_uint_eq(start, pid_rows[_i].start);
}
END_TEST

START_TEST(t_refused_reads)
{
	const char *root = fixture_set_get(&trees, "procfs/node");
	struct am_workload w;

	fake_open_fail("/1003/cgroup", EACCES, true);
	ck_assert_int_eq(am_workload_of_pid(root, 1003, &w, NULL), -EACCES);
	fake_open_fail("/1004/status", EPERM, true);
	ck_assert_int_eq(am_workload_of_pid(root, 1004, &w, NULL), -EPERM);
	/* gone between its status and its cgroup */
	fake_open_fail("/1005/cgroup", ESRCH, true);
	ck_assert_int_eq(am_workload_of_pid(root, 1005, &w, NULL), -ESRCH);
	ck_assert_int_eq(am_workload_of_pid(root, 1001, &w, NULL), 0);
}
END_TEST

/* ---- DRM fdinfo ---- */

static const struct am_drm_client *find_client(const struct am_drm_client *v, size_t n,
					       const char *pdev, uint64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].id == id && strcmp(v[i].pdev, pdev) == 0)
			return &v[i];
	return NULL;
}

START_TEST(t_drm_scan_fixture)
{
	const char *root = fixture_set_get(&trees, "procfs/node");
	struct am_drm_client *v = NULL;
	const struct am_drm_client *c;
	size_t n = 0, cap = 0;

	ck_assert_int_eq(am_drm_scan(root, NULL, 0, &v, &n, &cap), 0);
	/* 17 (two fds of 2001 and one of its child 2007), 18, i915's 7,
	 * xe's 3; not the vanished fd of 2005 nor the garbage of 2006 */
	ck_assert_uint_eq(n, 4);
	c = find_client(v, n, "0000:03:00.0", 17);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(c->pid, 2001);
	ck_assert_str_eq(c->driver, "amdgpu");
	ck_assert(c->have_engine);
	ck_assert_uint_eq(c->engine_ns, 6000000);
	ck_assert(c->have_mem);
	ck_assert_uint_eq(c->mem_bytes, 1ull << 30); /* vram only, not gtt */
	c = find_client(v, n, "0000:03:00.0", 18);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(c->pid, 2002);
	ck_assert_uint_eq(c->engine_ns, 3000000);
	ck_assert_uint_eq(c->mem_bytes, 512ull << 20); /* resident, not total */
	c = find_client(v, n, "0000:00:02.0", 7);
	ck_assert_ptr_nonnull(c);
	ck_assert_str_eq(c->driver, "i915");
	ck_assert_uint_eq(c->engine_ns, 25662044495ull); /* capacity is no time */
	ck_assert(!c->have_mem);			 /* system memory only */
	c = find_client(v, n, "0000:4d:00.0", 3);
	ck_assert_ptr_nonnull(c);
	ck_assert_str_eq(c->driver, "xe");
	ck_assert(!c->have_engine);
	ck_assert(c->have_cycles);
	ck_assert_uint_eq(c->cycles, 28258000);
	ck_assert_uint_eq(c->total_cycles, 7655183225ull);
	ck_assert_uint_eq(c->mem_bytes, 64ull << 20);
	/* again into the same buffer: the same answer, no growth */
	ck_assert_int_eq(am_drm_scan(root, NULL, 0, &v, &n, &cap), 0);
	ck_assert_uint_eq(n, 4);
	ck_assert_uint_eq(cap, 16);
	free(v);
}
END_TEST

START_TEST(t_drm_scan_refused)
{
	const char *root = fixture_set_get(&trees, "procfs/node");
	struct am_drm_client *v = NULL;
	size_t n = 0, cap = 0;

	/* another user's process: the fdinfo read is refused */
	fake_open_fail("/2002/fdinfo/7", EACCES, true);
	ck_assert_int_eq(am_drm_scan(root, NULL, 0, &v, &n, &cap), -EACCES);
	ck_assert_uint_eq(n, 3);
	ck_assert_ptr_null(find_client(v, n, "0000:03:00.0", 18));
	fake_open_reset();
	fake_open_fail("/2003/fd", EACCES, true);
	ck_assert_int_eq(am_drm_scan(root, NULL, 0, &v, &n, &cap), -EACCES);
	ck_assert_uint_eq(n, 3);
	free(v);
	ck_assert_int_eq(am_drm_scan("/nonexistent/proc", NULL, 0, &v, &n, &cap),
			 -ENOENT);
}
END_TEST

/* Processes without a DRM fd are left out for skip_ns: a process that
 * opens the GPU later is found after that, and meanwhile its /proc/<pid>/fd
 * is not listed at every scan. */
START_TEST(t_drm_scan_skips)
{
	char *root = fixture_tree("procfs/node"), path[4200];
	struct am_drm_skip_set sk = {.skip_ns = S(30)};
	struct am_drm_client *v = NULL;
	size_t n = 0, cap = 0;

	ck_assert_int_eq(am_drm_scan(root, &sk, S(0), &v, &n, &cap), 0);
	ck_assert_uint_eq(n, 4);
	/* 1003 starts using the card */
	snprintf(path, sizeof(path),
		 "mkdir -p '%s/1003/fd' '%s/1003/fdinfo' && ln -s "
		 "/dev/dri/renderD128 '%s/1003/fd/9'",
		 root, root, root);
	ck_assert_int_eq(system(path), 0);
	snprintf(path, sizeof(path), "%s/1003/fdinfo/9", root);
	fixture_put(path, "drm-driver:\tamdgpu\ndrm-pdev:\t0000:03:00.0\n"
			  "drm-client-id:\t99\ndrm-engine-gfx:\t1 ns\n");
	fake_open_watch("/1003/");
	ck_assert_int_eq(am_drm_scan(root, &sk, S(1), &v, &n, &cap), 0);
	ck_assert_uint_eq(n, 4);
	ck_assert_uint_eq(fake_open_watched(), 0); /* not even listed */
	/* the clients' processes are scanned every time */
	ck_assert_ptr_nonnull(find_client(v, n, "0000:03:00.0", 18));
	/* without the set, it is */
	{
		struct am_drm_client *w = NULL;
		size_t wn = 0, wcap = 0;

		ck_assert_int_eq(am_drm_scan(root, NULL, S(1), &w, &wn, &wcap), 0);
		ck_assert_uint_eq(wn, 5);
		ck_assert_uint_gt(fake_open_watched(), 0);
		free(w);
	}
	ck_assert_int_eq(am_drm_scan(root, &sk, S(31), &v, &n, &cap), 0);
	ck_assert_uint_eq(n, 5);
	ck_assert_ptr_nonnull(find_client(v, n, "0000:03:00.0", 99));
	am_drm_skip_free(&sk);
	free(v);
	fixture_tree_remove(root);
}
END_TEST

static const struct {
	const char *text;
	int rc;
	uint64_t engine_ns, mem;
} fdinfo_rows[] = {
    {"pos: 0\nflags: 02\n", -ENOENT, 0, 0},
    {"drm-driver: amdgpu\ndrm-client-id: 3\n", -EINVAL, 0, 0},	     /* no pdev */
    {"drm-driver: amdgpu\ndrm-pdev: 0000:03:00.0\n", -EINVAL, 0, 0}, /* no id */
    {"drm-driver: amdgpu\ndrm-pdev: nonsense\ndrm-client-id: 3\n", -EINVAL, 0, 0},
    {"drm-driver: amdgpu\ndrm-pdev: 0000:03:00.0\ndrm-client-id: 3\ndrm-engine-gfx: 5 "
     "us\n",
     -EINVAL, 0, 0},
    {"drm-driver: amdgpu\ndrm-pdev: 0000:03:00.0\ndrm-client-id: 3\ndrm-memory-vram: 1 "
     "TiB\n",
     -EINVAL, 0, 0},
    {"drm-driver: amdgpu\ndrm-pdev: 0000:03:00.0\ndrm-client-id: 3\ndrm-engine-gfx: "
     "18446744073709551615 ns\ndrm-memory-vram: 18446744073709551615 KiB\n",
     -ERANGE, 0, 0},
    /* an unknown key is no error; CRLF and tabs are spaces */
    {"drm-driver:\tamdgpu\r\ndrm-pdev:\t0000:03:00.0\r\ndrm-client-id:\t3\r\n"
     "drm-engine-gfx:\t7 ns\r\ndrm-new-key: what\r\ndrm-memory-vram: 2 MiB\r\n",
     0, 7, 2ull << 20},
    /* resident vram wins over the legacy key; local0 counts, system0 not */
    {"drm-driver: i915\ndrm-pdev: 0000:03:00.0\ndrm-client-id: 3\ndrm-memory-vram: 2 "
     "MiB\ndrm-resident-local0: 4 KiB\ndrm-resident-system0: 8 KiB\n",
     0, 0, 4096},
};

START_TEST(t_fdinfo_table)
{
	struct am_drm_client c;
	int rc =
	    am_drm_fdinfo_parse(fdinfo_rows[_i].text, strlen(fdinfo_rows[_i].text), &c);

	ck_assert_msg(rc == fdinfo_rows[_i].rc ||
			  (fdinfo_rows[_i].rc == -ERANGE && rc < 0),
		      "row %d: rc %d", _i, rc);
	if (rc < 0)
		return;
	ck_assert_uint_eq(c.engine_ns, fdinfo_rows[_i].engine_ns);
	ck_assert_uint_eq(c.mem_bytes, fdinfo_rows[_i].mem);
}
END_TEST

START_TEST(t_pci_norm)
{
	char b[32];

	ck_assert_int_eq(am_pci_norm_bus_id("00000000:18:00.0", b, sizeof(b)), 0);
	ck_assert_str_eq(b, "0000:18:00.0");
	ck_assert_int_eq(am_pci_norm_bus_id("0000:AF:1F.7", b, sizeof(b)), 0);
	ck_assert_str_eq(b, "0000:af:1f.7");
	ck_assert_int_eq(am_pci_norm_bus_id("10000:e1:00.0", b, sizeof(b)), 0);
	ck_assert_str_eq(b, "10000:e1:00.0");
	ck_assert_int_eq(am_pci_norm_bus_id("0000:18:00", b, sizeof(b)), -EINVAL);
	ck_assert_int_eq(am_pci_norm_bus_id("0000:18:00.0", b, 5), -ERANGE);
}
END_TEST

/* ---- the split ---- */

static struct am_ctx *split_ctx(const char *procfs)
{
	struct am_ctx *ctx = fake_am_new("nvml", NULL);

	fake_am_set_procfs(ctx, procfs);
	return ctx;
}

static const struct fake_series *job_series(struct am_ctx *ctx, const char *fam,
					    const char *job)
{
	char key[256];

	snprintf(key, sizeof(key), "device=\"gpu0\",uuid=\"U0\",job=\"%s\"", job);
	return fake_am_match(ctx, fam, key);
}

static uint64_t job_u64(struct am_ctx *ctx, const char *fam, const char *job)
{
	const struct fake_series *s = job_series(ctx, fam, job);

	ck_assert_msg(s != NULL, "%s{job=%s} missing", fam, job);
	ck_assert_msg(!s->retired, "%s{job=%s} retired", fam, job);
	return s->last_u64;
}

START_TEST(t_split_shared_gpu)
{
	const char *root = fixture_set_get(&trees, "procfs/node");
	struct am_ctx *ctx = split_ctx(root);
	struct am_attrib *a = am_attrib_new(ctx, 0);
	/* a Slurm job and a Kubernetes pod; the pod has two processes */
	struct am_attrib_proc p[3] = {
	    {1001, 60, 1e9},
	    {1003, 15, 2e9},
	    {2002, 5, 0.5e9},
	};
	struct am_attrib_dev d = {"gpu0", "U0", 0.8, 1000.0, NAN};
	const struct fake_series *s;
	uint64_t e_slurm, e_pod;

	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(am_attrib_update(a, &d, p, 3), 0);
	/* the first poll opens the interval: nothing to split yet */
	ck_assert_uint_eq(job_u64(ctx, "accel_job_busy_seconds_total", "4242"), 0);
	ck_assert_uint_eq(job_u64(ctx, "accel_job_energy_joules_total", POD1), 0);
	s = job_series(ctx, "accel_job_memory_used_bytes", POD1);
	ck_assert_ptr_nonnull(s);
	ck_assert_double_eq(s->last, 2.5e9);
	s = fake_am_match(ctx, "accel_job_info",
			  "job=\"4242\",kind=\"slurm\",user=\"1000\","
			  "step=\"0\",container=\"\"");
	ck_assert_ptr_nonnull(s);
	s = fake_am_match(ctx, "accel_job_info",
			  "kind=\"kubernetes\",user=\"0\",step=\"\",container=\"" CID
			  "\"");
	ck_assert_ptr_nonnull(s);

	/* 2 s at 80 %: 1.6 s busy, 60:20 -> 1.2 s and 0.4 s; 300 J by the
	 * busy shares -> 225 J and 75 J */
	fake_am_advance(ctx, S(2));
	d.energy_j = 1300.0;
	ck_assert_int_eq(am_attrib_update(a, &d, p, 3), 0);
	ck_assert_uint_eq(job_u64(ctx, "accel_job_busy_seconds_total", "4242"),
			  1200000000);
	ck_assert_uint_eq(job_u64(ctx, "accel_job_busy_seconds_total", POD1), 400000000);
	e_slurm = job_u64(ctx, "accel_job_energy_joules_total", "4242");
	e_pod = job_u64(ctx, "accel_job_energy_joules_total", POD1);
	ck_assert_uint_eq(e_slurm, 225000);
	ck_assert_uint_eq(e_pod, 75000);
	/* scale: ns and mJ reach the core as seconds and joules */
	s = job_series(ctx, "accel_job_busy_seconds_total", "4242");
	ck_assert_double_eq_tol(fake_am_scaled(ctx, s), 1.2, 1e-12);

	/* a third that does not divide: 1 s at 100 % over 1:1:1 weights,
	 * 100 J; the shares still add up to the nanosecond and millijoule */
	p[0].weight = 1;
	p[1].weight = 1;
	p[2].weight = 0;
	{
		struct am_attrib_proc q[3] = {p[0], p[1], {1008, 1, NAN}};
		uint64_t b0 = 1200000000 + 400000000, b1, e1;

		fake_am_advance(ctx, S(1) + 1); /* 1 000 000 001 ns */
		d.busy_ratio = 1;
		d.energy_j = 1400.0;
		ck_assert_int_eq(am_attrib_update(a, &d, q, 3), 0);
		b1 = job_u64(ctx, "accel_job_busy_seconds_total", "4242") +
		     job_u64(ctx, "accel_job_busy_seconds_total", POD1) +
		     job_u64(ctx, "accel_job_busy_seconds_total", "ollama.service");
		ck_assert_uint_eq(b1 - b0, 1000000001);
		e1 = job_u64(ctx, "accel_job_energy_joules_total", "4242") +
		     job_u64(ctx, "accel_job_energy_joules_total", POD1) +
		     job_u64(ctx, "accel_job_energy_joules_total", "ollama.service");
		ck_assert_uint_eq(e1, 400000);
		/* memory unknown for the unit: no gauge value */
		s = job_series(ctx, "accel_job_memory_used_bytes", "ollama.service");
		ck_assert(s == NULL || s->nsamples == 0);
	}
	am_attrib_free(a);
	fake_am_free(ctx);
}
END_TEST

/* A device without a busy figure or without any energy figure (a MIG
 * instance): its jobs have no busy or energy series, never a made-up 0;
 * a busy series once the device gives a figure. */
START_TEST(t_split_no_figures)
{
	const char *root = fixture_set_get(&trees, "procfs/node");
	struct am_ctx *ctx = split_ctx(root);
	struct am_attrib *a = am_attrib_new(ctx, 0);
	struct am_attrib_proc p[1] = {{1001, NAN, 3e9}};
	struct am_attrib_dev d = {"gpu0", "U0", NAN, NAN, NAN};

	ck_assert_int_eq(am_attrib_update(a, &d, p, 1), 0);
	fake_am_advance(ctx, S(1));
	ck_assert_int_eq(am_attrib_update(a, &d, p, 1), 0);
	ck_assert_ptr_nonnull(job_series(ctx, "accel_job_info", "4242"));
	ck_assert_double_eq(job_series(ctx, "accel_job_memory_used_bytes", "4242")->last,
			    3e9);
	ck_assert_ptr_null(job_series(ctx, "accel_job_busy_seconds_total", "4242"));
	ck_assert_ptr_null(job_series(ctx, "accel_job_energy_joules_total", "4242"));
	d.busy_ratio = 0.5;
	fake_am_advance(ctx, S(1));
	ck_assert_int_eq(am_attrib_update(a, &d, p, 1), 0);
	/* the first figure covers nothing (the aggregator's integral of it
	 * starts at 0): a busy series at 0 */
	ck_assert_ptr_nonnull(job_series(ctx, "accel_job_busy_seconds_total", "4242"));
	ck_assert_uint_eq(job_u64(ctx, "accel_job_busy_seconds_total", "4242"), 0);
	fake_am_advance(ctx, S(1));
	ck_assert_int_eq(am_attrib_update(a, &d, p, 1), 0);
	ck_assert_uint_eq(job_u64(ctx, "accel_job_busy_seconds_total", "4242"),
			  500000000);
	/* a stall past the horizon (3 intervals): nothing over it, as the
	 * aggregator integrates nothing */
	fake_am_advance(ctx, S(10));
	ck_assert_int_eq(am_attrib_update(a, &d, p, 1), 0);
	ck_assert_uint_eq(job_u64(ctx, "accel_job_busy_seconds_total", "4242"),
			  500000000);
	ck_assert_ptr_null(job_series(ctx, "accel_job_energy_joules_total", "4242"));
	am_attrib_free(a);
	fake_am_free(ctx);
}
END_TEST

START_TEST(t_split_idle_and_unknown)
{
	const char *root = fixture_set_get(&trees, "procfs/node");
	struct am_ctx *ctx = split_ctx(root);
	struct am_attrib *a = am_attrib_new(ctx, 0);
	struct am_attrib_proc p[2] = {{1001, NAN, NAN}, {1008, NAN, NAN}};
	/* no energy counter: power x time */
	struct am_attrib_dev d = {"gpu0", "U0", 0, NAN, 100.0};

	ck_assert_int_eq(am_attrib_update(a, &d, p, 2), 0);
	fake_am_advance(ctx, S(1));
	ck_assert_int_eq(am_attrib_update(a, &d, p, 2), 0);
	/* idle, but held: nobody busy, the idle energy in equal shares */
	ck_assert_uint_eq(job_u64(ctx, "accel_job_busy_seconds_total", "4242"), 0);
	ck_assert_uint_eq(job_u64(ctx, "accel_job_energy_joules_total", "4242"), 50000);
	ck_assert_uint_eq(job_u64(ctx, "accel_job_energy_joules_total", "ollama.service"),
			  50000);
	/* busy, but no process says how much: equal shares too */
	d.busy_ratio = 0.5;
	fake_am_advance(ctx, S(1));
	ck_assert_int_eq(am_attrib_update(a, &d, p, 2), 0);
	ck_assert_uint_eq(job_u64(ctx, "accel_job_busy_seconds_total", "4242"),
			  250000000);
	ck_assert_uint_eq(job_u64(ctx, "accel_job_busy_seconds_total", "ollama.service"),
			  250000000);
	/* an energy counter that goes back (driver reload): nothing for it */
	d.energy_j = 5000;
	fake_am_advance(ctx, S(1));
	ck_assert_int_eq(am_attrib_update(a, &d, p, 2), 0);
	d.energy_j = 10;
	fake_am_advance(ctx, S(1));
	ck_assert_int_eq(am_attrib_update(a, &d, p, 2), 0);
	ck_assert_uint_eq(job_u64(ctx, "accel_job_energy_joules_total", "4242"), 100000);
	d.energy_j = 12;
	fake_am_advance(ctx, S(1));
	ck_assert_int_eq(am_attrib_update(a, &d, p, 2), 0);
	ck_assert_uint_eq(job_u64(ctx, "accel_job_energy_joules_total", "4242"), 101000);
	am_attrib_free(a);
	fake_am_free(ctx);
}
END_TEST

START_TEST(t_split_jobs_end_and_cap)
{
	const char *root = fixture_set_get(&trees, "procfs/node");
	struct am_ctx *ctx = split_ctx(root);
	struct am_attrib *a = am_attrib_new(ctx, 2);
	struct am_attrib_proc p[4] = {
	    {1001, 10, NAN}, {1003, 10, NAN}, {1006, 10, NAN}, {1008, 10, NAN}};
	struct am_attrib_dev d = {"gpu0", "U0", 1, 0, NAN};
	const struct fake_series *s;
	uint64_t sum;

	ck_assert_int_eq(am_attrib_update(a, &d, p, 4), 0);
	fake_am_advance(ctx, S(1));
	d.energy_j = 40;
	ck_assert_int_eq(am_attrib_update(a, &d, p, 4), 0);
	/* two jobs of their own, the others in "other" */
	ck_assert_uint_eq(job_u64(ctx, "accel_job_busy_seconds_total", "4242"),
			  250000000);
	ck_assert_uint_eq(job_u64(ctx, "accel_job_busy_seconds_total", POD1), 250000000);
	ck_assert_uint_eq(job_u64(ctx, "accel_job_busy_seconds_total", "other"),
			  500000000);
	ck_assert_uint_eq(job_u64(ctx, "accel_job_energy_joules_total", "other"), 20000);
	ck_assert_ptr_null(job_series(ctx, "accel_job_busy_seconds_total", CID2));
	s = fake_am_match(ctx, "accel_job_info", "job=\"other\",kind=\"other\"");
	ck_assert_ptr_nonnull(s);

	/* the pod ends; the docker job keeps its bucket (no flapping) */
	p[1] = p[3];
	fake_am_advance(ctx, S(1));
	ck_assert_int_eq(am_attrib_update(a, &d, p, 3), 0);
	s = job_series(ctx, "accel_job_busy_seconds_total", POD1);
	/* released: the ids are given up, their memory freed (job churn) */
	ck_assert(s && s->retired && s->released);
	s = job_series(ctx, "accel_job_info", POD1);
	ck_assert(s && s->retired && s->released);
	ck_assert_ptr_null(job_series(ctx, "accel_job_busy_seconds_total", CID2));
	sum = job_u64(ctx, "accel_job_busy_seconds_total", "4242") +
	      job_u64(ctx, "accel_job_busy_seconds_total", "other");
	ck_assert_uint_eq(sum - 750000000, 1000000000);

	/* the overflow jobs end: "other" goes too */
	fake_am_advance(ctx, S(1));
	ck_assert_int_eq(am_attrib_update(a, &d, p, 1), 0);
	s = job_series(ctx, "accel_job_busy_seconds_total", "other");
	ck_assert(s && s->retired && s->released);
	/* the device goes: all of it */
	am_attrib_forget(a, "gpu0");
	s = job_series(ctx, "accel_job_busy_seconds_total", "4242");
	ck_assert(s && s->retired);
	am_attrib_free(a);
	fake_am_free(ctx);
}
END_TEST

START_TEST(t_split_pids_vanish)
{
	char *root = fixture_tree("procfs/node"), cmd[4200];
	struct am_ctx *ctx = split_ctx(root);
	struct am_attrib *a = am_attrib_new(ctx, 0);
	struct am_attrib_proc p[3] = {{1001, 1, NAN}, {1003, 1, NAN}, {1011, 1, NAN}};
	struct am_attrib_dev d = {"gpu0", "U0", 1, NAN, NAN};
	const struct fake_series *s;

	/* 1011's cgroup file is garbage: skipped, counted */
	ck_assert_int_eq(am_attrib_update(a, &d, p, 3), 0);
	ck_assert_uint_eq(fake_am_read_errors(ctx), 1);
	/* 1003 exits between the device's list and the read of /proc */
	snprintf(cmd, sizeof(cmd), "rm -r '%s/1003'", root);
	ck_assert_int_eq(system(cmd), 0);
	fake_am_advance(ctx, S(1));
	ck_assert_int_eq(am_attrib_update(a, &d, p, 2), 0);
	s = job_series(ctx, "accel_job_busy_seconds_total", POD1);
	ck_assert(s && s->retired);
	/* the rest of the device went to who is left */
	ck_assert_uint_eq(job_u64(ctx, "accel_job_busy_seconds_total", "4242"),
			  1000000000);
	ck_assert_uint_eq(fake_am_read_errors(ctx), 1); /* a vanished pid is no error */
	/* a reused pid: 1001 is now another process (start time differs) */
	fixture_put(fixture_file(root, "1001", "stat"),
		    "1001 (bash) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 999999 0 0\n");
	fixture_put(fixture_file(root, "1001", "cgroup"),
		    "0::/system.slice/cron.service\n");
	fake_am_advance(ctx, S(1));
	ck_assert_int_eq(am_attrib_update(a, &d, p, 1), 0);
	s = job_series(ctx, "accel_job_busy_seconds_total", "4242");
	ck_assert(s && s->retired);
	ck_assert_uint_eq(job_u64(ctx, "accel_job_busy_seconds_total", "cron.service"),
			  1000000000);
	am_attrib_free(a);
	fake_am_free(ctx);
	fixture_tree_remove(root);
}
END_TEST

/* drm: the card's busy figure is read from the refused fdinfo too: the
 * line says so, not "device-level figures only". */
START_TEST(t_refused_device)
{
	const char *root = fixture_set_get(&trees, "procfs/node");
	struct am_ctx *ctx = split_ctx(root);
	struct am_attrib *a = am_attrib_new(ctx, 0);

	am_attrib_refused_device(a, "/proc/<pid>/fdinfo", -EACCES);
	ck_assert(!am_attrib_enabled(a));
	ck_assert_uint_eq(fake_am_log_count(ctx, "attribution off"), 1);
	ck_assert_uint_eq(fake_am_log_count(ctx, "are unavailable too"), 1);
	ck_assert_uint_eq(fake_am_log_count(ctx, "device-level figures only"), 0);
	am_attrib_refused_device(a, "/proc/<pid>/fdinfo", -EACCES);
	ck_assert_uint_eq(fake_am_log_count(ctx, "attribution off"), 1);
	am_attrib_free(a);
	fake_am_free(ctx);
}
END_TEST

START_TEST(t_split_no_privilege)
{
	const char *root = fixture_set_get(&trees, "procfs/node");
	struct am_ctx *ctx = split_ctx(root);
	struct am_attrib *a = am_attrib_new(ctx, 0);
	struct am_attrib_proc p[2] = {{1001, 1, NAN}, {1003, 1, NAN}};
	struct am_attrib_dev d = {"gpu0", "U0", 1, NAN, NAN};
	const struct fake_series *s;

	ck_assert_int_eq(am_attrib_update(a, &d, p, 2), 0);
	ck_assert(am_attrib_enabled(a));
	/* 1003 is reread: another user's process the agent may not read */
	fake_open_fail("/1003/stat", EACCES, true);
	fake_am_advance(ctx, S(1));
	ck_assert_int_eq(am_attrib_update(a, &d, p, 2), -EACCES);
	ck_assert(!am_attrib_enabled(a));
	ck_assert_uint_eq(fake_am_log_count(ctx, "attribution off"), 1);
	ck_assert_uint_eq(fake_am_log_count(ctx, "CAP_SYS_PTRACE"), 1);
	/* device-level only: the jobs' series are gone */
	s = job_series(ctx, "accel_job_busy_seconds_total", "4242");
	ck_assert(s && s->retired);
	fake_open_reset();
	fake_am_advance(ctx, S(1));
	ck_assert_int_eq(am_attrib_update(a, &d, p, 2), -EACCES);
	ck_assert_uint_eq(fake_am_log_count(ctx, "attribution off"), 1);
	s = job_series(ctx, "accel_job_busy_seconds_total", "4242");
	ck_assert(s && s->retired);
	am_attrib_free(a);
	fake_am_free(ctx);
}
END_TEST

/* ---- allocations: cgroup v1 device lists (tests/fixtures/cgroup_v1) ---- */

#define CGV1 TEST_SRCDIR "/fixtures/cgroup_v1"

static const struct am_alloc *find_held(const struct am_alloc *v, size_t n,
					enum am_job_kind kind, const char *job)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].wl.kind == kind && strcmp(v[i].wl.job, job) == 0)
			return &v[i];
	return NULL;
}

START_TEST(t_alloc_scan)
{
	struct am_alloc *v = NULL;
	const struct am_alloc *a;
	size_t n = 0, cap = 0;

	ck_assert_int_eq(am_alloc_scan(CGV1, &v, &n, &cap), 0);
	/* two Slurm jobs and a pod; not the docker container, nor the
	 * cgroups that allow everything */
	ck_assert_uint_eq(n, 3);
	a = find_held(v, n, AM_JOB_SLURM, "4242");
	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(a->wl.kind, AM_JOB_SLURM);
	ck_assert_str_eq(a->wl.user, "1000");
	ck_assert_str_eq(a->wl.step, ""); /* the step folded into its job */
	/* 195:255 (nvidiactl), 195:254, 195:0, /dev/null; not the block device */
	ck_assert_uint_eq(a->ndevs, 4);
	ck_assert_str_eq(a->devs[2], "195:0");
	a = find_held(v, n, AM_JOB_SLURM, "4343");
	ck_assert_ptr_nonnull(a);
	ck_assert_str_eq(a->wl.user, "1001");
	a = find_held(v, n, AM_JOB_K8S, POD1);
	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(a->wl.kind, AM_JOB_K8S);
	ck_assert_str_eq(a->wl.container, "");
	ck_assert_uint_eq(a->ndevs, 2); /* the wildcard line allocates nothing */
	free(v);
	v = NULL;
	cap = 0;
	ck_assert_int_eq(am_alloc_scan("/nonexistent", &v, &n, &cap), 0);
	ck_assert_uint_eq(n, 0);
	free(v);
}
END_TEST

/* GPU 0 runs job 4242, which also holds it; GPU 1 is held by job 4343 and
 * a pod, which run nothing: both get busy and energy series, with the idle
 * GPU's energy in equal shares, and accel_job_allocated. */
START_TEST(t_split_allocated_idle)
{
	struct am_ctx *ctx = fake_am_new("nvml", CGV1);
	struct am_attrib *a;
	struct am_attrib_proc p[1] = {{1001, 1, NAN}};
	struct am_attrib_dev d0 = {"gpu0", "U0", 0.5, 0, NAN};
	struct am_attrib_dev d1 = {"gpu1", "U1", 0, 0, NAN};
	const struct fake_series *s;

	d0.devnum = "195:0";
	d1.devnum = "195:1";
	fake_am_set_procfs(ctx, fixture_set_get(&trees, "procfs/node"));
	a = am_attrib_new(ctx, 0);
	ck_assert_int_eq(am_attrib_update(a, &d0, p, 1), 0);
	ck_assert_int_eq(am_attrib_update(a, &d1, NULL, 0), 0);
	fake_am_advance(ctx, S(1));
	d0.energy_j = 100;
	d1.energy_j = 60;
	ck_assert_int_eq(am_attrib_update(a, &d0, p, 1), 0);
	ck_assert_int_eq(am_attrib_update(a, &d1, NULL, 0), 0);
	s = fake_am_match(ctx, "accel_job_allocated",
			  "device=\"gpu0\",uuid=\"U0\",job=\"4242\"");
	ck_assert(s && s->nsamples && s->last == 1);
	s = fake_am_match(ctx, "accel_job_busy_seconds_total",
			  "device=\"gpu0\",uuid=\"U0\",job=\"4242\"");
	ck_assert(s && s->last_u64 == 500000000);
	/* gpu1: held, idle */
	s = fake_am_match(ctx, "accel_job_allocated",
			  "device=\"gpu1\",uuid=\"U1\",job=\"4343\"");
	ck_assert(s && s->last == 1);
	s = fake_am_match(ctx, "accel_job_allocated",
			  "device=\"gpu1\",uuid=\"U1\",job=\"" POD1 "\"");
	ck_assert(s && s->last == 1);
	s = fake_am_match(ctx, "accel_job_busy_seconds_total",
			  "device=\"gpu1\",uuid=\"U1\",job=\"4343\"");
	ck_assert(s && s->last_u64 == 0);
	s = fake_am_match(ctx, "accel_job_energy_joules_total",
			  "device=\"gpu1\",uuid=\"U1\",job=\"4343\"");
	ck_assert(s && s->last_u64 == 30000);
	s = fake_am_match(ctx, "accel_job_energy_joules_total",
			  "device=\"gpu1\",uuid=\"U1\",job=\"" POD1 "\"");
	ck_assert(s && s->last_u64 == 30000);
	ck_assert_ptr_nonnull(fake_am_match(ctx, "accel_job_info",
					    "job=\"4343\",kind=\"slurm\",user=\"1001\""));
	/* 4242 is not on gpu1, the docker container nowhere */
	ck_assert_ptr_null(fake_am_match(ctx, "accel_job_info",
					 "device=\"gpu1\",uuid=\"U1\",job=\"4242\""));
	ck_assert_ptr_null(fake_am_match(ctx, "accel_job_info", "kind=\"docker\""));
	/* without a device number: no allocation read */
	d1.devnum = NULL;
	fake_am_advance(ctx, S(1));
	ck_assert_int_eq(am_attrib_update(a, &d1, NULL, 0), 0);
	s = fake_am_match(ctx, "accel_job_allocated",
			  "device=\"gpu1\",uuid=\"U1\",job=\"4343\"");
	ck_assert(s && s->retired);
	am_attrib_free(a);
	fake_am_free(ctx);
}
END_TEST

/* ---- allocations: Slurm's job environment, the kubelet ---- */

extern const struct am_collector amdgpu_collector;

static const struct am_alloc_ref *find_ref(const struct am_alloc *a, enum am_alloc_by by,
					   const char *id)
{
	for (unsigned k = 0; k < a->nrefs; k++)
		if (a->refs[k].by == by && strcmp(a->refs[k].id, id) == 0)
			return &a->refs[k];
	return NULL;
}

#define ENV(lit) lit, sizeof(lit) - 1
static const struct {
	const char *env;
	size_t n;
	int rc;
	const char *job;
	enum am_alloc_by by;
	const char *ids; /* space-separated, "" none */
} env_rows[] = {
    /* the job's GRES indexes win over the step's and the runtime's list */
    {ENV("SLURM_JOB_ID=7\0SLURM_JOB_GPUS=2,3\0SLURM_STEP_GPUS=3\0"
	 "CUDA_VISIBLE_DEVICES=0,1\0"),
     0, "7", AM_ALLOC_BY_INDEX, "2 3"},
    {ENV("SLURM_JOB_ID=8\0SLURM_STEP_GPUS=5\0CUDA_VISIBLE_DEVICES=0\0"), 0, "8",
     AM_ALLOC_BY_INDEX, "5"},
    /* ranges */
    {ENV("SLURM_JOB_GPUS=0-2,6\0SLURM_JOB_ID=9\0"), 0, "9", AM_ALLOC_BY_INDEX, "0 1 2 6"},
    /* indexes of CUDA_VISIBLE_DEVICES are not the host's: UUIDs only */
    {ENV("SLURM_JOB_ID=10\0CUDA_VISIBLE_DEVICES=1,GPU-aa,MIG-bb\0"
	 "ROCR_VISIBLE_DEVICES=GPU-5f0e7c,0\0"),
     0, "10", AM_ALLOC_BY_UUID, "GPU-aa MIG-bb 00000000005f0e7c"},
    /* ROCR's GPU-<hex> is amdgpu's uuid label, the bare unique_id (16
     * lower-case hex digits); not hex, or too long: nothing */
    {ENV("SLURM_JOB_ID=15\0ROCR_VISIBLE_DEVICES=GPU-C1B4C44A1E0B4C93,GPU-xyz,"
	 "GPU-11112222333344445\0"),
     0, "15", AM_ALLOC_BY_UUID, "c1b4c44a1e0b4c93"},
    /* the job id ends the buffer (no NUL after it): read within it */
    {ENV("A=1\0SLURM_JOB_ID=123"), 0, "123", AM_ALLOC_BY_INDEX, ""},
    {ENV("A=1\0SLURM_JOB_ID=12a"), -ENOENT, "", AM_ALLOC_BY_INDEX, ""},
    {ENV("SLURM_JOB_ID=11\0CUDA_VISIBLE_DEVICES=0,1\0"), 0, "11", AM_ALLOC_BY_INDEX, ""},
    /* no job id, or one that is not a number: not Slurm's */
    {ENV("SLURM_JOB_GPUS=0\0"), -ENOENT, "", AM_ALLOC_BY_INDEX, ""},
    {ENV("SLURM_JOB_ID=12x\0SLURM_JOB_GPUS=0\0"), -ENOENT, "", AM_ALLOC_BY_INDEX, ""},
    /* a variable's name inside another's value, garbage in the list, and
     * an environment cut without its last NUL */
    {ENV("X=SLURM_JOB_GPUS=4\0SLURM_JOB_ID=13\0SLURM_JOB_GPUS=a,,1-,3-1,4\0"), 0, "13",
     AM_ALLOC_BY_INDEX, "4"},
    {ENV("SLURM_JOB_ID=14\0SLURM_JOB_GPUS=1"), 0, "14", AM_ALLOC_BY_INDEX, "1"},
};

START_TEST(t_slurm_env_table)
{
	struct am_alloc a;
	char job[32] = "", ids[256] = "";
	/* an exact-size heap copy: a read past the end is ASan's */
	char *env = malloc(env_rows[_i].n);

	ck_assert_ptr_nonnull(env);
	memcpy(env, env_rows[_i].env, env_rows[_i].n);
	memset(&a, 0, sizeof(a));
	ck_assert_int_eq(am_slurm_env_parse(env, env_rows[_i].n, job, sizeof(job), &a),
			 env_rows[_i].rc);
	free(env);
	if (env_rows[_i].rc < 0)
		return;
	ck_assert_str_eq(job, env_rows[_i].job);
	for (unsigned k = 0; k < a.nrefs; k++) {
		ck_assert_int_eq(a.refs[k].by, env_rows[_i].by);
		snprintf(ids + strlen(ids), sizeof(ids) - strlen(ids), "%s%s",
			 k ? " " : "", a.refs[k].id);
	}
	ck_assert_str_eq(ids, env_rows[_i].ids);
}
END_TEST

/* The fixture: 4242 (pid 1001) holds GPU 0 by SLURM_JOB_GPUS, 4545 (1014)
 * GPU 1, 4646 (1015) a GPU by UUID; 1009 has Slurm variables but is a
 * login session. Each environ is read once per process start; one that
 * is refused is said and skipped. */
START_TEST(t_slurm_env_scan)
{
	const char *root = fixture_set_get(&trees, "procfs/node");
	struct am_env_cache c = {0};
	struct am_alloc *v = NULL;
	const struct am_alloc *a;
	size_t n = 0, cap = 0;
	char refused[256];

	fake_open_watch("/environ");
	ck_assert_int_eq(
	    am_slurm_env_scan(root, &c, &v, &n, &cap, refused, sizeof(refused)), 0);
	ck_assert_str_eq(refused, "");
	/* the Slurm processes' only: 1001, 1014, 1015, 1002 (job 4343, no
	 * environ file) and the DRM fixture's 2001 and 2007 (job 4242, none) */
	ck_assert_uint_eq(fake_open_watched(), 6);
	ck_assert_uint_eq(n, 3);
	a = find_held(v, n, AM_JOB_SLURM, "4242");
	ck_assert(a && a->nrefs == 1 && find_ref(a, AM_ALLOC_BY_INDEX, "0"));
	ck_assert_str_eq(a->wl.user, "1000");
	a = find_held(v, n, AM_JOB_SLURM, "4545");
	ck_assert(a && a->nrefs == 1 && find_ref(a, AM_ALLOC_BY_INDEX, "1"));
	a = find_held(v, n, AM_JOB_SLURM, "4646");
	ck_assert(
	    a && a->nrefs == 1 &&
	    find_ref(a, AM_ALLOC_BY_UUID, "GPU-a110c000-0000-4000-8000-000000000001"));
	ck_assert_ptr_null(find_held(v, n, AM_JOB_SLURM, "9999"));
	/* the next scan reads no environ again, and gives the same */
	fake_open_reset();
	fake_open_watch("/environ");
	n = 0;
	ck_assert_int_eq(
	    am_slurm_env_scan(root, &c, &v, &n, &cap, refused, sizeof(refused)), 0);
	ck_assert_uint_eq(fake_open_watched(), 0);
	ck_assert_uint_eq(n, 3);
	am_env_cache_free(&c);
	/* without ptrace access to 1014: said, and its job is not read */
	fake_open_reset();
	fake_open_fail("/1014/environ", EACCES, true);
	n = 0; /* the scan appends */
	ck_assert_int_eq(
	    am_slurm_env_scan(root, &c, &v, &n, &cap, refused, sizeof(refused)), 0);
	ck_assert_str_eq(refused, fixture_file(root, "1014", "environ"));
	ck_assert_uint_eq(n, 2);
	ck_assert_ptr_null(find_held(v, n, AM_JOB_SLURM, "4545"));
	am_env_cache_free(&c);
	free(v);
}
END_TEST

/* A process tree of pids under root: pid's cgroup text and environ
 * (n bytes, NULs in it), with the stat and status of fixture pid 1015. */
static void put_proc(const char *root, const char *pid, const char *cgroup,
		     const char *env, size_t n)
{
	char path[512], cmd[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, pid);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	snprintf(cmd, sizeof(cmd),
		 "cp '%s/fixtures/procfs/node/1015/stat' "
		 "'%s/fixtures/procfs/node/1015/status' '%s/'",
		 TEST_SRCDIR, TEST_SRCDIR, path);
	ck_assert_int_eq(system(cmd), 0);
	snprintf(path, sizeof(path), "%s/%s/cgroup", root, pid);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs(cgroup, f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/%s/environ", root, pid);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	ck_assert_uint_eq(fwrite(env, 1, n, f), n);
	fclose(f);
}

static void rm_rf(const char *dir)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* The cgroup (slurmstepd's) says the job; an environ whose SLURM_JOB_ID is
 * another job claims nothing, and is said (its cgroup job named). */
START_TEST(t_slurm_env_cgroup_wins)
{
	char *root = fixture_tmpdir("attrib_env");
	struct am_env_cache c = {0};
	struct am_alloc *v = NULL;
	const struct am_alloc *a;
	size_t n = 0, cap = 0;
	char refused[256];

	put_proc(root, "3001",
		 "0::/system.slice/slurmstepd.scope/job_5000/step_0/user/task_0\n",
		 ENV("SLURM_JOB_ID=5001\0SLURM_JOB_GPUS=0\0"));
	put_proc(root, "3002",
		 "0::/system.slice/slurmstepd.scope/job_5002/step_0/user/task_0\n",
		 ENV("SLURM_JOB_ID=5002\0SLURM_JOB_GPUS=1\0"));
	ck_assert_int_eq(
	    am_slurm_env_scan(root, &c, &v, &n, &cap, refused, sizeof(refused)), 0);
	ck_assert_ptr_null(find_held(v, n, AM_JOB_SLURM, "5001"));
	ck_assert_ptr_null(find_held(v, n, AM_JOB_SLURM, "5000"));
	a = find_held(v, n, AM_JOB_SLURM, "5002");
	ck_assert(a && a->nrefs == 1 && find_ref(a, AM_ALLOC_BY_INDEX, "1"));
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(c.mismatch_job, "5000");
	ck_assert_ptr_nonnull(strstr(c.mismatch, "3001/environ says SLURM_JOB_ID=5001"));
	/* read once per process: the next scan says nothing again */
	n = 0;
	ck_assert_int_eq(
	    am_slurm_env_scan(root, &c, &v, &n, &cap, refused, sizeof(refused)), 0);
	ck_assert_str_eq(c.mismatch, "");
	ck_assert_uint_eq(n, 1);
	am_env_cache_free(&c);
	free(v);
	rm_rf(root);
	free(root);
}
END_TEST

/* A job with a cgroup v1 devices.list: the list is trusted, what its
 * processes' environment claims is not read into it. A job without one
 * (cgroup v2) is believed, but never on a device another source gives to
 * a different job. */
START_TEST(t_slurm_env_other_sources_win)
{
	char *root = fixture_tmpdir("attrib_env2");
	struct am_env_cache c = {0};
	struct am_alloc *v = NULL;
	struct am_workload wl = {0};
	struct am_attrib_dev g0 = {"nvidia0", "GPU-0", 0, NAN, NAN};
	struct am_attrib_dev g1 = {"nvidia1", "GPU-1", 0, NAN, NAN};
	const struct am_alloc *a;
	size_t n = 0, cap = 0;
	char refused[256];
	struct am_alloc *l;

	g0.devnum = "195:0";
	g1.devnum = "195:1";
	g0.have_index = g1.have_index = true;
	g1.index = 1;
	/* job 6000's devices.list: GPU 1 */
	wl.kind = AM_JOB_SLURM;
	snprintf(wl.job, sizeof(wl.job), "6000");
	ck_assert_ptr_nonnull(l = am_alloc_add(&v, &n, &cap, &wl));
	snprintf(l->devs[0], sizeof(l->devs[0]), "195:1");
	l->ndevs = 1;
	put_proc(root, "3101",
		 "0::/system.slice/slurmstepd.scope/job_6000/step_0/user/task_0\n",
		 ENV("SLURM_JOB_ID=6000\0SLURM_JOB_GPUS=0\0"));
	put_proc(root, "3102",
		 "0::/system.slice/slurmstepd.scope/job_6001/step_0/user/task_0\n",
		 ENV("SLURM_JOB_ID=6001\0SLURM_JOB_GPUS=1\0"));
	ck_assert_int_eq(
	    am_slurm_env_scan(root, &c, &v, &n, &cap, refused, sizeof(refused)), 0);
	ck_assert_uint_eq(n, 2);
	a = find_held(v, n, AM_JOB_SLURM, "6000");
	ck_assert(a && a->nrefs == 0 && !a->env);
	ck_assert(!am_alloc_counts(v, n, (size_t)(a - v), &g0));
	ck_assert(am_alloc_counts(v, n, (size_t)(a - v), &g1));
	a = find_held(v, n, AM_JOB_SLURM, "6001");
	ck_assert(a && a->env && find_ref(a, AM_ALLOC_BY_INDEX, "1"));
	/* its claim names GPU 1, which 6000's list holds: it does not count */
	ck_assert(am_alloc_holds(a, &g1));
	ck_assert(!am_alloc_counts(v, n, (size_t)(a - v), &g1));
	/* nobody else's: believed */
	v[0].ndevs = 0;
	ck_assert(am_alloc_counts(v, n, (size_t)(a - v), &g1));
	am_env_cache_free(&c);
	free(v);
	rm_rf(root);
	free(root);
}
END_TEST

/* An environment of 300 KiB (a big one, the Slurm variables at its end)
 * is read whole; one over 1 MiB is not read, and that is said (its path). */
START_TEST(t_slurm_env_large)
{
	char *root = fixture_tmpdir("attrib_env3");
	size_t big = 300u << 10, huge = (1u << 20) + 16, n = 0, cap = 0;
	char *env = malloc(huge + 64);
	struct am_env_cache c = {0};
	struct am_alloc *v = NULL;
	const struct am_alloc *a;
	char refused[256];
	int len;

	ck_assert_ptr_nonnull(env);
	memset(env, 'x', huge);
	memcpy(env, "PAD=", 4);
	len = snprintf(env + big, 64, "%cSLURM_JOB_ID=7001%cSLURM_JOB_GPUS=1%c", 0, 0, 0);
	put_proc(root, "3201",
		 "0::/system.slice/slurmstepd.scope/job_7001/step_0/user/task_0\n", env,
		 big + (size_t)len);
	memset(env + big, 'x', (size_t)len);
	len = snprintf(env + huge, 64, "%cSLURM_JOB_ID=7002%cSLURM_JOB_GPUS=0%c", 0, 0, 0);
	put_proc(root, "3202",
		 "0::/system.slice/slurmstepd.scope/job_7002/step_0/user/task_0\n", env,
		 huge + (size_t)len);
	ck_assert_int_eq(
	    am_slurm_env_scan(root, &c, &v, &n, &cap, refused, sizeof(refused)), 0);
	a = find_held(v, n, AM_JOB_SLURM, "7001");
	ck_assert(a && find_ref(a, AM_ALLOC_BY_INDEX, "1"));
	ck_assert_ptr_null(find_held(v, n, AM_JOB_SLURM, "7002"));
	ck_assert_ptr_nonnull(strstr(c.too_big, "3202/environ"));
	/* said by the scan that read it, not again */
	n = 0;
	ck_assert_int_eq(
	    am_slurm_env_scan(root, &c, &v, &n, &cap, refused, sizeof(refused)), 0);
	ck_assert_str_eq(c.too_big, "");
	free(env);
	am_env_cache_free(&c);
	free(v);
	rm_rf(root);
	free(root);
}
END_TEST

#define PODS_DIR TEST_SRCDIR "/fixtures/procfs/pods"

START_TEST(t_pod_names)
{
	struct am_pod_name *v = NULL;
	const struct am_pod_name *p;
	size_t n = 0, cap = 0;

	ck_assert_int_eq(am_pod_names_scan(PODS_DIR, &v, &n, &cap), 0);
	ck_assert_uint_eq(n, 2);
	p = am_pod_name_by_uid(v, n, POD1);
	ck_assert(p && strcmp(p->ns, "team-a") == 0 && strcmp(p->name, "train-0") == 0);
	p = am_pod_name_by_uid(v, n, "11112222-3333-4444-5555-666677778888");
	ck_assert(p && strcmp(p->ns, "ml-serving") == 0 &&
		  strcmp(p->name, "llm-7d9f-x2x") == 0);
	ck_assert_int_eq(am_pod_names_scan(PODS_DIR "/none", &v, &n, &cap), -ENOENT);
	ck_assert_uint_eq(n, 0);
	free(v);
}
END_TEST

static void pr_devs(V1__ContainerDevices *d, char *res, char **ids, size_t n)
{
	d->resource_name = res;
	d->device_ids = ids;
	d->n_device_ids = n;
}

static void pr_ctr(V1__ContainerResources *c, char *name, V1__ContainerDevices **d,
		   size_t n)
{
	c->name = name;
	c->devices = d;
	c->n_devices = n;
}

/* A List answer packed with protobuf-c from the same .proto, as the
 * kubelet's would be on the wire. */
static uint8_t *podres_msg(size_t *len)
{
	char *nv_ids[] = {"GPU-a110c000-0000-4000-8000-000000000000::1",
			  "GPU-a110c000-0000-4000-8000-000000000000::2"};
	char *amd_ids[] = {"0000:03:00.0"},
	     *asc_ids[] = {"Ascend910-3", "Ascend910-2c-100-5"};
	char *orphan_ids[] = {"GPU-ffff"};
	V1__ContainerDevices d_nv = V1__CONTAINER_DEVICES__INIT,
			     d_amd = V1__CONTAINER_DEVICES__INIT,
			     d_asc = V1__CONTAINER_DEVICES__INIT,
			     d_orphan = V1__CONTAINER_DEVICES__INIT;
	V1__ContainerDevices *c1devs[] = {&d_nv, &d_amd}, *c2devs[] = {&d_asc},
			     *c3devs[] = {&d_orphan};
	V1__ContainerResources c1 = V1__CONTAINER_RESOURCES__INIT,
			       c2 = V1__CONTAINER_RESOURCES__INIT,
			       c3 = V1__CONTAINER_RESOURCES__INIT,
			       c4 = V1__CONTAINER_RESOURCES__INIT;
	V1__ContainerResources *p1c[] = {&c1, &c2}, *p2c[] = {&c4}, *p3c[] = {&c3};
	V1__PodResources p1 = V1__POD_RESOURCES__INIT, p2 = V1__POD_RESOURCES__INIT,
			 p3 = V1__POD_RESOURCES__INIT;
	V1__PodResources *pods[] = {&p1, &p2, &p3};
	V1__ListPodResourcesResponse r = V1__LIST_POD_RESOURCES_RESPONSE__INIT;
	uint8_t *buf;

	pr_devs(&d_nv, "nvidia.com/gpu", nv_ids, 2);
	pr_devs(&d_amd, "amd.com/gpu", amd_ids, 1);
	pr_devs(&d_asc, "huawei.com/Ascend910", asc_ids, 2);
	pr_devs(&d_orphan, "nvidia.com/gpu", orphan_ids, 1);
	pr_ctr(&c1, "trainer", c1devs, 2);
	pr_ctr(&c2, "sidecar", c2devs, 1);
	pr_ctr(&c3, "x", c3devs, 1);
	pr_ctr(&c4, "web", NULL, 0); /* no devices */
	p1.name = "train-0";
	p1.namespace_ = "team-a";
	p1.n_containers = 2;
	p1.containers = p1c;
	p2.name = "llm-7d9f-x2x";
	p2.namespace_ = "ml-serving";
	p2.n_containers = 1;
	p2.containers = p2c;
	p3.name = "gone-1"; /* no log directory */
	p3.namespace_ = "team-a";
	p3.n_containers = 1;
	p3.containers = p3c;
	r.n_pod_resources = 3;
	r.pod_resources = pods;
	*len = v1__list_pod_resources_response__get_packed_size(&r);
	buf = malloc(*len + 1);
	ck_assert_ptr_nonnull(buf);
	v1__list_pod_resources_response__pack(&r, buf);
	return buf;
}

START_TEST(t_podres_decode)
{
	struct am_pod_name *names = NULL;
	struct am_alloc *v = NULL;
	const struct am_alloc *a;
	size_t nn = 0, ncap = 0, n = 0, cap = 0, len, unjoined = 9;
	uint8_t *msg = podres_msg(&len);

	ck_assert_int_eq(am_pod_names_scan(PODS_DIR, &names, &nn, &ncap), 0);
	ck_assert_int_eq(
	    am_podres_decode(msg, len, names, nn, &v, &n, &cap, &unjoined, NULL), 0);
	/* the pod with devices only; the one without a log directory counted */
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(unjoined, 1);
	a = find_held(v, n, AM_JOB_K8S, POD1);
	ck_assert_ptr_nonnull(a);
	/* two replicas of one shared GPU: one uuid */
	ck_assert_uint_eq(a->nrefs, 4);
	ck_assert_ptr_nonnull(
	    find_ref(a, AM_ALLOC_BY_UUID, "GPU-a110c000-0000-4000-8000-000000000000"));
	ck_assert_ptr_nonnull(find_ref(a, AM_ALLOC_BY_BUS_ID, "0000:03:00.0"));
	ck_assert_ptr_nonnull(find_ref(a, AM_ALLOC_BY_INDEX, "3"));
	ck_assert_ptr_nonnull(find_ref(a, AM_ALLOC_BY_INDEX, "5"));
	/* a message cut short, and garbage */
	ck_assert_int_eq(
	    am_podres_decode(msg, len - 3, names, nn, &v, &n, &cap, NULL, NULL), -EINVAL);
	msg[0] = 0xff;
	ck_assert_int_eq(am_podres_decode(msg, len, names, nn, &v, &n, &cap, NULL, NULL),
			 -EINVAL);
	free(msg);
	free(names);
	free(v);
}
END_TEST

/* train-0 of team-a re-created: two log directories (an old UID's left
 * behind), a file and a dangling link of the same shape. The one with a
 * live pod cgroup is the pod; with neither live, the pod is left out and
 * counted ambiguous. */
#define OLD_UID "aaaaaaaa-0000-4000-8000-000000000001"
#define NEW_UID "bbbbbbbb-0000-4000-8000-000000000002"
START_TEST(t_podres_recreated)
{
	char *pods = fixture_tmpdir("attrib_pods"), *cg = fixture_tmpdir("attrib_cg");
	char path[600];
	struct am_pod_name *names = NULL;
	struct am_alloc *v = NULL;
	size_t nn = 0, ncap = 0, n = 0, cap = 0, len, unjoined, ambiguous;
	uint8_t *msg = podres_msg(&len);
	FILE *f;

	snprintf(path, sizeof(path), "%s/team-a_train-0_" OLD_UID, pods);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/team-a_train-0_" NEW_UID, pods);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path),
		 "%s/team-a_train-0_cccccccc-0000-4000-8000-000000000003", pods);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fclose(f);
	snprintf(path, sizeof(path),
		 "%s/team-a_train-0_dddddddd-0000-4000-8000-000000000004", pods);
	ck_assert_int_eq(symlink("/nonexistent", path), 0);
	ck_assert_int_eq(am_pod_names_scan(pods, &names, &nn, &ncap), 0);
	ck_assert_uint_eq(nn, 2); /* directories only */
	/* the new UID's pod cgroup (systemd driver, v2) */
	snprintf(path, sizeof(path), "%s/kubepods.slice", cg);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/kubepods.slice/kubepods-besteffort.slice", cg);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path),
		 "%s/kubepods.slice/kubepods-besteffort.slice/"
		 "kubepods-besteffort-podbbbbbbbb_0000_4000_8000_000000000002.slice",
		 cg);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	am_pod_names_live(cg, names, nn);
	ck_assert_int_eq(
	    am_podres_decode(msg, len, names, nn, &v, &n, &cap, &unjoined, &ambiguous),
	    0);
	ck_assert_uint_eq(ambiguous, 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_ptr_nonnull(find_held(v, n, AM_JOB_K8S, NEW_UID));
	/* no live cgroup for either: neither is taken */
	ck_assert_int_eq(rmdir(path), 0);
	am_pod_names_live(cg, names, nn);
	n = 0;
	ck_assert_int_eq(
	    am_podres_decode(msg, len, names, nn, &v, &n, &cap, &unjoined, &ambiguous),
	    0);
	ck_assert_uint_eq(n, 0);
	ck_assert_uint_eq(ambiguous, 1);
	ck_assert_uint_eq(unjoined, 1); /* gone-1, as before */
	free(msg);
	free(names);
	free(v);
	rm_rf(pods);
	rm_rf(cg);
	free(pods);
	free(cg);
}
END_TEST

/* NVIDIA's plugin with deviceIDStrategy=index names GPUs by NVML index:
 * ids of digits only are indexes, others uuids. */
START_TEST(t_podres_index_ids)
{
	char *ids[] = {"1", "GPU-a110c000-0000-4000-8000-000000000000", "2::1"};
	V1__ContainerDevices d = V1__CONTAINER_DEVICES__INIT, *cd[] = {&d};
	V1__ContainerResources c = V1__CONTAINER_RESOURCES__INIT, *pc[] = {&c};
	V1__PodResources p = V1__POD_RESOURCES__INIT, *pods[] = {&p};
	V1__ListPodResourcesResponse r = V1__LIST_POD_RESOURCES_RESPONSE__INIT;
	struct am_pod_name *names = NULL;
	struct am_alloc *v = NULL;
	const struct am_alloc *a;
	size_t nn = 0, ncap = 0, n = 0, cap = 0, len;
	uint8_t *buf;

	pr_devs(&d, "nvidia.com/gpu", ids, 3);
	pr_ctr(&c, "trainer", cd, 1);
	p.name = "train-0";
	p.namespace_ = "team-a";
	p.n_containers = 1;
	p.containers = pc;
	r.n_pod_resources = 1;
	r.pod_resources = pods;
	len = v1__list_pod_resources_response__get_packed_size(&r);
	ck_assert_ptr_nonnull(buf = malloc(len));
	v1__list_pod_resources_response__pack(&r, buf);
	ck_assert_int_eq(am_pod_names_scan(PODS_DIR, &names, &nn, &ncap), 0);
	ck_assert_int_eq(am_podres_decode(buf, len, names, nn, &v, &n, &cap, NULL, NULL),
			 0);
	a = find_held(v, n, AM_JOB_K8S, POD1);
	ck_assert(a && a->nrefs == 3);
	ck_assert_ptr_nonnull(find_ref(a, AM_ALLOC_BY_INDEX, "1"));
	ck_assert_ptr_nonnull(find_ref(a, AM_ALLOC_BY_INDEX, "2"));
	ck_assert_ptr_nonnull(
	    find_ref(a, AM_ALLOC_BY_UUID, "GPU-a110c000-0000-4000-8000-000000000000"));
	free(buf);
	free(names);
	free(v);
}
END_TEST

/* grpc-status strictly a number; a unary answer exactly one uncompressed
 * message. */
START_TEST(t_grpc_frames)
{
	static const uint8_t one[] = {0, 0, 0, 0, 2, 0x0a, 0x00};
	static const uint8_t two[] = {0, 0, 0, 0, 2, 0x0a, 0x00, 0, 0, 0, 0, 0};
	static const uint8_t junk[] = {0, 0, 0, 0, 2, 0x0a, 0x00, 'x'};
	static const uint8_t zipped[] = {1, 0, 0, 0, 2, 0x0a, 0x00};
	static const uint8_t cut[] = {0, 0, 0, 0, 3, 0x0a, 0x00};
	char err[128];
	size_t len = 99;

	ck_assert_int_eq(am_grpc_status_parse(" 0\r\n", 4), 0);
	ck_assert_int_eq(am_grpc_status_parse("14", 2), 14);
	ck_assert_int_eq(am_grpc_status_parse(" abc\r\n", 6), -EINVAL);
	ck_assert_int_eq(am_grpc_status_parse("0x", 2), -EINVAL);
	ck_assert_int_eq(am_grpc_status_parse("", 0), -EINVAL);
	ck_assert_int_eq(am_grpc_status_parse(" \r\n", 3), -EINVAL);
	ck_assert_int_eq(am_grpc_status_parse("99999", 5), -EINVAL);
	ck_assert_int_eq(am_grpc_unframe(one, sizeof(one), &len, err, sizeof(err)), 0);
	ck_assert_uint_eq(len, 2);
	ck_assert_int_eq(am_grpc_unframe(two, sizeof(two), &len, err, sizeof(err)),
			 -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "after the message"));
	ck_assert_int_eq(am_grpc_unframe(junk, sizeof(junk), &len, err, sizeof(err)),
			 -EINVAL);
	ck_assert_int_eq(am_grpc_unframe(zipped, sizeof(zipped), &len, err, sizeof(err)),
			 -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "compressed"));
	ck_assert_int_eq(am_grpc_unframe(cut, sizeof(cut), &len, err, sizeof(err)),
			 -EINVAL);
	ck_assert_int_eq(am_grpc_unframe(one, 4, &len, err, sizeof(err)), -EINVAL);
}
END_TEST

/* A List answer over the limits is refused whole. */
START_TEST(t_podres_too_many)
{
	V1__PodResources p = V1__POD_RESOURCES__INIT, **pods;
	V1__ListPodResourcesResponse r = V1__LIST_POD_RESOURCES_RESPONSE__INIT;
	struct am_alloc *v = NULL;
	size_t n = 0, cap = 0, len;
	uint8_t *buf;

	pods = calloc(2049, sizeof(*pods));
	ck_assert_ptr_nonnull(pods);
	p.name = "x";
	p.namespace_ = "y";
	for (int i = 0; i < 2049; i++)
		pods[i] = &p;
	r.n_pod_resources = 2049;
	r.pod_resources = pods;
	len = v1__list_pod_resources_response__get_packed_size(&r);
	ck_assert_ptr_nonnull(buf = malloc(len));
	v1__list_pod_resources_response__pack(&r, buf);
	ck_assert_int_eq(am_podres_decode(buf, len, NULL, 0, &v, &n, &cap, NULL, NULL),
			 -EFBIG);
	r.n_pod_resources = 2048;
	len = v1__list_pod_resources_response__get_packed_size(&r);
	v1__list_pod_resources_response__pack(&r, buf);
	ck_assert_int_eq(am_podres_decode(buf, len, NULL, 0, &v, &n, &cap, NULL, NULL),
			 0);
	free(buf);
	free(pods);
	free(v);
}
END_TEST

/* The kubelet's answers for t_podres_keep_one: good, then failing. */
static int keep_calls, keep_bad;
static int keep_list(const char *socket, long timeout_ms, uint8_t **msg, size_t *len,
		     char *err, size_t errcap)
{
	(void)socket;
	(void)timeout_ms;
	if (keep_calls++ == 0) {
		*msg = podres_msg(len);
		return 0;
	}
	if (keep_bad) {
		/* an answer that does not parse (a truncated field) */
		ck_assert_ptr_nonnull(*msg = malloc(3));
		memcpy(*msg, "\x0a\x7f\x01", 3);
		*len = 3;
		return 0;
	}
	snprintf(err, errcap, "gRPC status 14: test");
	return -EIO;
}

/* One failed List keeps the last good answer's allocations (no churn);
 * the second drops them. _i 1: the List answers, but with bytes that do
 * not parse. */
START_TEST(t_podres_keep_one)
{
	struct am_ctx *ctx = fake_am_new("nvml", TEST_SRCDIR "/fixtures/procfs");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct am_attrib_dev d0 = {"nvidia0", "GPU-a110c000-0000-4000-8000-000000000000",
				   0, 0, NAN};
	const struct fake_series *s;
	const struct am_config *cfg;
	char yaml[256], err[256];
	struct am_attrib *a;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	const char *want = "job=\"" POD1 "\"";

	ck_assert_int_ge(fd, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "/tmp/attrib_keep_%d.sock",
		 (int)getpid());
	unlink(sa.sun_path);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	fake_am_set_procfs(ctx, fixture_set_get(&trees, "procfs/node"));
	a = am_attrib_new(ctx, 0);
	snprintf(yaml, sizeof(yaml), "{pod_resources: %s, pod_logs: %s}", sa.sun_path,
		 PODS_DIR);
	cfg = fake_am_config(ctx, &amdgpu_collector, yaml, err, sizeof(err));
	ck_assert_msg(cfg != NULL, "%s", err);
	am_attrib_configure(a, cfg);
	keep_calls = 0;
	keep_bad = _i;
	am_attrib_set_podres_list(a, keep_list);
	ck_assert_int_eq(am_attrib_update(a, &d0, NULL, 0), 0);
	s = fake_am_match(ctx, "accel_job_allocated", want);
	ck_assert(s && !s->retired && s->last == 1);
	fake_am_advance(ctx, S(31));
	ck_assert_int_eq(am_attrib_update(a, &d0, NULL, 0), 0);
	ck_assert_int_eq(keep_calls, 2);
	s = fake_am_match(ctx, "accel_job_allocated", want);
	ck_assert_msg(s && !s->retired, "one failed List dropped the pod's allocation");
	fake_am_advance(ctx, S(31));
	ck_assert_int_eq(am_attrib_update(a, &d0, NULL, 0), 0);
	ck_assert_int_eq(keep_calls, 3);
	s = fake_am_match(ctx, "accel_job_allocated", want);
	ck_assert(s && s->retired);
	ck_assert_uint_eq(fake_am_log_count(ctx, "kubelet pod-resources"), 1);
	am_attrib_free(a);
	fake_am_free(ctx);
	close(fd);
	unlink(sa.sun_path);
}
END_TEST

static int amb_list(const char *socket, long timeout_ms, uint8_t **msg, size_t *len,
		    char *err, size_t errcap)
{
	(void)socket;
	(void)timeout_ms;
	(void)err;
	(void)errcap;
	*msg = podres_msg(len);
	return 0;
}

/* A re-created pod (two log directories) on a node where no pod cgroup is
 * found at all: the warning says where they were looked for, and that a
 * non-default kubelet cgroup root is not searched. */
START_TEST(t_podres_ambiguous_no_cgroups)
{
	char *pods = fixture_tmpdir("attrib_amb_pods"), *sys = fixture_tmpdir("attrib_amb_sys");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct am_attrib_dev d0 = {"nvidia0", "GPU-a110c000-0000-4000-8000-000000000000",
				   0, 0, NAN};
	struct am_ctx *ctx = fake_am_new("nvml", sys);
	const struct am_config *cfg;
	char yaml[1024], err[256], path[600];
	struct am_attrib *a;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	ck_assert_int_ge(fd, 0);
	snprintf(path, sizeof(path), "%s/team-a_train-0_" OLD_UID, pods);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/team-a_train-0_" NEW_UID, pods);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "/tmp/attrib_amb_%d.sock", (int)getpid());
	unlink(sa.sun_path);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	fake_am_set_procfs(ctx, fixture_set_get(&trees, "procfs/node"));
	a = am_attrib_new(ctx, 0);
	snprintf(yaml, sizeof(yaml), "{pod_resources: %s, pod_logs: %s}", sa.sun_path, pods);
	cfg = fake_am_config(ctx, &amdgpu_collector, yaml, err, sizeof(err));
	ck_assert_msg(cfg != NULL, "%s", err);
	am_attrib_configure(a, cfg);
	am_attrib_set_podres_list(a, amb_list);
	ck_assert_int_eq(am_attrib_update(a, &d0, NULL, 0), 0);
	ck_assert_uint_eq(fake_am_log_count(ctx, "several directories"), 1);
	ck_assert_uint_eq(fake_am_log_count(ctx, "kubelet cgroup root"), 1);
	ck_assert_ptr_null(fake_am_match(ctx, "accel_job_allocated", "job=\"" NEW_UID "\""));
	am_attrib_free(a);
	fake_am_free(ctx);
	close(fd);
	unlink(sa.sun_path);
	rm_rf(pods);
	rm_rf(sys);
	free(pods);
	free(sys);
}
END_TEST

START_TEST(t_alloc_holds)
{
	struct am_alloc a;
	struct am_attrib_dev d = {"nvidia1", "GPU-b", 0, NAN, NAN};

	memset(&a, 0, sizeof(a));
	ck_assert(!am_alloc_holds(&a, &d));
	am_alloc_add_ref(&a, AM_ALLOC_BY_INDEX, "1");
	ck_assert(!am_alloc_holds(&a, &d)); /* index not known */
	d.have_index = true;
	d.index = 1;
	ck_assert(am_alloc_holds(&a, &d));
	d.index = 0;
	ck_assert(!am_alloc_holds(&a, &d));
	am_alloc_add_ref(&a, AM_ALLOC_BY_BUS_ID, "0000:2a:00.0");
	d.bus_id = "00000000:2A:00.0"; /* NVML's shape */
	ck_assert(am_alloc_holds(&a, &d));
	d.bus_id = "0000:2b:00.0";
	ck_assert(!am_alloc_holds(&a, &d));
	am_alloc_add_ref(&a, AM_ALLOC_BY_UUID, "GPU-b");
	ck_assert(am_alloc_holds(&a, &d));
	/* duplicates are one */
	am_alloc_add_ref(&a, AM_ALLOC_BY_UUID, "GPU-b");
	ck_assert_uint_eq(a.nrefs, 3);
}
END_TEST

/* A cgroup v2 node (no device lists): Slurm's job environments say that
 * 4545 and 4646 hold GPU 1, which runs nothing: idle but held, its energy
 * theirs; 4242 holds GPU 0, where it runs. Pods get their namespace and
 * name from the log directory. */
START_TEST(t_split_env_allocated)
{
	struct am_ctx *ctx = fake_am_new("nvml", TEST_SRCDIR "/fixtures/procfs");
	struct am_attrib *a;
	struct am_attrib_proc p[2] = {{1001, 1, NAN}, {1003, 1, NAN}};
	struct am_attrib_dev d0 = {"nvidia0", "GPU-a110c000-0000-4000-8000-000000000000",
				   0.5, 0, NAN};
	struct am_attrib_dev d1 = {"nvidia1", "GPU-a110c000-0000-4000-8000-000000000001",
				   0, 0, NAN};
	const struct fake_series *s;
	const struct am_config *cfg;
	char err[256];

	d0.have_index = d1.have_index = true;
	d1.index = 1;
	fake_am_set_procfs(ctx, fixture_set_get(&trees, "procfs/node"));
	a = am_attrib_new(ctx, 0);
	cfg = fake_am_config(ctx, &amdgpu_collector,
			     "{pod_resources: '', pod_logs: " PODS_DIR "}", err,
			     sizeof(err));
	ck_assert_msg(cfg != NULL, "%s", err);
	am_attrib_configure(a, cfg);
	ck_assert_int_eq(am_attrib_update(a, &d0, p, 2), 0);
	ck_assert_int_eq(am_attrib_update(a, &d1, NULL, 0), 0);
	fake_am_advance(ctx, S(1));
	d0.energy_j = 100;
	d1.energy_j = 60;
	ck_assert_int_eq(am_attrib_update(a, &d0, p, 2), 0);
	ck_assert_int_eq(am_attrib_update(a, &d1, NULL, 0), 0);
	s = fake_am_match(ctx, "accel_job_allocated",
			  "device=\"nvidia0\",uuid=\"GPU-a110c000-0000-4000-8000-"
			  "000000000000\",job=\"4242\"");
	ck_assert(s && s->last == 1);
	/* the pod runs on GPU 0 without holding it by any source read */
	ck_assert_ptr_null(fake_am_match(ctx, "accel_job_allocated", "job=\"" POD1 "\""));
	s = fake_am_match(ctx, "accel_job_info", "job=\"" POD1 "\"");
	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(fake_am_label(ctx, s, "namespace"), "team-a");
	ck_assert_str_eq(fake_am_label(ctx, s, "pod"), "train-0");
	s = fake_am_match(ctx, "accel_job_info", "job=\"4242\"");
	ck_assert(s && strcmp(fake_am_label(ctx, s, "namespace"), "") == 0);
	for (int k = 0; k < 2; k++) {
		const char *job = k ? "4646" : "4545";
		char sel[160];

		snprintf(sel, sizeof(sel), "device=\"nvidia1\",uuid=\"%s\",job=\"%s\"",
			 d1.uuid, job);
		s = fake_am_match(ctx, "accel_job_allocated", sel);
		ck_assert_msg(s && s->last == 1, "%s not held", job);
		s = fake_am_match(ctx, "accel_job_busy_seconds_total", sel);
		ck_assert(s && s->last_u64 == 0);
		s = fake_am_match(ctx, "accel_job_energy_joules_total", sel);
		ck_assert(s && s->last_u64 == 30000);
	}
	/* the login session with Slurm variables holds nothing */
	ck_assert_ptr_null(fake_am_match(ctx, "accel_job_info", "job=\"9999\""));
	ck_assert_ptr_null(fake_am_match(ctx, "accel_job_info",
					 "device=\"nvidia1\",uuid=\"GPU-a110c000-0000-"
					 "4000-8000-000000000001\",job=\"4242\""));
	am_attrib_free(a);
	fake_am_free(ctx);
}
END_TEST

/* The environ of a job's process refused: said once, the rest goes on. */
START_TEST(t_split_env_refused)
{
	struct am_ctx *ctx = fake_am_new("nvml", TEST_SRCDIR "/fixtures/procfs");
	struct am_attrib *a;
	struct am_attrib_dev d1 = {"nvidia1", "U1", 0, 0, NAN};

	d1.have_index = true;
	d1.index = 1;
	fake_open_fail("/1014/environ", EACCES, true);
	fake_am_set_procfs(ctx, fixture_set_get(&trees, "procfs/node"));
	a = am_attrib_new(ctx, 0);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(am_attrib_update(a, &d1, NULL, 0), 0);
		fake_am_advance(ctx, S(31));
	}
	ck_assert_uint_eq(fake_am_log_count(ctx, "1014/environ: Permission denied"), 1);
	ck_assert_ptr_null(fake_am_match(ctx, "accel_job_allocated", "job=\"4545\""));
	ck_assert(am_attrib_enabled(a));
	am_attrib_free(a);
	fake_am_free(ctx);
}
END_TEST

/* A kubelet socket that refuses (bound, not listening): said once over
 * scans, no allocation from it, the other sources go on; once it is gone,
 * that is said and nothing more. */
START_TEST(t_podres_failing)
{
	struct am_ctx *ctx = fake_am_new("nvml", TEST_SRCDIR "/fixtures/procfs");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct am_attrib_dev d1 = {"nvidia1", "U1", 0, 0, NAN};
	const struct am_config *cfg;
	char yaml[256], err[256];
	struct am_attrib *a;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	ck_assert_int_ge(fd, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "/tmp/attrib_kubelet_%d.sock",
		 (int)getpid());
	unlink(sa.sun_path);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	d1.have_index = true;
	d1.index = 1;
	fake_am_set_procfs(ctx, fixture_set_get(&trees, "procfs/node"));
	a = am_attrib_new(ctx, 0);
	snprintf(yaml, sizeof(yaml), "{pod_resources: %s, pod_logs: %s}", sa.sun_path,
		 PODS_DIR);
	cfg = fake_am_config(ctx, &amdgpu_collector, yaml, err, sizeof(err));
	ck_assert_msg(cfg != NULL, "%s", err);
	am_attrib_configure(a, cfg);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(am_attrib_update(a, &d1, NULL, 0), 0);
		fake_am_advance(ctx, S(31));
	}
	ck_assert_uint_eq(fake_am_log_count(ctx, "kubelet pod-resources"), 1);
	ck_assert_uint_eq(fake_am_log_count(ctx, "until it answers"), 1);
	ck_assert_uint_eq(fake_am_read_errors(ctx), 3);
	ck_assert_ptr_null(fake_am_match(ctx, "accel_job_info", "kind=\"kubernetes\""));
	/* Slurm's environment still says who holds GPU 1 */
	ck_assert_ptr_nonnull(fake_am_match(ctx, "accel_job_allocated", "job=\"4545\""));
	close(fd);
	unlink(sa.sun_path);
	ck_assert_int_eq(am_attrib_update(a, &d1, NULL, 0), 0);
	fake_am_advance(ctx, S(31));
	ck_assert_int_eq(am_attrib_update(a, &d1, NULL, 0), 0);
	ck_assert_uint_eq(fake_am_log_count(ctx, "is gone"), 1);
	ck_assert_uint_eq(fake_am_read_errors(ctx), 3);
	am_attrib_free(a);
	fake_am_free(ctx);
}
END_TEST

/* ---- a DRM collector: amdgpu on the radeon sysfs fixture ---- */

extern const struct am_collector amdgpu_collector;

static void put_amd_client(const char *root, const char *pid, const char *rel,
			   unsigned id, unsigned long gfx)
{
	char text[512];

	snprintf(text, sizeof(text),
		 "pos:\t0\ndrm-driver:\tamdgpu\ndrm-pdev:\t0000:03:00.0\n"
		 "drm-client-id:\t%u\ndrm-memory-vram:\t%s\ndrm-engine-gfx:\t%lu ns\n",
		 id, id == 17 ? "1048576 KiB" : "524288 KiB", gfx);
	fixture_put(fixture_file(root, pid, rel), text);
}

/* amdgpu on the radeon sysfs with procfs at root, started; its state. */
static void *amdgpu_start(struct am_ctx *ctx, const char *root, const char *yaml)
{
	const struct am_config *cfg;
	char err[256] = "";
	void *st = NULL;

	fake_am_set_procfs(ctx, root);
	cfg = fake_am_config(ctx, &amdgpu_collector, yaml, err, sizeof(err));
	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_int_eq(amdgpu_collector.init(ctx, cfg, &st), 0);
	return st;
}

/* radeon's card0 (0000:03:00.0, 23 % busy) runs client 17 of the Slurm job
 * (pids 2001 and its child 2007) and client 18 of the pod (pid 2002): the
 * busy seconds go 3:1 by their engine time between the polls, and add up
 * to the card's. */
/* A job that only holds the device gets none of its busy time, also when
 * the running job's weight is unknown (NVML without per-process samples);
 * one failed energy read loses nothing: the next good one covers it. */
START_TEST(t_split_held_idle_no_busy)
{
	struct am_ctx *ctx = fake_am_new("nvml", CGV1);
	struct am_attrib *a;
	struct am_attrib_proc p[1] = {{1001, NAN, NAN}}; /* runs, no weight known */
	struct am_attrib_dev d1 = {"gpu1", "U1", 0.9, 0, NAN};
	const struct fake_series *s;

	d1.devnum = "195:1";
	fake_am_set_procfs(ctx, fixture_set_get(&trees, "procfs/node"));
	a = am_attrib_new(ctx, 0);
	ck_assert_int_eq(am_attrib_update(a, &d1, p, 1), 0);
	fake_am_advance(ctx, S(1));
	d1.energy_j = 90;
	ck_assert_int_eq(am_attrib_update(a, &d1, p, 1), 0);
	s = fake_am_match(ctx, "accel_job_busy_seconds_total",
			  "device=\"gpu1\",uuid=\"U1\",job=\"4242\"");
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(s->last_u64, 900000000);
	s = fake_am_match(ctx, "accel_job_busy_seconds_total",
			  "device=\"gpu1\",uuid=\"U1\",job=\"4343\"");
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(s->last_u64, 0);
	s = fake_am_match(ctx, "accel_job_busy_seconds_total",
			  "device=\"gpu1\",uuid=\"U1\",job=\"" POD1 "\"");
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(s->last_u64, 0);
	am_attrib_free(a);
	fake_am_free(ctx);
}
END_TEST

START_TEST(t_split_energy_gap)
{
	const char *root = fixture_set_get(&trees, "procfs/node");
	struct am_ctx *ctx = split_ctx(root);
	struct am_attrib *a = am_attrib_new(ctx, 0);
	struct am_attrib_proc p[1] = {{1001, 1, NAN}};
	struct am_attrib_dev d = {"gpu0", "U0", 0.5, 100, NAN};
	const double e[] = {200, NAN, 400, 500};

	ck_assert_int_eq(am_attrib_update(a, &d, p, 1), 0);
	for (size_t i = 0; i < sizeof(e) / sizeof(e[0]); i++) {
		fake_am_advance(ctx, S(1));
		d.energy_j = e[i];
		ck_assert_int_eq(am_attrib_update(a, &d, p, 1), 0);
	}
	/* the device grew 400 J while the job ran: all of it is the job's */
	ck_assert_uint_eq(job_u64(ctx, "accel_job_energy_joules_total", "4242"), 400000);
	am_attrib_free(a);
	fake_am_free(ctx);
}
END_TEST

START_TEST(t_amdgpu_drm_split)
{
	char *root = fixture_tree("procfs/node");
	struct am_ctx *ctx = fake_am_new("amdgpu", TEST_SRCDIR "/fixtures/amdgpu/radeon");
	void *st = amdgpu_start(ctx, root, "{pcie_interval: 0s}");
	const struct fake_series *s;
	double slurm, pod;

	ck_assert_int_eq(amdgpu_collector.poll(ctx, st), 0);
	/* 3 ms and 1 ms more engine time (client 17 had 6 ms, 18 3 ms) */
	put_amd_client(root, "2001", "fdinfo/5", 17, 6000000 + 3000000);
	put_amd_client(root, "2001", "fdinfo/6", 17, 6000000 + 3000000);
	put_amd_client(root, "2007", "fdinfo/5", 17, 6000000 + 3000000);
	put_amd_client(root, "2002", "fdinfo/7", 18, 3000000 + 1000000);
	fake_am_advance(ctx, S(1));
	ck_assert_int_eq(amdgpu_collector.poll(ctx, st), 0);
	s = fake_am_match(ctx, "accel_job_busy_seconds_total",
			  "job=\"4242\",kind=\"slurm\"");
	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(fake_am_label(ctx, s, "device"), "amdgpu0");
	slurm = fake_am_scaled(ctx, s);
	s = fake_am_match(ctx, "accel_job_busy_seconds_total", "job=\"" POD1 "\"");
	ck_assert_ptr_nonnull(s);
	pod = fake_am_scaled(ctx, s);
	ck_assert_double_eq_tol(slurm, 0.1725, 1e-9);
	ck_assert_double_eq_tol(pod, 0.0575, 1e-9);
	ck_assert_double_eq_tol(slurm + pod, 0.23, 1e-9);
	s = fake_am_match(ctx, "accel_job_memory_used_bytes", "job=\"4242\"");
	ck_assert_ptr_nonnull(s);
	ck_assert_double_eq(s->last, 1073741824.0); /* one client, three fds */
	/* the other card has no client; the i915 and xe clients are not on
	 * an amdgpu card */
	ck_assert_ptr_null(fake_am_match(ctx, "accel_job_info", "device=\"amdgpu1\""));
	ck_assert_ptr_null(fake_am_match(ctx, "accel_job_info", "kind=\"systemd\""));
	/* the pod's process exits */
	{
		char cmd[4200];

		snprintf(cmd, sizeof(cmd), "rm -r '%s/2002'", root);
		ck_assert_int_eq(system(cmd), 0);
	}
	fake_am_advance(ctx, S(1));
	ck_assert_int_eq(amdgpu_collector.poll(ctx, st), 0);
	s = fake_am_match(ctx, "accel_job_busy_seconds_total", "job=\"" POD1 "\"");
	ck_assert(s && s->retired);
	amdgpu_collector.fini(ctx, st);
	fake_am_free(ctx);
	fixture_tree_remove(root);
}
END_TEST

/* amdgpu's card0 (226:0) in the device list of Slurm job 4343, which runs
 * nothing on it: allocated, beside the jobs that run there. */
START_TEST(t_amdgpu_allocated)
{
	char tmp[] = "/tmp/attrib_amd_XXXXXX", cmd[1024];
	struct am_ctx *ctx;
	const struct fake_series *s;
	void *st;

	ck_assert_ptr_nonnull(mkdtemp(tmp));
	snprintf(cmd, sizeof(cmd),
		 "cp -R '%s/fixtures/amdgpu/radeon/.' '%s/fixtures/cgroup_v1/.' '%s/' && "
		 "chmod -R u+w '%s' && printf 'c 226:0 rw\\n' > "
		 "'%s/fs/cgroup/devices/slurm/uid_1001/job_4343/devices.list'",
		 TEST_SRCDIR, TEST_SRCDIR, tmp, tmp, tmp);
	ck_assert_int_eq(system(cmd), 0);
	ctx = fake_am_new("amdgpu", tmp);
	st = amdgpu_start(ctx, fixture_set_get(&trees, "procfs/node"),
			  "{pcie_interval: 0s}");
	ck_assert_int_eq(amdgpu_collector.poll(ctx, st), 0);
	fake_am_advance(ctx, S(1));
	ck_assert_int_eq(amdgpu_collector.poll(ctx, st), 0);
	s = fake_am_match(ctx, "accel_job_allocated",
			  "device=\"amdgpu0\",uuid=\"0000:03:00.0\",job=\"4343\"");
	ck_assert(s && s->nsamples && s->last == 1);
	/* the job that runs there is not in a list: not allocated */
	ck_assert_ptr_null(fake_am_match(ctx, "accel_job_allocated", "job=\"" POD1 "\""));
	ck_assert_ptr_nonnull(fake_am_match(ctx, "accel_job_info", "job=\"" POD1 "\""));
	amdgpu_collector.fini(ctx, st);
	fake_am_free(ctx);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* The radeon sysfs copied into tmp (a mkdtemp template), then changed by
 * shell command then (run in it); amdgpu started there and polled twice,
 * a second apart. Its state; *ctx the context. */
static void *amdgpu_copy_start(char *tmp, const char *then, struct am_ctx **ctx)
{
	char cmd[1024];
	void *st;

	ck_assert_ptr_nonnull(mkdtemp(tmp));
	snprintf(cmd, sizeof(cmd),
		 "cp -R '%s/fixtures/amdgpu/radeon/.' '%s/' && chmod -R u+w '%s' && "
		 "cd '%s' && %s",
		 TEST_SRCDIR, tmp, tmp, tmp, then);
	ck_assert_int_eq(system(cmd), 0);
	*ctx = fake_am_new("amdgpu", tmp);
	st = amdgpu_start(*ctx, fixture_set_get(&trees, "procfs/node"),
			  "{pcie_interval: 0s}");
	ck_assert_int_eq(amdgpu_collector.poll(*ctx, st), 0);
	fake_am_advance(*ctx, S(1));
	ck_assert_int_eq(amdgpu_collector.poll(*ctx, st), 0);
	return st;
}

/* card0 a non-amdgpu device (here the fixture's i915, as a BMC's VGA
 * would be) and the AMD GPU card1: its Slurm GRES index is 0, its ordinal
 * among the amdgpu cards, not its DRM number. Job 4242's environ holds
 * GRES index 0, 4545's index 1. */
START_TEST(t_amdgpu_gres_index)
{
	char tmp[] = "/tmp/attrib_amdidx_XXXXXX", cmd[1024];
	struct am_ctx *ctx;
	void *st = amdgpu_copy_start(
	    tmp, "cd class/drm && mv card0 cardX && mv card1 card0 && mv cardX card1", &ctx);

	ck_assert_ptr_nonnull(
	    fake_am_match(ctx, "accel_job_allocated", "job=\"4242\",kind=\"slurm\""));
	ck_assert_ptr_null(
	    fake_am_match(ctx, "accel_job_allocated", "job=\"4545\",kind=\"slurm\""));
	amdgpu_collector.fini(ctx, st);
	fake_am_free(ctx);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* The GRES index counts the cards present: the card below it by PCI
 * address gone, 0000:03:00.0 is GRES 0 (job 4242's), no longer 1. */
START_TEST(t_amdgpu_gres_index_gone)
{
	char tmp[] = "/tmp/attrib_amdgone_XXXXXX", cmd[1024];
	struct am_ctx *ctx;
	void *st = amdgpu_copy_start(
	    tmp,
	    "cd devices/pci0000:00 && cp -R 0000:03:00.0 0000:02:00.0 && "
	    "sed -i s/03:00.0/02:00.0/ 0000:02:00.0/uevent && "
	    "mkdir ../../class/drm/card2 && echo 226:2 > ../../class/drm/card2/dev && "
	    "ln -s ../../../devices/pci0000:00/0000:02:00.0 ../../class/drm/card2/device",
	    &ctx);

	ck_assert_ptr_nonnull(fake_am_match(ctx, "accel_job_allocated",
					    "uuid=\"0000:03:00.0\",job=\"4545\""));
	ck_assert_ptr_null(fake_am_match(ctx, "accel_job_allocated",
					 "uuid=\"0000:03:00.0\",job=\"4242\""));
	snprintf(cmd, sizeof(cmd), "rm -rf '%s/class/drm/card2'", tmp);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_ge(amdgpu_collector.rescan(ctx, st), 0);
	fake_am_advance(ctx, S(31));
	ck_assert_int_eq(amdgpu_collector.poll(ctx, st), 0);
	ck_assert_ptr_nonnull(fake_am_match(ctx, "accel_job_allocated",
					    "uuid=\"0000:03:00.0\",job=\"4242\""));
	amdgpu_collector.fini(ctx, st);
	fake_am_free(ctx);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(t_amdgpu_drm_refused)
{
	struct am_ctx *ctx = fake_am_new("amdgpu", TEST_SRCDIR "/fixtures/amdgpu/radeon");
	void *st = amdgpu_start(ctx, fixture_set_get(&trees, "procfs/node"),
				"{pcie_interval: 0s}");

	fake_open_fail("/2002/fd", EACCES, true);
	ck_assert_int_eq(amdgpu_collector.poll(ctx, st), 0);
	fake_am_advance(ctx, S(1));
	ck_assert_int_eq(amdgpu_collector.poll(ctx, st), 0);
	ck_assert_uint_eq(fake_am_log_count(ctx, "attribution off"), 1);
	ck_assert_uint_eq(fake_am_log_count(ctx, "CAP_DAC_READ_SEARCH"), 1);
	/* device-level figures go on */
	ck_assert_ptr_nonnull(fake_am_match(ctx, "accel_busy_seconds_total", "amdgpu0"));
	ck_assert_ptr_null(fake_am_match(ctx, "accel_job_info", "job=\"4242\""));
	amdgpu_collector.fini(ctx, st);
	fake_am_free(ctx);
}
END_TEST

/* the attribution off: no scan of /proc at all */
START_TEST(t_amdgpu_attribution_off)
{
	struct am_ctx *ctx = fake_am_new("amdgpu", TEST_SRCDIR "/fixtures/amdgpu/radeon");
	void *st = amdgpu_start(ctx, fixture_set_get(&trees, "procfs/node"),
				"{pcie_interval: 0s, attribution: false}");

	fake_open_watch("/fdinfo/");
	ck_assert_int_eq(amdgpu_collector.poll(ctx, st), 0);
	fake_am_advance(ctx, S(1));
	ck_assert_int_eq(amdgpu_collector.poll(ctx, st), 0);
	ck_assert_uint_eq(fake_open_watched(), 0);
	ck_assert_ptr_null(fake_am_family(ctx, "accel_job_info"));
	amdgpu_collector.fini(ctx, st);
	fake_am_free(ctx);
}
END_TEST

/* Built once, before the forked tests (fixture_tree.h). */
static void trees_build(void)
{
	fixture_set_get(&trees, "procfs/node");
}

static void trees_clear(void)
{
	fixture_set_clear(&trees);
}

static Suite *attrib_suite(void)
{
	Suite *s = suite_create("attrib");
	TCase *w = tcase_create("workload"), *d = tcase_create("drm"),
	      *x = tcase_create("split");

	tcase_add_unchecked_fixture(w, trees_build, trees_clear);
	tcase_add_checked_fixture(w, setup, teardown);
	tcase_add_loop_test(w, t_cgroup_table, 0, sizeof(cg_rows) / sizeof(cg_rows[0]));
	tcase_add_loop_test(w, t_fixture_pids, 0, sizeof(pid_rows) / sizeof(pid_rows[0]));
	tcase_add_test(w, t_refused_reads);
	suite_add_tcase(s, w);
	tcase_add_unchecked_fixture(d, trees_build, trees_clear);
	tcase_add_checked_fixture(d, setup, teardown);
	tcase_add_test(d, t_drm_scan_fixture);
	tcase_add_test(d, t_drm_scan_refused);
	tcase_add_test(d, t_drm_scan_skips);
	tcase_add_loop_test(d, t_fdinfo_table, 0,
			    sizeof(fdinfo_rows) / sizeof(fdinfo_rows[0]));
	tcase_add_test(d, t_pci_norm);
	suite_add_tcase(s, d);
	tcase_add_unchecked_fixture(x, trees_build, trees_clear);
	tcase_add_checked_fixture(x, setup, teardown);
	tcase_add_test(x, t_split_shared_gpu);
	tcase_add_test(x, t_split_idle_and_unknown);
	tcase_add_test(x, t_split_no_figures);
	tcase_add_test(x, t_split_jobs_end_and_cap);
	tcase_add_test(x, t_split_pids_vanish);
	tcase_add_test(x, t_split_no_privilege);
	tcase_add_test(x, t_refused_device);
	tcase_add_test(x, t_alloc_scan);
	tcase_add_test(x, t_split_held_idle_no_busy);
	tcase_add_test(x, t_split_energy_gap);
	tcase_add_test(x, t_split_allocated_idle);
	tcase_add_loop_test(x, t_slurm_env_table, 0,
			    sizeof(env_rows) / sizeof(env_rows[0]));
	tcase_add_test(x, t_slurm_env_scan);
	tcase_add_test(x, t_pod_names);
	tcase_add_test(x, t_podres_decode);
	tcase_add_test(x, t_podres_recreated);
	tcase_add_test(x, t_grpc_frames);
	tcase_add_test(x, t_podres_index_ids);
	tcase_add_test(x, t_podres_too_many);
	tcase_add_loop_test(x, t_podres_keep_one, 0, 2);
	tcase_add_test(x, t_podres_ambiguous_no_cgroups);
	tcase_add_test(x, t_slurm_env_cgroup_wins);
	tcase_add_test(x, t_slurm_env_other_sources_win);
	tcase_add_test(x, t_slurm_env_large);
	tcase_add_test(x, t_alloc_holds);
	tcase_add_test(x, t_split_env_allocated);
	tcase_add_test(x, t_split_env_refused);
	tcase_add_test(x, t_podres_failing);
	tcase_add_test(x, t_amdgpu_drm_split);
	tcase_add_test(x, t_amdgpu_drm_refused);
	tcase_add_test(x, t_amdgpu_allocated);
	tcase_add_test(x, t_amdgpu_gres_index);
	tcase_add_test(x, t_amdgpu_gres_index_gone);
	tcase_add_test(x, t_amdgpu_attribution_off);
	tcase_set_timeout(x, 30);
	suite_add_tcase(s, x);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(attrib_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
