/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * klpmc stub: a completion is a count. Waiting runs the queued work items (each in its own task) until
 * the count is positive; a wait nothing can end is a finding (the kernel would sleep forever).
 */
#ifndef _KLPMC_LINUX_COMPLETION_H
#define _KLPMC_LINUX_COMPLETION_H

#include <linux/types.h>

struct completion {
	unsigned int done;
};

#define DECLARE_COMPLETION(name) struct completion name = { 0 }

static inline void init_completion(struct completion *x)
{
	x->done = 0;
}

static inline void complete(struct completion *x)
{
	x->done++;
}

void klpmc_wait_for_completion(struct completion *x);
#define wait_for_completion(x) klpmc_wait_for_completion(x)

#endif
