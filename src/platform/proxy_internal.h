/* Shared by the proxy_*.c files of the platform; not for other layers. */
#ifndef HOODY_PLATFORM_PROXY_INTERNAL_H
#define HOODY_PLATFORM_PROXY_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>

#include "platform/platform_int.h"
#include "platform/proxy.h"

#define PROXY_ALIAS_MIN 3
#define PROXY_ALIAS_MAX 61
#define PROXY_ALIAS_RANDOM_LEN 48

/* Alias syntax of §1.1: 3-61 of [a-z0-9-], no dash at either end. Reserved
 * names pass: they are refused on write. */
bool proxy_alias_name_valid(const char *s);
/* "{24 hex}-{24 hex}[-...]": a container host label, never an alias. */
bool proxy_label_is_container_form(const char *label);
/* containers, proxy, workspaces, proxy-*, workspaces-*, and the container
 * form (it would shadow or be shadowed by a container's own names). */
bool proxy_alias_name_reserved(const char *s);
/* The route kind, slug, index and port an alias's program names. */
int proxy_alias_target(const struct proxy_alias *a, struct proxy_route *r, struct error *err);

/* The program name and number a route is judged by in permission rules:
 * kit slug (n -> notifications) and instance, http/https and port, ssh 22,
 * proxy 1. */
struct proxy_target {
	const char *program;
	const char *fallback; /* https-{port}: rules for "http" also apply, else NULL */
	int number;
};
void proxy_target_of(const struct proxy_route *r, const struct proxy_request_view *rq,
		     struct proxy_target *out);

/* The stored documents of a container and of its project (NULL = none). */
struct proxy_policy {
	json_t *container_doc;
	json_t *project_doc;
	bool open_default; /* no document at all: allow (the public platform's choice) */
};
void proxy_policy_clear(struct proxy_policy *p);
int proxy_policy_load(struct platform *pf, const char *container_id, const char *project_id,
		      struct proxy_policy *out, struct error *err);

/* Owner claim (§2.3) outcome. */
enum claim_result { CLAIM_NONE, CLAIM_OWNER, CLAIM_INVALID, CLAIM_FOREIGN };

/* The decision of §2.2 without the claim: 0 = allow, else -1 with
 * E_FORBIDDEN (kill switch, or authenticated without a rule), E_MISSING_TOKEN
 * (nothing presented) or E_INVALID_TOKEN (credentials matching no group).
 * claim is what the owner check found (CLAIM_OWNER passes after the kill
 * switch). Pure: unit-tested without a store. */
int proxy_decide(const struct proxy_policy *pol, const struct proxy_target *t,
		 const struct proxy_request_view *rq, enum claim_result claim, struct error *err);

/* ---- documents (proxy_rules.c) ---- */
#define PROXY_GROUP_NAME_MAX 50
#define PROXY_GROUPS_MAX 64
#define PROXY_HOOKS_PER_SERVICE 8
#define PROXY_HOOKS_PER_DOC 32

bool proxy_group_name_valid(const char *s);
bool proxy_service_name_valid(const char *s);
/* type: "password" | "jwt" | "token" | "ip", or NULL to tell by shape. */
int proxy_group_check(const char *type, const json_t *in, json_t **out_new, struct error *err);
int proxy_rule_check(const char *program, const json_t *rule, struct error *err);
int proxy_default_check(const json_t *v, struct error *err);
/* A hook body (E_UNPROCESSABLE without script.path) and its service name. */
int proxy_hook_check(const json_t *h, struct error *err);
int proxy_hook_service_check(const char *service, struct error *err);
json_t *proxy_hook_normalize(const json_t *in, const char *keep_id);
void proxy_ulid_new(char out[27]);
/* {default: "deny", groups: {}, permissions: {}, hooks: {}} */
json_t *proxy_doc_empty_new(void);
/* A whole-replace body -> the stored form (no project/container keys). */
int proxy_doc_check(const json_t *body, bool container, json_t **doc_new, struct error *err);

/* sha256(salt + password) as lowercase hex (password groups). */
void proxy_password_hash(const char *salt, const char *password, char out[65]);

#endif
