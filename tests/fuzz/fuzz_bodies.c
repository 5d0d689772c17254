/* Request bodies: the bytes as the server parses them (bounded depth, no
 * duplicate keys), then every body rule of containers, env and realms. */
#include <jansson.h>

#include "fuzz.h"
#include "platform/container_rules.h"
#include "platform/validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_error_t je;
	json_t *body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &je);
	if (!body)
		return 0;
	struct container_input in;
	struct error err = {0};
	if (crules_parse_create(body, &in, &err) == 0)
		container_input_clear(&in);
	if (crules_parse_update(body, &in, &err) == 0)
		container_input_clear(&in);
	json_t *out = NULL;
	if (crules_env_check(json_object_get(body, "environment_vars"), &out, &err) == 0)
		json_decref(out);
	out = NULL;
	if (realm_ids_check(json_object_get(body, "realm_ids"), "realm_ids", &out, &err) == 0)
		json_decref(out);
	char color[COLOR_LEN];
	field_color(body, "color", color, &err);
	static const char *const allowed[] = {"name", "color", NULL};
	fields_allowed(body, allowed, &err);
	json_decref(body);
	return 0;
}
