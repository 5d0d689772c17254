/* Proxy aliases (kit-api.md §3.1): {alias}.{server}.containers.{domain}
 * names for one program of one container. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "platform/proxy_internal.h"

/* The 48-hex random form is a case of the same syntax. */
bool proxy_alias_name_valid(const char *s)
{
	size_t len = s ? strlen(s) : 0;
	if (len < PROXY_ALIAS_MIN || len > PROXY_ALIAS_MAX || s[0] == '-' || s[len - 1] == '-')
		return false;
	for (size_t i = 0; i < len; i++)
		if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-'))
			return false;
	return true;
}

bool proxy_alias_name_reserved(const char *s)
{
	return strcmp(s, "containers") == 0 || strcmp(s, "proxy") == 0 ||
	       strcmp(s, "workspaces") == 0 || strncmp(s, "proxy-", 6) == 0 ||
	       strncmp(s, "workspaces-", 11) == 0 || proxy_label_is_container_form(s);
}

int proxy_alias_target(const struct proxy_alias *a, struct proxy_route *r, struct error *err)
{
	const char *p = a->program ? a->program : "";
	if (strcmp(p, "http") == 0 || strcmp(p, "https") == 0) {
		r->kind = p[4] ? PROXY_HTTPS_PORT : PROXY_HTTP_PORT;
		r->port = (int)a->port;
		return 0;
	}
	if (strcmp(p, "ssh") == 0) {
		r->kind = PROXY_SSH;
		return 0;
	}
	for (size_t i = 0; proxy_kit_slugs[i]; i++) {
		if (strcmp(proxy_kit_slugs[i], p) == 0) {
			r->kind = PROXY_KIT;
			snprintf(r->slug, sizeof(r->slug), "%s", p);
			r->index = (int)(a->idx ? a->idx : 1);
			return 0;
		}
	}
	return err_set(err, E_NOT_FOUND, "Alias program %.32s is not served", p);
}
