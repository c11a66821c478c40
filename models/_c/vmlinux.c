// SPDX-License-Identifier: GPL-2.0-only
/*
 * vmlinux.c - the functions of the kernel proper that livepatches patch in klpmc's runs: what the
 * selftest modules patch (the /proc show functions) and what klpmc's generated modules patch (one
 * function per object, "vmlinux_func"). Their symbols are kallsyms' vmlinux.
 */
#define KBUILD_MODNAME "vmlinux"

#include <linux/seq_file.h>

noinline int cmdline_proc_show(struct seq_file *m, void *v)
{
	seq_printf(m, "%s\n", "BOOT_IMAGE=/boot/vmlinuz root=/dev/vda ro console=ttyS0");
	return 0;
}

noinline int meminfo_proc_show(struct seq_file *m, void *v)
{
	seq_printf(m, "%s\n", "MemTotal:         524288 kB");
	return 0;
}

/* getpid(2) through its x86-64 syscall wrapper, which test_klp_syscall patches */
noinline long __x64_sys_getpid(void)
{
	return 1;
}

noinline int vmlinux_func(void)
{
	return 0;
}
