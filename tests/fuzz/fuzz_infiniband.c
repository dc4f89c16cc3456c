/* libFuzzer target for the InfiniBand collector's parsers of sysfs text
 * (counter values, port state, rate). Not built by `make`; build with
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -I agent \
 *         tests/fuzz/fuzz_infiniband.c -o fuzz_infiniband
 * The am_* calls the collector makes elsewhere are stubbed here.
 */
#include "../../collectors/infiniband.c"

am_family_t am_family(struct am_ctx *c, const struct am_family_def *d)
{
	(void)c;
	(void)d;
	return 0;
}
am_family_t am_std_family(struct am_ctx *c, enum am_std w, const struct am_std_use *u)
{
	(void)c;
	(void)w;
	(void)u;
	return 0;
}
am_series_t am_series(struct am_ctx *c, am_family_t f, const char *const *l)
{
	(void)c;
	(void)f;
	(void)l;
	return 0;
}
void am_emit(struct am_ctx *c, am_series_t s, double v)
{
	(void)c;
	(void)s;
	(void)v;
}
void am_emit_u64(struct am_ctx *c, am_series_t s, uint64_t raw)
{
	(void)c;
	(void)s;
	(void)raw;
}
void am_found(struct am_ctx *c, const char *fmt, ...)
{
	(void)c;
	(void)fmt;
}
void am_log(struct am_ctx *c, enum am_log_level l, const char *fmt, ...)
{
	(void)c;
	(void)l;
	(void)fmt;
}
void am_read_error(struct am_ctx *c)
{
	(void)c;
}
const char *am_sysfs(const struct am_ctx *c)
{
	(void)c;
	return "/nonexistent";
}
int64_t am_poll_time_ns(const struct am_ctx *c)
{
	(void)c;
	return 0;
}
double am_cfg_duration(const struct am_config *c, const char *k, double d)
{
	(void)c;
	(void)k;
	return d;
}
const char *am_cfg_string(const struct am_config *c, const char *k, const char *d)
{
	(void)c;
	(void)k;
	return d;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	uint64_t v;
	unsigned id, lanes;
	double bps;

	if (ib_parse_u64(s, size, &v) == 0) {
		/* round trip: the value printed back must parse the same */
		char buf[32];
		int n = snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
		uint64_t w;

		if (ib_parse_u64(buf, (size_t)n, &w) != 0 || w != v)
			__builtin_trap();
	}
	(void)ib_parse_state(s, size, &id);
	if (ib_parse_rate(s, size, &bps, &lanes) == 0 && !(bps >= 0))
		__builtin_trap();
	return 0;
}
