/* Container environment routes: each change is an edit function run by
 * containers_env_edit under the container's operation lock, so concurrent
 * PUTs of different keys never lose one another. */
#include "platform/platform_int.h"
#include "platform/env.h"

#include <strings.h>
#include <string.h>

#include "platform/container_rules.h"
#include "platform/containers.h"
#include "platform/events.h"
#include "platform/render.h"
#include "platform/validate.h"

static int key_check(const char *key, struct error *err)
{
	if (!crules_env_key_valid(key))
		return err_set(err, E_INVALID_ENV_KEY,
			       "Invalid environment variable name \"%.64s\": must match "
			       "^[a-zA-Z_][a-zA-Z0-9_]*$ and be at most %d characters",
			       key ? key : "", CONTAINER_ENV_KEY_MAX);
	/* Case-insensitive: "hoody_x" would shadow the platform's on a
	 * case-insensitive reader and is never what a user means. */
	if (strncasecmp(key, ENV_RESERVED_PREFIX, strlen(ENV_RESERVED_PREFIX)) == 0)
		return err_set(
		    err, E_RESERVED_ENV_PREFIX,
		    "Environment variable %.64s uses the reserved prefix " ENV_RESERVED_PREFIX,
		    key);
	return 0;
}

static json_t *env_data_new(const struct container *c, bool pushed)
{
	json_t *env = c->environment_vars ? json_loads(c->environment_vars, 0, NULL) : NULL;
	bool running = container_status_in(c->status, CS_UP);
	bool synced = c->env_applied_revision >= c->env_revision;
	const char *state = synced ? "applied" : (running ? "failed" : "pending_start");
	const char *msg = synced ? (pushed ? "Applied to the running container"
					   : "The container already has these values")
				 : (running ? "Saved, but not written into the running container; "
					      "they apply at its next start"
					    : "Saved; applied when the container next starts");
	if (!json_is_object(env)) {
		json_decref(env);
		env = json_object();
	}
	json_t *sync = render_env_sync_new(c);
	json_object_set_new(sync, "status", json_string(state));
	json_object_set_new(sync, "container_running", json_boolean(running));
	json_object_set_new(sync, "message", json_string(msg));
	return json_pack("{s:s, s:o, s:b, s:o}", "container_id", c->id, "environment_vars", env,
			 "synced", synced, "env_sync", sync);
}

/* Runs edit and answers with the new set. */
static int edit_and_answer(struct platform *pf, const struct principal *who, const char *id,
			   env_edit_fn edit, void *arg, json_t **data_new, struct error *err)
{
	_cleanup_container_ struct container c = {0};
	bool pushed = false;
	if (containers_env_edit(pf, who, id, edit, arg, &c, &pushed, err) < 0)
		return -1;
	events_container(pf, &c, pushed ? "container.env.applied" : "container.env.updated", NULL);
	*data_new = env_data_new(&c, pushed);
	return 0;
}

int containers_env_get(struct platform *pf, const struct principal *who, const char *id,
		       json_t **data_new, struct error *err)
{
	_cleanup_container_ struct container c = {0};
	if (containers_find(pf, who, id, "containers.read", &c, err) < 0)
		return -1;
	*data_new = env_data_new(&c, false);
	return 0;
}

static int merge_all(json_t *env, void *arg, struct error *err)
{
	const json_t *body = arg;
	const char *k;
	json_t *v;
	/* Keys were checked by the caller; values by crules_env_check after. */
	json_object_foreach((json_t *)body, k, v) json_object_set(env, k, v);
	return 0;
}

int containers_env_put_all(struct platform *pf, const struct principal *who, const char *id,
			   const json_t *body, json_t **data_new, struct error *err)
{
	if (!json_is_object(body))
		return err_set(
		    err, E_VALIDATION,
		    "body must be an object of environment variables {\"KEY\": \"value\"}");
	if (json_object_size(body) > CONTAINER_ENV_MAX)
		return err_set(err, E_VALIDATION, "at most %d environment variables",
			       CONTAINER_ENV_MAX);
	/* Keys first, so a bad key is refused before the container is looked at. */
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)body, k, v)
	{
		if (key_check(k, err) < 0)
			return -1;
		if (!json_is_string(v))
			return err_set(err, E_VALIDATION, "%.64s must be a string", k);
	}
	return edit_and_answer(pf, who, id, merge_all, (void *)body, data_new, err);
}

struct one_var {
	const char *key;
	const char *value; /* NULL: delete */
};

static int set_one(json_t *env, void *arg, struct error *err)
{
	const struct one_var *o = arg;
	if (o->value)
		return json_object_set_new(env, o->key, json_string(o->value)) == 0
			   ? 0
			   : err_set(err, E_VALIDATION, "value must be UTF-8 text");
	json_object_del(env, o->key);
	return 0;
}

int containers_env_put_key(struct platform *pf, const struct principal *who, const char *id,
			   const char *key, const json_t *body, json_t **data_new,
			   struct error *err)
{
	static const char *const allowed[] = {"value", NULL};
	struct one_var o = {.key = key};
	if (key_check(key, err) < 0)
		return -1;
	if (!json_is_object(body) || fields_allowed(body, allowed, err) < 0)
		return err->code ? -1
				 : err_set(err, E_VALIDATION, "body must be {\"value\": \"...\"}");
	int rc =
	    field_string(body, "value", 0, CONTAINER_ENV_VALUE_MAX, false, &o.value, NULL, err);
	if (rc == 0)
		return err_set(err, E_VALIDATION, "value is required");
	if (rc < 0)
		return -1;
	return edit_and_answer(pf, who, id, set_one, &o, data_new, err);
}

int containers_env_delete_key(struct platform *pf, const struct principal *who, const char *id,
			      const char *key, json_t **data_new, struct error *err)
{
	struct one_var o = {.key = key, .value = NULL};
	if (key_check(key, err) < 0)
		return -1;
	return edit_and_answer(pf, who, id, set_one, &o, data_new, err);
}
