/* SPDX-License-Identifier: GPL-2.0-only */
/* klpmc stub: one CPU, always online. */
#ifndef _KLPMC_LINUX_CPU_H
#define _KLPMC_LINUX_CPU_H

#include <linux/sched.h>
#include <linux/percpu.h>

#define for_each_possible_cpu(cpu) for ((cpu) = 0; (cpu) < 1; (cpu)++)
#define cpu_online(cpu) 1
#define cpus_read_lock() do { } while (0)
#define cpus_read_unlock() do { } while (0)

#endif
