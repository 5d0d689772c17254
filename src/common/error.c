#include "common/error.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char *const code_names[E__COUNT] = {
#define HOODY_ERROR_NAME(code, name, meaning) [code] = name,
    HOODY_ERROR_CODES(HOODY_ERROR_NAME)
#undef HOODY_ERROR_NAME
};

const char *err_code_name(enum err_code code)
{
	if ((int)code < 0 || code >= E__COUNT || !code_names[code])
		return "INTERNAL_SERVER_ERROR";
	return code_names[code];
}

static void vset(struct error *err, enum err_code code, const char *suffix, const char *fmt,
		 va_list ap)
{
	if (!err)
		return;
	err->code = code;
	int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	if (suffix && n >= 0 && (size_t)n < sizeof(err->msg))
		snprintf(err->msg + n, sizeof(err->msg) - (size_t)n, ": %s", suffix);
}

int err_set(struct error *err, enum err_code code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vset(err, code, NULL, fmt, ap);
	va_end(ap);
	return -1;
}

int err_sys(struct error *err, enum err_code code, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;
	va_start(ap, fmt);
	vset(err, code, strerror(saved), fmt, ap);
	va_end(ap);
	errno = saved;
	return -1;
}

int err_wrap(struct error *err, const char *fmt, ...)
{
	if (!err)
		return -1;
	char prefix[256], old[sizeof(err->msg)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	/* The wrapped message may lose its tail; the cause stays readable. */
	snprintf(err->msg, sizeof(err->msg), "%.200s: %.300s", prefix, old);
	return -1;
}

void err_clear(struct error *err)
{
	if (err) {
		err->code = E_OK;
		err->msg[0] = '\0';
	}
}
