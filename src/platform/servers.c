/* This host as the one Hoody server containers run on. Its identity lives in
 * the store (kv "server_id") so it survives restarts; its specs are read from
 * the host on request (at most once a second: a resize shows at once). */
#include "platform/platform_int.h"
#include "platform/servers.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "common/util.h"
#include "platform/fields.h"
#include "runtime/hostinfo.h"

#define KV_SERVER_ID "server_id"
#define GIB (1024.0 * 1024.0 * 1024.0)
#define DAY_MS (86400LL * 1000)
/* Memory one container is counted for when no cap is configured. */
#define HOST_SLOT_BYTES (64ULL * 1024 * 1024)

static int load_server_id(struct platform *pf, struct error *err)
{
	_cleanup_free_ char *id = NULL;
	if (store_kv_get(pf->store, KV_SERVER_ID, &id, err) < 0) {
		if (err->code != E_NOT_FOUND)
			return -1;
		char fresh[ID_LEN + 1];
		id_new(fresh);
		if (store_kv_set(pf->store, KV_SERVER_ID, fresh, err) < 0)
			return -1;
		id = xstrdup(fresh);
	}
	if (!id_valid(id))
		return err_set(err, E_INTERNAL, "stored server id \"%.40s\" is not a 24-hex id",
			       id);
	memcpy(pf->server_id, id, ID_LEN + 1);
	return 0;
}

/* A configured location wins; an unset one keeps what the row holds. */
static void set_location(char **field, const char *configured)
{
	if (!configured || !configured[0])
		return;
	free(*field);
	*field = xstrdup(configured);
}

int platform_servers_init(struct platform *pf, struct error *err)
{
	struct server s = {0};
	int rc = -1;
	if (load_server_id(pf, err) < 0)
		return -1;
	/* Keeps what an operator may have set in the row (country, city, ...). */
	if (store_server_get(pf->store, pf->server_id, &s, err) < 0) {
		if (err->code != E_NOT_FOUND)
			goto out;
		memcpy(s.id, pf->server_id, sizeof(s.id));
		s.created_at = now_ms();
	}
	free(s.name);
	s.name = xstrdup(pf->cfg.server_name);
	set_location(&s.country, pf->cfg.server_country);
	set_location(&s.region, pf->cfg.server_region);
	set_location(&s.city, pf->cfg.server_city);
	set_location(&s.datacenter, pf->cfg.server_datacenter);
	s.is_free = true;
	s.max_containers = pf->cfg.server_max_containers;
	s.updated_at = now_ms();
	rc = store_server_upsert(pf->store, &s, err);
out:
	server_clear(&s);
	return rc;
}

static const char *str_or_empty(const char *s)
{
	return s ? s : "";
}

static json_int_t round_gib(double bytes)
{
	json_int_t n = (json_int_t)(bytes / GIB + 0.5);
	return n < 1 ? 1 : n;
}

/* Disks are sold in decimal gigabytes. */
static json_int_t disk_gb(uint64_t bytes)
{
	return (json_int_t)((double)bytes / 1e9 + 0.5);
}

/* The flat specs of earlier versions: logical CPUs and RAM of the host,
 * disk of the filesystem holding the state dir. Every container rendering
 * shows them, so they come from two syscalls, not the /sys walk of
 * rt_host_specs. */
#define HOST_SIZE_TTL_NS 1000000000LL

/* CPUs and RAM of the host, read again at most once a second: the RAM is a
 * sysinfo() that walks every block device of the host (each loop device
 * ever made: hundreds here), and a client polling a container asks for them
 * on every answer. */
static void host_size(long *cpus, double *ram)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static int64_t read_at;
	static long c;
	static double r;
	pthread_mutex_lock(&lock);
	int64_t now = mono_ns();
	if (!read_at || now - read_at > HOST_SIZE_TTL_NS) {
		c = sysconf(_SC_NPROCESSORS_ONLN);
		r = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
		read_at = now;
	}
	*cpus = c;
	*ram = r;
	pthread_mutex_unlock(&lock);
}

static json_t *flat_specs_json_new(struct platform *pf, bool shared)
{
	long cpus;
	double ram;
	host_size(&cpus, &ram);
	struct statvfs vfs;
	json_t *disk = json_null();
	if (statvfs(pf->cfg.state_dir, &vfs) == 0)
		disk =
		    json_integer((json_int_t)((double)vfs.f_blocks * (double)vfs.f_frsize / GIB));
	return json_pack("{s:I, s:I, s:o, s:b}", "cpu_cores", (json_int_t)(cpus > 0 ? cpus : 1),
			 "ram_gb", round_gib(ram), "disk_gb", disk, "shared_compute", shared);
}

static bool same_disk(const struct rt_host_disk *a, const struct rt_host_disk *b)
{
	return disk_gb(a->bytes) == disk_gb(b->bytes) && !strcmp(a->type, b->type) &&
	       !strcmp(a->interface, b->interface) && !strcmp(a->model, b->model);
}

/* Identical disks are one config entry with a count; summary reads
 * "2x 512 GB NVMe + 1x 4000 GB HDD". */
static json_t *disks_json_new(const struct rt_host_specs *h)
{
	json_t *config = json_array();
	json_int_t total = 0;
	char summary[512] = "";
	for (size_t i = 0; i < h->ndisks; i++) {
		const struct rt_host_disk *d = &h->disks[i];
		total += disk_gb(d->bytes);
		bool seen = false;
		for (size_t j = 0; j < i && !seen; j++)
			seen = same_disk(&h->disks[j], d);
		if (seen)
			continue;
		int count = 0;
		for (size_t j = i; j < h->ndisks; j++)
			count += same_disk(&h->disks[j], d);
		json_array_append_new(config,
				      json_pack("{s:i, s:I, s:s, s:s, s:s}", "count", count,
						"capacity_gb", disk_gb(d->bytes), "type", d->type,
						"interface", d->interface, "model", d->model));
		size_t off = strlen(summary);
		snprintf(summary + off, sizeof(summary) - off, "%s%dx %lld GB %s", off ? " + " : "",
			 count, (long long)disk_gb(d->bytes), d->type);
	}
	return json_pack("{s:o, s:I, s:s}", "config", config, "total_gb", total, "summary",
			 summary);
}

static json_t *network_json_new(const struct rt_host_specs *h)
{
	char fmt[32] = "";
	if (h->bandwidth_mbps >= 1000 && h->bandwidth_mbps % 1000 == 0)
		snprintf(fmt, sizeof(fmt), "%lld Gbps", (long long)(h->bandwidth_mbps / 1000));
	else if (h->bandwidth_mbps > 0)
		snprintf(fmt, sizeof(fmt), "%lld Mbps", (long long)h->bandwidth_mbps);
	/* Traffic is not metered on a self-hosted server. */
	return json_pack("{s:I, s:s, s:i, s:b}", "bandwidth_mbps", (json_int_t)h->bandwidth_mbps,
			 "bandwidth_formatted", fmt, "traffic_tb", 0, "traffic_unlimited", 1);
}

/* specs of the public server object. No benchmark is run (score 0,
 * score_type "none"); RAM type and speed need DMI tables, which only root
 * tools decode ("" and 0). */
static json_t *specs_json_new(const struct rt_host_specs *h)
{
	return json_pack("{s:{s:s, s:i, s:i, s:i, s:s}, s:{s:I, s:s, s:i}, s:o, s:o, s:{s:i, s:b}}",
			 "cpu", "model", h->cpu_model, "cores", h->cpu_cores, "threads",
			 h->cpu_threads, "score", 0, "score_type", "none", "ram", "capacity_gb",
			 round_gib((double)h->ram_bytes), "type", "", "speed_mhz", 0, "disks",
			 disks_json_new(h), "network", network_json_new(h), "additional",
			 "ipv4_count", h->ipv4_count, "ipv6_enabled", h->ipv6_enabled);
}

/* The configured cap, else what the host's memory holds at HOST_SLOT_BYTES
 * per container. */
static int64_t capacity_max(const struct server *s, const struct rt_host_specs *h)
{
	if (s->max_containers >= 0)
		return s->max_containers;
	int64_t n = (int64_t)(h->ram_bytes / HOST_SLOT_BYTES);
	return n > 0 ? n : 1;
}

/* An administrator sees the server's whole count; anyone else only its own
 * containers (other tenants' activity is not theirs to see). */
static int capacity_used(struct platform *pf, const struct principal *who, const char *id,
			 int64_t *used, struct error *err)
{
	if (who->is_admin)
		return store_container_count_server(pf->store, id, used, err);
	return store_container_count_server_user(pf->store, id, who->user_id, used, err);
}

static int server_object(struct platform *pf, const struct principal *who, const struct server *s,
			 const struct rt_host_specs *h, json_t **out_new, struct error *err)
{
	int64_t used = 0;
	if (capacity_used(pf, who, s->id, &used, err) < 0)
		return -1;
	*out_new = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:{s:I, s:I}, s:o}", "id",
			     s->id, "name", s->name, "country", str_or_empty(s->country), "region",
			     str_or_empty(s->region), "city", str_or_empty(s->city), "datacenter",
			     str_or_empty(s->datacenter), "model", h->model, "is_vm", h->is_vm,
			     "container_capacity", "used", (json_int_t)used, "max",
			     (json_int_t)capacity_max(s, h), "specs", specs_json_new(h));
	return 0;
}

static json_t *location_json_new(const struct server *s)
{
	return json_pack("{s:s, s:s, s:s, s:s}", "country", str_or_empty(s->country), "region",
			 str_or_empty(s->region), "city", str_or_empty(s->city), "datacenter",
			 str_or_empty(s->datacenter));
}

/* Adds src's members to dst; src is consumed. */
static json_t *merge(json_t *dst, json_t *src_steal)
{
	json_object_update(dst, src_steal);
	json_decref(src_steal);
	return dst;
}

/* A rental of this host: never ends, costs nothing. with_days adds the
 * counters the public API shows on GET one. */
static int rental_json(struct platform *pf, const struct principal *who, const struct server *s,
		       bool with_days, json_t **out_new, struct error *err)
{
	struct rt_host_specs h;
	json_t *server = NULL;
	rt_host_specs(&h);
	if (server_object(pf, who, s, &h, &server, err) < 0)
		return -1;
	json_t *o = json_pack(
	    "{s:s, s:s, s:s, s:b, s:n, s:o, s:n, s:n, s:i, s:i, s:i, s:b, s:o, s:s, s:s, s:b, s:b, "
	    "s:o, s:O, s:n, s:o}",
	    "id", s->id, "server_id", s->id, "status", "active", "is_free_tier", s->is_free,
	    "pool_id", "rental_start", json_time_new(s->created_at), "rental_end", "remaining_days",
	    "amount", 0, "setup_fee_cents", 0, "total_paid_cents", 0, "renewal_pricing_frozen", 0,
	    "server", server, "server_name", s->name, "name", s->name, "is_ready", 1, "is_free",
	    s->is_free, "specs", flat_specs_json_new(pf, s->is_free), "container_capacity",
	    json_object_get(server, "container_capacity"), "expires_at", "created_at",
	    json_time_new(s->created_at));
	if (with_days) {
		json_int_t days = (json_int_t)((now_ms() - s->created_at) / DAY_MS);
		json_object_set_new(o, "usage_days", json_integer(days));
		json_object_set_new(o, "hold_days", json_integer(days));
	}
	*out_new = merge(o, location_json_new(s));
	return 0;
}

/* Calls fn for every server of this host; stops at the first failure. */
static int each_server(struct platform *pf, int (*fn)(const struct server *s, void *arg), void *arg,
		       struct error *err)
{
	struct server *arr = NULL;
	size_t n = 0;
	int rc = 0;
	if (store_server_list(pf->store, &arr, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (rc == 0)
			rc = fn(&arr[i], arg);
		server_clear(&arr[i]);
	}
	free(arr);
	return rc;
}

struct list_ctx {
	struct platform *pf;
	const struct principal *who;
	const struct server_filter *filter;
	json_t *out;
	struct error *err;
};

static int list_one(const struct server *s, void *arg)
{
	struct list_ctx *c = arg;
	json_t *o;
	if (rental_json(c->pf, c->who, s, false, &o, c->err) < 0)
		return -1;
	json_array_append_new(c->out, o);
	return 0;
}

int servers_list_json(struct platform *pf, const struct principal *who, json_t **array_new,
		      struct error *err)
{
	struct list_ctx c = {.pf = pf, .who = who, .out = json_array(), .err = err};
	if (each_server(pf, list_one, &c, err) < 0) {
		json_decref(c.out);
		return -1;
	}
	*array_new = c.out;
	return 0;
}

int servers_get_json(struct platform *pf, const struct principal *who, const char *id,
		     json_t **server_new, struct error *err)
{
	struct server s = {0};
	if (store_server_get(pf->store, id, &s, err) < 0)
		return err->code == E_NOT_FOUND ? err_set(err, E_NOT_FOUND, "Server not found")
						: -1;
	int rc = rental_json(pf, who, &s, true, server_new, err);
	server_clear(&s);
	return rc;
}

int servers_require(struct platform *pf, const char *id, struct error *err)
{
	struct server s = {0};
	if (!id_valid(id))
		return err_set(err, E_INVALID_ID, "Invalid ID format");
	if (store_server_get(pf->store, id, &s, err) < 0)
		return err->code == E_NOT_FOUND ? err_set(err, E_NOT_FOUND, "Server not found")
						: -1;
	server_clear(&s);
	return 0;
}

/* Whether one of the comma-separated names in list equals value. */
static bool listed(const char *list, const char *value)
{
	size_t n = strlen(value);
	for (const char *p = list; p && *p;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		if (len == n && n && strncasecmp(p, value, n) == 0)
			return true;
		p = comma ? comma + 1 : NULL;
	}
	return false;
}

static bool any_disk_listed(const char *list, const struct rt_host_specs *h)
{
	for (size_t i = 0; i < h->ndisks; i++)
		if (listed(list, h->disks[i].type) || listed(list, h->disks[i].interface))
			return true;
	return false;
}

/* Price, traffic and featured are fixed on a self-hosted server: free,
 * unmetered, not featured. */
static bool passes(const struct server_filter *f, const struct server *s,
		   const struct rt_host_specs *h)
{
	json_int_t storage = 0;
	for (size_t i = 0; i < h->ndisks; i++)
		storage += disk_gb(h->disks[i].bytes);
	return (!f->country || strcasecmp(f->country, str_or_empty(s->country)) == 0) &&
	       (!f->region || strcasecmp(f->region, str_or_empty(s->region)) == 0) &&
	       (f->min_cpu_cores < 0 || h->cpu_cores >= f->min_cpu_cores) &&
	       (f->min_cpu_score <= 0) &&
	       (f->min_ram_gb < 0 || round_gib((double)h->ram_bytes) >= f->min_ram_gb) &&
	       (!f->ram_types) &&
	       (f->min_total_storage_gb < 0 || storage >= f->min_total_storage_gb) &&
	       (!f->disk_types || any_disk_listed(f->disk_types, h)) &&
	       (f->min_bandwidth_mbps < 0 || h->bandwidth_mbps >= f->min_bandwidth_mbps) &&
	       !f->featured_only;
}

static int available_one(const struct server *s, void *arg)
{
	struct list_ctx *c = arg;
	struct rt_host_specs h;
	json_t *o;
	rt_host_specs(&h);
	if (!passes(c->filter, s, &h))
		return 0;
	if (server_object(c->pf, c->who, s, &h, &o, c->err) < 0)
		return -1;
	json_object_set_new(o, "server_id", json_string(s->id));
	json_object_set_new(o, "is_free", json_boolean(s->is_free));
	json_object_set_new(o, "price_per_day", json_integer(0));
	json_array_append_new(c->out, o);
	return 0;
}

int servers_available_json(struct platform *pf, const struct principal *who,
			   const struct server_filter *f, json_t **array_new, struct error *err)
{
	struct list_ctx c = {.pf = pf, .who = who, .filter = f, .out = json_array(), .err = err};
	if (each_server(pf, available_one, &c, err) < 0) {
		json_decref(c.out);
		return -1;
	}
	*array_new = c.out;
	return 0;
}

json_t *server_summary_json_new(struct platform *pf, const char *server_id)
{
	struct server s = {0};
	struct error err = {0};
	if (!server_id || !server_id[0] || store_server_get(pf->store, server_id, &s, &err) < 0)
		return json_null();
	json_t *o = json_pack("{s:s, s:s, s:b, s:b, s:o, s:n}", "name", s.name, "country_name", "",
			      "is_free", s.is_free, "paid_subserver", 0, "specs",
			      flat_specs_json_new(pf, s.is_free), "expires_at");
	o = merge(o, location_json_new(&s));
	server_clear(&s);
	return o;
}

json_t *server_brief_json_new(struct platform *pf, const char *server_id)
{
	struct server s = {0};
	struct error err = {0};
	if (!server_id || !server_id[0] || store_server_get(pf->store, server_id, &s, &err) < 0)
		return json_null();
	json_t *o = merge(json_pack("{s:s, s:s, s:b}", "id", s.id, "name", s.name, "is_ready", 1),
			  location_json_new(&s));
	server_clear(&s);
	return o;
}
