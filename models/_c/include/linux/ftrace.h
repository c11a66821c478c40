/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * klpmc stub: ftrace keeps a table of registered ops and their filtered addresses; a second ops with
 * IPMODIFY on one address is refused with -EBUSY, as the kernel refuses it. A call of a traced
 * function through the table (harness.c, klpmc_call) runs the real klp_ftrace_handler, which says
 * through the instruction pointer which version of the function the calling task runs.
 */
#ifndef _KLPMC_LINUX_FTRACE_H
#define _KLPMC_LINUX_FTRACE_H

#include <linux/types.h>
#include <linux/list.h>

struct ftrace_ops;
struct ftrace_regs {
	unsigned long ip;
};
typedef void (*ftrace_func_t)(unsigned long ip, unsigned long parent_ip, struct ftrace_ops *op,
			      struct ftrace_regs *fregs);

struct ftrace_ops {
	ftrace_func_t func;
	unsigned long flags;
	unsigned long filter_ip;     /* the one address it traces, 0 for none */
	bool registered;
};

#define FTRACE_OPS_FL_DYNAMIC (1UL << 1)
#define FTRACE_OPS_FL_SAVE_REGS (1UL << 2)
#define FTRACE_OPS_FL_IPMODIFY (1UL << 11)
#define FTRACE_OPS_FL_PERMANENT (1UL << 16)

int ftrace_set_filter_ip(struct ftrace_ops *ops, unsigned long ip, int remove, int reset);
int register_ftrace_function(struct ftrace_ops *ops);
int unregister_ftrace_function(struct ftrace_ops *ops);

static inline unsigned long ftrace_location(unsigned long ip)
{
	return ip;
}

static inline int ftrace_test_recursion_trylock(unsigned long ip, unsigned long parent_ip)
{
	return 0;
}

static inline void ftrace_test_recursion_unlock(int bit)
{
}

static inline void ftrace_regs_set_instruction_pointer(struct ftrace_regs *fregs, unsigned long ip)
{
	fregs->ip = ip;
}

#endif
