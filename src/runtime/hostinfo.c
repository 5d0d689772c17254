/* Host facts for the server object. Everything comes from files the kernel
 * publishes, so the daemon needs no tool (dmidecode, lshw) and no privilege
 * beyond reading /sys. */
#include "runtime/hostinfo.h"

#include <ctype.h>
#include <dirent.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LINE_MAX_LEN 512

/* The first line of a small sysfs file, trimmed; "" when unreadable. */
static void read_line(const char *path, char *out, size_t len)
{
	FILE *f = fopen(path, "re");
	out[0] = '\0';
	if (!f)
		return;
	if (fgets(out, (int)len, f)) {
		size_t n = strlen(out);
		while (n && isspace((unsigned char)out[n - 1]))
			out[--n] = '\0';
		size_t lead = strspn(out, " \t");
		memmove(out, out + lead, n - lead + 1);
	}
	fclose(f);
}

static int64_t read_int(const char *path)
{
	char buf[64];
	read_line(path, buf, sizeof(buf));
	return buf[0] ? strtoll(buf, NULL, 10) : 0;
}

/* "value" of a "key<tab>: value" line of /proc/cpuinfo. */
static const char *cpuinfo_value(const char *line, const char *key)
{
	size_t k = strlen(key);
	if (strncmp(line, key, k) != 0 || (line[k] != ' ' && line[k] != '\t' && line[k] != ':'))
		return NULL;
	const char *colon = strchr(line, ':');
	return colon ? colon + 1 + strspn(colon + 1, " \t") : NULL;
}

static void copy_trimmed(char *out, size_t len, const char *in)
{
	snprintf(out, len, "%s", in);
	size_t n = strlen(out);
	while (n && isspace((unsigned char)out[n - 1]))
		out[--n] = '\0';
}

/* Model name and hypervisor flag from /proc/cpuinfo; physical cores as the
 * distinct (package, core) pairs of /sys topology. */
static void read_cpu(struct rt_host_specs *s)
{
	char line[LINE_MAX_LEN];
	FILE *f = fopen("/proc/cpuinfo", "re");
	while (f && fgets(line, sizeof(line), f)) {
		const char *v;
		if (!s->cpu_model[0] &&
		    ((v = cpuinfo_value(line, "model name")) || (v = cpuinfo_value(line, "Model"))))
			copy_trimmed(s->cpu_model, sizeof(s->cpu_model), v);
		if ((v = cpuinfo_value(line, "flags")) && strstr(v, " hypervisor"))
			s->is_vm = true;
	}
	if (f)
		fclose(f);
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	s->cpu_threads = n > 0 ? (int)n : 1;
	int64_t seen[1024];
	int cores = 0;
	for (int cpu = 0; cpu < s->cpu_threads && cpu < 1024; cpu++) {
		char path[128];
		snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%d/topology/core_id", cpu);
		int64_t core = read_int(path);
		snprintf(path, sizeof(path),
			 "/sys/devices/system/cpu/cpu%d/topology/physical_package_id", cpu);
		int64_t key = read_int(path) * 65536 + core;
		bool dup = false;
		for (int i = 0; i < cores && !dup; i++)
			dup = seen[i] == key;
		if (!dup)
			seen[cores++] = key;
	}
	s->cpu_cores = cores > 0 ? cores : s->cpu_threads;
}

static bool skipped_block(const char *name)
{
	static const char *const prefixes[] = {"loop", "ram", "zram", "dm-",
					       "md",   "sr",  "nbd",  "fd"};
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0)
			return true;
	return false;
}

static const char *disk_interface(const char *name)
{
	if (strncmp(name, "nvme", 4) == 0)
		return "NVMe";
	if (strncmp(name, "vd", 2) == 0 || strncmp(name, "xvd", 3) == 0)
		return "virtio";
	if (strncmp(name, "mmcblk", 6) == 0)
		return "MMC";
	if (strncmp(name, "sd", 2) == 0)
		return "SATA";
	return "";
}

static void read_disks(struct rt_host_specs *s)
{
	DIR *d = opendir("/sys/block");
	struct dirent *e;
	while (d && (e = readdir(d)) && s->ndisks < RT_HOST_DISKS_MAX) {
		char path[300];
		if (e->d_name[0] == '.' || skipped_block(e->d_name))
			continue;
		snprintf(path, sizeof(path), "/sys/block/%s/size", e->d_name);
		int64_t sectors = read_int(path);
		if (sectors <= 0)
			continue;
		struct rt_host_disk *dk = &s->disks[s->ndisks++];
		dk->bytes = (uint64_t)sectors * 512;
		snprintf(path, sizeof(path), "/sys/block/%s/device/model", e->d_name);
		read_line(path, dk->model, sizeof(dk->model));
		snprintf(dk->interface, sizeof(dk->interface), "%s", disk_interface(e->d_name));
		snprintf(path, sizeof(path), "/sys/block/%s/queue/rotational", e->d_name);
		snprintf(dk->type, sizeof(dk->type), "%s",
			 strcmp(dk->interface, "NVMe") == 0 ? "NVMe"
			 : read_int(path) == 1		    ? "HDD"
							    : "SSD");
	}
	if (d)
		closedir(d);
}

/* A physical interface has a device behind it (bridges, veths, tunnels and
 * loopback have none). */
static bool physical_if(const char *name)
{
	char path[IF_NAMESIZE + 32];
	snprintf(path, sizeof(path), "/sys/class/net/%s/device", name);
	return access(path, F_OK) == 0;
}

static void read_network(struct rt_host_specs *s)
{
	struct ifaddrs *all = NULL, *a;
	if (getifaddrs(&all) < 0)
		return;
	for (a = all; a; a = a->ifa_next) {
		if (!a->ifa_addr || !physical_if(a->ifa_name))
			continue;
		if (a->ifa_addr->sa_family == AF_INET) {
			s->ipv4_count++;
		} else if (a->ifa_addr->sa_family == AF_INET6) {
			const struct in6_addr *in6 =
			    &((struct sockaddr_in6 *)a->ifa_addr)->sin6_addr;
			if (!IN6_IS_ADDR_LINKLOCAL(in6) && !IN6_IS_ADDR_LOOPBACK(in6))
				s->ipv6_enabled = true;
		}
		char path[IF_NAMESIZE + 32];
		snprintf(path, sizeof(path), "/sys/class/net/%s/speed", a->ifa_name);
		int64_t mbps = read_int(path); /* -1 or unreadable when the link is down */
		if (mbps > s->bandwidth_mbps)
			s->bandwidth_mbps = mbps;
	}
	freeifaddrs(all);
}

void rt_host_specs(struct rt_host_specs *s)
{
	memset(s, 0, sizeof(*s));
	read_line("/sys/class/dmi/id/product_name", s->model, sizeof(s->model));
	read_cpu(s);
	s->ram_bytes = (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE);
	read_disks(s);
	read_network(s);
	if (access("/sys/hypervisor/type", F_OK) == 0)
		s->is_vm = true;
}
