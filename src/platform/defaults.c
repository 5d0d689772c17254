/* The defaults of a login answer. Read-only, best effort. */
#include "platform/platform_int.h"
#include "platform/defaults.h"

#include <stdlib.h>
#include <string.h>

#include "platform/servers.h"

/* The latest updated live container of the user, if any. */
static bool last_container(struct platform *pf, const char *user_id, struct container *out)
{
	struct error err = {0};
	struct container *arr = NULL;
	size_t n = 0;
	int64_t total = 0;
	struct container_query q = {
	    .base = {
		.user_id = user_id, .sort_by = "updated_at", .desc = true, .page = 1, .limit = 1}};
	if (store_container_list(pf->store, &q, &arr, &n, &total, &err) < 0 || n == 0) {
		container_list_free(arr, n);
		return false;
	}
	*out = arr[0];
	memset(&arr[0], 0, sizeof(arr[0]));
	container_list_free(arr, n);
	return true;
}

/* The default project, else the latest updated one. */
static bool fallback_project(struct platform *pf, const char *user_id, struct project *out)
{
	struct error err = {0};
	struct project *arr = NULL;
	size_t n = 0, pick = 0;
	int64_t total = 0;
	struct list_query q = {
	    .user_id = user_id, .sort_by = "updated_at", .desc = true, .page = 1, .limit = 100};
	if (store_project_list(pf->store, &q, &arr, &n, &total, &err) < 0)
		n = 0;
	for (size_t i = 0; i < n; i++)
		if (arr[i].is_default) {
			pick = i;
			break;
		}
	bool found = n > 0;
	if (found) {
		*out = arr[pick];
		memset(&arr[pick], 0, sizeof(arr[pick]));
	}
	for (size_t i = 0; i < n; i++)
		project_clear(&arr[i]);
	free(arr);
	return found;
}

void session_defaults_set(struct platform *pf, const char *user_id, json_t *session)
{
	_cleanup_container_ struct container c = {0};
	_cleanup_project_ struct project p = {0};
	struct error err = {0};
	const char *server_id = pf->server_id;
	bool have_c = last_container(pf, user_id, &c);
	bool have_p = have_c
			  ? store_project_get_owned(pf->store, user_id, c.project_id, &p, &err) == 0
			  : fallback_project(pf, user_id, &p);
	if (have_c) {
		server_id = c.server_id;
		json_object_set_new(session, "container",
				    json_pack("{s:s, s:s}", "id", c.id, "name", c.name));
	}
	if (have_p)
		json_object_set_new(
		    session, "project",
		    json_pack("{s:s, s:s}", "id", p.id, "alias", p.alias ? p.alias : ""));
	json_object_set_new(session, "server", server_brief_json_new(pf, server_id));
}
