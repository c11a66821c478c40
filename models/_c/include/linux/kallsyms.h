/* SPDX-License-Identifier: GPL-2.0-only */
/* klpmc stub: a flat symbol table of the fake vmlinux and of each loaded module (harness.c). */
#ifndef _KLPMC_LINUX_KALLSYMS_H
#define _KLPMC_LINUX_KALLSYMS_H

#include <linux/types.h>

int module_kallsyms_on_each_symbol(const char *modname, int (*fn)(void *, const char *, unsigned long),
				   void *data);
int kallsyms_on_each_match_symbol(int (*fn)(void *, unsigned long), const char *name, void *data);
int kallsyms_lookup_size_offset(unsigned long addr, unsigned long *symbolsize, unsigned long *offset);

#endif
