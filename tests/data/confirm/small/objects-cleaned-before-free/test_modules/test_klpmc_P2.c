// SPDX-License-Identifier: GPL-2.0
/*
 * P2 (test_klpmc_P2) of the upstream model's preset "small", written by hand for klpmc's tests in the shape that
 * --emit-selftest gives: a livepatch of vmlinux without functions whose per-object callbacks log their
 * name and object, holding state 1 version 1, an atomic replace.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/livepatch.h>

static const char *klpmc_obj_name(struct klp_object *obj)
{
	return obj->name ? obj->name : "vmlinux";
}

static int pre_patch_callback(struct klp_object *obj)
{
	pr_info("%s: %s\n", __func__, klpmc_obj_name(obj));
	return 0;
}

static void post_patch_callback(struct klp_object *obj)
{
	pr_info("%s: %s\n", __func__, klpmc_obj_name(obj));
}

static void pre_unpatch_callback(struct klp_object *obj)
{
	pr_info("%s: %s\n", __func__, klpmc_obj_name(obj));
}

static void post_unpatch_callback(struct klp_object *obj)
{
	pr_info("%s: %s\n", __func__, klpmc_obj_name(obj));
}

static struct klp_func no_funcs[] = {
	{ }
};

static struct klp_object objs[] = {
	{
		.name = NULL,	/* vmlinux */
		.funcs = no_funcs,
		.callbacks = {
			.pre_patch = pre_patch_callback,
			.post_patch = post_patch_callback,
			.pre_unpatch = pre_unpatch_callback,
			.post_unpatch = post_unpatch_callback,
		},
	},
	{ }
};

static struct klp_state states[] = {
	{ .id = 1, .version = 1 },
	{ }
};

static struct klp_patch patch = {
	.mod = THIS_MODULE,
	.objs = objs,
	.states = states,
	.replace = true,
};

static int klpmc_init(void)
{
	return klp_enable_patch(&patch);
}

static void klpmc_exit(void)
{
}

module_init(klpmc_init);
module_exit(klpmc_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
