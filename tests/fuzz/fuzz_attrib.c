/* libFuzzer target for the attribution parsers (agent/sdk/workload.c,
 * drm.c, slurmenv.c, podres.c): the input is split at its first NUL byte
 * into a /proc/<pid>/cgroup text and a DRM fdinfo text, each parsed from an
 * exact-size heap copy, so a read past the end is reported; whatever parses
 * must hold NUL-terminated labels within their buffers and a known kind.
 * The whole input is also a /proc/<pid>/environ (NUL-separated) and a
 * kubelet List answer, whose allocations must stay within their arrays.
 * Built only by `make fuzz-attrib` (clang -fsanitize=fuzzer,address,undefined).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "accelmon/attrib.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_str(const char *s, size_t cap)
{
	if (memchr(s, '\0', cap) == NULL)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	size_t n1 = nul ? (size_t)(nul - data) : size;
	size_t n2 = nul ? size - n1 - 1 : 0;
	struct am_workload w;
	struct am_drm_client c;
	char *a = malloc(n1 ? n1 : 1), *b = malloc(n2 ? n2 : 1);

	if (!a || !b) {
		free(a);
		free(b);
		return 0;
	}
	memcpy(a, data, n1);
	if (n2)
		memcpy(b, nul + 1, n2);
	memset(&w, 0, sizeof(w));
	if (am_workload_parse_cgroup(a, n1, &w) == 0) {
		if ((int)w.kind < 0 || w.kind >= AM_JOB__COUNT)
			abort();
		check_str(w.job, sizeof(w.job));
		check_str(w.step, sizeof(w.step));
		check_str(w.container, sizeof(w.container));
		check_str(w.user, sizeof(w.user));
	}
	if (am_drm_fdinfo_parse(b, n2, &c) == 0) {
		check_str(c.driver, sizeof(c.driver));
		check_str(c.pdev, sizeof(c.pdev));
		if (strlen(c.pdev) < 12)
			abort(); /* a normalised PCI address */
	}
	free(a);
	free(b);
	{
		static const struct am_pod_name pn = {"u1", "ns", "pod"};
		struct am_alloc al, *v = NULL;
		size_t nv = 0, cap = 0;
		char job[32], *e = malloc(size ? size : 1);

		if (!e)
			return 0;
		memcpy(e, data, size);
		memset(&al, 0, sizeof(al));
		if (am_slurm_env_parse(e, size, job, sizeof(job), &al) == 0) {
			check_str(job, sizeof(job));
			if (al.nrefs > AM_ALLOC_MAX_DEVS)
				abort();
			for (unsigned k = 0; k < al.nrefs; k++)
				check_str(al.refs[k].id, sizeof(al.refs[k].id));
		}
		if (am_podres_decode((const uint8_t *)e, size, &pn, 1, &v, &nv, &cap,
				     NULL, NULL) == 0)
			for (size_t i = 0; i < nv; i++)
				if (v[i].nrefs > AM_ALLOC_MAX_DEVS)
					abort();
		free(v);
		free(e);
	}
	return 0;
}
