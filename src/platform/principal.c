/* What a caller may do (permission leaves) and see (realms). */
#include <string.h>

#include "platform/platform_int.h"
#include "platform/auth.h"
#include "platform/platform.h"

void principal_clear(struct principal *p)
{
	if (!p)
		return;
	json_decref(p->permissions);
	json_decref(p->token_realm_ids);
	memset(p, 0, sizeof(*p));
}

int principal_require(const struct principal *p, const char *leaf, struct error *err)
{
	if (!p->via_token || auth_permission_granted(p->permissions, leaf))
		return 0;
	return err_set(err, E_FORBIDDEN, "Insufficient permissions: this auth token lacks %s",
		       leaf);
}

bool principal_can_write(const struct principal *p)
{
	return !p->via_token || auth_permission_can_write(p->permissions);
}

/* realm_ids_json is a JSON array of 24-hex strings as the store keeps it; a
 * quoted search avoids parsing it on every visibility check. */
static bool realms_contain(const char *realm_ids_json, const char *realm)
{
	char needle[ID_LEN + 3];
	if (!realm_ids_json || !realm || strlen(realm) != ID_LEN)
		return false;
	needle[0] = '"';
	memcpy(needle + 1, realm, ID_LEN);
	needle[ID_LEN + 1] = '"';
	needle[ID_LEN + 2] = '\0';
	return strstr(realm_ids_json, needle) != NULL;
}

bool principal_sees_realms(const struct principal *p, const char *realm_ids_json)
{
	if (p->scoped_realm[0] && !realms_contain(realm_ids_json, p->scoped_realm))
		return false;
	size_t n = json_array_size(p->token_realm_ids);
	if (!p->via_token || n == 0)
		return true;
	for (size_t i = 0; i < n; i++)
		if (realms_contain(realm_ids_json,
				   json_string_value(json_array_get(p->token_realm_ids, i))))
			return true;
	return false;
}

bool principal_realm_restricted(const struct principal *p)
{
	return p->via_token && json_array_size(p->token_realm_ids) > 0;
}

/* The realm of a {realm}.api host, or the only realm of a token bound to
 * one, narrows the store's query itself, so that pages and totals are exact;
 * a token of several realms is filtered after the query instead. */
const char *principal_list_realm(const struct principal *p, const char *asked)
{
	if (asked)
		return asked;
	if (p->scoped_realm[0])
		return p->scoped_realm;
	if (p->via_token && json_array_size(p->token_realm_ids) == 1)
		return json_string_value(json_array_get(p->token_realm_ids, 0));
	return NULL;
}
