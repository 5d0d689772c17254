/* HTTP reason phrases: one table for every edge that writes a status line
 * or an envelope's "error" (the API, the proxy, the SSH bridge and the Kit,
 * which links this file alone: libc only). */
#ifndef HOODY_COMMON_HTTP_STATUS_H
#define HOODY_COMMON_HTTP_STATUS_H

/* "Not Found" for 404. A status the table does not list gets the name of its
 * class (RFC 9110 §15): "Informational", "Successful", "Redirection",
 * "Client Error", and "Server Error" for 5xx and anything out of range. */
const char *http_reason(int status);

#endif
