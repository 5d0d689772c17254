/* Public images (see images.h). */
#include "platform/platform_int.h"
#include "platform/images.h"

#include <ctype.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/utsname.h>

#include "common/util.h"
#include "platform/validate.h"

const char *const image_sorts[] = {"alias", "added_date", "price", "rating", NULL};

static void image_id(const char *name, char out[ID_LEN + 1])
{
	unsigned char h[crypto_hash_sha256_BYTES];
	crypto_hash_sha256(h, (const unsigned char *)name, strlen(name));
	hex_encode(h, ID_LEN / 2, out);
	out[ID_LEN] = '\0';
}

/* Architectures under the names clients filter by (Debian's), with the
 * kernel's names as aliases. */
static const char *const arch_aliases[][2] = {
    {"amd64", "x86_64"},
    {"arm64", "aarch64"},
    {"i386", "i686"},
    {"armhf", "armv7l"},
};

static const char *arch_canonical(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(arch_aliases); i++)
		if (strcasecmp(name, arch_aliases[i][0]) == 0 ||
		    strcasecmp(name, arch_aliases[i][1]) == 0)
			return arch_aliases[i][0];
	return name;
}

static const char *host_arch(void)
{
	static __thread struct utsname u;
	if (!u.machine[0] && uname(&u) < 0)
		return "amd64";
	return arch_canonical(u.machine);
}

/* "debian" + "13" -> "Debian 13". */
static json_t *display_name_new(const struct rt_image *im)
{
	char buf[sizeof(im->os) + sizeof(im->release) + 2];
	if (!im->os[0])
		return json_string(im->name);
	snprintf(buf, sizeof(buf), "%s%s%s", im->os, im->release[0] ? " " : "", im->release);
	buf[0] = (char)toupper((unsigned char)buf[0]);
	return json_string(buf);
}

/* Nobody rates or sells images here: price 0, no rating, no variants. */
static json_t *image_json_new(const struct rt_image *im, const char *default_image)
{
	char id[ID_LEN + 1], icon[64];
	image_id(im->name, id);
	snprintf(icon, sizeof(icon), "/api/v1/images/%s/icon", id);
	json_t *name = display_name_new(im);
	char *description = xasprintf("%s root filesystem", json_string_value(name));
	json_t *o = json_pack(
	    "{s:s, s:s, s:o, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:i, s:n, s:n, "
	    "s:i, s:s, s:b, s:b, s:o}",
	    "id", id, "alias", im->name, "name", name, "image_name", im->name, "description",
	    description, "variant", "base", "os", im->os, "release", im->release, "architecture",
	    host_arch(), "size", (json_int_t)im->size_bytes, "price", 0, "rating", "average_rating",
	    "rating_count", 0, "icon_url", icon, "is_default", strcmp(im->name, default_image) == 0,
	    "prespawn", 0, "added_date", json_time_new(im->created_ms));
	free(description);
	return o;
}

static bool image_matches(const struct rt_image *im, const struct image_filter *f)
{
	if (f->os && strcasecmp(f->os, im->os) != 0)
		return false;
	if (f->arch && strcasecmp(arch_canonical(f->arch), host_arch()) != 0)
		return false;
	return !f->search || strcasestr(im->name, f->search) || strcasestr(im->os, f->search);
}

static int cmp_images(const void *a, const void *b, void *arg)
{
	const struct list_query *sort_q = arg;
	const struct rt_image *x = a, *y = b;
	int c = 0;
	if (strcmp(sort_q->sort_by, "added_date") == 0)
		c = (x->created_ms > y->created_ms) - (x->created_ms < y->created_ms);
	/* price and rating are the same for every local image: the name decides. */
	if (c == 0)
		c = strcmp(x->name, y->name);
	return sort_q->desc ? -c : c;
}

/* The host's images passing f, sorted by q. */
static int images_load(struct platform *pf, const struct image_filter *f,
		       const struct list_query *q, struct rt_image **out_new, size_t *count,
		       struct error *err)
{
	struct rt_image *all = NULL;
	size_t n = 0, k = 0;
	if (pf->rto->image_list(pf->rt, &all, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (image_matches(&all[i], f))
			all[k++] = all[i];
	if (q)
		qsort_r(all, k, sizeof(*all), cmp_images, (void *)q);
	*out_new = all;
	*count = k;
	return 0;
}

static int check_filter(const char *key, const char *v, struct error *err)
{
	if (v && strlen(v) > IMAGE_FILTER_MAX)
		return err_set(err, E_VALIDATION, "%s must be at most %d characters", key,
			       IMAGE_FILTER_MAX);
	return 0;
}

int images_list(struct platform *pf, const struct image_filter *f, const struct list_query *q,
		json_t **data_new, struct error *err)
{
	struct rt_image *ims = NULL;
	size_t n = 0;
	if (check_filter("os", f->os, err) < 0 || check_filter("search", f->search, err) < 0 ||
	    check_filter("architecture", f->arch, err) < 0 ||
	    images_load(pf, f, q, &ims, &n, err) < 0)
		return -1;
	json_t *items = json_array();
	for (int64_t i = (q->page - 1) * q->limit; i < (int64_t)n && i < q->page * q->limit; i++)
		json_array_append_new(items, image_json_new(&ims[i], pf->cfg.default_image));
	free(ims);
	*data_new = json_pack("{s:o, s:o}", "images", items, "pagination",
			      pagination_json_new((int64_t)n, q->page, q->limit));
	return 0;
}

int images_get(struct platform *pf, const char *id, json_t **data_new, struct error *err)
{
	struct image_filter none = {0};
	struct rt_image *ims = NULL;
	size_t n = 0;
	if (images_load(pf, &none, NULL, &ims, &n, err) < 0)
		return -1;
	json_t *found = NULL;
	for (size_t i = 0; i < n && !found; i++) {
		char iid[ID_LEN + 1];
		image_id(ims[i].name, iid);
		if (strcmp(iid, id) == 0)
			found = image_json_new(&ims[i], pf->cfg.default_image);
	}
	free(ims);
	if (!found)
		return err_set(err, E_NOT_FOUND, "Image not found");
	*data_new = found;
	return 0;
}
