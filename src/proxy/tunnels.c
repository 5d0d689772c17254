/* Tunnels held by a loop (TLS ones, and those no relay worker took) decided
 * again when access changes (docs/PROXY.md "What closes a tunnel"). The
 * platform says which changes touch which tunnel and whether a tunnel is
 * still allowed; this file only applies that: it polls the platform's
 * change number on every turn, marks the tunnels touched, and decides at
 * most RECHECK_BATCH of them per turn, so a change that touches thousands
 * of tunnels delays other connections by one batch at a time. Tunnels held
 * by relay workers are decided by the relay supervisor (relay.c). */
#include "proxy/internal.h"

static void mark(struct conn *c)
{
	if (c->recheck)
		return;
	c->recheck = true;
	c->lp->nrecheck++;
}

static void unmark(struct conn *c)
{
	if (!c->recheck)
		return;
	c->recheck = false;
	c->lp->nrecheck--;
}

/* Touched tunnels first; then a batch of decisions. */
void tunnels_poll(struct loop *lp)
{
	struct platform *pf = lp->srv->pf;
	if (proxy_access_seq(pf) != lp->access_seq) {
		struct proxy_changes *chs = proxy_changes_new(pf, lp->access_seq, &lp->access_seq);
		for (struct conn *c = lp->head.next, *next; c != &lp->head; c = next) {
			next = c->next;
			if (!c->grant)
				continue;
			enum proxy_touch t = proxy_changes_touch(chs, c->grant);
			if (t == PROXY_CLOSE)
				conn_close(c);
			else if (t == PROXY_RECHECK)
				mark(c);
		}
		proxy_changes_free(chs);
	}
	int done = 0;
	for (struct conn *c = lp->head.next, *next;
	     c != &lp->head && lp->nrecheck > 0 && done < RECHECK_BATCH; c = next) {
		next = c->next;
		if (!c->recheck)
			continue;
		unmark(c);
		done++;
		if (c->grant && !proxy_grant_allows(pf, c->grant))
			conn_close(c);
	}
}

void tunnels_due(struct loop *lp)
{
	for (struct conn *c = lp->head.next; c != &lp->head; c = c->next)
		if (c->grant && proxy_grant_due(c->grant))
			mark(c);
}
