/* SPDX-License-Identifier: GPL-2.0-only */
/* klpmc stub: basic types and compiler attributes the livepatch core uses. */
#ifndef _KLPMC_LINUX_TYPES_H
#define _KLPMC_LINUX_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/cdefs.h>
#undef __always_inline

/* the configuration the harness builds the core with */
#define CONFIG_LIVEPATCH 1
#define CONFIG_STACKTRACE 1
#define CONFIG_HAVE_RELIABLE_STACKTRACE 1
#define __KLPMC_PLACEHOLDER_1 0,
#define __klpmc_second(ignored, val, ...) val
#define __klpmc_defined(x) ___klpmc_defined(x)
#define ___klpmc_defined(val) ____klpmc_defined(__KLPMC_PLACEHOLDER_##val)
#define ____klpmc_defined(arg1_or_junk) __klpmc_second(arg1_or_junk 1, 0)
#define IS_ENABLED(option) __klpmc_defined(option)

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int8_t s8;
typedef int16_t s16;
typedef int32_t s32;
typedef int64_t s64;
typedef unsigned int gfp_t;
typedef unsigned short umode_t;

#define __always_inline inline __attribute__((__always_inline__))
#define noinline __attribute__((__noinline__))
#define notrace
#define __init
#define __exit
#define __weak __attribute__((__weak__))
#define __maybe_unused __attribute__((__unused__))
#define __used __attribute__((__used__))
#define __printf(a, b) __attribute__((format(printf, a, b)))
#define __must_check
#define __rcu
#define __percpu
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define READ_ONCE(x) (*(volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, v) (*(volatile __typeof__(x) *)&(x) = (v))
#define barrier() __asm__ __volatile__("" ::: "memory")
#define smp_wmb() barrier()
#define smp_rmb() barrier()
#define smp_mb() barrier()
#define BUILD_BUG_ON(cond) _Static_assert(!(cond), #cond)
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

#define GFP_KERNEL 0u
#define GFP_ATOMIC 1u

struct rcu_head {
	void *next;
};

#endif
