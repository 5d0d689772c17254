/* Typed, bounded members of a JSON request body. Each returns 1 when the key
 * is present and valid (out set), 0 when it is absent (out untouched), and -1
 * with E_VALIDATION naming the key otherwise. "nullable" accepts JSON null
 * (then *is_null is set and out untouched). Lengths count characters. */
#ifndef HOODY_PLATFORM_FIELDS_H
#define HOODY_PLATFORM_FIELDS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/* The body itself: NULL (no body) reads as an empty object. */
int fields_object(const json_t *body, struct error *err);
int field_string(const json_t *body, const char *key, size_t min, size_t max, bool nullable,
		 const char **out, bool *is_null, struct error *err);
int field_bool(const json_t *body, const char *key, bool *out, struct error *err);
int field_int(const json_t *body, const char *key, int64_t min, int64_t max, bool nullable,
	      int64_t *out, bool *is_null, struct error *err);
size_t utf8_chars(const char *s);
/* A copy with ASCII letters lower-cased (e-mails, hex keys). */
char *str_lower_dup(const char *s);
/* Any JSON value (object_only: an object) kept as compact text of at most
 * max_bytes; null gives *text_new = NULL. */
int field_json_text(const json_t *body, const char *key, size_t max_bytes, bool object_only,
		    char **text_new, struct error *err);
/* 64 hex characters (an Ed25519 public key), stored lower-case; null gives
 * *lower_new = NULL. */
int field_ed25519_hex(const json_t *body, const char *key, char **lower_new, struct error *err);
/* ISO-8601 string of a ms timestamp, or JSON null for 0. */
json_t *json_time_new(int64_t ms);

#endif
