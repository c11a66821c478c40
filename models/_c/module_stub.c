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

/*
 * __fentry__: what the first instruction of each of the module's functions calls (the module is built
 * with -pg -mfentry, as the kernel's code is for ftrace). It keeps the arguments, asks the harness
 * (klpmc_fentry) whether a registered ftrace ops sends this task elsewhere and, if so, jumps there in
 * place of the function, with the caller's return address on the stack: a livepatch's redirection.
 */
__asm__(
	"	.text\n"
	"	.globl __fentry__\n"
	"	.hidden __fentry__\n"
	"	.type __fentry__, @function\n"
	"__fentry__:\n"
	"	pushq %rdi\n	pushq %rsi\n	pushq %rdx\n	pushq %rcx\n"
	"	pushq %r8\n	pushq %r9\n	pushq %rax\n	pushq %r10\n"
	"	movq 64(%rsp), %rdi\n"
	"	movq 72(%rsp), %rsi\n"
	"	call klpmc_fentry@PLT\n"
	"	movq %rax, %r11\n"
	"	popq %r10\n	popq %rax\n	popq %r9\n	popq %r8\n"
	"	popq %rcx\n	popq %rdx\n	popq %rsi\n	popq %rdi\n"
	"	testq %r11, %r11\n"
	"	jz 1f\n"
	"	addq $8, %rsp\n"
	"	jmp *%r11\n"
	"1:	ret\n"
	"	.size __fentry__, .-__fentry__\n");
