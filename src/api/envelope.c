/* The Hoody JSON envelopes, the one map from error codes to HTTP statuses,
 * and the query/param parsers shared by every resource file. */
#include <stdlib.h>
#include <string.h>

#include "api/http.h"
#include "common/log.h"

int api_http_status(enum err_code code)
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

const char *api_reason_phrase(int status)
{
	switch (status) {
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 407:
		return "Proxy Authentication Required";
	case 409:
		return "Conflict";
	case 412:
		return "Precondition Failed";
	case 413:
		return "Payload Too Large";
	case 422:
		return "Unprocessable Entity";
	case 428:
		return "Precondition Required";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	default:
		return "Internal Server Error";
	}
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

void resp_ok(struct resp *out, int status, const char *message, json_t *data_steal)
{
	json_decref(out->json);
	out->status = status;
	out->json = json_pack("{s:i, s:s, s:o}", "statusCode", status, "message", message, "data",
			      data_steal ? data_steal : json_null());
}

void resp_err(struct resp *out, const struct error *err, json_t *data_steal)
{
	enum err_code code = err ? err->code : E_INTERNAL;
	int status = api_http_status(code);
	const char *msg = err && err->msg[0] ? err->msg : default_message(code);
	/* Host details of internal failures go to the log, not to the client. */
	if (status == 500) {
		log_error("internal error (%s): %s", err_code_name(code), msg ? msg : "?");
		msg = "Internal server error";
	}
	json_decref(out->json);
	out->status = status;
	out->json = json_pack(
	    "{s:i, s:s, s:s, s:s}", "statusCode", status, "error",
	    error_field_is_code(code) ? err_code_name(code) : api_reason_phrase(status), "message",
	    msg ? msg : api_reason_phrase(status), "code", err_code_name(code));
	if (data_steal)
		json_object_set_new(out->json, "data", data_steal);
}

void resp_result(struct resp *out, int rc, const struct error *err, int status, const char *message,
		 json_t *data_steal)
{
	if (rc < 0) {
		json_decref(data_steal);
		resp_err(out, err, NULL);
	} else {
		resp_ok(out, status, message, data_steal);
	}
}

int req_id_param(struct req *r, size_t idx, const char **out, struct error *err)
{
	if (idx >= r->nparams || !id_valid(r->params[idx]))
		return err_set(err, E_INVALID_ID, "Invalid ID format");
	*out = r->params[idx];
	return 0;
}

/* Plain decimal, no sign or spaces, in [min, max]. */
int req_int_query(struct req *r, const char *key, int64_t dflt, int64_t min, int64_t max,
		  int64_t *out, struct error *err)
{
	const char *v = req_query(r, key);
	*out = dflt;
	if (!v)
		return 0;
	char *end;
	long long n = strtoll(v, &end, 10);
	if (!*v || *end || v[0] == '+' || v[0] == ' ' || n < min || n > max)
		return err_set(err, E_VALIDATION, "%s must be an integer from %lld to %lld", key,
			       (long long)min, (long long)max);
	*out = n;
	return 0;
}

int req_list_query(struct req *r, int64_t default_limit, int64_t max_limit,
		   const char *const *sort_allowed, const char *default_sort, struct list_query *q,
		   struct error *err)
{
	memset(q, 0, sizeof(*q));
	q->user_id = r->who.user_id;
	if (req_int_query(r, "page", 1, 1, 1000000, &q->page, err) < 0 ||
	    req_int_query(r, "limit", default_limit, 1, max_limit, &q->limit, err) < 0)
		return -1;
	const char *sort = req_query(r, "sort_by");
	q->sort_by = default_sort;
	if (sort) {
		size_t i = 0;
		while (sort_allowed && sort_allowed[i] && strcmp(sort_allowed[i], sort) != 0)
			i++;
		if (!sort_allowed || !sort_allowed[i]) {
			char list[256] = "";
			for (size_t j = 0; sort_allowed && sort_allowed[j]; j++) {
				strncat(list, j ? ", " : "", sizeof(list) - strlen(list) - 1);
				strncat(list, sort_allowed[j], sizeof(list) - strlen(list) - 1);
			}
			return err_set(err, E_VALIDATION, "sort_by must be one of: %s", list);
		}
		q->sort_by = sort_allowed[i];
	}
	const char *order = req_query(r, "sort_order");
	q->desc = true;
	if (order) {
		if (strcmp(order, "asc") != 0 && strcmp(order, "desc") != 0)
			return err_set(err, E_VALIDATION, "sort_order must be asc or desc");
		q->desc = order[0] == 'd';
	}
	const char *realm = req_query(r, "realm_id");
	if (realm && !id_valid(realm))
		return err_set(err, E_VALIDATION,
			       "realm_id must be a 24-character lowercase hex id");
	q->realm_id = realm ? realm : (r->who.scoped_realm[0] ? r->who.scoped_realm : NULL);
	return 0;
}

int req_bool_query(struct req *r, const char *key, bool dflt, bool *out, struct error *err)
{
	const char *v = req_query(r, key);
	*out = dflt;
	if (!v)
		return 0;
	if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
		*out = true;
	else if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
		*out = false;
	else
		return err_set(err, E_VALIDATION, "%s must be true or false", key);
	return 0;
}
