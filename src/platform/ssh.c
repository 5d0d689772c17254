/* SSH front door decisions: keys are looked up by type and blob (the
 * comment is not part of a key), the login name breaks ties. */
#include <stdio.h>
#include <string.h>

#include "platform/platform_int.h"
#include "platform/ssh.h"
#include "common/util.h"

static bool selects(const struct container *c, const char *login)
{
	return login && (!strcmp(c->id, login) || (c->name && !strcmp(c->name, login)));
}

/* `ssh <id>@host` naming a container the key does not open must not land
 * in the one it does. Other logins ("root", ...) are just names. */
static bool names_other(struct platform *pf, const char *login)
{
	if (!login || strlen(login) != ID_LEN)
		return false;
	_cleanup_container_ struct container c = {0};
	struct error err = {0};
	bool found = store_container_get(pf->store, login, &c, &err) == 0;
	return found;
}

static void fill(struct ssh_target *t, const struct container *c, const char *type_blob)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->container_id, sizeof(t->container_id), "%s", c->id);
	snprintf(t->user_id, sizeof(t->user_id), "%s", c->user_id);
	snprintf(t->name, sizeof(t->name), "%s", c->name ? c->name : "");
	snprintf(t->status, sizeof(t->status), "%s", container_status_name(c->status));
	snprintf(t->type_blob, sizeof(t->type_blob), "%s", type_blob);
}

int platform_ssh_find(struct platform *pf, const char *type_blob, const char *login,
		      struct ssh_target *out, struct error *err)
{
	if (!type_blob || strlen(type_blob) >= sizeof(out->type_blob) || !strchr(type_blob, ' '))
		return err_set(err, E_FORBIDDEN, "unknown key");
	struct container *cs = NULL;
	size_t n = 0;
	if (store_container_find_ssh_key(pf->store, type_blob, &cs, &n, err) < 0)
		return -1;
	const struct container *pick = NULL;
	size_t selected = 0;
	for (size_t i = 0; i < n; i++) {
		if (!cs[i].user_id[0])
			continue; /* prespawn pool members belong to nobody yet */
		if (selects(&cs[i], login)) {
			pick = &cs[i];
			selected++;
		}
	}
	if (!selected && n == 1 && cs[0].user_id[0] && !names_other(pf, login))
		pick = &cs[0], selected = 1;
	int rc = 0;
	if (selected == 1)
		fill(out, pick, type_blob);
	else
		rc = err_set(err, E_FORBIDDEN,
			     n ? "this key does not open that container, or opens several: log "
				 "in as <container-id-or-name>@host"
			       : "no container holds this key");
	container_list_free(cs, n);
	return rc;
}

/* The stored key has type_blob's type and blob; its comment does not count. */
static bool key_is(const char *stored, const char *type_blob)
{
	size_t kl = strlen(type_blob);
	return stored && !strncmp(stored, type_blob, kl) && (!stored[kl] || stored[kl] == ' ');
}

int platform_ssh_find_in(struct platform *pf, const char *type_blob, const char *container_id,
			 struct ssh_target *out, struct error *err)
{
	_cleanup_container_ struct container c = {0};
	struct error scratch = {0};
	int rc = -1;
	if (!type_blob || strlen(type_blob) >= sizeof(out->type_blob) || !strchr(type_blob, ' ') ||
	    store_container_get(pf->store, container_id, &c, &scratch) < 0 || !c.user_id[0] ||
	    !key_is(c.ssh_public_key, type_blob))
		err_set(err, E_FORBIDDEN, "this key does not open container %s", container_id);
	else
		rc = 0, fill(out, &c, type_blob);
	return rc;
}

int platform_ssh_check(struct platform *pf, struct ssh_target *t, struct error *err)
{
	_cleanup_container_ struct container c = {0};
	if (store_container_get(pf->store, t->container_id, &c, err) < 0)
		return -1;
	int rc = 0;
	if (!key_is(c.ssh_public_key, t->type_blob))
		rc = err_set(err, E_FORBIDDEN, "the key of container %s has changed", c.id);
	else if (c.status != CS_RUNNING)
		rc = err_set(err, E_STATE_CONFLICT,
			     "container %s (%s) is %s: start it first (POST "
			     "/api/v1/containers/%s/start)",
			     c.name ? c.name : "", c.id, container_status_name(c.status), c.id);
	snprintf(t->status, sizeof(t->status), "%s", container_status_name(c.status));
	return rc;
}

/* An ssh_proc is the runtime's rt_proc under a name the edge may hold. */
static struct rt_proc *rt_of(const struct ssh_proc *p)
{
	return (struct rt_proc *)p;
}

int platform_ssh_proc_start(struct platform *pf, struct ssh_target *t,
			    const struct ssh_proc_opts *o, struct ssh_proc **out_new,
			    struct error *err)
{
	struct rt_env env[] = {{"TERM", o->term}};
	struct rt_proc_opts ro = {
	    .argv = o->argv,
	    .env = o->term ? env : NULL,
	    .env_count = o->term ? 1 : 0,
	    .tty = o->tty,
	    .cols = o->cols,
	    .rows = o->rows,
	};
	struct rt_proc *p = NULL;
	if (platform_ssh_check(pf, t, err) < 0 ||
	    pf->rto->proc_start(pf->rt, t->container_id, &ro, &p, err) < 0)
		return -1;
	*out_new = (struct ssh_proc *)p;
	return 0;
}

int platform_ssh_proc_fd(const struct ssh_proc *p, int which)
{
	return rt_proc_fd(rt_of(p), which);
}

void platform_ssh_proc_close_fd(struct ssh_proc *p, int which)
{
	rt_proc_close_fd(rt_of(p), which);
}

int platform_ssh_proc_resize(struct ssh_proc *p, unsigned cols, unsigned rows)
{
	return rt_proc_resize(rt_of(p), cols, rows);
}

int platform_ssh_proc_end(struct platform *pf, struct ssh_proc *p)
{
	return pf->rto->proc_end(pf->rt, rt_of(p));
}

int platform_ssh_connect(struct platform *pf, struct ssh_target *t, uint16_t port,
			 struct error *err)
{
	if (platform_ssh_check(pf, t, err) < 0)
		return -1;
	return pf->rto->net_connect(pf->rt, t->container_id, port, err);
}

int platform_ssh_root(struct platform *pf, struct ssh_target *t, struct error *err)
{
	if (platform_ssh_check(pf, t, err) < 0)
		return -1;
	return pf->rto->root_open(pf->rt, t->container_id, err);
}
