/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The livepatch core of a kernel tree, compiled unmodified: each file is included here (the build
 * passes -I <tree>/kernel/livepatch), and what the harness needs of its static variables and
 * functions is made reachable by the accessors that follow each file. No kernel line is edited.
 */
#define KBUILD_MODNAME "livepatch"

#include "core.c"

int klpmc_klp_init(void)
{
	return klp_init();
}

work_func_t klpmc_free_patch_work_fn(void)
{
	return klp_free_patch_work_fn;
}

#include "patch.c"

struct list_head *klpmc_klp_ops(void)
{
	return &klp_ops;
}

#include "transition.c"

int *klpmc_target_state(void)
{
	return &klp_target_state;
}

unsigned int *klpmc_signals_cnt(void)
{
	return &klp_signals_cnt;
}

struct work_struct *klpmc_transition_work(void)
{
	return &klp_transition_work.work;
}

#include "state.c"

#include "shadow.c"

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
