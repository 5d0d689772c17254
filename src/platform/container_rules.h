/* Container-specific request rules: names, environment variables, comments,
 * SSH public keys and the field sets of the create and update bodies. Pure
 * functions of the request (no store, no runtime): the domain checks that
 * need state (project, server, image, quotas, uniqueness) live in
 * platform/containers.c. */
#ifndef HOODY_PLATFORM_CONTAINER_RULES_H
#define HOODY_PLATFORM_CONTAINER_RULES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "platform/validate.h"

#define CONTAINER_NAME_MIN 3
#define CONTAINER_NAME_MAX 100
#define CONTAINER_ENV_MAX 200	      /* properties */
#define CONTAINER_ENV_KEY_MAX 128     /* characters */
#define CONTAINER_ENV_VALUE_MAX 65536 /* characters (the seeds win over the reference's 4096) */
/* and bytes: one "KEY=value" string of a process environment is at most
 * 128 KiB (Linux MAX_ARG_STRLEN); 1 KiB is left for the key. */
#define CONTAINER_ENV_VALUE_MAX_BYTES (127 * 1024)
/* and in all, counting "KEY=value" + NUL per variable: what a container
 * surely starts with (the runtime passes it to crun and every exec, and
 * execve takes at most 2 MiB of arguments and environment together). */
#define CONTAINER_ENV_TOTAL_MAX_BYTES (256 * 1024)
#define CONTAINER_COMMENT_MAX 16000 /* characters */
#define CONTAINER_IMAGE_MAX 255
#define SSH_KEY_MAX (16 * 1024) /* bytes */
/* "SHA256:" + 43 base64 characters + NUL */
#define SSH_FINGERPRINT_LEN 64

/* 3-100 of [A-Za-z0-9_-]; E_INVALID_CONTAINER_NAME otherwise. */
int crules_name_check(const char *name, struct error *err);
/* A readable random name such as "brave-otter-3f9a" (valid for the check). */
void crules_random_name(char out[CONTAINER_NAME_MAX + 1]);

/* environment_vars: an object of at most CONTAINER_ENV_MAX string values;
 * keys ^[a-zA-Z_][a-zA-Z0-9_]*$ up to 128 characters, values up to 65536
 * characters (and CONTAINER_ENV_VALUE_MAX_BYTES bytes) without line breaks
 * (they go to /etc/environment), CONTAINER_ENV_TOTAL_MAX_BYTES in all. JSON
 * null reads as {}. E_VALIDATION naming the variable or the total limit.
 * *out_new: a copy. */
int crules_env_check(const json_t *v, json_t **out_new, struct error *err);
/* One key: ^[a-zA-Z_][a-zA-Z0-9_]*$, at most CONTAINER_ENV_KEY_MAX characters. */
bool crules_env_key_valid(const char *key);

/* "<type> <base64 blob>[ comment]" with a blob that starts with its own type
 * (as every OpenSSH public key does), at most SSH_KEY_MAX bytes, one line.
 * *normalized_new: the key trimmed, single spaces between the parts. */
int crules_ssh_key_check(const char *key, char **normalized_new, struct error *err);
/* "SHA256:<base64 of sha256(blob), no padding>" as ssh-keygen -l prints it;
 * false when key is not a well-formed key. */
bool crules_ssh_fingerprint(const char *key, char out[SSH_FINGERPRINT_LEN]);

/* A create or update body, parsed and checked field by field. Strings point
 * into the body (valid while it lives) unless marked owned. */
struct container_input {
	/* which members the body had (update keeps the others) */
	bool has_name, has_color, has_ai, has_autostart, has_ramdisk, has_env, has_ssh_key,
	    has_comment, has_realm_ids, has_hoody_kit, has_dev_kit, has_image, has_server_id;
	char name[CONTAINER_NAME_MAX + 1]; /* create: random when absent or "rand" */
	bool random_name;		   /* name was generated (retry another if taken) */
	char color[COLOR_LEN];		   /* create: random when absent */
	const char *image;		   /* NULL: the server's default */
	const char *server_id;		   /* NULL: absent */
	bool ai, hoody_kit, dev_kit, autostart, ramdisk;
	bool bypass_prespawn;			/* create: never claim from a warm pool */
	bool has_ramdisk_scope, ramdisk_shared; /* update: ramdisk_scope "project" */
	json_t *env;				/* owned object */
	char *ssh_key;				/* owned, normalised; NULL = none / clear */
	const char *comment;			/* NULL = none / clear */
	json_t *realm_ids;			/* owned array */
};
void container_input_clear(struct container_input *in);

/* Every field of POST /projects/{id}/containers with its defaults (reference
 * §4.1 and the seeds). prespawn:true is E_FORBIDDEN (an internal flag); an
 * unknown field is E_VALIDATION naming it. */
int crules_parse_create(const json_t *body, struct container_input *in, struct error *err);
/* PUT/PATCH /containers/{id}: only the members present are set (has_*).
 * container_image, hoody_kit, dev_kit, server_id, project_id, kvm and
 * prespawn are immutable: E_VALIDATION saying so. */
int crules_parse_update(const json_t *body, struct container_input *in, struct error *err);

extern const char *const crules_create_fields[];
extern const char *const crules_update_fields[];

#endif
