// SPDX-License-Identifier: GPL-2.0
/*
 * A target module whose function a livepatch replaces, as the selftest "module function patching"
 * (test-livepatch.sh, tests 4 and 5) describes it: init and exit log their names, and
 * /proc/test_klp_mod_target shows "test_klp_mod_target: original output" through
 * test_klp_mod_target_show().  Written for klpmc: linux-source-6.12 does not have this module.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>

static struct proc_dir_entry *klpmc_proc;

static noinline int test_klp_mod_target_show(struct seq_file *m, void *v)
{
	seq_printf(m, "%s: %s\n", THIS_MODULE->name, "original output");
	return 0;
}

static int test_klp_mod_target_init(void)
{
	pr_info("%s\n", __func__);
	klpmc_proc = proc_create_single("test_klp_mod_target", 0444, NULL, test_klp_mod_target_show);
	return klpmc_proc ? 0 : -ENOMEM;
}

static void test_klp_mod_target_exit(void)
{
	proc_remove(klpmc_proc);
	pr_info("%s\n", __func__);
}

module_init(test_klp_mod_target_init);
module_exit(test_klp_mod_target_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("klpmc: target module with a function to patch");
