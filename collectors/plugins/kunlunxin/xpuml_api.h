/* The part of Kunlunxin's XPU management library (libxpuml.so) that the
 * kunlunxin plugin calls, declared here from the public xpuml.h of
 * kunlunxin/go-xpuml (pkg/xpuml/xpuml.h, API version 1): names and values
 * of the entry points, return codes and structs, layouts checked by size.
 * Shared by the plugin and its test double (tests/fake_xpuml).
 */
#ifndef KUNLUNXIN_XPUML_API_H
#define KUNLUNXIN_XPUML_API_H

#include <stdint.h>

/* Every entry point answers one of these (an int-sized C enum). */
typedef int xpuml_rc;
enum {
	XPUML_SUCCESS = 0,
	XPUML_ERROR_UNINITIALIZED = 1,
	XPUML_ERROR_INVALID_ARGUMENT = 2,
	XPUML_ERROR_NOT_SUPPORTED = 3,
	XPUML_ERROR_NO_PERMISSION = 4,
	XPUML_ERROR_NOT_FOUND = 6,
	XPUML_ERROR_INSUFFICIENT_SIZE = 7,
	XPUML_ERROR_DRIVER_NOT_LOADED = 9,
	XPUML_ERROR_TIMEOUT = 10,
	XPUML_ERROR_FUNCTION_NOT_FOUND = 13,
	XPUML_ERROR_XPU_IS_LOST = 15, /* fell off the bus, or unreachable */
	XPUML_ERROR_RESET_REQUIRED = 16,
	XPUML_ERROR_LIB_RM_VERSION_MISMATCH = 18,
	XPUML_ERROR_UNKNOWN = 999,
};

/* A device handle: the header wraps one opaque pointer in a struct that is
 * passed by value (one register in the SysV x86-64 and AArch64 ABIs). */
struct xpuml_dev {
	void *opaque;
};

/* xpumlDeviceGetTemperature: sensor 0 is the XPU die. */
#define XPUML_SENSOR_DIE 0
/* xpumlDeviceGetClockInfo: domain 0 is the XPU clock (MHz). */
#define XPUML_CLOCK_XPU 0

/* xpumlDeviceGetState answers an int-sized enum. */
enum {
	XPUML_STATE_UNUSED = 0,
	XPUML_STATE_RUNNING = 201,
	XPUML_STATE_IN_RESET = 205,
	XPUML_STATE_ERROR = 207,
	XPUML_STATE_IN_EXCEPTION = 208,
};

/* Every struct of this API is 128 bytes, padded with reserved words. */

/* xpumlDeviceGetPciInfo. bus_id is "DDDDDDDD:BB:DD.F" (8 hex digits of
 * domain, upper case), NUL-terminated within its 32 bytes. */
struct xpuml_pci {
	uint32_t domain, bus, device, function;
	uint32_t id; /* device id << 16 | vendor id */
	uint32_t subsys_id;
	char bus_id[32];
	uint64_t reserved[9];
};
_Static_assert(sizeof(struct xpuml_pci) == 128, "xpumlPciInfo_t is 128 bytes");

/* xpumlDeviceGetUtilizationRates: percent of the driver's last sample
 * period (1/6 s to 1 s by product) in which at least one kernel ran on the
 * XPU, and in which global memory was read or written. */
struct xpuml_util {
	uint32_t xpu, memory;
	uint64_t reserved[15];
};
_Static_assert(sizeof(struct xpuml_util) == 128, "xpumlUtilization_t is 128 bytes");

/* xpumlDeviceGetMemoryInfo, in bytes: global (device) memory, then L3. */
struct xpuml_mem {
	uint64_t global_page, global_total, global_free, global_used;
	uint64_t l3_page, l3_total, l3_free, l3_used;
	uint64_t reserved[8];
};
_Static_assert(sizeof(struct xpuml_mem) == 128, "xpumlMemory_t is 128 bytes");

/* xpumlDeviceGetAttributes: only model (an XPUML_MODEL_* value) is read;
 * the rest (arch, board, engine counts, memory sizes in MiB and, in later
 * headers, a serial in two reserved words) keeps the layout. */
struct xpuml_attrs {
	int32_t arch, board, model;
	uint32_t counts[7];
	uint64_t global_mib, l3_mib;
	uint64_t reserved[9];
};
_Static_assert(sizeof(struct xpuml_attrs) == 128, "xpumlDeviceAttributes_t is 128 bytes");

/* Model ids of xpumlDeviceAttributes_t.model. */
enum {
	XPUML_MODEL_K200 = 0,
	XPUML_MODEL_K100 = 1,
	XPUML_MODEL_R200 = 2,
	XPUML_MODEL_R300 = 3,
	XPUML_MODEL_R200_8F = 4,
	XPUML_MODEL_R200_SRIOV_PF = 200,
	XPUML_MODEL_R200_SRIOV_VF_1OF1 = 201,
	XPUML_MODEL_R200_SRIOV_VF_1OF2 = 202,
	XPUML_MODEL_R200_SRIOV_VF_1OF3 = 203,
};

/* Buffer sizes: the driver version is at most 80 bytes with its NUL; the
 * serial 17 in the latest header (30 in the first): give it room. */
#define XPUML_DRIVER_VERSION_LEN 80
#define XPUML_SERIAL_LEN 64

/* Entry points, by the name the library exports. */
typedef xpuml_rc xpuml_void_fn(void);		     /* xpumlInit, xpumlShutdown */
typedef const char *xpuml_error_string_fn(xpuml_rc); /* xpumlErrorString */
typedef xpuml_rc xpuml_driver_version_fn(char *,
					 unsigned); /* xpumlSystemGetDriverVersion */
typedef xpuml_rc xpuml_count_fn(unsigned *);	    /* xpumlDeviceGetCount */
typedef xpuml_rc xpuml_handle_fn(unsigned, struct xpuml_dev *); /* ...GetHandleByIndex */
typedef xpuml_rc xpuml_dev_string_fn(struct xpuml_dev, char *,
				     unsigned); /* ...GetSerial */
typedef xpuml_rc xpuml_pci_fn(struct xpuml_dev, struct xpuml_pci *);
typedef xpuml_rc xpuml_attrs_fn(struct xpuml_dev, struct xpuml_attrs *);
typedef xpuml_rc xpuml_util_fn(struct xpuml_dev, struct xpuml_util *);
typedef xpuml_rc xpuml_mem_fn(struct xpuml_dev, struct xpuml_mem *);
typedef xpuml_rc xpuml_dev_uint_fn(struct xpuml_dev,
				   unsigned *); /* ...GetPowerUsage (mW) */
/* xpumlDeviceGetTemperature (sensor, degrees C), xpumlDeviceGetClockInfo
 * (domain, MHz): the enum argument is int-sized. */
typedef xpuml_rc xpuml_dev_enum_uint_fn(struct xpuml_dev, int, unsigned *);
typedef xpuml_rc xpuml_dev_int_fn(struct xpuml_dev, int *); /* xpumlDeviceGetState */

#endif /* KUNLUNXIN_XPUML_API_H */
