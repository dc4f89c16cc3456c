/* accelmon attribution helpers (issue 17): who uses an accelerator. Part of
 * the collector SDK (agent/sdk/), public so plugins attribute the same way.
 *  - workloads: a process's job from /proc/<pid>/cgroup (Slurm, Kubernetes,
 *    docker/podman, systemd, else the user), the one set of parsing rules;
 *  - DRM clients: per-process engine time and memory from the standard DRM
 *    fdinfo keys (amdgpu, i915, xe), deduplicated by client id;
 *  - the split: a device's busy seconds, memory and energy per job, as the
 *    accel_job_* families, with one rule for every collector
 *    (collectors/attribution.md).
 */
#ifndef ACCELMON_ATTRIB_H
#define ACCELMON_ATTRIB_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "accelmon/collector.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- workloads ---- */

/* Ranked by how specific they are: where cgroup v1 hierarchies disagree,
 * the most specific one wins (a Slurm step's freezer over its systemd
 * scope). */
enum am_job_kind {
	AM_JOB_USER = 0, /* none of the below: the process's real uid */
	AM_JOB_SYSTEMD,	 /* a system unit: job = "ollama.service" */
	AM_JOB_PODMAN,	 /* libpod-<id>.scope: job = container id */
	AM_JOB_DOCKER,	 /* docker-<id>.scope or /docker/<id>: container id */
	AM_JOB_K8S,	 /* a Kubernetes pod: job = pod UID */
	AM_JOB_SLURM,	 /* a Slurm job: job = job id, step = the step */
	AM_JOB__COUNT
};

#define AM_JOB_ID_MAX 128

struct am_workload {
	enum am_job_kind kind;
	char job[AM_JOB_ID_MAX]; /* the `job` label */
	char step[32];		 /* Slurm: "0", "batch", "extern"; else "" */
	char container[80];	 /* Kubernetes, docker, podman: container id */
	char user[16];		 /* real uid in decimal; "" when unknown */
};

/* "user", "systemd", "podman", "docker", "kubernetes", "slurm". */
const char *am_job_kind_name(enum am_job_kind k);

/* Classify the text of a /proc/<pid>/cgroup file (n bytes; cgroup v2
 * "0::/path", v1 "ID:controllers:/path" lines, or both). Sets kind, job,
 * step and container (user is left as it is; kind AM_JOB_USER leaves job
 * empty unless the path names the user's slice). 0, or -EINVAL when no
 * line has the ID:controllers:/path shape. */
int am_workload_parse_cgroup(const char *text, size_t n, struct am_workload *out);

/* The workload of pid under procfs ("/proc" or --procfs): cgroup, then the
 * real uid from status (the job of a plain process is its uid). 0;
 * -ENOENT or -ESRCH when the process is gone; -EACCES or -EPERM when the
 * agent may not read it (see collectors/attribution.md); -EINVAL for a
 * file that does not parse. start (may be NULL) gets the process's start
 * time in clock ticks (/proc/<pid>/stat field 22), which tells a reused
 * pid from the old one. */
int am_workload_of_pid(const char *procfs, pid_t pid, struct am_workload *out,
		       uint64_t *start);

/* Start time (clock ticks after boot) of pid; 0 or as above. */
int am_proc_start_time(const char *procfs, pid_t pid, uint64_t *start);

/* ---- DRM clients (fdinfo) ---- */

struct am_drm_client {
	pid_t pid;	       /* lowest pid holding the client's file */
	uint64_t id;	       /* drm-client-id: unique per device */
	char driver[16];       /* drm-driver */
	char pdev[32];	       /* drm-pdev, normalised (am_pci_norm_bus_id) */
	uint64_t engine_ns;    /* sum of drm-engine-<name> (ns) over engines */
	uint64_t cycles;       /* xe: sum of drm-cycles-<class> */
	uint64_t total_cycles; /* xe: largest drm-total-cycles-<class> */
	uint64_t mem_bytes;    /* device memory: resident vram / local regions */
	bool have_engine, have_cycles, have_mem;
};

/* Parse one fdinfo file. 0; -ENOENT when it is not a DRM file (no
 * drm-driver); -EINVAL when a DRM file lacks drm-client-id or drm-pdev or
 * has a number that does not parse. */
int am_drm_fdinfo_parse(const char *text, size_t n, struct am_drm_client *out);

/* Processes without a DRM fd, left out of scans for a while: listing the
 * fds of every process of a busy node at every poll costs more than the
 * attribution is worth (a process that opens the GPU later is seen up to
 * skip_ns late). Zero it and set skip_ns; am_drm_skip_free releases it. */
struct am_drm_skip {
	pid_t pid;
	int64_t until_ns;
};
struct am_drm_skip_set {
	int64_t skip_ns;
	struct am_drm_skip *old, *cur;
	size_t nold, ncur, capold, capcur;
};
void am_drm_skip_free(struct am_drm_skip_set *sk);

/* The DRM clients of every process under procfs: /proc/<pid>/fd links to
 * /dev/dri/ are read through /proc/<pid>/fdinfo/<fd>. sk (NULL: scan every
 * process) and now_ns (poll time) leave out the processes that had no DRM
 * fd at a scan within sk->skip_ns. Reuses *v (grown with realloc, capacity
 * *cap); *n gets the count, deduplicated by (pdev, client id). A process or
 * fd that vanishes is skipped. 0; -EACCES when other users' processes
 * cannot be read (the first one refused; the clients seen are still
 * returned); -ENOMEM. */
int am_drm_scan(const char *procfs, struct am_drm_skip_set *sk, int64_t now_ns,
		struct am_drm_client **v, size_t *n, size_t *cap);

struct am_attrib_proc;

/* What a device's clients read at the previous poll (the caller keeps one
 * per device, zeroed at first). */
struct am_drm_prev {
	struct am_drm_seen {
		uint64_t id, engine_ns, cycles, total_cycles;
		bool have, seen;
	} * e;
	size_t n, cap;
};

/* The clients of scan v[0..n) on the device at bus_id (normalised, as
 * sysfs names it) as processes for am_attrib_update, into out[0..cap): the
 * weight is the client's engine time since the previous call (xe: its
 * share of the GPU timestamp's cycles, in the same unit for all of a
 * device's clients), 0 the first time a client is seen; memory where the
 * driver says. prev is updated (clients gone are dropped). Returns the
 * count, or -ENOMEM. */
ssize_t am_drm_procs(const struct am_drm_client *v, size_t n, const char *bus_id,
		     struct am_drm_prev *prev, struct am_attrib_proc *out, size_t cap);
void am_drm_prev_free(struct am_drm_prev *prev);

/* ---- allocations (cgroup v1 device lists, the kubelet, Slurm's env) ---- */

#define AM_ALLOC_MAX_DEVS 16

/* How an allocation names a device, besides a character device number:
 * what a device plugin or a Slurm variable gives (collectors/attribution.md
 * lists which source uses which). */
enum am_alloc_by {
	AM_ALLOC_BY_UUID = 1, /* the device's uuid label ("GPU-...") */
	AM_ALLOC_BY_BUS_ID,   /* its PCI address, normalised (am_pci_norm_bus_id) */
	AM_ALLOC_BY_INDEX,    /* its index as the collector numbers it (nvidia<i>) */
};
struct am_alloc_ref {
	enum am_alloc_by by;
	char id[96];
};

/* A job that holds devices: the job (Slurm uid from the path), the
 * character devices its cgroup may open ("195:0") and the devices other
 * sources name. */
struct am_alloc {
	struct am_workload wl;
	char devs[AM_ALLOC_MAX_DEVS][16];
	unsigned ndevs;
	struct am_alloc_ref refs[AM_ALLOC_MAX_DEVS];
	unsigned nrefs;
	bool env; /* claimed by its processes' environment only (Slurm) */
};

/* The entry of job wl (kind and job; step and container are dropped) in
 * v[0..*n), added when missing (v grown with realloc, capacity *cap).
 * NULL when out of memory. */
struct am_alloc *am_alloc_add(struct am_alloc **v, size_t *n, size_t *cap,
			      const struct am_workload *wl);
/* Add one device reference to a (duplicates and refs past
 * AM_ALLOC_MAX_DEVS are dropped; an id too long is dropped). */
void am_alloc_add_ref(struct am_alloc *a, enum am_alloc_by by, const char *id);

/* The Slurm jobs and Kubernetes pods under sysfs/fs/cgroup/devices (the
 * cgroup v1 devices controller) with the devices each may use, from
 * devices.list ("c 195:0 rwm"; "a *:* rwm" and wildcards, which allow
 * everything, allocate nothing). A job's step and container cgroups are
 * folded into the job. Reuses *v (capacity *cap); *n gets the count. 0 (no
 * such hierarchy: none), or -ENOMEM. */
int am_alloc_scan(const char *sysfs, struct am_alloc **v, size_t *n, size_t *cap);

/* Kubernetes pod names from the kubelet's log layout: a directory
 * <namespace>_<pod>_<uid> per pod under dir (/var/log/pods). */
struct am_pod_name {
	char uid[64];
	char ns[64];
	char name[254];
	bool live; /* its UID has a cgroup (am_pod_names_live) */
};
/* Reads dir into *v (capacity *cap, reused); *n gets the count. 0, or
 * -errno of opendir (-ENOENT: no pods, or no kubelet) or -ENOMEM. Names
 * that do not have the shape, and entries that are not directories
 * (files, symbolic links), are skipped. */
int am_pod_names_scan(const char *dir, struct am_pod_name **v, size_t *n, size_t *cap);
/* Marks live the names whose UID has a pod cgroup (kubepods...pod<uid>)
 * under cgroot (sysfs/fs/cgroup: v2, or any v1 controller in it). */
void am_pod_names_live(const char *cgroot, struct am_pod_name *v, size_t n);
const struct am_pod_name *am_pod_name_by_uid(const struct am_pod_name *v, size_t n,
					     const char *uid);

/* The kubelet's pod-resources API (v1): one List call over the unix socket
 * (gRPC over HTTP/2, libcurl), at most timeout_ms. On success *msg (malloc,
 * the caller frees) holds the ListPodResourcesResponse message and 0 is
 * returned; else a negative errno and err says what failed (one line):
 * also for a grpc-status that is not a number, an answer with anything
 * but exactly one uncompressed message (am_grpc_unframe). */
int am_podres_list(const char *socket, long timeout_ms, uint8_t **msg, size_t *len,
		   char *err, size_t errcap);
typedef int am_podres_list_fn(const char *socket, long timeout_ms, uint8_t **msg,
			      size_t *len, char *err, size_t errcap);
/* A grpc-status value (v[0..n), blanks and CRLF around it): its code, or
 * -EINVAL unless it is all digits. */
int am_grpc_status_parse(const char *v, size_t n);
/* The one message of a unary gRPC answer body b[0..n): 0 and *len its
 * length (it starts at b + 5); -EINVAL (err says why) for a body shorter
 * than its frame, a compressed flag, or bytes after the message. */
int am_grpc_unframe(const uint8_t *b, size_t n, size_t *len, char *err, size_t errcap);
/* The pods of a ListPodResourcesResponse (msg[0..len)) that hold devices,
 * as Kubernetes jobs (job = the pod UID, found in names by namespace and
 * name) appended to v[0..*n): nvidia.com/... ids are uuids ("::<replica>"
 * of shared GPUs dropped), amd.com/... ids PCI addresses, huawei.com/Ascend...
 * ids ("Ascend910-3") the trailing index, other resources' ids uuids.
 * nvidia.com ids all digits (deviceIDStrategy=index) are indexes.
 * *unjoined (may be NULL) gets the count of pods holding devices whose UID
 * is not in names (left out); *ambiguous (may be NULL) of those with more
 * than one directory (a pod re-created under the same name) where the
 * live cgroups do not tell which UID (left out too). 0, -EINVAL for a
 * message that does not parse, -EFBIG for one over 1 MiB or with more
 * than 2048 pods or 16384 device entries (nothing of it taken), -ENOMEM. */
int am_podres_decode(const uint8_t *msg, size_t len, const struct am_pod_name *names,
		     size_t nnames, struct am_alloc **v, size_t *n, size_t *cap,
		     size_t *unjoined, size_t *ambiguous);

/* Slurm's job environment: SLURM_JOB_ID and the job's GPUs from the NUL
 * separated text of /proc/<pid>/environ (n bytes): SLURM_JOB_GPUS, else
 * SLURM_STEP_GPUS (GRES indexes on the node: AM_ALLOC_BY_INDEX), else the
 * UUID entries of CUDA_VISIBLE_DEVICES and ROCR_VISIBLE_DEVICES (their
 * plain indexes are not the host's: see collectors/attribution.md;
 * ROCR's "GPU-<hex>" as the bare hex, amdgpu's uuid label). job gets the
 * environ's SLURM_JOB_ID, which the caller must check against the
 * cgroup's job. 0; -ENOENT without SLURM_JOB_ID (or one not a number). */
int am_slurm_env_parse(const char *env, size_t n, char *job, size_t jobcap,
		       struct am_alloc *out);

/* Every process under procfs in a Slurm job (by its cgroup), its environ
 * read once per process start (pid and start time: an exec keeps both, so
 * an environ replaced by exec is not read again; cached in *c), as
 * allocations appended to v[0..*n) (marked env). A job that has an entry
 * in v[0..*n) already (its cgroup v1 devices.list) gets nothing from its
 * environment. The job is always the cgroup's: an
 * environ whose SLURM_JOB_ID is another job is refused, and c->mismatch
 * says the first such environ read in this scan (c->mismatch_job its
 * cgroup job; both "" when none); c->too_big the first environ of the
 * scan not read for being 1 MiB or more. *refused (may be NULL) gets the first
 * environ the agent may not read (another user's: CAP_SYS_PTRACE and
 * CAP_DAC_READ_SEARCH needed), "" when none. 0 or -ENOMEM. */
struct am_env_cache {
	struct am_env_proc *p;
	size_t n, cap;
	unsigned gen;
	char mismatch[PATH_MAX + 2 * AM_JOB_ID_MAX + 64];
	char mismatch_job[AM_JOB_ID_MAX];
	char too_big[PATH_MAX]; /* the first environ of this scan over 1 MiB */
};
int am_slurm_env_scan(const char *procfs, struct am_env_cache *c, struct am_alloc **v,
		      size_t *n, size_t *cap, char *refused, size_t refcap);
void am_env_cache_free(struct am_env_cache *c);

/* ---- the split ---- */

struct am_attrib;

/* Registers accel_job_busy_seconds_total, accel_job_memory_used_bytes,
 * accel_job_energy_joules_total and accel_job_info for the calling
 * collector instance (call from init). max_jobs: jobs per device with
 * their own series (0: 16); more go to job="other". NULL on failure
 * (logged). */
struct am_attrib *am_attrib_new(struct am_ctx *ctx, unsigned max_jobs);
void am_attrib_free(struct am_attrib *a);

/* The options every attributing collector takes besides attribution and
 * max_jobs (put AM_ATTRIB_OPTIONS in its option table, call
 * am_attrib_configure from init): the kubelet's pod-resources socket and
 * pod log directory. */
#define AM_ATTRIB_OPTIONS                                                          \
	{"pod_resources", AM_OPT_STRING,                                           \
	 "kubelet pod-resources socket read for allocations while it exists "      \
	 "(default /var/lib/kubelet/pod-resources/kubelet.sock; \"\" turns it off)"}, \
	{"pod_logs", AM_OPT_STRING,                                                \
	 "the kubelet's pod log directory, UID to namespace and pod (default "     \
	 "/var/log/pods)"}
void am_attrib_configure(struct am_attrib *a, const struct am_config *cfg);
#ifdef AM_TEST_HOOKS
/* The List call a uses (NULL: am_podres_list): for tests, which answer
 * without a kubelet (only test_attrib's own build of attrib.c has it). */
void am_attrib_set_podres_list(struct am_attrib *a, am_podres_list_fn *fn);
#endif

/* One process on a device this poll. weight: its use of the device in the
 * interval in any unit shared by the device's processes (engine ns, a
 * utilization percent); 0 when idle, NAN when unknown. mem_bytes: device
 * memory it holds, NAN when unknown. */
struct am_attrib_proc {
	pid_t pid;
	double weight;
	double mem_bytes;
};

/* The device this poll: its busy share over the interval since the last
 * poll (0..1, NAN when unknown) or, with have_busy_s, its busy seconds in
 * that interval from a counter of its own (what its
 * accel_busy_seconds_total grew by); its energy counter in joules (NAN
 * when none), or else its power in watts (NAN when none). A job's busy
 * series exists once its device gave a busy figure, its energy series once
 * it gave an energy or power figure (none for a device without one). */
struct am_attrib_dev {
	const char *device, *uuid;
	double busy_ratio;
	double energy_j;
	double power_w;
	bool have_busy_s;
	double busy_s;
	/* Its character device ("195:0" for /dev/nvidia0, "226:128" for a
	 * render node), for the allocations of cgroup v1 device lists; NULL
	 * or "" when not known. */
	const char *devnum;
	/* For allocations that name devices otherwise (pod-resources, Slurm's
	 * environment): its PCI address (any case, domain optional; NULL when
	 * not known) and its index in the collector's numbering (nvidia<i>),
	 * with have_index. */
	const char *bus_id;
	bool have_index;
	unsigned index;
};

/* Whether allocation al holds device d (its device number, uuid, bus id or
 * index, as al names it). */
bool am_alloc_holds(const struct am_alloc *al, const struct am_attrib_dev *d);
/* Whether v[i] of the allocations v[0..n) holds d and counts: an
 * environment claim (env) does not when another source (a device list,
 * pod-resources) gives d to a different job. */
bool am_alloc_counts(const struct am_alloc *v, size_t n, size_t i,
		     const struct am_attrib_dev *d);

/* Attribute one device's poll (see collectors/attribution.md for the
 * rule): jobs gain busy seconds and energy, memory is the sum of their
 * processes', a job without a process on the device any more has its
 * series retired. 0; -EACCES when /proc cannot be read for another user's
 * process: said once, every job series is retired and the instance
 * exports device-level figures only from then on; -ENOMEM. */
int am_attrib_update(struct am_attrib *a, const struct am_attrib_dev *d,
		     const struct am_attrib_proc *procs, size_t n);

/* The device is gone or down: retire its job series and forget its
 * interval (the next update starts a new one). */
void am_attrib_forget(struct am_attrib *a, const char *device);

/* A read the collector made for attribution was refused (err -EACCES or
 * -EPERM; what: the files, "/proc/<pid>/fdinfo"): said once, as in
 * am_attrib_update, and attribution is off from then on. */
void am_attrib_refused(struct am_attrib *a, const char *what, int err);

/* As am_attrib_refused, for a collector whose device figures come from the
 * refused files too (drm: a card's busy time is its clients' fdinfo
 * engine time): the line says they are unavailable as well. */
void am_attrib_refused_device(struct am_attrib *a, const char *what, int err);

/* False once attribution was turned off for lack of privileges. */
bool am_attrib_enabled(const struct am_attrib *a);

#ifdef __cplusplus
}
#endif
#endif /* ACCELMON_ATTRIB_H */
