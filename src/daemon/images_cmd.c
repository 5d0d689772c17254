/* `hoodyd images ...`: the image store from the command line (`make run`
 * and the tests call `images ensure`). Opens the runtime like the server
 * does: builds run helper programs through its reaper. */
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "daemon/daemon.h"

static int usage(void)
{
	fprintf(
	    stderr,
	    "usage: hoodyd [--state-dir DIR] [--image-dir DIR] images COMMAND\n"
	    "  build NAME...        build busybox, debian/12 or debian/13 (no-op when present)\n"
	    "  ensure NAME...       build each image that is missing\n"
	    "  import NAME FILE     import a rootfs tarball (.tar, .tar.gz, .tgz, .tar.zst, "
	    ".tar.xz)\n"
	    "  list                 the images of this server\n"
	    "  rm NAME...           remove images no container uses\n"
	    "names: debian/13 (also debian, debian-13, debian:13), debian/12, busybox, "
	    "os/release\n");
	return 2;
}

static void human_size(uint64_t bytes, char *buf, size_t len)
{
	if (bytes >= 1ULL << 30)
		snprintf(buf, len, "%.1f GiB", (double)bytes / (1ULL << 30));
	else
		snprintf(buf, len, "%.1f MiB", (double)bytes / (1ULL << 20));
}

static int list(struct runtime *rt)
{
	struct error err = {0};
	struct rt_image *imgs = NULL;
	size_t n = 0;
	if (rt_image_list(rt, &imgs, &n, &err) < 0) {
		fprintf(stderr, "hoodyd images list: %s\n", err.msg);
		return 1;
	}
	printf("%-24s %-10s %-8s %10s  %s\n", "NAME", "OS", "RELEASE", "SIZE", "CREATED");
	for (size_t i = 0; i < n; i++) {
		char size[32], created[40];
		human_size(imgs[i].size_bytes, size, sizeof(size));
		iso8601_ms(imgs[i].created_ms, created, sizeof(created));
		printf("%-24s %-10s %-8s %10s  %s\n", imgs[i].name, imgs[i].os,
		       imgs[i].release[0] ? imgs[i].release : "-", size, created);
	}
	free(imgs);
	return 0;
}

/* Runs op on each name, going on after a failure; 1 if any failed. */
static int each(struct runtime *rt, const char *cmd, int argc, char **argv,
		int (*op)(struct runtime *, const char *, struct error *))
{
	if (argc < 1)
		return usage();
	int rc = 0;
	for (int i = 0; i < argc; i++) {
		struct error err = {0};
		if (op(rt, argv[i], &err) < 0) {
			fprintf(stderr, "hoodyd images %s: %s\n", cmd, err.msg);
			rc = 1;
		}
	}
	return rc;
}

static int op_build(struct runtime *rt, const char *name, struct error *err)
{
	return rt_image_build(rt, name, true, err);
}

static int op_ensure(struct runtime *rt, const char *name, struct error *err)
{
	char canon[128];
	if (rt_image_normalize(name, canon, sizeof(canon), err) < 0)
		return -1;
	if (rt_image_exists(rt, canon))
		return 0;
	fprintf(stderr, "hoodyd: image %s is missing, building it\n", canon);
	return rt_image_build(rt, canon, true, err);
}

static int op_rm(struct runtime *rt, const char *name, struct error *err)
{
	char canon[128];
	if (rt_image_normalize(name, canon, sizeof(canon), err) < 0 ||
	    rt_image_remove(rt, canon, err) < 0)
		return -1;
	printf("removed %s\n", canon);
	return 0;
}

static int dispatch(struct runtime *rt, int argc, char **argv)
{
	const char *cmd = argv[0];
	if (!strcmp(cmd, "list"))
		return argc == 1 ? list(rt) : usage();
	if (!strcmp(cmd, "build"))
		return each(rt, cmd, argc - 1, argv + 1, op_build);
	if (!strcmp(cmd, "ensure"))
		return each(rt, cmd, argc - 1, argv + 1, op_ensure);
	if (!strcmp(cmd, "rm"))
		return each(rt, cmd, argc - 1, argv + 1, op_rm);
	if (!strcmp(cmd, "import") && argc == 3) {
		struct error err = {0};
		char canon[128];
		if (rt_image_normalize(argv[1], canon, sizeof(canon), &err) < 0 ||
		    rt_image_import(rt, canon, argv[2], &err) < 0) {
			fprintf(stderr, "hoodyd images import: %s\n", err.msg);
			return 1;
		}
		printf("imported %s\n", canon);
		return 0;
	}
	return usage();
}

int hoodyd_images_cmd(const struct rt_config *rc, int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "help") || !strcmp(argv[1], "--help"))
		return usage();
	struct error err = {0};
	struct runtime *rt = NULL;
	if (mkdir_p(rc->state_dir, 0700, &err) < 0 || runtime_open(rc, &rt, &err) < 0) {
		fprintf(stderr, "hoodyd images: %s\n", err.msg);
		return 1;
	}
	int code = dispatch(rt, argc - 1, argv + 1);
	runtime_close(rt);
	return code;
}
