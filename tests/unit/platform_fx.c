/* The platform fixture of the state machine's unit tests (platform_fx.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/util.h"
#include "fake_runtime.h"
#include "platform/containers.h"
#include "platform/open.h"
#include "platform/projects.h"
#include "platform_fx.h"

void fx_open(struct fx *f)
{
	struct platform_config cfg = {
	    .state_dir = f->dir,
	    .server_name = "node-unit",
	    .workers = 2,
	    .no_signing_key = true,
	    .prespawn = f->prespawn,
	    .runtime_ops = &fake_rt_ops,
	};
	struct error err = {0};
	if (platform_open(&cfg, f->st, f->rt, &f->pf, &err) < 0)
		fail_msg("platform_open: %s", err.msg);
}

void fx_settle(struct fx *f)
{
	platform_close(f->pf);
	f->pf = NULL;
}

struct fx *fx_new(const char *prespawn)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	struct error err = {0};
	/* tmpfs when there is one: hundreds of stores are made, each synced. */
	snprintf(f->dir, sizeof(f->dir), "/dev/shm/hoody-test-sm-XXXXXX");
	if (!mkdtemp(f->dir)) {
		snprintf(f->dir, sizeof(f->dir), "/tmp/hoody-test-sm-XXXXXX");
		assert_non_null(mkdtemp(f->dir));
	}
	_cleanup_free_ char *db = xasprintf("%s/hoody.db", f->dir);
	assert_int_equal(store_open(db, &f->st, &err), 0);
	f->rt = fake_runtime_new();
	f->prespawn = prespawn;
	id_new(f->user.id);
	f->user.username = xstrdup("alice");
	f->user.password_hash = xstrdup("x");
	f->user.max_containers = -1;
	assert_int_equal(store_user_insert(f->st, &f->user, &err), 0);
	snprintf(f->who.user_id, sizeof(f->who.user_id), "%s", f->user.id);
	fx_open(f);
	json_t *body = json_pack("{s:s}", "alias", "proj"), *p = NULL;
	assert_int_equal(projects_create(f->pf, &f->who, body, &p, &err), 0);
	snprintf(f->project, sizeof(f->project), "%s", json_string_value(json_object_get(p, "id")));
	json_decref(body);
	json_decref(p);
	return f;
}

void fx_free(struct fx *f)
{
	struct error err = {0};
	if (f->pf)
		fx_settle(f);
	store_close(f->st);
	fake_runtime_free(f->rt);
	user_clear(&f->user);
	assert_int_equal(rm_rf(f->dir, &err), 0);
	free(f);
}

char *fx_status_of(struct fx *f, const char *id)
{
	struct container c = {0};
	struct error err = {0};
	if (store_container_get(f->st, id, &c, &err) < 0)
		return NULL;
	char *s = xstrdup(container_status_name(c.status));
	container_clear(&c);
	return s;
}

void fx_assert_status(struct fx *f, const char *id, const char *want)
{
	_cleanup_free_ char *s = fx_status_of(f, id);
	if (!s || strcmp(s, want) != 0)
		fail_msg("container %s: status %s, expected %s", id, s ? s : "(no row)", want);
}

int fx_create(struct fx *f, const char *name, const char *extra_json, char id[ID_LEN + 1])
{
	struct error err = {0};
	json_t *body = extra_json ? json_loads(extra_json, 0, NULL) : json_object();
	json_t *data = NULL;
	assert_non_null(body);
	json_object_set_new(body, "name", json_string(name));
	json_object_set_new(body, "container_image", json_string("busybox"));
	int rc = containers_create(f->pf, &f->who, f->project, body, &data, &err);
	json_decref(body);
	if (rc == 0)
		snprintf(id, ID_LEN + 1, "%s", json_string_value(json_object_get(data, "id")));
	json_decref(data);
	return rc;
}

void fx_create_running(struct fx *f, const char *name, char id[ID_LEN + 1])
{
	assert_int_equal(fx_create(f, name, NULL, id), 0);
	fx_settle(f);
	fx_assert_status(f, id, "running");
	fx_open(f);
}
