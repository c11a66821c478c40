/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * klpmc stub: a module is a shared object the harness loads once and resets on every insmod; its
 * struct module, parameters and init/exit are found through the symbols these macros define. The
 * module loader's order (COMING, klp_module_coming, parameters, init, LIVE; exit, GOING,
 * klp_module_going) is the harness's (harness.c, klpmc_insmod and klpmc_rmmod).
 */
#ifndef _KLPMC_LINUX_MODULE_H
#define _KLPMC_LINUX_MODULE_H

#include <linux/kernel.h>
#include <linux/list.h>
#include <linux/elf.h>
#include <linux/kobject.h>
#include <linux/workqueue.h>
#include <linux/completion.h>
#include <linux/mutex.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/err.h>

#define MODULE_NAME_LEN 56

enum module_state {
	MODULE_STATE_LIVE,
	MODULE_STATE_COMING,
	MODULE_STATE_GOING,
	MODULE_STATE_UNFORMED,
};

struct klp_modinfo {
	Elf_Ehdr hdr;
	Elf_Shdr *sechdrs;
	char *secstrings;
	unsigned int symndx;
};

struct mod_kallsyms {
	char *strtab;
};

struct module {
	enum module_state state;
	char name[MODULE_NAME_LEN];
	bool klp;                    /* MODULE_INFO(livepatch, "Y") */
	bool klp_alive;
	struct klp_modinfo *klp_info;
	struct mod_kallsyms core_kallsyms;
	int refcnt;
	int loaded;                  /* the harness: between insmod and rmmod */
};

struct kernel_param;

struct kernel_param_ops {
	unsigned int flags;
	int (*set)(const char *val, const struct kernel_param *kp);
	int (*get)(char *buffer, const struct kernel_param *kp);
	void (*free)(void *arg);
};

struct kernel_param {
	const char *name;
	void *arg;
	char type;                   /* 'b' bool, 'i' int, 's' charp, 'c' set and get through ops */
	const struct kernel_param_ops *ops;
};

#ifndef KBUILD_MODNAME
#define KBUILD_MODNAME "vmlinux"
#endif

#ifdef KLPMC_MODULE
extern struct module __this_module;
#define THIS_MODULE (&__this_module)
#define module_init(fn) int (*__klpmc_init)(void) = fn
#define module_exit(fn) void (*__klpmc_exit)(void) = fn
#define MODULE_INFO(tag, info) const char __klpmc_info_##tag[] = info
#else
#define THIS_MODULE ((struct module *)NULL)
#define module_init(fn)
#define module_exit(fn)
#define MODULE_INFO(tag, info)
#endif
#define MODULE_LICENSE(x)
#define MODULE_AUTHOR(x)
#define MODULE_DESCRIPTION(x)
#define MODULE_PARM_DESC(p, d)

#define __klpmc_param_type_bool 'b'
#define __klpmc_param_type_int 'i'
#define __klpmc_param_type_charp 's'
#define module_param(name, type, perm) \
	static const struct kernel_param __klpmc_param_##name \
	__attribute__((section("klpmc_params"), used, aligned(8))) = { #name, &(name), __klpmc_param_type_##type }

#define module_param_named(name, value, type, perm) \
	static const struct kernel_param __klpmc_param_##name \
	__attribute__((section("klpmc_params"), used, aligned(8))) = { #name, &(value), __klpmc_param_type_##type }

#define module_param_cb(name, ops_, arg_, perm) \
	static const struct kernel_param __klpmc_param_##name \
	__attribute__((section("klpmc_params"), used, aligned(8))) = { #name, arg_, 'c', ops_ }

/* an array parameter: the harness sets none (test_klp_syscall's pids: no process to switch here) */
#define module_param_array(name, type, nump, perm)

bool try_module_get(struct module *mod);
void module_put(struct module *mod);
struct module *find_module(const char *name);

static inline bool is_livepatch_module(struct module *mod)
{
	return mod->klp;
}

#endif
