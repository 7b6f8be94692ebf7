/* workers.h - the screening worker pool: a fixed set of threads, a bounded queue, completion on the loop.
 *
 * Screening runs plugins that may overrun their budget and cannot be
 * stopped.  On libuv's shared pool such a plugin held a thread that outbox
 * commits, spool and sink reads needed, so one slow plugin delayed every
 * answer.  This pool runs screen() calls only, on threads of its own; the
 * durable path keeps libuv's pool to itself.
 *
 * Threads: the pool's threads are started on the first workers_submit()
 * and live until workers_shutdown().  A job is submitted on a loop thread;
 * work() runs on a pool thread; done() runs back on the submitting loop's
 * thread (through a uv_async_t of the job's own, which also keeps that loop
 * alive until done() ran, as uv_queue_work does).
 *
 * Accounting: a thread whose job is past its deadline is "stuck".  The pool
 * never grows to replace it: while every thread is stuck, workers_submit()
 * refuses (-EBUSY) rather than queue work nobody can run, and the queue is
 * bounded (-EAGAIN when full).
 *
 * Priority: jobs marked `background` (re-screening, rescreen.h) wait in a
 * queue of their own; a thread takes one only while no live job is queued,
 * so live screenings never wait behind re-screening.
 */
#ifndef KVS_WORKERS_H
#define KVS_WORKERS_H

#include <stdint.h>
#include <uv.h>

#define WORKERS_MAX_THREADS 256
#define WORKERS_QUEUE_PER_THREAD 256

struct workers_job {
	void (*work)(struct workers_job *j);  /* pool thread */
	void (*done)(struct workers_job *j);  /* loop thread, once */
	uint64_t deadline_ns;                 /* CLOCK_MONOTONIC; 0: none */
	int background;                       /* re-screening: runs only when no
					       * live job is queued */
	/* Private to the pool. */
	uv_async_t async;
	struct workers_job *next;
};

struct workers_stats {
	unsigned threads;
	unsigned busy;     /* running a job */
	unsigned stuck;    /* running a job past its deadline */
	unsigned queued;
	unsigned queued_background;  /* of queued */
};

/* Start the pool of `threads` (1..WORKERS_MAX_THREADS) if it is not
 * running yet; a running pool keeps its size.  Returns 0 or a negative
 * errno. */
int workers_init(unsigned threads);

/* Queue j on the pool (loop thread of `loop`).  Returns 0, and then
 * j->done() is called once on that loop after j->work() returned; or
 * -EBUSY (every thread stuck), -EAGAIN (queue full), -ENOMEM, and then
 * done() is never called. */
int workers_submit(uv_loop_t *loop, struct workers_job *j);

/* A snapshot of the pool (any thread). */
void workers_stats(struct workers_stats *out);

/* Stop and join the threads once their jobs are done (at exit, after the
 * loops ran dry).  Jobs still queued are not run. */
void workers_shutdown(void);

#endif
