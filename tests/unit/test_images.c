/* The image store (images.c): name normalisation, and the store's
 * operations on a temp image dir (busybox build, tarball import, list,
 * remove, two builders at once). Nothing outside the temp dir changes. */
#include <dirent.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/util.h"
#include "runtime/internal.h"

static char base[] = "/tmp/hoody-test-images-XXXXXX";
static struct runtime *rt;

static void test_normalize_accepts(void **state)
{
	(void)state;
	static const char *const table[][2] = {
	    {"debian", "debian/13"},
	    {"debian-13", "debian/13"},
	    {"debian:13", "debian/13"},
	    {"debian 13", "debian/13"},
	    {"Debian/13", "debian/13"},
	    {"DEBIAN", "debian/13"},
	    {"  debian/13  ", "debian/13"},
	    {"debian   13", "debian/13"},
	    {"debian/13", "debian/13"},
	    {"debian-12", "debian/12"},
	    {"debian:12", "debian/12"},
	    {"debian/12", "debian/12"},
	    {"ubuntu:24.04", "ubuntu/24.04"},
	    {"ubuntu-22.04", "ubuntu/22.04"},
	    {"ubuntu/24.04", "ubuntu/24.04"},
	    {"alpine/3.19", "alpine/3.19"},
	    {"busybox", "busybox"},
	    {"BusyBox", "busybox"},
	    {"my-image", "my-image"},
	    {"my_image.v2", "my_image.v2"},
	    {"fedora/rawhide", "fedora/rawhide"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(table); i++) {
		char out[128];
		struct error e = {0};
		if (rt_image_normalize(table[i][0], out, sizeof(out), &e) < 0)
			fail_msg("\"%s\" rejected: %s", table[i][0], e.msg);
		assert_string_equal(out, table[i][1]);
		/* Canonical names are fixed points. */
		char twice[128];
		assert_int_equal(rt_image_normalize(out, twice, sizeof(twice), &e), 0);
		assert_string_equal(twice, out);
	}
}

static void test_normalize_rejects(void **state)
{
	(void)state;
	char long_name[160];
	memset(long_name, 'a', 101);
	long_name[101] = '\0';
	const char *const bad[] = {
	    "",
	    "   ",
	    "..",
	    "../etc",
	    "debian/../../etc",
	    "debian/..",
	    "/etc/passwd",
	    "/debian",
	    "debian/13/x",
	    "a/b/c",
	    "debian;rm",
	    "debian$13",
	    "déb",
	    "debian\n13",
	    "deb\\ian",
	    "debian/",
	    "/",
	    "debian//13",
	    ".hidden",
	    "debian/.x",
	    "-rf",
	    "debian/-x",
	    "busybox/rootfs",
	    "x/meta.json",
	    "a:b:c",
	    "debian*",
	    long_name,
	    NULL,
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		char out[128] = "untouched";
		struct error e = {0};
		if (rt_image_normalize(bad[i], out, sizeof(out), &e) == 0)
			fail_msg("\"%s\" accepted as \"%s\"", bad[i] ? bad[i] : "(null)", out);
		assert_int_equal(e.code, E_VALIDATION);
		assert_true(strlen(e.msg) > 0);
		assert_string_equal(out, "untouched");
	}
	/* 100 characters is the limit, not 99. */
	char ok[128];
	struct error e = {0};
	long_name[100] = '\0';
	assert_int_equal(rt_image_normalize(long_name, ok, sizeof(ok), &e), 0);
}

/* ---- the store ---- */

static void test_missing_image(void **state)
{
	(void)state;
	struct error e = {0};
	char *path = NULL;
	assert_false(rt_image_exists(rt, "debian/12"));
	assert_false(rt_image_exists(rt, "../x"));
	assert_int_equal(image_rootfs_path(rt, "debian/12", &path, &e), -1);
	assert_int_equal(e.code, E_VALIDATION);
	assert_non_null(strstr(e.msg, "is not available on this server"));
	assert_int_equal(image_rootfs_path(rt, "../../etc", &path, &e), -1);
	assert_int_equal(e.code, E_VALIDATION);
	assert_int_equal(rt_image_build(rt, "ubuntu/24.04", false, &e), -1);
	assert_int_equal(e.code, E_VALIDATION);
	assert_non_null(strstr(e.msg, "import"));
	assert_int_equal(rt_image_remove(rt, "nothing/1", &e), -1);
	assert_int_equal(e.code, E_NOT_FOUND);
}

static void *build_busybox(void *arg)
{
	struct error *e = arg;
	return (void *)(intptr_t)rt_image_build(rt, "busybox", false, e);
}

static void test_busybox_concurrent(void **state)
{
	(void)state;
	struct error e1 = {0}, e2 = {0};
	pthread_t a, b;
	void *r1, *r2;
	int64_t t0 = mono_ns();
	pthread_create(&a, NULL, build_busybox, &e1);
	pthread_create(&b, NULL, build_busybox, &e2);
	pthread_join(a, &r1);
	pthread_join(b, &r2);
	if (r1 || r2)
		fail_msg("build: %s / %s", e1.msg, e2.msg);
	assert_true(mono_ns() - t0 < 5000000000LL); /* "well under a few seconds" */
	assert_true(rt_image_exists(rt, "busybox"));
	char *path = NULL;
	struct error e = {0};
	assert_int_equal(image_rootfs_path(rt, "busybox", &path, &e), 0);
	_cleanup_free_ char *sh_link = xasprintf("%s/bin/sh", path);
	_cleanup_free_ char *passwd = xasprintf("%s/etc/passwd", path);
	struct stat st;
	assert_int_equal(lstat(sh_link, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_true(path_exists(passwd));
	free(path);
	/* No temp dir of either builder is left behind. */
	DIR *d = opendir(rt->image_dir);
	struct dirent *de;
	assert_non_null(d);
	while ((de = readdir(d)))
		assert_int_not_equal(strncmp(de->d_name, ".tmp", 4), 0);
	closedir(d);
}

static void test_import_list_remove(void **state)
{
	(void)state;
	_cleanup_free_ char *tgz = xasprintf("%s/root.tar.gz", base);
	_cleanup_free_ char *notroot = xasprintf("%s/data.tar", base);
	struct error e = {0};
	assert_int_equal(rt_image_import(rt, "Custom:1.0", tgz, &e), 0);
	assert_true(rt_image_exists(rt, "custom/1.0"));
	assert_int_equal(rt_image_import(rt, "custom/1.0", tgz, &e), -1);
	assert_int_equal(e.code, E_CONFLICT);
	assert_int_equal(rt_image_import(rt, "other", notroot, &e), -1);
	assert_int_equal(e.code, E_VALIDATION);
	assert_false(rt_image_exists(rt, "other"));
	assert_int_equal(rt_image_import(rt, "other", "/etc/passwd", &e), -1);
	assert_int_equal(e.code, E_VALIDATION);
	_cleanup_free_ char *missing = xasprintf("%s/none.tar", base);
	assert_int_equal(rt_image_import(rt, "other", missing, &e), -1);
	assert_int_equal(e.code, E_VALIDATION);

	struct rt_image *imgs = NULL;
	size_t n = 0;
	assert_int_equal(rt_image_list(rt, &imgs, &n, &e), 0);
	assert_int_equal(n, 2);
	assert_string_equal(imgs[0].name, "busybox");
	assert_string_equal(imgs[0].os, "busybox");
	assert_string_equal(imgs[0].release, "");
	assert_true(imgs[0].size_bytes > 1000000);
	assert_string_equal(imgs[1].name, "custom/1.0");
	assert_string_equal(imgs[1].os, "custom");
	assert_string_equal(imgs[1].release, "1.0");
	assert_true(imgs[1].created_ms > now_ms() - 600000);
	free(imgs);

	assert_int_equal(rt_image_remove(rt, "custom:1.0", &e), 0);
	assert_false(rt_image_exists(rt, "custom/1.0"));
	_cleanup_free_ char *parent = xasprintf("%s/images/custom", base);
	assert_false(path_exists(parent));
	assert_int_equal(rt_image_list(rt, &imgs, &n, &e), 0);
	assert_int_equal(n, 1);
	free(imgs);
}

/* Tarballs for the import test, made before the reaper starts: it owns
 * waitpid(-1) and would steal system()'s child. */
static int make_fixtures(void)
{
	_cleanup_free_ char *mk =
	    xasprintf("cd %s && mkdir -p src/bin src/etc && echo hi > src/etc/motd && "
		      "tar -C src -czf root.tar.gz . && tar -C src/etc -cf data.tar motd",
		      base);
	return system(mk) == 0 ? 0 : -1;
}

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(base) || make_fixtures() < 0)
		return -1;
	rt = xcalloc(1, sizeof(*rt));
	rt->state_dir = base;
	rt->image_dir = xasprintf("%s/images", base);
	pthread_mutex_init(&rt->ipam_lock, NULL);
	struct error e = {0};
	/* Builds and imports run tar and busybox through the runtime's reaper. */
	if (reaper_start(rt, &e) < 0) {
		fprintf(stderr, "reaper: %s\n", e.msg);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	reaper_stop(rt);
	struct error e = {0};
	rm_rf(base, &e);
	free(rt->image_dir);
	free(rt);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_normalize_accepts),  cmocka_unit_test(test_normalize_rejects),
	    cmocka_unit_test(test_missing_image),      cmocka_unit_test(test_busybox_concurrent),
	    cmocka_unit_test(test_import_list_remove),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
