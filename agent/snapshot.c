/* Snapshot publication: the aggregator swaps an immutable snapshot in, readers
 * take a reference. The pointer load and the reference increment must be one
 * step, or the aggregator could free a snapshot between them; a tiny lock
 * around just those two instructions does that (no reader ever waits on a
 * collector or on rendering). Gzip bodies are made lazily, once per snapshot.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "snapshot.h"

static pthread_spinlock_t cur_lock;
static pthread_once_t cur_once = PTHREAD_ONCE_INIT;
static struct snapshot *current;

static void cur_init(void)
{
	pthread_spin_init(&cur_lock, PTHREAD_PROCESS_PRIVATE);
}

struct snapshot *snapshot_new(void)
{
	struct snapshot *s = calloc(1, sizeof(*s));
	pthread_mutex_t *m;

	if (!s)
		return NULL;
	m = malloc(sizeof(*m));
	if (!m) {
		free(s);
		return NULL;
	}
	pthread_mutex_init(m, NULL);
	s->gz_lock = m;
	atomic_init(&s->refs, 1);
	return s;
}

static void snapshot_free(struct snapshot *s)
{
	free(s->text);
	free(s->om);
	free(s->values);
	free(s->text_gz);
	free(s->om_gz);
	pthread_mutex_destroy(s->gz_lock);
	free(s->gz_lock);
	free(s);
}

void snapshot_release(struct snapshot *s)
{
	/* acq_rel: the last owner must see every write made through the others
	 * before it frees. */
	if (s && atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1)
		snapshot_free(s);
}

struct snapshot *snapshot_acquire(void)
{
	struct snapshot *s;

	pthread_once(&cur_once, cur_init);
	pthread_spin_lock(&cur_lock);
	s = current;
	if (s)
		atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
	pthread_spin_unlock(&cur_lock);
	return s;
}

void snapshot_publish(struct snapshot *s)
{
	struct snapshot *old;

	pthread_once(&cur_once, cur_init);
	pthread_spin_lock(&cur_lock);
	old = current;
	current = s;
	pthread_spin_unlock(&cur_lock);
	snapshot_release(old);
}

static int gzip_body(const char *in, size_t len, char **out, size_t *outlen)
{
	z_stream z;
	uLong cap;
	char *o;
	int rc;

	memset(&z, 0, sizeof(z));
	/* windowBits 15 + 16: gzip wrapper; level 1: scrapes want speed. */
	if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	cap = deflateBound(&z, len);
	o = malloc(cap);
	if (!o) {
		deflateEnd(&z);
		return -ENOMEM;
	}
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)len;
	z.next_out = (Bytef *)o;
	z.avail_out = (uInt)cap;
	rc = deflate(&z, Z_FINISH);
	deflateEnd(&z);
	if (rc != Z_STREAM_END) {
		free(o);
		return -EIO;
	}
	*out = o;
	*outlen = cap - z.avail_out;
	return 0;
}

int snapshot_gzip(struct snapshot *s, int openmetrics, const char **out,
		  size_t *len)
{
	char **gz = openmetrics ? &s->om_gz : &s->text_gz;
	size_t *gzlen = openmetrics ? &s->om_gz_len : &s->text_gz_len;
	int rc = 0;

	pthread_mutex_lock(s->gz_lock);
	if (!*gz)
		rc = gzip_body(openmetrics ? s->om : s->text,
			       openmetrics ? s->om_len : s->text_len, gz, gzlen);
	if (rc == 0) {
		*out = *gz;
		*len = *gzlen;
	}
	pthread_mutex_unlock(s->gz_lock);
	return rc;
}

void snapshot_shutdown(void)
{
	snapshot_publish(NULL);
}
