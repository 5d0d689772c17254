/* Prespawn pools: targets, their members, the filler thread and the admin
 * view. The claim itself is part of create (containers_create.c), which asks
 * prespawn_pool_for. */
#include "platform/platform_int.h"
#include "platform/prespawn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/util.h"
#include "platform/container_int.h"
#include "platform/validate.h"

#define KV_POOLS "prespawn.pools"

struct pool {
	char image[128];
	bool hoody_kit, dev_kit;
	int64_t target;
	char key[PRESPAWN_KEY_MAX];
};

struct prespawn {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	bool running, quit, kicked;
	struct pool pools[PRESPAWN_POOLS_MAX];
	size_t n;
};

static void make_key(const struct platform *pf, const char *image, bool kit, bool dev,
		     char key[PRESPAWN_KEY_MAX])
{
	snprintf(key, PRESPAWN_KEY_MAX, "%s|%s|k%d|d%d", pf->server_id, image, kit, dev);
}

bool prespawn_pool_for(struct platform *pf, const char *image, bool hoody_kit, bool dev_kit,
		       char key[PRESPAWN_KEY_MAX])
{
	struct prespawn *ps = pf->pools;
	bool found = false;
	if (!ps)
		return false;
	make_key(pf, image, hoody_kit, dev_kit, key);
	pthread_mutex_lock(&ps->mu);
	for (size_t i = 0; i < ps->n && !found; i++)
		found = ps->pools[i].target > 0 && strcmp(ps->pools[i].key, key) == 0;
	pthread_mutex_unlock(&ps->mu);
	return found;
}

void prespawn_kick(struct platform *pf)
{
	struct prespawn *ps = pf->pools;
	if (!ps)
		return;
	pthread_mutex_lock(&ps->mu);
	ps->kicked = true;
	pthread_cond_signal(&ps->cv);
	pthread_mutex_unlock(&ps->mu);
}

/* ------------------------------------------------------------ targets */

static int pool_set(struct platform *pf, struct pool *p, const char *image, bool kit, bool dev,
		    int64_t target, struct error *err)
{
	if (rt_image_normalize(image, p->image, sizeof(p->image), err) < 0)
		return -1;
	if (target < 0 || target > PRESPAWN_TARGET_MAX)
		return err_set(err, E_VALIDATION, "target must be 0 to %d", PRESPAWN_TARGET_MAX);
	p->hoody_kit = kit;
	p->dev_kit = dev;
	p->target = target;
	make_key(pf, p->image, kit, dev, p->key);
	return 0;
}

/* "busybox=2,debian/13+kit+dev=1" */
static int parse_spec(struct platform *pf, const char *spec, struct pool *out, size_t *n,
		      struct error *err)
{
	_cleanup_free_ char *copy = xstrdup(spec);
	char *save = NULL;
	*n = 0;
	for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		char *eq = strrchr(item, '=');
		char *end = NULL;
		long long t = eq ? strtoll(eq + 1, &end, 10) : -1;
		if (!eq || !*(eq + 1) || *end || *n >= PRESPAWN_POOLS_MAX)
			return err_set(err, E_VALIDATION,
				       "prespawn: \"%.64s\" is not IMAGE[+kit][+dev]=N", item);
		*eq = '\0';
		bool kit = false, dev = false;
		char *plus;
		while ((plus = strrchr(item, '+'))) {
			if (!strcmp(plus, "+kit"))
				kit = true;
			else if (!strcmp(plus, "+dev"))
				dev = true;
			else
				return err_set(err, E_VALIDATION, "prespawn: unknown flag %.32s",
					       plus);
			*plus = '\0';
		}
		if (pool_set(pf, &out[(*n)++], item, kit, dev || kit, t, err) < 0)
			return -1;
	}
	return 0;
}

static json_t *pools_json_new(const struct pool *v, size_t n)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr,
				      json_pack("{s:s, s:b, s:b, s:I}", "image", v[i].image,
						"hoody_kit", v[i].hoody_kit, "dev_kit",
						v[i].dev_kit, "target", (json_int_t)v[i].target));
	return arr;
}

/* {pools: [{image, hoody_kit?, dev_kit?, target}]} */
static int parse_json(struct platform *pf, const json_t *body, struct pool *out, size_t *n,
		      struct error *err)
{
	static const char *const top[] = {"pools", NULL};
	static const char *const item[] = {"image", "hoody_kit", "dev_kit", "target", NULL};
	json_t *arr = json_object_get(body, "pools");
	*n = 0;
	if (fields_object(body, err) < 0 || fields_allowed(body, top, err) < 0)
		return -1;
	if (!json_is_array(arr) || json_array_size(arr) > PRESPAWN_POOLS_MAX)
		return err_set(err, E_VALIDATION, "pools must be an array of at most %d pools",
			       PRESPAWN_POOLS_MAX);
	size_t i;
	json_t *p;
	json_array_foreach(arr, i, p)
	{
		const char *image = NULL;
		bool kit = false, dev = false;
		int64_t target = 0;
		int has_dev;
		if (fields_allowed(p, item, err) < 0 ||
		    field_string(p, "image", 1, 127, false, &image, NULL, err) < 1 ||
		    field_bool(p, "hoody_kit", &kit, err) < 0 ||
		    (has_dev = field_bool(p, "dev_kit", &dev, err)) < 0 ||
		    field_int(p, "target", 0, PRESPAWN_TARGET_MAX, false, &target, NULL, err) < 1) {
			if (!err->code)
				err_set(err, E_VALIDATION, "pools[%zu] needs image and target", i);
			return -1;
		}
		if (pool_set(pf, &out[(*n)++], image, kit, has_dev ? dev : kit, target, err) < 0)
			return -1;
	}
	return 0;
}

/* ------------------------------------------------------------ the filler */

/* ------------------------------------------------------------ members */

/* A pool member is a container without owner or project, created in the
 * background like any container; claims re-own it (containers_create.c). */
static int pool_insert_tx(struct store *st, void *arg, struct error *err)
{
	struct container *c = arg;
	if (store_container_insert(st, c, err) < 0)
		return -1;
	return containers_log_transition(st, c->id, CS_NONE, c->status,
					 container_moves[MOVE_POOL_MEMBER].by, NULL, err);
}

static int member_new(struct platform *pf, const char *image, bool hoody_kit, bool dev_kit,
		      const char *pool_key, struct error *err)
{
	_cleanup_container_ struct container c = {0};
	char color[COLOR_LEN];
	id_new(c.id);
	snprintf(c.server_id, sizeof(c.server_id), "%s", pf->server_id);
	c.name = xasprintf("prespawn-%s", c.id + 12);
	color_random(color);
	c.color = xstrdup(color);
	c.container_image = xstrdup(image);
	c.hoody_kit = hoody_kit;
	c.dev_kit = dev_kit;
	c.autostart = c.ramdisk = c.prespawn = true;
	c.pool_key = xstrdup(pool_key);
	c.status = container_move_to(MOVE_POOL_MEMBER);
	c.desired = container_moves[MOVE_POOL_MEMBER].desired;
	c.environment_vars = xstrdup("{}");
	c.realm_ids = xstrdup("[]");
	c.created_at = c.updated_at = now_ms();
	int rc = store_tx(pf->store, pool_insert_tx, &c, err);
	if (rc == 0)
		containers_submit_job(pf, JOB_CREATE, c.id, 0, NULL);
	return rc;
}

static void member_remove(struct platform *pf, const char *id)
{
	struct container_transition t = {.move = MOVE_POOL_TRIM};
	struct error err = {0};
	if (containers_transition(pf, id, &t, NULL, &err) == 0)
		containers_submit_job(pf, JOB_DELETE, id, 0, NULL);
}

/* Members beyond a target, of dropped pools, or failed, go. */
static void trim(struct platform *pf, const struct pool *v, size_t n)
{
	struct container *m = NULL;
	size_t count = 0;
	struct error err = {0};
	if (store_container_pool_members(pf->store, &m, &count, &err) < 0)
		return;
	int64_t seen[PRESPAWN_POOLS_MAX] = {0};
	for (size_t i = 0; i < count; i++) {
		size_t k = 0;
		while (k < n && strcmp(v[k].key, m[i].pool_key ? m[i].pool_key : "") != 0)
			k++;
		bool keep = k < n && m[i].status != CS_FAILED && ++seen[k] <= v[k].target;
		if (!keep)
			member_remove(pf, m[i].id);
	}
	container_list_free(m, count);
}

static void fill(struct platform *pf, const struct pool *v, size_t n)
{
	int64_t busy = 0, ready[PRESPAWN_POOLS_MAX], creating[PRESPAWN_POOLS_MAX];
	struct error err = {0};
	for (size_t i = 0; i < n; i++) {
		ready[i] = creating[i] = 0;
		if (store_container_pool_count(pf->store, v[i].key, &ready[i], &creating[i], &err) <
		    0)
			return;
		busy += creating[i];
	}
	for (size_t i = 0; i < n; i++) {
		if (v[i].target <= 0 || !pf->rto->image_exists(pf->rt, v[i].image))
			continue;
		for (int64_t k = ready[i] + creating[i];
		     k < v[i].target && busy < PRESPAWN_PARALLEL; k++, busy++)
			if (member_new(pf, v[i].image, v[i].hoody_kit, v[i].dev_kit, v[i].key,
				       &err) < 0) {
				log_warn("prespawn %s: %s", v[i].key, err.msg);
				return;
			}
	}
}

static void *filler(void *arg)
{
	struct platform *pf = arg;
	struct prespawn *ps = pf->pools;
	struct pool v[PRESPAWN_POOLS_MAX] = {0};
	pthread_mutex_lock(&ps->mu);
	while (!ps->quit) {
		size_t n = ps->n;
		memcpy(v, ps->pools, n * sizeof(*v));
		ps->kicked = false;
		pthread_mutex_unlock(&ps->mu);
		trim(pf, v, n);
		fill(pf, v, n);
		pthread_mutex_lock(&ps->mu);
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += PRESPAWN_TICK_MS * 1000000L;
		until.tv_sec += until.tv_nsec / 1000000000L;
		until.tv_nsec %= 1000000000L;
		while (!ps->quit && !ps->kicked &&
		       pthread_cond_timedwait(&ps->cv, &ps->mu, &until) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&ps->mu);
	return NULL;
}

/* Admin-set pools saved in the store win over the config. */
static void restore_saved(struct platform *pf, struct prespawn *ps)
{
	_cleanup_free_ char *text = NULL;
	struct error err = {0};
	if (store_kv_get(pf->store, KV_POOLS, &text, &err) < 0)
		return;
	json_t *body = json_loads(text, 0, NULL);
	size_t n = 0;
	if (body && parse_json(pf, body, ps->pools, &n, &err) == 0)
		ps->n = n;
	else
		log_warn("prespawn: saved pools unreadable, using the config: %s", err.msg);
	json_decref(body);
}

int prespawn_start(struct platform *pf, struct error *err)
{
	struct prespawn *ps = xcalloc(1, sizeof(*ps));
	pthread_mutex_init(&ps->mu, NULL);
	pthread_cond_init(&ps->cv, NULL);
	if (pf->cfg.prespawn && *pf->cfg.prespawn &&
	    parse_spec(pf, pf->cfg.prespawn, ps->pools, &ps->n, err) < 0) {
		free(ps);
		return -1;
	}
	restore_saved(pf, ps);
	pf->pools = ps;
	if (pf->rt && pthread_create(&ps->thread, NULL, filler, pf) == 0)
		ps->running = true;
	return 0;
}

void prespawn_stop(struct platform *pf)
{
	struct prespawn *ps = pf->pools;
	if (!ps)
		return;
	pthread_mutex_lock(&ps->mu);
	ps->quit = true;
	pthread_cond_signal(&ps->cv);
	pthread_mutex_unlock(&ps->mu);
	if (ps->running)
		pthread_join(ps->thread, NULL);
	pthread_cond_destroy(&ps->cv);
	pthread_mutex_destroy(&ps->mu);
	pf->pools = NULL;
	free(ps);
}

/* ------------------------------------------------------------ admin */

int prespawn_get(struct platform *pf, const struct principal *who, json_t **data_new,
		 struct error *err)
{
	struct prespawn *ps = pf->pools;
	struct pool v[PRESPAWN_POOLS_MAX] = {0};
	size_t n = 0;
	if (!who->is_admin)
		return err_set(err, E_FORBIDDEN, "Administrator access required");
	if (ps) {
		pthread_mutex_lock(&ps->mu);
		n = ps->n;
		memcpy(v, ps->pools, n * sizeof(*v));
		pthread_mutex_unlock(&ps->mu);
	}
	json_t *arr = pools_json_new(v, n);
	for (size_t i = 0; i < n; i++) {
		int64_t ready = 0, creating = 0;
		if (store_container_pool_count(pf->store, v[i].key, &ready, &creating, err) < 0) {
			json_decref(arr);
			return -1;
		}
		json_t *o = json_array_get(arr, i);
		json_object_set_new(o, "ready", json_integer(ready));
		json_object_set_new(o, "creating", json_integer(creating));
		json_object_set_new(o, "server_id", json_string(pf->server_id));
	}
	*data_new = json_pack("{s:o, s:i}", "pools", arr, "parallel", PRESPAWN_PARALLEL);
	return 0;
}

int prespawn_put(struct platform *pf, const struct principal *who, const json_t *body,
		 json_t **data_new, struct error *err)
{
	struct prespawn *ps = pf->pools;
	struct pool v[PRESPAWN_POOLS_MAX] = {0};
	size_t n = 0;
	if (!who->is_admin)
		return err_set(err, E_FORBIDDEN, "Administrator access required");
	if (!ps)
		return err_set(err, E_INTERNAL, "prespawn is not running");
	if (parse_json(pf, body, v, &n, err) < 0)
		return -1;
	json_t *saved = json_pack("{s:o}", "pools", pools_json_new(v, n));
	_cleanup_free_ char *text = json_dumps(saved, JSON_COMPACT);
	json_decref(saved);
	if (store_kv_set(pf->store, KV_POOLS, text, err) < 0)
		return -1;
	pthread_mutex_lock(&ps->mu);
	memcpy(ps->pools, v, n * sizeof(*v));
	ps->n = n;
	ps->kicked = true;
	pthread_cond_signal(&ps->cv);
	pthread_mutex_unlock(&ps->mu);
	return prespawn_get(pf, who, data_new, err);
}
