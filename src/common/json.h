/* jansson under the house rules: values freed at scope end, and allocation
 * failure handled like xmalloc's (a panic), so a json_pack or json_object
 * whose result goes unchecked cannot silently yield NULL on out-of-memory.
 * NULL from json_pack now only means a bad format (a programmer error). */
#ifndef HOODY_COMMON_JSON_H
#define HOODY_COMMON_JSON_H

#include <jansson.h>

#include "common/cleanup.h"

/* jansson's own json_decrefp (the one behind json_auto_t), named like the
 * rest of the kit: `_cleanup_json_ json_t *v = json_pack(...)`. */
#define _cleanup_json_ _cleanup_(json_decrefp)

/* Routes jansson's allocations through xmalloc; first thing in main(),
 * before any JSON value exists (jansson requires that). */
void json_alloc_policy_init(void);

#endif
