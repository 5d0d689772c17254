/* The web terminal at / of the terminal host: an HTML page and the pinned
 * xterm.js, embedded at build time (src/kit/www). */
#include <string.h>

#include "kit/kit.h"

extern const char kit_www_index[], kit_www_index_end[];
extern const char kit_www_xterm_js[], kit_www_xterm_js_end[];
extern const char kit_www_xterm_css[], kit_www_xterm_css_end[];

static void asset(struct req *r, const char *ctype, const char *b, const char *e, const char *extra)
{
	send_body(r, 200, ctype, b, (size_t)(e - b), extra);
}

void www_route(struct req *r)
{
	if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0) {
		send_err(r, 405, "the web terminal answers GET only");
		return;
	}
	if (strcmp(r->path, "/") == 0)
		asset(r, "text/html; charset=utf-8", kit_www_index, kit_www_index_end,
		      "Cache-Control: no-store\r\n");
	else if (strcmp(r->path, "/__kit/xterm.js") == 0)
		asset(r, "application/javascript", kit_www_xterm_js, kit_www_xterm_js_end,
		      "Cache-Control: max-age=86400\r\n");
	else if (strcmp(r->path, "/__kit/xterm.css") == 0)
		asset(r, "text/css", kit_www_xterm_css, kit_www_xterm_css_end,
		      "Cache-Control: max-age=86400\r\n");
	else
		send_err(r, 404, "no route %s %s", r->method, r->path);
}
