/* The part of Huawei's DCMI (libdcmi.so, the Ascend NPU management library)
 * that the ascend collector calls, declared from the public
 * dcmi_interface_api.h (Ascend/mind-cluster, devmanager/dcmi) and the DCMI
 * API reference: function types for dlsym, the few structs with their sizes
 * checked, and the return codes. Every call returns int, 0 on success;
 * (card_id, device_id) name a chip: device_id is its index on the card.
 * Where the header takes a C enum (utilization, frequency, ECC memory and die
 * types, the network health result) an int is declared: the same size and
 * passing on the ABIs the driver ships for (x86-64, aarch64).
 */
#ifndef ACCELMON_ASCEND_API_H
#define ACCELMON_ASCEND_API_H

#include <stddef.h>

/* Return codes the collector tells apart (DCMI's own, negative). */
#define DCMI_OK 0
#define DCMI_ERR_TIMEOUT (-8006)
#define DCMI_ERR_INVALID_DEVICE (-8007)
#define DCMI_ERR_NO_DEVICE (-8008)
#define DCMI_ERR_NOT_READY (-8012)
#define DCMI_ERR_NOT_SUPPORTED (-8255)

/* The library lists at most 64 cards. */
#define DCMI_MAX_CARDS 64

/* Input types of dcmi_get_device_utilization_rate (percent answers). */
enum dcmi_util_type {
	DCMI_UTIL_AICORE = 2,
	DCMI_UTIL_AICPU = 3,
	DCMI_UTIL_CTRLCPU = 4,
	DCMI_UTIL_DDR_BW = 5,
	DCMI_UTIL_HBM_BW = 10,
	DCMI_UTIL_VECTOR = 12,
	DCMI_UTIL_NPU = 13,
	DCMI_UTIL_AICUBE = 14,
};

/* DCMI's enums are int-sized on this compiler, as the int parameters and
 * dcmi_detect_result_t below assume. */
_Static_assert(sizeof(enum dcmi_util_type) == sizeof(int), "enum is not int-sized");

/* dcmi_get_device_frequency: the AI Core's current clock, MHz. */
#define DCMI_FREQ_AICORE_CURRENT 7
/* dcmi_get_device_ecc_info: the memory asked about. */
#define DCMI_DEVICE_TYPE_HBM 2
/* dcmi_get_device_die_v2: the die id kinds (NDIE 0, VDIE 1). */
#define DCMI_DIE_VDIE 1

struct dcmi_chip_info {
	unsigned char chip_type[32];
	unsigned char chip_name[32]; /* "910B3", "310P3" */
	unsigned char chip_ver[32];
	unsigned int aicore_cnt;
};
_Static_assert(sizeof(struct dcmi_chip_info) == 100, "dcmi_chip_info layout");

struct dcmi_pcie_info_all {
	unsigned int venderid, subvenderid, deviceid, subdeviceid;
	int domain;
	unsigned int bdf_busid, bdf_deviceid, bdf_funcid;
	unsigned char reserve[32];
};
_Static_assert(sizeof(struct dcmi_pcie_info_all) == 64, "dcmi_pcie_info_all layout");

struct dcmi_die_id {
	unsigned int soc_die[5];
};
_Static_assert(sizeof(struct dcmi_die_id) == 20, "dcmi_die_id layout");

/* HBM (910 class): sizes in MB (2^20 bytes), freq MHz, temp Celsius,
 * bandwidth utilization percent. */
struct dcmi_hbm_info {
	unsigned long long memory_size;
	unsigned int freq;
	unsigned long long memory_usage;
	int temp;
	unsigned int bandwith_util_rate;
};
_Static_assert(sizeof(struct dcmi_hbm_info) == 32, "dcmi_hbm_info layout");
_Static_assert(offsetof(struct dcmi_hbm_info, memory_usage) == 16 &&
		   offsetof(struct dcmi_hbm_info, temp) == 24,
	       "dcmi_hbm_info offsets");

/* DDR (310P class, dcmi_get_device_memory_info_v3): sizes in MB; available
 * is free plus free huge pages. */
struct dcmi_memory_info_v3 {
	unsigned long long memory_size;
	unsigned long long memory_available;
	unsigned int freq;
	unsigned long hugepagesize; /* KB */
	unsigned long hugepages_total;
	unsigned long hugepages_free;
	unsigned int utiliza;
	unsigned char reserve[60];
};
_Static_assert(offsetof(struct dcmi_memory_info_v3, memory_available) == 8,
	       "dcmi_memory_info_v3 offsets");
_Static_assert(sizeof(struct dcmi_memory_info_v3) == 8 * 14,
	       "dcmi_memory_info_v3 layout");

/* ECC counts. Newer drivers append two counts of pages waiting to be
 * isolated; older ones stop after double_bit_isolated_pages_cnt. Only the
 * first seven fields are read, and the caller's buffer has room to spare
 * (union ascend_ecc_buf) for a driver that writes more. */
struct dcmi_ecc_info {
	int enable_flag;
	unsigned int single_bit_error_cnt;
	unsigned int double_bit_error_cnt;
	unsigned int total_single_bit_error_cnt;
	unsigned int total_double_bit_error_cnt;
	unsigned int single_bit_isolated_pages_cnt;
	unsigned int double_bit_isolated_pages_cnt;
	unsigned int single_bit_next_isolated_pages_cnt;
	unsigned int double_bit_next_isolated_pages_cnt;
};
_Static_assert(sizeof(struct dcmi_ecc_info) == 36, "dcmi_ecc_info layout");
_Static_assert(offsetof(struct dcmi_ecc_info, double_bit_isolated_pages_cnt) == 24,
	       "dcmi_ecc_info offsets");

/* Board electronic label (per card): serial_number is the board's. */
struct dcmi_elabel_info {
	char product_name[256];
	char model[256];
	char manufacturer[256];
	char manufacturer_date[256];
	char serial_number[256];
};
_Static_assert(sizeof(struct dcmi_elabel_info) == 1280, "dcmi_elabel_info layout");

/* One process using the chip (dcmi_get_device_resource_info). */
struct dcmi_proc_mem_info {
	int proc_id;
	unsigned long proc_mem_usage; /* bytes */
};
_Static_assert(sizeof(struct dcmi_proc_mem_info) == 16, "dcmi_proc_mem_info layout");

/* dcmi_get_device_network_health: 0 OK, 1 socket failure, 2 receive
 * timeout, 3 unreachable, 4 time exceeded, 5 fault, 6 init, 7 thread
 * error, 8 IP being set. An enum in C: int-sized. */
typedef int dcmi_detect_result_t;

typedef int (*dcmi_init_fn)(void);
typedef int (*dcmi_card_list_fn)(int *card_num, int *card_list, int list_len);
typedef int (*dcmi_num_in_card_fn)(int card_id, int *device_num);
typedef int (*dcmi_logic_id_fn)(int *logic_id, int card_id, int device_id);
typedef int (*dcmi_chip_info_fn)(int card_id, int device_id, struct dcmi_chip_info *info);
typedef int (*dcmi_pcie_info_fn)(int card_id, int device_id,
				 struct dcmi_pcie_info_all *info);
typedef int (*dcmi_die_fn)(int card_id, int device_id, int die_type,
			   struct dcmi_die_id *die);
typedef int (*dcmi_elabel_fn)(int card_id, struct dcmi_elabel_info *info);
typedef int (*dcmi_util_fn)(int card_id, int device_id, int input_type,
			    unsigned int *percent);
typedef int (*dcmi_hbm_fn)(int card_id, int device_id, struct dcmi_hbm_info *info);
typedef int (*dcmi_memory_v3_fn)(int card_id, int device_id,
				 struct dcmi_memory_info_v3 *info);
typedef int (*dcmi_dev_int_fn)(int card_id, int device_id, int *value);
typedef int (*dcmi_dev_uint_fn)(int card_id, int device_id, unsigned int *value);
typedef int (*dcmi_freq_fn)(int card_id, int device_id, int freq_type, unsigned int *mhz);
typedef int (*dcmi_ecc_fn)(int card_id, int device_id, int mem_type,
			   struct dcmi_ecc_info *info);
typedef int (*dcmi_errorcode_fn)(int card_id, int device_id, int *count,
				 unsigned int *codes, unsigned int list_len);
typedef int (*dcmi_resource_fn)(int card_id, int device_id,
				struct dcmi_proc_mem_info *procs, int *proc_num);
typedef int (*dcmi_network_health_fn)(int card_id, int device_id,
				      dcmi_detect_result_t *result);

#endif /* ACCELMON_ASCEND_API_H */
