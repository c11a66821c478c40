/* SPDX-License-Identifier: GPL-2.0-only */
/* klpmc stub: per-CPU variables of the one CPU are plain variables. */
#ifndef _KLPMC_LINUX_PERCPU_H
#define _KLPMC_LINUX_PERCPU_H

#define DEFINE_PER_CPU(type, name) __typeof__(type) name
#define this_cpu_ptr(ptr) (ptr)

#endif
