/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * klpmc stub: queuing a work item only queues it; the explorer decides when each queued item runs
 * (one of its steps), a wait or a flush runs them. A work item runs in a task of its own, which may
 * sleep (msleep) and be resumed later.
 */
#ifndef _KLPMC_LINUX_WORKQUEUE_H
#define _KLPMC_LINUX_WORKQUEUE_H

#include <linux/list.h>

struct work_struct;
typedef void (*work_func_t)(struct work_struct *work);

struct work_struct {
	work_func_t func;
	int pending;                 /* on the harness's queue */
	int delayed;
	int task;                    /* the task running it, 0 when none */
};

struct delayed_work {
	struct work_struct work;
};

#define __WORK_INITIALIZER(n, f) { .func = (f), .pending = 0, .delayed = 0, .task = 0 }
#define DECLARE_WORK(n, f) struct work_struct n = __WORK_INITIALIZER(n, f)
#define DECLARE_DELAYED_WORK(n, f) struct delayed_work n = { .work = __WORK_INITIALIZER((n).work, f) }
#define INIT_WORK(w, f) do { (w)->func = (f); (w)->pending = 0; (w)->delayed = 0; (w)->task = 0; } while (0)

bool klpmc_queue_work(struct work_struct *work, bool delayed);
bool klpmc_flush_work(struct work_struct *work);
int klpmc_on_each_cpu(work_func_t func);

#define schedule_work(w) klpmc_queue_work(w, false)
#define schedule_delayed_work(dw, delay) klpmc_queue_work(&(dw)->work, true)
#define flush_work(w) klpmc_flush_work(w)
#define schedule_on_each_cpu(f) klpmc_on_each_cpu(f)

#endif
