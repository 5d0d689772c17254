/* Container ids name files, cgroups, crun state and netns files: they must
 * be safe as a single path component everywhere. Kept apart from runtime.c
 * so that code needing only this (spec.c, its unit test) links alone. */
#include <string.h>

#include "runtime/internal.h"

bool rt_id_valid(const char *id)
{
	if (!id)
		return false;
	size_t n = strlen(id);
	if (n == 0 || n > RT_ID_MAX)
		return false;
	return strspn(id, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-") == n;
}

int rt_check_id(const char *id, struct error *err)
{
	if (!rt_id_valid(id))
		return err_set(err, E_INVALID_ID, "invalid container id");
	return 0;
}
