/* Containers: lookups for every container module, get and list with the
 * ?runtime selector, update, environment edits, sync, delete and kvm. The
 * rest of the container work: containers_state.c (statuses, transitions,
 * the "started" step), containers_jobs.c (host work, recovery),
 * containers_create.c (create, claim). Decisions: docs/CONTAINERS.md. */
#include "platform/platform_int.h"
#include "platform/containers.h"

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "platform/containers_int.h"
#include "platform/events.h"
#include "platform/fields.h"
#include "platform/kit.h"
#include "platform/limits.h"
#include "platform/oplocks.h"
#include "platform/project.h"
#include "platform/render.h"
#include "platform/runtime_cache.h"
#include "platform/validate.h"
#include "platform/revoke.h"

#define RUNTIME_PARAM_MAX 1024
#define RUNTIME_PROCS_MAX 256

/* ?runtime selector bits; RTI_WANTED alone is "runtime_info with nothing". */
enum {
	RTI_DISPLAYS = 1,
	RTI_SERVICES = 2,
	RTI_NETWORK = 4,
	RTI_TERMINALS = 8,
	RTI_PROCESSES = 16,
	RTI_ALL = 31,
	RTI_WANTED = 1u << 30,
};

/* ------------------------------------------------------------ lookups */

int containers_find(struct platform *pf, const struct principal *who, const char *id,
		    const char *leaf, struct container *out, struct error *err)
{
	if (principal_require(who, leaf, err) < 0)
		return -1;
	if (!id_valid(id))
		return err_set(err, E_INVALID_ID, "Invalid ID format");
	if (store_container_get_owned(pf->store, who->user_id, id, out, err) < 0)
		return -1;
	if (!principal_sees_realms(who, out->realm_ids)) {
		container_clear(out);
		return err_set(err, E_CONTAINER_NOT_FOUND, "Container not found");
	}
	return 0;
}

int containers_find_writable(struct platform *pf, const struct principal *who, const char *id,
			     const char *leaf, struct container *out, struct error *err)
{
	if (containers_find(pf, who, id, leaf, out, err) < 0)
		return -1;
	return out->server_expired ? containers_refuse_expired(err) : 0;
}

/* ------------------------------------------------------------ runtime info */

int containers_runtime_param(const char *v, unsigned *mask, struct error *err)
{
	static const char *const keys[] = {"displays", "services", "network_services", "terminals",
					   "processes"};
	*mask = 0;
	if (!v || strcmp(v, "false") == 0)
		return 0;
	if (strcmp(v, "true") == 0) {
		*mask = RTI_WANTED | RTI_ALL;
		return 0;
	}
	json_t *sel = strlen(v) <= RUNTIME_PARAM_MAX ? json_loads(v, 0, NULL) : NULL;
	int rc = 0;
	if (!json_is_object(sel)) {
		rc = err_set(err, E_VALIDATION,
			     "runtime must be true, false or a JSON object such as "
			     "{\"displays\":true}");
		goto out;
	}
	*mask = RTI_WANTED | (json_object_size(sel) ? 0 : RTI_ALL);
	const char *k;
	json_t *b;
	json_object_foreach(sel, k, b)
	{
		size_t i = 0;
		while (i < ARRAY_SIZE(keys) && strcmp(keys[i], k) != 0)
			i++;
		if (i == ARRAY_SIZE(keys) || !json_is_boolean(b)) {
			rc = err_set(err, E_VALIDATION,
				     "runtime selector: %.64s is not one of displays, services, "
				     "network_services, terminals, processes with a boolean value",
				     k);
			goto out;
		}
		if (json_is_true(b))
			*mask |= 1u << i;
	}
out:
	json_decref(sel);
	return rc;
}

static json_t *network_services(const struct rt_runtime_info *info)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < info->sock_count; i++) {
		const struct rt_socket *s = &info->socks[i];
		json_array_append_new(arr,
				      json_pack("{s:s, s:i, s:s, s:o, s:n, s:s, s:n, s:n}",
						"protocol", s->proto, "port", s->port, "ip", s->ip,
						"pid", s->pid ? json_integer(s->pid) : json_null(),
						"user", "program", s->program, "path", "args"));
	}
	return arr;
}

static json_t *processes(const struct rt_runtime_info *info)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < info->proc_count && i < RUNTIME_PROCS_MAX; i++) {
		const struct rt_process *p = &info->procs[i];
		json_array_append_new(arr, json_pack("{s:i, s:s, s:s}", "pid", p->pid, "name",
						     p->comm, "cmdline", p->cmdline));
	}
	return arr;
}

/* Everything ?runtime can select, read from procfs and, for terminals, from
 * the container's Kit agent; NULL when the container is not up. Displays
 * and services (systemd units) are not provided: empty lists. */
static json_t *runtime_info_read(struct platform *pf, const struct container *c)
{
	struct rt_runtime_info info = {0};
	struct error err = {0};
	if (pf->rto->runtime_info(pf->rt, c->id, &info, &err) < 0)
		return NULL;
	json_t *o = json_pack("{s:[], s:[], s:o, s:o, s:o}", "displays", "services",
			      "network_services", network_services(&info), "terminals",
			      c->hoody_kit ? kit_terminals_new(pf, c->id) : json_array(),
			      "processes", processes(&info));
	rt_runtime_info_free(&info);
	return o;
}

/* runtime_info of a running container, narrowed to the selector; one
 * reading serves every request for RUNTIME_CACHE_TTL_MS (the seeds). */
static json_t *runtime_info_new(struct platform *pf, const struct container *c, unsigned mask)
{
	static const char *const keys[] = {"displays", "services", "network_services", "terminals",
					   "processes"};
	if (!container_status_in(c->status, CS_UP))
		return json_null();
	json_t *full = runtime_cache_get(c->id);
	if (!full) {
		if (!(full = runtime_info_read(pf, c)))
			return json_null();
		runtime_cache_put(c->id, full);
	}
	json_t *o = json_object();
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (mask & (1u << i))
			json_object_set(o, keys[i], json_object_get(full, keys[i]));
	json_decref(full);
	return o;
}

/* ------------------------------------------------------------ get and list */

int containers_get(struct platform *pf, const struct principal *who, const char *id,
		   const struct container_get_opts *o, json_t **data_new, struct error *err)
{
	_cleanup_container_ struct container c = {0};
	unsigned mask = 0;
	if (containers_runtime_param(o->runtime, &mask, err) < 0 ||
	    (o->include_proxy_permissions &&
	     principal_require(who, "resources.proxy_aliases", err) < 0) ||
	    containers_find(pf, who, id, "containers.read", &c, err) < 0)
		return -1;
	struct render_cache rc = {.pf = pf, .user_id = who->user_id};
	json_t *data =
	    render_cached(&rc, &c, o->include_proxy_domains, o->include_proxy_permissions);
	if (mask)
		json_object_set_new(data, "runtime_info", runtime_info_new(pf, &c, mask));
	render_cache_clear(&rc);
	*data_new = data;
	return 0;
}

static json_t *pagination(int64_t total, int64_t page, int64_t limit)
{
	return json_pack("{s:I, s:I, s:I, s:I}", "total", (json_int_t)total, "page",
			 (json_int_t)page, "limit", (json_int_t)limit, "totalPages",
			 (json_int_t)(limit > 0 ? (total + limit - 1) / limit : 0));
}

int containers_list(struct platform *pf, const struct principal *who, const char *project_id,
		    const struct container_list_opts *o, json_t **data_new, struct error *err)
{
	unsigned mask = 0;
	_cleanup_project_ struct project p = {0};
	if (principal_require(who, "containers.read", err) < 0 ||
	    (o->include_proxy_permissions &&
	     principal_require(who, "resources.proxy_aliases", err) < 0) ||
	    containers_runtime_param(o->runtime, &mask, err) < 0)
		return -1;
	if (project_id && projects_get_visible(pf, who, project_id, &p, err) < 0)
		return -1;
	struct container_query q = {
	    .base = o->q,
	    .project_id = project_id,
	    .include_prespawn = o->include_prespawn,
	    .include_expired = o->include_expired,
	    .include_deleting = o->include_deleting,
	};
	q.base.user_id = who->user_id;
	q.base.realm_id = principal_list_realm(who, q.base.realm_id);
	struct container *rows = NULL;
	size_t n = 0;
	int64_t total = 0;
	if (store_container_list(pf->store, &q, &rows, &n, &total, err) < 0)
		return -1;
	struct render_cache rc = {.pf = pf, .user_id = who->user_id};
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++) {
		if (!principal_sees_realms(who, rows[i].realm_ids)) {
			total--;
			continue;
		}
		json_t *obj = render_cached(&rc, &rows[i], o->include_proxy_domains,
					    o->include_proxy_permissions);
		if (mask)
			json_object_set_new(obj, "runtime_info",
					    runtime_info_new(pf, &rows[i], mask));
		json_array_append_new(arr, obj);
	}
	render_cache_clear(&rc);
	container_list_free(rows, n);
	*data_new = json_pack("{s:o, s:o}", "containers", arr, "pagination",
			      pagination(total, q.base.page, q.base.limit));
	return 0;
}

/* ------------------------------------------------------------ update */

struct tx_update {
	const char *id;
	const struct container_input *in;
	struct container row;
	bool env_changed;
};

static bool env_differs(const char *old_text, const json_t *new_env)
{
	json_t *old = old_text ? json_loads(old_text, 0, NULL) : NULL;
	bool differs = !json_equal(old ? old : json_object(), (json_t *)new_env);
	json_decref(old);
	return differs;
}

static void apply_input(struct container *c, const struct container_input *in, bool *env_changed)
{
	if (in->has_name)
		containers_set_str(&c->name, in->name);
	if (in->has_color)
		containers_set_str(&c->color, in->color);
	if (in->has_ai)
		c->ai = in->ai;
	if (in->has_autostart)
		c->autostart = in->autostart;
	if (in->has_ramdisk)
		c->ramdisk = in->ramdisk;
	if (in->has_env && env_differs(c->environment_vars, in->env)) {
		free(c->environment_vars);
		c->environment_vars = json_dumps(in->env, JSON_COMPACT);
		c->env_revision++;
		*env_changed = true;
	}
	/* Re-sending the container's own key is a no-op. */
	if (in->has_ssh_key &&
	    !(in->ssh_key && c->ssh_public_key && strcmp(in->ssh_key, c->ssh_public_key) == 0))
		containers_set_str(&c->ssh_public_key, in->ssh_key);
	if (in->has_comment)
		containers_set_str(&c->comment, in->comment);
	if (in->has_realm_ids) {
		free(c->realm_ids);
		c->realm_ids = realm_ids_dump_new(in->realm_ids);
	}
}

/* The row of id inside a write transaction, if a user may still change it. */
static int load_changeable(struct store *st, const char *id, const char *what,
			   struct container *row, struct error *err)
{
	if (store_container_get(st, id, row, err) < 0)
		return -1;
	if (row->server_expired)
		return containers_refuse_expired(err);
	if (container_status_in(row->status, CS_GONE))
		return err_set(err, E_OP_IN_PROGRESS,
			       "Cannot perform %s operation. Container is being deleted.", what);
	return 0;
}

static int update_tx(struct store *st, void *arg, struct error *err)
{
	struct tx_update *x = arg;
	if (load_changeable(st, x->id, "update", &x->row, err) < 0)
		return -1;
	apply_input(&x->row, x->in, &x->env_changed);
	x->row.updated_at = now_ms();
	if (x->in->has_ramdisk_scope &&
	    limits_ramdisk_scope_set(st, x->id, x->in->ramdisk_shared, err) < 0)
		return -1;
	return store_container_update(st, &x->row, err);
}

static bool str_changed(const char *a, const char *b)
{
	return (a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0);
}

/* container.updated with the changed fields, plus the specific events of
 * the reference for a rename, autostart, the environment and the SSH key. */
static void update_events(struct platform *pf, const struct container *old,
			  const struct container *now, bool env_changed)
{
	json_t *fields = json_array();
	if (str_changed(old->name, now->name)) {
		json_array_append_new(fields, json_string("name"));
		json_t *p = json_pack("{s:s, s:s}", "old_name", old->name, "name", now->name);
		events_container(pf, now, "container.renamed", p);
		json_decref(p);
	}
	if (old->autostart != now->autostart)
		events_container(pf, now,
				 now->autostart ? "container.autostart_enabled"
						: "container.autostart_disabled",
				 NULL);
	if (env_changed) {
		json_array_append_new(fields, json_string("environment_vars"));
		events_container(pf, now, "container.env.updated", NULL);
	}
	if (str_changed(old->ssh_public_key, now->ssh_public_key))
		events_container(pf, now,
				 now->ssh_public_key ? "container.ssh_key.added"
						     : "container.ssh_key.removed",
				 NULL);
	/* what the container may use: the /ramdisk today, limits when they change */
	if (old->ramdisk != now->ramdisk) {
		json_array_append_new(fields, json_string("ramdisk"));
		json_t *p =
		    json_pack("{s:[s], s:b}", "resources", "ramdisk", "ramdisk", now->ramdisk);
		events_container(pf, now, "container.resource_updated", p);
		json_decref(p);
	}
	if (str_changed(old->color, now->color))
		json_array_append_new(fields, json_string("color"));
	if (str_changed(old->comment, now->comment))
		json_array_append_new(fields, json_string("comment"));
	json_t *p = json_pack("{s:o}", "fields", fields);
	events_container(pf, now, "container.updated", p);
	json_decref(p);
}

static int check_update_rights(const struct principal *who, const struct container_input *in,
			       struct error *err)
{
	if (in->has_realm_ids && principal_realm_restricted(who))
		return err_set(err, E_FORBIDDEN,
			       "realm_ids can only be changed by tokens without a realm "
			       "restriction");
	return containers_check_ssh_permission(who, in, err);
}

int containers_update(struct platform *pf, const struct principal *who, const char *id,
		      const json_t *body, json_t **data_new, struct error *err)
{
	struct container_input in = {0};
	_cleanup_container_ struct container c = {0};
	struct tx_update x = {.id = id, .in = &in};
	int rc = -1;
	if (containers_find_writable(pf, who, id, "containers.update", &c, err) < 0)
		goto out;
	if (crules_parse_update(body, &in, err) < 0 || check_update_rights(who, &in, err) < 0 ||
	    oplock_try(pf->locks, id, "update", err) < 0)
		goto out;
	rc = store_tx(pf->store, update_tx, &x, err);
	if (rc == 0) /* realms, the Kit switch: what its tunnels were decided on */
		revoke_note(REVOKE_CONTAINER, id, false);
	if (rc == 0 && x.env_changed)
		containers_push_env(pf, &x.row);
	oplock_release(pf->locks, id);
	if (rc < 0)
		goto out;
	update_events(pf, &c, &x.row, x.env_changed);
	*data_new = render_one_new(pf, who->user_id, &x.row);
out:
	container_input_clear(&in);
	container_clear(&x.row);
	return rc;
}

struct tx_env_edit {
	const char *id;
	env_edit_fn edit;
	void *arg;
	struct container row;
	bool changed;
};

static int env_edit_tx(struct store *st, void *arg, struct error *err)
{
	struct tx_env_edit *x = arg;
	if (load_changeable(st, x->id, "env", &x->row, err) < 0)
		return -1;
	json_t *env = x->row.environment_vars ? json_loads(x->row.environment_vars, 0, NULL) : NULL;
	if (!json_is_object(env)) {
		json_decref(env);
		env = json_object();
	}
	json_t *checked = NULL;
	int rc = x->edit(env, x->arg, err);
	/* The edited set obeys the same rules as environment_vars on update. */
	if (rc == 0)
		rc = crules_env_check(env, &checked, err);
	if (rc == 0 && env_differs(x->row.environment_vars, checked)) {
		free(x->row.environment_vars);
		x->row.environment_vars = json_dumps(checked, JSON_COMPACT);
		x->row.env_revision++;
		x->row.updated_at = now_ms();
		x->changed = true;
		rc = store_container_update(st, &x->row, err);
	}
	json_decref(checked);
	json_decref(env);
	return rc;
}

int containers_env_edit(struct platform *pf, const struct principal *who, const char *id,
			env_edit_fn edit, void *arg, struct container *row_out, bool *pushed,
			struct error *err)
{
	_cleanup_container_ struct container c = {0};
	struct tx_env_edit x = {.id = id, .edit = edit, .arg = arg};
	*pushed = false;
	if (containers_find(pf, who, id, "containers.update", &c, err) < 0)
		return -1;
	if (oplock_try(pf->locks, id, "env", err) < 0)
		return -1;
	int rc = store_tx(pf->store, env_edit_tx, &x, err);
	if (rc == 0 && x.changed)
		*pushed = containers_push_env(pf, &x.row);
	oplock_release(pf->locks, id);
	if (rc == 0 && row_out) {
		*row_out = x.row;
		memset(&x.row, 0, sizeof(x.row));
	}
	container_clear(&x.row);
	return rc;
}

/* ------------------------------------------------------------ sync */

int containers_sync(struct platform *pf, const struct principal *who, const char *id,
		    json_t **data_new, struct error *err)
{
	_cleanup_container_ struct container c = {0};
	_cleanup_container_ struct container s = {0};
	char op_id[OP_ID_LEN + 1];
	int rc = -1;
	if (containers_find_writable(pf, who, id, "containers.update", &c, err) < 0)
		goto out;
	if (!c.source_container_id) {
		err_set(err, E_NOT_COPIED,
			"Container was not created from a copy, sync is not possible.");
		goto out;
	}
	/* the source is read: the same owner and realm check as any read */
	if (containers_find(pf, who, c.source_container_id, "containers.read", &s, err) < 0) {
		if (err->code == E_CONTAINER_NOT_FOUND || err->code == E_NOT_FOUND)
			err_set(err, E_SOURCE_NOT_FOUND, "Source container not found");
		goto out;
	}
	op_id_new(op_id);
	json_t *meta = json_pack("{s:s, s:s}", "operation", "sync", "operation_id", op_id);
	struct container_transition t = {.move = MOVE_SYNC, .metadata = meta};
	if (oplock_try(pf->locks, id, "sync", err) == 0) {
		rc = containers_transition(pf, id, &t, NULL, err);
		oplock_release(pf->locks, id);
	}
	json_decref(meta);
	if (rc < 0)
		goto out;
	containers_submit_job(pf, JOB_SYNC, id, 0, NULL);
	*data_new =
	    json_pack("{s:s, s:s, s:s, s:s}", "container_id", id, "source_container_id",
		      c.source_container_id, "status",
		      container_status_name(container_move_to(MOVE_SYNC)), "operation_id", op_id);
out:
	return rc;
}

/* ------------------------------------------------------------ delete */

int containers_delete(struct platform *pf, const struct principal *who, const char *id,
		      struct error *err)
{
	_cleanup_container_ struct container c = {0};
	if (containers_find_writable(pf, who, id, "containers.delete", &c, err) < 0)
		return -1;
	/* Delete wins over a create in progress: the create job sees "deleting"
	 * and stops; copies and prespawn claims must finish first. */
	struct container_transition t = {.move = MOVE_DELETE};
	if (containers_transition(pf, id, &t, NULL, err) < 0)
		return -1;
	containers_submit_job(pf, JOB_DELETE, id, 0, NULL);
	return 0;
}

static int delete_now(struct platform *pf, const struct container *c, struct error *err)
{
	struct container_transition t = {.move = MOVE_PROJECT_DELETE};
	if (containers_transition(pf, c->id, &t, NULL, err) < 0)
		return err->code == E_CONTAINER_NOT_FOUND ? 0 : -1;
	oplock_wait(pf->locks, c->id, "delete");
	int rc = containers_remove_locked(pf, c->id, err);
	oplock_release(pf->locks, c->id);
	if (rc == 0)
		containers_deleted_event(pf, c);
	return rc;
}

/* A project goes with all its containers, so a caller who cannot see one of
 * them (a token of other realms) may not delete it: the same realm check as
 * for one container. Refused before anything is deleted. */
static int project_all_visible(const struct principal *who, const char *project_id,
			       const struct container *rows, size_t n, struct error *err)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(rows[i].project_id, project_id) == 0 && rows[i].status != CS_DELETED &&
		    !principal_sees_realms(who, rows[i].realm_ids))
			return err_set(err, E_FORBIDDEN,
				       "This project holds containers outside the realms this "
				       "auth token may use; it cannot delete the project");
	return 0;
}

int containers_delete_for_project(struct platform *pf, const struct principal *who,
				  const char *project_id, json_t **deleted_new, struct error *err)
{
	struct container *rows = NULL;
	size_t n = 0;
	*deleted_new = NULL;
	if (store_container_list_all(pf->store, &rows, &n, err) < 0)
		return -1;
	if (project_all_visible(who, project_id, rows, n, err) < 0) {
		container_list_free(rows, n);
		return -1;
	}
	json_t *gone = json_array();
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (strcmp(rows[i].project_id, project_id) != 0)
			continue;
		rc = delete_now(pf, &rows[i], err);
		if (rc == 0)
			json_array_append_new(
			    gone, json_pack("{s:s, s:s}", "id", rows[i].id, "name", rows[i].name));
	}
	container_list_free(rows, n);
	if (rc < 0) {
		json_decref(gone);
		return err_wrap(err, "deleting the project's containers");
	}
	*deleted_new = gone;
	return 0;
}

int containers_set_kvm(struct platform *pf, const struct principal *who, const char *id,
		       const json_t *body, json_t **data_new, struct error *err)
{
	static const char *const allowed[] = {"kvm", "dev_kvm", "enabled", NULL};
	_cleanup_container_ struct container c = {0};
	bool on = true, set = false;
	int a, b, e;
	if (fields_object(body, err) < 0 || fields_allowed(body, allowed, err) < 0 ||
	    (a = field_bool(body, "kvm", &on, err)) < 0 ||
	    (b = field_bool(body, "dev_kvm", &set, err)) < 0 ||
	    (e = field_bool(body, "enabled", &set, err)) < 0)
		return -1;
	if (b || e) {
		if (a && set != on)
			return err_set(err, E_VALIDATION, "kvm, dev_kvm and enabled must agree");
		on = set;
	}
	if (containers_find_writable(pf, who, id, "containers.features.kvm", &c, err) < 0)
		return -1;
	*data_new = json_pack("{s:s, s:s, s:b}", "container_id", c.id, "project_id", c.project_id,
			      "kvm", 0);
	if (!on)
		return 0;
	json_decref(*data_new);
	*data_new = NULL;
	return err_set(err, E_FORBIDDEN, "KVM is not available on this server");
}
