/* This host as the one Hoody server containers run on. Its identity lives in
 * the store (kv "server_id") so it survives restarts; its specs are read from
 * the host on every request (cheap, and right after a resize). */
#include "platform/servers.h"

#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "common/util.h"
#include "platform/fields.h"

#define KV_SERVER_ID "server_id"
#define GIB (1024.0 * 1024.0 * 1024.0)

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
		return err_set(err, E_INTERNAL, "stored server id \"%.40s\" is not a 24-hex id", id);
	memcpy(pf->server_id, id, ID_LEN + 1);
	return 0;
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
	s.is_free = true;
	s.max_containers = pf->cfg.server_max_containers;
	s.updated_at = now_ms();
	rc = store_server_upsert(pf->store, &s, err);
out:
	server_clear(&s);
	return rc;
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_int_t round_gib(double bytes)
{
	json_int_t n = (json_int_t)(bytes / GIB + 0.5);
	return n < 1 ? 1 : n;
}

/* cpu/ram/disk of the real host; disk is the filesystem holding the state dir. */
static json_t *specs_json_new(struct platform *pf, bool shared)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	double ram = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
	struct statvfs vfs;
	json_t *disk = json_null();
	if (statvfs(pf->cfg.state_dir, &vfs) == 0)
		disk = json_integer((json_int_t)((double)vfs.f_blocks * (double)vfs.f_frsize / GIB));
	return json_pack("{s:I, s:I, s:o, s:b}", "cpu_cores", (json_int_t)(cpus > 0 ? cpus : 1),
			 "ram_gb", round_gib(ram), "disk_gb", disk, "shared_compute", shared);
}

/* Adds src's members to dst; src is consumed. */
static json_t *merge(json_t *dst, json_t *src_steal)
{
	json_object_update(dst, src_steal);
	json_decref(src_steal);
	return dst;
}

static json_t *location_json_new(const struct server *s)
{
	return json_pack("{s:o, s:o, s:o, s:o}", "country", str_or_null(s->country), "region",
			 str_or_null(s->region), "city", str_or_null(s->city), "datacenter",
			 str_or_null(s->datacenter));
}

static int server_json(struct platform *pf, const struct server *s, json_t **out_new,
		       struct error *err)
{
	int64_t used = 0;
	if (store_container_count_server(pf->store, s->id, &used, err) < 0)
		return -1;
	json_t *o = json_pack(
		"{s:s, s:s, s:s, s:s, s:s, s:b, s:b, s:b, s:o, s:{s:I, s:o}, s:n, s:o}", "id",
		s->id, "server_id", s->id, "server_name", s->name, "name", s->name, "status",
		"ready", "is_ready", 1, "is_free", s->is_free, "is_free_tier", s->is_free, "specs",
		specs_json_new(pf, s->is_free), "container_capacity", "used", (json_int_t)used,
		"max", s->max_containers < 0 ? json_null() : json_integer(s->max_containers),
		"expires_at", "created_at", json_time_new(s->created_at));
	*out_new = merge(o, location_json_new(s));
	return 0;
}

int servers_list_json(struct platform *pf, json_t **array_new, struct error *err)
{
	struct server *arr = NULL;
	size_t n = 0;
	if (store_server_list(pf->store, &arr, &n, err) < 0)
		return -1;
	json_t *out = json_array();
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		json_t *o;
		if (rc == 0 && (rc = server_json(pf, &arr[i], &o, err)) == 0)
			json_array_append_new(out, o);
		server_clear(&arr[i]);
	}
	free(arr);
	if (rc < 0) {
		json_decref(out);
		return -1;
	}
	*array_new = out;
	return 0;
}

int servers_get_json(struct platform *pf, const char *id, json_t **server_new,
		     struct error *err)
{
	struct server s = {0};
	if (store_server_get(pf->store, id, &s, err) < 0)
		return err->code == E_NOT_FOUND ? err_set(err, E_NOT_FOUND, "Server not found") : -1;
	int rc = server_json(pf, &s, server_new, err);
	server_clear(&s);
	return rc;
}

json_t *server_summary_json_new(struct platform *pf, const char *server_id)
{
	struct server s = {0};
	struct error err = {0};
	if (!server_id || !server_id[0] || store_server_get(pf->store, server_id, &s, &err) < 0)
		return json_null();
	json_t *o = json_pack("{s:s, s:n, s:b, s:b, s:o, s:n}", "name", s.name, "country_name",
			      "is_free", s.is_free, "paid_subserver", 0, "specs",
			      specs_json_new(pf, s.is_free), "expires_at");
	o = merge(o, location_json_new(&s));
	server_clear(&s);
	return o;
}
