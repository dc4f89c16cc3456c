/* Snapshot publication: the aggregator swaps an immutable snapshot in, readers
 * take a reference. The pointer load and the reference increment must be one
 * step, or the aggregator could free a snapshot between them; a tiny lock
 * around just those two instructions does that (no reader ever waits on a
 * collector or on rendering). What an exporter derives from a snapshot (the
 * Prometheus exporter's gzip bodies) is the exporter's own.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

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

	if (!s)
		return NULL;
	atomic_init(&s->refs, 1);
	return s;
}

/* Live tracked snapshots: a handful (current, and what a scrape, the
 * records writer or a remote-write push still holds). */
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static struct snapshot *live_head;

void snapshot_track(struct snapshot *s)
{
	pthread_mutex_lock(&live_lock);
	s->live_prev = NULL;
	s->live_next = live_head;
	if (live_head)
		live_head->live_prev = s;
	live_head = s;
	s->tracked = 1;
	pthread_mutex_unlock(&live_lock);
}

uint64_t snapshot_oldest_live(void)
{
	uint64_t g = UINT64_MAX;

	pthread_mutex_lock(&live_lock);
	for (const struct snapshot *s = live_head; s; s = s->live_next)
		if (s->generation < g)
			g = s->generation;
	pthread_mutex_unlock(&live_lock);
	return g;
}

static void snapshot_free(struct snapshot *s)
{
	if (s->tracked) {
		pthread_mutex_lock(&live_lock);
		if (s->live_prev)
			s->live_prev->live_next = s->live_next;
		else
			live_head = s->live_next;
		if (s->live_next)
			s->live_next->live_prev = s->live_prev;
		pthread_mutex_unlock(&live_lock);
	}
	free(s->text);
	free(s->om);
	free(s->values);
	free(s->finals);
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

void snapshot_shutdown(void)
{
	snapshot_publish(NULL);
}

/* Final-value consumers: a few slots (one per records writer). seen[i] is
 * the generation slot i has handled; used[i] says the slot is taken. The
 * aggregator reads them with acquire, so a consumer's "seen" is never read
 * before its registration. */
#define FINAL_SLOTS 16
static _Atomic int final_used[FINAL_SLOTS];
static _Atomic uint64_t final_seen[FINAL_SLOTS];

int snapshot_final_consumer_add(void)
{
	/* A free slot's seen is 0 (remove clears it before freeing the slot):
	 * a new consumer has seen nothing yet. */
	for (int i = 0; i < FINAL_SLOTS; i++) {
		int zero = 0;

		if (atomic_compare_exchange_strong_explicit(&final_used[i], &zero, 1,
							    memory_order_release,
							    memory_order_relaxed))
			return i;
	}
	return -ENOSPC;
}

void snapshot_final_consumer_remove(int slot)
{
	if (slot >= 0 && slot < FINAL_SLOTS) {
		atomic_store_explicit(&final_seen[slot], 0, memory_order_relaxed);
		atomic_store_explicit(&final_used[slot], 0, memory_order_release);
	}
}

void snapshot_final_seen(int slot, uint64_t generation)
{
	if (slot >= 0 && slot < FINAL_SLOTS &&
	    generation > atomic_load_explicit(&final_seen[slot], memory_order_relaxed))
		atomic_store_explicit(&final_seen[slot], generation, memory_order_release);
}

uint64_t snapshot_final_horizon(void)
{
	uint64_t h = UINT64_MAX;

	for (int i = 0; i < FINAL_SLOTS; i++) {
		if (!atomic_load_explicit(&final_used[i], memory_order_acquire))
			continue;
		uint64_t g = atomic_load_explicit(&final_seen[i], memory_order_acquire);
		if (g < h)
			h = g;
	}
	return h;
}
