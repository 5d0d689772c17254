/* Claims as a verifier receives them: any JSON, checked against a fixed
 * key. A forged claim must never verify. */
#include <jansson.h>
#include <sodium.h>
#include <stdlib.h>

#include "fuzz.h"
#include "platform/claims.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
	static int ready;
	if (!ready) {
		unsigned char seed[crypto_sign_SEEDBYTES] = {0};
		if (sodium_init() < 0)
			abort();
		crypto_sign_seed_keypair(pk, sk, seed);
		ready = 1;
	}
	json_t *claim = json_loadb((const char *)data, size, 0, NULL);
	if (!claim)
		return 0;
	json_t *payload = NULL;
	struct error err = {0};
	if (claim_verify(claim, pk, &payload, &err) == 0) {
		/* Only a claim signed with sk verifies: the corpus holds one. */
		if (!json_is_object(payload))
			abort();
		json_decref(payload);
	}
	json_decref(claim);
	return 0;
}
