/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What the harness needs of kernel/livepatch/patch.c's static variables and functions: the build compiles
 * the tree's patch.c unmodified with this file included after it, in one translation unit (as the kernel
 * builds each file). No kernel line is edited.
 */

struct list_head *klpmc_klp_ops(void)
{
	return &klp_ops;
}
