/* HOST:PORT addresses: one parser for the config check and the listener. */
#ifndef ACCELMON_HOSTPORT_H
#define ACCELMON_HOSTPORT_H

#include <stddef.h>

/* Split "HOST:PORT" or "[V6]:PORT" (non-empty host, an IPv6 address in
 * brackets, port 1..65535) into host (brackets removed) and port. NULL when
 * fine, else what is wrong (host and port then unspecified). */
const char *hostport_split(const char *s, char *host, size_t hostlen,
			   char *port, size_t portlen);

/* Whether s splits and its host resolves as the listener will resolve it
 * (getaddrinfo, passive): NULL, or why not (a static string). May wait for
 * the resolver. */
const char *hostport_resolve_problem(const char *s);

#define HOSTPORT_HOST_MAX 256
#define HOSTPORT_PORT_MAX 8

#endif
