/* accelmon metric schema: the vendor-neutral families, defined once in the
 * core (name, HELP, type, unit, label names), which every collector refers
 * to by id. A family named here cannot be registered with am_family(), so
 * HELP and labels never depend on which collector registers first.
 * Device families carry `device` and `uuid` first; fabric port families
 * `device` and `port`; per-peer families `device` and `peer`.
 */
#ifndef ACCELMON_SCHEMA_H
#define ACCELMON_SCHEMA_H

#include "accelmon/collector.h"

#ifdef __cplusplus
extern "C" {
#endif

enum am_std {
	/* accelerators */
	AM_STD_ACCEL_INFO,          /* accel_info{device,uuid,vendor,model,serial,
				       pci_bus_id,numa_node,driver_version,
				       firmware_version}: "" where unknown */
	AM_STD_ACCEL_UP,            /* accel_up */
	AM_STD_BUSY_SECONDS,        /* accel_busy_seconds_total */
	AM_STD_UTILIZATION,         /* accel_utilization_ratio */
	AM_STD_SM_ACTIVE_SECONDS,   /* accel_sm_active_seconds_total */
	AM_STD_SM_ACTIVE,           /* accel_sm_active_ratio */
	AM_STD_SM_OCCUPANCY,        /* accel_sm_occupancy_ratio */
	AM_STD_TENSOR_ACTIVE_SECONDS, /* accel_tensor_active_seconds_total */
	AM_STD_TENSOR_ACTIVE,       /* accel_tensor_active_ratio */
	AM_STD_MEMORY_BW_UTILIZATION, /* accel_memory_bandwidth_utilization_ratio */
	AM_STD_MEMORY_USED,         /* accel_memory_used_bytes */
	AM_STD_MEMORY_TOTAL,        /* accel_memory_total_bytes */
	AM_STD_POWER,               /* accel_power_watts */
	AM_STD_POWER_LIMIT,         /* accel_power_limit_watts */
	AM_STD_ENERGY,              /* accel_energy_joules_total */
	AM_STD_TEMPERATURE,         /* accel_temperature_celsius{sensor} */
	AM_STD_CLOCK,               /* accel_clock_hertz{clock} */
	AM_STD_THROTTLED_SECONDS,   /* accel_throttled_seconds_total{reason} */
	AM_STD_PCIE_TRANSMIT_BYTES, /* accel_pcie_transmit_bytes_total */
	AM_STD_PCIE_RECEIVE_BYTES,  /* accel_pcie_receive_bytes_total */
	AM_STD_ECC_ERRORS,          /* accel_ecc_errors_total{type} */
	AM_STD_ERROR_EVENTS,        /* accel_error_events_total{code} */
	AM_STD_ENGINE_UTILIZATION,  /* accel_engine_utilization_ratio{engine} */
	AM_STD_ENGINE_BUSY_SECONDS, /* accel_engine_busy_seconds_total{engine} */
	/* fabric ports */
	AM_STD_PORT_INFO,           /* fabric_port_info{device,port,...} */
	AM_STD_PORT_UP,             /* fabric_port_up */
	AM_STD_PORT_LINK_SPEED,     /* fabric_port_link_speed_bytes_per_second */
	AM_STD_PORT_TRANSMIT_BYTES, /* fabric_port_transmit_bytes_total */
	AM_STD_PORT_RECEIVE_BYTES,  /* fabric_port_receive_bytes_total */
	AM_STD_PORT_TRANSMIT_PACKETS, /* fabric_port_transmit_packets_total */
	AM_STD_PORT_RECEIVE_PACKETS,  /* fabric_port_receive_packets_total */
	AM_STD_PORT_UTILIZATION,    /* fabric_port_utilization_ratio{direction} */
	AM_STD_PORT_UTILIZATION_PEAK, /* fabric_port_utilization_peak_ratio{direction} */
	AM_STD_PORT_TRANSMIT_WAIT,  /* fabric_port_transmit_wait_total */
	AM_STD_PORT_ERRORS,         /* fabric_port_errors_total{type} */
	AM_STD_PORT_STAT_SATURATED, /* fabric_port_stat_saturated{counter} */
	AM_STD_NVLINK_TRANSMIT_BYTES, /* fabric_nvlink_transmit_bytes_total{link} */
	AM_STD_NVLINK_RECEIVE_BYTES,  /* fabric_nvlink_receive_bytes_total{link} */
	/* per-peer traffic (collectors/pcap.c): labels device (capture
	 * interface), peer (address or "other"), then protocol or direction */
	AM_STD_PEER_TRANSMIT_BYTES,   /* fabric_peer_transmit_bytes_total{protocol} */
	AM_STD_PEER_RECEIVE_BYTES,    /* fabric_peer_receive_bytes_total{protocol} */
	AM_STD_PEER_TRANSMIT_PACKETS, /* fabric_peer_transmit_packets_total{protocol} */
	AM_STD_PEER_RECEIVE_PACKETS,  /* fabric_peer_receive_packets_total{protocol} */
	AM_STD_PEER_CNP_PACKETS,      /* fabric_peer_cnp_packets_total{direction} */
	AM_STD_PEER_ECN_CE_PACKETS,   /* fabric_peer_ecn_ce_packets_total{direction} */
	AM_STD_PEER_ADDRESS_INFO,     /* fabric_peer_address_info{device,address,node} */
	/* jobs on a device (issue 17, accelmon/attrib.h): device, uuid, job,
	 * kind; accel_job_info adds user, step, container */
	AM_STD_JOB_BUSY_SECONDS,    /* accel_job_busy_seconds_total */
	AM_STD_JOB_MEMORY_USED,     /* accel_job_memory_used_bytes */
	AM_STD_JOB_ENERGY,          /* accel_job_energy_joules_total */
	AM_STD_JOB_INFO,            /* accel_job_info */
	AM_STD_JOB_ALLOCATED,       /* accel_job_allocated */
	AM_STD__COUNT
};

/* How this collector feeds a schema family: the aggregation kind (it must
 * expose the family's type: AM_COUNTER or AM_INTEGRAL for a counter,
 * AM_GAUGE or AM_WINDOW_* for a gauge), and for its samples bits,
 * saturating, scale and window_s as in struct am_family_def. */
struct am_std_use {
	enum am_kind kind;
	unsigned bits;
	bool saturating;
	double scale;
	double window_s;
	void *reserved[2]; /* zero */
};

/* Register schema family `which` for this collector; `use` NULL means the
 * family's default kind (counter families: AM_COUNTER, 64 bits; ratio
 * seconds families: AM_INTEGRAL) with scale 1. Returns a handle for
 * am_series / am_series_derived, or a negative errno. */
am_family_t am_std_family(struct am_ctx *ctx, enum am_std which,
			  const struct am_std_use *use);

/* Name and label names of a schema family (for tests and docs). */
const struct am_family_def *am_std_def(enum am_std which);

#ifdef __cplusplus
}
#endif
#endif /* ACCELMON_SCHEMA_H */
