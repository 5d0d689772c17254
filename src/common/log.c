#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "common/util.h"

static enum log_level min_level = LOG_INFO;
static const char *const names[] = {"DEBUG", "INFO", "WARN", "ERROR"};

void log_set_level(enum log_level level)
{
	min_level = level;
}

/* Control bytes become \xNN, so no message (which may quote a client's path,
 * name or header) can end its line early and forge the next one. */
static void escape_controls(const char *in, char *out, size_t cap)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	for (; *in && o + 5 < cap; in++) {
		unsigned char ch = (unsigned char)*in;
		if (ch < 0x20 || ch == 0x7f) {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		} else {
			out[o++] = (char)ch;
		}
	}
	out[o] = '\0';
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	if (level < min_level)
		return;
	char ts[32], line[2048], safe[4 * sizeof(line)];
	iso8601_now(ts, sizeof(ts));
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	escape_controls(line, safe, sizeof(safe));
	/* A single fprintf keeps concurrent lines from interleaving. */
	fprintf(stderr, "%s %s %s\n", ts, names[level], safe);
}
