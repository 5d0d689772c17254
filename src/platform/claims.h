/* Signed container claims and response signatures (Ed25519, libsodium).
 *
 * Keys live in <state_dir>/signing/<kid>.key (directory 0700, files 0600), one
 * JSON file per key holding its seed, public key, created_at and retired_at.
 * The active key is the newest one that is not retired; a rotated-out key stays
 * published until every claim it signed has expired. See docs/CLAIMS.md. */
#ifndef HOODY_PLATFORM_CLAIMS_H
#define HOODY_PLATFORM_CLAIMS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "platform/platform.h"

#define CLAIM_TTL_DEFAULT_S 3600
/* Also the age after which rotation deletes a retired key file. */
#define CLAIM_TTL_MAX_S (30 * 86400)
#define SIGNATURE_REPLAY_TOLERANCE_S 300
#define SIGNATURE_HEADER "X-Hoody-Signature"
#define SIGNING_KID_MAX 32
#define SIGNING_PK_BYTES 32
#define SIGNING_SIG_BYTES 64
/* At most this many key files are read; beyond it the oldest are ignored. */
#define SIGNING_KEYS_MAX 64

/* An immutable, reference-counted snapshot of the key directory. */
struct keyset;

/* Reads <state_dir>/signing. A missing directory gives an empty set. */
int keyset_load(const char *state_dir, struct keyset **out_new, struct error *err);
void keyset_unref(struct keyset *ks);
/* The signing key's kid, or NULL when the set has no active key. */
const char *keyset_active_kid(const struct keyset *ks);
/* Public key of kid (active or retired); false when unknown. */
bool keyset_public_key(const struct keyset *ks, const char *kid,
		       unsigned char pk[SIGNING_PK_BYTES]);
/* Keys newest first, for listings. */
struct signing_key_info {
	const char *kid;    /* valid while the set lives */
	int64_t created_at; /* unix s */
	int64_t retired_at; /* unix s, 0 = not retired */
	bool active;
};
size_t keyset_count(const struct keyset *ks);
void keyset_info(const struct keyset *ks, size_t i, struct signing_key_info *out);

/* Creates a first key when none is active. *created tells whether it did. */
int keys_ensure(const char *state_dir, bool *created, struct error *err);
/* Creates a new active key and retires the others at `now`; deletes key files
 * retired more than CLAIM_TTL_MAX_S ago. */
int keys_rotate(const char *state_dir, int64_t now, char kid_out[SIGNING_KID_MAX + 1],
		struct error *err);

/* {claim_type:"container", sub, type, containerId, projectId, iat, exp}, in
 * that key order. */
json_t *claim_payload_new(const char *sub, const char *type, const char *container_id,
			  const char *project_id, int64_t iat, int64_t exp);
/* {kid, payload_b64, signature_hex}: Ed25519 over the ASCII of payload_b64
 * (base64url of the compact payload JSON, no padding). E_SIGNING_NOT_CONFIGURED
 * when the set has no active key. */
int keyset_sign_claim(const struct keyset *ks, const json_t *payload, json_t **claim_new,
		      struct error *err);
/* Checks a claim against pk and returns its decoded payload. E_VALIDATION on
 * a malformed claim, E_INVALID_TOKEN on a bad signature. Expiry is the
 * caller's business (payload "exp"). */
int claim_verify(const json_t *claim, const unsigned char pk[SIGNING_PK_BYTES],
		 json_t **payload_new, struct error *err);
/* What a response signature covers. */
struct signed_response {
	int64_t t;	    /* unix seconds */
	const char *method; /* "GET" */
	int status;
	const char *path; /* without query string */
	const char *body;
	size_t body_len;
};
/* "t=<t>,kid=<kid>,m=<method>,s=<status>,path=<path>,sig=<128 hex>" signing
 * "<t>\n<method>\n<status>\n<path>\n<body>". */
int keyset_sign_response(const struct keyset *ks, const struct signed_response *sr,
			 char **header_new, struct error *err);
/* The public-key document: {keys, active_kid, usage, signing_format}. Retired
 * keys are listed while now - retired_at < publish_window_s. */
json_t *keyset_public_doc_new(const struct keyset *ks, int64_t now, int64_t publish_window_s);

/* base64url without padding / standard base64 with padding; caller frees. */
char *b64url_new(const void *data, size_t len);
char *b64_new(const void *data, size_t len);

/* ---- the platform side: a cached keyset per state dir ---- */

/* The claim lifetime in force: cfg.claim_ttl_s, CLAIM_TTL_DEFAULT_S when
 * unset, at most CLAIM_TTL_MAX_S. */
int64_t claims_ttl(const struct platform *pf);
/* For platform_open: creates the first key now instead of at the first
 * signature (unless cfg.no_signing_key) and logs the active kid. Never fails:
 * without a key the claim endpoints answer 503. */
void claims_start(struct platform *pf);
/* The current keyset: reloaded when the key directory changed (e.g. by
 * `hoodyd keys rotate` while the daemon runs); creates the first key unless
 * cfg.no_signing_key. */
int claims_keyset(struct platform *pf, struct keyset **out_new, struct error *err);
/* POST /containers/{id}/authorize: the container must be the caller's, in its
 * realms and not deleted. Needs containers.read. Returns the data object
 * {container_claim, expires_in, container_id, project_id}. */
int claims_container_issue(struct platform *pf, const struct principal *who,
			   const char *container_id, json_t **data_new, struct error *err);
/* GET /meta/public-key data; E_SIGNING_NOT_CONFIGURED when there is no key. */
int claims_public_doc(struct platform *pf, json_t **data_new, struct error *err);
/* The X-Hoody-Signature value of a response, signed now (sets sr->t). */
int claims_sign_response(struct platform *pf, struct signed_response *sr, char **header_new,
			 struct error *err);

#endif
