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
#include "runtime/runtime.h"

enum opt_kind { OPT_STR, OPT_INT, OPT_SIZE, OPT_BOOL };

struct opt {
	const char *key; /* config-file key; the flag is key with '-', the env HOODY_KEY */
	enum opt_kind kind;
	size_t off;
	int64_t min, max;
	const char *help;
	const char *str_def; /* OPT_STR default; NULL = unset */
	int64_t int_def;     /* default of the other kinds */
	const char *shown; /* --help's words for a default the row cannot hold; NULL = the value */
};

/* The row is the only place a default lives: defaults() and --help read it. */
#define O_STR(k, def, shown, help)                                                                 \
	{                                                                                          \
#k, OPT_STR, offsetof(struct daemon_config, k), 0, 0, help, def, 0, shown          \
	}
#define O_INT(k, lo, hi, def, shown, help)                                                         \
	{                                                                                          \
#k, OPT_INT, offsetof(struct daemon_config, k), lo, hi, help, NULL, def, shown     \
	}
#define O_SIZE(k, lo, hi, def, help)                                                               \
	{                                                                                          \
#k, OPT_SIZE, offsetof(struct daemon_config, k), lo, hi, help, NULL, def, NULL     \
	}
/* Flags: off unless given. */
#define O_BOOL(k, help)                                                                            \
	{                                                                                          \
#k, OPT_BOOL, offsetof(struct daemon_config, k), 0, 0, help, NULL, 0, NULL         \
	}
/* Container limits: key, field of struct limits, kind, bound, default; 0 = none. */
#define O_LIM(k, f, kind, hi, def, help)                                                           \
	{                                                                                          \
#k, kind, offsetof(struct daemon_config, limits.f), 0, hi, help, NULL, def, NULL   \
	}
#define SIZE_MAX_BYTES (1LL << 50)
#define MiB (1LL << 20)
#define GiB (1LL << 30)

static const struct opt opts[] = {
    O_STR(listen, "127.0.0.1:8080", NULL,
	  "address to serve HTTP on; containers can never reach its port, whatever the "
	  "address (docs/SECURITY.md)"),
    O_STR(state_dir, RT_STATE_DIR_DEFAULT, NULL, "database, containers and keys"),
    O_STR(image_dir, NULL, "<state-dir>/images", "image store"),
    O_STR(run_dir, RT_RUN_DIR_DEFAULT, NULL, "volatile runtime files"),
    O_STR(bridge, RT_BRIDGE_DEFAULT, NULL, "container bridge"),
    O_STR(subnet, RT_SUBNET_DEFAULT, NULL, "container IPv4 subnet"),
    O_STR(ipv6, "auto", NULL,
	  "container IPv6 (isolated and NATed like IPv4): auto = on when the host has an IPv6 "
	  "default route, on, off"),
    O_STR(subnet6, NULL, "a ULA /64 from the bridge name and /etc/machine-id",
	  "container IPv6 prefix, /96 or shorter; an address is the prefix + its IPv4"),
    O_STR(dns, NULL, "the host's from /etc/resolv.conf",
	  "resolvers for containers (IPv6 ones with IPv6 on), comma-separated"),
    O_STR(net_allow, NULL, NULL,
	  "IPv4/IPv6 CIDRs containers may reach although private, link-local or the host's "
	  "own, comma-separated"),
    O_STR(domain, PF_DOMAIN_DEFAULT, NULL, "public domain of service URLs and realm hosts"),
    O_STR(server_name, PF_SERVER_NAME_DEFAULT, NULL, "this server's name"),
    O_STR(server_country, NULL, "empty", "this server's country code, e.g. DE"),
    O_STR(server_region, NULL, "empty", "this server's region, e.g. eu-central"),
    O_STR(server_city, NULL, "empty", "this server's city"),
    O_STR(server_datacenter, NULL, "empty", "this server's datacenter"),
    O_STR(default_image, PF_IMAGE_DEFAULT, NULL, "image of containers created without one"),
    O_STR(log_level, "info", NULL, "debug, info, warn or error"),
    O_STR(prespawn, NULL, NULL, "warm pools: IMAGE[+kit][+dev]=N,... e.g. busybox=2"),
    O_STR(config, NULL, NULL, "JSON file with any of these keys (e.g. {\"listen\": ...})"),
    O_SIZE(max_body, 1024, 1LL << 30, 1 * MiB, "largest request body, bytes or with K/M suffix"),
    O_INT(threads, 0, 256, 0, "number of CPUs", "HTTP threads"),
    O_INT(conn_timeout, 1, 3600, 30, NULL, "seconds a silent HTTP connection is kept"),
    O_INT(workers, 1, 1024, PF_WORKERS_DEFAULT, NULL,
	  "threads for container operations (and as many for slow API requests)"),
    O_INT(server_max_containers, -1, 1000000, -1, NULL,
	  "containers this server holds, -1 = no cap"),
    O_INT(user_max_containers, -1, 1000000, -1, NULL, "default per-account quota, -1 = none"),
    O_INT(claim_ttl, 0, 30 * 86400, PF_CLAIM_TTL_S_DEFAULT, NULL,
	  "lifetime of container claims in seconds"),
    O_INT(event_retention_days, -1, 3650, PF_EVENT_RETENTION_DAYS_DEFAULT, NULL,
	  "days events are kept, -1 = forever"),
    O_BOOL(userns, "new containers get a user namespace: root is an unprivileged host id"),
    O_INT(userns_base, 65536, 4294836224LL, RT_USERNS_BASE_DEFAULT, NULL,
	  "host id of container root in userns mode, a multiple of 65536"),
    O_BOOL(no_signing_key, "do not create a claim signing key"),
    O_STR(proxy_listen, NULL, "none; make run: 127.0.0.1:8081",
	  "hostname proxy, plain HTTP: ADDR:PORT"),
    O_STR(proxy_tls_listen, NULL, NULL,
	  "hostname proxy, HTTPS: ADDR:PORT, needs --tls-cert/--tls-key"),
    O_STR(tls_cert, NULL, NULL,
	  "PEM certificate chain of the proxy, a wildcard *.SERVER.containers.DOMAIN"),
    O_STR(tls_key, NULL, NULL, "PEM private key of --tls-cert (both reread on SIGHUP)"),
    O_INT(proxy_threads, 0, 256, 0, "number of CPUs", "proxy event loops"),
    O_INT(proxy_max_conns_per_ip, 1, 1000000, 256, NULL,
	  "open proxy connections per client address"),
    O_INT(proxy_idle_timeout, 1, 86400, 60, NULL, "seconds a proxy connection may idle or stall"),
    O_INT(proxy_tunnel_timeout, 1, 604800, 3600, NULL, "seconds a silent WebSocket is kept"),
    O_INT(proxy_relay_conns, 0, 1000000, 0, "0: from its descriptor limit",
	  "WebSockets per relay worker process (docs/PROXY.md)"),
    O_INT(fd_limit, 0, 1048576, 0, "0: the hard limit",
	  "hoodyd's own descriptor limit (soft RLIMIT_NOFILE); relay workers keep the hard one"),
    O_BOOL(proxy_open_default,
	   "a container without proxy permissions is public (default: private to its owner)"),
    /* Limits sized so a 2-core, 24 GiB host keeps 500 running containers
     * (docs/SECURITY.md). Caps, not reservations: 500 idle containers use a
     * few GiB, and the parent cgroup (runtime, host_memory_reserve) keeps the host's
     * share whatever they do together. */
    O_LIM(memory_limit, memory_bytes, OPT_SIZE, SIZE_MAX_BYTES, 1 * GiB,
	  "memory per container, bytes or K/M/G, 0 = none"),
    O_LIM(swap_limit, swap_bytes, OPT_SIZE, SIZE_MAX_BYTES, 0,
	  "swap per container on top of memory"),
    O_LIM(cpu_limit, cpu_millis, OPT_INT, 1024000, 1000, "CPU per container, 1000 = one core"),
    O_LIM(cpu_shares, cpu_shares, OPT_INT, 262144, 1024, "CPU weight, 2-262144"),
    O_LIM(io_weight, io_weight, OPT_INT, 1000, 500, "block I/O weight, 10-1000, needs BFQ"),
    O_LIM(pids_limit, pids, OPT_INT, 4194304, 512, "processes per container"),
    O_LIM(nofile_limit, nofile, OPT_INT, 1048576, 16384,
	  "open files per container, under hoodyd's own hard limit"),
    O_LIM(disk_limit, disk_bytes, OPT_SIZE, SIZE_MAX_BYTES, 4 * GiB,
	  "writable layer per container, 0 = unlimited on the host"),
    O_LIM(disk_inodes, disk_inodes, OPT_INT, 1LL << 32, 262144, "inodes of that layer"),
    O_LIM(ramdisk_size, ramdisk_bytes, OPT_SIZE, SIZE_MAX_BYTES, 512 * MiB,
	  "/ramdisk per container, at most half its memory"),
    O_LIM(shm_size, shm_bytes, OPT_SIZE, SIZE_MAX_BYTES, 64 * MiB,
	  "/dev/shm per container, at most half its memory"),
    O_SIZE(host_memory_reserve, 0, SIZE_MAX_BYTES, 2 * GiB,
	   "RAM all containers together leave to the host, 0 = no cap"),
    O_BOOL(no_limits, "containers run without limits (benchmarks only)"),
    O_BOOL(no_nat, "containers' outbound traffic is not masqueraded (route their subnet yourself)"),
    O_BOOL(no_firewall, "benchmarks only: no nftables rules, containers are NOT isolated"),
    O_STR(ssh_listen, NULL, "none; make run: 127.0.0.1:2222", "SSH front door: ADDR:PORT"),
    O_INT(ssh_max_conns, 1, 100000, 256, NULL, "open SSH connections in all"),
    O_INT(ssh_max_conns_per_ip, 1, 100000, 8, NULL, "open SSH connections per client address"),
    O_INT(ssh_max_conns_per_container, 1, 100000, 16, NULL,
	  "logged-in SSH connections per container"),
    O_INT(ssh_auth_timeout, 1, 600, 20, NULL, "seconds an SSH client has to log in"),
};

#define NOPTS (sizeof(opts) / sizeof(opts[0]))

static void defaults(struct daemon_config *c)
{
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < NOPTS; i++) {
		void *field = (char *)c + opts[i].off;
		switch (opts[i].kind) {
		case OPT_STR:
			*(const char **)field = opts[i].str_def;
			break;
		case OPT_INT:
		case OPT_SIZE:
			*(int64_t *)field = opts[i].int_def;
			break;
		case OPT_BOOL:
			*(bool *)field = opts[i].int_def != 0;
			break;
		}
	}
}

/* The default as --help shows it: "1G" rather than 1073741824. */
static void show_default(const struct opt *o, char *buf, size_t len)
{
	static const char units[] = "KMG";
	int64_t v = o->int_def;
	int u = 0;
	if (o->shown || o->kind == OPT_STR) {
		snprintf(buf, len, "%s", o->shown ? o->shown : o->str_def ? o->str_def : "none");
		return;
	}
	if (o->kind == OPT_SIZE)
		while (u < 3 && v != 0 && v % 1024 == 0) {
			v /= 1024;
			u++;
		}
	if (u)
		snprintf(buf, len, "%lld%c", (long long)v, units[u - 1]);
	else
		snprintf(buf, len, "%lld", (long long)v);
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
		"       hoodyd [options] purge               delete every container, the bridge "
		"and its rules\n\n"
		"options (flag > environment HOODY_<NAME> > config file key > default):\n");
	for (size_t i = 0; i < NOPTS; i++) {
		char flag[64];
		snprintf(flag, sizeof(flag), "--%s", opts[i].key);
		for (char *p = flag; *p; p++)
			*p = *p == '_' ? '-' : *p;
		if (opts[i].kind == OPT_BOOL || !strcmp(opts[i].key, "config")) {
			fprintf(stderr, "  %-26s %s\n", flag, opts[i].help);
			continue;
		}
		char def[64];
		show_default(&opts[i], def, sizeof(def));
		fprintf(stderr, "  %-26s %s (%s)\n", flag, opts[i].help, def);
	}
}

static int parse_int(const struct opt *o, const char *s, int64_t *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (o->kind == OPT_SIZE && end != s) {
		int shift = tolower((unsigned char)*end) == 'k'	  ? 10
			    : tolower((unsigned char)*end) == 'm' ? 20
			    : tolower((unsigned char)*end) == 'g' ? 30
								  : 0;
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
		fprintf(stderr, "hoodyd: %s: %s must be an integer from %lld to %lld\n", src,
			o->key, (long long)o->min, (long long)o->max);
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
	json_object_foreach(root, key, v)
	{
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
