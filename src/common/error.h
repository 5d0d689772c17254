/* Error convention: a failing function returns a negative value and fills a
 * struct error. Codes are domain facts; only the edges map them to HTTP
 * (common/envelope.h). */
#ifndef HOODY_COMMON_ERROR_H
#define HOODY_COMMON_ERROR_H

#include <stdarg.h>

/* One row per code: X(enum constant, documented machine name, what it means).
 * The name is what clients see in "error.code"; several codes may share one
 * (E_IO and E_NOMEM are both INTERNAL_SERVER_ERROR to a client). The HTTP
 * status of each code is an edge fact: common/envelope.c, for the edges only. */
#define HOODY_ERROR_CODES(X)                                                                       \
	X(E_OK, "OK", "success")                                                                   \
	X(E_INTERNAL, "INTERNAL_SERVER_ERROR", "a bug or an unexpected host state")                \
	X(E_NOMEM, "INTERNAL_SERVER_ERROR", "an allocation a caller can survive failed")           \
	X(E_IO, "INTERNAL_SERVER_ERROR", "host I/O failed")                                        \
	X(E_RUNTIME, "CONTAINER_HOST_COMMAND_FAILED", "crun or the kernel refused")                \
	X(E_TIMEOUT, "CONTAINER_HOST_TIMEOUT", "a host command did not finish in time")            \
	X(E_VALIDATION, "VALIDATION_ERROR", "a field is malformed or out of bounds")               \
	X(E_INVALID_ID, "INVALID_ID_FORMAT", "an id is not of its resource's form")                \
	X(E_INVALID_CONTAINER_NAME, "INVALID_CONTAINER_NAME", "container name rules broken")       \
	X(E_INVALID_ENV_KEY, "INVALID_ENV_KEY", "environment key rules broken")                    \
	X(E_RESERVED_ENV_PREFIX, "RESERVED_ENV_PREFIX", "environment key in the HOODY_ space")     \
	X(E_NOOP_STATE, "VALIDATION_ERROR", "the operation would change nothing")                  \
	X(E_SERVER_LIMIT, "SERVER_CONTAINER_LIMIT", "the server holds all it may")                 \
	X(E_PROJECT_LIMIT, "PROJECT_CONTAINER_LIMIT", "the project holds all it may")              \
	X(E_MISSING_TOKEN, "MISSING_TOKEN", "no credentials sent")                                 \
	X(E_INVALID_TOKEN, "INVALID_TOKEN", "credentials forged, revoked or malformed")            \
	X(E_TOKEN_EXPIRED, "TOKEN_EXPIRED", "credentials past their lifetime")                     \
	X(E_INVALID_CREDENTIALS, "INVALID_CREDENTIALS", "login with a wrong name or password")     \
	X(E_FORBIDDEN, "INSUFFICIENT_PERMISSIONS", "the principal lacks the permission")           \
	X(E_ACCOUNT_BANNED, "ACCOUNT_BANNED", "the account is banned")                             \
	X(E_ACCESS_DENIED, "RESOURCE_ACCESS_DENIED",                                               \
	  "the resource is outside the principal's tenancy")                                       \
	X(E_EXPIRED_READONLY, "OPERATION_NOT_PERMITTED_ON_EXPIRED",                                \
	  "the server or container expired")                                                       \
	X(E_NOT_FOUND, "RESOURCE_NOT_FOUND", "no such resource")                                   \
	X(E_CONTAINER_NOT_FOUND, "CONTAINER_NOT_FOUND", "no such container")                       \
	X(E_SOURCE_NOT_FOUND, "SOURCE_CONTAINER_NOT_FOUND", "the container to copy from is gone")  \
	X(E_ROUTE_NOT_FOUND, "ROUTE_NOT_FOUND", "no such API path")                                \
	X(E_METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED", "the path exists, not with this method")     \
	X(E_CONFLICT, "CONFLICT", "a uniqueness rule broken")                                      \
	X(E_NAME_IN_USE, "CONTAINER_NAME_IN_USE", "the container name is taken")                   \
	X(E_SSH_KEY_IN_USE, "SSH_PUBLIC_KEY_IN_USE", "the SSH key belongs to another account")     \
	X(E_STATE_CONFLICT, "OPERATION_STATE_CONFLICT", "not legal in the current state")          \
	X(E_OP_IN_PROGRESS, "CONTAINER_OPERATION_IN_PROGRESS",                                     \
	  "another operation holds the container")                                                 \
	X(E_NOT_COPIED, "CONTAINER_NOT_COPIED", "the container was not made by a copy")            \
	X(E_RESOURCE_IN_USE, "RESOURCE_IN_USE", "something still refers to it")                    \
	X(E_PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE", "the body is over its bound")                  \
	X(E_QUOTA, "QUOTA_EXCEEDED", "an account quota is used up")                                \
	X(E_RATE_LIMITED, "RATE_LIMITED", "too many attempts")                                     \
	X(E_SIGNING_NOT_CONFIGURED, "SIGNING_NOT_CONFIGURED", "no claim signing key")              \
	X(E_DISPATCH_FAILED, "CONTAINER_CREATE_DISPATCH_FAILED", "create could not be queued")     \
	X(E_PRECONDITION_REQUIRED, "PRECONDITION_REQUIRED", "If-Match missing")                    \
	X(E_PRECONDITION_FAILED, "PRECONDITION_FAILED", "If-Match stale or malformed")             \
	X(E_UNPROCESSABLE, "VALIDATION_ERROR", "a required part is missing")                       \
	X(E_HEADERS_TOO_LARGE, "REQUEST_HEADERS_TOO_LARGE", "request headers over their bound")    \
	X(E_BAD_GATEWAY, "BAD_GATEWAY", "a proxied backend is down or broke the protocol")         \
	X(E_GATEWAY_TIMEOUT, "GATEWAY_TIMEOUT", "a proxied backend did not answer in time")

enum err_code {
#define HOODY_ERROR_ENUM(code, name, meaning) code,
	HOODY_ERROR_CODES(HOODY_ERROR_ENUM)
#undef HOODY_ERROR_ENUM
	    E__COUNT
};

struct error {
	enum err_code code;
	char msg[512];
};

/* Sets err (if non-NULL) and returns -1 so callers can `return err_set(...)`. */
int err_set(struct error *err, enum err_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Same, appending ": strerror(errno)". */
int err_sys(struct error *err, enum err_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prefixes an existing message: "what: old message". Keeps the code. */
int err_wrap(struct error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void err_clear(struct error *err);
/* The documented machine name of a code, e.g. "CONTAINER_NAME_IN_USE". */
const char *err_code_name(enum err_code code);

#endif
