/* {p}-{c}-ssh.{server}.containers.{domain}: once the platform has allowed
 * the request (program "ssh"), its backend is the SSH front door itself,
 * reached through the callback the composition root gave the proxy (a
 * socket pair, no network). The front door answers the GET description and
 * the WebSocket upgrade (src/ssh/bridge.c); after a CONNECT the pair
 * carries SSH's bytes as they are. docs/SSH.md "Through HTTPS". */
#include "proxy/internal.h"

void sshbridge_connect(struct conn *c)
{
	const struct proxy_config *cfg = &c->lp->srv->cfg;
	struct error err = {0};
	if (!cfg->ssh_bridge) {
		err_set(&err, E_BAD_GATEWAY,
			"This server has no SSH front door (hoodyd --ssh-listen)");
		backend_refuse(c, &err);
		return;
	}
	int fd = cfg->ssh_bridge(cfg->ssh_bridge_ctx, c->route.container_id, c->ip,
				 c->tunnel_on_connect, &err);
	if (fd < 0) {
		err.code = E_BAD_GATEWAY;
		backend_refuse(c, &err);
		return;
	}
	backend_adopt(c, fd, false);
}
