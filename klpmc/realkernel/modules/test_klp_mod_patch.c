// SPDX-License-Identifier: GPL-2.0
/*
 * A livepatch of test_klp_mod_target_show() in the module test_klp_mod_target, as the selftest "module
 * function patching" (test-livepatch.sh, tests 4 and 5) describes it: no callbacks, no parameters; the
 * new function shows "test_klp_mod_patch: this has been live patched".  Written for klpmc:
 * linux-source-6.12 does not have this module.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/livepatch.h>
#include <linux/seq_file.h>

static int klpmc_mod_target_show(struct seq_file *m, void *v)
{
	seq_printf(m, "%s: %s\n", THIS_MODULE->name, "this has been live patched");
	return 0;
}

static struct klp_func klpmc_funcs[] = {
	{ .old_name = "test_klp_mod_target_show", .new_func = klpmc_mod_target_show },
	{ }
};

static struct klp_object klpmc_objs[] = {
	{ .name = "test_klp_mod_target", .funcs = klpmc_funcs },
	{ }
};

static struct klp_patch klpmc_patch = {
	.mod = THIS_MODULE,
	.objs = klpmc_objs,
};

static int test_klp_mod_patch_init(void)
{
	return klp_enable_patch(&klpmc_patch);
}

static void test_klp_mod_patch_exit(void)
{
}

module_init(test_klp_mod_patch_init);
module_exit(test_klp_mod_patch_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
MODULE_DESCRIPTION("klpmc: livepatch of test_klp_mod_target_show");
