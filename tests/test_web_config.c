/* Tests of the web config parser (exporters/web_config.c): a full file in
 * exporter-toolkit's format, every error with its "FILE:LINE: key: problem"
 * line, the GnuTLS priority string made of versions and cipher suites, and
 * basic auth with bcrypt (good, bad, unknown user, same work for unknown).
 */
#include <check.h>
#include <errno.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "exporters/web_config.h"
#include "fixture_tree.h"

/* bcrypt (cost 4) of "s3cret", made with crypt(3). */
#define HASH4 "$2b$04$NOt/39FIZWHJnl70MekTceBP.00av9srTLx1hv7m8g6hSIkW.BkRG"

static struct web_config *parse_ok(const char *y)
{
	struct web_config *w = NULL;
	char err[512] = "";
	int rc = web_config_parse(y, strlen(y), "w.yml", false, &w, err, sizeof(err));

	ck_assert_msg(rc == 0, "parse failed: %s", err);
	return w;
}

START_TEST(full_file)
{
	struct web_config *w =
	    parse_ok("tls_server_config:\n"
		     "  cert_file: /etc/x/server.crt\n"
		     "  key_file: server.key\n"
		     "  client_auth_type: RequireAndVerifyClientCert\n"
		     "  client_ca_file: ca.crt\n"
		     "  min_version: TLS12\n"
		     "  max_version: TLS12\n"
		     "  cipher_suites:\n"
		     "    - TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\n"
		     "    - TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384\n"
		     "  curve_preferences: [CurveP256, X25519]\n"
		     "  prefer_server_cipher_suites: false\n"
		     "http_server_config:\n"
		     "  http2: true\n"
		     "  headers:\n"
		     "    X-Frame-Options: deny\n"
		     "    Strict-Transport-Security: max-age=31536000\n"
		     "basic_auth_users:\n"
		     "  alice: " HASH4 "\n"
		     "  bob: '" HASH4 "'\n");

	ck_assert(w->tls);
	ck_assert_int_eq(w->client_auth, WEB_REQUIRE_AND_VERIFY_CLIENT_CERT);
	ck_assert_uint_eq(w->min_version, 0x0303);
	ck_assert_uint_eq(w->max_version, 0x0303);
	ck_assert_str_eq(
	    w->priorities,
	    "NONE:+SIGN-ALL:+COMP-NULL:+CTYPE-X509:+GROUP-ALL:+ECDHE-RSA:+AES-"
	    "128-GCM:+AEAD:+ECDHE-ECDSA:+AES-256-GCM:-VERS-ALL:+VERS-TLS1.2:-"
	    "GROUP-ALL:+GROUP-SECP256R1:+GROUP-X25519");
	ck_assert_uint_eq(w->nheaders, 2);
	ck_assert_str_eq(w->headers[0], "X-Frame-Options");
	ck_assert_str_eq(w->headers[3], "max-age=31536000");
	ck_assert_uint_eq(w->nusers, 2);
	ck_assert_str_eq(w->users[1].name, "bob");
	web_config_unref(w);
}
END_TEST

START_TEST(defaults)
{
	struct web_config *w = parse_ok("tls_server_config:\n"
					"  cert_file: a.crt\n"
					"  key_file: a.key\n");

	ck_assert_int_eq(w->client_auth, WEB_NO_CLIENT_CERT);
	/* TLS 1.2 and 1.3, GnuTLS's NORMAL set, the server's order */
	ck_assert_str_eq(w->priorities,
			 "NORMAL:-VERS-ALL:+VERS-TLS1.2:+VERS-TLS1.3:%SERVER_PRECEDENCE");
	web_config_unref(w);
	/* An empty file, or only users: plain HTTP */
	w = parse_ok("");
	ck_assert(!w->tls);
	web_config_unref(w);
	w = parse_ok("basic_auth_users:\n  alice: " HASH4 "\n");
	ck_assert(!w->tls);
	ck_assert_uint_eq(w->nusers, 1);
	web_config_unref(w);
}
END_TEST

static const struct {
	const char *yaml, *err;
} bad[] = {
    {"tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS14\n",
     "w.yml:4: tls_server_config.min_version: unknown version TLS14"},
    {"tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS13\n"
     "  max_version: TLS12\n",
     "w.yml:5: tls_server_config.max_version: max_version TLS12 is below min_version "
     "TLS13"},
    {"tls_server_config:\n  cert_file: a\n",
     "w.yml:1: tls_server_config.key_file: missing"},
    {"tls_server_config:\n  key_file: a\n",
     "w.yml:1: tls_server_config.cert_file: missing"},
    {"tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: Maybe\n",
     "w.yml:4: tls_server_config.client_auth_type: unknown type Maybe"},
    {"tls_server_config:\n  cert_file: a\n  key_file: b\n  client_ca_file: c\n",
     "w.yml:4: tls_server_config.client_ca_file: client CAs are configured without"},
    {"tls_server_config:\n  cert_file: a\n  key_file: b\n"
     "  client_auth_type: VerifyClientCertIfGiven\n",
     "w.yml:4: tls_server_config.client_auth_type: verifying client certificates needs "
     "client_ca_file"},
    {"tls_server_config:\n  cert_file: a\n  key_file: b\n  cipher_suites: "
     "[TLS_RSA_WITH_RC4_128_SHA]\n",
     "w.yml:4: tls_server_config.cipher_suites: unknown or unsupported cipher suite "
     "TLS_RSA_WITH_RC4_128_SHA"},
    {"tls_server_config:\n  cert_file: a\n  key_file: b\n  curve_preferences: [P999]\n",
     "w.yml:4: tls_server_config.curve_preferences: unknown curve"},
    {"tls_server_config:\n  cert_file: a\n  key_file: b\n  client_allowed_sans: [x]\n",
     "w.yml:4: tls_server_config.client_allowed_sans: not supported"},
    {"tls_server_config:\n  cert_file: a\n  key_file: b\n  colour: blue\n",
     "w.yml:4: tls_server_config.colour: unknown key"},
    {"tls_server_config:\n  cert_file: [a]\n",
     "w.yml:2: tls_server_config.cert_file: expected a string"},
    {"tls_server_config:\n  cert_file: a\n  key_file: b\n  prefer_server_cipher_suites: "
     "3\n",
     "w.yml:4: tls_server_config.prefer_server_cipher_suites: expected true or false"},
    {"basic_auth_users:\n  alice: secret\n",
     "w.yml:2: basic_auth_users.alice: not a bcrypt hash"},
    {"basic_auth_users:\n  alice: "
     "$2b$31$NOt/39FIZWHJnl70MekTceBP.00av9srTLx1hv7m8g6hSIkW.BkRG\n",
     "w.yml:2: basic_auth_users.alice: bcrypt cost 31 is outside 4..12"},
    {"basic_auth_users:\n  alice: "
     "$2b$13$NOt/39FIZWHJnl70MekTceBP.00av9srTLx1hv7m8g6hSIkW.BkRG\n",
     "w.yml:2: basic_auth_users.alice: bcrypt cost 13 is outside 4..12"},
    {"basic_auth_users:\n  alice: " HASH4 "\n  alice: " HASH4 "\n",
     "w.yml:3: basic_auth_users.alice: user given twice"},
    {"basic_auth_users:\n  'a:b': " HASH4 "\n",
     "w.yml:2: basic_auth_users.a:b: a user name cannot hold ':'"},
    {"basic_auth_users: [alice]\n", "w.yml:1: basic_auth_users: expected a mapping"},
    {"http_server_config:\n  headers:\n    Server: x\n",
     "w.yml:3: http_server_config.headers: Server may not be set"},
    {"http_server_config:\n  headers:\n    X-Frame-Options: allow\n",
     "w.yml:3: http_server_config.headers: X-Frame-Options: only deny or sameorigin"},
    {"http_server_config:\n  http2: maybe\n",
     "w.yml:2: http_server_config.http2: expected true or false"},
    {"http_server_config:\n  tls: 1\n", "w.yml:2: http_server_config: unknown key tls"},
    {"tls_config:\n  cert_file: a\n", "w.yml:1: tls_config: unknown key"},
    {"- a\n- b\n", "w.yml:1: web config: expected a mapping"},
    {"tls_server_config: {cert_file: a\n", "w.yml:2: did not find expected"},
    {"a: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n",
     "w.yml:1: nested deeper than 16 levels"},
};

START_TEST(errors)
{
	struct web_config *w = NULL;
	char err[512] = "";
	int rc = web_config_parse(bad[_i].yaml, strlen(bad[_i].yaml), "w.yml", false, &w,
				  err, sizeof(err));

	ck_assert_int_eq(rc, -EINVAL);
	ck_assert_ptr_null(w);
	ck_assert_msg(strncmp(err, bad[_i].err, strlen(bad[_i].err)) == 0,
		      "case %d: got \"%s\", want \"%s...\"", _i, err, bad[_i].err);
}
END_TEST

static char *tmpdir;

/* TMPDIR/name with text in it; the path in a static buffer. */
static const char *write_tmp(const char *name, const char *text)
{
	static char path[256];

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	fixture_put(path, text);
	return path;
}

START_TEST(files)
{
	struct web_config *w = NULL;
	char err[1024], want[640];
	const char *p;

	tmpdir = fixture_tmpdir("test_web_config");
	/* relative names are of the web config's folder */
	p = write_tmp("w.yml",
		      "tls_server_config:\n  cert_file: none.crt\n  key_file: k\n");
	ck_assert_int_eq(web_config_load(p, &w, err, sizeof(err)), -EINVAL);
	snprintf(
	    want, sizeof(want),
	    "%s:2: tls_server_config.cert_file: cannot read %s/none.crt: No such file", p,
	    tmpdir);
	ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "got %s", err);
	write_tmp("bad.crt", "not a certificate\n");
	write_tmp("bad.key", "not a key\n");
	p = write_tmp("w.yml",
		      "tls_server_config:\n  cert_file: bad.crt\n  key_file: bad.key\n");
	ck_assert_int_eq(web_config_load(p, &w, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:3: tls_server_config.key_file: %s/bad.crt and",
		 p, tmpdir);
	ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "got %s", err);
	/* a FIFO is refused, not waited on */
	snprintf(want, sizeof(want), "%s/fifo", tmpdir);
	ck_assert_int_eq(mkfifo(want, 0600), 0);
	ck_assert_int_eq(web_config_load(want, &w, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "is not a regular file"), "got %s", err);
	unlink(want);
	ck_assert_int_eq(web_config_load("/nonexistent/w.yml", &w, err, sizeof(err)),
			 -EINVAL);
	ck_assert_str_eq(err,
			 "/nonexistent/w.yml: cannot read /nonexistent/w.yml: No such "
			 "file or directory");
	fixture_rmdir_files(tmpdir);
	free(tmpdir);
}
END_TEST

/* This thread's CPU time: the work bcrypt does, which other processes on a
 * loaded machine do not stretch as they stretch the wall clock. */
static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

START_TEST(basic_auth)
{
	struct web_config *w = NULL;
	char err[512];
	const char *p;
	double t0, known, unknown, alice;

	tmpdir = fixture_tmpdir("test_web_config");
	/* cost 10 for bob: an unknown user must cost as much as he does */
	p = write_tmp(
	    "w.yml",
	    "basic_auth_users:\n  alice: " HASH4 "\n"
	    "  bob: $2b$10$jTonT9kOC1XEHVF14uEjNODjvhDSzgbZeXxJWOh3A7R5DOS/MZfw.\n");
	ck_assert_msg(web_config_load(p, &w, err, sizeof(err)) == 0, "%s", err);
	ck_assert(web_auth_check(w, "alice", "s3cret"));
	ck_assert(!web_auth_check(w, "alice", "s3cre"));
	ck_assert(!web_auth_check(w, "alice", ""));
	ck_assert(!web_auth_check(w, "Alice", "s3cret"));
	ck_assert(web_auth_check(w, "bob", "other"));
	ck_assert(!web_auth_check(w, "carol", "s3cret"));
	ck_assert_ptr_nonnull(w->dummy_hash);
	ck_assert(strncmp(w->dummy_hash, "$2b$10$", 7) == 0);
	/* Every check costs the file's highest cost (10): bob (10), alice (4,
	 * padded up to 10) and an unknown user take the same time; without the
	 * padding alice took 1/64 of it. Best of 3 each, in CPU time. */
	known = unknown = alice = 1e9;
	for (int i = 0; i < 3; i++) {
		t0 = now_s();
		web_auth_check(w, "bob", "wrong");
		if (now_s() - t0 < known)
			known = now_s() - t0;
		t0 = now_s();
		web_auth_check(w, "nobody", "wrong");
		if (now_s() - t0 < unknown)
			unknown = now_s() - t0;
		t0 = now_s();
		web_auth_check(w, "alice", "wrong");
		if (now_s() - t0 < alice)
			alice = now_s() - t0;
	}
	printf("bcrypt, file's highest cost 10: bob (cost 10) %.1f ms, alice (cost 4) "
	       "%.1f ms, unknown user %.1f ms\n",
	       known * 1e3, alice * 1e3, unknown * 1e3);
	ck_assert_msg(unknown > known / 1.5 && unknown < known * 1.5,
		      "known %f unknown %f", known, unknown);
	ck_assert_msg(alice > known / 1.5 && alice < known * 1.5, "bob %f alice %f",
		      known, alice);
	/* a wrong password of a cost-4 user is still refused, a right one
	 * still accepted after the padding */
	ck_assert(!web_auth_check(w, "alice", "wrong"));
	ck_assert(web_auth_check(w, "alice", "s3cret"));
	/* no bcrypt at load: a reload costs no hashing */
	{
		struct web_config *w2 = NULL;

		t0 = now_s();
		ck_assert(web_config_load(p, &w2, err, sizeof(err)) == 0);
		ck_assert_msg(now_s() - t0 < known / 4, "load took %f s", now_s() - t0);
		web_config_unref(w2);
	}
	ck_assert(web_auth_cached(w, "alice", "s3cret"));
	ck_assert(!web_auth_cached(w, "alice", "wrong"));
	ck_assert(!web_auth_cached(w, "nobody", "s3cret"));
	/* bob's good password was checked once: the next check is cached */
	t0 = now_s();
	ck_assert(web_auth_check(w, "bob", "other"));
	ck_assert_msg(now_s() - t0 < known / 10, "cached check took %f s", now_s() - t0);
	ck_assert(!web_auth_check(w, "bob", "other2"));
	ck_assert(!web_auth_check(w, "alice", "other"));
	web_config_unref(w);
	fixture_rmdir_files(tmpdir);
	free(tmpdir);
}
END_TEST

static Suite *web_suite(void)
{
	Suite *s = suite_create("web_config");
	TCase *t = tcase_create("parse");

	tcase_set_timeout(t, 30);
	tcase_add_test(t, full_file);
	tcase_add_test(t, defaults);
	tcase_add_loop_test(t, errors, 0, sizeof(bad) / sizeof(bad[0]));
	tcase_add_test(t, files);
	tcase_add_test(t, basic_auth);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(web_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
