/* hoodyd settings: each one a flag (--state-dir), an environment variable
 * (HOODY_STATE_DIR) and a key of the --config JSON file (state_dir), in that
 * order of precedence over the built-in default. */
#ifndef HOODY_DAEMON_CONFIG_H
#define HOODY_DAEMON_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "platform/platform.h"

struct daemon_config {
	const char *listen;
	const char *state_dir;
	const char *image_dir; /* NULL = <state_dir>/images */
	const char *run_dir;
	const char *bridge;
	const char *subnet;
	const char *ipv6;    /* auto, on, off */
	const char *subnet6; /* NULL = derived ULA /64 */
	const char *domain;
	const char *server_name;
	const char *server_country, *server_region, *server_city, *server_datacenter;
	const char *default_image;
	const char *log_level;
	const char *prespawn;	  /* pool targets, "busybox=2,debian/13+kit=1" */
	const char *config;	  /* the JSON file itself (flag or env only) */
	const char *proxy_listen; /* NULL = no plain HTTP proxy listener */
	const char *proxy_tls_listen;
	const char *tls_cert;
	const char *tls_key;
	int64_t proxy_threads;
	int64_t proxy_max_conns_per_ip;
	int64_t proxy_idle_timeout;
	int64_t proxy_tunnel_timeout;
	int64_t proxy_relay_conns; /* 0 = as many as a worker's descriptor limit allows */
	int64_t fd_limit;	   /* 0 = the hard limit */
	const char *dns;	   /* containers' resolvers; NULL = the host's */
	const char *net_allow;	   /* CIDRs containers may reach despite the deny list */
	const char *ssh_listen;	   /* NULL = no SSH front door */
	int64_t ssh_max_conns;
	int64_t ssh_max_conns_per_ip;
	int64_t ssh_max_conns_per_container;
	int64_t ssh_auth_timeout;
	int64_t max_body;
	int64_t threads;      /* 0 = number of CPUs */
	int64_t conn_timeout; /* seconds */
	int64_t workers;
	int64_t server_max_containers;
	int64_t user_max_containers;
	int64_t claim_ttl;
	int64_t event_retention_days;
	int64_t userns_base;
	bool userns;
	bool no_signing_key;
	bool proxy_open_default;
	struct limits limits;	     /* server-wide container limits (platform/limits.h) */
	int64_t host_memory_reserve; /* RAM no container may take, all together */
	bool no_limits;		     /* containers without limits (benchmarks) */
	bool no_nat;
	bool no_firewall;
};

/* Parses the leading flags of argv; *first_arg is the index of the first
 * non-flag argument (the subcommand), argc when there is none. Prints the
 * problem and returns -1 on a bad flag, value or config file; returns 1 after
 * printing help. */
int config_load(int argc, char **argv, struct daemon_config *cfg, int *first_arg);
void config_usage(void);

#endif
