/* The Hoody error envelope {statusCode, error, message, code} and the one
 * map from error codes to HTTP statuses (docs/ERRORS.md). For the edges
 * only (src/api, src/proxy, src/ssh): the HTTP status of a code is an edge
 * fact, and scripts/include_graph.py fails a lower layer that includes this. */
#ifndef HOODY_COMMON_ENVELOPE_H
#define HOODY_COMMON_ENVELOPE_H

#include <jansson.h>

#include "common/error.h"

/* A switch with no default: a new code without a status fails the build. */
int err_http_status(enum err_code code);

/* The envelope of err (NULL = E_INTERNAL) into *env_new; returns its HTTP
 * status. status 0 answers the code's own status; another status overrides
 * it (and "error" becomes that status's reason phrase), as the proxy's 407
 * does. A 500 logs err's message and tells the client only "Internal server
 * error". */
int err_envelope(const struct error *err, int status, json_t **env_new);

#endif
