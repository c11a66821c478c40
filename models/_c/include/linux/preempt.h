/* SPDX-License-Identifier: GPL-2.0-only */
/* klpmc stub: preemption is a no-op (the harness runs one task at a time). */
#ifndef _KLPMC_LINUX_PREEMPT_H
#define _KLPMC_LINUX_PREEMPT_H

#define preempt_disable() do { } while (0)
#define preempt_enable() do { } while (0)
#define preempt_disable_notrace() do { } while (0)
#define preempt_enable_notrace() do { } while (0)
#define lockdep_assert_preemption_disabled() do { } while (0)

#endif
