/* The Hoody JSON envelopes (the error one and the map from error codes to
 * HTTP statuses are common/envelope.c's, shared with the proxy) and the
 * query/param parsers shared by every resource file. */
#include <stdlib.h>
#include <string.h>

#include "api/http.h"
#include "common/envelope.h"

void resp_ok(struct resp *out, int status, const char *message, json_t *data_steal)
{
	json_decref(out->json);
	out->status = status;
	out->json = json_pack("{s:i, s:s, s:o}", "statusCode", status, "message", message, "data",
			      data_steal ? data_steal : json_null());
}

void resp_err(struct resp *out, const struct error *err, json_t *data_steal)
{
	json_decref(out->json);
	out->status = err_envelope(err, 0, &out->json);
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
