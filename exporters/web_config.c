/* The web config file (exporter-toolkit format) for the HTTP endpoint:
 * YAML read with libyaml into struct web_config, every key checked with
 * "FILE:LINE: key: problem"; the TLS credentials and priorities are built
 * here, and basic auth checks bcrypt hashes with libxcrypt's crypt_r.
 */
#include <crypt.h>
#include <errno.h>
#include <gnutls/crypto.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "agent/yaml_depth.h"
#include "exporters/web_config.h"

/* A web config is a few lines; anything bigger is not one. */
#define WEB_MAX_BYTES (1 << 20)
/* Every key of the format is at most three levels deep. */
#define WEB_MAX_DEPTH 16

struct wparse {
	const char *source;
	const char *dir; /* of the file, for relative paths; NULL: cwd */
	bool load_files;
	yaml_document_t doc;
	struct web_config *w;
	char *err;
	size_t errlen;
	/* tls_server_config, collected before the files are read */
	const char *cert_file, *key_file, *ca_file;
	unsigned long cert_line, key_line, ca_line, auth_line, tls_line;
	const yaml_node_t *ciphers, *curves;
	bool prefer_server;
};

__attribute__((format(printf, 4, 5))) static int
perr(struct wparse *p, const yaml_node_t *n, const char *key, const char *fmt, ...)
{
	char why[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (n)
		snprintf(p->err, p->errlen, "%s:%lu: %s: %s", p->source,
			 (unsigned long)n->start_mark.line + 1, key, why);
	else
		snprintf(p->err, p->errlen, "%s: %s: %s", p->source, key, why);
	/* One line whatever the quoted value held (a line break inside a
	 * flow scalar, found by fuzz_web_config). */
	for (char *c = p->err; *c; c++)
		if (*c == '\n' || *c == '\r')
			*c = ' ';
	return -EINVAL;
}

static const char *scalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value
						: NULL;
}

static int want_scalar(struct wparse *p, const yaml_node_t *n, const char *key,
		       const char **out)
{
	*out = scalar(n);
	if (!*out)
		return perr(p, n, key, "expected a string");
	return 0;
}

static int parse_bool(struct wparse *p, const yaml_node_t *n, const char *key, bool *out)
{
	const char *s = scalar(n);

	if (s && (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "yes")))
		*out = true;
	else if (s && (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "no")))
		*out = false;
	else
		return perr(p, n, key, "expected true or false");
	return 0;
}

static int version_of(const char *s, unsigned *v)
{
	static const struct {
		const char *name;
		unsigned v;
	} t[] = {
	    {"TLS10", 0x0301}, {"TLS11", 0x0302}, {"TLS12", 0x0303}, {"TLS13", 0x0304}};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strcmp(s, t[i].name) == 0) {
			*v = t[i].v;
			return 0;
		}
	return -EINVAL;
}

/* Go's cipher suite names and the GnuTLS parts that make them. GnuTLS
 * enables the product of the key exchanges, ciphers and MACs listed, which
 * for these suites is the set asked for, give or take a mix of the same
 * parts (documented). TLS 1.3 suites have no key exchange part. */
static const struct {
	const char *go, *kx, *cipher, *mac;
} suites[] = {
    {"TLS_RSA_WITH_AES_128_CBC_SHA", "RSA", "AES-128-CBC", "SHA1"},
    {"TLS_RSA_WITH_AES_256_CBC_SHA", "RSA", "AES-256-CBC", "SHA1"},
    {"TLS_RSA_WITH_AES_128_GCM_SHA256", "RSA", "AES-128-GCM", "AEAD"},
    {"TLS_RSA_WITH_AES_256_GCM_SHA384", "RSA", "AES-256-GCM", "AEAD"},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "ECDHE-ECDSA", "AES-128-CBC", "SHA1"},
    {"TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "ECDHE-ECDSA", "AES-256-CBC", "SHA1"},
    {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE-RSA", "AES-128-CBC", "SHA1"},
    {"TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA", "AES-256-CBC", "SHA1"},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ECDHE-ECDSA", "AES-128-GCM", "AEAD"},
    {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA", "AES-128-GCM", "AEAD"},
    {"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE-ECDSA", "AES-256-GCM", "AEAD"},
    {"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE-RSA", "AES-256-GCM", "AEAD"},
    {"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-ECDSA", "CHACHA20-POLY1305",
     "AEAD"},
    {"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-RSA", "CHACHA20-POLY1305",
     "AEAD"},
    {"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305", "ECDHE-ECDSA", "CHACHA20-POLY1305",
     "AEAD"},
    {"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305", "ECDHE-RSA", "CHACHA20-POLY1305", "AEAD"},
    {"TLS_AES_128_GCM_SHA256", NULL, "AES-128-GCM", "AEAD"},
    {"TLS_AES_256_GCM_SHA384", NULL, "AES-256-GCM", "AEAD"},
    {"TLS_CHACHA20_POLY1305_SHA256", NULL, "CHACHA20-POLY1305", "AEAD"},
};

static const struct {
	const char *go, *group;
} curves[] = {
    {"CurveP256", "SECP256R1"},
    {"CurveP384", "SECP384R1"},
    {"CurveP521", "SECP521R1"},
    {"X25519", "X25519"},
};

struct sbuf {
	char b[2048];
	size_t n;
	bool overflow;
};

__attribute__((format(printf, 2, 3))) static void sb_add(struct sbuf *s, const char *fmt,
							 ...)
{
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(s->b + s->n, sizeof(s->b) - s->n, fmt, ap);
	va_end(ap);
	if (k < 0 || (size_t)k >= sizeof(s->b) - s->n)
		s->overflow = true;
	else
		s->n += (size_t)k;
}

/* Add part once (the product needs each kx/cipher/mac only once). */
static void sb_once(struct sbuf *s, const char *part)
{
	char tok[64];

	snprintf(tok, sizeof(tok), ":+%s", part);
	s->b[s->n] = '\0';
	for (const char *q = s->b; (q = strstr(q, tok)); q += strlen(tok))
		if (q[strlen(tok)] == ':' || q[strlen(tok)] == '\0')
			return;
	sb_add(s, "%s", tok);
}

/* The GnuTLS priority string of the tls_server_config. */
static int build_priorities(struct wparse *p)
{
	struct web_config *w = p->w;
	struct sbuf s = {.n = 0, .overflow = false};
	const char *vers[] = {"TLS1.0", "TLS1.1", "TLS1.2", "TLS1.3"};

	if (p->ciphers) {
		yaml_node_item_t *it;

		sb_add(&s, "NONE:+SIGN-ALL:+COMP-NULL:+CTYPE-X509:+GROUP-ALL");
		for (it = p->ciphers->data.sequence.items.start;
		     it < p->ciphers->data.sequence.items.top; it++) {
			const yaml_node_t *n = yaml_document_get_node(&p->doc, *it);
			const char *name = scalar(n);
			size_t i;

			if (!name)
				return perr(p, n, "tls_server_config.cipher_suites",
					    "expected a cipher suite name");
			for (i = 0; i < sizeof(suites) / sizeof(suites[0]); i++)
				if (strcmp(name, suites[i].go) == 0)
					break;
			if (i == sizeof(suites) / sizeof(suites[0]))
				return perr(p, n, "tls_server_config.cipher_suites",
					    "unknown or unsupported cipher suite %s",
					    name);
			if (suites[i].kx)
				sb_once(&s, suites[i].kx);
			sb_once(&s, suites[i].cipher);
			sb_once(&s, suites[i].mac);
		}
		/* As in Go, cipher_suites does not limit TLS 1.3. */
		if (w->max_version >= 0x0304) {
			sb_once(&s, "AES-128-GCM");
			sb_once(&s, "AES-256-GCM");
			sb_once(&s, "CHACHA20-POLY1305");
			sb_once(&s, "AEAD");
		}
	} else
		sb_add(&s, "NORMAL");
	sb_add(&s, ":-VERS-ALL");
	for (unsigned v = w->min_version; v <= w->max_version; v++)
		sb_add(&s, ":+VERS-%s", vers[v - 0x0301]);
	if (p->curves) {
		yaml_node_item_t *it;

		sb_add(&s, ":-GROUP-ALL");
		for (it = p->curves->data.sequence.items.start;
		     it < p->curves->data.sequence.items.top; it++) {
			const yaml_node_t *n = yaml_document_get_node(&p->doc, *it);
			const char *name = scalar(n);
			size_t i;

			for (i = 0; name && i < sizeof(curves) / sizeof(curves[0]); i++)
				if (strcmp(name, curves[i].go) == 0)
					break;
			if (!name || i == sizeof(curves) / sizeof(curves[0]))
				return perr(p, n, "tls_server_config.curve_preferences",
					    "unknown curve (CurveP256, CurveP384, "
					    "CurveP521, X25519)");
			sb_add(&s, ":+GROUP-%s", curves[i].group);
		}
	}
	if (p->prefer_server)
		sb_add(&s, ":%%SERVER_PRECEDENCE");
	if (s.overflow)
		return perr(p, NULL, "tls_server_config",
			    "too many cipher suites or curves");
	w->priorities = strdup(s.b);
	return w->priorities ? 0 : -ENOMEM;
}

/* Read a small regular file without blocking on a FIFO or a device. */
static int read_small(const char *path, char **out, size_t *len, struct stat *st,
		      char *why, size_t whylen)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	char *b;
	ssize_t k;
	size_t n = 0;

	if (fd < 0) {
		snprintf(why, whylen, "cannot read %s: %s", path, strerror(errno));
		return -errno;
	}
	if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
		snprintf(why, whylen, "%s is not a regular file", path);
		close(fd);
		return -EINVAL;
	}
	if (st->st_size > WEB_MAX_BYTES) {
		snprintf(why, whylen, "%s is larger than %d bytes", path, WEB_MAX_BYTES);
		close(fd);
		return -EFBIG;
	}
	b = malloc((size_t)st->st_size + 1);
	if (!b) {
		close(fd);
		return -ENOMEM;
	}
	while (n < (size_t)st->st_size &&
	       (k = read(fd, b + n, (size_t)st->st_size - n)) > 0)
		n += (size_t)k;
	close(fd);
	b[n] = '\0';
	*out = b;
	*len = n;
	return 0;
}

static char *resolve(const char *dir, const char *path)
{
	size_t n;
	char *r;

	if (path[0] == '/' || !dir)
		return strdup(path);
	n = strlen(dir) + strlen(path) + 2;
	r = malloc(n);
	if (r)
		snprintf(r, n, "%s/%s", dir, path);
	return r;
}

static int load_file(struct wparse *p, struct web_file *f, const char *path,
		     unsigned long line, const char *key, char **pem, size_t *len)
{
	char why[PATH_MAX + 64];
	yaml_node_t at = {.start_mark = {.line = line - 1}};
	int rc;

	f->path = resolve(p->dir, path);
	if (!f->path)
		return -ENOMEM;
	rc = read_small(f->path, pem, len, &f->st, why, sizeof(why));
	if (rc == -ENOMEM)
		return rc;
	if (rc < 0)
		return perr(p, &at, key, "%s", why);
	return 0;
}

/* Build the credentials from the files (the checks a handshake would do
 * later, done now). */
static int load_tls(struct wparse *p)
{
	struct web_config *w = p->w;
	yaml_node_t kl = {.start_mark = {.line = p->key_line - 1}};
	yaml_node_t cl = {.start_mark = {.line = p->ca_line - 1}};
	gnutls_datum_t c, k;
	size_t clen, klen, calen = 0;
	char *ca = NULL;
	const char *errpos = NULL;
	int rc;

	if ((rc = load_file(p, &w->cert, p->cert_file, p->cert_line,
			    "tls_server_config.cert_file", &w->cert_pem, &clen)) < 0 ||
	    (rc = load_file(p, &w->key, p->key_file, p->key_line,
			    "tls_server_config.key_file", &w->key_pem, &klen)) < 0)
		return rc;
	if (p->ca_file &&
	    (rc = load_file(p, &w->ca, p->ca_file, p->ca_line,
			    "tls_server_config.client_ca_file", &ca, &calen)) < 0)
		return rc;
	if (gnutls_certificate_allocate_credentials(&w->cred) < 0) {
		free(ca);
		return -ENOMEM;
	}
	c.data = (unsigned char *)w->cert_pem;
	c.size = (unsigned)clen;
	k.data = (unsigned char *)w->key_pem;
	k.size = (unsigned)klen;
	rc = gnutls_certificate_set_x509_key_mem2(w->cred, &c, &k, GNUTLS_X509_FMT_PEM,
						  NULL, 0);
	if (rc < 0) {
		free(ca);
		return perr(p, &kl, "tls_server_config.key_file",
			    "%s and %s do not load as a PEM certificate and its key: %s",
			    w->cert.path, w->key.path, gnutls_strerror(rc));
	}
	if (ca) {
		gnutls_datum_t d = {.data = (unsigned char *)ca, .size = (unsigned)calen};

		rc = gnutls_certificate_set_x509_trust_mem(w->cred, &d,
							   GNUTLS_X509_FMT_PEM);
		free(ca);
		if (rc <= 0)
			return perr(p, &cl, "tls_server_config.client_ca_file",
				    "%s: no PEM certificate in it%s%s", w->ca.path,
				    rc < 0 ? ": " : "",
				    rc < 0 ? gnutls_strerror(rc) : "");
	}
	rc = gnutls_priority_init(&w->prio, w->priorities, &errpos);
	if (rc < 0)
		return perr(
		    p, NULL, "tls_server_config",
		    "GnuTLS refuses the versions and cipher suites (%s at \"%s\")",
		    gnutls_strerror(rc), errpos ? errpos : "");
	return 0;
}

static const struct {
	const char *name;
	enum web_client_auth v;
} auth_types[] = {
    {"NoClientCert", WEB_NO_CLIENT_CERT},
    {"RequestClientCert", WEB_REQUEST_CLIENT_CERT},
    {"RequireAnyClientCert", WEB_REQUIRE_ANY_CLIENT_CERT},
    {"RequireClientCert", WEB_REQUIRE_ANY_CLIENT_CERT}, /* the old name */
    {"VerifyClientCertIfGiven", WEB_VERIFY_CLIENT_CERT_IF_GIVEN},
    {"RequireAndVerifyClientCert", WEB_REQUIRE_AND_VERIFY_CLIENT_CERT},
};

static int parse_tls(struct wparse *p, const yaml_node_t *map)
{
	struct web_config *w = p->w;
	yaml_node_pair_t *pr;
	const char *minv = NULL, *maxv = NULL;
	const yaml_node_t *minn = NULL, *maxn = NULL;

	if (map->type == YAML_SCALAR_NODE && !*scalar(map))
		return 0; /* `tls_server_config:` left empty */
	if (map->type != YAML_MAPPING_NODE)
		return perr(p, map, "tls_server_config", "expected a mapping");
	for (pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top; pr++) {
		const yaml_node_t *kn = yaml_document_get_node(&p->doc, pr->key);
		const yaml_node_t *vn = yaml_document_get_node(&p->doc, pr->value);
		const char *k = scalar(kn), *s = NULL;
		char key[128];
		int rc;

		if (!k)
			return perr(p, kn, "tls_server_config", "expected a key");
		snprintf(key, sizeof(key), "tls_server_config.%s", k);
		if (!strcmp(k, "cipher_suites") || !strcmp(k, "curve_preferences")) {
			if (vn->type != YAML_SEQUENCE_NODE)
				return perr(p, vn, key, "expected a list");
			if (k[0] == 'c' && k[1] == 'i')
				p->ciphers = vn;
			else
				p->curves = vn;
			continue;
		}
		if (!strcmp(k, "prefer_server_cipher_suites")) {
			if ((rc = parse_bool(p, vn, key, &p->prefer_server)) < 0)
				return rc;
			continue;
		}
		if (!strcmp(k, "client_allowed_sans") || !strcmp(k, "cert") ||
		    !strcmp(k, "key") || !strcmp(k, "client_ca"))
			return perr(p, kn, key,
				    "not supported by accelmon (name the files: "
				    "cert_file, key_file, client_ca_file)");
		if ((rc = want_scalar(p, vn, key, &s)) < 0)
			return rc;
		if (!strcmp(k, "cert_file")) {
			p->cert_file = *s ? s : NULL;
			p->cert_line = vn->start_mark.line + 1;
		} else if (!strcmp(k, "key_file")) {
			p->key_file = *s ? s : NULL;
			p->key_line = vn->start_mark.line + 1;
		} else if (!strcmp(k, "client_ca_file")) {
			p->ca_file = *s ? s : NULL;
			p->ca_line = vn->start_mark.line + 1;
		} else if (!strcmp(k, "client_auth_type")) {
			size_t i;

			for (i = 0; i < sizeof(auth_types) / sizeof(auth_types[0]); i++)
				if (!strcmp(s, auth_types[i].name))
					break;
			if (i == sizeof(auth_types) / sizeof(auth_types[0]))
				return perr(
				    p, vn, key,
				    "unknown type %s (NoClientCert, RequestClientCert, "
				    "RequireAnyClientCert, VerifyClientCertIfGiven, "
				    "RequireAndVerifyClientCert)",
				    s);
			w->client_auth = auth_types[i].v;
			p->auth_line = vn->start_mark.line + 1;
		} else if (!strcmp(k, "min_version")) {
			minv = s;
			minn = vn;
			if (version_of(s, &w->min_version) < 0)
				return perr(
				    p, vn, key,
				    "unknown version %s (TLS10, TLS11, TLS12, TLS13)", s);
		} else if (!strcmp(k, "max_version")) {
			maxv = s;
			maxn = vn;
			if (version_of(s, &w->max_version) < 0)
				return perr(
				    p, vn, key,
				    "unknown version %s (TLS10, TLS11, TLS12, TLS13)", s);
		} else
			return perr(p, kn, key, "unknown key");
	}
	if (w->min_version > w->max_version)
		return perr(p, maxn ? maxn : minn,
			    maxn ? "tls_server_config.max_version"
				 : "tls_server_config.min_version",
			    "max_version %s is below min_version %s",
			    maxv ? maxv : "TLS13", minv ? minv : "TLS12");
	if (!p->cert_file != !p->key_file) {
		yaml_node_t at = {.start_mark = {.line = p->tls_line - 1}};

		return perr(p, &at,
			    p->cert_file ? "tls_server_config.key_file"
					 : "tls_server_config.cert_file",
			    "missing (cert_file and key_file go together)");
	}
	if (p->ca_file && w->client_auth == WEB_NO_CLIENT_CERT) {
		yaml_node_t at = {.start_mark = {.line = p->ca_line - 1}};

		return perr(p, &at, "tls_server_config.client_ca_file",
			    "client CAs are configured without a client_auth_type "
			    "that asks for a certificate");
	}
	if (!p->ca_file && (w->client_auth == WEB_VERIFY_CLIENT_CERT_IF_GIVEN ||
			    w->client_auth == WEB_REQUIRE_AND_VERIFY_CLIENT_CERT)) {
		yaml_node_t at = {.start_mark = {.line = p->auth_line - 1}};

		return perr(p, &at, "tls_server_config.client_auth_type",
			    "verifying client certificates needs client_ca_file");
	}
	w->tls = p->cert_file != NULL;
	if (!w->tls && (p->ca_file || w->client_auth != WEB_NO_CLIENT_CERT)) {
		yaml_node_t at = {.start_mark = {.line = p->tls_line - 1}};

		return perr(p, &at, "tls_server_config.cert_file",
			    "missing (client certificates need TLS)");
	}
	return 0;
}

/* exporter-toolkit's list of headers a web config may add, and the values
 * it allows where it restricts them. */
static int check_header(struct wparse *p, const yaml_node_t *kn, const char *name,
			const char *value)
{
	static const char *const allowed[] = {
	    "Strict-Transport-Security", "X-Content-Type-Options",  "X-Frame-Options",
	    "X-XSS-Protection",		 "Content-Security-Policy",
	};
	size_t i;

	for (i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
		if (!strcasecmp(name, allowed[i]))
			break;
	if (i == sizeof(allowed) / sizeof(allowed[0]))
		return perr(p, kn, "http_server_config.headers",
			    "%s may not be set (Strict-Transport-Security, "
			    "X-Content-Type-Options, X-Frame-Options, X-XSS-Protection, "
			    "Content-Security-Policy)",
			    name);
	if (strpbrk(value, "\r\n") || strpbrk(name, "\r\n:"))
		return perr(p, kn, "http_server_config.headers", "%s: a line break in it",
			    name);
	if (i == 1 && strcasecmp(value, "nosniff") != 0)
		return perr(p, kn, "http_server_config.headers",
			    "X-Content-Type-Options: only nosniff is allowed");
	if (i == 2 && strcasecmp(value, "deny") != 0 &&
	    strcasecmp(value, "sameorigin") != 0)
		return perr(p, kn, "http_server_config.headers",
			    "X-Frame-Options: only deny or sameorigin is allowed");
	return 0;
}

static int parse_http(struct wparse *p, const yaml_node_t *map)
{
	struct web_config *w = p->w;
	yaml_node_pair_t *pr;

	if (map->type == YAML_SCALAR_NODE && !*scalar(map))
		return 0;
	if (map->type != YAML_MAPPING_NODE)
		return perr(p, map, "http_server_config", "expected a mapping");
	for (pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top; pr++) {
		const yaml_node_t *kn = yaml_document_get_node(&p->doc, pr->key);
		const yaml_node_t *vn = yaml_document_get_node(&p->doc, pr->value);
		const char *k = scalar(kn);
		int rc;

		if (k && !strcmp(k, "http2")) {
			bool b; /* accepted: accelmon answers HTTP/1.1 only */

			if ((rc = parse_bool(p, vn, "http_server_config.http2", &b)) < 0)
				return rc;
		} else if (k && !strcmp(k, "headers")) {
			yaml_node_pair_t *h;

			if (vn->type != YAML_MAPPING_NODE)
				return perr(p, vn, "http_server_config.headers",
					    "expected a mapping");
			for (h = vn->data.mapping.pairs.start;
			     h < vn->data.mapping.pairs.top; h++) {
				const yaml_node_t *hk =
				    yaml_document_get_node(&p->doc, h->key);
				const yaml_node_t *hv =
				    yaml_document_get_node(&p->doc, h->value);
				const char *name = scalar(hk), *val = scalar(hv);
				char **nh;

				if (!name || !val)
					return perr(p, hk, "http_server_config.headers",
						    "expected NAME: VALUE");
				if ((rc = check_header(p, hk, name, val)) < 0)
					return rc;
				nh = realloc(w->headers,
					     (w->nheaders + 1) * 2 * sizeof(*nh));
				if (!nh)
					return -ENOMEM;
				w->headers = nh;
				nh[2 * w->nheaders] = strdup(name);
				nh[2 * w->nheaders + 1] = strdup(val);
				w->nheaders++;
				if (!nh[2 * w->nheaders - 2] || !nh[2 * w->nheaders - 1])
					return -ENOMEM;
			}
		} else
			return perr(p, kn, "http_server_config", "unknown key %s",
				    k ? k : "(not a string)");
	}
	return 0;
}

/* "$2b$10$" + 22 salt + 31 hash characters of bcrypt's base64. */
static int bcrypt_cost(const char *h)
{
	size_t n = strlen(h);

	if (n != 60 || h[0] != '$' || h[1] != '2' || !strchr("aby", h[2]) ||
	    h[3] != '$' || h[4] < '0' || h[4] > '3' || h[5] < '0' || h[5] > '9' ||
	    h[6] != '$')
		return -1;
	for (size_t i = 7; i < n; i++)
		if (!strchr(
			"./"
			"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
			h[i]))
			return -1;
	return (h[4] - '0') * 10 + (h[5] - '0');
}

static int parse_users(struct wparse *p, const yaml_node_t *map, int *max_cost)
{
	struct web_config *w = p->w;
	yaml_node_pair_t *pr;

	if (map->type == YAML_SCALAR_NODE && !*scalar(map))
		return 0;
	if (map->type != YAML_MAPPING_NODE)
		return perr(p, map, "basic_auth_users",
			    "expected a mapping USER: BCRYPT_HASH");
	for (pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top; pr++) {
		const yaml_node_t *kn = yaml_document_get_node(&p->doc, pr->key);
		const yaml_node_t *vn = yaml_document_get_node(&p->doc, pr->value);
		const char *u = scalar(kn), *h = scalar(vn);
		struct web_user *nu;
		char key[160];
		int cost;

		if (!u || !*u)
			return perr(p, kn, "basic_auth_users", "expected a user name");
		snprintf(key, sizeof(key), "basic_auth_users.%.120s", u);
		if (strchr(u, ':'))
			return perr(p, kn, key, "a user name cannot hold ':'");
		for (size_t i = 0; i < w->nusers; i++)
			if (!strcmp(w->users[i].name, u))
				return perr(p, kn, key, "user given twice");
		if (!h || (cost = bcrypt_cost(h)) < 0)
			return perr(
			    p, vn, key,
			    "not a bcrypt hash ($2y$10$ and 53 more characters; "
			    "make one with htpasswd -nBC 10 \"\" | tr -d ':\\n')");
		if (cost < 4 || cost > WEB_MAX_COST)
			return perr(p, vn, key, "bcrypt cost %d is outside 4..%d", cost,
				    WEB_MAX_COST);
		if (cost > *max_cost)
			*max_cost = cost;
		nu = realloc(w->users, (w->nusers + 1) * sizeof(*nu));
		if (!nu)
			return -ENOMEM;
		w->users = nu;
		nu[w->nusers].name = strdup(u);
		nu[w->nusers].hash = strdup(h);
		w->nusers++;
		if (!nu[w->nusers - 1].name || !nu[w->nusers - 1].hash)
			return -ENOMEM;
	}
	return 0;
}

/* The bcrypt settings ("$2b$NN$" and a random salt) that make every check
 * cost the file's highest cost (see struct web_config). Salts only: no
 * bcrypt runs here, so a reload costs no hashing. */
static int make_dummy(struct web_config *w, int cost)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];

	w->max_cost = cost;
	for (int k = 4; k <= cost; k++) {
		if (!crypt_gensalt_rn("$2b$", (unsigned long)k, NULL, 0, salt,
				      sizeof(salt)))
			return errno ? -errno : -EINVAL;
		if (!(w->pad[k] = strdup(salt)))
			return -ENOMEM;
	}
	w->dummy_hash = strdup(w->pad[cost]);
	return w->dummy_hash ? 0 : -ENOMEM;
}

/* libyaml's loader recurses per level: bound the depth with the event
 * parser first (agent/yaml_depth.c), so a hostile file fails fast and in
 * little stack. */
static int check_depth(struct wparse *p, const char *yaml, size_t len)
{
	char problem[128];
	unsigned long line;
	int rc = yaml_depth_check(yaml, len, WEB_MAX_DEPTH, &line, problem,
				  sizeof(problem));

	if (rc <= 0)
		return rc;
	if (rc == 1)
		snprintf(p->err, p->errlen, "%s:%lu: nested deeper than %d levels",
			 p->source, line, WEB_MAX_DEPTH);
	else
		snprintf(p->err, p->errlen, "%s:%lu: %s", p->source, line, problem);
	return -EINVAL;
}

static int parse_doc(struct wparse *p, const char *yaml, size_t len)
{
	yaml_parser_t ps;
	yaml_node_t *root;
	yaml_node_pair_t *pr;
	int rc = 0, max_cost = 0;

	if ((rc = check_depth(p, yaml, len)) < 0)
		return rc;
	if (!yaml_parser_initialize(&ps))
		return -ENOMEM;
	yaml_parser_set_input_string(&ps, (const unsigned char *)yaml, len);
	if (!yaml_parser_load(&ps, &p->doc)) {
		snprintf(p->err, p->errlen, "%s:%lu: %s", p->source,
			 (unsigned long)ps.problem_mark.line + 1,
			 ps.problem ? ps.problem : "YAML error");
		yaml_parser_delete(&ps);
		memset(&p->doc, 0, sizeof(p->doc));
		return -EINVAL;
	}
	yaml_parser_delete(&ps);
	p->w->min_version = 0x0303;
	p->w->max_version = 0x0304;
	p->prefer_server = true;
	root = yaml_document_get_root_node(&p->doc);
	if (!root || (root->type == YAML_SCALAR_NODE && !*scalar(root)))
		return 0; /* an empty file: plain HTTP, no auth */
	if (root->type != YAML_MAPPING_NODE)
		return perr(p, root, "web config", "expected a mapping");
	for (pr = root->data.mapping.pairs.start; pr < root->data.mapping.pairs.top;
	     pr++) {
		const yaml_node_t *kn = yaml_document_get_node(&p->doc, pr->key);
		const yaml_node_t *vn = yaml_document_get_node(&p->doc, pr->value);
		const char *k = scalar(kn);

		if (k && !strcmp(k, "tls_server_config")) {
			p->tls_line = kn->start_mark.line + 1; /* for a key left out */
			rc = parse_tls(p, vn);
		} else if (k && !strcmp(k, "http_server_config"))
			rc = parse_http(p, vn);
		else if (k && !strcmp(k, "basic_auth_users"))
			rc = parse_users(p, vn, &max_cost);
		else
			rc = perr(p, kn, k ? k : "web config", "unknown key");
		if (rc < 0)
			return rc;
	}
	if (p->w->tls && (rc = build_priorities(p)) < 0)
		return rc;
	if (!p->load_files)
		return 0;
	if (p->w->tls && (rc = load_tls(p)) < 0)
		return rc;
	if (p->w->nusers && (rc = make_dummy(p->w, max_cost)) < 0)
		return rc;
	return 0;
}

static int parse_common(const char *yaml, size_t len, const char *source, const char *dir,
			bool load_files, struct web_config **out, char *err,
			size_t errlen)
{
	struct wparse p;
	int rc;

	memset(&p, 0, sizeof(p));
	p.source = source;
	p.dir = dir;
	p.load_files = load_files;
	p.err = err;
	p.errlen = errlen;
	p.w = calloc(1, sizeof(*p.w));
	if (!p.w)
		return -ENOMEM;
	atomic_init(&p.w->refs, 1);
	pthread_mutex_init(&p.w->cache_lock, NULL);
	p.w->source = strdup(source);
	rc = p.w->source ? parse_doc(&p, yaml, len) : -ENOMEM;
	yaml_document_delete(&p.doc);
	if (rc == -ENOMEM)
		snprintf(err, errlen, "%s: out of memory", source);
	if (rc < 0) {
		web_config_unref(p.w);
		return rc;
	}
	*out = p.w;
	return 0;
}

int web_config_parse(const char *yaml, size_t len, const char *source, bool load_files,
		     struct web_config **out, char *err, size_t errlen)
{
	return parse_common(yaml, len, source, NULL, load_files, out, err, errlen);
}

int web_config_load(const char *path, struct web_config **out, char *err, size_t errlen)
{
	char why[PATH_MAX + 64], *text = NULL, *dir, *slash;
	struct stat st;
	size_t len;
	int rc;

	rc = read_small(path, &text, &len, &st, why, sizeof(why));
	if (rc < 0) {
		snprintf(err, errlen, "%s: %s", path,
			 rc == -ENOMEM ? "out of memory" : why);
		return rc == -ENOMEM ? rc : -EINVAL;
	}
	dir = strdup(path);
	if (!dir) {
		free(text);
		return -ENOMEM;
	}
	slash = strrchr(dir, '/');
	if (slash)
		*(slash == dir ? slash + 1 : slash) = '\0';
	rc = parse_common(text, len, path, slash ? dir : NULL, true, out, err, errlen);
	free(dir);
	free(text);
	return rc;
}

struct web_config *web_config_ref(struct web_config *w)
{
	if (w)
		atomic_fetch_add_explicit(&w->refs, 1, memory_order_relaxed);
	return w;
}

void web_config_unref(struct web_config *w)
{
	if (!w || atomic_fetch_sub_explicit(&w->refs, 1, memory_order_acq_rel) != 1)
		return;
	if (w->cred)
		gnutls_certificate_free_credentials(w->cred);
	if (w->prio)
		gnutls_priority_deinit(w->prio);
	free(w->cert.path);
	free(w->key.path);
	free(w->ca.path);
	free(w->cert_pem);
	if (w->key_pem) {
		explicit_bzero(w->key_pem, strlen(w->key_pem));
		free(w->key_pem);
	}
	free(w->priorities);
	for (size_t i = 0; i < w->nheaders * 2; i++)
		free(w->headers[i]);
	free(w->headers);
	for (size_t i = 0; i < w->nusers; i++) {
		free(w->users[i].name);
		free(w->users[i].hash);
	}
	free(w->users);
	free(w->dummy_hash);
	for (size_t i = 0; i <= WEB_MAX_COST; i++)
		free(w->pad[i]);
	free(w->source);
	explicit_bzero(w->cache, sizeof(w->cache));
	pthread_mutex_destroy(&w->cache_lock);
	free(w);
}

static int file_changed(const struct web_file *f)
{
	struct stat st;

	if (!f->path)
		return 0;
	if (stat(f->path, &st) < 0)
		return 1;
	return st.st_ino != f->st.st_ino || st.st_dev != f->st.st_dev ||
	       st.st_size != f->st.st_size || st.st_mtim.tv_sec != f->st.st_mtim.tv_sec ||
	       st.st_mtim.tv_nsec != f->st.st_mtim.tv_nsec;
}

int web_config_files_changed(const struct web_config *w)
{
	return file_changed(&w->cert) || file_changed(&w->key) || file_changed(&w->ca);
}

void web_config_files_seen(struct web_config *w)
{
	struct web_file *f[] = {&w->cert, &w->key, &w->ca};

	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		if (f[i]->path && stat(f[i]->path, &f[i]->st) < 0)
			memset(&f[i]->st, 0, sizeof(f[i]->st));
}

/* Both strings are hash outputs of the same scheme: compare every byte. */
static int equal_ct(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char d = la != lb;

	for (size_t i = 0; i < la && i < lb; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return d == 0;
}

/* The cache key of a check: SHA-256 over the three strings with their
 * lengths, so no two triples share a key. */
static int auth_key(const char *user, const char *password, const char *hash,
		    unsigned char key[32])
{
	size_t lu = strlen(user), lp = strlen(password), lh = strlen(hash);
	size_t n = 3 * sizeof(size_t) + lu + lp + lh;
	unsigned char *b = malloc(n), *q = b;
	int rc;

	if (!b)
		return -ENOMEM;
	memcpy(q, &lu, sizeof(lu));
	memcpy(q += sizeof(lu), &lp, sizeof(lp));
	memcpy(q += sizeof(lp), &lh, sizeof(lh));
	memcpy(q += sizeof(lh), user, lu);
	memcpy(q += lu, password, lp);
	memcpy(q + lp, hash, lh);
	rc = gnutls_hash_fast(GNUTLS_DIG_SHA256, b, n, key);
	explicit_bzero(b, n);
	free(b);
	return rc < 0 ? -EIO : 0;
}

static const struct web_user *find_user(const struct web_config *w, const char *user)
{
	const struct web_user *u = NULL;

	for (size_t i = 0; i < w->nusers; i++)
		if (!strcmp(w->users[i].name, user))
			u = &w->users[i];
	return u;
}

/* 1 when key is in the cache of recent successes (every entry compared). */
static int cache_hit(struct web_config *w, const unsigned char key[32])
{
	int hit = 0;

	pthread_mutex_lock(&w->cache_lock);
	for (unsigned i = 0; i < w->ncache; i++) {
		unsigned char d = 0;

		for (size_t j = 0; j < 32; j++)
			d |= (unsigned char)(w->cache[i][j] ^ key[j]);
		hit |= d == 0;
	}
	pthread_mutex_unlock(&w->cache_lock);
	return hit;
}

void web_auth_cache_carry(struct web_config *w, struct web_config *from)
{
	if (!w || !from || w == from)
		return;
	pthread_mutex_lock(&from->cache_lock);
	pthread_mutex_lock(&w->cache_lock);
	memcpy(w->cache, from->cache, sizeof(w->cache));
	w->ncache = from->ncache;
	w->next = from->next;
	pthread_mutex_unlock(&w->cache_lock);
	pthread_mutex_unlock(&from->cache_lock);
}

int web_auth_cached(struct web_config *w, const char *user, const char *password)
{
	const struct web_user *u = w->nusers ? find_user(w, user) : NULL;
	unsigned char key[32];
	int hit;

	if (!u || auth_key(user, password, u->hash, key) < 0)
		return 0;
	hit = cache_hit(w, key);
	explicit_bzero(key, sizeof(key));
	return hit;
}

int web_auth_check(struct web_config *w, const char *user, const char *password)
{
	const struct web_user *u = NULL;
	struct crypt_data *cd;
	const char *hash, *out;
	unsigned char key[32];
	int ok, keyed, cost;

	if (!w->nusers)
		return 0;
	u = find_user(w, user);
	hash = u ? u->hash : w->dummy_hash ? w->dummy_hash : w->users[0].hash;
	keyed = u && auth_key(user, password, hash, key) == 0;
	if (keyed && cache_hit(w, key)) {
		explicit_bzero(key, sizeof(key));
		return 1;
	}
	cd = calloc(1, sizeof(*cd));
	if (!cd)
		return 0;
	out = crypt_r(password, hash, cd);
	ok = out && out[0] == '$' && equal_ct(out, hash) && u != NULL;
	/* Up to the file's highest cost, whatever the outcome, so a user of
	 * a low cost looks like any other user and like an unknown one. */
	cost = u ? bcrypt_cost(u->hash) : w->max_cost;
	for (int k = cost < 4 ? 4 : cost; k < w->max_cost && k <= WEB_MAX_COST; k++)
		if (w->pad[k])
			crypt_r(password, w->pad[k], cd);
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	if (ok && keyed) {
		pthread_mutex_lock(&w->cache_lock);
		memcpy(w->cache[w->next], key, sizeof(key));
		w->next = (w->next + 1) % WEB_AUTH_CACHE;
		if (w->ncache < WEB_AUTH_CACHE)
			w->ncache++;
		pthread_mutex_unlock(&w->cache_lock);
	}
	explicit_bzero(key, sizeof(key));
	return ok;
}
