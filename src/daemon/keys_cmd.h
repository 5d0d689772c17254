/* `hoodyd keys`: the signing keys of container claims and response
 * signatures, kept under <state-dir>/signing (see docs/CLAIMS.md). */
#ifndef HOODY_DAEMON_KEYS_CMD_H
#define HOODY_DAEMON_KEYS_CMD_H

/* `hoodyd [--state-dir DIR] keys list|rotate`; argv[0] is "keys". Works
 * while the daemon runs: it picks up the new key with its next signature.
 * Returns the process exit code. */
int hoodyd_keys_cmd(const char *state_dir, int argc, char **argv);

#endif
