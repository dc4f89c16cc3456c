/* libFuzzer target for the amdgpu gpu_metrics parser (collectors/
 * amdgpu_metrics.c): arbitrary bytes in, never a read outside them, and a
 * successful parse always reports a header that fits in the input and
 * values within the plausibility bounds.
 * Built only by `make fuzz` (clang -fsanitize=fuzzer,address,undefined).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "amdgpu_metrics.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct amdgpu_gm gm;
	uint8_t *copy;

	if (size > AMDGPU_GM_MAX_BYTES)
		return 0;
	/* An exact-size heap copy, so ASan flags any read past the end. */
	copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	if (amdgpu_gm_parse(copy, size, &gm) == 0) {
		if (gm.structure_size > size ||
		    gm.structure_size !=
			amdgpu_gm_layout_size(gm.format_revision, gm.content_revision))
			abort();
		if ((gm.have & AMDGPU_GM_HAVE_GFX) && gm.gfx_activity > 100)
			abort();
		/* every value reported lies within the plausibility bounds, and a
		 * field is never both reported and refused */
		if ((gm.have & AMDGPU_GM_HAVE_ENERGY) &&
		    (double)gm.energy_raw / 65536.0 > AMDGPU_GM_MAX_ENERGY_J)
			abort();
		if ((gm.have & AMDGPU_GM_HAVE_POWER) &&
		    gm.socket_power_w > AMDGPU_GM_MAX_POWER_W)
			abort();
		if (gm.have & gm.implausible &
		    (AMDGPU_GM_HAVE_ENERGY | AMDGPU_GM_HAVE_POWER))
			abort();
		for (int i = 0; i < AMDGPU_GM_XGMI_LINKS; i++)
			if (((gm.xgmi_read_mask >> i) & 1 &&
			     gm.xgmi_read_kib[i] > AMDGPU_GM_MAX_XGMI_KIB) ||
			    ((gm.xgmi_write_mask >> i) & 1 &&
			     gm.xgmi_write_kib[i] > AMDGPU_GM_MAX_XGMI_KIB))
				abort();
	}
	free(copy);
	return 0;
}
