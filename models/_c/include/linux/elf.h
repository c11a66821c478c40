/* SPDX-License-Identifier: GPL-2.0-only */
/* klpmc stub: ELF types for the relocation code, which the harness never feeds (e_shnum is 0). */
#ifndef _KLPMC_LINUX_ELF_H
#define _KLPMC_LINUX_ELF_H

#include <elf.h>

typedef Elf64_Ehdr Elf_Ehdr;
typedef Elf64_Shdr Elf_Shdr;
typedef Elf64_Sym Elf_Sym;
typedef Elf64_Rela Elf_Rela;
#define ELF_R_SYM(i) ELF64_R_SYM(i)
#define SHN_LIVEPATCH 0xff20
#define SHF_RELA_LIVEPATCH 0x00100000

#endif
