/* Public images: the images built or imported on this host, as the
 * Images API shows them. An image's id is derived from its name (first 12
 * bytes of its SHA-256), so it is stable across restarts and hosts. */
#ifndef HOODY_PLATFORM_IMAGES_H
#define HOODY_PLATFORM_IMAGES_H

#include <jansson.h>

#include "platform/platform.h"

#define IMAGE_FILTER_MAX 100 /* characters of each filter value */

/* Every field optional (NULL); architecture under Debian's or the kernel's
 * name (amd64 or x86_64). */
struct image_filter {
	const char *os, *search, *arch;
};

/* The sort keys of the image lists, NULL-terminated (for req_list_query). */
extern const char *const image_sorts[];

/* GET /images/public: data {images, pagination}, page q of the images passing
 * f. E_VALIDATION for a filter value over IMAGE_FILTER_MAX. */
int images_list(struct platform *pf, const struct image_filter *f, const struct list_query *q,
		json_t **data_new, struct error *err);
/* GET /images/public/{id}: E_NOT_FOUND when no image has that id. */
int images_get(struct platform *pf, const char *id, json_t **data_new, struct error *err);

#endif
