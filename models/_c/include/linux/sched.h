/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * klpmc stub: the tasks of the harness (harness.c): the shell that types the commands (current during
 * a command), a user task running on another CPU (so a transition never completes inside the command
 * that starts it, only in klp_transition_work, as on a busy machine), one idle task, and the kworkers
 * of work items, which may sleep inside a function (their stack then holds it).
 */
#ifndef _KLPMC_LINUX_SCHED_H
#define _KLPMC_LINUX_SCHED_H

#include <linux/types.h>

#define TIF_PATCH_PENDING 13
#define PF_KTHREAD 0x00200000
#define TASK_INTERRUPTIBLE 0x0001
#define KLPMC_TASKS 8

struct task_struct {
	int patch_state;
	unsigned long thread_flags;
	unsigned int flags;
	int pid;
	char comm[16];
	bool used;
	bool on_cpu;
	unsigned long sleeps_at;     /* a return address inside the function it sleeps in, 0 if none */
	unsigned long stack[8];      /* while it sleeps: the return addresses on its stack, innermost first */
	int nstack;
	int signals;
	int wakeups;
};

extern struct task_struct klpmc_tasks[KLPMC_TASKS];
extern struct task_struct *klpmc_current;
#define current klpmc_current
#define idle_task(cpu) (&klpmc_tasks[0])

#define for_each_process_thread(g, t) \
	for ((g) = (t) = &klpmc_tasks[1]; (t) < &klpmc_tasks[KLPMC_TASKS]; (g) = ++(t)) \
		if ((t)->used)

static inline void set_tsk_thread_flag(struct task_struct *t, int flag) { t->thread_flags |= 1UL << flag; }
static inline void clear_tsk_thread_flag(struct task_struct *t, int flag) { t->thread_flags &= ~(1UL << flag); }
static inline int test_tsk_thread_flag(struct task_struct *t, int flag) { return !!(t->thread_flags & (1UL << flag)); }
static inline int test_and_clear_tsk_thread_flag(struct task_struct *t, int flag)
{
	int was = test_tsk_thread_flag(t, flag);

	clear_tsk_thread_flag(t, flag);
	return was;
}

static inline int task_curr(const struct task_struct *t) { return t->on_cpu; }
static inline pid_t task_tgid_vnr(struct task_struct *t) { return t->pid; }
static inline int task_call_func(struct task_struct *t, int (*fn)(struct task_struct *, void *), void *arg)
{
	return fn(t, arg);
}
static inline int wake_up_state(struct task_struct *t, unsigned int state) { t->wakeups++; return 1; }
static inline void set_notify_signal(struct task_struct *t) { t->signals++; }
static inline void wake_up_if_idle(int cpu) { }

#include <linux/spinlock.h>
extern rwlock_t tasklist_lock;
#endif
