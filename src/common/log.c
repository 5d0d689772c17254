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

void log_msg(enum log_level level, const char *fmt, ...)
{
	if (level < min_level)
		return;
	char ts[32], line[2048];
	iso8601_now(ts, sizeof(ts));
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* A single fprintf keeps concurrent lines from interleaving. */
	fprintf(stderr, "%s %s %s\n", ts, names[level], line);
}
