/* Error convention: a failing function returns a negative value and fills a
 * struct error. Codes are domain facts; only src/api maps them to HTTP. */
#ifndef HOODY_COMMON_ERROR_H
#define HOODY_COMMON_ERROR_H

#include <stdarg.h>

enum err_code {
	E_OK = 0,
	E_INTERNAL,                 /* INTERNAL_SERVER_ERROR */
	E_NOMEM,
	E_IO,                       /* host I/O failed */
	E_RUNTIME,                  /* CONTAINER_HOST_COMMAND_FAILED: crun or kernel refused */
	E_TIMEOUT,                  /* CONTAINER_HOST_TIMEOUT */
	E_VALIDATION,               /* VALIDATION_ERROR */
	E_INVALID_ID,               /* INVALID_ID_FORMAT */
	E_INVALID_CONTAINER_NAME,   /* INVALID_CONTAINER_NAME */
	E_INVALID_ENV_KEY,          /* INVALID_ENV_KEY */
	E_RESERVED_ENV_PREFIX,      /* RESERVED_ENV_PREFIX */
	E_NOOP_STATE,               /* 400: operation would change nothing (start a running one) */
	E_SERVER_LIMIT,             /* SERVER_CONTAINER_LIMIT */
	E_PROJECT_LIMIT,            /* PROJECT_CONTAINER_LIMIT */
	E_MISSING_TOKEN,            /* MISSING_TOKEN */
	E_INVALID_TOKEN,            /* INVALID_TOKEN */
	E_TOKEN_EXPIRED,            /* TOKEN_EXPIRED */
	E_INVALID_CREDENTIALS,      /* INVALID_CREDENTIALS (login) */
	E_FORBIDDEN,                /* INSUFFICIENT_PERMISSIONS */
	E_ACCOUNT_BANNED,           /* ACCOUNT_BANNED */
	E_ACCESS_DENIED,            /* RESOURCE_ACCESS_DENIED */
	E_EXPIRED_READONLY,         /* OPERATION_NOT_PERMITTED_ON_EXPIRED */
	E_NOT_FOUND,                /* RESOURCE_NOT_FOUND */
	E_CONTAINER_NOT_FOUND,      /* CONTAINER_NOT_FOUND */
	E_SOURCE_NOT_FOUND,         /* SOURCE_CONTAINER_NOT_FOUND */
	E_ROUTE_NOT_FOUND,          /* ROUTE_NOT_FOUND */
	E_METHOD_NOT_ALLOWED,       /* METHOD_NOT_ALLOWED */
	E_CONFLICT,                 /* CONFLICT (generic uniqueness) */
	E_NAME_IN_USE,              /* CONTAINER_NAME_IN_USE */
	E_SSH_KEY_IN_USE,           /* SSH_PUBLIC_KEY_IN_USE */
	E_STATE_CONFLICT,           /* OPERATION_STATE_CONFLICT */
	E_OP_IN_PROGRESS,           /* CONTAINER_OPERATION_IN_PROGRESS */
	E_NOT_COPIED,               /* CONTAINER_NOT_COPIED */
	E_RESOURCE_IN_USE,          /* RESOURCE_IN_USE */
	E_PAYLOAD_TOO_LARGE,        /* PAYLOAD_TOO_LARGE */
	E_QUOTA,                    /* QUOTA_EXCEEDED */
	E_RATE_LIMITED,             /* RATE_LIMITED */
	E_SIGNING_NOT_CONFIGURED,   /* SIGNING_NOT_CONFIGURED */
	E_DISPATCH_FAILED,          /* CONTAINER_CREATE_DISPATCH_FAILED */
	E_PRECONDITION_REQUIRED,    /* PRECONDITION_REQUIRED: If-Match missing (428) */
	E_PRECONDITION_FAILED,      /* PRECONDITION_FAILED: If-Match stale or malformed (412) */
	E_UNPROCESSABLE,            /* VALIDATION_ERROR with 422 (a required part missing) */
	E_HEADERS_TOO_LARGE,        /* REQUEST_HEADERS_TOO_LARGE (431, proxy edge) */
	E_BAD_GATEWAY,              /* BAD_GATEWAY: a proxied backend is down or broke the protocol */
	E_GATEWAY_TIMEOUT,          /* GATEWAY_TIMEOUT: a proxied backend did not answer in time */
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
