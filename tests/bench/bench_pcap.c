/* make bench-pcap: offline replay throughput of the pcap collector's parser
 * and peer table. Writes a generated capture (tests/pcap_frames.c: TCP,
 * UDP, RoCEv2, VLAN, QinQ, IPv6; 1,000,000 packets, 1000 peers by default),
 * then reads it with the same libpcap loop twice: an empty callback (what
 * libpcap alone costs) and the collector's callback (pp_frame: pp_parse +
 * pp_account; one pp_fold at the end). Best of 10 rounds each, after a
 * round that is not counted, the two loops in alternating order; prints
 * packets/s of both (per second of this process's CPU time: the machine may
 * be shared) and the ratio (target >= 0.8x). A figure, not a pass/fail.
 * BENCH_VERBOSE=1 prints every round.
 * Usage: bench_pcap [packets] [peers] [file] [max_burst]
 * (max_burst: longest train of one peer's frames, default 16; 1 is the
 * worst case, every frame independent of the one before)
 */
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../collectors/pcap_parse.h"
#include "../pcap_frames.h"

/* measured rounds: the machine may be shared, and the best of each loop is
 * the figure least disturbed by others */
#define ROUNDS 10

struct run {
	int linktype;
	struct pp_table *t;
	unsigned long n;
};

static void empty_cb(u_char *user, const struct pcap_pkthdr *h, const u_char *b)
{
	(void)h;
	(void)b;
	((struct run *)(void *)user)->n++;
}

static void parse_cb(u_char *user, const struct pcap_pkthdr *h, const u_char *b)
{
	struct run *r = (struct run *)(void *)user;

	r->n++;
	pp_frame(r->t, r->linktype, b, h->caplen, h->len);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One replay of the file; packets/s, 0 on error. */
static double replay(const char *path, pcap_handler cb, struct pp_table *t,
		     unsigned long want)
{
	char err[PCAP_ERRBUF_SIZE];
	pcap_t *h = pcap_open_offline(path, err);
	struct run r = {0};
	double t0, t1;

	if (!h) {
		fprintf(stderr, "bench_pcap: %s\n", err);
		return 0;
	}
	r.linktype = pcap_datalink(h);
	r.t = t;
	t0 = now_s();
	if (pcap_dispatch(h, -1, cb, (u_char *)&r) < 0)
		fprintf(stderr, "bench_pcap: %s\n", pcap_geterr(h));
	if (t)
		pp_fold(t, 1.0, 10);
	t1 = now_s();
	pcap_close(h);
	if (r.n != want) {
		fprintf(stderr, "bench_pcap: read %lu packets, wrote %lu\n", r.n, want);
		return 0;
	}
	return (double)r.n / (t1 - t0);
}

int main(int argc, char **argv)
{
	unsigned long n = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
	unsigned peers = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 1000;
	char tmp[] = "/tmp/bench_pcap.XXXXXX";
	const char *path = argc > 3 && *argv[3] ? argv[3] : NULL;
	unsigned burst = argc > 4 ? (unsigned)strtoul(argv[4], NULL, 10) : 16;
	double best_empty = 0, best_parse = 0;
	struct pp_addr a;
	struct pp_table t;
	int fd;

	if (!path) {
		fd = mkstemp(tmp);
		if (fd < 0) {
			perror("bench_pcap: mkstemp");
			return 1;
		}
		close(fd);
		path = tmp;
	}
	if (n == 0 || pf_mix(path, n, peers ? peers : 1, burst) < 0) {
		fprintf(stderr, "bench_pcap: cannot write %s\n", path);
		return 1;
	}
	/* round 0 warms the page cache, the caches and the clock and is not
	 * counted; then ROUNDS rounds, the two loops in alternating order */
	for (int i = 0; i <= ROUNDS; i++) {
		double e = 0, p = 0;

		if (pp_table_init(&t, 64, 1024) < 0)
			return 1;
		pp_addr_parse("10.0.0.1", &a);
		pp_table_add_local(&t, &a);
		pp_addr_parse("fd00::1", &a);
		pp_table_add_local(&t, &a);
		if (i % 2)
			p = replay(path, parse_cb, &t, n);
		e = replay(path, empty_cb, NULL, n);
		if (i % 2 == 0)
			p = replay(path, parse_cb, &t, n);
		pp_table_free(&t);
		if (e == 0 || p == 0)
			return 1;
		if (getenv("BENCH_VERBOSE"))
			fprintf(stderr, "  round %d: %.0f %.0f packets/s, %.3fx\n", i, e, p,
				p / e);
		if (i == 0)
			continue;
		if (e > best_empty)
			best_empty = e;
		if (p > best_parse)
			best_parse = p;
	}
	printf("bench_pcap: %lu packets, %u peers, trains of up to %u frames (top 64 of "
	       "1024 "
	       "tracked), best of %d rounds\n",
	       n, peers, burst, ROUNDS);
	printf("  libpcap loop, empty callback:   %12.0f packets/s\n", best_empty);
	printf("  parse + account (the collector): %12.0f packets/s\n", best_parse);
	printf("  ratio: %.2fx of the empty loop (target >= 0.80x)\n",
	       best_parse / best_empty);
	if (path == tmp)
		unlink(tmp);
	return 0;
}
