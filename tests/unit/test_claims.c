/* Signing keys, container claims and response signatures (platform/claims.c).
 * Signatures are also checked with libsodium directly, not only through
 * claim_verify, so a bug shared by signer and verifier cannot hide. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "platform/platform_int.h"
#include "platform/claims.h"
#include "store/store.h"

struct fx {
	char state[64];
};

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	snprintf(f->state, sizeof(f->state), "/tmp/hoody-test-claims-XXXXXX");
	assert_non_null(mkdtemp(f->state));
	assert_true(sodium_init() >= 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	struct error err = {0};
	assert_int_equal(rm_rf(f->state, &err), 0);
	free(f);
	return 0;
}

static struct keyset *load(const char *dir)
{
	struct keyset *ks = NULL;
	struct error err = {0};
	assert_int_equal(keyset_load(dir, &ks, &err), 0);
	return ks;
}

static void ensure(const char *dir, bool expect_created)
{
	struct error err = {0};
	bool created = !expect_created;
	assert_int_equal(keys_ensure(dir, &created, &err), 0);
	assert_int_equal(created, expect_created);
}

static json_t *sign_sample(const struct keyset *ks, int64_t iat)
{
	json_t *payload =
	    claim_payload_new("0123456789abcdef01234567", "user", "aaaaaaaaaaaaaaaaaaaaaaaa",
			      "bbbbbbbbbbbbbbbbbbbbbbbb", iat, iat + 3600);
	json_t *claim = NULL;
	struct error err = {0};
	assert_int_equal(keyset_sign_claim(ks, payload, &claim, &err), 0);
	json_decref(payload);
	return claim;
}

/* Ed25519 over the ASCII of payload_b64, checked without claim_verify. */
static bool raw_verify(const json_t *claim, const unsigned char pk[32])
{
	const char *b64 = json_string_value(json_object_get(claim, "payload_b64"));
	const char *hex = json_string_value(json_object_get(claim, "signature_hex"));
	unsigned char sig[64];
	size_t n = 0;
	if (strlen(hex) != 128 || sodium_hex2bin(sig, 64, hex, 128, NULL, &n, NULL) || n != 64)
		return false;
	return crypto_sign_verify_detached(sig, (const unsigned char *)b64, strlen(b64), pk) == 0;
}

static void test_b64url_no_padding(void **state)
{
	const struct {
		const char *in, *url, *std;
	} v[] = {{"f", "Zg", "Zg=="},
		 {"fo", "Zm8", "Zm8="},
		 {"foo", "Zm9v", "Zm9v"},
		 {"\xfb\xff", "-_8", "+/8="},
		 {"", "", ""}};
	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		char *u = b64url_new(v[i].in, strlen(v[i].in));
		char *s = b64_new(v[i].in, strlen(v[i].in));
		assert_string_equal(u, v[i].url);
		assert_string_equal(s, v[i].std);
		free(u);
		free(s);
	}
}

static void test_payload_fields(void **state)
{
	json_t *p = claim_payload_new("u1", "admin", "c1", "p1", 100, 3700);
	char *s = json_dumps(p, JSON_COMPACT);
	assert_string_equal(
	    s, "{\"claim_type\":\"container\",\"sub\":\"u1\",\"type\":\"admin\","
	       "\"containerId\":\"c1\",\"projectId\":\"p1\",\"iat\":100,\"exp\":3700}");
	free(s);
	json_decref(p);
}

static void test_no_key_is_not_configured(void **state)
{
	struct fx *f = *state;
	struct keyset *ks = load(f->state);
	assert_null(keyset_active_kid(ks));
	json_t *payload = claim_payload_new("u", "user", "c", "p", 1, 2), *claim = NULL;
	struct error err = {0};
	assert_int_equal(keyset_sign_claim(ks, payload, &claim, &err), -1);
	assert_int_equal(err.code, E_SIGNING_NOT_CONFIGURED);
	char *hdr = NULL;
	struct signed_response sr = {1, "GET", 200, "/x", "{}", 2};
	assert_int_equal(keyset_sign_response(ks, &sr, &hdr, &err), -1);
	assert_int_equal(err.code, E_SIGNING_NOT_CONFIGURED);
	json_decref(payload);
	keyset_unref(ks);
}

static void test_sign_verify_roundtrip(void **state)
{
	struct fx *f = *state;
	ensure(f->state, true);
	struct keyset *ks = load(f->state);
	const char *kid = keyset_active_kid(ks);
	assert_non_null(kid);
	unsigned char pk[32];
	assert_true(keyset_public_key(ks, kid, pk));

	json_t *claim = sign_sample(ks, 1000);
	assert_string_equal(json_string_value(json_object_get(claim, "kid")), kid);
	const char *b64 = json_string_value(json_object_get(claim, "payload_b64"));
	assert_null(strpbrk(b64, "=+/"));
	assert_true(raw_verify(claim, pk));

	json_t *payload = NULL;
	struct error err = {0};
	assert_int_equal(claim_verify(claim, pk, &payload, &err), 0);
	assert_string_equal(json_string_value(json_object_get(payload, "claim_type")), "container");
	assert_string_equal(json_string_value(json_object_get(payload, "containerId")),
			    "aaaaaaaaaaaaaaaaaaaaaaaa");
	assert_int_equal(json_integer_value(json_object_get(payload, "exp")) -
			     json_integer_value(json_object_get(payload, "iat")),
			 3600);
	json_decref(payload);
	json_decref(claim);
	keyset_unref(ks);
}

static void flip(json_t *claim, const char *field, size_t pos)
{
	char *s = xstrdup(json_string_value(json_object_get(claim, field)));
	s[pos] = s[pos] == 'A' ? 'B' : 'A';
	json_object_set_new(claim, field, json_string(s));
	free(s);
}

static void test_tampering_fails(void **state)
{
	struct fx *f = *state;
	ensure(f->state, true);
	struct keyset *ks = load(f->state);
	unsigned char pk[32], other_pk[32], other_sk[64];
	assert_true(keyset_public_key(ks, keyset_active_kid(ks), pk));
	struct error err = {0};
	json_t *payload = NULL;

	json_t *claim = sign_sample(ks, 1000);
	flip(claim, "payload_b64", 10);
	assert_false(raw_verify(claim, pk));
	assert_int_equal(claim_verify(claim, pk, &payload, &err), -1);
	assert_int_equal(err.code, E_INVALID_TOKEN);
	json_decref(claim);

	claim = sign_sample(ks, 1000);
	char *sig = xstrdup(json_string_value(json_object_get(claim, "signature_hex")));
	sig[0] = sig[0] == '0' ? '1' : '0';
	json_object_set_new(claim, "signature_hex", json_string(sig));
	free(sig);
	assert_int_equal(claim_verify(claim, pk, &payload, &err), -1);
	assert_int_equal(err.code, E_INVALID_TOKEN);
	json_decref(claim);

	claim = sign_sample(ks, 1000);
	crypto_sign_keypair(other_pk, other_sk);
	assert_int_equal(claim_verify(claim, other_pk, &payload, &err), -1);
	json_object_set_new(claim, "signature_hex", json_string("zz"));
	assert_int_equal(claim_verify(claim, pk, &payload, &err), -1);
	assert_int_equal(err.code, E_VALIDATION);
	json_decref(claim);
	keyset_unref(ks);
}

static void test_key_persisted_private(void **state)
{
	struct fx *f = *state;
	ensure(f->state, true);
	ensure(f->state, false);
	struct keyset *a = load(f->state), *b = load(f->state);
	unsigned char pa[32], pb[32];
	assert_string_equal(keyset_active_kid(a), keyset_active_kid(b));
	assert_true(keyset_public_key(a, keyset_active_kid(a), pa));
	assert_true(keyset_public_key(b, keyset_active_kid(b), pb));
	assert_memory_equal(pa, pb, 32);

	char *path = xasprintf("%s/signing/%s.key", f->state, keyset_active_kid(a));
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	free(path);
	path = xasprintf("%s/signing", f->state);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	free(path);
	keyset_unref(a);
	keyset_unref(b);
}

static bool doc_has_kid(const json_t *doc, const char *kid)
{
	size_t i;
	json_t *k;
	json_array_foreach(
	    json_object_get(doc, "keys"), i,
	    k) if (!strcmp(json_string_value(json_object_get(k, "kid")), kid)) return true;
	return false;
}

static void test_rotation_keeps_old_kid_published(void **state)
{
	struct fx *f = *state;
	ensure(f->state, true);
	struct keyset *before = load(f->state);
	char old_kid[SIGNING_KID_MAX + 1], new_kid[SIGNING_KID_MAX + 1];
	snprintf(old_kid, sizeof(old_kid), "%s", keyset_active_kid(before));
	json_t *old_claim = sign_sample(before, 1000);

	struct error err = {0};
	int64_t now = now_unix();
	assert_int_equal(keys_rotate(f->state, now, new_kid, &err), 0);
	assert_string_not_equal(old_kid, new_kid);

	struct keyset *after = load(f->state);
	assert_string_equal(keyset_active_kid(after), new_kid);
	json_t *doc = keyset_public_doc_new(after, now + 10, 3600);
	assert_true(doc_has_kid(doc, old_kid));
	assert_true(doc_has_kid(doc, new_kid));
	assert_string_equal(json_string_value(json_object_get(doc, "active_kid")), new_kid);
	json_decref(doc);
	/* after the window only the active key is published */
	doc = keyset_public_doc_new(after, now + 3600, 3600);
	assert_false(doc_has_kid(doc, old_kid));
	assert_true(doc_has_kid(doc, new_kid));
	json_decref(doc);

	/* new claims use the new kid; the old claim still verifies with the old key */
	json_t *new_claim = sign_sample(after, 2000);
	assert_string_equal(json_string_value(json_object_get(new_claim, "kid")), new_kid);
	unsigned char pk_old[32], pk_new[32];
	assert_true(keyset_public_key(after, old_kid, pk_old));
	assert_true(keyset_public_key(after, new_kid, pk_new));
	assert_true(raw_verify(old_claim, pk_old));
	assert_false(raw_verify(old_claim, pk_new));
	assert_true(raw_verify(new_claim, pk_new));

	/* a rotation long after deletes the key retired more than 30 days before */
	char third[SIGNING_KID_MAX + 1];
	assert_int_equal(keys_rotate(f->state, now + CLAIM_TTL_MAX_S + 10, third, &err), 0);
	struct keyset *later = load(f->state);
	assert_int_equal(keyset_count(later), 2);
	assert_false(keyset_public_key(later, old_kid, pk_old));
	assert_true(keyset_public_key(later, new_kid, pk_new));

	json_decref(old_claim);
	json_decref(new_claim);
	keyset_unref(before);
	keyset_unref(after);
	keyset_unref(later);
}

static void test_bad_key_files_skipped(void **state)
{
	struct fx *f = *state;
	ensure(f->state, true);
	struct error err = {0};
	char *p = xasprintf("%s/signing/garbage.key", f->state);
	assert_int_equal(write_file(p, "{not json", &err), 0);
	free(p);
	/* a file whose public key does not match its seed */
	p = xasprintf("%s/signing/forged.key", f->state);
	char text[512];
	snprintf(
	    text, sizeof(text),
	    "{\"kid\":\"forged\",\"algorithm\":\"ed25519\",\"created_at\":%lld,\"retired_at\":0,"
	    "\"public_key_hex\":\"%064d\",\"seed_hex\":\"%064d\"}",
	    (long long)now_unix() + 100, 1, 2);
	assert_int_equal(write_file(p, text, &err), 0);
	free(p);
	struct keyset *ks = load(f->state);
	assert_int_equal(keyset_count(ks), 1);
	assert_string_not_equal(keyset_active_kid(ks), "forged");
	keyset_unref(ks);
}

/* sig over "t\nMETHOD\nstatus\npath\nbody", from the header's own fields. */
static void check_signed(const struct keyset *ks, const char *hdr, const char *body)
{
	char kid[40], method[16], path[64], sig_hex[130];
	long long t;
	int status;
	assert_int_equal(sscanf(hdr, "t=%lld,kid=%39[^,],m=%15[^,],s=%d,path=%63[^,],sig=%129s", &t,
				kid, method, &status, path, sig_hex),
			 6);
	assert_string_equal(kid, keyset_active_kid(ks));
	assert_int_equal(strlen(sig_hex), 128);
	unsigned char sig[64], pk[32];
	assert_int_equal(sodium_hex2bin(sig, 64, sig_hex, 128, NULL, NULL, NULL), 0);
	assert_true(keyset_public_key(ks, kid, pk));
	char *data = xasprintf("%lld\n%s\n%d\n%s\n%s", t, method, status, path, body);
	assert_int_equal(crypto_sign_verify_detached(sig, (unsigned char *)data, strlen(data), pk),
			 0);
	data[0] = '2';
	assert_int_not_equal(
	    crypto_sign_verify_detached(sig, (unsigned char *)data, strlen(data), pk), 0);
	free(data);
}

static void test_response_signature(void **state)
{
	struct fx *f = *state;
	ensure(f->state, true);
	struct keyset *ks = load(f->state);
	const char *body = "{\"statusCode\":200}";
	char *hdr = NULL, *again = NULL, *other = NULL;
	struct error err = {0};
	struct signed_response sr = {1700000000, "GET", 200, "/api/v1/x", body, strlen(body)};
	assert_int_equal(keyset_sign_response(ks, &sr, &hdr, &err), 0);
	assert_non_null(strstr(hdr, "t=1700000000,"));
	assert_non_null(strstr(hdr, ",m=GET,s=200,path=/api/v1/x,sig="));
	check_signed(ks, hdr, body);
	/* a repeat comes from the cache and is the same; a new status is not */
	assert_int_equal(keyset_sign_response(ks, &sr, &again, &err), 0);
	assert_string_equal(hdr, again);
	sr.status = 404;
	assert_int_equal(keyset_sign_response(ks, &sr, &other, &err), 0);
	assert_string_not_equal(hdr, other);
	check_signed(ks, other, body);
	free(hdr);
	free(again);
	free(other);
	hdr = NULL;
	struct signed_response bad[] = {{1, "GET", 200, "/a,b", "", 0},
					{1, "GET", 200, "/a\nb", "", 0},
					{1, "G\nT", 200, "/a", "", 0},
					{1, "GET", 42, "/a", "", 0}};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(keyset_sign_response(ks, &bad[i], &hdr, &err), -1);
	assert_null(hdr);
	keyset_unref(ks);
}

/* The daemon-side cache: no key when creation is disabled, a key once one
 * is made, and a rotation by another process is seen without a restart. */
static void test_platform_cache(void **state)
{
	struct fx *f = *state;
	struct platform pf = {.cfg = {.state_dir = f->state, .no_signing_key = true}};
	struct error err = {0};
	json_t *doc = NULL;
	assert_int_equal(claims_public_doc(&pf, &doc, &err), -1);
	assert_int_equal(err.code, E_SIGNING_NOT_CONFIGURED);
	assert_string_equal(err.msg, "Response signing is not available");

	char kid1[SIGNING_KID_MAX + 1], kid2[SIGNING_KID_MAX + 1];
	assert_int_equal(keys_rotate(f->state, now_unix(), kid1, &err), 0);
	assert_int_equal(claims_public_doc(&pf, &doc, &err), 0);
	assert_string_equal(json_string_value(json_object_get(doc, "active_kid")), kid1);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(doc, "signing_format"),
							    "replay_tolerance_seconds")),
			 300);
	json_decref(doc);

	assert_int_equal(keys_rotate(f->state, now_unix(), kid2, &err), 0);
	assert_int_equal(claims_public_doc(&pf, &doc, &err), 0);
	assert_string_equal(json_string_value(json_object_get(doc, "active_kid")), kid2);
	assert_true(doc_has_kid(doc, kid1));
	json_decref(doc);

	assert_int_equal(claims_ttl(&pf), 3600);
	pf.cfg.claim_ttl_s = 120;
	assert_int_equal(claims_ttl(&pf), 120);
	pf.cfg.claim_ttl_s = INT64_MAX;
	assert_int_equal(claims_ttl(&pf), CLAIM_TTL_MAX_S);
}

static void test_platform_creates_first_key(void **state)
{
	struct fx *f = *state;
	struct platform pf = {.cfg = {.state_dir = f->state}};
	struct error err = {0};
	json_t *doc = NULL;
	claims_start(&pf);
	struct keyset *ks = load(f->state);
	assert_non_null(keyset_active_kid(ks));
	keyset_unref(ks);
	assert_int_equal(claims_public_doc(&pf, &doc, &err), 0);
	json_t *key = json_array_get(json_object_get(doc, "keys"), 0);
	assert_string_equal(json_string_value(json_object_get(key, "algorithm")), "ed25519");
	assert_int_equal(strlen(json_string_value(json_object_get(key, "public_key_hex"))), 64);
	assert_int_equal(strlen(json_string_value(json_object_get(key, "public_key_b64url"))), 43);
	assert_int_equal(strlen(json_string_value(json_object_get(key, "public_key_b64"))), 44);
	char *hdr = NULL;
	struct signed_response sr = {0, "POST", 200, "/p", "x", 1};
	assert_int_equal(claims_sign_response(&pf, &sr, &hdr, &err), 0);
	assert_non_null(strstr(hdr, json_string_value(json_object_get(doc, "active_kid"))));
	free(hdr);
	json_decref(doc);
}

/* ---- claims_container_issue against a real store ---- */

struct world {
	struct store *st;
	struct platform pf;
	char alice[ID_LEN + 1], bob[ID_LEN + 1], pid[ID_LEN + 1], cid[ID_LEN + 1];
	char realm[ID_LEN + 1];
};

static void add_user(struct world *w, const char *name, char id[ID_LEN + 1])
{
	struct error err = {0};
	id_new(id);
	struct user u = {.username = (char *)name, .password_hash = "x", .max_containers = -1};
	snprintf(u.id, sizeof(u.id), "%s", id);
	assert_int_equal(store_user_insert(w->st, &u, &err), 0);
}

static void world_open(struct fx *f, struct world *w)
{
	struct error err = {0};
	char *db = xasprintf("%s/hoody.db", f->state);
	assert_int_equal(store_open(db, &w->st, &err), 0);
	free(db);
	add_user(w, "alice", w->alice);
	add_user(w, "bob", w->bob);
	id_new(w->realm);
	char *realms = xasprintf("[\"%s\"]", w->realm);
	struct server sv = {.name = "node-local", .max_containers = -1};
	id_new(sv.id);
	assert_int_equal(store_server_upsert(w->st, &sv, &err), 0);
	struct project p = {.alias = "p1", .realm_ids = "[]", .max_containers = -1};
	id_new(p.id);
	snprintf(p.user_id, sizeof(p.user_id), "%s", w->alice);
	assert_int_equal(store_project_insert(w->st, &p, &err), 0);
	struct container c = {.name = "c1",
			      .status = CS_RUNNING,
			      .realm_ids = realms,
			      .environment_vars = "{}",
			      .container_image = "busybox"};
	id_new(c.id);
	snprintf(c.project_id, sizeof(c.project_id), "%s", p.id);
	snprintf(c.user_id, sizeof(c.user_id), "%s", w->alice);
	snprintf(c.server_id, sizeof(c.server_id), "%s", sv.id);
	assert_int_equal(store_container_insert(w->st, &c, &err), 0);
	free(realms);
	snprintf(w->pid, sizeof(w->pid), "%s", p.id);
	snprintf(w->cid, sizeof(w->cid), "%s", c.id);
	w->pf.cfg.state_dir = f->state;
	w->pf.store = w->st;
}

static struct principal who_of(const char *user_id)
{
	struct principal p = {0};
	snprintf(p.user_id, sizeof(p.user_id), "%s", user_id);
	return p;
}

static int issue(struct world *w, const struct principal *who, const char *cid, json_t **data,
		 struct error *err)
{
	*data = NULL;
	return claims_container_issue(&w->pf, who, cid, data, err);
}

static void test_issue_for_owner(void **state)
{
	struct world w = {0};
	world_open(*state, &w);
	struct principal alice = who_of(w.alice);
	struct error err = {0};
	json_t *data;
	assert_int_equal(issue(&w, &alice, w.cid, &data, &err), 0);
	assert_string_equal(json_string_value(json_object_get(data, "container_id")), w.cid);
	assert_string_equal(json_string_value(json_object_get(data, "project_id")), w.pid);
	assert_int_equal(json_integer_value(json_object_get(data, "expires_in")), 3600);

	json_t *claim = json_object_get(data, "container_claim"), *payload = NULL;
	struct keyset *ks = load(w.pf.cfg.state_dir);
	unsigned char pk[32];
	assert_true(keyset_public_key(ks, json_string_value(json_object_get(claim, "kid")), pk));
	assert_true(raw_verify(claim, pk));
	assert_int_equal(claim_verify(claim, pk, &payload, &err), 0);
	assert_string_equal(json_string_value(json_object_get(payload, "sub")), w.alice);
	assert_string_equal(json_string_value(json_object_get(payload, "type")), "user");
	assert_string_equal(json_string_value(json_object_get(payload, "containerId")), w.cid);
	assert_string_equal(json_string_value(json_object_get(payload, "projectId")), w.pid);
	json_int_t iat = json_integer_value(json_object_get(payload, "iat"));
	assert_true(iat >= now_unix() - 5 && iat <= now_unix());
	assert_int_equal(json_integer_value(json_object_get(payload, "exp")) - iat, 3600);
	json_decref(payload);
	json_decref(data);

	/* an admin is "admin"; the lifetime follows the configuration */
	alice.is_admin = true;
	w.pf.cfg.claim_ttl_s = 90;
	assert_int_equal(issue(&w, &alice, w.cid, &data, &err), 0);
	claim = json_object_get(data, "container_claim");
	assert_int_equal(claim_verify(claim, pk, &payload, &err), 0);
	assert_string_equal(json_string_value(json_object_get(payload, "type")), "admin");
	assert_int_equal(json_integer_value(json_object_get(data, "expires_in")), 90);
	assert_int_equal(json_integer_value(json_object_get(payload, "exp")) -
			     json_integer_value(json_object_get(payload, "iat")),
			 90);
	json_decref(payload);
	json_decref(data);
	keyset_unref(ks);
	store_close(w.st);
}

static void test_issue_refusals(void **state)
{
	struct world w = {0};
	world_open(*state, &w);
	struct principal bob = who_of(w.bob), alice = who_of(w.alice);
	struct error err = {0};
	json_t *data;

	assert_int_equal(issue(&w, &bob, w.cid, &data, &err), -1);
	assert_int_equal(err.code, E_CONTAINER_NOT_FOUND);
	assert_int_equal(issue(&w, &alice, "0123456789abcdef01234567", &data, &err), -1);
	assert_int_equal(err.code, E_CONTAINER_NOT_FOUND);
	assert_int_equal(issue(&w, &alice, "nope", &data, &err), -1);
	assert_int_equal(err.code, E_INVALID_ID);

	/* tokens: the leaf containers.read, then the token's realms */
	alice.via_token = true;
	alice.permissions = json_pack("{s:{s:b}}", "containers", "read", 0);
	assert_int_equal(issue(&w, &alice, w.cid, &data, &err), -1);
	assert_int_equal(err.code, E_FORBIDDEN);
	json_decref(alice.permissions);
	alice.permissions = json_pack("{s:{s:b}}", "containers", "read", 1);
	alice.token_realm_ids = json_pack("[s]", "0123456789abcdef01234567");
	assert_int_equal(issue(&w, &alice, w.cid, &data, &err), -1);
	assert_int_equal(err.code, E_CONTAINER_NOT_FOUND);
	json_array_append_new(alice.token_realm_ids, json_string(w.realm));
	assert_int_equal(issue(&w, &alice, w.cid, &data, &err), 0);
	json_decref(data);
	principal_clear(&alice);

	/* a container being deleted is gone */
	alice = who_of(w.alice);
	assert_int_equal(store_container_set_status(w.st, w.cid, CS_NONE, CS_DELETING, NULL, &err),
			 0);
	assert_int_equal(issue(&w, &alice, w.cid, &data, &err), -1);
	assert_int_equal(err.code, E_CONTAINER_NOT_FOUND);

	/* no key and key creation disabled: 503 once the container is visible */
	assert_int_equal(store_container_set_status(w.st, w.cid, CS_NONE, CS_STOPPED, NULL, &err),
			 0);
	char *dir = xasprintf("%s/signing", w.pf.cfg.state_dir);
	assert_int_equal(rm_rf(dir, &err), 0);
	free(dir);
	w.pf.cfg.no_signing_key = true;
	assert_int_equal(issue(&w, &alice, w.cid, &data, &err), -1);
	assert_int_equal(err.code, E_SIGNING_NOT_CONFIGURED);
	store_close(w.st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_b64url_no_padding),
	    cmocka_unit_test(test_payload_fields),
	    cmocka_unit_test_setup_teardown(test_no_key_is_not_configured, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sign_verify_roundtrip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tampering_fails, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_key_persisted_private, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rotation_keeps_old_kid_published, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_key_files_skipped, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_response_signature, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_platform_cache, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_platform_creates_first_key, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_issue_for_owner, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_issue_refusals, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
