/* Kubernetes allocations (accelmon/attrib.h): the kubelet's pod-resources
 * API (v1.PodResourcesLister/List, gRPC over HTTP/2 on a unix socket, sent
 * with libcurl and decoded with protobuf-c from podresources.proto) says
 * which devices each pod's containers hold; the kubelet's log layout
 * (/var/log/pods/<namespace>_<pod>_<uid>) joins a pod's name to the UID its
 * cgroup path gives, without a Kubernetes API client. The attribution's
 * allocation scan calls both (collectors/attribution.md).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "accelmon/attrib.h"
#include "accelmon/util.h"
#include "agent/sdk/podresources.pb-c.h"

/* A List answer larger than this is refused (a node runs ~110 pods; each
 * takes a few hundred bytes): protobuf-c's decode of it takes a small
 * multiple of it (every repeated string its own allocation). */
#define PODRES_MAX_BODY (1u << 20)
/* A decoded answer with more than these is refused as a whole. */
#define PODRES_MAX_PODS 2048u
#define PODRES_MAX_IDS 16384u

/* ---- pod names from the log directory ---- */

static bool pn_label_ok(const char *s, size_t n)
{
	/* DNS labels and subdomains: lower-case alphanumerics, '-' and '.';
	 * never '_', which is what makes the directory name splittable. */
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '-' || s[i] == '.'))
			return false;
	return true;
}

int am_pod_names_scan(const char *dir, struct am_pod_name **v, size_t *n, size_t *cap)
{
	struct dirent *de;
	DIR *d;

	*n = 0;
	am_call_begin(NULL, dir);
	d = opendir(dir);
	am_call_end(NULL);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		const char *s = de->d_name, *u1 = strchr(s, '_'), *u2 = strrchr(s, '_');
		struct am_pod_name *p;
		size_t nsn, podn, uidn;
		struct stat st;

		if (!u1 || u1 == u2)
			continue;
		/* directories only: not files, not links (dangling or not) */
		if (de->d_type != DT_DIR &&
		    (de->d_type != DT_UNKNOWN ||
		     fstatat(dirfd(d), s, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		     !S_ISDIR(st.st_mode)))
			continue;
		nsn = (size_t)(u1 - s);
		podn = (size_t)(u2 - u1 - 1);
		uidn = strlen(u2 + 1);
		if (!pn_label_ok(s, nsn) || !pn_label_ok(u1 + 1, podn) ||
		    !pn_label_ok(u2 + 1, uidn) || nsn >= sizeof(p->ns) ||
		    podn >= sizeof(p->name) || uidn >= sizeof(p->uid))
			continue;
		if (*n == *cap) {
			size_t nc = *cap ? *cap * 2 : 16;
			struct am_pod_name *nv = realloc(*v, nc * sizeof(*nv));

			if (!nv) {
				closedir(d);
				return -ENOMEM;
			}
			*v = nv;
			*cap = nc;
		}
		p = &(*v)[(*n)++];
		p->live = false;
		memcpy(p->ns, s, nsn);
		p->ns[nsn] = '\0';
		memcpy(p->name, u1 + 1, podn);
		p->name[podn] = '\0';
		memcpy(p->uid, u2 + 1, uidn + 1);
	}
	closedir(d);
	return 0;
}

const struct am_pod_name *am_pod_name_by_uid(const struct am_pod_name *v, size_t n,
					     const char *uid)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].uid, uid) == 0)
			return &v[i];
	return NULL;
}

/* Whether entry de of d is a directory (not a link); a file system
 * without d_type (DT_UNKNOWN) is asked by fstatat. */
static bool pl_is_dir(DIR *d, const struct dirent *de)
{
	struct stat st;

	if (de->d_type != DT_UNKNOWN)
		return de->d_type == DT_DIR;
	return fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	       S_ISDIR(st.st_mode);
}

/* Pod UIDs with a cgroup on the node: walk up to three levels below each
 * kubepods* directory of the cgroup root (v2) and of its controllers'
 * (v1), the paths parsed by the one cgroup parser (workload.c). */
static void pl_walk(int dfd, char *rel, size_t rlen, int depth, struct am_pod_name *v,
		    size_t n)
{
	struct dirent *de;
	DIR *d = fdopendir(dfd);

	if (!d) {
		close(dfd);
		return;
	}
	while ((de = readdir(d))) {
		struct am_workload wl = {0}; /* the parser keeps out->user */
		size_t l = strlen(de->d_name);
		char text[PATH_MAX + 8];
		int sub;

		if (de->d_name[0] == '.' || rlen + l + 2 >= PATH_MAX || !pl_is_dir(d, de))
			continue;
		rel[rlen] = '/';
		memcpy(rel + rlen + 1, de->d_name, l + 1);
		snprintf(text, sizeof(text), "0::%s\n", rel);
		if (am_workload_parse_cgroup(text, strlen(text), &wl) == 0 &&
		    wl.kind == AM_JOB_K8S) {
			for (size_t i = 0; i < n; i++)
				if (strcmp(v[i].uid, wl.job) == 0)
					v[i].live = true;
		} else if (depth > 1 && (sub = openat(dirfd(d), de->d_name,
						      O_RDONLY | O_DIRECTORY | O_CLOEXEC |
							  O_NOFOLLOW)) >= 0) {
			pl_walk(sub, rel, rlen + 1 + l, depth - 1, v, n);
		}
		rel[rlen] = '\0';
	}
	closedir(d);
}

void am_pod_names_live(const char *cgroot, struct am_pod_name *v, size_t n)
{
	char rel[PATH_MAX];
	struct dirent *de, *de2;
	DIR *root, *ctl;
	int fd;

	for (size_t i = 0; i < n; i++)
		v[i].live = false;
	am_call_begin(NULL, cgroot);
	root = opendir(cgroot);
	while (root && (de = readdir(root))) {
		if (de->d_name[0] == '.' || !pl_is_dir(root, de))
			continue;
		if (strncmp(de->d_name, "kubepods", 8) == 0) {
			fd = openat(dirfd(root), de->d_name,
				    O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
			snprintf(rel, sizeof(rel), "/%s", de->d_name);
			if (fd >= 0)
				pl_walk(fd, rel, strlen(rel), 3, v, n);
			continue;
		}
		/* a v1 controller (its kubepods* below it) */
		fd = openat(dirfd(root), de->d_name,
			    O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0 || !(ctl = fdopendir(fd))) {
			if (fd >= 0)
				close(fd);
			continue;
		}
		while ((de2 = readdir(ctl))) {
			int sub;

			if (strncmp(de2->d_name, "kubepods", 8) != 0 || !pl_is_dir(ctl, de2))
				continue;
			sub = openat(dirfd(ctl), de2->d_name,
				     O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
			snprintf(rel, sizeof(rel), "/%s", de2->d_name);
			if (sub >= 0)
				pl_walk(sub, rel, strlen(rel), 3, v, n);
		}
		closedir(ctl);
	}
	if (root)
		closedir(root);
	am_call_end(NULL);
}

/* The directory of pod ns/name: the only one, else the only one of those
 * with a live cgroup; NULL when none (*ambiguous false) or when that does
 * not decide (*ambiguous true). */
static const struct am_pod_name *pn_by_name(const struct am_pod_name *v, size_t n,
					    const char *ns, const char *name,
					    bool *ambiguous)
{
	const struct am_pod_name *one = NULL, *live = NULL;
	size_t matches = 0, nlive = 0;

	*ambiguous = false;
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].ns, ns) == 0 && strcmp(v[i].name, name) == 0) {
			one = &v[i];
			matches++;
			if (v[i].live) {
				live = &v[i];
				nlive++;
			}
		}
	if (matches <= 1)
		return one;
	if (nlive == 1)
		return live;
	*ambiguous = true;
	return NULL;
}

/* ---- the List answer ---- */

static bool pr_has_prefix(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

/* One device id of resource res as a reference to one of our devices. */
static void pr_add_id(struct am_alloc *a, const char *res, const char *id)
{
	char buf[96];

	if (!id || !*id || strlen(id) >= sizeof(buf))
		return;
	if (pr_has_prefix(res, "nvidia.com/")) {
		/* NVIDIA's plugin names a GPU (or MIG instance) by its UUID; a
		 * GPU shared by time-slicing or MPS is offered as replicas
		 * "<uuid>::<n>"; with deviceIDStrategy=index the id is the
		 * GPU's NVML index ("0", "1"). */
		const char *r = strstr(id, "::");
		size_t len = r ? (size_t)(r - id) : strlen(id);

		memcpy(buf, id, len);
		buf[len] = '\0';
		am_alloc_add_ref(a,
				 len > 0 && strspn(buf, "0123456789") == len
				     ? AM_ALLOC_BY_INDEX
				     : AM_ALLOC_BY_UUID,
				 buf);
	} else if (pr_has_prefix(res, "amd.com/")) {
		/* ROCm's plugin names a GPU by its PCI address. */
		if (am_pci_norm_bus_id(id, buf, sizeof(buf)) == 0)
			am_alloc_add_ref(a, AM_ALLOC_BY_BUS_ID, buf);
	} else if (pr_has_prefix(res, "huawei.com/Ascend")) {
		/* Ascend's plugin: "<type>-<n>" ("Ascend910-3"), n the NPU's
		 * number (virtual NPUs, "Ascend910-2c-100-3", end in the
		 * physical one's). */
		const char *dash = strrchr(id, '-');
		size_t d = dash ? strspn(dash + 1, "0123456789") : 0;

		if (dash && d > 0 && dash[1 + d] == '\0')
			am_alloc_add_ref(a, AM_ALLOC_BY_INDEX, dash + 1);
	} else {
		am_alloc_add_ref(a, AM_ALLOC_BY_UUID, id);
	}
}

int am_podres_decode(const uint8_t *msg, size_t len, const struct am_pod_name *names,
		     size_t nnames, struct am_alloc **v, size_t *n, size_t *cap,
		     size_t *unjoined, size_t *ambiguous)
{
	V1__ListPodResourcesResponse *r;
	size_t ids = 0;
	int rc = 0;

	if (unjoined)
		*unjoined = 0;
	if (ambiguous)
		*ambiguous = 0;
	if (len > PODRES_MAX_BODY)
		return -EFBIG;
	r = v1__list_pod_resources_response__unpack(NULL, len, msg);
	if (!r)
		return -EINVAL;
	/* sane sizes, or nothing of it */
	if (r->n_pod_resources > PODRES_MAX_PODS)
		rc = -EFBIG;
	for (size_t i = 0; i < r->n_pod_resources && rc == 0; i++)
		for (size_t c = 0; c < r->pod_resources[i]->n_containers && rc == 0; c++)
			for (size_t k = 0;
			     k < r->pod_resources[i]->containers[c]->n_devices; k++)
				if ((ids += 1 + r->pod_resources[i]
						    ->containers[c]
						    ->devices[k]
						    ->n_device_ids) > PODRES_MAX_IDS) {
					rc = -EFBIG;
					break;
				}
	for (size_t i = 0; i < r->n_pod_resources && rc == 0; i++) {
		const V1__PodResources *p = r->pod_resources[i];
		const struct am_pod_name *pn;
		struct am_workload wl;
		struct am_alloc *a;
		bool devs = false, amb;

		for (size_t c = 0; c < p->n_containers; c++)
			for (size_t k = 0; k < p->containers[c]->n_devices; k++)
				devs |= p->containers[c]->devices[k]->n_device_ids > 0;
		if (!devs)
			continue;
		pn = pn_by_name(names, nnames, p->namespace_, p->name, &amb);
		if (!pn) {
			if (amb && ambiguous)
				(*ambiguous)++;
			else if (!amb && unjoined)
				(*unjoined)++;
			continue;
		}
		memset(&wl, 0, sizeof(wl));
		wl.kind = AM_JOB_K8S;
		snprintf(wl.job, sizeof(wl.job), "%s", pn->uid);
		a = am_alloc_add(v, n, cap, &wl);
		if (!a) {
			rc = -ENOMEM;
			break;
		}
		for (size_t c = 0; c < p->n_containers; c++) {
			const V1__ContainerResources *cr = p->containers[c];

			for (size_t k = 0; k < cr->n_devices; k++) {
				const V1__ContainerDevices *cd = cr->devices[k];

				for (size_t d = 0; d < cd->n_device_ids; d++)
					pr_add_id(
					    a, cd->resource_name ? cd->resource_name : "",
					    cd->device_ids[d]);
			}
		}
	}
	v1__list_pod_resources_response__free_unpacked(r, NULL);
	return rc;
}

/* ---- the gRPC call ---- */

struct pr_buf {
	uint8_t *p;
	size_t n, cap;
	bool too_big;
	int grpc_status; /* -1 until a grpc-status header or trailer */
	char grpc_message[160];
};

static size_t pr_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct pr_buf *b = arg;
	size_t len = size * nmemb;

	if (b->n + len > PODRES_MAX_BODY) {
		b->too_big = true;
		return 0;
	}
	if (b->n + len > b->cap) {
		size_t nc = b->cap ? b->cap : 4096;
		uint8_t *np;

		while (nc < b->n + len)
			nc *= 2;
		np = realloc(b->p, nc);
		if (!np)
			return 0;
		b->p = np;
		b->cap = nc;
	}
	memcpy(b->p + b->n, data, len);
	b->n += len;
	return len;
}

int am_grpc_status_parse(const char *v, size_t n)
{
	size_t i = 0, e;
	int st = 0;

	while (i < n && (v[i] == ' ' || v[i] == '\t'))
		i++;
	e = n;
	while (e > i && (v[e - 1] == '\r' || v[e - 1] == '\n' || v[e - 1] == ' ' ||
			 v[e - 1] == '\t'))
		e--;
	/* the codes are 0..16; a few digits at most */
	if (e == i || e - i > 3)
		return -EINVAL;
	for (; i < e; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -EINVAL;
		st = st * 10 + (v[i] - '0');
	}
	return st;
}

int am_grpc_unframe(const uint8_t *b, size_t n, size_t *len, char *err, size_t errcap)
{
	uint32_t flen;

	if (n < 5) {
		snprintf(err, errcap, "no message in the answer");
		return -EINVAL;
	}
	if (b[0] != 0) {
		snprintf(err, errcap, "compressed message (flag %u, not asked for)",
			 (unsigned)b[0]);
		return -EINVAL;
	}
	flen = (uint32_t)b[1] << 24 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 8 | b[4];
	if ((size_t)flen > n - 5) {
		snprintf(err, errcap, "message of %u bytes cut at %zu", flen, n - 5);
		return -EINVAL;
	}
	if ((size_t)flen < n - 5) {
		/* a unary call answers one message: a second one, or bytes
		 * after it, are an error */
		snprintf(err, errcap, "%zu bytes after the message of %u", n - 5 - flen,
			 flen);
		return -EINVAL;
	}
	*len = flen;
	return 0;
}

/* Headers and trailers alike (libcurl hands HTTP/2 trailers to the same
 * callback): grpc-status and grpc-message. */
static size_t pr_header(char *data, size_t size, size_t nmemb, void *arg)
{
	struct pr_buf *b = arg;
	size_t len = size * nmemb, vlen;
	const char *v;

	if (len > 12 && strncasecmp(data, "grpc-status:", 12) == 0) {
		int st = am_grpc_status_parse(data + 12, len - 12);

		/* one that does not parse stays the answer's status */
		if (b->grpc_status != -2)
			b->grpc_status = st < 0 ? -2 : st;
	} else if (len > 13 && strncasecmp(data, "grpc-message:", 13) == 0) {
		v = data + 13;
		v += strspn(v, " \t");
		vlen = len - (size_t)(v - data);
		while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n'))
			vlen--;
		if (vlen >= sizeof(b->grpc_message))
			vlen = sizeof(b->grpc_message) - 1;
		/* shown in a log line: printable ASCII only */
		for (size_t i = 0; i < vlen; i++)
			b->grpc_message[i] = v[i] >= 0x20 && v[i] < 0x7f ? v[i] : '?';
		b->grpc_message[vlen] = '\0';
	}
	return len;
}

int am_podres_list(const char *socket, long timeout_ms, uint8_t **msg, size_t *len,
		   char *err, size_t errcap)
{
	/* An empty request: the 5-byte gRPC frame (uncompressed, length 0). */
	static const char frame[5] = {0, 0, 0, 0, 0};
	struct pr_buf b = {.grpc_status = -1};
	struct curl_slist *h = NULL, *h2;
	char cerr[CURL_ERROR_SIZE] = "";
	long code = 0;
	size_t flen;
	CURLcode cc;
	CURL *c;
	int rc = -EIO;

	*msg = NULL;
	*len = 0;
	c = curl_easy_init();
	if (!c) {
		snprintf(err, errcap, "curl_easy_init failed");
		return -ENOMEM;
	}
	h = curl_slist_append(NULL, "content-type: application/grpc");
	h2 = h ? curl_slist_append(h, "te: trailers") : NULL;
	if (!h2) {
		snprintf(err, errcap, "out of memory");
		curl_slist_free_all(h);
		curl_easy_cleanup(c);
		return -ENOMEM;
	}
	h = h2;
	curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, socket);
	curl_easy_setopt(c, CURLOPT_URL, "http://localhost/v1.PodResourcesLister/List");
	curl_easy_setopt(c, CURLOPT_HTTP_VERSION,
			 (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, frame);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)sizeof(frame));
	curl_easy_setopt(c, CURLOPT_USERAGENT, "accelmon");
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, pr_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, pr_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &b);
	am_call_begin(NULL, socket);
	cc = curl_easy_perform(c);
	am_call_end(NULL);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	if (b.too_big) {
		snprintf(err, errcap, "answer larger than %u bytes", PODRES_MAX_BODY);
		rc = -EFBIG;
	} else if (cc != CURLE_OK) {
		snprintf(err, errcap, "%s", cerr[0] ? cerr : curl_easy_strerror(cc));
		rc = cc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -EIO;
	} else if (code != 200) {
		snprintf(err, errcap, "HTTP status %ld", code);
	} else if (b.grpc_status != 0) {
		if (b.grpc_status == -1)
			snprintf(err, errcap, "no grpc-status in the answer");
		else if (b.grpc_status == -2)
			snprintf(err, errcap, "grpc-status not a number");
		else
			snprintf(err, errcap, "gRPC status %d%s%s", b.grpc_status,
				 b.grpc_message[0] ? ": " : "", b.grpc_message);
	} else if (am_grpc_unframe(b.p, b.n, &flen, err, errcap) < 0) {
		rc = -EINVAL;
	} else {
		memmove(b.p, b.p + 5, flen);
		*msg = b.p;
		*len = flen;
		b.p = NULL;
		rc = 0;
	}
	free(b.p);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return rc;
}
