/* Container statistics. Field names, nesting and units follow LXD's
 * instance state, which the reference's shape mirrors: cpu.usage in ns,
 * memory and disk in bytes, status_code LXD's numeric status. See
 * docs/OPERATIONS.md "Stats". */
#include "platform/platform_int.h"
#include "platform/stats.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "platform/containers.h"
#include "platform/limits.h"
#include "platform/projects.h"
#include "platform/validate.h"

#define CPU_SAMPLES_MAX 4096 /* containers whose last CPU reading is kept */
#define PROJECT_SCAN_PAGE 100
#define PROJECT_SCAN_PAGES 100 /* 10,000 containers per project at most */

/* The previous CPU reading of each container, so usage_percent is the load
 * since the last call rather than since start. */
struct cpu_sample {
	char id[ID_LEN + 1];
	int64_t at_ns;
	uint64_t cpu_ns;
};

static struct cpu_sample samples[CPU_SAMPLES_MAX];
static size_t nsamples;
static pthread_mutex_t samples_mu = PTHREAD_MUTEX_INITIALIZER;

/* Swaps the stored reading of id for the new one; false when there was none
 * (or the counter went backwards: a restart). */
static bool cpu_swap(const char *id, int64_t at_ns, uint64_t cpu_ns, struct cpu_sample *prev)
{
	bool found = false;
	pthread_mutex_lock(&samples_mu);
	size_t i = 0, oldest = 0;
	while (i < nsamples && strcmp(samples[i].id, id) != 0) {
		if (samples[i].at_ns < samples[oldest].at_ns)
			oldest = i;
		i++;
	}
	if (i < nsamples) {
		*prev = samples[i];
		found = prev->cpu_ns <= cpu_ns && prev->at_ns < at_ns;
	} else if (nsamples < CPU_SAMPLES_MAX) {
		i = nsamples++;
	} else {
		i = oldest;
	}
	snprintf(samples[i].id, sizeof(samples[i].id), "%s", id);
	samples[i].at_ns = at_ns;
	samples[i].cpu_ns = cpu_ns;
	pthread_mutex_unlock(&samples_mu);
	return found;
}

static double percent(double part, double whole)
{
	double p = whole > 0 ? part * 100.0 / whole : 0;
	return p < 0 ? 0 : (p > 100 ? 100 : p);
}

/* allocated_time: CPU nanoseconds the container may use per second (its
 * quota, else every core). */
static json_t *cpu_json_new(const char *id, const struct rt_stats *s, const struct limits *l)
{
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	double cores = online < 1 ? 1.0 : (double)online;
	if (l->cpu_millis && (double)l->cpu_millis / 1000.0 < cores)
		cores = (double)l->cpu_millis / 1000.0;
	int64_t now = mono_ns();
	struct cpu_sample prev = {0};
	double used, wall;
	if (cpu_swap(id, now, s->cpu_ns, &prev)) {
		used = (double)(s->cpu_ns - prev.cpu_ns);
		wall = (double)(now - prev.at_ns);
	} else {
		/* First look: the average since the container started. */
		used = (double)s->cpu_ns;
		wall = s->started_at_ms ? (double)(now_ms() - s->started_at_ms) * 1e6 : 0;
	}
	return json_pack("{s:I, s:I, s:f}", "usage", (json_int_t)s->cpu_ns, "allocated_time",
			 (json_int_t)(cores * 1e9), "usage_percent", percent(used, wall * cores));
}

static json_t *memory_json_new(const struct rt_stats *s)
{
	return json_pack("{s:I, s:I, s:f, s:I, s:I, s:I}", "usage", (json_int_t)s->mem_usage,
			 "total", (json_int_t)s->mem_limit, "usage_percent",
			 percent((double)s->mem_usage, (double)s->mem_limit), "swap_usage",
			 (json_int_t)s->swap_usage, "swap_usage_peak", (json_int_t)s->swap_peak,
			 "usage_peak", (json_int_t)s->mem_peak);
}

static json_t *netif_json_new(const struct rt_netif *n)
{
	bool lo = strcmp(n->name, "lo") == 0;
	json_t *addrs = json_array();
	if (n->ipv4[0]) {
		char mask[8];
		snprintf(mask, sizeof(mask), "%d", n->prefix);
		json_array_append_new(addrs, json_pack("{s:s, s:s, s:s, s:s}", "address", n->ipv4,
						       "family", "inet", "netmask", mask, "scope",
						       lo ? "local" : "global"));
	}
	for (size_t i = 0; i < n->ipv6_count; i++) {
		char mask[8];
		snprintf(mask, sizeof(mask), "%d", n->ipv6[i].prefix);
		json_array_append_new(addrs,
				      json_pack("{s:s, s:s, s:s, s:s}", "address", n->ipv6[i].addr,
						"family", "inet6", "netmask", mask, "scope",
						lo ? "local" : n->ipv6[i].scope));
	}
	json_t *counters = json_pack(
	    "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "bytes_received", (json_int_t)n->rx_bytes,
	    "bytes_sent", (json_int_t)n->tx_bytes, "packets_received", (json_int_t)n->rx_packets,
	    "packets_sent", (json_int_t)n->tx_packets, "errors_received", (json_int_t)n->rx_errors,
	    "errors_sent", (json_int_t)n->tx_errors, "packets_dropped_inbound",
	    (json_int_t)n->rx_dropped, "packets_dropped_outbound", (json_int_t)n->tx_dropped);
	return json_pack("{s:s, s:o, s:o, s:s, s:s, s:s}", "interface", n->name, "addresses", addrs,
			 "counters", counters, "hwaddr", n->mac, "state", n->up ? "up" : "down",
			 "type", lo ? "loopback" : "broadcast");
}

static void status_of(enum rt_state st, const char **name, int *code)
{
	switch (st) {
	case RT_RUNNING:
		*name = "Running", *code = 103;
		return;
	case RT_PAUSED:
		*name = "Frozen", *code = 110;
		return;
	case RT_CREATED:
	case RT_STOPPED:
		*name = "Stopped", *code = 102;
		return;
	case RT_ABSENT:
		break;
	}
	*name = "Error", *code = 112;
}

struct names {
	const char *project;
	const char *server;
};

/* A shared (project) ramdisk reports its usage under "project" and its
 * size as shared_pool_maximum. */
static json_t *ramdisk_json_new(const struct container *c, const struct rt_stats *s, bool shared)
{
	json_t *used = json_integer((json_int_t)s->ramdisk_usage);
	json_t *usage = !c->ramdisk ? json_null()
			: shared
			    ? json_pack("{s:n, s:n, s:o}", "private", "secrets", "project", used)
			    : json_pack("{s:o, s:n, s:n}", "private", used, "secrets", "project");
	if (!c->ramdisk || usage == NULL)
		json_decref(used);
	return json_pack("{s:s, s:o, s:b, s:o}", "scope", shared ? "project" : "container",
			 "shared_pool_maximum",
			 shared && s->ramdisk_size ? json_integer((json_int_t)s->ramdisk_size)
						   : json_null(),
			 "capacity_reserved", false, "usage", usage);
}

/* The limits the container got: the policy, with what the host reports
 * where it can (a limit changed since the start applies at the next). */
static json_t *allocated_json_new(struct platform *pf, const struct container *c,
				  const struct rt_stats *s, struct limits *l)
{
	struct error ignored = {0};
	memset(l, 0, sizeof(*l));
	if (!pf->cfg.no_limits)
		limits_resolve(pf, c->user_id, c->project_id, l, &ignored);
	struct limits got = *l;
	if (s->disk_limit)
		got.disk_bytes = (int64_t)s->disk_limit, got.disk_inodes = (int64_t)s->inodes_limit;
	if (s->ramdisk_size)
		got.ramdisk_bytes = (int64_t)s->ramdisk_size;
	if (!pf->rto->io_weight_supported(pf->rt))
		got.io_weight = 0;
	json_t *o = limits_json_new(&got);
	json_object_set_new(o, "oom_kills", json_integer((json_int_t)s->oom_kills));
	json_object_set_new(o, "inodes_usage", json_integer((json_int_t)s->inodes_usage));
	return o;
}

/* One container's stats object; processing_time is the time this took. */
static json_t *stats_json_new(struct platform *pf, const struct container *c,
			      const struct names *nm, struct error *err)
{
	int64_t t0 = mono_ns();
	struct rt_stats s;
	if (pf->rto->stats(pf->rt, c->id, &s, err) < 0)
		return NULL;
	bool up = s.state == RT_RUNNING || s.state == RT_PAUSED;
	const char *status;
	int code;
	status_of(s.state, &status, &code);
	struct limits l;
	json_t *allocated = allocated_json_new(pf, c, &s, &l);
	json_t *net = json_array();
	for (size_t i = 0; up && i < s.netif_count; i++)
		json_array_append_new(net, netif_json_new(&s.netif[i]));
	json_t *o = json_pack(
	    "{s:s, s:s, s:o, s:o, s:s, s:s, s:i, s:I, s:o, s:o, s:o, s:o, s:{s:{s:I, s:I}}, s:o}",
	    "id", c->id, "project_id", c->project_id, "project_name",
	    nm->project ? json_string(nm->project) : json_null(), "server_name",
	    nm->server ? json_string(nm->server) : json_null(), "subserver_name",
	    nm->server ? nm->server : "", "status", status, "status_code", code, "processes",
	    (json_int_t)(up ? s.pids : 0), "started_at",
	    json_time_new(c->started_at ? c->started_at
			  : up		? s.started_at_ms
					: 0),
	    "cpu", up ? cpu_json_new(c->id, &s, &l) : json_null(), "memory",
	    up ? memory_json_new(&s) : json_null(), "ramdisk",
	    ramdisk_json_new(c, &s, limits_ramdisk_shared(pf, c->id)), "disk", "root", "total",
	    (json_int_t)s.disk_total, "usage", (json_int_t)s.disk_usage, "network", net);
	char took[32];
	snprintf(took, sizeof(took), "%.2fms", (double)(mono_ns() - t0) / 1e6);
	json_object_set_new(o, "processing_time", json_string(took));
	json_object_set_new(o, "container_status", json_string(container_status_name(c->status)));
	json_object_set_new(o, "allocated", allocated);
	return o;
}

static char *server_name_new(struct platform *pf, const char *server_id)
{
	struct server s = {0};
	struct error ignored = {0};
	char *name = NULL;
	if (server_id[0] && store_server_get(pf->store, server_id, &s, &ignored) == 0)
		name = s.name ? xstrdup(s.name) : NULL;
	server_clear(&s);
	return name;
}

int containers_stats(struct platform *pf, const struct principal *who, const char *id,
		     json_t **data_new, struct error *err)
{
	_cleanup_container_ struct container c = {0};
	_cleanup_project_ struct project p = {0};
	if (containers_find(pf, who, id, "containers.read", &c, err) < 0)
		return -1;
	struct error ignored = {0};
	bool have_project =
	    store_project_get_owned(pf->store, c.user_id, c.project_id, &p, &ignored) == 0;
	_cleanup_free_ char *server = server_name_new(pf, c.server_id);
	struct names nm = {.project = have_project ? p.alias : NULL, .server = server};
	*data_new = stats_json_new(pf, &c, &nm, err);
	return *data_new ? 0 : -1;
}

/* Appends the stats of every visible container of rows to arr. */
static int project_page(struct platform *pf, const struct principal *who,
			const struct container *rows, size_t n, const struct names *nm, json_t *arr,
			struct error *err)
{
	for (size_t i = 0; i < n; i++) {
		if (!principal_sees_realms(who, rows[i].realm_ids))
			continue;
		json_t *o = stats_json_new(pf, &rows[i], nm, err);
		if (!o)
			return -1;
		json_array_append_new(arr, o);
	}
	return 0;
}

int projects_stats(struct platform *pf, const struct principal *who, const char *project_id,
		   json_t **data_new, struct error *err)
{
	_cleanup_project_ struct project p = {0};
	int64_t t0 = mono_ns();
	if (principal_require(who, "containers.read", err) < 0 ||
	    projects_get_visible(pf, who, project_id, &p, err) < 0)
		return -1;
	_cleanup_free_ char *server = server_name_new(pf, pf->server_id);
	struct names nm = {.project = p.alias, .server = server};
	struct container_query q = {
	    .base = {.user_id = p.user_id, .sort_by = "created_at", .limit = PROJECT_SCAN_PAGE},
	    .project_id = project_id,
	};
	json_t *arr = json_array();
	int rc = 0;
	for (q.base.page = 1; rc == 0 && q.base.page <= PROJECT_SCAN_PAGES; q.base.page++) {
		struct container *rows = NULL;
		size_t n = 0;
		int64_t total = 0;
		rc = store_container_list(pf->store, &q, &rows, &n, &total, err);
		if (rc == 0)
			rc = project_page(pf, who, rows, n, &nm, arr, err);
		container_list_free(rows, n);
		if (n < PROJECT_SCAN_PAGE)
			break;
	}
	if (rc < 0) {
		json_decref(arr);
		return -1;
	}
	char took[32];
	snprintf(took, sizeof(took), "%.2fms", (double)(mono_ns() - t0) / 1e6);
	*data_new = json_pack("{s:o, s:{s:s, s:o, s:I, s:s}}", "stats", arr, "summary",
			      "project_id", p.id, "project_name",
			      p.alias ? json_string(p.alias) : json_null(), "container_count",
			      (json_int_t)json_array_size(arr), "total_processing_time", took);
	return 0;
}
