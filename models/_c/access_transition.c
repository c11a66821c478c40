/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What the harness needs of kernel/livepatch/transition.c's static variables and functions: the build compiles
 * the tree's transition.c unmodified with this file included after it, in one translation unit (as the kernel
 * builds each file). No kernel line is edited.
 */

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

/* klp_check_stack()'s buffer: scratch the kernel writes before it reads, no part of the state */
void klpmc_clear_stack_entries(void)
{
	memset(klp_stack_entries, 0, sizeof(klp_stack_entries));
}
