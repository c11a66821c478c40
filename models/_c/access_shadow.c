/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What the harness needs of kernel/livepatch/shadow.c's static variables and functions: the build compiles
 * the tree's shadow.c unmodified with this file included after it, in one translation unit (as the kernel
 * builds each file). No kernel line is edited.
 */

/* does a shadow variable with this id exist, for any object? */
int klpmc_shadow_exists(unsigned long id)
{
	struct klp_shadow *shadow;
	int bkt;

	hash_for_each(klp_shadow_hash, bkt, shadow, node)
		if (shadow->id == id)
			return 1;
	return 0;
}
