/* SPDX-License-Identifier: GPL-2.0-only */
/* klpmc stub: a task's reliable stack is the function it sleeps in, or nothing (harness.c). */
#ifndef _KLPMC_LINUX_STACKTRACE_H
#define _KLPMC_LINUX_STACKTRACE_H

#include <linux/sched.h>

int stack_trace_save_tsk_reliable(struct task_struct *tsk, unsigned long *store, unsigned int size);

#endif
