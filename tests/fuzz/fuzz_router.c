/* The request router: any method and path, against the real route table's
 * patterns. Nothing may crash, and a match's params must lie inside buf. */
#include <stdlib.h>
#include <string.h>

#include "api/router.h"
#include "fuzz.h"

static const char *const patterns[] = {
    "/api/v1/containers",
    "/api/v1/projects/{id}/containers",
    "/api/v1/containers/{id}",
    "/api/v1/containers/{id}/{operation}",
    "/api/v1/containers/{id}/status-logs",
    "/api/v1/containers/{id}/snapshots/{name}",
    "/api/v1/containers/{id}/snapshots/{name}/alias",
    "/api/v1/containers/{id}/env/{key}",
    "/api/v1/events/{id}",
    "/api/v1/events/stream",
    "/api/v1/auth/tokens/me",
    "/api/v1/auth/tokens/{id}",
    "/api/v1/meta/public-key",
};
static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "BREW"};

static void nothing(struct req *r, struct resp *out)
{
	(void)r;
	(void)out;
}

static struct router *table(void)
{
	static struct router *rt;
	if (!rt) {
		rt = router_new();
		for (size_t i = 0; i < sizeof(patterns) / sizeof(*patterns); i++)
			for (size_t m = 0; m < 5; m++)
				router_add(rt, methods[m], patterns[i], nothing, 0, NULL);
	}
	return rt;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const char *method = methods[data[0] % 7];
	char *path = fuzz_str(data + 1, size - 1, 8192);
	size_t len = strlen(path);
	char *buf = malloc(len + 1);
	struct route_match m;
	if (router_match(table(), method, path, buf, len + 1, &m) == MATCH_FOUND)
		for (size_t i = 0; i < m.nparams; i++)
			if (m.params[i] < buf || m.params[i] > buf + len)
				abort();
	char allow[64];
	router_allow_header(m.allowed, allow, sizeof(allow));
	free(buf);
	free(path);
	return 0;
}
