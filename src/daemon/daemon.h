/* hoodyd: the composition root. Parses flags/env/config file, opens the
 * runtime, store, platform and HTTP server, and runs the admin subcommands. */
#ifndef HOODY_DAEMON_H
#define HOODY_DAEMON_H

#include "runtime/runtime.h"

/* `hoodyd [flags] images build|ensure|import|list|rm ...`; argv[0] is "images".
 * Returns the process exit code. (images_cmd.c) */
int hoodyd_images_cmd(const struct rt_config *rc, int argc, char **argv);

#endif
