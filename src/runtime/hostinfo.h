/* What this machine is made of, read from /proc and /sys for the server
 * object of the API: CPU, memory, block devices, network. Unknown facts are
 * left empty or zero; reading never fails. */
#ifndef HOODY_RUNTIME_HOSTINFO_H
#define HOODY_RUNTIME_HOSTINFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RT_HOST_DISKS_MAX 32

struct rt_host_disk {
	char model[64];
	char type[8];	   /* "NVMe", "SSD", "HDD" */
	char interface[8]; /* "NVMe", "SATA", "virtio", "SCSI", "MMC", "" */
	uint64_t bytes;
};

struct rt_host_specs {
	char model[128]; /* DMI product name, "" when unknown */
	bool is_vm;	 /* the CPU reports a hypervisor */
	char cpu_model[128];
	int cpu_cores;	 /* physical cores (threads when the topology is unknown) */
	int cpu_threads; /* online logical CPUs */
	uint64_t ram_bytes;
	struct rt_host_disk disks[RT_HOST_DISKS_MAX];
	size_t ndisks;		/* whole disks: no partitions, loop, ram, zram or dm devices */
	int64_t bandwidth_mbps; /* fastest physical link up, 0 when unknown */
	int ipv4_count;		/* IPv4 addresses on physical interfaces */
	bool ipv6_enabled;	/* a global IPv6 address on a physical interface */
};

void rt_host_specs(struct rt_host_specs *out);

#endif
