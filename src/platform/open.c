/* The platform context: configuration defaults, the background work queue,
 * the JWT secret, and the start of the domain modules. */
#include "platform/platform_int.h"
#include "platform/open.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "common/workq.h"
#include "platform/containers.h"
#include "platform/events.h"
#include "platform/limits.h"
#include "platform/oplocks.h"
#include "platform/servers.h"
#include "platform/prespawn.h"
#include "platform/snapshots.h"

#define JWT_SECRET_FILE "jwt.key"

static void apply_defaults(struct platform_config *c)
{
	if (!c->state_dir || !*c->state_dir)
		c->state_dir = RT_STATE_DIR_DEFAULT;
	if (!c->public_domain || !*c->public_domain)
		c->public_domain = PF_DOMAIN_DEFAULT;
	if (!c->server_name || !*c->server_name)
		c->server_name = PF_SERVER_NAME_DEFAULT;
	if (!c->default_image || !*c->default_image)
		c->default_image = PF_IMAGE_DEFAULT;
	/* 0 would forbid every container: read it as "not configured". */
	if (c->server_max_containers == 0)
		c->server_max_containers = -1;
	if (c->user_max_containers == 0)
		c->user_max_containers = -1;
	if (c->jwt_ttl_s <= 0)
		c->jwt_ttl_s = 86400;
	if (c->refresh_ttl_s <= 0)
		c->refresh_ttl_s = 604800;
	if (c->claim_ttl_s <= 0)
		c->claim_ttl_s = PF_CLAIM_TTL_S_DEFAULT;
	if (c->workers <= 0)
		c->workers = PF_WORKERS_DEFAULT;
	if (c->event_retention_days == 0)
		c->event_retention_days = PF_EVENT_RETENTION_DAYS_DEFAULT;
}

/* 32 random bytes, created once and kept 0600 so sessions survive restarts. */
static int load_jwt_secret(struct platform *pf, struct error *err)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", pf->cfg.state_dir, JWT_SECRET_FILE);
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	if (read_file(path, sizeof(pf->jwt_secret) + 1, &data, &len, err) == 0) {
		if (len != sizeof(pf->jwt_secret))
			return err_set(err, E_IO,
				       "%s is corrupt (%zu bytes); remove it to log "
				       "everyone out and start afresh",
				       path, len);
		memcpy(pf->jwt_secret, data, len);
		sodium_memzero(data, len);
		return 0;
	}
	if (err->code != E_NOT_FOUND)
		return -1;
	random_bytes(pf->jwt_secret, sizeof(pf->jwt_secret));
	return write_file_atomic(path, pf->jwt_secret, sizeof(pf->jwt_secret), 0600, err);
}

int platform_open(const struct platform_config *cfg, struct store *st, struct runtime *rt,
		  struct platform **out_new, struct error *err)
{
	if (sodium_init() < 0)
		return err_set(err, E_INTERNAL, "libsodium failed to initialise");
	if (limits_check(&cfg->limits, err) < 0)
		return err_wrap(err, "container limits");
	struct platform *pf = xcalloc(1, sizeof(*pf));
	pf->cfg = *cfg;
	apply_defaults(&pf->cfg);
	pf->store = st;
	pf->rt = rt;
	pf->rto = cfg->runtime_ops ? cfg->runtime_ops : &rt_crun_ops;
	pthread_mutex_init(&pf->mu, NULL);
	pthread_cond_init(&pf->janitor_cv, NULL);
	pthread_cond_init(&pf->oom_cv, NULL);
	if (mkdir_p(pf->cfg.state_dir, 0700, err) < 0 || load_jwt_secret(pf, err) < 0)
		goto fail;
	events_init();
	pf->wq = workq_new(pf->cfg.workers);
	pf->locks = oplocks_new();
	if (platform_servers_init(pf, err) < 0 || platform_containers_init(pf, err) < 0)
		goto fail;
	if (pf->rt)
		snapshots_janitor_start(pf);
	if (limits_watch_start(pf, err) < 0 || prespawn_start(pf, err) < 0)
		goto fail;
	*out_new = pf;
	return 0;
fail:
	platform_close(pf);
	return -1;
}

void platform_close(struct platform *pf)
{
	if (!pf)
		return;
	/* No exit report may reach a platform being torn down. */
	if (pf->rt)
		pf->rto->set_exit_cb(pf->rt, NULL, NULL);
	snapshots_janitor_stop(pf);
	limits_watch_stop(pf);
	prespawn_stop(pf);
	/* Runs every queued job first: a deferred request still holds a
	 * suspended connection that only its job resumes. */
	workq_free(pf->wq);
	oplocks_free(pf->locks);
	pthread_cond_destroy(&pf->janitor_cv);
	pthread_cond_destroy(&pf->oom_cv);
	pthread_mutex_destroy(&pf->mu);
	sodium_memzero(pf->jwt_secret, sizeof(pf->jwt_secret));
	free(pf);
}
