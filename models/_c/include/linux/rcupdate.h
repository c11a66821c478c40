/* SPDX-License-Identifier: GPL-2.0-only */
/* klpmc stub: RCU readers are no-ops; a grace period ends when the harness's call returns. */
#ifndef _KLPMC_LINUX_RCUPDATE_H
#define _KLPMC_LINUX_RCUPDATE_H

#include <linux/types.h>
#include <linux/preempt.h>

#define rcu_read_lock() do { } while (0)
#define rcu_read_unlock() do { } while (0)
#define rcu_read_lock_sched() do { } while (0)
#define rcu_read_unlock_sched() do { } while (0)
#define synchronize_rcu() do { } while (0)

#endif
