/* SPDX-License-Identifier: GPL-2.0-only */
/* klpmc stub: no relocations are applied (the harness's modules carry no .klp.rela sections). */
#ifndef _KLPMC_LINUX_MODULELOADER_H
#define _KLPMC_LINUX_MODULELOADER_H

#include <linux/module.h>

static inline int apply_relocate_add(Elf_Shdr *sechdrs, const char *strtab, unsigned int symindex,
				     unsigned int relsec, struct module *me)
{
	return 0;
}

#endif
