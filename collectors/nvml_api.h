/* The slice of NVIDIA's NVML API that the nvml collector uses, declared from
 * NVIDIA's public nvml.h documentation (64-bit Linux). libnvidia-ml.so.1 is
 * dlopen()ed, never linked, so only types, constants and function-pointer
 * types live here. Every struct carries a _Static_assert on its documented size:
 * a wrong layout must fail the build, not corrupt a reading.
 */
#ifndef ACCELMON_NVML_API_H
#define ACCELMON_NVML_API_H

#include <stddef.h>

/* ---- return codes (nvmlReturn_t) ---- */
typedef int nvmlReturn_t;
#define NVML_SUCCESS 0
#define NVML_ERROR_UNINITIALIZED 1
#define NVML_ERROR_INVALID_ARGUMENT 2
#define NVML_ERROR_NOT_SUPPORTED 3
#define NVML_ERROR_NO_PERMISSION 4
#define NVML_ERROR_NOT_FOUND 6
#define NVML_ERROR_INSUFFICIENT_SIZE 7
#define NVML_ERROR_DRIVER_NOT_LOADED 9
#define NVML_ERROR_TIMEOUT 10
#define NVML_ERROR_FUNCTION_NOT_FOUND 13
#define NVML_ERROR_GPU_IS_LOST 15
#define NVML_ERROR_RESET_REQUIRED 16
#define NVML_ERROR_LIB_RM_VERSION_MISMATCH 18
#define NVML_ERROR_ARGUMENT_VERSION_MISMATCH 25
#define NVML_ERROR_GPU_NOT_FOUND 28
#define NVML_ERROR_UNKNOWN 999

/* ---- opaque handles ---- */
typedef struct nvmlDevice_st *nvmlDevice_t;
typedef struct nvmlEventSet_st *nvmlEventSet_t;
typedef struct nvmlGpmSample_st *nvmlGpmSample_t;

/* ---- enums passed by value (all are C enums, i.e. int-sized) ---- */
#define NVML_TEMPERATURE_GPU 0 /* nvmlTemperatureSensors_t: GPU die */
#define NVML_CLOCK_GRAPHICS 0  /* nvmlClockType_t */
#define NVML_CLOCK_SM 1
#define NVML_CLOCK_MEM 2
#define NVML_PCIE_UTIL_TX_BYTES 0 /* nvmlPcieUtilCounter_t, KB/s over 20 ms */
#define NVML_PCIE_UTIL_RX_BYTES 1
#define NVML_MEMORY_ERROR_TYPE_CORRECTED 0 /* nvmlMemoryErrorType_t */
#define NVML_MEMORY_ERROR_TYPE_UNCORRECTED 1
#define NVML_VOLATILE_ECC 0 /* nvmlEccCounterType_t: since driver load */

/* Buffer sizes the documentation asks callers to provide. */
#define NVML_DEVICE_NAME_V2_BUFFER_SIZE 96
#define NVML_DEVICE_UUID_V2_BUFFER_SIZE 96
#define NVML_DEVICE_SERIAL_BUFFER_SIZE 30
#define NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE 80
#define NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE 32
#define NVML_DEVICE_PCI_BUS_ID_LEGACY_SIZE 16

/* ---- structs ---- */
typedef struct {
	unsigned int gpu;    /* percent of time one or more kernels ran */
	unsigned int memory; /* percent of time device memory was read/written */
} nvmlUtilization_t;
_Static_assert(sizeof(nvmlUtilization_t) == 8, "nvmlUtilization_t");

typedef struct {
	unsigned long long total, free, used; /* bytes */
} nvmlMemory_t;
_Static_assert(sizeof(nvmlMemory_t) == 24, "nvmlMemory_t");

typedef struct {
	unsigned int version; /* NVML_MEMORY_V2_VERSION */
	unsigned long long total, reserved, free, used;
} nvmlMemory_v2_t;
_Static_assert(sizeof(nvmlMemory_v2_t) == 40, "nvmlMemory_v2_t");
/* NVML's versioned structs carry sizeof | version << 24. */
#define NVML_MEMORY_V2_VERSION ((unsigned int)(sizeof(nvmlMemory_v2_t) | 2u << 24))
_Static_assert(NVML_MEMORY_V2_VERSION == 0x02000028u, "nvmlMemory_v2 version");

/* What nvmlDeviceGetPciInfo_v3 fills (and _v2 from R410 on, where the v3
 * struct replaced it): the legacy 16-byte bus id first, the full one last. */
typedef struct {
	char busIdLegacy[NVML_DEVICE_PCI_BUS_ID_LEGACY_SIZE];
	unsigned int domain, bus, device, pciDeviceId, pciSubSystemId;
	char busId[NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE]; /* "00000000:18:00.0" */
} nvmlPciInfo_t;
_Static_assert(sizeof(nvmlPciInfo_t) == 68, "nvmlPciInfo_t");

/* What nvmlDeviceGetPciInfo_v2 fills on drivers before R410 (headers up to
 * 396): another layout, 52 bytes, with a 16-byte busId first ("0000:18:00.0",
 * 4-digit domain) and four reserved words where v3 has the long busId. The
 * collector calls _v2 with a buffer of the larger struct and reads the bus id
 * from whichever layout the answer is in (see nvml_pci_bus_id). */
typedef struct {
	char busId[NVML_DEVICE_PCI_BUS_ID_LEGACY_SIZE];
	unsigned int domain, bus, device, pciDeviceId, pciSubSystemId;
	unsigned int reserved[4];
} nvmlPciInfoLegacy_t;
_Static_assert(sizeof(nvmlPciInfoLegacy_t) == 52, "nvmlPciInfoLegacy_t");

/* Element of the v2/v3 running-process lists of most drivers (v1's is a
 * 16-byte prefix of it; drivers 535.43.02-535.86.05 write 32-byte entries
 * with an extra usedGpuCcProtectedMemory). pid and usedGpuMemory sit at
 * the same offsets in all three; the collector steps through the list by
 * the entry size of the symbol and driver it has (nvml_proc_stride). */
typedef struct {
	unsigned int pid;
	unsigned long long usedGpuMemory;
	unsigned int gpuInstanceId, computeInstanceId;
} nvmlProcessInfo_t;
_Static_assert(sizeof(nvmlProcessInfo_t) == 24, "nvmlProcessInfo_t");

/* nvmlDeviceGetProcessUtilization: each process's share of the device
 * (percent) in the driver's latest sample period. */
typedef struct {
	unsigned int pid;
	unsigned long long timeStamp; /* CPU time, us */
	unsigned int smUtil, memUtil, encUtil, decUtil;
} nvmlProcessUtilizationSample_t;
_Static_assert(sizeof(nvmlProcessUtilizationSample_t) == 32,
	       "nvmlProcessUtilizationSample_t");

/* usedGpuMemory when the driver cannot tell (Windows WDDM, some vGPUs). */
#define NVML_VALUE_NOT_AVAILABLE_ULL (~0ull)

/* nvmlValueType_t */
#define NVML_VALUE_TYPE_DOUBLE 0
#define NVML_VALUE_TYPE_UNSIGNED_INT 1
#define NVML_VALUE_TYPE_UNSIGNED_LONG 2
#define NVML_VALUE_TYPE_UNSIGNED_LONG_LONG 3
#define NVML_VALUE_TYPE_SIGNED_LONG_LONG 4
#define NVML_VALUE_TYPE_SIGNED_INT 5
#define NVML_VALUE_TYPE_UNSIGNED_SHORT 6

typedef union {
	double dVal;
	int siVal;
	unsigned int uiVal;
	unsigned long ulVal;
	unsigned long long ullVal;
	long long sllVal;
	unsigned short usVal;
} nvmlValue_t;
_Static_assert(sizeof(nvmlValue_t) == 8, "nvmlValue_t");

typedef struct {
	unsigned int fieldId;
	unsigned int scopeId; /* NVLink fields: the link, UINT_MAX = all links */
	long long timestamp;  /* CPU time of the value, us since 1970 */
	long long latencyUsec;
	int valueType;		 /* NVML_VALUE_TYPE_* */
	nvmlReturn_t nvmlReturn; /* per value: check before reading value */
	nvmlValue_t value;
} nvmlFieldValue_t;
_Static_assert(sizeof(nvmlFieldValue_t) == 40, "nvmlFieldValue_t");
_Static_assert(offsetof(nvmlFieldValue_t, value) == 32, "nvmlFieldValue_t.value");

/* nvmlDeviceGetSamples: the driver's own samples of a quantity since a
 * timestamp (CPU time, microseconds), from a ring buffer it keeps per GPU. */
#define NVML_GPU_UTILIZATION_SAMPLES 1	  /* nvmlSamplingType_t: percent busy */
#define NVML_MEMORY_UTILIZATION_SAMPLES 2 /* percent of time memory was used */
typedef struct {
	unsigned long long timeStamp; /* us */
	nvmlValue_t sampleValue;
} nvmlSample_t;
_Static_assert(sizeof(nvmlSample_t) == 16, "nvmlSample_t");

/* Field ids for nvmlDeviceGetFieldValues. */
#define NVML_FI_DEV_MEMORY_TEMP 82
#define NVML_FI_DEV_NVLINK_THROUGHPUT_DATA_TX 138 /* KiB, cumulative */
#define NVML_FI_DEV_NVLINK_THROUGHPUT_DATA_RX 139
/* Upper bound on links per GPU in current headers (older ones said 18);
 * asking for a link that does not exist fails that value only. */
#define NVML_NVLINK_MAX_LINKS 36

/* Event types (bitmask) and what nvmlEventSetWait_v2 fills in. */
#define NVML_EVENT_SINGLE_BIT_ECC 0x1ull
#define NVML_EVENT_DOUBLE_BIT_ECC 0x2ull
#define NVML_EVENT_XID_CRITICAL 0x8ull

typedef struct {
	nvmlDevice_t device;
	unsigned long long eventType;
	unsigned long long eventData; /* the Xid for XID_CRITICAL (999 unknown) */
	unsigned int gpuInstanceId;   /* MIG: 0xFFFFFFFF when not attributable */
	unsigned int computeInstanceId;
} nvmlEventData_t;
_Static_assert(sizeof(nvmlEventData_t) == 32, "nvmlEventData_t");

/* Clock event ("throttle") reasons, nvmlDeviceGetCurrentClocksEventReasons. */
#define NVML_CLOCKS_EVENT_GPU_IDLE 0x1ull
#define NVML_CLOCKS_EVENT_APPLICATIONS_CLOCKS_SETTING 0x2ull
#define NVML_CLOCKS_EVENT_SW_POWER_CAP 0x4ull
#define NVML_CLOCKS_EVENT_HW_SLOWDOWN 0x8ull
#define NVML_CLOCKS_EVENT_SYNC_BOOST 0x10ull
#define NVML_CLOCKS_EVENT_SW_THERMAL_SLOWDOWN 0x20ull
#define NVML_CLOCKS_EVENT_HW_THERMAL_SLOWDOWN 0x40ull
#define NVML_CLOCKS_EVENT_HW_POWER_BRAKE_SLOWDOWN 0x80ull
#define NVML_CLOCKS_EVENT_DISPLAY_CLOCK_SETTING 0x100ull

/* ---- GPM (Hopper and newer) ---- */
#define NVML_GPM_SUPPORT_VERSION 1
typedef struct {
	unsigned int version; /* NVML_GPM_SUPPORT_VERSION */
	unsigned int isSupportedDevice;
} nvmlGpmSupport_t;
_Static_assert(sizeof(nvmlGpmSupport_t) == 8, "nvmlGpmSupport_t");

/* Metric ids (nvmlGpmMetricId_t); the ratios are percentages 0..100. */
#define NVML_GPM_METRIC_SM_UTIL 2
#define NVML_GPM_METRIC_SM_OCCUPANCY 3
#define NVML_GPM_METRIC_ANY_TENSOR_UTIL 5
#define NVML_GPM_METRIC_DRAM_BW_UTIL 10
/* The metrics[] array grew 98 -> 210 -> 333 while the struct version stayed
 * 1: a caller sized for the newest header works with every library. */
#define NVML_GPM_METRIC_MAX 333
#define NVML_GPM_METRICS_GET_VERSION 1

typedef struct {
	unsigned int metricId;
	nvmlReturn_t nvmlReturn; /* per metric: value valid only on success */
	double value;
	struct {
		char *shortName, *longName, *unit;
	} metricInfo;
} nvmlGpmMetric_t;
_Static_assert(sizeof(nvmlGpmMetric_t) == 40, "nvmlGpmMetric_t");

typedef struct {
	unsigned int version;
	unsigned int numMetrics;
	nvmlGpmSample_t sample1, sample2; /* older, newer */
	nvmlGpmMetric_t metrics[NVML_GPM_METRIC_MAX];
} nvmlGpmMetricsGet_t;
_Static_assert(sizeof(nvmlGpmMetricsGet_t) == 24 + 40 * NVML_GPM_METRIC_MAX,
	       "nvmlGpmMetricsGet_t");

/* MIG mode (nvmlDeviceGetMigMode current/pending). */
#define NVML_DEVICE_MIG_ENABLE 1

/* ---- function-pointer types, one per symbol the collector resolves ---- */
typedef nvmlReturn_t (*nvml_init_fn)(void);
typedef nvmlReturn_t (*nvml_shutdown_fn)(void);
typedef const char *(*nvml_error_string_fn)(nvmlReturn_t r);
typedef nvmlReturn_t (*nvml_driver_version_fn)(char *buf, unsigned int len);
typedef nvmlReturn_t (*nvml_count_fn)(unsigned int *count);
typedef nvmlReturn_t (*nvml_handle_by_index_fn)(unsigned int i, nvmlDevice_t *dev);
typedef nvmlReturn_t (*nvml_dev_string_fn)(nvmlDevice_t dev, char *buf, unsigned int len);
typedef nvmlReturn_t (*nvml_pci_info_fn)(nvmlDevice_t dev, nvmlPciInfo_t *pci);
typedef nvmlReturn_t (*nvml_dev_uint_fn)(nvmlDevice_t dev, unsigned int *v);
typedef nvmlReturn_t (*nvml_dev_ull_fn)(nvmlDevice_t dev, unsigned long long *v);
typedef nvmlReturn_t (*nvml_utilization_fn)(nvmlDevice_t dev, nvmlUtilization_t *u);
typedef nvmlReturn_t (*nvml_memory_fn)(nvmlDevice_t dev, nvmlMemory_t *m);
typedef nvmlReturn_t (*nvml_memory_v2_fn)(nvmlDevice_t dev, nvmlMemory_v2_t *m);
/* GetTemperature, GetClockInfo, GetPcieThroughput: (dev, enum, uint *). */
typedef nvmlReturn_t (*nvml_dev_enum_uint_fn)(nvmlDevice_t dev, int which,
					      unsigned int *v);
typedef nvmlReturn_t (*nvml_ecc_fn)(nvmlDevice_t dev, int error_type, int counter_type,
				    unsigned long long *v);
typedef nvmlReturn_t (*nvml_pci_info_legacy_fn)(nvmlDevice_t dev,
						nvmlPciInfoLegacy_t *pci);
/* (dev, nvmlSamplingType_t, lastSeenTimeStamp, nvmlValueType_t *, count,
 * samples); samples NULL asks for the count only. */
typedef nvmlReturn_t (*nvml_samples_fn)(nvmlDevice_t dev, int type,
					unsigned long long last_seen, int *value_type,
					unsigned int *count, nvmlSample_t *samples);
typedef nvmlReturn_t (*nvml_processes_fn)(nvmlDevice_t dev, unsigned int *count,
					  nvmlProcessInfo_t *infos);
typedef nvmlReturn_t (*nvml_proc_util_fn)(nvmlDevice_t dev,
					  nvmlProcessUtilizationSample_t *samples,
					  unsigned int *count,
					  unsigned long long last_seen);
typedef nvmlReturn_t (*nvml_field_values_fn)(nvmlDevice_t dev, int count,
					     nvmlFieldValue_t *values);
typedef nvmlReturn_t (*nvml_event_set_create_fn)(nvmlEventSet_t *set);
typedef nvmlReturn_t (*nvml_register_events_fn)(nvmlDevice_t dev,
						unsigned long long types,
						nvmlEventSet_t set);
typedef nvmlReturn_t (*nvml_event_set_wait_fn)(nvmlEventSet_t set, nvmlEventData_t *data,
					       unsigned int timeout_ms);
typedef nvmlReturn_t (*nvml_event_set_free_fn)(nvmlEventSet_t set);
typedef nvmlReturn_t (*nvml_gpm_support_fn)(nvmlDevice_t dev, nvmlGpmSupport_t *s);
typedef nvmlReturn_t (*nvml_gpm_sample_alloc_fn)(nvmlGpmSample_t *s);
typedef nvmlReturn_t (*nvml_gpm_sample_free_fn)(nvmlGpmSample_t s);
typedef nvmlReturn_t (*nvml_gpm_sample_get_fn)(nvmlDevice_t dev, nvmlGpmSample_t s);
typedef nvmlReturn_t (*nvml_gpm_mig_sample_get_fn)(nvmlDevice_t dev,
						   unsigned int gpu_instance,
						   nvmlGpmSample_t s);
typedef nvmlReturn_t (*nvml_gpm_metrics_get_fn)(nvmlGpmMetricsGet_t *m);
typedef nvmlReturn_t (*nvml_mig_mode_fn)(nvmlDevice_t dev, unsigned int *cur,
					 unsigned int *pending);
typedef nvmlReturn_t (*nvml_mig_handle_fn)(nvmlDevice_t dev, unsigned int i,
					   nvmlDevice_t *mig);
/* nvmlDeviceGetDeviceHandleFromMigDeviceHandle: a MIG handle's parent GPU. */
typedef nvmlReturn_t (*nvml_mig_parent_fn)(nvmlDevice_t mig, nvmlDevice_t *dev);

#endif /* ACCELMON_NVML_API_H */
