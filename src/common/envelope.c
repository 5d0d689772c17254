/* The Hoody error envelope and the one map from error codes to HTTP
 * statuses. An edge fact kept here so that every edge (the API, the proxy,
 * the SSH bridge) answers alike without including another edge's headers;
 * below the edges nothing may include it (scripts/include_graph.py). */
#include <stdbool.h>
#include <stddef.h>

#include "common/envelope.h"
#include "common/http_status.h"
#include "common/log.h"

int err_http_status(enum err_code code)
{
	switch (code) {
	case E_VALIDATION:
	case E_INVALID_ID:
	case E_INVALID_CONTAINER_NAME:
	case E_INVALID_ENV_KEY:
	case E_RESERVED_ENV_PREFIX:
	case E_NOOP_STATE:
	case E_SERVER_LIMIT:
	case E_PROJECT_LIMIT:
		return 400;
	case E_MISSING_TOKEN:
	case E_INVALID_TOKEN:
	case E_TOKEN_EXPIRED:
	case E_INVALID_CREDENTIALS:
		return 401;
	case E_FORBIDDEN:
	case E_ACCOUNT_BANNED:
	case E_ACCESS_DENIED:
	case E_EXPIRED_READONLY:
		return 403;
	case E_NOT_FOUND:
	case E_CONTAINER_NOT_FOUND:
	case E_SOURCE_NOT_FOUND:
	case E_ROUTE_NOT_FOUND:
		return 404;
	case E_METHOD_NOT_ALLOWED:
		return 405;
	case E_CONFLICT:
	case E_NAME_IN_USE:
	case E_SSH_KEY_IN_USE:
	case E_STATE_CONFLICT:
	case E_OP_IN_PROGRESS:
	case E_NOT_COPIED:
	case E_RESOURCE_IN_USE:
		return 409;
	case E_PRECONDITION_FAILED:
		return 412;
	case E_PAYLOAD_TOO_LARGE:
		return 413;
	case E_PRECONDITION_REQUIRED:
		return 428;
	case E_QUOTA:
	case E_UNPROCESSABLE:
		return 422;
	case E_RATE_LIMITED:
		return 429;
	case E_HEADERS_TOO_LARGE:
		return 431;
	case E_RUNTIME:
	case E_BAD_GATEWAY:
		return 502;
	case E_SIGNING_NOT_CONFIGURED:
		return 503;
	case E_TIMEOUT:
	case E_GATEWAY_TIMEOUT:
		return 504;
	case E_OK:
	case E_INTERNAL:
	case E_NOMEM:
	case E_IO:
	case E_DISPATCH_FAILED:
	case E__COUNT:
		break;
	}
	return 500;
}

/* Newer codes whose envelope carries the code itself in "error" (reference §1.4). */
static bool error_field_is_code(enum err_code code)
{
	return code == E_OP_IN_PROGRESS || code == E_EXPIRED_READONLY ||
	       code == E_SIGNING_NOT_CONFIGURED || code == E_RUNTIME || code == E_TIMEOUT ||
	       code == E_DISPATCH_FAILED;
}

static const char *default_message(enum err_code code)
{
	switch (code) {
	case E_VALIDATION:
		return "Validation failed";
	case E_INVALID_ID:
		return "Invalid ID format";
	case E_MISSING_TOKEN:
		return "Authentication token required";
	case E_INVALID_TOKEN:
		return "Invalid authentication token";
	case E_TOKEN_EXPIRED:
		return "Token has expired";
	case E_INVALID_CREDENTIALS:
		return "Invalid credentials";
	case E_FORBIDDEN:
		return "Insufficient permissions";
	case E_ACCOUNT_BANNED:
		return "Account is banned";
	case E_ACCESS_DENIED:
		return "Access denied";
	case E_NOT_FOUND:
		return "Resource not found";
	case E_CONTAINER_NOT_FOUND:
		return "Container not found";
	case E_ROUTE_NOT_FOUND:
		return "Route not found";
	case E_PAYLOAD_TOO_LARGE:
		return "Request body too large";
	case E_QUOTA:
		return "Quota exceeded";
	default:
		return NULL;
	}
}

int err_envelope(const struct error *err, int status, json_t **env_new)
{
	enum err_code code = err ? err->code : E_INTERNAL;
	int own = err_http_status(code);
	const char *msg = err && err->msg[0] ? err->msg : default_message(code);
	/* Host details of internal failures go to the log, not to the client. */
	if (own == 500) {
		log_error("internal error (%s): %s", err_code_name(code), msg ? msg : "?");
		msg = "Internal server error";
	}
	*env_new = json_pack("{s:i, s:s, s:s, s:s}", "statusCode", own, "error",
			     error_field_is_code(code) ? err_code_name(code) : http_reason(own),
			     "message", msg ? msg : http_reason(own), "code", err_code_name(code));
	if (status) {
		json_object_set_new(*env_new, "statusCode", json_integer(status));
		json_object_set_new(*env_new, "error", json_string(http_reason(status)));
	}
	return status ? status : own;
}
