/* Table-driven settings: one row per option gives its flag, environment
 * variable and config-file key, so the three sources cannot drift apart. */
#include "daemon/config.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "platform/limits.h"
#include "runtime/runtime.h"

enum opt_kind { OPT_STR, OPT_INT, OPT_SIZE, OPT_BOOL };

struct opt {
	const char *key;     /* config-file key; the flag is key with '-', the env HOODY_KEY */
	enum opt_kind kind;
	size_t off;
	int64_t min, max;
	const char *help;
};

#define O_STR(k, help) {#k, OPT_STR, offsetof(struct daemon_config, k), 0, 0, help}
#define O_INT(k, lo, hi, help) {#k, OPT_INT, offsetof(struct daemon_config, k), lo, hi, help}
/* Container limits: key, field of struct limits, kind, bounds; 0 = none. */
#define O_LIM(k, f, kind, hi, help)                                                          \
	{#k, kind, offsetof(struct daemon_config, limits.f), 0, hi, help}
#define SIZE_MAX_BYTES (1LL << 50)

static const struct opt opts[] = {
	O_STR(listen, "address to serve HTTP on (127.0.0.1:8080); containers can never reach "
		      "its port, whatever the address (docs/SECURITY.md)"),
	O_STR(state_dir, "database, containers and keys (/var/lib/hoody)"),
	O_STR(image_dir, "image store (<state-dir>/images)"),
	O_STR(run_dir, "volatile runtime files (/run/hoody)"),
	O_STR(bridge, "container bridge (hoody0)"),
	O_STR(subnet, "container IPv4 subnet (10.88.0.0/16)"),
	O_STR(dns, "IPv4 resolvers for containers, comma-separated (the host's from "
		   "/etc/resolv.conf)"),
	O_STR(net_allow, "IPv4 CIDRs containers may reach although private, link-local or the "
			 "host's own, comma-separated (none)"),
	O_STR(domain, "public domain of service URLs and realm hosts (hoody.local)"),
	O_STR(server_name, "this server's name (node-local)"),
	O_STR(server_country, "this server's country code, e.g. DE (empty)"),
	O_STR(server_region, "this server's region, e.g. eu-central (empty)"),
	O_STR(server_city, "this server's city (empty)"),
	O_STR(server_datacenter, "this server's datacenter (empty)"),
	O_STR(default_image, "image of containers created without one (debian/13)"),
	O_STR(log_level, "debug, info, warn or error (info)"),
	O_STR(prespawn, "warm pools: IMAGE[+kit][+dev]=N,... e.g. busybox=2 (none)"),
	O_STR(config, "JSON file with any of these keys (e.g. {\"listen\": ...})"),
	{"max_body", OPT_SIZE, offsetof(struct daemon_config, max_body), 1024, 1LL << 30,
	 "largest request body, bytes or with K/M suffix (1M)"},
	O_INT(threads, 0, 256, "HTTP threads (number of CPUs)"),
	O_INT(conn_timeout, 1, 3600, "seconds a silent HTTP connection is kept (30)"),
	O_INT(workers, 1, 1024, "background workers for container operations (16)"),
	O_INT(server_max_containers, -1, 1000000, "containers this server holds, -1 = no cap (-1)"),
	O_INT(user_max_containers, -1, 1000000, "default per-account quota, -1 = none (-1)"),
	O_INT(claim_ttl, 0, 30 * 86400, "lifetime of container claims in seconds (3600)"),
	O_INT(event_retention_days, -1, 3650, "days events are kept, -1 = forever (30)"),
	{"userns", OPT_BOOL, offsetof(struct daemon_config, userns), 0, 0,
	 "new containers get a user namespace: root is an unprivileged host id"},
	O_INT(userns_base, 65536, 4294836224LL,
	      "host id of container root in userns mode, a multiple of 65536 (1073741824)"),
	{"no_signing_key", OPT_BOOL, offsetof(struct daemon_config, no_signing_key), 0, 0,
	 "do not create a claim signing key"},
	O_STR(proxy_listen, "hostname proxy, plain HTTP: ADDR:PORT (none; make run: 127.0.0.1:8081)"),
	O_STR(proxy_tls_listen, "hostname proxy, HTTPS: ADDR:PORT, needs --tls-cert/--tls-key (none)"),
	O_STR(tls_cert, "PEM certificate chain of the proxy, a wildcard *.SERVER.containers.DOMAIN"),
	O_STR(tls_key, "PEM private key of --tls-cert (both reread on SIGHUP)"),
	O_INT(proxy_threads, 0, 256, "proxy event loops (number of CPUs)"),
	O_INT(proxy_max_conns_per_ip, 1, 1000000, "open proxy connections per client address (256)"),
	O_INT(proxy_idle_timeout, 1, 86400, "seconds a proxy connection may idle or stall (60)"),
	O_INT(proxy_tunnel_timeout, 1, 604800, "seconds a silent WebSocket is kept (3600)"),
	{"proxy_open_default", OPT_BOOL, offsetof(struct daemon_config, proxy_open_default), 0, 0,
	 "a container without proxy permissions is public (default: private to its owner)"},
	O_LIM(memory_limit, memory_bytes, OPT_SIZE, SIZE_MAX_BYTES,
	      "memory per container, bytes or K/M/G, 0 = none (1G)"),
	O_LIM(swap_limit, swap_bytes, OPT_SIZE, SIZE_MAX_BYTES,
	      "swap per container on top of memory (0)"),
	O_LIM(cpu_limit, cpu_millis, OPT_INT, 1024000, "CPU per container, 1000 = one core (1000)"),
	O_LIM(cpu_shares, cpu_shares, OPT_INT, 262144, "CPU weight, 2-262144 (1024)"),
	O_LIM(io_weight, io_weight, OPT_INT, 1000, "block I/O weight, 10-1000, needs BFQ (500)"),
	O_LIM(pids_limit, pids, OPT_INT, 4194304, "processes per container (512)"),
	O_LIM(nofile_limit, nofile, OPT_INT, 1048576,
	      "open files per container, under hoodyd's own hard limit (16384)"),
	O_LIM(disk_limit, disk_bytes, OPT_SIZE, SIZE_MAX_BYTES,
	      "writable layer per container, 0 = unlimited on the host (4G)"),
	O_LIM(disk_inodes, disk_inodes, OPT_INT, 1LL << 32, "inodes of that layer (262144)"),
	O_LIM(ramdisk_size, ramdisk_bytes, OPT_SIZE, SIZE_MAX_BYTES,
	      "/ramdisk per container, at most half its memory (512M)"),
	O_LIM(shm_size, shm_bytes, OPT_SIZE, SIZE_MAX_BYTES,
	      "/dev/shm per container, at most half its memory (64M)"),
	{"host_memory_reserve", OPT_SIZE, offsetof(struct daemon_config, host_memory_reserve), 0,
	 SIZE_MAX_BYTES, "RAM all containers together leave to the host, 0 = no cap (2G)"},
	{"no_limits", OPT_BOOL, offsetof(struct daemon_config, no_limits), 0, 0,
	 "containers run without limits (benchmarks only)"},
	{"no_nat", OPT_BOOL, offsetof(struct daemon_config, no_nat), 0, 0,
	 "containers' outbound traffic is not masqueraded (route their subnet yourself)"},
	{"no_firewall", OPT_BOOL, offsetof(struct daemon_config, no_firewall), 0, 0,
	 "benchmarks only: no nftables rules, containers are NOT isolated"},
	O_STR(ssh_listen, "SSH front door: ADDR:PORT (none; make run: 127.0.0.1:2222)"),
	O_INT(ssh_max_conns, 1, 100000, "open SSH connections in all (256)"),
	O_INT(ssh_max_conns_per_ip, 1, 100000, "open SSH connections per client address (8)"),
	O_INT(ssh_max_conns_per_container, 1, 100000, "logged-in SSH connections per container (16)"),
	O_INT(ssh_auth_timeout, 1, 600, "seconds an SSH client has to log in (20)"),
};

#define NOPTS (sizeof(opts) / sizeof(opts[0]))

static void defaults(struct daemon_config *c)
{
	memset(c, 0, sizeof(*c));
	c->listen = "127.0.0.1:8080";
	c->state_dir = "/var/lib/hoody";
	c->run_dir = "/run/hoody";
	c->bridge = "hoody0";
	c->subnet = "10.88.0.0/16";
	c->domain = "hoody.local";
	c->server_name = "node-local";
	c->default_image = "debian/13";
	c->log_level = "info";
	c->max_body = 1024 * 1024;
	c->workers = 16;
	c->conn_timeout = 30;
	c->server_max_containers = -1;
	c->user_max_containers = -1;
	c->userns_base = RT_USERNS_BASE_DEFAULT;
	c->proxy_max_conns_per_ip = 256;
	c->proxy_idle_timeout = 60;
	c->proxy_tunnel_timeout = 3600;
	limits_builtin(&c->limits);
	c->host_memory_reserve = 2LL << 30;
	c->ssh_max_conns = 256;
	c->ssh_max_conns_per_ip = 8;
	c->ssh_max_conns_per_container = 16;
	c->ssh_auth_timeout = 20;
}

void config_usage(void)
{
	fprintf(stderr,
		"usage: hoodyd [options]                      serve the Hoody API\n"
		"       hoodyd [options] images build|ensure|import|list|rm ...\n"
		"       hoodyd [options] users add NAME --password PASS [--email E] [--admin]\n"
		"       hoodyd [options] users passwd NAME --password PASS\n"
		"       hoodyd [options] keys list|rotate\n"
		"       hoodyd [options] servers expire|restore SERVER_ID\n"
		"       hoodyd [options] purge               delete every container, the bridge and its rules\n\n"
		"options (flag > environment HOODY_<NAME> > config file key > default):\n");
	for (size_t i = 0; i < NOPTS; i++) {
		char flag[64];
		snprintf(flag, sizeof(flag), "--%s", opts[i].key);
		for (char *p = flag; *p; p++)
			*p = *p == '_' ? '-' : *p;
		fprintf(stderr, "  %-26s %s\n", flag, opts[i].help);
	}
}

static int parse_int(const struct opt *o, const char *s, int64_t *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (o->kind == OPT_SIZE && end != s) {
		int shift = tolower((unsigned char)*end) == 'k' ? 10 :
			    tolower((unsigned char)*end) == 'm' ? 20 :
			    tolower((unsigned char)*end) == 'g' ? 30 : 0;
		if (shift && v < (1LL << (62 - shift))) {
			v <<= shift;
			end++;
		}
	}
	if (errno || end == s || *end || v < o->min || v > o->max)
		return -1;
	*out = v;
	return 0;
}

/* Sets one option from text; src names where it came from for messages. */
static int set_opt(const struct opt *o, struct daemon_config *c, const char *val, const char *src)
{
	void *field = (char *)c + o->off;
	switch (o->kind) {
	case OPT_STR:
		if (!*val)
			break;
		*(const char **)field = val;
		return 0;
	case OPT_INT:
	case OPT_SIZE:
		if (parse_int(o, val, (int64_t *)field) == 0)
			return 0;
		fprintf(stderr, "hoodyd: %s: %s must be an integer from %lld to %lld\n", src, o->key,
			(long long)o->min, (long long)o->max);
		return -1;
	case OPT_BOOL:
		if (!strcmp(val, "true") || !strcmp(val, "1") || !strcmp(val, "yes")) {
			*(bool *)field = true;
			return 0;
		}
		if (!strcmp(val, "false") || !strcmp(val, "0") || !strcmp(val, "no")) {
			*(bool *)field = false;
			return 0;
		}
		break;
	}
	fprintf(stderr, "hoodyd: %s: bad value for %s\n", src, o->key);
	return -1;
}

/* "--state-dir" / "state-dir" -> the row of state_dir. */
static const struct opt *find_flag(const char *name, size_t len)
{
	for (size_t i = 0; i < NOPTS; i++) {
		const char *k = opts[i].key;
		if (strlen(k) != len)
			continue;
		size_t j = 0;
		while (j < len && (k[j] == name[j] || (k[j] == '_' && name[j] == '-')))
			j++;
		if (j == len)
			return &opts[i];
	}
	return NULL;
}

/* Config-file strings live as long as the process; kept here, reachable. */
static char *kept[NOPTS];
static size_t nkept;

static const char *keep(const char *text)
{
	char *copy = xstrdup(text);
	if (nkept < NOPTS)
		kept[nkept++] = copy;
	return copy;
}

static int load_file(const char *path, struct daemon_config *c, const bool *set)
{
	json_error_t jerr;
	json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(root)) {
		fprintf(stderr, "hoodyd: config %s: %s\n", path,
			root ? "must be a JSON object" : jerr.text);
		json_decref(root);
		return -1;
	}
	const char *key;
	json_t *v;
	int rc = 0;
	json_object_foreach(root, key, v) {
		const struct opt *o = find_flag(key, strlen(key));
		if (!o || !strcmp(o->key, "config")) {
			fprintf(stderr, "hoodyd: config %s: unknown key \"%s\"\n", path, key);
			rc = -1;
			continue;
		}
		if (set[o - opts])
			continue;
		char num[32];
		const char *text = json_string_value(v);
		if (json_is_integer(v)) {
			snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
			text = num;
		} else if (json_is_boolean(v)) {
			text = json_is_true(v) ? "true" : "false";
		}
		if (!text || set_opt(o, c, keep(text), path) < 0) {
			if (!text)
				fprintf(stderr, "hoodyd: config %s: bad value for %s\n", path, key);
			rc = -1;
		}
	}
	json_decref(root);
	return rc;
}

static int apply_env(struct daemon_config *c, bool *set)
{
	for (size_t i = 0; i < NOPTS; i++) {
		char name[64] = "HOODY_";
		for (size_t j = 0; j < 50 && opts[i].key[j]; j++)
			name[6 + j] = (char)toupper((unsigned char)opts[i].key[j]);
		const char *v = getenv(name);
		if (set[i] || !v || !*v)
			continue;
		if (set_opt(&opts[i], c, v, name) < 0)
			return -1;
		set[i] = true;
	}
	return 0;
}

int config_load(int argc, char **argv, struct daemon_config *cfg, int *first_arg)
{
	bool set[NOPTS] = {0};
	int i = 1;
	defaults(cfg);
	for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		const char *name = argv[i] + 2;
		if (!strcmp(name, "help")) {
			config_usage();
			return 1;
		}
		const char *eq = strchr(name, '=');
		const struct opt *o = find_flag(name, eq ? (size_t)(eq - name) : strlen(name));
		if (!o) {
			fprintf(stderr, "hoodyd: unknown option %s (see --help)\n", argv[i]);
			return -1;
		}
		const char *val = eq ? eq + 1 : NULL;
		if (!val && o->kind == OPT_BOOL)
			val = "true";
		if (!val && i + 1 >= argc) {
			fprintf(stderr, "hoodyd: %s needs a value\n", argv[i]);
			return -1;
		}
		if (!val)
			val = argv[++i];
		if (set_opt(o, cfg, val, "command line") < 0)
			return -1;
		set[o - opts] = true;
	}
	*first_arg = i;
	if (apply_env(cfg, set) < 0)
		return -1;
	if (cfg->config && load_file(cfg->config, cfg, set) < 0)
		return -1;
	return 0;
}
