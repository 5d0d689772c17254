/* Container create and claim: validation, realms, image and server, limits
 * and quotas in one write, and taking a warm prespawn pool member instead of
 * a cold start when one is ready. Decisions: docs/CONTAINERS.md,
 * docs/PRESPAWN.md. */
#include <stdlib.h>
#include <string.h>

#include "platform/platform_int.h"
#include "common/log.h"
#include "common/util.h"
#include "platform/containers_int.h"
#include "platform/events.h"
#include "platform/oplocks.h"
#include "platform/prespawn.h"
#include "platform/project.h"
#include "platform/render.h"
#include "platform/validate.h"

#define IMAGE_LIST_MAX 12 /* images named in the "not available" message */

/* ------------------------------------------------------------ create */

/* Realm membership of a new container (seeds: "The scoped realm is merged
 * into container realm_ids. Realm-restricted auth tokens are forced to the
 * active scoped realm only."). Off a realm host, a restricted token may only
 * name its own realms and by default gets those it shares with the project. */
static int creation_realms(const struct principal *who, const struct project *p, json_t *realms,
			   struct error *err)
{
	if (who->scoped_realm[0]) {
		if (principal_realm_restricted(who))
			json_array_clear(realms);
		realm_ids_add(realms, who->scoped_realm);
		return 0;
	}
	if (!principal_realm_restricted(who))
		return 0;
	size_t i;
	json_t *it;
	json_array_foreach(
	    realms, i, it) if (!realm_ids_has(who->token_realm_ids,
					      json_string_value(
						  it))) return err_set(err, E_FORBIDDEN,
								       "realm_ids: this auth token "
								       "may not use realm %s",
								       json_string_value(it));
	if (json_array_size(realms))
		return 0;
	json_t *prealms = realm_ids_parse(p->realm_ids);
	json_array_foreach(prealms, i,
			   it) if (realm_ids_has(who->token_realm_ids, json_string_value(it)))
	    realm_ids_add(realms, json_string_value(it));
	json_decref(prealms);
	return 0;
}

static void list_images(struct platform *pf, char *buf, size_t len)
{
	struct rt_image *imgs = NULL;
	size_t n = 0;
	struct error err = {0};
	buf[0] = '\0';
	if (pf->rto->image_list(pf->rt, &imgs, &n, &err) < 0)
		return;
	for (size_t i = 0; i < n && i < IMAGE_LIST_MAX; i++) {
		size_t used = strlen(buf);
		snprintf(buf + used, len - used, "%s%s", i ? ", " : "", imgs[i].name);
	}
	free(imgs);
}

static int resolve_image(struct platform *pf, const struct container_input *in, char *out,
			 size_t len, struct error *err)
{
	const char *img = in->image ? in->image : pf->cfg.default_image;
	if (rt_image_normalize(img, out, len, err) < 0) {
		err->code = E_VALIDATION;
		return err_wrap(err, "container_image");
	}
	if (pf->rto->image_exists(pf->rt, out))
		return 0;
	char avail[512];
	list_images(pf, avail, sizeof(avail));
	return err_set(err, E_VALIDATION,
		       "container_image \"%s\" is not available on this server (available: %s)",
		       out, avail[0] ? avail : "none");
}

/* server_id, or the only server when omitted. */
static int resolve_server(struct platform *pf, const struct container_input *in, struct server *out,
			  struct error *err)
{
	if (in->has_server_id) {
		if (store_server_get(pf->store, in->server_id, out, err) < 0)
			return err->code == E_NOT_FOUND
				   ? err_set(err, E_NOT_FOUND, "Server not found")
				   : -1;
		return 0;
	}
	struct server *all = NULL;
	size_t n = 0;
	if (store_server_list(pf->store, &all, &n, err) < 0)
		return -1;
	int rc = 0;
	if (n == 1) {
		*out = all[0];
		memset(&all[0], 0, sizeof(all[0]));
	} else {
		rc = err_set(err, E_VALIDATION, "server_id is required");
	}
	for (size_t i = 0; i < n; i++)
		server_clear(&all[i]);
	free(all);
	return rc;
}

struct tx_create {
	struct platform *pf;
	const char *user_id;
	const struct project *project;
	const struct server *server;
	struct container *c;
	bool random_name;
};

static int64_t limit_or(int64_t explicit_limit, int64_t dflt)
{
	return explicit_limit >= 0 ? explicit_limit : dflt;
}

typedef int (*count_fn)(struct store *st, const char *id, int64_t *out, struct error *err);

/* code when id already has max (>= 0) live containers. */
static int check_cap(struct store *st, count_fn count, const char *id, int64_t max,
		     enum err_code code, const char *what, struct error *err)
{
	int64_t n = 0;
	if (max < 0)
		return 0;
	if (count(st, id, &n, err) < 0)
		return -1;
	if (n < max)
		return 0;
	return err_set(err, code, "%s (limit %lld).", what, (long long)max);
}

static int check_limits(struct store *st, const struct tx_create *x, struct error *err)
{
	struct user u = {0};
	/* The configured default caps this host when its row sets none. */
	bool self = strcmp(x->server->id, x->pf->server_id) == 0;
	int64_t server_max =
	    limit_or(x->server->max_containers, self ? x->pf->cfg.server_max_containers : -1);
	if (check_cap(st, store_container_count_project, x->project->id, x->project->max_containers,
		      E_PROJECT_LIMIT, "This project has reached its container limit", err) < 0 ||
	    check_cap(st, store_container_count_server, x->server->id, server_max, E_SERVER_LIMIT,
		      "This server has reached its container limit", err) < 0 ||
	    store_user_get(st, x->user_id, &u, err) < 0)
		return -1;
	int64_t user_max = limit_or(u.max_containers, x->pf->cfg.user_max_containers);
	user_clear(&u);
	return check_cap(st, store_container_count_user, x->user_id, user_max, E_QUOTA,
			 "Quota exceeded: this account has reached its container quota", err);
}

/* Limits, uniqueness and the first status log in one write transaction, so
 * concurrent creates cannot overshoot a limit. */
static int create_tx(struct store *st, void *arg, struct error *err)
{
	struct tx_create *x = arg;
	if (check_limits(st, x, err) < 0)
		return -1;
	for (int attempt = 0;; attempt++) {
		if (store_container_insert(st, x->c, err) == 0)
			break;
		if (err->code != E_NAME_IN_USE || !x->random_name || attempt >= NAME_RETRIES)
			return -1;
		char name[CONTAINER_NAME_MAX + 1];
		crules_random_name(name);
		free(x->c->name);
		x->c->name = xstrdup(name);
	}
	return containers_log_transition(st, x->c->id, CS_NONE, x->c->status, "user", NULL, err);
}

static void fill_container(struct platform *pf, const struct principal *who,
			   const struct project *p, const struct server *s,
			   const struct container_input *in, const char *image, struct container *c)
{
	id_new(c->id);
	snprintf(c->project_id, sizeof(c->project_id), "%s", p->id);
	snprintf(c->user_id, sizeof(c->user_id), "%s", who->user_id);
	snprintf(c->server_id, sizeof(c->server_id), "%s", s->id);
	c->name = xstrdup(in->name);
	c->color = xstrdup(in->color);
	c->container_image = xstrdup(image);
	c->ai = in->ai;
	c->hoody_kit = in->hoody_kit;
	c->dev_kit = in->dev_kit;
	c->autostart = in->autostart;
	c->ramdisk = in->ramdisk;
	c->status = container_move_to(MOVE_CREATE);
	c->desired = container_moves[MOVE_CREATE].desired;
	c->environment_vars = json_dumps(in->env, JSON_COMPACT);
	c->ssh_public_key = in->ssh_key ? xstrdup(in->ssh_key) : NULL;
	c->comment = in->comment ? xstrdup(in->comment) : NULL;
	c->realm_ids = realm_ids_dump_new(in->realm_ids);
	c->created_at = c->updated_at = now_ms();
}

int containers_check_ssh_permission(const struct principal *who, const struct container_input *in,
				    struct error *err)
{
	if (in->has_ssh_key && in->ssh_key)
		return principal_require(who, "resources.ssh_keys", err);
	return 0;
}

/* ------------------------------------------------------------ claim */

/* Gives the pool member m the user's container x->c: owner, project, name,
 * color, flags, environment, key, comment and realms. */
static void reown(struct container *m, const struct container *u)
{
	memcpy(m->project_id, u->project_id, sizeof(m->project_id));
	memcpy(m->user_id, u->user_id, sizeof(m->user_id));
	containers_set_str(&m->name, u->name);
	containers_set_str(&m->color, u->color);
	m->ai = u->ai;
	m->autostart = u->autostart;
	containers_set_str(&m->environment_vars, u->environment_vars);
	m->env_revision = strcmp(u->environment_vars, "{}") != 0 ? m->env_revision + 1 : 0;
	containers_set_str(&m->ssh_public_key, u->ssh_public_key);
	containers_set_str(&m->comment, u->comment);
	containers_set_str(&m->realm_ids, u->realm_ids);
	m->status = container_move_to(MOVE_CLAIM);
	m->desired = container_moves[MOVE_CLAIM].desired;
	containers_set_str(&m->pool_key, NULL);
	m->prespawn = false;
	m->created_at = m->updated_at = now_ms();
}

struct tx_claim {
	struct tx_create *x;
	const char *member_id;
	struct container m;
};

/* The claim as one write: limits, the member still ready, the re-own. */
static int claim_tx(struct store *st, void *arg, struct error *err)
{
	struct tx_claim *t = arg;
	if (check_limits(st, t->x, err) < 0 ||
	    store_container_get(st, t->member_id, &t->m, err) < 0)
		return -1;
	if (!t->m.prespawn || container_move_check(MOVE_CLAIM, t->m.status) != E_OK)
		return err_set(err, E_CONFLICT, "pool member taken");
	reown(&t->m, t->x->c);
	for (int attempt = 0;; attempt++) {
		if (store_container_update(st, &t->m, err) == 0)
			break;
		if (err->code != E_NAME_IN_USE || !t->x->random_name || attempt >= NAME_RETRIES)
			return -1;
		char name[CONTAINER_NAME_MAX + 1];
		crules_random_name(name);
		containers_set_str(&t->m.name, name);
	}
	json_t *meta = json_pack("{s:b}", "prespawn", true);
	int rc = containers_log_transition(st, t->m.id, CS_NONE, t->m.status,
					   container_moves[MOVE_CLAIM].by, meta, err);
	json_decref(meta);
	return rc;
}

/* A change in place that the host refused after the claim committed: the
 * container runs, the user's, but without it until its next start (which
 * applies the whole spec); its status log and events say so. */
static void claim_incomplete(struct platform *pf, const struct container *m, const char *what,
			     const struct error *why)
{
	struct error err = {0};
	_cleanup_free_ char *reason =
	    xasprintf("claim: %s not set (until the next start): %.250s", what, why->msg);
	log_warn("container %s: %s", m->id, reason);
	json_t *meta = json_pack("{s:s, s:s}", "event", "claim_incomplete", "reason", reason);
	if (containers_note(pf, m->id, "container.claim_incomplete", meta, &err) < 0)
		log_warn("container %s: not recorded: %s", m->id, err.msg);
	json_decref(meta);
}

/* After the claim committed: the container answers to its new name, joins
 * its project's network and has the user's environment in /etc/environment
 * (a failure there stays visible in env_sync). */
static void claimed(struct platform *pf, struct container *m)
{
	struct error err = {0};
	if (pf->rto->set_hostname(pf->rt, m->id, m->name, &err) < 0)
		claim_incomplete(pf, m, "hostname", &err);
	if (pf->rto->set_net_group(pf->rt, m->id, m->project_id, &err) < 0)
		claim_incomplete(pf, m, "network group", &err);
	if (m->env_revision)
		containers_push_env(pf, m);
	const char *to = container_status_name(m->status);
	char type[32];
	snprintf(type, sizeof(type), "container.%s", to);
	json_t *ev = json_pack("{s:n, s:s, s:s, s:b}", "from_status", "to_status", to,
			       "triggered_by", container_moves[MOVE_CLAIM].by, "prespawn", true);
	events_container(pf, m, type, ev);
	json_decref(ev);
}

/* 1: x->c is now a claimed, running pool member; 0: no member was ready
 * (create normally); -1: refused (limits, name). */
static int claim(struct platform *pf, struct tx_create *x, const char *key, struct error *err)
{
	_cleanup_container_ struct container pick = {0};
	struct error e = {0};
	if (store_container_pool_pick(pf->store, key, &pick, &e) < 0)
		return 0;
	struct tx_claim t = {.x = x, .member_id = pick.id};
	/* A ready member's lock is held at most by the end of its own create
	 * job or by a trim that deletes it (then claim_tx refuses it): short. */
	oplock_wait(pf->locks, pick.id, "claim");
	int rc = store_tx(pf->store, claim_tx, &t, err) == 0 ? 1 : -1;
	if (rc == 1)
		claimed(pf, &t.m);
	oplock_release(pf->locks, pick.id);
	/* Someone else took it first: a normal create. */
	if (rc < 0 && err->code == E_CONFLICT) {
		err_clear(err);
		rc = 0;
	}
	if (rc == 1) {
		container_clear(x->c);
		*x->c = t.m;
		memset(&t.m, 0, sizeof(t.m));
		prespawn_kick(pf);
	}
	container_clear(&t.m);
	return rc;
}

int containers_create(struct platform *pf, const struct principal *who, const char *project_id,
		      const json_t *body, json_t **data_new, struct error *err)
{
	return containers_create_ex(pf, who, project_id, body, NULL, data_new, err);
}

int containers_create_ex(struct platform *pf, const struct principal *who, const char *project_id,
			 const json_t *body, const struct copy_source *src, json_t **data_new,
			 struct error *err)
{
	struct container_input in = {0};
	_cleanup_project_ struct project p = {0};
	struct server s = {0};
	_cleanup_container_ struct container c = {0};
	char image[128];
	int rc = -1;
	if (principal_require(who, "containers.create", err) < 0 ||
	    crules_parse_create(body, &in, err) < 0 ||
	    containers_check_ssh_permission(who, &in, err) < 0)
		goto out;
	if (projects_get_visible(pf, who, project_id, &p, err) < 0) {
		if (err->code == E_NOT_FOUND)
			err_set(err, E_NOT_FOUND, "Project not found");
		goto out;
	}
	if (creation_realms(who, &p, in.realm_ids, err) < 0 ||
	    resolve_image(pf, &in, image, sizeof(image), err) < 0 ||
	    resolve_server(pf, &in, &s, err) < 0)
		goto out;
	fill_container(pf, who, &p, &s, &in, image, &c);
	if (src) {
		c.status = container_move_to(MOVE_COPY);
		containers_set_str(&c.source_container_id, src->source_id);
		in.bypass_prespawn = true;
	}
	struct tx_create x = {.pf = pf,
			      .user_id = who->user_id,
			      .project = &p,
			      .server = &s,
			      .c = &c,
			      .random_name = in.random_name};
	char key[PRESPAWN_KEY_MAX];
	int got = 0;
	if (!in.bypass_prespawn && in.ramdisk && strcmp(s.id, pf->server_id) == 0 &&
	    prespawn_pool_for(pf, image, in.hoody_kit, in.dev_kit, key) &&
	    (got = claim(pf, &x, key, err)) < 0)
		goto out;
	if (got == 1) {
		log_info("container %s (%s): claimed from pool in project %s", c.id, c.name, p.id);
		*data_new = render_one_new(pf, who->user_id, &c);
		rc = 0;
		goto out;
	}
	if (store_tx(pf->store, create_tx, &x, err) < 0)
		goto out;
	const char *status = container_status_name(c.status);
	log_info("container %s (%s): %s in project %s", c.id, c.name, status, p.id);
	char type[32];
	snprintf(type, sizeof(type), "container.%s", status);
	json_t *ev =
	    json_pack("{s:n, s:s, s:s, s:s, s:o}", "from_status", "to_status", status,
		      "triggered_by", "user", "container_image", c.container_image,
		      "source_container_id", src ? json_string(src->source_id) : json_null());
	events_container(pf, &c, type, ev);
	json_decref(ev);
	*data_new = render_one_new(pf, who->user_id, &c);
	if (src)
		containers_submit_job(pf, JOB_COPY, c.id, 0, src->snapshot);
	else
		containers_submit_job(pf, JOB_CREATE, c.id, 0, NULL);
	rc = 0;
out:
	container_input_clear(&in);
	server_clear(&s);
	return rc;
}
