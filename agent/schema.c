/* The vendor-neutral metric schema of ../shared/DESIGN.md, defined once:
 * name, HELP, type (as the default kind), unit and label names of every
 * family in accelmon/schema.h. Collectors register these families with
 * am_std_family(); HELP is written to be true for every collector, so it
 * never depends on which one registers first.
 */
#include <errno.h>
#include <string.h>

#include "schema.h"

#define DEV "device", "uuid"
#define PORT "device", "port"
#define PEER "device", "peer"
#define JOB "device", "uuid", "job", "kind"

/* clang-format off */
#define STD(n, k, u, h, ...) { .name = n, .help = h, .kind = k, .unit = u, \
	.labels = { __VA_ARGS__ } }
/* clang-format on */

static const struct am_family_def std_defs[AM_STD__COUNT] = {
    /* accelerators */
    [AM_STD_ACCEL_INFO] = STD("accel_info", AM_INFO, NULL,
			      "Accelerator identity (constant 1): vendor, model, serial "
			      "number, PCI address, NUMA node, driver and firmware "
			      "versions; a value the collector cannot read is empty. "
			      "Join on device and uuid.",
			      DEV, "vendor", "model", "serial", "pci_bus_id", "numa_node",
			      "driver_version", "firmware_version"),
    [AM_STD_ACCEL_UP] = STD("accel_up", AM_GAUGE, NULL,
			    "1 when the accelerator answered the collector's last poll, "
			    "0 when it is lost or its driver is unusable.",
			    DEV),
    [AM_STD_BUSY_SECONDS] = STD("accel_busy_seconds_total", AM_INTEGRAL, "seconds",
				"Seconds the accelerator was busy "
				"(accel_utilization_ratio integrated over polls); "
				"rate() gives the mean busy fraction.",
				DEV),
    [AM_STD_UTILIZATION] = STD("accel_utilization_ratio", AM_GAUGE, "ratio",
			       "Share of the last sample period in which the "
			       "accelerator's compute engine was busy (0..1).",
			       DEV),
    [AM_STD_SM_ACTIVE_SECONDS] =
	STD("accel_sm_active_seconds_total", AM_INTEGRAL, "seconds",
	    "Seconds the streaming multiprocessors (compute "
	    "units) were active (accel_sm_active_ratio "
	    "integrated over polls).",
	    DEV),
    [AM_STD_SM_ACTIVE] = STD("accel_sm_active_ratio", AM_GAUGE, "ratio",
			     "Share of time the streaming multiprocessors (compute "
			     "units) had work resident, averaged over them and the "
			     "poll (0..1).",
			     DEV),
    [AM_STD_SM_OCCUPANCY] = STD("accel_sm_occupancy_ratio", AM_GAUGE, "ratio",
				"Resident warps (wavefronts) over the maximum the "
				"compute units hold, averaged over the poll (0..1).",
				DEV),
    [AM_STD_TENSOR_ACTIVE_SECONDS] =
	STD("accel_tensor_active_seconds_total", AM_INTEGRAL, "seconds",
	    "Seconds any tensor (matrix) pipe was active "
	    "(accel_tensor_active_ratio integrated over "
	    "polls).",
	    DEV),
    [AM_STD_TENSOR_ACTIVE] = STD("accel_tensor_active_ratio", AM_GAUGE, "ratio",
				 "Share of cycles any tensor (matrix) pipe was active "
				 "over the poll (0..1).",
				 DEV),
    [AM_STD_MEMORY_BW_UTILIZATION] =
	STD("accel_memory_bandwidth_utilization_ratio", AM_GAUGE, "ratio",
	    "Device memory bandwidth in use over its peak, "
	    "or the share of time the memory controller "
	    "was busy where that is what the device "
	    "reports (0..1).",
	    DEV),
    [AM_STD_MEMORY_USED] =
	STD("accel_memory_used_bytes", AM_GAUGE, "bytes", "Device memory in use.", DEV),
    [AM_STD_MEMORY_TOTAL] = STD("accel_memory_total_bytes", AM_GAUGE, "bytes",
				"Device memory in total.", DEV),
    [AM_STD_POWER] = STD("accel_power_watts", AM_GAUGE, "watts",
			 "Power draw, as the device's driver reports it (board or "
			 "socket).",
			 DEV),
    [AM_STD_POWER_LIMIT] = STD("accel_power_limit_watts", AM_GAUGE, "watts",
			       "Enforced power limit (cap).", DEV),
    [AM_STD_ENERGY] = STD("accel_energy_joules_total", AM_COUNTER, "joules",
			  "Energy consumed, from the device's counter or integrated "
			  "from power by the agent.",
			  DEV),
    [AM_STD_TEMPERATURE] = STD("accel_temperature_celsius", AM_GAUGE, "celsius",
			       "Temperature by sensor (gpu or edge: the die, junction: "
			       "the hottest spot, memory: HBM, ...).",
			       DEV, "sensor"),
    [AM_STD_CLOCK] = STD("accel_clock_hertz", AM_GAUGE, "hertz",
			 "Current clock frequency by domain (graphics, sm, memory, "
			 "...).",
			 DEV, "clock"),
    [AM_STD_THROTTLED_SECONDS] =
	STD("accel_throttled_seconds_total", AM_INTEGRAL, "seconds",
	    "Seconds during which the device reported the "
	    "throttle (clock event) reason active.",
	    DEV, "reason"),
    [AM_STD_PCIE_TRANSMIT_BYTES] =
	STD("accel_pcie_transmit_bytes_total", AM_COUNTER, "bytes",
	    "Bytes the device sent over PCIe, as counted or "
	    "sampled by its driver (the collector's "
	    "documentation says how exact).",
	    DEV),
    [AM_STD_PCIE_RECEIVE_BYTES] =
	STD("accel_pcie_receive_bytes_total", AM_COUNTER, "bytes",
	    "Bytes the device received over PCIe, as counted "
	    "or sampled by its driver (the collector's "
	    "documentation says how exact).",
	    DEV),
    [AM_STD_ECC_ERRORS] = STD("accel_ecc_errors_total", AM_COUNTER, NULL,
			      "Device memory ECC errors since the driver loaded, by "
			      "type (corrected, uncorrected) and by block where the "
			      "device counts per block (else block is empty).",
			      DEV, "type", "block"),
    [AM_STD_ERROR_EVENTS] = STD("accel_error_events_total", AM_COUNTER, NULL,
				"Critical error events the agent saw, by the vendor's "
				"code (an NVIDIA Xid number, double_bit_ecc, ...).",
				DEV, "code"),
    [AM_STD_ENGINE_UTILIZATION] = STD("accel_engine_utilization_ratio", AM_GAUGE, "ratio",
				      "Busy share of an auxiliary engine (vcn: video "
				      "codec, AI CPU, vector, ...) over the last "
				      "sample period (0..1).",
				      DEV, "engine"),
    [AM_STD_ENGINE_BUSY_SECONDS] =
	STD("accel_engine_busy_seconds_total", AM_INTEGRAL, "seconds",
	    "Seconds an auxiliary engine was busy "
	    "(accel_engine_utilization_ratio integrated "
	    "over polls).",
	    DEV, "engine"),
    /* fabric ports */
    [AM_STD_PORT_INFO] = STD("fabric_port_info", AM_INFO, NULL,
			     "Fabric port identity (constant 1): link layer, netdev, "
			     "rate text, firmware, node GUID, nearest accelerator "
			     "(PCI address); a value the collector cannot read is "
			     "empty.",
			     PORT, "link_layer", "netdev", "rate", "firmware_version",
			     "node_guid", "accelerator"),
    [AM_STD_PORT_UP] = STD("fabric_port_up", AM_GAUGE, NULL,
			   "1 when the port's logical state is active (it can carry "
			   "traffic), else 0.",
			   PORT),
    [AM_STD_PORT_LINK_SPEED] =
	STD("fabric_port_link_speed_bytes_per_second", AM_GAUGE, "bytes_per_second",
	    "Port data rate in bytes per second.", PORT),
    [AM_STD_PORT_TRANSMIT_BYTES] = STD("fabric_port_transmit_bytes_total", AM_COUNTER,
				       "bytes", "Data bytes the port transmitted.", PORT),
    [AM_STD_PORT_RECEIVE_BYTES] = STD("fabric_port_receive_bytes_total", AM_COUNTER,
				      "bytes", "Data bytes the port received.", PORT),
    [AM_STD_PORT_TRANSMIT_PACKETS] = STD("fabric_port_transmit_packets_total", AM_COUNTER,
					 NULL, "Packets the port transmitted.", PORT),
    [AM_STD_PORT_RECEIVE_PACKETS] = STD("fabric_port_receive_packets_total", AM_COUNTER,
					NULL, "Packets the port received.", PORT),
    [AM_STD_PORT_UTILIZATION] = STD("fabric_port_utilization_ratio", AM_GAUGE, "ratio",
				    "Data rate over the last poll interval divided by "
				    "the link speed, by direction (transmit, receive).",
				    PORT, "direction"),
    [AM_STD_PORT_UTILIZATION_PEAK] =
	STD("fabric_port_utilization_peak_ratio", AM_WINDOW_MAX, "ratio",
	    "Highest per-poll utilization in the "
	    "collector's peak window, by direction.",
	    PORT, "direction"),
    [AM_STD_PORT_TRANSMIT_WAIT] = STD("fabric_port_transmit_wait_total", AM_COUNTER, NULL,
				      "Ticks a packet waited to be sent on the port (a "
				      "sign of congestion).",
				      PORT),
    [AM_STD_PORT_ERRORS] = STD("fabric_port_errors_total", AM_COUNTER, NULL,
			       "Port error counters, by the counter's name in the "
			       "device's interface.",
			       PORT, "type"),
    [AM_STD_PORT_STAT_SATURATED] = STD("fabric_port_stat_saturated", AM_GAUGE, NULL,
				       "1 while a saturating port counter sits at its "
				       "maximum (it no longer counts until cleared, "
				       "e.g. perfquery -R on InfiniBand), else 0.",
				       PORT, "counter"),
    [AM_STD_NVLINK_TRANSMIT_BYTES] =
	STD("fabric_nvlink_transmit_bytes_total", AM_COUNTER, "bytes",
	    "NVLink data bytes transmitted, per link; "
	    "link=\"all\" is the device's total over links "
	    "(do not add it to the per-link series).",
	    DEV, "link"),
    [AM_STD_NVLINK_RECEIVE_BYTES] =
	STD("fabric_nvlink_receive_bytes_total", AM_COUNTER, "bytes",
	    "NVLink data bytes received, per link; "
	    "link=\"all\" is the device's total over links "
	    "(do not add it to the per-link series).",
	    DEV, "link"),
    /* per-peer traffic (collectors/pcap.c) */
    [AM_STD_PEER_TRANSMIT_BYTES] =
	STD("fabric_peer_transmit_bytes_total", AM_COUNTER, "bytes",
	    "Bytes (frame length on the wire) this node sent to a peer address "
	    "seen by a packet capture on device, by protocol (rocev2, tcp, udp, "
	    "other); peer=\"other\" holds the peers outside the top K.",
	    PEER, "protocol"),
    [AM_STD_PEER_RECEIVE_BYTES] =
	STD("fabric_peer_receive_bytes_total", AM_COUNTER, "bytes",
	    "Bytes (frame length on the wire) this node received from a peer "
	    "address seen by a packet capture on device, by protocol; "
	    "peer=\"other\" holds the peers outside the top K.",
	    PEER, "protocol"),
    [AM_STD_PEER_TRANSMIT_PACKETS] =
	STD("fabric_peer_transmit_packets_total", AM_COUNTER, NULL,
	    "Packets this node sent to a peer address, by protocol.", PEER,
	    "protocol"),
    [AM_STD_PEER_RECEIVE_PACKETS] =
	STD("fabric_peer_receive_packets_total", AM_COUNTER, NULL,
	    "Packets this node received from a peer address, by protocol.", PEER,
	    "protocol"),
    [AM_STD_PEER_CNP_PACKETS] =
	STD("fabric_peer_cnp_packets_total", AM_COUNTER, NULL,
	    "RoCEv2 congestion notification packets (BTH opcode 0x81) to "
	    "(transmit) or from (receive) a peer address.",
	    PEER, "direction"),
    [AM_STD_PEER_ECN_CE_PACKETS] =
	STD("fabric_peer_ecn_ce_packets_total", AM_COUNTER, NULL,
	    "IP packets marked ECN congestion experienced, to (transmit) or "
	    "from (receive) a peer address.",
	    PEER, "direction"),
    [AM_STD_PEER_ADDRESS_INFO] =
	STD("fabric_peer_address_info", AM_INFO, NULL,
	    "One of this node's own addresses (constant 1), on a captured "
	    "device: joins another node's peer label to this node.",
	    "device", "address", "node"),
    /* jobs on a device (issue 17): the split rule is in
     * collectors/attribution.md; accel_job_info carries the rest. */
    [AM_STD_JOB_BUSY_SECONDS] =
	STD("accel_job_busy_seconds_total", AM_COUNTER, "seconds",
	    "The device's busy seconds attributed to a job (Slurm job, "
	    "Kubernetes pod, container, systemd unit or user) by its "
	    "processes' share of the device's use in each poll interval; "
	    "the jobs of a device add up to its accel_busy_seconds_total "
	    "over the intervals in which any job ran.",
	    JOB),
    [AM_STD_JOB_MEMORY_USED] = STD("accel_job_memory_used_bytes", AM_GAUGE, "bytes",
				   "Device memory held by a job's processes.", JOB),
    [AM_STD_JOB_ENERGY] = STD("accel_job_energy_joules_total", AM_COUNTER, "joules",
			      "The device's energy attributed to a job by its share of "
			      "the device's busy seconds in each poll interval (equal "
			      "shares of the jobs present when the device was idle).",
			      JOB),
    [AM_STD_JOB_INFO] = STD("accel_job_info", AM_INFO, NULL,
			    "A job running on the device (constant 1): kind (slurm, "
			    "kubernetes, docker, podman, systemd, user, other: jobs "
			    "past the per-device cap), the real uid of its first "
			    "process, Slurm step, container id, a pod's namespace and "
			    "name; \"\" where none.",
			    JOB, "user", "step", "container", "namespace", "pod"),
    [AM_STD_JOB_ALLOCATED] =
	STD("accel_job_allocated", AM_GAUGE, NULL,
	    "1 while the job holds the device (a cgroup v1 device list, the "
	    "kubelet's pod-resources, Slurm's job environment), whether or not the job "
	    "runs anything on it; a job allocated but idle still gets busy and "
	    "energy series (its share of the idle device's energy).",
	    JOB),
};

#undef STD

const struct am_family_def *am_std_def(enum am_std which)
{
	if ((int)which < 0 || which >= AM_STD__COUNT)
		return NULL;
	return &std_defs[which];
}

/* The exposed type of a kind: counter, gauge or info (as in series.c). */
static int kind_type(enum am_kind k)
{
	return k == AM_COUNTER || k == AM_INTEGRAL ? 1 : k == AM_INFO ? 2 : 0;
}

int schema_family_def(enum am_std which, const struct am_std_use *use,
		      struct am_family_def *out, const char **why)
{
	const struct am_family_def *d = am_std_def(which);

	*why = NULL;
	if (!d) {
		*why = "no such schema family";
		return -EINVAL;
	}
	*out = *d;
	if (!use)
		return 0;
	if ((int)use->kind < AM_GAUGE || use->kind > AM_INFO ||
	    kind_type(use->kind) != kind_type(d->kind)) {
		*why = kind_type(d->kind) == 1	 ? "a counter family takes AM_COUNTER or "
						   "AM_INTEGRAL"
		       : kind_type(d->kind) == 2 ? "an info family takes AM_INFO"
						 : "a gauge family takes AM_GAUGE or "
						   "AM_WINDOW_*";
		return -EINVAL;
	}
	out->kind = use->kind;
	out->bits = use->bits;
	out->saturating = use->saturating;
	out->scale = use->scale;
	out->window_s = use->window_s;
	return 0;
}

bool schema_is_std_name(const char *name)
{
	if (!name)
		return false;
	for (int i = 0; i < AM_STD__COUNT; i++)
		if (strcmp(std_defs[i].name, name) == 0)
			return true;
	return false;
}
