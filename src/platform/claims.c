/* Ed25519 signing keys on disk, container claims and response signatures.
 * The on-disk format and what exactly is signed are in docs/CLAIMS.md. */
#include "platform/platform_int.h"
#include "platform/claims.h"
#include "platform/revoke.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"

_Static_assert(SIGNING_PK_BYTES == crypto_sign_PUBLICKEYBYTES, "public key size");
_Static_assert(SIGNING_SIG_BYTES == crypto_sign_BYTES, "signature size");

#define KEY_SUFFIX ".key"
#define KEY_FILE_MAX 4096
#define SEED_BYTES crypto_sign_SEEDBYTES
/* A claim's payload is a few hundred bytes; anything far larger is not ours. */
#define CLAIM_B64_MAX 4096
#define SIGNED_PATH_MAX 2048
/* Cached key sets are re-read at least this often, so that hand edits of
 * the directory are seen too. */
#define KEYSET_MAX_AGE_NS (60LL * 1000000000LL)
#define GENERATION_FILE "generation"
#define GENERATION_LEN 32

static const char NOT_CONFIGURED_MSG[] = "Response signing is not available";

static const char CLAIM_SIGNED_DATA[] =
    "Ed25519 signature (signature_hex: 128 lowercase hex chars = 64 bytes) over the ASCII "
    "bytes of payload_b64 exactly as sent. payload_b64 is the base64url encoding (RFC 4648 "
    "section 5, no '=' padding) of the compact UTF-8 JSON object {\"claim_type\":\"container\","
    "\"sub\":<user id>,\"type\":\"user\"|\"admin\",\"containerId\":<24 hex>,\"projectId\":<24 hex>,"
    "\"iat\":<unix s>,\"exp\":<unix s>}. Verify with the key whose kid equals the claim's kid, "
    "then decode payload_b64 and reject the claim when exp is not in the future.";
static const char RESPONSE_SIGNED_DATA[] =
    "Ed25519 signature over the bytes t + \"\\n\" + m + \"\\n\" + s + \"\\n\" + path + \"\\n\" + "
    "body, where t (decimal unix seconds), m (the request method), s (the decimal HTTP status) "
    "and path (the request path without query string) are the fields of the header "
    "X-Hoody-Signature: t=<unix>,kid=<kid>,m=<METHOD>,s=<status>,path=<urlPath>,sig=<128 "
    "lowercase hex>, and body is the exact HTTP response body. Reject when |now - t| > "
    "replay_tolerance_seconds, or m, s or path are not those of your request and its answer.";

struct signing_key {
	char kid[SIGNING_KID_MAX + 1];
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	unsigned char sk[crypto_sign_SECRETKEYBYTES];
	int64_t created_at, retired_at;
};

struct keyset {
	int refs;
	char generation[GENERATION_LEN + 1]; /* of the directory when read, "" = none */
	int64_t loaded_ns;
	size_t n;
	struct signing_key *keys; /* sodium_allocarray (zeroed on free), newest first */
	int active;		  /* index into keys, -1 = none */
};

/* ---------------------------------------------------------------- helpers */

static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;
static int sodium_rc;

static void sodium_setup(void)
{
	sodium_rc = sodium_init();
}

static int crypto_ready(struct error *err)
{
	pthread_once(&sodium_once, sodium_setup);
	if (sodium_rc < 0)
		return err_set(err, E_INTERNAL, "libsodium failed to initialise");
	return 0;
}

static char *b64_variant_new(const void *data, size_t len, int variant)
{
	size_t cap = sodium_base64_ENCODED_LEN(len, variant);
	char *out = xmalloc(cap);
	sodium_bin2base64(out, cap, data, len, variant);
	return out;
}

char *b64url_new(const void *data, size_t len)
{
	return b64_variant_new(data, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

char *b64_new(const void *data, size_t len)
{
	return b64_variant_new(data, len, sodium_base64_VARIANT_ORIGINAL);
}

/* Exactly n bytes of hex, nothing else. */
static bool hex_decode_exact(const char *hex, unsigned char *out, size_t n)
{
	size_t got = 0;
	const char *end = NULL;
	return strlen(hex) == 2 * n && sodium_hex2bin(out, n, hex, 2 * n, NULL, &got, &end) == 0 &&
	       got == n && *end == '\0';
}

static bool kid_valid(const char *s, size_t len)
{
	if (len == 0 || len > SIGNING_KID_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return false;
	}
	return true;
}

static char *signing_dir_new(const char *state_dir)
{
	return xasprintf("%s/signing", state_dir);
}

/* write_file_atomic does not sync; a key lost in a crash would orphan every
 * claim it signed, so keys are synced with their directory. */
static void sync_path(const char *path)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		fsync(fd);
}

/* Every change of the key directory writes a new random generation, so a
 * daemon notices `hoodyd keys rotate` at once (directory mtimes are too
 * coarse to tell two quick changes apart). */
static void generation_read(const char *dir, char out[GENERATION_LEN + 1])
{
	_cleanup_free_ char *path = xasprintf("%s/" GENERATION_FILE, dir);
	char *text = NULL;
	out[0] = '\0';
	if (read_file(path, GENERATION_LEN, &text, NULL, NULL) == 0)
		snprintf(out, GENERATION_LEN + 1, "%s", text);
	free(text);
}

static int generation_bump(const char *dir, struct error *err)
{
	_cleanup_free_ char *path = xasprintf("%s/" GENERATION_FILE, dir);
	char gen[GENERATION_LEN + 1];
	random_hex(gen, GENERATION_LEN / 2);
	return write_file_atomic(path, gen, GENERATION_LEN, 0600, err);
}

/* ---------------------------------------------------------------- key files */

static int key_from_seed(struct signing_key *k, const unsigned char seed[SEED_BYTES])
{
	return crypto_sign_seed_keypair(k->pk, k->sk, seed);
}

static int key_parse(char *text, const char *kid, struct signing_key *k, struct error *err)
{
	json_error_t jerr;
	json_t *j = json_loads(text, 0, &jerr);
	sodium_memzero(text, strlen(text));
	const char *jkid, *alg, *seed_hex, *pk_hex;
	json_int_t created, retired;
	unsigned char seed[SEED_BYTES];
	int rc = -1;
	if (!j || json_unpack_ex(j, &jerr, 0, "{s:s, s:s, s:s, s:s, s:I, s:I}", "kid", &jkid,
				 "algorithm", &alg, "seed_hex", &seed_hex, "public_key_hex",
				 &pk_hex, "created_at", &created, "retired_at", &retired) < 0) {
		err_set(err, E_VALIDATION, "key %s: %s", kid, jerr.text);
		goto out;
	}
	if (strcmp(jkid, kid) || strcmp(alg, "ed25519") ||
	    !hex_decode_exact(seed_hex, seed, SEED_BYTES) || created < 0 || retired < 0) {
		err_set(err, E_VALIDATION, "key %s: bad kid, algorithm, seed or times", kid);
		goto out;
	}
	snprintf(k->kid, sizeof(k->kid), "%s", kid);
	k->created_at = created;
	k->retired_at = retired;
	char pk_derived[2 * SIGNING_PK_BYTES + 1];
	key_from_seed(k, seed);
	hex_encode(k->pk, SIGNING_PK_BYTES, pk_derived);
	if (strcmp(pk_derived, pk_hex)) {
		err_set(err, E_VALIDATION, "key %s: public key does not match the seed", kid);
		goto out;
	}
	rc = 0;
out:
	sodium_memzero(seed, sizeof(seed));
	if (j) {
		/* jansson keeps its own copy of the seed string */
		json_t *s = json_object_get(j, "seed_hex");
		if (json_is_string(s))
			sodium_memzero((void *)json_string_value(s), json_string_length(s));
		json_decref(j);
	}
	return rc;
}

static int key_read(const char *dir, const char *kid, struct signing_key *k, struct error *err)
{
	_cleanup_free_ char *path = xasprintf("%s/%s" KEY_SUFFIX, dir, kid);
	char *text = NULL;
	if (read_file(path, KEY_FILE_MAX, &text, NULL, err) < 0)
		return -1;
	int rc = key_parse(text, kid, k, err);
	free(text);
	return rc;
}

static int key_write(const char *dir, const struct signing_key *k, struct error *err)
{
	unsigned char seed[SEED_BYTES];
	char seed_hex[2 * SEED_BYTES + 1], pk_hex[2 * SIGNING_PK_BYTES + 1];
	crypto_sign_ed25519_sk_to_seed(seed, k->sk);
	hex_encode(seed, SEED_BYTES, seed_hex);
	hex_encode(k->pk, SIGNING_PK_BYTES, pk_hex);
	json_t *j =
	    json_pack("{s:s, s:s, s:I, s:I, s:s, s:s}", "kid", k->kid, "algorithm", "ed25519",
		      "created_at", (json_int_t)k->created_at, "retired_at",
		      (json_int_t)k->retired_at, "public_key_hex", pk_hex, "seed_hex", seed_hex);
	char *text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_t *s = json_object_get(j, "seed_hex");
	sodium_memzero((void *)json_string_value(s), json_string_length(s));
	json_decref(j);
	sodium_memzero(seed, sizeof(seed));
	sodium_memzero(seed_hex, sizeof(seed_hex));
	if (!text)
		return err_set(err, E_NOMEM, "serialising key %s", k->kid);

	_cleanup_free_ char *path = xasprintf("%s/%s" KEY_SUFFIX, dir, k->kid);
	size_t len = strlen(text);
	int rc = write_file_atomic(path, text, len, 0600, err);
	sodium_memzero(text, len);
	free(text);
	if (rc == 0) {
		sync_path(path);
		sync_path(dir);
	}
	return rc;
}

/* The kid is a fingerprint of the public key, so a kid never names two keys
 * even when a key directory is lost and recreated. */
static void key_generate(struct signing_key *k, int64_t now)
{
	unsigned char seed[SEED_BYTES], digest[crypto_hash_sha256_BYTES];
	randombytes_buf(seed, sizeof(seed));
	key_from_seed(k, seed);
	sodium_memzero(seed, sizeof(seed));
	crypto_hash_sha256(digest, k->pk, sizeof(k->pk));
	hex_encode(digest, 8, k->kid);
	k->created_at = now;
	k->retired_at = 0;
}

/* ---------------------------------------------------------------- key sets */

static int key_newest_first(const void *a, const void *b)
{
	const struct signing_key *x = a, *y = b;
	if (x->created_at != y->created_at)
		return x->created_at > y->created_at ? -1 : 1;
	if ((x->retired_at == 0) != (y->retired_at == 0))
		return x->retired_at == 0 ? -1 : 1;
	return strcmp(x->kid, y->kid);
}

/* Kid of a directory entry named "<kid>.key", or false. */
static bool entry_kid(const char *name, char kid[SIGNING_KID_MAX + 1])
{
	size_t len = strlen(name), slen = strlen(KEY_SUFFIX);
	if (len <= slen || strcmp(name + len - slen, KEY_SUFFIX) || !kid_valid(name, len - slen))
		return false;
	memcpy(kid, name, len - slen);
	kid[len - slen] = '\0';
	return true;
}

static void keyset_read_dir(struct keyset *ks, const char *dir, DIR *d)
{
	struct dirent *de;
	char kid[SIGNING_KID_MAX + 1];
	while ((de = readdir(d))) {
		if (!entry_kid(de->d_name, kid))
			continue;
		if (ks->n == SIGNING_KEYS_MAX) {
			log_warn("signing: more than %d keys in %s, ignoring the rest",
				 SIGNING_KEYS_MAX, dir);
			break;
		}
		struct error err = {0};
		if (key_read(dir, kid, &ks->keys[ks->n], &err) < 0) {
			log_warn("signing: skipping %s/%s" KEY_SUFFIX ": %s", dir, kid, err.msg);
			continue;
		}
		ks->n++;
	}
}

static struct keyset *keyset_empty_new(void)
{
	struct keyset *ks = xcalloc(1, sizeof(*ks));
	ks->refs = 1;
	ks->active = -1;
	ks->loaded_ns = mono_ns();
	ks->keys = sodium_allocarray(SIGNING_KEYS_MAX, sizeof(struct signing_key));
	if (!ks->keys)
		HOODY_PANIC("out of locked memory for the signing keys");
	return ks;
}

int keyset_load(const char *state_dir, struct keyset **out_new, struct error *err)
{
	if (crypto_ready(err) < 0)
		return -1;
	_cleanup_free_ char *dir = signing_dir_new(state_dir);
	struct keyset *ks = keyset_empty_new();
	/* generation first: a change made while we read shows up next time */
	generation_read(dir, ks->generation);
	DIR *d = opendir(dir);
	if (d) {
		keyset_read_dir(ks, dir, d);
		closedir(d);
	} else if (errno != ENOENT) {
		err_sys(err, E_IO, "opendir %s", dir);
		keyset_unref(ks);
		return -1;
	}
	qsort(ks->keys, ks->n, sizeof(ks->keys[0]), key_newest_first);
	for (size_t i = 0; i < ks->n && ks->active < 0; i++)
		if (ks->keys[i].retired_at == 0)
			ks->active = (int)i;
	*out_new = ks;
	return 0;
}

static struct keyset *keyset_ref(struct keyset *ks)
{
	__atomic_add_fetch(&ks->refs, 1, __ATOMIC_RELAXED);
	return ks;
}

void keyset_unref(struct keyset *ks)
{
	if (!ks || __atomic_sub_fetch(&ks->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	sodium_free(ks->keys);
	free(ks);
}

static const struct signing_key *keyset_active(const struct keyset *ks)
{
	return ks && ks->active >= 0 ? &ks->keys[ks->active] : NULL;
}

const char *keyset_active_kid(const struct keyset *ks)
{
	const struct signing_key *k = keyset_active(ks);
	return k ? k->kid : NULL;
}

static const struct signing_key *keyset_find(const struct keyset *ks, const char *kid)
{
	for (size_t i = 0; i < ks->n; i++)
		if (!strcmp(ks->keys[i].kid, kid))
			return &ks->keys[i];
	return NULL;
}

bool keyset_public_key(const struct keyset *ks, const char *kid, unsigned char pk[SIGNING_PK_BYTES])
{
	const struct signing_key *k = keyset_find(ks, kid);
	if (k)
		memcpy(pk, k->pk, SIGNING_PK_BYTES);
	return k != NULL;
}

size_t keyset_count(const struct keyset *ks)
{
	return ks->n;
}

void keyset_info(const struct keyset *ks, size_t i, struct signing_key_info *out)
{
	const struct signing_key *k = &ks->keys[i];
	*out =
	    (struct signing_key_info){k->kid, k->created_at, k->retired_at, (int)i == ks->active};
}

/* ---------------------------------------------------------------- ensure / rotate */

/* Serialises ensure/rotate between the daemon and `hoodyd keys`. Returns the
 * lock fd (closing it unlocks). */
static int dir_open_locked(const char *dir, struct error *err)
{
	if (mkdir_p(dir, 0700, err) < 0)
		return -1;
	if (chmod(dir, 0700) < 0)
		return err_sys(err, E_IO, "chmod %s", dir);
	_cleanup_free_ char *path = xasprintf("%s/.lock", dir);
	return lock_file_open(path, err);
}

static int key_create(const char *dir, const struct keyset *existing, int64_t now,
		      struct signing_key *k, struct error *err)
{
	do
		key_generate(k, now);
	while (keyset_find(existing, k->kid));
	return key_write(dir, k, err);
}

/* Runs fn with the key directory locked, its keys loaded and room for one
 * new key (zeroed on return). */
typedef int (*keys_change_fn)(const char *dir, struct keyset *ks, struct signing_key *fresh,
			      void *arg, struct error *err);

static int keys_change(const char *state_dir, keys_change_fn fn, void *arg, struct error *err)
{
	if (crypto_ready(err) < 0)
		return -1;
	_cleanup_free_ char *dir = signing_dir_new(state_dir);
	_cleanup_close_ int lock = dir_open_locked(dir, err);
	if (lock < 0)
		return -1;
	struct keyset *ks = NULL;
	struct signing_key *fresh = sodium_malloc(sizeof(*fresh));
	if (!fresh)
		HOODY_PANIC("out of locked memory for a signing key");
	int rc = keyset_load(state_dir, &ks, err);
	if (rc == 0)
		rc = fn(dir, ks, fresh, arg, err);
	sodium_free(fresh);
	keyset_unref(ks);
	return rc;
}

static int ensure_locked(const char *dir, struct keyset *ks, struct signing_key *k, void *arg,
			 struct error *err)
{
	bool *created = arg;
	if (keyset_active(ks))
		return 0;
	if (key_create(dir, ks, now_unix(), k, err) < 0 || generation_bump(dir, err) < 0)
		return -1;
	*created = true;
	log_info("signing: created key %s in %s", k->kid, dir);
	return 0;
}

int keys_ensure(const char *state_dir, bool *created, struct error *err)
{
	*created = false;
	return keys_change(state_dir, ensure_locked, created, err);
}

static void key_delete(const char *dir, const struct signing_key *k)
{
	_cleanup_free_ char *path = xasprintf("%s/%s" KEY_SUFFIX, dir, k->kid);
	if (unlink(path) < 0 && errno != ENOENT)
		log_warn("signing: could not delete %s: %s", path, strerror(errno));
}

/* Retires every active key of ks at now and deletes keys retired for longer
 * than any claim can live, keeping the directory under SIGNING_KEYS_MAX. */
static int keys_retire_and_prune(const char *dir, struct keyset *ks, int64_t now, struct error *err)
{
	size_t kept = 0;
	for (size_t i = 0; i < ks->n; i++) {
		struct signing_key *k = &ks->keys[i];
		if (k->retired_at == 0) {
			k->retired_at = now;
			if (key_write(dir, k, err) < 0)
				return -1;
		}
		if (now - k->retired_at > CLAIM_TTL_MAX_S || kept >= SIGNING_KEYS_MAX - 2)
			key_delete(dir, k);
		else
			kept++;
	}
	return 0;
}

struct rotation {
	int64_t now;
	char *kid_out;
};

/* The new key is written before the old one is retired: a crash in between
 * leaves two unretired keys, and the newer one signs. */
static int rotate_locked(const char *dir, struct keyset *ks, struct signing_key *k, void *arg,
			 struct error *err)
{
	struct rotation *rot = arg;
	if (key_create(dir, ks, rot->now, k, err) < 0 ||
	    keys_retire_and_prune(dir, ks, rot->now, err) < 0 || generation_bump(dir, err) < 0)
		return -1;
	snprintf(rot->kid_out, SIGNING_KID_MAX + 1, "%s", k->kid);
	log_info("signing: rotated to key %s", k->kid);
	return 0;
}

int keys_rotate(const char *state_dir, int64_t now, char kid_out[SIGNING_KID_MAX + 1],
		struct error *err)
{
	struct rotation rot = {now, kid_out};
	return keys_change(state_dir, rotate_locked, &rot, err);
}

/* ---------------------------------------------------------------- claims */

json_t *claim_payload_new(const char *sub, const char *type, const char *container_id,
			  const char *project_id, int64_t iat, int64_t exp)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I}", "claim_type", "container", "sub",
			 sub, "type", type, "containerId", container_id, "projectId", project_id,
			 "iat", (json_int_t)iat, "exp", (json_int_t)exp);
}

static void sign_hex(const struct signing_key *k, const void *data, size_t len,
		     char hex[2 * SIGNING_SIG_BYTES + 1])
{
	unsigned char sig[SIGNING_SIG_BYTES];
	crypto_sign_detached(sig, NULL, data, len, k->sk);
	hex_encode(sig, sizeof(sig), hex);
}

static int active_or_fail(const struct keyset *ks, const struct signing_key **out,
			  struct error *err)
{
	*out = keyset_active(ks);
	return *out ? 0 : err_set(err, E_SIGNING_NOT_CONFIGURED, "%s", NOT_CONFIGURED_MSG);
}

int keyset_sign_claim(const struct keyset *ks, const json_t *payload, json_t **claim_new,
		      struct error *err)
{
	const struct signing_key *k;
	if (active_or_fail(ks, &k, err) < 0)
		return -1;
	char *json = json_dumps(payload, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!json)
		return err_set(err, E_INTERNAL, "claim payload is not serialisable");
	_cleanup_free_ char *b64 = b64url_new(json, strlen(json));
	free(json);
	char sig_hex[2 * SIGNING_SIG_BYTES + 1];
	sign_hex(k, b64, strlen(b64), sig_hex);
	*claim_new = json_pack("{s:s, s:s, s:s}", "kid", k->kid, "payload_b64", b64,
			       "signature_hex", sig_hex);
	return 0;
}

static json_t *b64url_json_new(const char *b64, size_t len)
{
	unsigned char *bin = xmalloc(len + 1);
	size_t bin_len = 0;
	json_t *out = NULL;
	if (sodium_base642bin(bin, len + 1, b64, len, NULL, &bin_len, NULL,
			      sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0)
		out = json_loadb((const char *)bin, bin_len, JSON_REJECT_DUPLICATES, NULL);
	free(bin);
	return out;
}

int claim_verify(const json_t *claim, const unsigned char pk[SIGNING_PK_BYTES],
		 json_t **payload_new, struct error *err)
{
	const char *kid, *b64, *sig_hex;
	unsigned char sig[SIGNING_SIG_BYTES];
	if (crypto_ready(err) < 0)
		return -1;
	if (json_unpack((json_t *)claim, "{s:s, s:s, s:s}", "kid", &kid, "payload_b64", &b64,
			"signature_hex", &sig_hex) < 0 ||
	    strlen(b64) > CLAIM_B64_MAX || !hex_decode_exact(sig_hex, sig, sizeof(sig)))
		return err_set(err, E_VALIDATION, "malformed claim");
	if (crypto_sign_verify_detached(sig, (const unsigned char *)b64, strlen(b64), pk) != 0)
		return err_set(err, E_INVALID_TOKEN, "claim signature does not verify");
	json_t *payload = b64url_json_new(b64, strlen(b64));
	if (!json_is_object(payload)) {
		json_decref(payload);
		return err_set(err, E_VALIDATION, "claim payload is not a JSON object");
	}
	*payload_new = payload;
	return 0;
}

/* ---------------------------------------------------------------- responses */

/* The path is echoed inside a comma-separated header: no separators, no
 * control characters. */
static bool signed_path_ok(const char *path)
{
	size_t len = strlen(path);
	if (len == 0 || len > SIGNED_PATH_MAX || path[0] != '/')
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)path[i] < 0x21 || path[i] == ',' || path[i] == 0x7f)
			return false;
	return true;
}

/* Ed25519 is deterministic: the same bytes under the same key always give the
 * same signature. A client polling one resource gets the same body many times
 * a second, so each HTTP thread remembers its last few signatures by a hash of
 * what they signed (key included) and skips the ~50 us of signing on a repeat.
 * The key is part of the hash, so a rotation never reuses an old signature. */
#define SIG_CACHE_SLOTS 16
struct sig_cache_slot {
	unsigned char digest[crypto_generichash_BYTES];
	char sig_hex[2 * SIGNING_SIG_BYTES + 1];
	bool used;
};
static _Thread_local struct sig_cache_slot sig_cache[SIG_CACHE_SLOTS];

static void sign_hex_cached(const struct signing_key *k, const void *data, size_t len,
			    char hex[2 * SIGNING_SIG_BYTES + 1])
{
	unsigned char digest[crypto_generichash_BYTES];
	crypto_generichash_state st;
	crypto_generichash_init(&st, NULL, 0, sizeof(digest));
	crypto_generichash_update(&st, k->pk, sizeof(k->pk));
	crypto_generichash_update(&st, data, len);
	crypto_generichash_final(&st, digest, sizeof(digest));
	struct sig_cache_slot *slot = &sig_cache[digest[0] % SIG_CACHE_SLOTS];
	if (slot->used && sodium_memcmp(slot->digest, digest, sizeof(digest)) == 0) {
		memcpy(hex, slot->sig_hex, sizeof(slot->sig_hex));
		return;
	}
	sign_hex(k, data, len, hex);
	memcpy(slot->digest, digest, sizeof(digest));
	memcpy(slot->sig_hex, hex, sizeof(slot->sig_hex));
	slot->used = true;
}

static bool method_ok(const char *m)
{
	size_t n = strlen(m);
	return n > 0 && n <= 16 && strspn(m, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == n;
}

int keyset_sign_response(const struct keyset *ks, const struct signed_response *sr,
			 char **header_new, struct error *err)
{
	const struct signing_key *k;
	if (active_or_fail(ks, &k, err) < 0)
		return -1;
	if (!signed_path_ok(sr->path) || !method_ok(sr->method) || sr->status < 100 ||
	    sr->status > 999)
		return err_set(err, E_VALIDATION, "response cannot be signed");
	_cleanup_free_ char *prefix =
	    xasprintf("%lld\n%s\n%d\n%s\n", (long long)sr->t, sr->method, sr->status, sr->path);
	size_t plen = strlen(prefix);
	_cleanup_free_ char *data = xmalloc(plen + sr->body_len);
	memcpy(data, prefix, plen);
	memcpy(data + plen, sr->body, sr->body_len);
	char sig_hex[2 * SIGNING_SIG_BYTES + 1];
	sign_hex_cached(k, data, plen + sr->body_len, sig_hex);
	*header_new = xasprintf("t=%lld,kid=%s,m=%s,s=%d,path=%s,sig=%s", (long long)sr->t, k->kid,
				sr->method, sr->status, sr->path, sig_hex);
	return 0;
}

/* ---------------------------------------------------------------- publication */

static json_t *key_public_json(const struct signing_key *k, bool active)
{
	char hex[2 * SIGNING_PK_BYTES + 1];
	hex_encode(k->pk, SIGNING_PK_BYTES, hex);
	_cleanup_free_ char *b64 = b64_new(k->pk, SIGNING_PK_BYTES);
	_cleanup_free_ char *b64url = b64url_new(k->pk, SIGNING_PK_BYTES);
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "kid", k->kid, "algorithm", "ed25519",
			 "public_key_hex", hex, "public_key_b64", b64, "public_key_b64url", b64url,
			 "status", active ? "active" : "retired");
}

json_t *keyset_public_doc_new(const struct keyset *ks, int64_t now, int64_t publish_window_s)
{
	json_t *keys = json_array();
	for (size_t i = 0; i < ks->n; i++) {
		const struct signing_key *k = &ks->keys[i];
		bool active = (int)i == ks->active;
		/* an unretired key that lost to a newer one still verifies what it signed */
		if (active || k->retired_at == 0 || now - k->retired_at < publish_window_s)
			json_array_append_new(keys, key_public_json(k, active));
	}
	const char *active_kid = keyset_active_kid(ks);
	return json_pack("{s:o, s:o, s:[ss], s:{s:s, s:s, s:s, s:i}}", "keys", keys, "active_kid",
			 active_kid ? json_string(active_kid) : json_null(), "usage",
			 "container_claims", "response_signatures", "signing_format",
			 "container_claim_signed_data", CLAIM_SIGNED_DATA, "response_header",
			 SIGNATURE_HEADER, "response_signed_data", RESPONSE_SIGNED_DATA,
			 "replay_tolerance_seconds", SIGNATURE_REPLAY_TOLERANCE_S);
}

/* ---------------------------------------------------------------- platform side */

/* One daemon has one state dir; the cache is keyed by it so that tests with
 * several state dirs in one process still see their own keys. */
static struct {
	pthread_mutex_t mu;
	char *state_dir;
	bool ensured; /* first-key creation was attempted for state_dir */
	struct keyset *ks;
	int64_t checked_ns; /* when ks was last compared with the directory */
} cache = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* Response signatures look at the key directory at most this often: a
 * response signed by the previous key just after a rotation still verifies
 * (that key stays published), and the API's hot path saves a file read. */
#define RESPONSE_KEYSET_RECHECK_NS (100LL * 1000000)

int64_t claims_ttl(const struct platform *pf)
{
	int64_t ttl = pf->cfg.claim_ttl_s;
	if (ttl <= 0)
		return CLAIM_TTL_DEFAULT_S;
	return ttl > CLAIM_TTL_MAX_S ? CLAIM_TTL_MAX_S : ttl;
}

static bool keyset_stale(const struct keyset *ks, const char *state_dir)
{
	if (mono_ns() - ks->loaded_ns > KEYSET_MAX_AGE_NS)
		return true;
	_cleanup_free_ char *dir = signing_dir_new(state_dir);
	char gen[GENERATION_LEN + 1];
	generation_read(dir, gen);
	return strcmp(gen, ks->generation) != 0;
}

static void cache_select(const char *state_dir)
{
	if (cache.state_dir && !strcmp(cache.state_dir, state_dir))
		return;
	free(cache.state_dir);
	cache.state_dir = xstrdup(state_dir);
	cache.ensured = false;
	keyset_unref(cache.ks);
	cache.ks = NULL;
}

/* Caller holds cache.mu. */
static void cache_ensure_key(const struct platform *pf)
{
	if (cache.ensured || pf->cfg.no_signing_key)
		return;
	cache.ensured = true;
	struct error err = {0};
	bool created;
	if (keys_ensure(pf->cfg.state_dir, &created, &err) < 0)
		log_error("signing: no key could be created, claims are unavailable: %s", err.msg);
}

/* The cached set, compared with the directory unless that was done less
 * than recheck_ns ago. */
static int keyset_get(struct platform *pf, int64_t recheck_ns, struct keyset **out_new,
		      struct error *err)
{
	if (!pf->cfg.state_dir)
		return err_set(err, E_SIGNING_NOT_CONFIGURED, "%s", NOT_CONFIGURED_MSG);
	int rc = 0;
	pthread_mutex_lock(&cache.mu);
	cache_select(pf->cfg.state_dir);
	cache_ensure_key(pf);
	bool recent = cache.ks && mono_ns() - cache.checked_ns < recheck_ns;
	if (!recent && (!cache.ks || keyset_stale(cache.ks, cache.state_dir))) {
		struct keyset *fresh = NULL;
		rc = keyset_load(cache.state_dir, &fresh, err);
		if (rc == 0) {
			/* a key left the set: claims it signed no longer verify */
			if (cache.ks)
				revoke_note(REVOKE_ALL, NULL, false);
			keyset_unref(cache.ks);
			cache.ks = fresh;
		} else {
			/* an unreadable key directory means no signing, not a crash */
			log_error("signing: %s", err->msg);
			err_set(err, E_SIGNING_NOT_CONFIGURED, "%s", NOT_CONFIGURED_MSG);
		}
	}
	if (!recent)
		cache.checked_ns = mono_ns();
	if (rc == 0)
		*out_new = keyset_ref(cache.ks);
	pthread_mutex_unlock(&cache.mu);
	return rc;
}

int claims_keyset(struct platform *pf, struct keyset **out_new, struct error *err)
{
	return keyset_get(pf, 0, out_new, err);
}

void claims_start(struct platform *pf)
{
	struct error err = {0};
	struct keyset *ks = NULL;
	if (claims_keyset(pf, &ks, &err) < 0)
		return;
	const char *kid = keyset_active_kid(ks);
	if (kid)
		log_info("signing: active key %s", kid);
	else
		log_warn("signing: no signing key; claims answer 503 until `hoodyd keys rotate`");
	keyset_unref(ks);
}

static bool container_gone(const struct container *c)
{
	return container_status_in(c->status, CS_GONE);
}

/* 404 for every container the caller may not see, whatever the reason. */
static int container_visible(struct platform *pf, const struct principal *who, const char *id,
			     struct container *c, struct error *err)
{
	if (!id_valid(id))
		return err_set(err, E_INVALID_ID, "Invalid ID format");
	if (store_container_get_owned(pf->store, who->user_id, id, c, err) < 0) {
		if (err->code == E_NOT_FOUND || err->code == E_CONTAINER_NOT_FOUND)
			err_set(err, E_CONTAINER_NOT_FOUND, "Container not found");
		return -1;
	}
	if (c->status == CS_NONE || container_gone(c) || !principal_sees_realms(who, c->realm_ids))
		return err_set(err, E_CONTAINER_NOT_FOUND, "Container not found");
	return 0;
}

int claims_container_issue(struct platform *pf, const struct principal *who,
			   const char *container_id, json_t **data_new, struct error *err)
{
	_cleanup_container_ struct container c = {0};
	struct keyset *ks = NULL;
	json_t *payload = NULL, *claim = NULL;
	int rc = -1;
	if (principal_require(who, "containers.read", err) < 0 ||
	    container_visible(pf, who, container_id, &c, err) < 0 ||
	    claims_keyset(pf, &ks, err) < 0)
		goto out;
	int64_t ttl = claims_ttl(pf), iat = now_unix();
	payload = claim_payload_new(who->user_id, who->is_admin ? "admin" : "user", c.id,
				    c.project_id, iat, iat + ttl);
	if (keyset_sign_claim(ks, payload, &claim, err) < 0)
		goto out;
	*data_new = json_pack("{s:o, s:I, s:s, s:s}", "container_claim", claim, "expires_in",
			      (json_int_t)ttl, "container_id", c.id, "project_id", c.project_id);
	rc = 0;
out:
	json_decref(payload);
	keyset_unref(ks);
	return rc;
}

int claims_public_doc(struct platform *pf, json_t **data_new, struct error *err)
{
	struct keyset *ks = NULL;
	if (claims_keyset(pf, &ks, err) < 0)
		return -1;
	const struct signing_key *k;
	int rc = active_or_fail(ks, &k, err);
	if (rc == 0) {
		/* a key retired just now still verifies claims and responses it signed */
		int64_t window = claims_ttl(pf);
		if (window < SIGNATURE_REPLAY_TOLERANCE_S)
			window = SIGNATURE_REPLAY_TOLERANCE_S;
		*data_new = keyset_public_doc_new(ks, now_unix(), window);
	}
	keyset_unref(ks);
	return rc;
}

int claims_sign_response(struct platform *pf, struct signed_response *sr, char **header_new,
			 struct error *err)
{
	struct keyset *ks = NULL;
	if (keyset_get(pf, RESPONSE_KEYSET_RECHECK_NS, &ks, err) < 0)
		return -1;
	sr->t = now_unix();
	int rc = keyset_sign_response(ks, sr, header_new, err);
	keyset_unref(ks);
	return rc;
}
