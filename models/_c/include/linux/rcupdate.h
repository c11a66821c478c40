/* SPDX-License-Identifier: GPL-2.0-only */
/* klpmc stub: RCU readers and preemption are no-ops; a grace period ends when the harness's call returns. */
#ifndef _KLPMC_LINUX_RCUPDATE_H
#define _KLPMC_LINUX_RCUPDATE_H

#include <linux/types.h>

#define rcu_read_lock() do { } while (0)
#define rcu_read_unlock() do { } while (0)
#define rcu_read_lock_sched() do { } while (0)
#define rcu_read_unlock_sched() do { } while (0)
#define synchronize_rcu() do { } while (0)
#define preempt_disable() do { } while (0)
#define preempt_enable() do { } while (0)
#define preempt_disable_notrace() do { } while (0)
#define preempt_enable_notrace() do { } while (0)
#define lockdep_assert_preemption_disabled() do { } while (0)

#endif
