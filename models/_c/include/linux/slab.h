/* SPDX-License-Identifier: GPL-2.0-only */
/* klpmc stub: kmalloc and friends take memory from the harness's arena (freed memory is poisoned). */
#ifndef _KLPMC_LINUX_SLAB_H
#define _KLPMC_LINUX_SLAB_H

#include <linux/kernel.h>

/* the kernel's allocations may fail (fault kind "alloc"); the harness's own use klpmc_alloc() */
#define kmalloc(size, gfp) klpmc_kmalloc(size, false)
#define kzalloc(size, gfp) klpmc_kmalloc(size, true)
#define kcalloc(n, size, gfp) klpmc_kmalloc((n) * (size), true)
#define kfree(p) klpmc_free(p)
#define kstrdup(s, gfp) klpmc_kstrdup(s)
/* the free waits for a grace period: the end of the call the harness made */
#define kfree_rcu(p, field) klpmc_free_deferred(p)

#endif
