#include "common/error.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char *const code_names[E__COUNT] = {
	[E_OK] = "OK",
	[E_INTERNAL] = "INTERNAL_SERVER_ERROR",
	[E_NOMEM] = "INTERNAL_SERVER_ERROR",
	[E_IO] = "INTERNAL_SERVER_ERROR",
	[E_RUNTIME] = "CONTAINER_HOST_COMMAND_FAILED",
	[E_TIMEOUT] = "CONTAINER_HOST_TIMEOUT",
	[E_VALIDATION] = "VALIDATION_ERROR",
	[E_INVALID_ID] = "INVALID_ID_FORMAT",
	[E_INVALID_CONTAINER_NAME] = "INVALID_CONTAINER_NAME",
	[E_INVALID_ENV_KEY] = "INVALID_ENV_KEY",
	[E_RESERVED_ENV_PREFIX] = "RESERVED_ENV_PREFIX",
	[E_NOOP_STATE] = "VALIDATION_ERROR",
	[E_SERVER_LIMIT] = "SERVER_CONTAINER_LIMIT",
	[E_PROJECT_LIMIT] = "PROJECT_CONTAINER_LIMIT",
	[E_MISSING_TOKEN] = "MISSING_TOKEN",
	[E_INVALID_TOKEN] = "INVALID_TOKEN",
	[E_TOKEN_EXPIRED] = "TOKEN_EXPIRED",
	[E_INVALID_CREDENTIALS] = "INVALID_CREDENTIALS",
	[E_FORBIDDEN] = "INSUFFICIENT_PERMISSIONS",
	[E_ACCOUNT_BANNED] = "ACCOUNT_BANNED",
	[E_ACCESS_DENIED] = "RESOURCE_ACCESS_DENIED",
	[E_EXPIRED_READONLY] = "OPERATION_NOT_PERMITTED_ON_EXPIRED",
	[E_NOT_FOUND] = "RESOURCE_NOT_FOUND",
	[E_CONTAINER_NOT_FOUND] = "CONTAINER_NOT_FOUND",
	[E_SOURCE_NOT_FOUND] = "SOURCE_CONTAINER_NOT_FOUND",
	[E_ROUTE_NOT_FOUND] = "ROUTE_NOT_FOUND",
	[E_METHOD_NOT_ALLOWED] = "METHOD_NOT_ALLOWED",
	[E_CONFLICT] = "CONFLICT",
	[E_NAME_IN_USE] = "CONTAINER_NAME_IN_USE",
	[E_SSH_KEY_IN_USE] = "SSH_PUBLIC_KEY_IN_USE",
	[E_STATE_CONFLICT] = "OPERATION_STATE_CONFLICT",
	[E_OP_IN_PROGRESS] = "CONTAINER_OPERATION_IN_PROGRESS",
	[E_NOT_COPIED] = "CONTAINER_NOT_COPIED",
	[E_RESOURCE_IN_USE] = "RESOURCE_IN_USE",
	[E_PAYLOAD_TOO_LARGE] = "PAYLOAD_TOO_LARGE",
	[E_QUOTA] = "QUOTA_EXCEEDED",
	[E_RATE_LIMITED] = "RATE_LIMITED",
	[E_SIGNING_NOT_CONFIGURED] = "SIGNING_NOT_CONFIGURED",
	[E_DISPATCH_FAILED] = "CONTAINER_CREATE_DISPATCH_FAILED",
	[E_PRECONDITION_REQUIRED] = "PRECONDITION_REQUIRED",
	[E_PRECONDITION_FAILED] = "PRECONDITION_FAILED",
	[E_UNPROCESSABLE] = "VALIDATION_ERROR",
	[E_HEADERS_TOO_LARGE] = "REQUEST_HEADERS_TOO_LARGE",
	[E_BAD_GATEWAY] = "BAD_GATEWAY",
	[E_GATEWAY_TIMEOUT] = "GATEWAY_TIMEOUT",
};

const char *err_code_name(enum err_code code)
{
	if ((int)code < 0 || code >= E__COUNT || !code_names[code])
		return "INTERNAL_SERVER_ERROR";
	return code_names[code];
}

static void vset(struct error *err, enum err_code code, const char *suffix, const char *fmt,
		 va_list ap)
{
	if (!err)
		return;
	err->code = code;
	int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	if (suffix && n >= 0 && (size_t)n < sizeof(err->msg))
		snprintf(err->msg + n, sizeof(err->msg) - (size_t)n, ": %s", suffix);
}

int err_set(struct error *err, enum err_code code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vset(err, code, NULL, fmt, ap);
	va_end(ap);
	return -1;
}

int err_sys(struct error *err, enum err_code code, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;
	va_start(ap, fmt);
	vset(err, code, strerror(saved), fmt, ap);
	va_end(ap);
	errno = saved;
	return -1;
}

int err_wrap(struct error *err, const char *fmt, ...)
{
	if (!err)
		return -1;
	char prefix[256], old[sizeof(err->msg)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	/* The wrapped message may lose its tail; the cause stays readable. */
	snprintf(err->msg, sizeof(err->msg), "%.200s: %.300s", prefix, old);
	return -1;
}

void err_clear(struct error *err)
{
	if (err) {
		err->code = E_OK;
		err->msg[0] = '\0';
	}
}
