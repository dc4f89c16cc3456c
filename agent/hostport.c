/* HOST:PORT addresses ("127.0.0.1:9917", "[::1]:9917", "node:9917"): the one
 * parser used by the config check (an error names the problem) and by the
 * Prometheus exporter when it opens its listening socket. */
#include <netdb.h>
#include <string.h>
#include <sys/socket.h>

#include "hostport.h"

const char *hostport_split(const char *s, char *host, size_t hostlen,
			   char *port, size_t portlen)
{
	const char *colon, *p, *h = s;
	size_t hl;
	unsigned long n = 0;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close)
			return "missing ']' after the IPv6 address";
		if (close == s + 1)
			return "empty host";
		if (close[1] != ':')
			return "missing :PORT";
		h = s + 1;
		hl = (size_t)(close - h);
		p = close + 2;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return "missing :PORT";
		if (colon == s)
			return "empty host";
		if (memchr(s, ':', (size_t)(colon - s)))
			return "an IPv6 address needs brackets";
		hl = (size_t)(colon - s);
		p = colon + 1;
	}
	if (!*p)
		return "missing port number";
	for (const char *c = p; *c; c++) {
		if (*c < '0' || *c > '9')
			return "port is not a number";
		n = n * 10 + (unsigned long)(*c - '0');
		if (n > 65535)
			return "port out of range 1..65535";
	}
	if (n == 0)
		return "port out of range 1..65535";
	if (hl >= hostlen || strlen(p) >= portlen)
		return "host name too long";
	memcpy(host, h, hl);
	host[hl] = '\0';
	strcpy(port, p);
	return NULL;
}

const char *hostport_resolve_problem(const char *s)
{
	char host[HOSTPORT_HOST_MAX], port[HOSTPORT_PORT_MAX];
	const char *why = hostport_split(s, host, sizeof(host), port, sizeof(port));
	struct addrinfo hints, *res = NULL;
	int rc;

	if (why)
		return why;
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0)
		return gai_strerror(rc);
	freeaddrinfo(res);
	return NULL;
}
