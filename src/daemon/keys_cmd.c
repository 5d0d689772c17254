/* `hoodyd keys list|rotate`. */
#include "daemon/keys_cmd.h"

#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "platform/claims.h"

static int usage(void)
{
	fprintf(
	    stderr,
	    "usage: hoodyd [--state-dir DIR] keys list|rotate\n"
	    "  list    every signing key: kid, state, created, retired\n"
	    "  rotate  create a new signing key and retire the current one; prints the new kid\n");
	return 2;
}

static const char *key_state(const struct signing_key_info *k)
{
	if (k->active)
		return "active";
	return k->retired_at ? "retired" : "unused";
}

static int keys_list(const char *state_dir)
{
	struct error err = {0};
	struct keyset *ks = NULL;
	if (keyset_load(state_dir, &ks, &err) < 0) {
		fprintf(stderr, "hoodyd keys: %s\n", err.msg);
		return 1;
	}
	if (keyset_count(ks) == 0)
		fprintf(stderr, "hoodyd keys: no signing key in %s/signing\n", state_dir);
	for (size_t i = 0; i < keyset_count(ks); i++) {
		struct signing_key_info k;
		char created[40], retired[40] = "-";
		keyset_info(ks, i, &k);
		iso8601_ms(k.created_at * 1000, created, sizeof(created));
		if (k.retired_at)
			iso8601_ms(k.retired_at * 1000, retired, sizeof(retired));
		printf("%-*s  %-7s  created %s  retired %s\n", SIGNING_KID_MAX / 2, k.kid,
		       key_state(&k), created, retired);
	}
	keyset_unref(ks);
	return 0;
}

static int keys_rotate_now(const char *state_dir)
{
	struct error err = {0};
	char kid[SIGNING_KID_MAX + 1];
	if (keys_rotate(state_dir, now_unix(), kid, &err) < 0) {
		fprintf(stderr, "hoodyd keys rotate: %s\n", err.msg);
		return 1;
	}
	printf("%s\n", kid);
	return 0;
}

int hoodyd_keys_cmd(const char *state_dir, int argc, char **argv)
{
	if (argc != 2)
		return usage();
	if (!strcmp(argv[1], "list"))
		return keys_list(state_dir);
	if (!strcmp(argv[1], "rotate"))
		return keys_rotate_now(state_dir);
	return usage();
}
