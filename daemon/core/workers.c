/* workers.c - the screening worker pool (see workers.h).
 *
 * One mutex guards the queue, the per-thread "current job" slots and the
 * counters; pool threads sleep on one condition variable.  A finished job is
 * handed back with uv_async_send() on its own async handle, which the loop
 * thread closes after done() ran: uv_async_send() is the only call that
 * crosses threads.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "workers.h"

struct slot {
	pthread_t tid;
	const struct workers_job *job;  /* running, or NULL */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static struct slot *slots;
static unsigned n_threads;
static struct workers_job *head, *tail;        /* live jobs */
static struct workers_job *bg_head, *bg_tail;  /* background jobs */
static unsigned n_queued, n_bg, max_queued;
static int stopping;

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *thread_main(void *arg)
{
	struct slot *s = arg;

	pthread_mutex_lock(&lock);
	for (;;) {
		struct workers_job *j;

		while (!head && !bg_head && !stopping)
			pthread_cond_wait(&wake, &lock);
		if (stopping)
			break;
		if (head) {
			j = head;
			head = j->next;
			if (!head)
				tail = NULL;
		} else {
			j = bg_head;
			bg_head = j->next;
			if (!bg_head)
				bg_tail = NULL;
			n_bg--;
		}
		n_queued--;
		s->job = j;
		pthread_mutex_unlock(&lock);
		j->work(j);
		pthread_mutex_lock(&lock);
		s->job = NULL;
		/* After this send the loop thread may free j: touch it no more. */
		uv_async_send(&j->async);
	}
	pthread_mutex_unlock(&lock);
	return NULL;
}

int workers_init(unsigned threads)
{
	int rc = 0;

	if (threads < 1 || threads > WORKERS_MAX_THREADS)
		return -EINVAL;
	pthread_mutex_lock(&lock);
	if (slots)
		goto out;
	slots = calloc(threads, sizeof(*slots));
	if (!slots) {
		rc = -ENOMEM;
		goto out;
	}
	stopping = 0;
	max_queued = threads * WORKERS_QUEUE_PER_THREAD;
	for (n_threads = 0; n_threads < threads; n_threads++) {
		rc = -pthread_create(&slots[n_threads].tid, NULL, thread_main, &slots[n_threads]);
		if (rc < 0)
			break;
	}
	if (n_threads > 0)
		rc = 0;          /* fewer threads than asked still screen */
	else {
		free(slots);
		slots = NULL;
	}
out:
	pthread_mutex_unlock(&lock);
	return rc;
}

static unsigned count_stuck(uint64_t now)
{
	unsigned n = 0;

	for (unsigned i = 0; i < n_threads; i++) {
		const struct workers_job *j = slots[i].job;

		n += j && j->deadline_ns && now > j->deadline_ns;
	}
	return n;
}

static void async_closed(uv_handle_t *h)
{
	struct workers_job *j = h->data;

	j->done(j);
}

static void async_cb(uv_async_t *a)
{
	/* done() runs from the close callback, so the job (and the handle in
	 * it) may be freed there. */
	uv_close((uv_handle_t *)a, async_closed);
}

int workers_submit(uv_loop_t *loop, struct workers_job *j)
{
	int rc;

	pthread_mutex_lock(&lock);
	if (!slots || stopping)
		rc = -ESHUTDOWN;
	else if (count_stuck(mono_ns()) == n_threads)
		rc = -EBUSY;
	else if (n_queued >= max_queued)
		rc = -EAGAIN;
	else
		rc = 0;
	pthread_mutex_unlock(&lock);
	if (rc < 0)
		return rc;
	rc = uv_async_init(loop, &j->async, async_cb);
	if (rc < 0)
		return rc;
	j->async.data = j;
	j->next = NULL;
	pthread_mutex_lock(&lock);
	if (j->background) {
		if (bg_tail)
			bg_tail->next = j;
		else
			bg_head = j;
		bg_tail = j;
		n_bg++;
	} else {
		if (tail)
			tail->next = j;
		else
			head = j;
		tail = j;
	}
	n_queued++;
	pthread_cond_signal(&wake);
	pthread_mutex_unlock(&lock);
	return 0;
}

void workers_stats(struct workers_stats *out)
{
	uint64_t now = mono_ns();

	pthread_mutex_lock(&lock);
	out->threads = n_threads;
	out->busy = 0;
	for (unsigned i = 0; i < n_threads; i++)
		out->busy += slots[i].job != NULL;
	out->stuck = slots ? count_stuck(now) : 0;
	out->queued = n_queued;
	out->queued_background = n_bg;
	pthread_mutex_unlock(&lock);
}

void workers_shutdown(void)
{
	struct slot *v;
	unsigned n;

	pthread_mutex_lock(&lock);
	v = slots;
	n = n_threads;
	stopping = 1;
	pthread_cond_broadcast(&wake);
	pthread_mutex_unlock(&lock);
	for (unsigned i = 0; i < n; i++)
		pthread_join(v[i].tid, NULL);
	pthread_mutex_lock(&lock);
	free(slots);
	slots = NULL;
	n_threads = 0;
	head = tail = NULL;
	bg_head = bg_tail = NULL;
	n_queued = n_bg = 0;
	pthread_mutex_unlock(&lock);
}
