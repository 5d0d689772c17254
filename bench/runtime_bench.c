/* runtime_bench: how fast the runtime makes a container, against the floor
 * set by crun itself.
 *
 * Each iteration (interleaved, so that host noise hits both alike):
 *  (a) rt_create_start of a busybox container (overlay rootfs, netns + veth,
 *      ramdisk, config.json, crun run --detach) until it is RUNNING, then
 *      rt_delete; we time create-to-running and create-to-deleted;
 *  (b) `crun run` of /bin/true on a plain copy of the same busybox rootfs
 *      with crun's default config (its own pid/net/ipc/uts/mount namespaces).
 *  (c) (a) with the default limits of hoodyd (memory, CPU, pids, open files,
 *      a 4 GiB ext4 layer on a loop device, sized /ramdisk and /dev/shm);
 *      then waits until the spare layer it took is made again (layer.c), so
 *      that no iteration is timed with the previous one's background work.
 * Prints median and p95 of each, the ratio of the medians of
 * create-to-running and crun run, and what limits cost ((c) / (a)). Target: ratio <= 2. Exit status
 * 1 when the target is missed. Run as root: bench/runtime_bench.sh. */
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "runtime/internal.h"

#define TARGET_RATIO 2.0
#define SETTLE_POLLS 10000 /* 10 s */

struct opts {
	int n;
	const char *state, *run, *bridge, *subnet, *image_dir, *init;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double pct(double *v, int n, double p)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	int i = (int)(p * (n - 1) + 0.5);
	return v[i];
}

static double ms(int64_t from, int64_t to)
{
	return (double)(to - from) / 1e6;
}

static int run_cmd(struct runtime *rt, const char *const *argv, struct error *err)
{
	struct rt_exec_result r;
	if (proc_run(rt, argv, NULL, 120 * 1000, 64 * 1024, &r, err) < 0)
		return -1;
	int rc = r.exit_code == 0
		     ? 0
		     : err_set(err, E_RUNTIME, "%s %s failed: %s", argv[0], argv[1], r.err);
	rt_exec_result_free(&r);
	return rc;
}

/* A plain copy of the image with crun's default spec running /bin/true. */
static int make_plain_bundle(struct runtime *rt, const char *bundle, struct error *err)
{
	_cleanup_free_ char *image = NULL;
	if (image_rootfs_path(rt, "busybox", &image, err) < 0)
		return -1;
	_cleanup_free_ char *rootfs = xasprintf("%s/rootfs", bundle);
	_cleanup_free_ char *config = xasprintf("%s/config.json", bundle);
	if (rm_rf(bundle, err) < 0 || mkdir_p(bundle, 0700, err) < 0)
		return -1;
	const char *cp[] = {"cp", "-a", image, rootfs, NULL};
	const char *spec[] = {rt->crun_path, "spec", "--bundle", bundle, NULL};
	if (run_cmd(rt, cp, err) < 0 || run_cmd(rt, spec, err) < 0)
		return -1;
	json_t *root = json_load_file(config, 0, NULL);
	json_t *proc = json_object_get(root, "process");
	if (!proc) {
		json_decref(root);
		return err_set(err, E_IO, "bad crun spec output in %s", config);
	}
	json_object_set_new(proc, "terminal", json_false());
	json_object_set_new(proc, "args", json_pack("[s]", "/bin/true"));
	int rc = json_dump_file(root, config, 0);
	json_decref(root);
	return rc < 0 ? err_set(err, E_IO, "write %s", config) : 0;
}

/* hoodyd's defaults (platform/limits.c), as the platform hands them over. */
static void default_limits(struct rt_spec *s)
{
	s->memory_limit = 1ULL << 30;
	s->cpu_millis = 1000;
	s->cpu_shares = 1024;
	s->blkio_weight = 500;
	s->pids_limit = 512;
	s->nofile = 16384;
	s->disk_bytes = 4ULL << 30;
	s->disk_inodes = 262144;
	s->ramdisk_bytes = 512ULL << 20;
	s->shm_bytes = 64ULL << 20;
}

static int bench_runtime_once(struct runtime *rt, int i, bool limited, double *create_ms,
			      double *total_ms, struct error *err)
{
	char id[32];
	snprintf(id, sizeof(id), "bench-%s%d", limited ? "l" : "", i);
	struct rt_spec spec = {.id = id, .hostname = id, .image = "busybox", .ramdisk = true};
	if (limited)
		default_limits(&spec);
	int64_t t0 = mono_ns();
	if (rt_create_start(rt, &spec, err) < 0)
		return -1;
	int64_t t1 = mono_ns();
	enum rt_state st;
	if (rt_state(rt, id, &st, err) < 0 || st != RT_RUNNING)
		return err_set(err, E_RUNTIME, "%s is not running after create", id);
	if (rt_delete(rt, id, err) < 0)
		return -1;
	int64_t t2 = mono_ns();
	*create_ms = ms(t0, t1);
	*total_ms = ms(t0, t2);
	return 0;
}

/* Until the spare layer a limited create took is made again: what is timed
 * is the create path, not the background work of the previous one. */
static void settle(struct runtime *rt)
{
	for (int i = 0; i < SETTLE_POLLS && layer_spares_busy(rt); i++)
		usleep(1000);
}

static int bench_crun_once(struct runtime *rt, const char *bundle, const char *root, int i,
			   double *out_ms, struct error *err)
{
	char id[32];
	snprintf(id, sizeof(id), "bench-plain-%d", i);
	const char *argv[] = {rt->crun_path, "--root", root, "run", "--bundle", bundle, id, NULL};
	int64_t t0 = mono_ns();
	if (run_cmd(rt, argv, err) < 0)
		return -1;
	*out_ms = ms(t0, mono_ns());
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: runtime_bench [-n N] [--state DIR] [--image-dir DIR] [--run DIR]\n"
			"                     [--bridge NAME] [--subnet CIDR] [--init PATH]\n");
	exit(2);
}

static void parse(int argc, char **argv, struct opts *o)
{
	static const struct option longs[] = {
	    {"state", required_argument, NULL, 's'},
	    {"run", required_argument, NULL, 'r'},
	    {"bridge", required_argument, NULL, 'b'},
	    {"subnet", required_argument, NULL, 'u'},
	    {"image-dir", required_argument, NULL, 'i'},
	    {"init", required_argument, NULL, 'I'},
	    {NULL, 0, NULL, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "n:", longs, NULL)) != -1) {
		switch (c) {
		case 'n':
			o->n = atoi(optarg);
			break;
		case 's':
			o->state = optarg;
			break;
		case 'r':
			o->run = optarg;
			break;
		case 'b':
			o->bridge = optarg;
			break;
		case 'u':
			o->subnet = optarg;
			break;
		case 'i':
			o->image_dir = optarg;
			break;
		case 'I':
			o->init = optarg;
			break;
		default:
			usage();
		}
	}
	if (o->n < 1 || o->n > 10000)
		usage();
}

static void report(const char *what, double *v, int n)
{
	double med = pct(v, n, 0.5), p95 = pct(v, n, 0.95);
	printf("%-34s median %7.2f ms   p95 %7.2f ms   min %7.2f ms\n", what, med, p95, v[0]);
}

int main(int argc, char **argv)
{
	struct opts o = {.n = 50,
			 .state = "/tmp/hoody-bench",
			 .run = "/run/hoody-bench",
			 .bridge = "hdybench",
			 .subnet = "10.198.0.0/16"};
	parse(argc, argv, &o);
	struct rt_config cfg = {.state_dir = o.state,
				.image_dir = o.image_dir,
				.run_dir = o.run,
				.bridge = o.bridge,
				.subnet = o.subnet,
				.init_path = o.init};
	struct error err = {0};
	struct runtime *rt;
	if (runtime_open(&cfg, &rt, &err) < 0) {
		fprintf(stderr, "runtime_bench: %s\n", err.msg);
		return 1;
	}
	double *create = xcalloc((size_t)o.n, sizeof(double));
	double *total = xcalloc((size_t)o.n, sizeof(double));
	double *plain = xcalloc((size_t)o.n, sizeof(double));
	double *lim = xcalloc((size_t)o.n, sizeof(double));
	double *lim_total = xcalloc((size_t)o.n, sizeof(double));
	_cleanup_free_ char *bundle = xasprintf("%s/bench-plain", o.state);
	_cleanup_free_ char *croot = xasprintf("%s/crun-bench", o.run);
	int rc = 1;
	if (!rt_image_exists(rt, "busybox") && rt_image_build(rt, "busybox", false, &err) < 0)
		goto out;
	if (rt_purge(rt, &err) < 0 || make_plain_bundle(rt, bundle, &err) < 0)
		goto out;
	/* One warm-up of each: page cache, first bridge setup. */
	double ignored, ignored2;
	if (bench_runtime_once(rt, o.n, false, &ignored, &ignored2, &err) < 0 ||
	    bench_runtime_once(rt, o.n, true, &ignored, &ignored2, &err) < 0 ||
	    bench_crun_once(rt, bundle, croot, o.n, &ignored, &err) < 0)
		goto out;
	settle(rt);
	for (int i = 0; i < o.n; i++) {
		if (bench_runtime_once(rt, i, false, &create[i], &total[i], &err) < 0 ||
		    bench_runtime_once(rt, i, true, &lim[i], &lim_total[i], &err) < 0)
			goto out;
		settle(rt);
		if (bench_crun_once(rt, bundle, croot, i, &plain[i], &err) < 0)
			goto out;
	}
	printf("runtime_bench: %d iterations each, interleaved\n", o.n);
	report("(a) create -> running", create, o.n);
	report("(a) create -> running -> deleted", total, o.n);
	report("(b) crun run /bin/true", plain, o.n);
	report("(c) create -> running, limits", lim, o.n);
	report("(c) create -> running -> deleted", lim_total, o.n);
	printf("limits cost: (c) / (a) create-to-running (medians): %.2f (target < 1.10)\n",
	       pct(lim, o.n, 0.5) / pct(create, o.n, 0.5));
	double ratio = pct(create, o.n, 0.5) / pct(plain, o.n, 0.5);
	printf("ratio create-to-running / crun run (medians): %.2f (target <= %.1f): %s\n", ratio,
	       TARGET_RATIO, ratio <= TARGET_RATIO ? "PASS" : "FAIL");
	rc = ratio <= TARGET_RATIO ? 0 : 1;
out:
	if (err.msg[0])
		fprintf(stderr, "runtime_bench: %s\n", err.msg);
	struct error e2 = {0};
	rt_purge(rt, &e2);
	rm_rf(bundle, &e2);
	runtime_close(rt);
	free(create);
	free(total);
	free(plain);
	free(lim);
	free(lim_total);
	return rc;
}
