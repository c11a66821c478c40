/* SPDX-License-Identifier: GPL-2.0-only */
/* klpmc stub: spinlocks and rwlocks are no-ops: the harness runs one thing at a time. */
#ifndef _KLPMC_LINUX_SPINLOCK_H
#define _KLPMC_LINUX_SPINLOCK_H

#include <linux/types.h>

typedef struct { int unused; } spinlock_t;
typedef struct { int unused; } rwlock_t;
#define DEFINE_SPINLOCK(name) spinlock_t name = { 0 }
#define spin_lock_irqsave(l, flags) do { (void)(l); (flags) = 0; } while (0)
#define spin_unlock_irqrestore(l, flags) do { (void)(l); (void)(flags); } while (0)
#define spin_lock(l) do { (void)(l); } while (0)
#define spin_unlock(l) do { (void)(l); } while (0)
#define read_lock(l) do { (void)(l); } while (0)
#define read_unlock(l) do { (void)(l); } while (0)

#endif
