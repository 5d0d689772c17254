/* Copies: the request is checked here and turned into a create in the
 * target project with the source's settings; the files follow in the
 * background (containers.c, JOB_COPY). */
#include "platform/platform_int.h"
#include "platform/copy.h"

#include <string.h>

#include "common/util.h"
#include "platform/containers.h"
#include "platform/snapshots.h"
#include "platform/validate.h"

#define SNAP_LEAF "containers.features.snapshots"

struct copy_input {
	const char *project_id, *server_id, *name, *ssh_key, *snapshot;
	bool firewall, network;
};

static int parse(const json_t *body, struct copy_input *in, struct error *err)
{
	static const char *const allowed[] = {"target_project_id",
					      "target_server_id",
					      "name",
					      "ssh_public_key",
					      "source_snapshot",
					      "copy_firewall_rules",
					      "copy_network_rules",
					      "kvm",
					      "dev_kvm",
					      NULL};
	bool kvm = false, dev_kvm = false;
	memset(in, 0, sizeof(*in));
	if (fields_object(body, err) < 0 || fields_allowed(body, allowed, err) < 0 ||
	    field_string(body, "target_project_id", 1, 64, false, &in->project_id, NULL, err) < 0 ||
	    field_string(body, "target_server_id", 1, 64, true, &in->server_id, NULL, err) < 0 ||
	    field_string(body, "name", 1, 200, true, &in->name, NULL, err) < 0 ||
	    field_string(body, "ssh_public_key", 1, 16384, true, &in->ssh_key, NULL, err) < 0 ||
	    field_string(body, "source_snapshot", 1, 64, true, &in->snapshot, NULL, err) < 0 ||
	    field_bool(body, "copy_firewall_rules", &in->firewall, err) < 0 ||
	    field_bool(body, "copy_network_rules", &in->network, err) < 0 ||
	    field_bool(body, "kvm", &kvm, err) < 0 ||
	    field_bool(body, "dev_kvm", &dev_kvm, err) < 0)
		return -1;
	if (!in->project_id)
		return err_set(err, E_VALIDATION, "target_project_id is required");
	if (!id_valid(in->project_id) || (in->server_id && !id_valid(in->server_id)))
		return err_set(err, E_INVALID_ID, "Invalid ID format");
	if (kvm || dev_kvm)
		return err_set(err, E_FORBIDDEN, "KVM is not available on this server");
	return 0;
}

/* The create body of the copy: the source's settings, the request's
 * overrides. The SSH key is never inherited (keys are unique). */
static json_t *create_body_new(const struct container *src, const struct copy_input *in)
{
	json_t *env = src->environment_vars ? json_loads(src->environment_vars, 0, NULL) : NULL;
	json_t *b = json_pack("{s:s, s:b, s:b, s:b, s:b, s:b, s:o}", "container_image",
			      src->container_image, "hoody_kit", src->hoody_kit, "dev_kit",
			      src->dev_kit, "ai", src->ai, "autostart", src->autostart, "ramdisk",
			      src->ramdisk, "environment_vars", env ? env : json_object());
	if (src->color)
		json_object_set_new(b, "color", json_string(src->color));
	if (src->comment)
		json_object_set_new(b, "comment", json_string(src->comment));
	if (in->name)
		json_object_set_new(b, "name", json_string(in->name));
	if (in->ssh_key)
		json_object_set_new(b, "ssh_public_key", json_string(in->ssh_key));
	if (in->server_id)
		json_object_set_new(b, "server_id", json_string(in->server_id));
	return b;
}

/* The source container, or, when it was deleted and a snapshot is named, a
 * stand-in made from that snapshot's record. */
static int find_source(struct platform *pf, const struct principal *who, const char *id,
		       const struct copy_input *in, struct container *src, struct error *err)
{
	if (containers_find(pf, who, id, "containers.read", src, err) == 0) {
		if (!container_status_in(src->status, CS_SETTLED))
			return err_set(err, E_STATE_CONFLICT, "Cannot copy a container that is %s",
				       container_status_name(src->status));
		if (!in->snapshot)
			return 0;
	} else if (err->code != E_CONTAINER_NOT_FOUND || !in->snapshot) {
		return err->code == E_CONTAINER_NOT_FOUND
			   ? err_set(err, E_SOURCE_NOT_FOUND, "Source container not found")
			   : -1;
	}
	_cleanup_snapshot_ struct snapshot s = {0};
	if (snapshots_find_visible(pf, who, id, in->snapshot, &s, err) < 0) {
		if (!src->id[0])
			return err_set(err, E_SOURCE_NOT_FOUND, "Source container not found");
		return err_set(err, E_NOT_FOUND, "Snapshot %.64s not found", in->snapshot);
	}
	if (!src->id[0]) {
		snprintf(src->id, sizeof(src->id), "%s", id);
		src->container_image = xstrdup(s.container_image ? s.container_image : "");
		src->autostart = src->ramdisk = true;
	}
	return 0;
}

int containers_copy(struct platform *pf, const struct principal *who, const char *source_id,
		    const json_t *body, json_t **data_new, struct error *err)
{
	struct copy_input in;
	_cleanup_container_ struct container src = {0};
	json_t *data = NULL;
	int rc = -1;
	if (parse(body, &in, err) < 0 || principal_require(who, "containers.create", err) < 0 ||
	    (in.snapshot && principal_require(who, SNAP_LEAF, err) < 0) ||
	    find_source(pf, who, source_id, &in, &src, err) < 0)
		goto out;
	json_t *cbody = create_body_new(&src, &in);
	struct copy_source cs = {.source_id = src.id, .snapshot = in.snapshot};
	rc = containers_create_ex(pf, who, in.project_id, cbody, &cs, &data, err);
	json_decref(cbody);
	if (rc < 0)
		goto out;
	char op_id[OP_ID_LEN + 1];
	op_id_new(op_id);
	json_object_set_new(data, "copy_firewall_rules", json_boolean(in.firewall));
	json_object_set_new(data, "copy_network_rules", json_boolean(in.network));
	json_object_set_new(data, "operation_id", json_string(op_id));
	*data_new = data;
out:
	return rc;
}
