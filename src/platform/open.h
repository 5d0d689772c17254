/* The platform's start and stop: platform_open opens every module of the
 * platform in order (servers, containers and their recovery, the snapshot
 * sweeper, the out-of-memory watcher, prespawn), platform_close stops them.
 * The one module that includes the others to start them; only the
 * composition root (src/daemon) and tests call it. */
#ifndef HOODY_PLATFORM_OPEN_H
#define HOODY_PLATFORM_OPEN_H

#include "platform/platform.h"

int platform_open(const struct platform_config *cfg, struct store *st, struct runtime *rt,
		  struct platform **out_new, struct error *err);
void platform_close(struct platform *pf);

#endif
