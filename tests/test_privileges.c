/* Unit tests of agent/privileges.c: the capabilities a config needs (the
 * switch itself, which needs root, is tested by
 * tests/integration/privileges.sh). */
#include <check.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>
#include <linux/capability.h>
#include <stdint.h>
#include <string.h>

#include "../agent/config.h"
#include "../agent/privileges.h"

static const struct cfg_component colls[] = {
    {"netdev", NULL, false, NULL},
    {"pcap", NULL, true, NULL},
};

static uint64_t needed(const char *yaml, char *why, size_t len)
{
	struct agent_config *cfg = NULL;
	char err[512];
	uint64_t caps;

	ck_assert_msg(config_parse(yaml, strlen(yaml), "t.yaml", colls, 2, NULL, 0, &cfg,
				   err, sizeof(err)) == 0,
		      "%s", err);
	caps = priv_needed(cfg, why, len);
	config_free(cfg);
	return caps;
}

START_TEST(test_needed)
{
	char why[256], names[128];

	ck_assert_uint_eq(needed("listen: 127.0.0.1:9917\n", why, sizeof(why)), 0);
	ck_assert_str_eq(why, "");
	ck_assert_str_eq(priv_names(0, names, sizeof(names)), "none");
	/* pcap is off until configured; configured, it needs CAP_NET_RAW. */
	ck_assert_uint_eq(
	    needed("collectors:\n  pcap: {enabled: false}\n", why, sizeof(why)), 0);
	ck_assert_uint_eq(needed("collectors:\n  pcap: {}\n", why, sizeof(why)),
			  1ull << CAP_NET_RAW);
	ck_assert_str_eq(why, "cap_net_raw (collectors.pcap)");
	ck_assert_uint_eq(needed("listen: \"[::1]:80\"\ncollectors:\n  pcap: {}\n"
				 "  pcap/second: {}\n",
				 why, sizeof(why)),
			  (1ull << CAP_NET_RAW) | (1ull << CAP_NET_BIND_SERVICE));
	ck_assert_str_eq(why, "cap_net_raw (collectors.pcap), cap_net_raw "
			      "(collectors.pcap/second), cap_net_bind_service "
			      "(listen [::1]:80)");
	ck_assert_str_eq(
	    priv_names((1ull << CAP_NET_RAW) | (1ull << CAP_NET_BIND_SERVICE), names,
		       sizeof(names)),
	    "cap_net_raw,cap_net_bind_service");
	/* A short buffer is cut, never overrun. */
	needed("listen: 127.0.0.1:80\ncollectors:\n  pcap: {}\n", why, 8);
	ck_assert_uint_lt(strlen(why), 8);
}
END_TEST

/* Root with more supplementary groups than a fixed array holds: the checks
 * as --user still run, and resume gives all of them back. Needs root (the
 * test runs in Check's forked child, so the groups set here stay there). */
START_TEST(test_many_groups)
{
	gid_t set[300], got[400];
	struct priv_saved sv = {0};
	char err[256] = "";

	if (geteuid() != 0)
		return;
	for (int i = 0; i < 300; i++)
		set[i] = (gid_t)(20000 + i);
	ck_assert_int_eq(setgroups(300, set), 0);
	ck_assert_msg(priv_assume("nobody", &sv, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq((int)getuid(), (int)getpwnam("nobody")->pw_uid);
	priv_resume(&sv);
	ck_assert_int_eq(getgroups(400, got), 300);
	for (int i = 0; i < 300; i++)
		ck_assert_int_eq((int)got[i], (int)set[i]);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("privileges");
	TCase *tc = tcase_create("needed");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_needed);
	tcase_add_test(tc, test_many_groups);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
