/* SPDX-License-Identifier: GPL-2.0-only */
/* klpmc stub: a static key is an int. */
#ifndef _KLPMC_LINUX_JUMP_LABEL_H
#define _KLPMC_LINUX_JUMP_LABEL_H

struct static_key_false {
	int enabled;
};

#define DEFINE_STATIC_KEY_FALSE(name) struct static_key_false name = { 0 }
#define DECLARE_STATIC_KEY_FALSE(name) extern struct static_key_false name
#define static_branch_enable(key) ((key)->enabled = 1)
#define static_branch_disable(key) ((key)->enabled = 0)
#define static_branch_unlikely(key) ((key)->enabled)

#endif
