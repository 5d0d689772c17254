/* hoodyd: the composition root. Opens runtime -> store -> platform -> HTTP in
 * that order, waits for SIGTERM/SIGINT, and closes them in reverse. Running
 * containers are never stopped on exit: they are re-adopted on the next start. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <sodium.h>

#include "api/http.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"
#include "daemon/config.h"
#include "daemon/daemon.h"
#include "daemon/keys_cmd.h"
#include "platform/auth.h"
#include "platform/open.h"
#include "platform/snapshots.h"
#include "proxy/proxy.h"
#include "ssh/ssh.h"
#include "runtime/ops.h"
#include "runtime/runtime.h"
#include "store/store.h"

/* ------------------------------------------------------------ plumbing */

static int sig_pipe[2] = {-1, -1};

static void on_signal(int sig)
{
	int saved = errno;
	unsigned char b = (unsigned char)sig;
	(void)!write(sig_pipe[1], &b, 1);
	errno = saved;
}

/* A handler (not a blocked mask with sigwait): a blocked mask would be
 * inherited by crun and the containers' init. */
static int install_signals(void)
{
	if (pipe2(sig_pipe, O_CLOEXEC) < 0)
		return -1;
	struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

static int wait_signal(void)
{
	unsigned char b = 0;
	while (read(sig_pipe[0], &b, 1) < 0 && errno == EINTR)
		;
	return b;
}

/* Each connection and container needs descriptors, and a proxied
 * connection two: room for tens of thousands when root may raise the hard
 * limit (CAP_SYS_RESOURCE), else the hard limit. Returns the hard limit found
 * at start: containers are never given more than that (the operator's
 * ceiling), whatever hoodyd gave itself. */
#define NOFILE_WANT 131072

static uint64_t raise_nofile(void)
{
	struct rlimit rl, want = {NOFILE_WANT, NOFILE_WANT};
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 0;
	uint64_t original = rl.rlim_max == RLIM_INFINITY ? 0 : (uint64_t)rl.rlim_max;
	if (rl.rlim_max < NOFILE_WANT && setrlimit(RLIMIT_NOFILE, &want) == 0)
		return original;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	return original;
}

/* --fd-limit: hoodyd's own soft limit, lower than what it may have (a
 * test shows that upgraded connections do not live in hoodyd's table). The
 * hard limit stays, so relay workers and containers are not affected. */
static void lower_nofile(int64_t limit)
{
	struct rlimit rl;
	if (limit <= 0 || getrlimit(RLIMIT_NOFILE, &rl) != 0 || (rlim_t)limit >= rl.rlim_cur)
		return;
	rl.rlim_cur = (rlim_t)limit;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		log_warn("--fd-limit %lld: %s", (long long)limit, strerror(errno));
}

static void set_log_level(const char *name)
{
	static const char *const names[] = {"debug", "info", "warn", "error"};
	for (int i = 0; i < 4; i++)
		if (strcmp(name, names[i]) == 0)
			log_set_level((enum log_level)i);
}

/* The port of --listen: closed to containers even when the address is not
 * loopback (or an admin opens the host's addresses with --net-allow). */
static int listen_port(const char *listen)
{
	const char *colon = strrchr(listen, ':');
	long port = colon ? strtol(colon + 1, NULL, 10) : 0;
	return port > 0 && port < 65536 ? (int)port : 0;
}

static struct rt_config rt_config_of(const struct daemon_config *c)
{
	return (struct rt_config){
	    .no_firewall = c->no_firewall,
	    .no_nat = c->no_nat,
	    .dns = c->dns,
	    .net_allow = c->net_allow,
	    .protected_port = listen_port(c->listen),
	    .state_dir = c->state_dir,
	    .image_dir = c->image_dir,
	    .run_dir = c->run_dir,
	    .bridge = c->bridge,
	    .subnet = c->subnet,
	    .ipv6 = c->ipv6,
	    .subnet6 = c->subnet6,
	    .userns = c->userns,
	    .userns_base = (uint32_t)c->userns_base,
	    .disk_bytes = c->no_limits ? 0 : (uint64_t)c->limits.disk_bytes,
	    .disk_inodes = c->no_limits ? 0 : (uint64_t)c->limits.disk_inodes,
	    .host_memory_reserve = c->no_limits ? 0 : (uint64_t)c->host_memory_reserve,
	    .no_limits = c->no_limits,
	};
}

static char *db_path_new(const struct daemon_config *c)
{
	return xasprintf("%s/hoody.db", c->state_dir);
}

static int fail(const char *what, const struct error *err)
{
	log_error("%s: %s", what, err->msg);
	return 1;
}

/* ------------------------------------------------------------ serve */

static void announce(const struct daemon_config *c, bool first_start)
{
	const char *colon = strrchr(c->listen, ':');
	log_info("hoodyd listening on http://%s (state %s)", c->listen, c->state_dir);
	if (first_start)
		log_info("first start: created user \"admin\" and an admin auth token in "
			 "%s/admin-token (mode 0600)",
			 c->state_dir);
	log_info("try: curl -H \"Authorization: Bearer $(cat %s/admin-token)\" "
		 "http://%s%s/api/v1/users/me",
		 c->state_dir, colon && colon == c->listen ? "127.0.0.1" : "", c->listen);
}

/* The proxy's listeners and one line that reaches a port of a container
 * through it (the owner's claim pair, kit-api.md §2.3). */
static void announce_proxy(const struct daemon_config *c)
{
	const char *l = c->proxy_listen && *c->proxy_listen ? c->proxy_listen : c->proxy_tls_listen;
	if (!l || !*l)
		return;
	bool tls = !(c->proxy_listen && *c->proxy_listen);
	const char *colon = strrchr(l, ':');
	const char *api_colon = strrchr(c->listen, ':');
	log_info("hostname proxy on %s://%s for *.%s.containers.%s", tls ? "https" : "http", l,
		 c->server_name, c->domain);
	log_info("try (port 8000 of container $CID in project $PROJECT): curl -H \"Host: "
		 "$PROJECT-$CID-http-8000.%s.containers.%s\" -H \"X-Hoody-Token: $TOKEN\" -H "
		 "\"X-Hoody-Container-Claim: $(curl -s -X POST -H \"Authorization: Bearer $TOKEN\" "
		 "http://%s%s/api/v1/containers/$CID/authorize | jq -c .data.container_claim)\" "
		 "%s%s://%s%s/",
		 c->server_name, c->domain, api_colon == c->listen ? "127.0.0.1" : "", c->listen,
		 tls ? "-k " : "", tls ? "https" : "http", colon == l ? "127.0.0.1" : "", l);
}

/* Blocks until SIGTERM or SIGINT; SIGHUP rereads the proxy's certificate. */
static int wait_stop_signal(struct proxy_server *proxy)
{
	for (;;) {
		int sig = wait_signal();
		if (sig != SIGHUP)
			return sig;
		struct error err = {0};
		if (proxy_server_reload_tls(proxy, &err) < 0)
			log_error("SIGHUP: TLS certificate not reloaded, the old one stays: %s",
				  err.msg);
		else
			log_info("SIGHUP: TLS certificate reloaded");
	}
}

/* The proxy's {p}-{c}-ssh names end at the SSH front door. The proxy starts
 * first, so it holds the address of the pointer, filled once SSH listens. */
static int ssh_bridge_open(void *ctx, const char *container_id, const char *client_ip, bool raw,
			   struct error *err)
{
	struct ssh_server *sshd = __atomic_load_n((struct ssh_server **)ctx, __ATOMIC_ACQUIRE);
	if (!sshd)
		return err_set(err, E_BAD_GATEWAY,
			       "This server has no SSH front door (hoodyd --ssh-listen)");
	return ssh_server_bridge(sshd, container_id, client_ip, raw, err);
}

static int serve(const struct daemon_config *c)
{
	struct error err = {0};
	struct runtime *rt = NULL;
	struct store *st = NULL;
	struct platform *pf = NULL;
	struct api_server *srv = NULL;
	struct proxy_server *proxy = NULL;
	struct ssh_server *sshd = NULL;
	_cleanup_free_ char *host_key = xasprintf("%s/ssh_host_ed25519_key", c->state_dir);
	_cleanup_free_ char *db = db_path_new(c);
	bool first = false;
	int rc = 1;

	if (install_signals() < 0) {
		log_error("cannot install signal handlers: %s", strerror(errno));
		return 1;
	}
	uint64_t host_nofile = raise_nofile();
	lower_nofile(c->fd_limit);
	struct rt_config rc_cfg = rt_config_of(c);
	rc_cfg.nofile_max = host_nofile;
	/* The runtime first: it makes this process the child subreaper and
	 * starts the reaper before anything can spawn a child. */
	if (mkdir_p(c->state_dir, 0700, &err) < 0 || runtime_open(&rc_cfg, &rt, &err) < 0) {
		fail("runtime", &err);
		goto out;
	}
	if (store_open(db, &st, &err) < 0) {
		fail("store", &err);
		goto out;
	}
	struct platform_config pc = {
	    .state_dir = c->state_dir,
	    .public_domain = c->domain,
	    .server_name = c->server_name,
	    .server_country = c->server_country,
	    .server_region = c->server_region,
	    .server_city = c->server_city,
	    .server_datacenter = c->server_datacenter,
	    .default_image = c->default_image,
	    .server_max_containers = c->server_max_containers,
	    .user_max_containers = c->user_max_containers,
	    .claim_ttl_s = c->claim_ttl,
	    .no_signing_key = c->no_signing_key,
	    .proxy_open_default = c->proxy_open_default,
	    .workers = (int)c->workers,
	    .prespawn = c->prespawn,
	    .event_retention_days = c->event_retention_days,
	    .limits = c->limits,
	    .no_limits = c->no_limits,
	};
	if (platform_open(&pc, st, rt, &pf, &err) < 0) {
		fail("platform", &err);
		goto out;
	}
	if (users_bootstrap(pf, &first, &err) < 0) {
		fail("first-start bootstrap", &err);
		goto out;
	}
	if ((c->proxy_listen && *c->proxy_listen) ||
	    (c->proxy_tls_listen && *c->proxy_tls_listen)) {
		struct proxy_config xc = {
		    .listen = c->proxy_listen,
		    .tls_listen = c->proxy_tls_listen,
		    .tls_cert = c->tls_cert,
		    .tls_key = c->tls_key,
		    .api_listen = c->listen,
		    .threads = (int)c->proxy_threads,
		    .max_conns_per_ip = (int)c->proxy_max_conns_per_ip,
		    .idle_timeout_s = (int)c->proxy_idle_timeout,
		    .tunnel_timeout_s = (int)c->proxy_tunnel_timeout,
		    .relay_exe = "/proc/self/exe",
		    .relay_conns = (int)c->proxy_relay_conns,
		    .ssh_bridge = ssh_bridge_open,
		    .ssh_bridge_ctx = &sshd,
		};
		if (proxy_server_start(&xc, pf, &proxy, &err) < 0) {
			fail("proxy", &err);
			goto out;
		}
	}
	if (c->ssh_listen && *c->ssh_listen) {
		struct ssh_server_config sc = {
		    .listen = c->ssh_listen,
		    .host_key = host_key,
		    .max_conns = (int)c->ssh_max_conns,
		    .max_conns_per_ip = (int)c->ssh_max_conns_per_ip,
		    .max_conns_per_container = (int)c->ssh_max_conns_per_container,
		    .auth_timeout_s = (int)c->ssh_auth_timeout,
		};
		struct ssh_server *started = NULL;
		if (ssh_server_start(&sc, pf, &started, &err) < 0) {
			fail("ssh", &err);
			goto out;
		}
		__atomic_store_n(&sshd, started, __ATOMIC_RELEASE);
	}
	/* The API listens last: once it answers, the proxy and SSH listen too,
	 * and a bad flag for either has stopped hoodyd before anything served. */
	struct api_config ac = {
	    .listen = c->listen,
	    .max_body = (size_t)c->max_body,
	    .threads = (int)c->threads,
	    .conn_timeout_s = (unsigned)c->conn_timeout,
	    .api_domain = c->domain,
	    .workers = (int)c->workers,
	};
	if (api_server_start(&ac, pf, &srv, &err) < 0) {
		fail("http", &err);
		goto out;
	}
	announce(c, first);
	announce_proxy(c);
	int sig = wait_stop_signal(proxy);
	log_info("signal %d: shutting down (containers keep running)", sig);
	rc = 0;
out:
	/* the proxy first: its bridges call into the SSH front door */
	proxy_server_stop(proxy);
	ssh_server_stop(sshd);
	api_server_stop(srv);
	platform_close(pf);
	store_close(st);
	runtime_close(rt);
	if (rc == 0)
		log_info("hoodyd stopped");
	return rc;
}

/* ------------------------------------------------------------ subcommands */

/* The snapshots of deleted containers: nobody's container will ever come
 * back for them, and no other step removes them. */
static int purge_orphan_snapshots(const struct daemon_config *c, struct runtime *rt,
				  struct error *err)
{
	_cleanup_free_ char *db = db_path_new(c);
	struct store *st = NULL;
	int64_t removed = 0;
	if (access(db, F_OK) < 0)
		return 0; /* never ran: no snapshot rows */
	int rc = store_open(db, &st, err) < 0
		     ? -1
		     : snapshots_purge_orphans(st, rt, &rt_crun_ops, &removed, err);
	store_close(st);
	if (rc == 0 && removed)
		log_info("purge: %lld snapshot(s) of deleted containers removed",
			 (long long)removed);
	return rc;
}

static int cmd_purge(const struct daemon_config *c)
{
	struct error err = {0};
	struct runtime *rt = NULL;
	struct rt_config rc_cfg = rt_config_of(c);
	rc_cfg.no_containers = true;
	if (runtime_open(&rc_cfg, &rt, &err) < 0)
		return fail("purge", &err);
	int rc = rt_purge(rt, &err) < 0 || purge_orphan_snapshots(c, rt, &err) < 0
		     ? fail("purge", &err)
		     : 0;
	runtime_close(rt);
	return rc;
}

/* servers expire ID | servers restore ID: what the fleet does when a server
 * is terminated. Its containers become read-only and hidden from lists
 * (reference §5.2); works while hoodyd runs (SQLite WAL). */
static int cmd_servers(const struct daemon_config *c, int argc, char **argv)
{
	struct error err = {0};
	struct store *st = NULL;
	int64_t changed = 0;
	if (argc != 3 || (strcmp(argv[1], "expire") && strcmp(argv[1], "restore")) ||
	    !id_valid(argv[2])) {
		fprintf(stderr,
			"usage: hoodyd [--state-dir DIR] servers expire|restore SERVER_ID\n");
		return 2;
	}
	_cleanup_free_ char *db = db_path_new(c);
	int64_t at = strcmp(argv[1], "expire") == 0 ? now_ms() : 0;
	if (store_open(db, &st, &err) < 0 ||
	    store_container_expire_server(st, argv[2], at, &changed, &err) < 0) {
		store_close(st);
		return fail("servers", &err);
	}
	store_close(st);
	printf("%lld container(s) of server %s %s\n", (long long)changed, argv[2],
	       at ? "expired (read-only)" : "live again");
	return 0;
}

/* users add NAME --password PASS [--email E] [--admin] | users passwd NAME --password PASS */
static int cmd_users(const struct daemon_config *c, int argc, char **argv)
{
	struct error err = {0};
	struct store *st = NULL;
	_cleanup_free_ char *db = db_path_new(c);
	const char *password = NULL, *email = NULL;
	bool admin = false;
	if (argc < 3 || (strcmp(argv[1], "add") && strcmp(argv[1], "passwd"))) {
		config_usage();
		return 2;
	}
	for (int i = 3; i < argc; i++) {
		if (!strcmp(argv[i], "--admin"))
			admin = true;
		else if (!strcmp(argv[i], "--password") && i + 1 < argc)
			password = argv[++i];
		else if (!strcmp(argv[i], "--email") && i + 1 < argc)
			email = argv[++i];
		else {
			fprintf(stderr, "hoodyd users: unexpected argument %s\n", argv[i]);
			return 2;
		}
	}
	if (!password) {
		fprintf(stderr, "hoodyd users: --password is required\n");
		return 2;
	}
	if (sodium_init() < 0 || mkdir_p(c->state_dir, 0700, &err) < 0 ||
	    store_open(db, &st, &err) < 0)
		return fail("users", &err);
	int rc = 0;
	if (!strcmp(argv[1], "passwd")) {
		if (users_set_password(st, argv[2], password, &err) < 0)
			rc = fail("users passwd", &err);
		else
			printf("password of %s changed; its sessions were ended\n", argv[2]);
	} else {
		struct user u = {0};
		json_t *body = json_pack("{s:s, s:s, s:b}", "username", argv[2], "password",
					 password, "is_admin", admin);
		if (email)
			json_object_set_new(body, "email", json_string(email));
		if (users_create(st, body, &u, &err) < 0)
			rc = fail("users add", &err);
		else
			printf("%s\n", u.id);
		json_decref(body);
		user_clear(&u);
	}
	store_close(st);
	return rc;
}

static int cmd_images(const struct daemon_config *c, int argc, char **argv)
{
	struct rt_config rc_cfg = rt_config_of(c);
	rc_cfg.no_containers = true;
	return hoodyd_images_cmd(&rc_cfg, argc, argv);
}

int main(int argc, char **argv)
{
	struct daemon_config c;
	int first;
	/* a relay worker holds sockets only: no configuration, no state */
	if (argc > 1 && !strcmp(argv[1], PROXY_RELAY_ARG))
		return proxy_relay_main(argc, argv);
	json_alloc_policy_init();
	int rc = config_load(argc, argv, &c, &first);
	if (rc != 0)
		return rc < 0 ? 2 : 0;
	set_log_level(c.log_level);
	if (first == argc)
		return serve(&c);
	const char *cmd = argv[first];
	if (!strcmp(cmd, "images"))
		return cmd_images(&c, argc - first, argv + first);
	if (!strcmp(cmd, "users"))
		return cmd_users(&c, argc - first, argv + first);
	if (!strcmp(cmd, "purge"))
		return cmd_purge(&c);
	if (!strcmp(cmd, "servers"))
		return cmd_servers(&c, argc - first, argv + first);
	if (!strcmp(cmd, "keys"))
		return hoodyd_keys_cmd(c.state_dir, argc - first, argv + first);
	fprintf(stderr, "hoodyd: unknown command %s\n", cmd);
	config_usage();
	return 2;
}
