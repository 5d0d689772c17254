/* Shared request validators of the domain layer: colors, realm id lists,
 * aliases and the unknown-field check. Typed getters for optional
 * bool/string/int members live in platform/fields.h (included here) and
 * follow the same convention as the field_* functions below: return 1 when
 * the key is present and valid (out set), 0 when absent (out untouched), -1
 * with E_VALIDATION naming the key otherwise. */
#ifndef HOODY_PLATFORM_VALIDATE_H
#define HOODY_PLATFORM_VALIDATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "platform/fields.h"

#define COLOR_LEN 8	 /* "#RRGGBB" + NUL */
#define REALM_IDS_MAX 50 /* realm ids per resource */

/* ---- colors ---- */

/* "#RGB" / "#RRGGBB", with or without '#', any case -> '#' + uppercase hex
 * ("3498db" -> "#3498DB", "#abc" -> "#ABC"). Anything else E_VALIDATION. */
int color_normalize(const char *in, char out[COLOR_LEN], struct error *err);
/* A random "#RRGGBB" (uppercase), for resources created without a color. */
void color_random(char out[COLOR_LEN]);
/* body[key] as a color, normalised into out. JSON null reads as absent
 * (returns 0), so create picks a random color and update keeps the old one. */
int field_color(const json_t *body, const char *key, char out[COLOR_LEN], struct error *err);

/* ---- realm ids ---- */

/* v must be an array of at most REALM_IDS_MAX 24-hex strings (uppercase
 * accepted, stored lowercase); duplicates are dropped, order kept. key names
 * the field in messages. *out_new: a new array. */
int realm_ids_check(const json_t *v, const char *key, json_t **out_new, struct error *err);
/* body[key] through realm_ids_check. JSON null reads as an empty array. */
int field_realm_ids(const json_t *body, const char *key, json_t **out_new, struct error *err);
/* Stored JSON text (store's realm_ids columns) -> a new array; NULL, empty
 * or malformed text gives an empty array. Never returns NULL. */
json_t *realm_ids_parse(const char *text);
bool realm_ids_has(const json_t *arr, const char *realm_id);
/* Appends realm_id unless already present (the realm-scoped host merge). */
void realm_ids_add(json_t *arr, const char *realm_id);
/* Compact JSON text of an array, malloc'ed ("[]" for NULL). */
char *realm_ids_dump_new(const json_t *arr);

/* ---- aliases ---- */

/* A display alias (projects, snapshots): min..max characters, no control
 * characters, not only whitespace. required: absent -> E_VALIDATION. */
int field_alias(const json_t *body, const char *key, size_t min, size_t max, bool required,
		const char **out, struct error *err);

/* ---- body shape ---- */

/* Every key of body must be in allowed (NULL-terminated); else E_VALIDATION
 * "Unknown field: <key>". A NULL body passes; a non-object fails. */
int fields_allowed(const json_t *body, const char *const *allowed, struct error *err);

/* ---- list shape ---- */

/* {total, page, limit, totalPages} of a page-number list. */
json_t *pagination_json_new(int64_t total, int64_t page, int64_t limit);

#endif
