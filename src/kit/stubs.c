#include "kit/kit.h"
void system_route(struct req *r) { send_err(r, 501, "todo"); }
void files_route(struct req *r) { send_err(r, 501, "todo"); }
void exec_route(struct req *r) { send_err(r, 501, "todo"); }
