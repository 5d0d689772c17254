#include "common/json.h"

#include "common/util.h"

static void *json_xmalloc(size_t n)
{
	return xmalloc(n);
}

void json_alloc_policy_init(void)
{
	json_set_alloc_funcs(json_xmalloc, free);
}
