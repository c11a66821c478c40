/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * klpmc.h - what the stub headers ask of the harness (harness.c).
 *
 * The livepatch core of a kernel tree (kernel/livepatch/\*.c, unmodified) and the test modules are
 * compiled against the stub headers of include/; each stub is small and calls here for what only the
 * harness can do: memory from the arena, the kernel log, WARN reports, findings that end a step
 * (a double free, a deadlock, a sleep that never ends), faults the explorer injects, and the tables
 * that stand for the module loader, sysfs, ftrace, kallsyms, work items and tasks.
 */
#ifndef KLPMC_H
#define KLPMC_H

#include <stddef.h>
#include <stdbool.h>

void *klpmc_alloc(size_t size, bool zero);
void *klpmc_kmalloc(size_t size, bool zero);
char *klpmc_kstrdup(const char *s);
void klpmc_free(const void *p);
void klpmc_free_deferred(const void *p);      /* kfree_rcu: freed when the step's call returns */
char *klpmc_strdup(const char *s);

__attribute__((format(printf, 2, 3)))
void klpmc_printk(const char *func, const char *fmt, ...);
void klpmc_warn(const char *file, int line, const char *what);
__attribute__((noreturn, format(printf, 2, 3)))
void klpmc_finding(const char *kind, const char *fmt, ...);

/* a call that may fail: true when the explorer makes this one fail (see harness.c, faults) */
bool klpmc_fault(const char *kind, const char *patch, const char *where);

#endif
