/* SPDX-License-Identifier: GPL-2.0-only */
/* klpmc stub: printk, WARN, errno values and the few string helpers the livepatch core calls. */
#ifndef _KLPMC_LINUX_KERNEL_H
#define _KLPMC_LINUX_KERNEL_H

#include <linux/types.h>
#include <linux/preempt.h>
#include <linux/rcupdate.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "../../klpmc.h"

#ifndef pr_fmt
#define pr_fmt(fmt) fmt
#endif
#define printk(fmt, ...) klpmc_printk(NULL, fmt, ##__VA_ARGS__)
#define pr_emerg(fmt, ...) klpmc_printk(NULL, pr_fmt(fmt), ##__VA_ARGS__)
#define pr_err(fmt, ...) klpmc_printk(NULL, pr_fmt(fmt), ##__VA_ARGS__)
#define pr_warn(fmt, ...) klpmc_printk(NULL, pr_fmt(fmt), ##__VA_ARGS__)
#define pr_notice(fmt, ...) klpmc_printk(NULL, pr_fmt(fmt), ##__VA_ARGS__)
#define pr_info(fmt, ...) klpmc_printk(NULL, pr_fmt(fmt), ##__VA_ARGS__)
/* dynamic debug: the harness keeps the calling function, the selftests switch some off */
#define pr_debug(fmt, ...) klpmc_printk(__func__, pr_fmt(fmt), ##__VA_ARGS__)

#define WARN_ON(cond) ({ int __c = !!(cond); if (__c) klpmc_warn(__FILE__, __LINE__, #cond); __c; })
#define WARN_ON_ONCE(cond) WARN_ON(cond)
#define WARN(cond, fmt, ...) ({ int __c = !!(cond); if (__c) klpmc_warn(__FILE__, __LINE__, #cond); __c; })
#define BUG_ON(cond) do { if (cond) klpmc_finding("BUG", "%s:%d: BUG_ON(%s)", __FILE__, __LINE__, #cond); } while (0)

#define EXPORT_SYMBOL(sym)
#define EXPORT_SYMBOL_GPL(sym)

#define KSYM_NAME_LEN 512
#define NR_CPUS 1
#define asmlinkage
#define __stringify_1(x...) #x
#define __stringify(x...) __stringify_1(x)
#define HZ 100
#define min(a, b) ((a) < (b) ? (a) : (b))
#define max(a, b) ((a) > (b) ? (a) : (b))

static inline unsigned long round_jiffies_relative(unsigned long j) { return j; }

static inline int kstrtobool(const char *s, bool *res)
{
	if (!s)
		return -EINVAL;
	switch (s[0]) {
	case 'y': case 'Y': case 't': case 'T': case '1':
		*res = true;
		return 0;
	case 'n': case 'N': case 'f': case 'F': case '0':
		*res = false;
		return 0;
	case 'o': case 'O':
		if (s[1] == 'n' || s[1] == 'N') { *res = true; return 0; }
		if (s[1] == 'f' || s[1] == 'F') { *res = false; return 0; }
		break;
	}
	return -EINVAL;
}

#define sysfs_emit(buf, fmt, ...) sprintf(buf, fmt, ##__VA_ARGS__)
#define cond_resched() do { } while (0)

/* printk.h: the console loglevel that test_klp_state saves and fixes */
#define CONSOLE_LOGLEVEL_DEFAULT 7
#define CONSOLE_LOGLEVEL_MOTORMOUTH 15
extern int klpmc_console_printk[4];
#define console_loglevel (klpmc_console_printk[0])

/* strscpy(): copy with truncation, -E2BIG when it truncated */
static inline long strscpy(char *dst, const char *src, size_t size)
{
	size_t n = strnlen(src, size);

	if (size == 0)
		return -E2BIG;
	if (n == size) {
		memcpy(dst, src, size - 1);
		dst[size - 1] = '\0';
		return -E2BIG;
	}
	memcpy(dst, src, n + 1);
	return (long)n;
}

#endif
