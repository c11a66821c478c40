/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What the harness needs of kernel/livepatch/core.c's static variables and functions: the build compiles
 * the tree's core.c unmodified with this file included after it, in one translation unit (as the kernel
 * builds each file). No kernel line is edited.
 */

int klpmc_klp_init(void)
{
	return klp_init();
}

work_func_t klpmc_free_patch_work_fn(void)
{
	return klp_free_patch_work_fn;
}
