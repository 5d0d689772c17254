/* A page of a list as every layer sees it: the API parses it from the query
 * string (req_list_query), the platform narrows it (owner, realm), the store
 * runs it. Plain data, so it lives below all three. */
#ifndef HOODY_COMMON_QUERY_H
#define HOODY_COMMON_QUERY_H

#include <stdbool.h>
#include <stdint.h>

struct list_query {
	const char *user_id;  /* required for user-facing lists */
	const char *realm_id; /* NULL = any */
	const char *sort_by;  /* validated column name */
	bool desc;
	int64_t page;  /* >= 1 */
	int64_t limit; /* 1..100 */
};

#endif
