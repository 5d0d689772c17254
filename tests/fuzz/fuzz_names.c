/* Short strings from users: ids, image names (path traversal), container
 * names, env keys, colors, SSH keys, dates, the ?runtime selector. */
#include <stdlib.h>
#include <string.h>

#include "common/ids.h"
#include "common/util.h"
#include "fuzz.h"
#include "platform/container_rules.h"
#include "platform/containers.h"
#include "platform/validate.h"
#include "runtime/runtime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_str(data, size, 20000);
	struct error err = {0};
	char image[128], color[COLOR_LEN];
	unsigned mask = 0;
	char *key = NULL;
	id_valid(s);
	if (rt_image_normalize(s, image, sizeof(image), &err) == 0 &&
	    (image[0] == '/' || strstr(image, "..")))
		abort(); /* a canonical name never escapes the image store */
	crules_name_check(s, &err);
	crules_env_key_valid(s);
	color_normalize(s, color, &err);
	if (crules_ssh_key_check(s, &key, &err) == 0)
		free(key);
	iso8601_parse_ms(s);
	containers_runtime_param(s, &mask, &err);
	free(s);
	return 0;
}
