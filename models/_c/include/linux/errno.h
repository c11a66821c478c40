/* SPDX-License-Identifier: GPL-2.0-only */
/* klpmc stub: the errno values of the system (glibc reaches this header too). */
#include <asm/errno.h>
