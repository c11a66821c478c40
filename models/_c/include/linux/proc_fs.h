/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * klpmc stub: a module's /proc file is a name only. Reading it is not modelled: the selftests that make
 * one (the module-function pair of test-livepatch.sh) check its output in the shell, not in the kernel
 * log, so no scenario line depends on it.
 */
#ifndef _KLPMC_LINUX_PROC_FS_H
#define _KLPMC_LINUX_PROC_FS_H

#include <linux/types.h>
#include <linux/seq_file.h>

struct proc_dir_entry {
	int (*show)(struct seq_file *, void *);
};

static inline struct proc_dir_entry *proc_create_single(const char *name, umode_t mode,
							  struct proc_dir_entry *parent,
							  int (*show)(struct seq_file *, void *))
{
	static struct proc_dir_entry entry;

	entry.show = show;
	return &entry;
}

static inline void proc_remove(struct proc_dir_entry *entry)
{
	if (entry)
		entry->show = NULL;
}

#endif
