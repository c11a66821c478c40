// SPDX-License-Identifier: GPL-2.0-only
/*
 * module_stub.c - linked into every module's shared object: its struct module (THIS_MODULE) and where
 * the module_param() entries of its source are (the section klpmc_params).
 */
#include <linux/module.h>

extern const struct kernel_param __start_klpmc_params[] __attribute__((weak));
extern const struct kernel_param __stop_klpmc_params[] __attribute__((weak));
const struct kernel_param *__klpmc_params_start = __start_klpmc_params;
const struct kernel_param *__klpmc_params_stop = __stop_klpmc_params;

static struct klp_modinfo __klpmc_klp_info;

struct module __this_module = {
	.name = KBUILD_MODNAME,
	.state = MODULE_STATE_UNFORMED,
	.klp_info = &__klpmc_klp_info,
};
