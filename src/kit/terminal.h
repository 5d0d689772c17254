/* Contracts between terminal.c and execute.c. */
#ifndef HOODY_KIT_TERMINAL_H
#define HOODY_KIT_TERMINAL_H

#include "kit/kit.h"

struct envlist {
	char *v[65];
	int n;
};

/* terminal_id of the query (absent: dflt; malformed: 1). */
int term_id_param(struct req *r, int dflt);
/* shell/user/cwd/cwd_auto_create/env of a query, with their storage. */
struct spawn_query {
	struct spawn sp;
	char shell[256], user[256], cwd[4096];
	struct envlist env;
};
void spawn_from_query(struct req *r, struct spawn_query *q);
void envlist_free(struct envlist *e);
void envlist_add(struct envlist *e, const char *kv);
void term_history_note(int id, const char *cmd);
void execute_route(struct req *r);

#endif
