/* The web config of the HTTP endpoint, in Prometheus exporter-toolkit's
 * format (tls_server_config, http_server_config, basic_auth_users), so an
 * operator's node_exporter file works as it is. Parsed with libyaml; the
 * TLS credentials and priorities are built at load, so a bad file fails
 * there (FILE:LINE: key: problem) and never at a handshake.
 */
#ifndef ACCELMON_WEB_CONFIG_H
#define ACCELMON_WEB_CONFIG_H

#include <gnutls/gnutls.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

/* Go's tls.ClientAuthType values, by their exporter-toolkit names. */
enum web_client_auth {
	WEB_NO_CLIENT_CERT = 0,
	WEB_REQUEST_CLIENT_CERT,
	WEB_REQUIRE_ANY_CLIENT_CERT,
	WEB_VERIFY_CLIENT_CERT_IF_GIVEN,
	WEB_REQUIRE_AND_VERIFY_CLIENT_CERT,
};

/* A file the config reads (certificate, key, CA): what it was at load, so a
 * change (rotation) can be noticed. */
struct web_file {
	char *path; /* resolved against the web config's folder */
	struct stat st;
};

#define WEB_AUTH_CACHE 16
/* bcrypt doubles its work per cost step: 12 is about 250 ms per check here
 * already, and a check runs on the HTTP thread (bounded in rate by the
 * exporter, see prometheus.c). */
#define WEB_MAX_COST 12

struct web_user {
	char *name;
	char *hash; /* bcrypt: $2a$ / $2b$ / $2y$ */
};

struct web_config {
	atomic_int refs;
	char *source;
	/* TLS: on when tls_server_config names a certificate. */
	bool tls;
	struct web_file cert, key, ca; /* ca.path NULL without client_ca_file */
	char *cert_pem, *key_pem;      /* for MHD's start options */
	enum web_client_auth client_auth;
	unsigned min_version, max_version; /* 0x0301 TLS1.0 .. 0x0304 TLS1.3 */
	char *priorities;		   /* GnuTLS priority string */
	gnutls_certificate_credentials_t cred;
	gnutls_priority_t prio;
	/* http_server_config.headers: name, value, name, value...: nheaders pairs. */
	char **headers;
	size_t nheaders;
	struct web_user *users;
	size_t nusers;
	/* Every check costs the file's highest bcrypt cost: an unknown user is
	 * checked against dummy_hash (a bcrypt setting of that cost), a user
	 * of a lower cost c gets settings pad[c]..pad[max_cost - 1] run after
	 * the real check (2^c + 2^c + ... + 2^(max-1) = 2^max). No bcrypt runs
	 * at load: these are salts, not hashes. */
	char *dummy_hash;
	char *pad[WEB_MAX_COST + 1];
	int max_cost;
	/* SHA-256 of user, password and hash of recent successful checks: a
	 * scraper that sends the same credentials every 15 s costs one bcrypt
	 * per reload, not one per scrape (as exporter-toolkit caches). */
	pthread_mutex_t cache_lock;
	unsigned char cache[WEB_AUTH_CACHE][32];
	unsigned ncache, next;
};

/* Read and check the file at path: its YAML, every key, and the files it
 * names (which must load into GnuTLS). 0 and *out (refs 1), or -EINVAL /
 * -ENOMEM with "FILE:LINE: key: problem" (or "FILE: problem") in err. */
int web_config_load(const char *path, struct web_config **out, char *err, size_t errlen);
/* The same from text, for the fuzzer and the unit tests; with load_files
 * false the files named are neither read nor checked (no TLS state). */
int web_config_parse(const char *yaml, size_t len, const char *source, bool load_files,
		     struct web_config **out, char *err, size_t errlen);
struct web_config *web_config_ref(struct web_config *w);
void web_config_unref(struct web_config *w);

/* 1 when a file the config read changed on disk since it was loaded. */
int web_config_files_changed(const struct web_config *w);
/* Take the files as they are now as seen (after a reload of them failed:
 * the next try waits for the next change, not the next second). */
void web_config_files_seen(struct web_config *w);

/* Basic auth: 1 when user and password match a user's bcrypt hash. An
 * unknown user costs the same bcrypt work; the hash output is compared in
 * constant time; a success is remembered (by a digest) so the next check of
 * the same credentials skips bcrypt. 0 otherwise (and when the config has
 * no users: callers check nusers first). */
int web_auth_check(struct web_config *w, const char *user, const char *password);
/* Carry the success cache of from over to w (a reload): its keys hold the
 * hash, so an entry of a user whose hash changed never matches again. */
void web_auth_cache_carry(struct web_config *w, struct web_config *from);
/* 1 when these credentials passed a recent check (the cache above): no
 * bcrypt needed, so callers may let them through a rate limit on checks. */
int web_auth_cached(struct web_config *w, const char *user, const char *password);

#endif
