// SPDX-License-Identifier: GPL-2.0-only
/*
 * harness.c - the kernel around the livepatch core, in user space, for klpmc's `kernel` model.
 *
 * The unmodified kernel/livepatch/\*.c of a tree (units.c) and the test modules run here against the
 * stub headers of include/. This file is the rest of the kernel they need, and the explorer's hands:
 *
 *   memory     an arena at a fixed address; freed memory is poisoned (0x6b) and never reused, so a
 *              use after free reads poison; a double or invalid kfree is a finding.
 *   modules    one shared object per module, loaded once and reset to its first image on every insmod;
 *              the loader's order is load_module()'s: COMING, klp_module_coming(), parameters, init,
 *              LIVE; rmmod: refused while the module is in use, else exit, GOING, klp_module_going().
 *   sysfs      kobjects in a registry; a write to /sys/kernel/livepatch/<patch>/<attr> reaches the
 *              attribute's store() as sysfs does (ktype->default_groups).
 *   ftrace     a table of ops; a call of a traced function runs the real klp_ftrace_handler.
 *   kallsyms   a flat table of the fake vmlinux's and of the modules' symbols.
 *   work       queued items run when the explorer says (each in a task of its own, which may sleep);
 *              waits and flushes run them.
 *   tasks      idle, the shell (current for commands; it calls klp_update_patch_state() before and
 *              after each command, as a process does on its way back to user mode), a user task on
 *              another CPU (it reaches a safe point only when klp_transition_work runs), kworkers. A
 *              sleeping task's stack is the function it sleeps in.
 *   log        printk lines and the callbacks' events, read by the Python side after each call.
 *
 * What is not real: concurrency inside a transition (each call runs to its end; the lock-free parts,
 * klp_ftrace_handler and klp_update_patch_state, never interleave with the core), memory ordering,
 * ELF relocations (e_shnum is 0), signals (klp_signals_cnt is cleared after each call, so the
 * "signaling remaining tasks" path is not taken), and timing (a sleeping task is resumed once after
 * every command, as if its timer fired).
 *
 * A state of the kernel is its memory: the writable data of the core and of the modules, the arena, the
 * tasks. klpmc_snapshot()/klpmc_restore() save and restore it; klpmc_digest() hashes it with every
 * pointer into the arena replaced by (the allocation's number in the order a walk from the globals
 * finds it, offset), so states that differ only in where things were allocated are one state.
 */
#define _GNU_SOURCE
#define KBUILD_MODNAME "klpmc"

#include <dlfcn.h>
#include <link.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <ucontext.h>

#include <linux/livepatch.h>
#include <linux/seq_file.h>
#include <linux/stacktrace.h>
#include <linux/kallsyms.h>
#include "core.h"
#include "patch.h"
#include "transition.h"

int klpmc_klp_init(void);
struct list_head *klpmc_klp_ops(void);
int *klpmc_target_state(void);
unsigned int *klpmc_signals_cnt(void);
struct work_struct *klpmc_transition_work(void);
int klpmc_shadow_exists(unsigned long id);
unsigned int klpmc_shadow_set(void);
void klpmc_sort_klp_ops(void);
void klpmc_sort_shadow_hash(void);
void klpmc_clear_stack_entries(void);
work_func_t klpmc_free_patch_work_fn(void);

#define ARENA_BASE ((char *)0x300000000000UL)
#define ARENA_SIZE (256UL << 20)
#define META_BASE ((char *)0x310000000000UL)
#define META_SIZE (64UL << 20)
#define STACK_BASE ((char *)0x320000000000UL)
#define STACK_SIZE (64UL << 10)
#define CTX_BASE ((char *)0x330000000000UL)
#define REG_BASE ((char *)0x340000000000UL)
#define MAX_KOBJECTS 4096
#define POISON 0x6b
#define MAX_MODULES 256
#define MAX_SYMBOLS 4096
#define MAX_HOOKS 32
#define MAX_OPS 64
#define LOG_SIZE (1 << 20)
#define MAX_WORK_FRESH 16
#define FIRST_KWORKER 3

/* -------------------------------------------------------------------------------------------------
 * The kernel's state that is the harness's: in this object's data, saved and hashed with the rest
 * ---------------------------------------------------------------------------------------------- */

struct task_struct klpmc_tasks[KLPMC_TASKS];
struct task_struct *klpmc_current = &klpmc_tasks[1];
rwlock_t tasklist_lock;
int klpmc_console_printk[4] = { CONSOLE_LOGLEVEL_DEFAULT, 4, 1, 7 };
const struct sysfs_ops kobj_sysfs_ops;
static struct kobject klpmc_kernel_kobj;
struct kobject *kernel_kobj = &klpmc_kernel_kobj;
#define MAX_WORK 64
static struct work_struct *klpmc_queue[MAX_WORK];  /* pending work items, by function and owner (not */
static int klpmc_nqueue;                           /* by age: any may run next, as on many kworkers) */
static struct ftrace_ops *klpmc_ftrace[MAX_OPS];
static unsigned char klpmc_gone[MAX_MODULES];  /* a module that may not be loaded again */

/*
 * A livepatch's object or state whose callbacks report to the log: where the callbacks are (the object
 * or the state), the original callbacks, the patch. Which kinds of callbacks a tree has is its API:
 * KLPMC_OBJECT_CALLBACKS (struct klp_callbacks, mainline) and KLPMC_STATE_CALLBACKS (a struct
 * klp_state_callbacks in struct klp_state, with the four names KLPMC_SCB0..3: the series), set by the
 * build from the tree's include/linux/livepatch.h.
 */
struct klpmc_hook {
	void *owner;
	union {
#ifdef KLPMC_OBJECT_CALLBACKS
		struct klp_callbacks obj;
#endif
#ifdef KLPMC_STATE_CALLBACKS
		struct klp_state_callbacks state;
#endif
		char none;
	} orig;
	const char *patch;
	const char *object;          /* the table's order: patch, then object ("vmlinux" first) or state id */
	unsigned long state;
};
static struct klpmc_hook klpmc_hooks[MAX_HOOKS];

/* -------------------------------------------------------------------------------------------------
 * What is not kernel state: module and symbol tables, the log, the plan of a call (a separate
 * mapping, neither saved nor hashed)
 * ---------------------------------------------------------------------------------------------- */

struct klpmc_module {
	char name[MODULE_NAME_LEN];
	void *handle;
	struct module *mod;
	int (**init)(void);
	void (**exit)(void);
	const struct kernel_param *params, *params_end;
	char *data;                               /* its writable data, and the image to reset it to */
	size_t data_len;
	char *image;
	struct klp_patch *patch;                  /* the patch its init enables, once known */
	bool active;                              /* the variant of its name the configuration uses */
};

struct klpmc_symbol {
	int module;                               /* -1: vmlinux */
	const char *name;
	unsigned long addr, size;
};

struct meta {                                 /* the arena's bookkeeping: saved, not hashed */
	size_t top;
	size_t nallocs;
	struct alloc {
		size_t off;
		size_t size;
		int live;
	} a[];
};

struct scratch {
	struct klpmc_module modules[MAX_MODULES];
	int nmodules;
	struct klpmc_symbol symbols[MAX_SYMBOLS];
	int nsymbols;
	struct { char *data; size_t len; } core;  /* this object's writable data */
	char log[LOG_SIZE];
	size_t loglen;
	unsigned int faults;                      /* kinds of fault this configuration injects */
	char fail_at[256];                        /* the point this call makes fail, "" for none */
	char points[4096];                        /* fault points passed, one per line */
	size_t npoints;
	char finding[512];
	sigjmp_buf jmp;
	int guarded;
	ucontext_t main_ctx;
	struct work_struct *handover;             /* the work a new kworker runs */
	struct module *coming;                    /* the module klp_module_coming() is working on */
	const void *deferred[1024];               /* kfree_rcu: freed when the call returns */
	int ndeferred;
	/* the configuration's vocabulary, for klpmc_facts */
	char patches[16][MODULE_NAME_LEN];
	int npatches;
	long sids[16];
	int nsids;
	char fmodules[32][MODULE_NAME_LEN];
	int nfmodules;
	/* snapshots and the canonical walk of the digest */
	char *snap_buf;
	size_t snap_cap;
	uint32_t *canon_gen, *canon_id, gen;      /* allocation -> its number in the walk, this digest's */
	size_t canon_cap, *walk;
	char altstack[65536];                     /* the signal handler's stack */
	size_t baseline;                          /* live allocations of the booted kernel */
	const char *state_patch[64];              /* this call: whose callback last ran for a state id */
	char page[4096];                          /* the buffer a parameter's getter writes */
	struct work_struct *fresh[MAX_WORK_FRESH];  /* this call: the work items it queued, oldest first */
	int nfresh;
	int nalloc;                               /* this call: the kernel's allocations so far */
};

/*
 * The sysfs tree as a set: which kobjects are added. Saved with the state, not hashed: it is what the
 * kobjects' own state_in_sysfs says, and the order they came in is no part of the kernel's state.
 */
struct registry {
	int n;
	struct kobject *k[MAX_KOBJECTS];
};

static struct scratch *S;
static struct meta *M;
static ucontext_t *CTX;
static struct registry *R;

/* -------------------------------------------------------------------------------------------------
 * The log: printk lines, and events (the callbacks that ran, WARNs) as lines starting with \001
 * ---------------------------------------------------------------------------------------------- */

static void log_append(const char *text, size_t n)
{
	if (S->loglen + n + 1 >= LOG_SIZE)
		return;
	memcpy(S->log + S->loglen, text, n);
	S->loglen += n;
	S->log[S->loglen++] = '\n';
}

/*
 * vsnprintf() with the kernel's %pe (an error pointer by its name: -ENODEV); every other conversion is
 * the C library's, one at a time.
 */
static void kvsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	size_t n = 0;

	while (*fmt && n + 1 < size) {
		char spec[32];
		size_t k = 0;
		const char *start = fmt;
		int longs = 0, size_t_ = 0;

		if (*fmt != '%') {
			buf[n++] = *fmt++;
			continue;
		}
		fmt++;
		while (*fmt && strchr("-+ #0", *fmt))
			fmt++;
		if (*fmt == '*') {
			va_arg(ap, int);           /* a width from the arguments: dropped (the kernel's core has none) */
			fmt++;
		}
		while (*fmt >= '0' && *fmt <= '9')
			fmt++;
		if (*fmt == '.') {
			fmt++;
			if (*fmt == '*') {
				va_arg(ap, int);
				fmt++;
			}
			while (*fmt >= '0' && *fmt <= '9')
				fmt++;
		}
		while (*fmt && strchr("hlzjt", *fmt)) {
			longs += *fmt == 'l';
			size_t_ |= *fmt == 'z' || *fmt == 'j' || *fmt == 't';
			fmt++;
		}
		if (!*fmt)
			break;
		k = (size_t)(fmt - start) + 1;
		if (k >= sizeof(spec))
			k = sizeof(spec) - 1;
		memcpy(spec, start, k);
		spec[k] = '\0';
		switch (*fmt++) {
		case '%':
			buf[n++] = '%';
			continue;
		case 'p':
			if (*fmt == 'e') {
				long v = (long)va_arg(ap, void *);
				const char *name = v < 0 && v >= -4095 ? strerrorname_np((int)-v) : NULL;

				fmt++;
				if (name)
					n += snprintf(buf + n, size - n, "-%s", name);
				else
					n += snprintf(buf + n, size - n, "%ld", v);
			} else {
				n += snprintf(buf + n, size - n, spec, va_arg(ap, void *));
			}
			break;
		case 's':
			n += snprintf(buf + n, size - n, spec, va_arg(ap, const char *));
			break;
		case 'c':
			n += snprintf(buf + n, size - n, spec, va_arg(ap, int));
			break;
		case 'e': case 'f': case 'g':
			n += snprintf(buf + n, size - n, spec, va_arg(ap, double));
			break;
		default:                                 /* d i u x X o */
			if (longs >= 2)
				n += snprintf(buf + n, size - n, spec, va_arg(ap, long long));
			else if (longs || size_t_)
				n += snprintf(buf + n, size - n, spec, va_arg(ap, long));
			else
				n += snprintf(buf + n, size - n, spec, va_arg(ap, int));
		}
		if (n >= size)
			n = size - 1;
	}
	buf[n] = '\0';
}

void klpmc_printk(const char *func, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	char *line, *end;

	/* the selftests switch off the dynamic debug of klp_try_switch_task (functions.sh) */
	if (func && !strcmp(func, "klp_try_switch_task"))
		return;
	va_start(ap, fmt);
	kvsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	for (line = buf; *line; line = end + 1) {
		end = strchr(line, '\n');
		if (!end) {
			log_append(line, strlen(line));
			break;
		}
		log_append(line, end - line);
	}
}

static void event(const char *callback, const char *patch, const char *object, long state, int ret)
{
	char buf[512];
	int n = snprintf(buf, sizeof(buf), "\001%s\t%s\t%s\t%ld\t%d", callback, patch ? patch : "",
			 object ? object : "", state, ret);

	log_append(buf, n);
}

void klpmc_warn(const char *file, int line, const char *what)
{
	char where[300];
	const char *base = strstr(file, "kernel/livepatch/");

	snprintf(where, sizeof(where), "%s:%d", base ? base : file, line);
	klpmc_printk(NULL, "WARNING: %s: %s", where, what);
	event("WARN", NULL, where, -1, 0);
}

void klpmc_finding(const char *kind, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(S->finding, sizeof(S->finding), "%s: ", kind);

	va_start(ap, fmt);
	vsnprintf(S->finding + n, sizeof(S->finding) - n, fmt, ap);
	va_end(ap);
	if (!S->guarded)
		abort();
	siglongjmp(S->jmp, 1);
}

/* -------------------------------------------------------------------------------------------------
 * Faults: a call that may fail reports its point; the explorer makes one point fail per step
 * ---------------------------------------------------------------------------------------------- */

static const char *const fault_kinds[] = { "setup", "pre_patch", "patch_object", "module_coming", "alloc", NULL };

bool klpmc_fault(const char *kind, const char *patch, const char *where)
{
	char point[256];
	int k;

	for (k = 0; fault_kinds[k]; k++)
		if (!strcmp(fault_kinds[k], kind))
			break;
	if (!fault_kinds[k] || !(S->faults & (1u << k)))
		return false;
	snprintf(point, sizeof(point), "%s:%s:%s", kind, patch ? patch : "", where ? where : "");
	if (!strstr(S->points, point) && S->npoints + strlen(point) + 2 < sizeof(S->points)) {
		strcat(S->points, point);
		strcat(S->points, "\n");
		S->npoints += strlen(point) + 1;
	}
	return !strcmp(S->fail_at, point);
}

/* -------------------------------------------------------------------------------------------------
 * Memory
 * ---------------------------------------------------------------------------------------------- */

void *klpmc_alloc(size_t size, bool zero)
{
	size_t off = (M->top + 15) & ~15UL;
	struct alloc *a;

	if (size == 0)
		size = 1;
	if (off + size > ARENA_SIZE)
		klpmc_finding("out-of-memory", "the arena of %lu MiB is full", ARENA_SIZE >> 20);
	a = &M->a[M->nallocs++];
	a->off = off;
	a->size = size;
	a->live = 1;
	M->top = off + size;
	memset(ARENA_BASE + off, zero ? 0 : 0xa5, size);
	return ARENA_BASE + off;
}

static struct alloc *find_alloc(const void *p)
{
	size_t lo = 0, hi = M->nallocs, off;

	if ((const char *)p < ARENA_BASE || (const char *)p >= ARENA_BASE + M->top)
		return NULL;
	off = (const char *)p - ARENA_BASE;
	while (lo < hi) {                         /* allocations are in address order */
		size_t mid = (lo + hi) / 2;

		if (M->a[mid].off + M->a[mid].size <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < M->nallocs && M->a[lo].off <= off && off < M->a[lo].off + M->a[lo].size)
		return &M->a[lo];
	return NULL;
}

/* the size of the allocation p starts, 0 if klpmc's allocator did not give it out */
size_t klpmc_alloc_size(const void *p)
{
	struct alloc *a = find_alloc(p);

	return a && ARENA_BASE + a->off == (const char *)p ? a->size : 0;
}

void klpmc_free(const void *p)
{
	struct alloc *a;

	if (!p)
		return;
	a = find_alloc(p);
	if (!a || ARENA_BASE + a->off != (const char *)p)
		klpmc_finding("invalid-free", "kfree(%p) of memory kmalloc did not return", p);
	if (!a->live)
		klpmc_finding("double-free", "kfree(%p) of memory already freed", p);
	a->live = 0;
	memset(ARENA_BASE + a->off, POISON, a->size);
}

void klpmc_free_deferred(const void *p)
{
	if (S->ndeferred < (int)ARRAY_SIZE(S->deferred))
		S->deferred[S->ndeferred++] = p;
	else
		klpmc_free(p);
}

/* kmalloc() and friends: the nth allocation of a call may fail (fault kind "alloc", point "alloc::<n>") */
void *klpmc_kmalloc(size_t size, bool zero)
{
	char n[16];

	snprintf(n, sizeof(n), "%d", ++S->nalloc);
	if (klpmc_fault("alloc", "", n))
		return NULL;
	return klpmc_alloc(size, zero);
}

char *klpmc_kstrdup(const char *s)
{
	char n[16];

	snprintf(n, sizeof(n), "%d", ++S->nalloc);
	if (klpmc_fault("alloc", "", n))
		return NULL;
	return klpmc_strdup(s);
}

char *klpmc_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = klpmc_alloc(n, false);

	memcpy(p, s, n);
	return p;
}

/* -------------------------------------------------------------------------------------------------
 * kobjects and sysfs
 * ---------------------------------------------------------------------------------------------- */

void kobject_init(struct kobject *kobj, const struct kobj_type *ktype)
{
	if (kobj->state_initialized && kobj->refcount > 0)
		klpmc_warn(__FILE__, __LINE__, "kobject_init of an initialized kobject");
	memset(kobj, 0, sizeof(*kobj));
	kobj->ktype = ktype;
	kobj->refcount = 1;
	kobj->state_initialized = true;
}

struct kobject *kobject_get(struct kobject *kobj)
{
	if (kobj) {
		if (kobj->refcount <= 0)
			klpmc_finding("refcount", "kobject_get of a released kobject '%s'", kobj->name);
		kobj->refcount++;
	}
	return kobj;
}

static struct kobject *child_named(struct kobject *parent, const char *name)
{
	for (int i = 0; i < R->n; i++) {
		struct kobject *k = R->k[i];

		if (k->parent == parent && k->name && !strcmp(k->name, name))
			return k;
	}
	return NULL;
}

static void registry_add(struct kobject *kobj)
{
	if (R->n == MAX_KOBJECTS)
		klpmc_finding("harness", "more than %d kobjects in sysfs", MAX_KOBJECTS);
	R->k[R->n++] = kobj;
}

static void registry_del(struct kobject *kobj)
{
	for (int i = 0; i < R->n; i++) {
		if (R->k[i] == kobj) {
			R->k[i] = R->k[--R->n];
			return;
		}
	}
}

int kobject_add(struct kobject *kobj, struct kobject *parent, const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (!kobj->state_initialized)
		klpmc_finding("kobject", "kobject_add of an uninitialized kobject '%s'", buf);
	if (kobj->name)
		klpmc_free(kobj->name);
	kobj->name = klpmc_strdup(buf);
	if (child_named(parent, buf))
		return -EEXIST;
	kobj->parent = kobject_get(parent);
	registry_add(kobj);
	kobj->state_in_sysfs = true;
	return 0;
}

void kobject_put(struct kobject *kobj)
{
	struct kobject *parent;
	const char *name;

	if (!kobj)
		return;
	if (kobj->refcount <= 0)
		klpmc_finding("refcount", "kobject_put below zero of '%s'", kobj->name ? kobj->name : "?");
	if (--kobj->refcount > 0)
		return;
	parent = kobj->parent;
	name = kobj->name;
	if (kobj->state_in_sysfs) {
		registry_del(kobj);
		kobj->state_in_sysfs = false;
	}
	if (kobj->ktype && kobj->ktype->release)
		kobj->ktype->release(kobj);
	if (name)
		klpmc_free(name);
	kobject_put(parent);
}

static void dynamic_kobj_release(struct kobject *kobj)
{
	klpmc_free(kobj);
}

static const struct kobj_type dynamic_kobj_ktype = { .release = dynamic_kobj_release };

struct kobject *kobject_create_and_add(const char *name, struct kobject *parent)
{
	struct kobject *kobj = klpmc_alloc(sizeof(*kobj), true);

	kobject_init(kobj, &dynamic_kobj_ktype);
	if (kobject_add(kobj, parent, "%s", name)) {
		kobject_put(kobj);
		return NULL;
	}
	return kobj;
}

/* -------------------------------------------------------------------------------------------------
 * Modules
 * ---------------------------------------------------------------------------------------------- */

/* a name may have several variants (two configurations' P1): the active one answers to it */
static struct klpmc_module *module_named(const char *name)
{
	for (int i = 0; i < S->nmodules; i++)
		if (S->modules[i].active && !strcmp(S->modules[i].name, name))
			return &S->modules[i];
	return NULL;
}

/* make module i the variant of its name that answers to it (none of the name may be loaded) */
int klpmc_activate(int index)
{
	struct klpmc_module *m = &S->modules[index];

	for (int i = 0; i < S->nmodules; i++) {
		struct klpmc_module *o = &S->modules[i];

		if (i != index && o->active && !strcmp(o->name, m->name)) {
			if (o->mod->loaded)
				return -EBUSY;
			o->active = false;
		}
	}
	m->active = true;
	return 0;
}

static struct klpmc_module *module_of(const struct module *mod)
{
	for (int i = 0; i < S->nmodules; i++)
		if (S->modules[i].mod == mod)
			return &S->modules[i];
	return NULL;
}

bool try_module_get(struct module *mod)
{
	if (!mod)
		return true;
	if (mod->state == MODULE_STATE_GOING)
		return false;
	mod->refcnt++;
	return true;
}

void module_put(struct module *mod)
{
	if (!mod)
		return;
	if (mod->refcnt <= 0)
		klpmc_finding("refcount", "module_put below zero of module %s", mod->name);
	mod->refcnt--;
}

struct module *find_module(const char *name)
{
	struct klpmc_module *m = module_named(name);

	return m && m->mod->loaded ? m->mod : NULL;
}

/* -------------------------------------------------------------------------------------------------
 * kallsyms
 * ---------------------------------------------------------------------------------------------- */

static bool symbol_visible(const struct klpmc_symbol *s)
{
	return s->module < 0 || S->modules[s->module].mod->loaded;
}

/*
 * The (patch, object) whose functions klp_init_object_loaded() is resolving: in klp_patches order,
 * the first object of that name, attached to its module, with a function not resolved yet.
 */
static bool resolving(const char *objname, const char *name, const char **patch)
{
	struct klp_patch *p;
	struct klp_object *obj;
	struct klp_func *func;

	klp_for_each_patch(p) {
		klp_for_each_object(p, obj) {
			if (!obj->name || strcmp(obj->name, objname) || !obj->mod)
				continue;
			klp_for_each_func(obj, func) {
				if (!func->old_func && !strcmp(func->old_name, name)) {
					*patch = p->mod->name;
					return true;
				}
			}
		}
	}
	return false;
}

int module_kallsyms_on_each_symbol(const char *modname, int (*fn)(void *, const char *, unsigned long),
				   void *data)
{
	for (int i = 0; i < S->nsymbols; i++) {
		const struct klpmc_symbol *s = &S->symbols[i];
		int ret;

		if (s->module < 0 || strcmp(S->modules[s->module].name, modname) || !symbol_visible(s))
			continue;
		ret = fn(data, s->name, s->addr);
		if (ret)
			return ret;
	}
	return 0;
}

int kallsyms_on_each_match_symbol(int (*fn)(void *, unsigned long), const char *name, void *data)
{
	for (int i = 0; i < S->nsymbols; i++) {
		const struct klpmc_symbol *s = &S->symbols[i];
		int ret;

		if (s->module >= 0 || strcmp(s->name, name))
			continue;
		ret = fn(data, s->addr);
		if (ret)
			return ret;
	}
	return 0;
}

int kallsyms_lookup_size_offset(unsigned long addr, unsigned long *symbolsize, unsigned long *offset)
{
	for (int i = 0; i < S->nsymbols; i++) {
		const struct klpmc_symbol *s = &S->symbols[i];

		if (!symbol_visible(s) || addr < s->addr || addr >= s->addr + (s->size ? s->size : 1))
			continue;
		if (S->coming && s->module >= 0 && S->modules[s->module].mod == S->coming) {
			const char *patch;

			/* klp_init_object_loaded() for a module coming: the size lookup of its first function */
			if (resolving(S->coming->name, s->name, &patch) &&
			    klpmc_fault("module_coming", patch, S->coming->name))
				return 0;
		}
		if (symbolsize)
			*symbolsize = s->size;
		if (offset)
			*offset = addr - s->addr;
		return 1;
	}
	return 0;
}

static const char *symbol_at(unsigned long addr)
{
	for (int i = 0; i < S->nsymbols; i++) {
		const struct klpmc_symbol *s = &S->symbols[i];

		if (addr >= s->addr && addr < s->addr + (s->size ? s->size : 1))
			return s->name;
	}
	return "?";
}

/* -------------------------------------------------------------------------------------------------
 * ftrace
 * ---------------------------------------------------------------------------------------------- */

/* the patch and object a klp_ops' first function belongs to (klp_patch_func() adds it first) */
static bool ops_owner(struct ftrace_ops *fops, const char **patch, const char **object)
{
	struct klp_ops *ops = container_of(fops, struct klp_ops, fops);
	struct klp_func *first = list_first_entry(&ops->func_stack, struct klp_func, stack_node);
	struct klp_patch *p;
	struct klp_object *obj;
	struct klp_func *func;

	klp_for_each_patch(p) {
		klp_for_each_object(p, obj) {
			klp_for_each_func(obj, func) {
				if (func == first) {
					*patch = p->mod->name;
					*object = obj->name ? obj->name : "vmlinux";
					return true;
				}
			}
		}
	}
	return false;
}

int ftrace_set_filter_ip(struct ftrace_ops *ops, unsigned long ip, int remove, int reset)
{
	const char *patch, *object;

	if (remove) {
		if (ops->filter_ip != ip)
			return -EINVAL;
		ops->filter_ip = 0;
		return 0;
	}
	if (ops_owner(ops, &patch, &object) && klpmc_fault("patch_object", patch, object))
		return -ENOMEM;
	ops->filter_ip = ip;
	return 0;
}

/*
 * The table is kept sorted by address, whatever the order of registration: which ops traces what is the
 * kernel's state, where it sits in ftrace's own lists is not.
 */
static void ftrace_sort(void)
{
	for (int i = 1; i < MAX_OPS; i++) {
		for (int j = i; j > 0; j--) {
			struct ftrace_ops *a = klpmc_ftrace[j - 1], *b = klpmc_ftrace[j];
			unsigned long ka = a ? a->filter_ip : ~0UL, kb = b ? b->filter_ip : ~0UL;

			if (ka <= kb)
				break;
			klpmc_ftrace[j - 1] = b;
			klpmc_ftrace[j] = a;
		}
	}
}

int register_ftrace_function(struct ftrace_ops *ops)
{
	int free = -1;

	for (int i = 0; i < MAX_OPS; i++) {
		struct ftrace_ops *o = klpmc_ftrace[i];

		if (!o) {
			if (free < 0)
				free = i;
			continue;
		}
		if (o == ops)
			return -EBUSY;
		if ((o->flags & ops->flags & FTRACE_OPS_FL_IPMODIFY) && o->filter_ip == ops->filter_ip)
			return -EBUSY;
	}
	if (free < 0)
		klpmc_finding("ftrace", "more than %d ftrace ops registered", MAX_OPS);
	klpmc_ftrace[free] = ops;
	ops->registered = true;
	ftrace_sort();
	return 0;
}

int unregister_ftrace_function(struct ftrace_ops *ops)
{
	for (int i = 0; i < MAX_OPS; i++) {
		if (klpmc_ftrace[i] == ops) {
			klpmc_ftrace[i] = NULL;
			ops->registered = false;
			ftrace_sort();
			return 0;
		}
	}
	return -ENODEV;
}

/* the version of the function at addr that the current task runs: through the registered ops */
static unsigned long traced(unsigned long addr)
{
	struct ftrace_regs regs = { .ip = addr };

	for (int i = 0; i < MAX_OPS; i++) {
		struct ftrace_ops *o = klpmc_ftrace[i];

		if (o && o->filter_ip == addr)
			o->func(addr, 0, o, &regs);
	}
	return regs.ip;
}

/*
 * A module's function was called: its first instruction calls __fentry__ (modules are built with -pg
 * -mfentry, as the kernel is for ftrace), whose trampoline (module_stub.c) asks here where to go. The
 * registered ops that trace the function decide, through the real klp_ftrace_handler: 0 to run the
 * function itself, else the address of the version the current task runs.
 */
unsigned long klpmc_fentry(unsigned long ret, unsigned long parent)
{
	const unsigned char *at = (const unsigned char *)ret;
	/* the call is 6 bytes through the GOT (ff 15) or as the linker relaxes it (67 e8), else 5 (e8) */
	unsigned long fn = (at[-6] == 0xff && at[-5] == 0x15) || (at[-6] == 0x67 && at[-5] == 0xe8) ? ret - 6 : ret - 5;
	unsigned long to;

	for (int i = 0; i < MAX_OPS; i++)
		if (klpmc_ftrace[i] && klpmc_ftrace[i]->filter_ip == fn)
			goto traced;
	return 0;
traced:
	to = traced(fn);
	return to == fn ? 0 : to;
}

/* -------------------------------------------------------------------------------------------------
 * Tasks and work items
 * ---------------------------------------------------------------------------------------------- */

static void task_reset(int k)
{
	memset(&klpmc_tasks[k], 0, sizeof(klpmc_tasks[k]));
	klpmc_tasks[k].patch_state = KLP_TRANSITION_IDLE;
}

static void task_start(int k, const char *comm, int pid, unsigned int flags)
{
	task_reset(k);
	klpmc_tasks[k].used = true;
	klpmc_tasks[k].pid = pid;
	klpmc_tasks[k].flags = flags;
	snprintf(klpmc_tasks[k].comm, sizeof(klpmc_tasks[k].comm), "%s", comm);
}

int stack_trace_save_tsk_reliable(struct task_struct *tsk, unsigned long *store, unsigned int size)
{
	unsigned int n = 0;

	if (!tsk->sleeps_at)
		return 0;
	for (int i = 0; i < tsk->nstack && n < size; i++)
		store[n++] = tsk->stack[i];
	return (int)n;
}

static void dequeue(struct work_struct *work)
{
	int i, j;

	for (i = 0; i < klpmc_nqueue && klpmc_queue[i] != work; i++)
		;
	if (i == klpmc_nqueue)
		return;
	for (j = i; j + 1 < klpmc_nqueue; j++)
		klpmc_queue[j] = klpmc_queue[j + 1];
	klpmc_queue[--klpmc_nqueue] = NULL;
	work->pending = 0;
}

static void kworker_main(int k)
{
	struct work_struct *work = S->handover;   /* read before anything else runs */

	/* the work function is called as any function is: through ftrace, so a livepatch redirects it */
	((work_func_t)traced((unsigned long)work->func))(work);
	work->task = 0;
	task_reset(k);
}

static void swap_to(int k)
{
	struct task_struct *was = klpmc_current;

	klpmc_current = &klpmc_tasks[k];
	swapcontext(&S->main_ctx, &CTX[k]);
	klpmc_current = was;
}

/* run a queued work item in a kworker of its own until it returns or sleeps */
static void run_work(struct work_struct *work)
{
	int k;

	dequeue(work);
	for (k = FIRST_KWORKER; k < KLPMC_TASKS && klpmc_tasks[k].used; k++)
		;
	if (k == KLPMC_TASKS)
		klpmc_finding("kworkers", "more than %d work items running at once", KLPMC_TASKS - FIRST_KWORKER);
	task_start(k, "kworker/0:1", 100 + k, PF_KTHREAD);
	klp_copy_process(&klpmc_tasks[k]);         /* copy_process(): the new task joins a transition */
	work->task = k;
	getcontext(&CTX[k]);
	CTX[k].uc_stack.ss_sp = STACK_BASE + k * STACK_SIZE;
	CTX[k].uc_stack.ss_size = STACK_SIZE;
	CTX[k].uc_link = &S->main_ctx;
	makecontext(&CTX[k], (void (*)(void))kworker_main, 1, k);
	S->handover = work;
	swap_to(k);
}

static void resume(int k)
{
	klpmc_tasks[k].sleeps_at = 0;
	swap_to(k);
}

/*
 * The return addresses on a sleeping kworker's stack, as the kernel's reliable unwinder finds them: the
 * frame-pointer chain (modules are built with frame pointers) from the caller of msleep() while it
 * stays on the kworker's own stack.
 */
static void save_stack(int k, unsigned long *fp)
{
	char *lo = STACK_BASE + k * STACK_SIZE, *hi = lo + STACK_SIZE;
	struct task_struct *t = &klpmc_tasks[k];

	t->nstack = 0;
	t->stack[t->nstack++] = t->sleeps_at;
	fp = (unsigned long *)fp[0];           /* the frame of msleep()'s caller */
	while ((char *)fp >= lo && (char *)fp + 16 <= hi && t->nstack < (int)ARRAY_SIZE(t->stack)) {
		unsigned long *next = (unsigned long *)fp[0];

		t->stack[t->nstack++] = fp[1];
		if (next <= fp)
			break;
		fp = next;
	}
}

void klpmc_msleep(unsigned int msecs)
{
	int k = klpmc_current - klpmc_tasks;

	if (k < FIRST_KWORKER)
		return;                           /* the shell sleeps: time passes, nothing else */
	klpmc_tasks[k].sleeps_at = (unsigned long)__builtin_return_address(0);
	save_stack(k, __builtin_frame_address(0));
	swapcontext(&CTX[k], &S->main_ctx);
	klpmc_tasks[k].nstack = 0;
	memset(klpmc_tasks[k].stack, 0, sizeof(klpmc_tasks[k].stack));
}

/* the module whose data holds an address, "" for the kernel's own */
static const char *data_owner(const void *p)
{
	for (int i = 0; i < S->nmodules; i++) {
		const struct klpmc_module *m = &S->modules[i];

		if ((const char *)p >= m->data && (const char *)p < m->data + m->data_len)
			return m->name;
	}
	return "";
}

/*
 * The queue's order: by the work's function, then by the module that holds the work, so that which
 * work a wait runs first (and the order the explorer offers them) does not depend on where the modules
 * happened to be loaded.
 */
static bool work_before(const struct work_struct *a, const struct work_struct *b)
{
	int c = strcmp(symbol_at((unsigned long)a->func), symbol_at((unsigned long)b->func));

	if (!c)
		c = strcmp(data_owner(a), data_owner(b));
	return c ? c < 0 : a < b;
}

bool klpmc_queue_work(struct work_struct *work, bool delayed)
{
	int i;

	if (work->pending)
		return false;
	if (klpmc_nqueue == MAX_WORK)
		klpmc_finding("harness", "more than %d work items queued", MAX_WORK);
	if (S->nfresh < MAX_WORK_FRESH)
		S->fresh[S->nfresh++] = work;
	work->pending = 1;
	work->delayed = delayed;
	for (i = klpmc_nqueue; i > 0 && work_before(work, klpmc_queue[i - 1]); i--)
		klpmc_queue[i] = klpmc_queue[i - 1];
	klpmc_queue[i] = work;
	klpmc_nqueue++;
	return true;
}

bool klpmc_flush_work(struct work_struct *work)
{
	int rounds = 0;
	bool did = false;

	if (work->pending) {
		run_work(work);
		did = true;
	}
	while (work->task) {
		if (++rounds > 1000)
			klpmc_finding("hang", "flush_work of a work item that never ends (%s)",
				      symbol_at((unsigned long)work->func));
		resume(work->task);
		did = true;
	}
	return did;
}

int klpmc_on_each_cpu(work_func_t func)
{
	struct work_struct w;

	INIT_WORK(&w, func);
	func(&w);
	return 0;
}

void klpmc_wait_for_completion(struct completion *x)
{
	int rounds = 0;

	while (!x->done) {
		struct work_struct *w;
		int k;

		if (++rounds > 1000)
			break;
		/*
		 * The waiter sleeps and kworkers run: first what this call queued (what it waits for), oldest
		 * first; work queued before the call is the explorer's to order, a step of its own, unless
		 * nothing else is left to run.
		 */
		w = NULL;
		for (int i = 0; i < S->nfresh && !w; i++)
			if (S->fresh[i]->pending && !S->fresh[i]->delayed)
				w = S->fresh[i];
		for (int i = 0; i < klpmc_nqueue && !w; i++)
			if (!klpmc_queue[i]->delayed)
				w = klpmc_queue[i];
		if (w) {
			run_work(w);
			continue;
		}
		for (k = FIRST_KWORKER; k < KLPMC_TASKS; k++)
			if (klpmc_tasks[k].used && klpmc_tasks[k].sleeps_at && &klpmc_tasks[k] != klpmc_current)
				break;
		if (k == KLPMC_TASKS)
			break;
		resume(k);
	}
	if (!x->done)
		klpmc_finding("hang", "wait_for_completion that nothing can complete");
	x->done--;
}

/* -------------------------------------------------------------------------------------------------
 * The callbacks of a livepatch's objects and states report to the log (the events the rules read): a
 * module's init calls klp_enable_patch(), which its build names klpmc_enable_patch(); the harness puts a
 * trampoline in front of each callback, then calls the real klp_enable_patch().
 * ---------------------------------------------------------------------------------------------- */

static struct klpmc_hook *hook_of(void *owner)
{
	for (int i = 0; i < MAX_HOOKS; i++)
		if (klpmc_hooks[i].owner == owner)
			return &klpmc_hooks[i];
	klpmc_finding("harness", "a callback the harness did not see enabled");
}

/*
 * The slot of a hook: the hooks stay sorted by what they hook (patch, object or state), so which slot
 * one has depends on which are hooked, not on the order they came in nor where a module allocated its
 * states.
 */
static int hook_cmp(const struct klpmc_hook *h, const char *patch, const char *object, unsigned long state)
{
	int c = strcmp(h->patch, patch);

	if (c)
		return c;
	if (!h->object != !object)               /* objects before states */
		return h->object ? -1 : 1;
	if (object)
		return strcmp(h->object, object);
	return h->state < state ? -1 : h->state > state;
}

static struct klpmc_hook *hook_slot(void *owner, const char *patch, const char *object, unsigned long state)
{
	int n = 0, i;

	while (n < MAX_HOOKS && klpmc_hooks[n].owner)
		n++;
	for (i = 0; i < n; i++)
		if (klpmc_hooks[i].owner == owner)
			return &klpmc_hooks[i];
	if (n == MAX_HOOKS)
		klpmc_finding("harness", "more than %d objects and states with callbacks", MAX_HOOKS);
	for (i = n; i > 0 && hook_cmp(&klpmc_hooks[i - 1], patch, object, state) > 0; i--)
		klpmc_hooks[i] = klpmc_hooks[i - 1];
	memset(&klpmc_hooks[i], 0, sizeof(klpmc_hooks[i]));
	klpmc_hooks[i].owner = owner;
	klpmc_hooks[i].patch = patch;
	klpmc_hooks[i].object = object;
	klpmc_hooks[i].state = state;
	return &klpmc_hooks[i];
}

#ifdef KLPMC_OBJECT_CALLBACKS
static const char *obj_label(struct klp_object *obj)
{
	return obj->name ? obj->name : "vmlinux";
}

static int tramp_pre_patch(struct klp_object *obj)
{
	struct klpmc_hook *h = hook_of(obj);
	int ret = h->orig.obj.pre_patch(obj);

	event("pre_patch", h->patch, obj_label(obj), -1, ret);
	return ret;
}

static void tramp_post_patch(struct klp_object *obj)
{
	struct klpmc_hook *h = hook_of(obj);

	event("post_patch", h->patch, obj_label(obj), -1, 0);
	h->orig.obj.post_patch(obj);
}

static void tramp_pre_unpatch(struct klp_object *obj)
{
	struct klpmc_hook *h = hook_of(obj);

	event("pre_unpatch", h->patch, obj_label(obj), -1, 0);
	h->orig.obj.pre_unpatch(obj);
}

static void tramp_post_unpatch(struct klp_object *obj)
{
	struct klpmc_hook *h = hook_of(obj);

	event("post_unpatch", h->patch, obj_label(obj), -1, 0);
	h->orig.obj.post_unpatch(obj);
}
#endif

#ifdef KLPMC_STATE_CALLBACKS
#define KLPMC_STR2(x) #x
#define KLPMC_STR(x) KLPMC_STR2(x)
static void state_event(const char *cb, struct klpmc_hook *h, struct klp_state *state, int ret)
{
	if (state->id < 64)
		S->state_patch[state->id] = h->patch;
	event(cb, h->patch, NULL, (long)state->id, ret);
}

static int tramp_s0(struct klp_patch *patch, struct klp_state *state)
{
	struct klpmc_hook *h = hook_of(state);
	int ret = h->orig.state.KLPMC_SCB0(patch, state);

	state_event(KLPMC_STR(KLPMC_SCB0), h, state, ret);
	return ret;
}

static void tramp_s1(struct klp_patch *patch, struct klp_state *state)
{
	struct klpmc_hook *h = hook_of(state);

	state_event(KLPMC_STR(KLPMC_SCB1), h, state, 0);
	h->orig.state.KLPMC_SCB1(patch, state);
}

static void tramp_s2(struct klp_patch *patch, struct klp_state *state)
{
	struct klpmc_hook *h = hook_of(state);

	state_event(KLPMC_STR(KLPMC_SCB2), h, state, 0);
	h->orig.state.KLPMC_SCB2(patch, state);
}

static void tramp_s3(struct klp_patch *patch, struct klp_state *state)
{
	struct klpmc_hook *h = hook_of(state);

	state_event(KLPMC_STR(KLPMC_SCB3), h, state, 0);
	h->orig.state.KLPMC_SCB3(patch, state);
}
#endif

void __real_klp_shadow_free_all(unsigned long id, klp_shadow_dtor_t dtor);

/*
 * Which patch frees a state's shadow variables: the one listed patch with an is_shadow state of that
 * id; when several are (the core frees a replaced patch's state), the one whose state callback ran last
 * in this call; else the transition's patch.
 */
static const char *shadow_freer(unsigned long id)
{
	const char *found = NULL;
#ifdef KLPMC_STATE_IS_SHADOW
	struct klp_patch *p;
	int n = 0;

	list_for_each_entry(p, &klp_patches, list) {
		struct klp_state *st = klp_get_state(p, id);

		if (st && st->is_shadow) {
			found = p->mod->name;
			n++;
		}
	}
	if (n == 1)
		return found;
#endif
	if (id < 64 && S->state_patch[id])
		return S->state_patch[id];
	if (found)
		return found;
	return klp_transition_patch ? klp_transition_patch->mod->name : NULL;
}

/* the core frees a state's shadow variables (a series' is_shadow state): an event, then the real free */
void __wrap_klp_shadow_free_all(unsigned long id, klp_shadow_dtor_t dtor)
{
	event("shadow_free_all", shadow_freer(id), NULL, (long)id, 0);
	__real_klp_shadow_free_all(id, dtor);
}

int klpmc_enable_patch(struct klp_patch *patch)
{
	struct klpmc_module *m = patch && patch->mod ? module_of(patch->mod) : NULL;

	if (m)
		m->patch = patch;
#ifdef KLPMC_OBJECT_CALLBACKS
	if (patch && patch->objs) {
		struct klp_object *obj;

		klp_for_each_object_static(patch, obj) {
			struct klp_callbacks *cb = &obj->callbacks;
			struct klpmc_hook *h;

			if (!cb->pre_patch && !cb->post_patch && !cb->pre_unpatch && !cb->post_unpatch)
				continue;
			h = hook_slot(obj, patch->mod->name, obj->name ? obj->name : "", 0);
			h->orig.obj = *cb;
			h->patch = patch->mod->name;
			cb->pre_patch = cb->pre_patch ? tramp_pre_patch : NULL;
			cb->post_patch = cb->post_patch ? tramp_post_patch : NULL;
			cb->pre_unpatch = cb->pre_unpatch ? tramp_pre_unpatch : NULL;
			cb->post_unpatch = cb->post_unpatch ? tramp_post_unpatch : NULL;
		}
	}
#endif
#ifdef KLPMC_STATE_CALLBACKS
	if (patch && patch->states) {
		struct klp_state *state;

		for (state = patch->states; state->id; state++) {
			struct klp_state_callbacks *cb = &state->callbacks;
			struct klpmc_hook *h;

			if (!cb->KLPMC_SCB0 && !cb->KLPMC_SCB1 && !cb->KLPMC_SCB2 && !cb->KLPMC_SCB3)
				continue;
			h = hook_slot(state, patch->mod->name, NULL, state->id);
			h->orig.state = *cb;
			h->patch = patch->mod->name;
			cb->KLPMC_SCB0 = cb->KLPMC_SCB0 ? tramp_s0 : NULL;
			cb->KLPMC_SCB1 = cb->KLPMC_SCB1 ? tramp_s1 : NULL;
			cb->KLPMC_SCB2 = cb->KLPMC_SCB2 ? tramp_s2 : NULL;
			cb->KLPMC_SCB3 = cb->KLPMC_SCB3 ? tramp_s3 : NULL;
		}
	}
#endif
	return klp_enable_patch(patch);
}

static void unhook_module(struct klpmc_module *m)
{
	int n = 0;

	for (int i = 0; i < MAX_HOOKS; i++) {
		struct klpmc_hook *h = &klpmc_hooks[i];

		if (h->owner && strcmp(h->patch, m->name))   /* the module's own objects and states go */
			klpmc_hooks[n++] = *h;
	}
	for (; n < MAX_HOOKS; n++)
		memset(&klpmc_hooks[n], 0, sizeof(klpmc_hooks[n]));
}

/* -------------------------------------------------------------------------------------------------
 * The module loader: load_module() and delete_module(), in the order kernel/module/main.c has
 * ---------------------------------------------------------------------------------------------- */

static int set_param(struct klpmc_module *m, const char *name, const char *value)
{
	for (const struct kernel_param *p = m->params; p && p < m->params_end; p++) {
		if (strcmp(p->name, name))
			continue;
		if (p->ops)                         /* module_param_cb(): the module's own setter */
			return p->ops->set ? p->ops->set(value, p) : -EPERM;
		switch (p->type) {
		case 'b':
			return kstrtobool(value, (bool *)p->arg);
		case 'i':
			*(int *)p->arg = (int)strtol(value, NULL, 0);
			return 0;
		case 's':
			*(const char **)p->arg = klpmc_strdup(value);
			return 0;
		}
	}
	return -ENOENT;
}

static int insmod(const char *name, const char *args)
{
	struct klpmc_module *m = module_named(name);
	struct module *mod;
	char buf[512], *tok, *save;
	int ret;

	if (!m)
		return -ENOENT;
	mod = m->mod;
	if (mod->loaded)
		return -EEXIST;
	memcpy(m->data, m->image, m->data_len);    /* the module as its file has it */
	mod->state = MODULE_STATE_COMING;
	mod->loaded = 1;
	mod->refcnt = 0;
	mod->klp_alive = false;
	S->coming = mod;
	ret = klp_module_coming(mod);              /* prepare_coming_module() */
	S->coming = NULL;
	if (ret) {
		mod->loaded = 0;
		mod->state = MODULE_STATE_UNFORMED;
		return ret;
	}
	snprintf(buf, sizeof(buf), "%s", args ? args : "");
	for (tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		char *eq = strchr(tok, '=');

		if (eq)
			*eq = '\0';
		ret = set_param(m, tok, eq ? eq + 1 : "1");
		if (ret)
			break;
	}
	if (!ret && m->init && *m->init)
		ret = (*m->init)();
	if (ret) {
		mod->state = MODULE_STATE_GOING;
		klp_module_going(mod);
		mod->loaded = 0;
		mod->state = MODULE_STATE_UNFORMED;
		unhook_module(m);
		return ret;
	}
	mod->state = MODULE_STATE_LIVE;
	return 0;
}

static int rmmod(const char *name, int reload)
{
	struct klpmc_module *m = module_named(name);
	struct module *mod;

	if (!m || !m->mod->loaded)
		return -ENOENT;
	mod = m->mod;
	if (mod->refcnt > 0)
		return -EBUSY;                      /* in use: a listed livepatch, or a forced one */
	if (m->exit && *m->exit)
		(*m->exit)();
	mod->state = MODULE_STATE_GOING;
	klp_module_going(mod);
	mod->loaded = 0;
	mod->state = MODULE_STATE_UNFORMED;
	unhook_module(m);
	if (!reload)
		klpmc_gone[m - S->modules] = 1;
	return 0;
}

/* -------------------------------------------------------------------------------------------------
 * sysfs writes, /proc reads
 * ---------------------------------------------------------------------------------------------- */

static int sysfs_write(const char *path, const char *value)
{
	char buf[512], *tok, *save, *attr;
	struct kobject *k = NULL;
	const struct attribute_group **groups;

	snprintf(buf, sizeof(buf), "%s", path);
	if (!strncmp(buf, "/sys/module/", 12)) {
		char *mname = buf + 12, *slash = strchr(mname, '/');
		struct klpmc_module *m;

		if (!slash || strncmp(slash, "/parameters/", 12))
			return -ENOENT;
		*slash = '\0';
		m = module_named(mname);
		if (!m || !m->mod->loaded)
			return -ENOENT;
		return set_param(m, slash + 12, value);
	}
	if (strncmp(buf, "/sys/", 5))
		return -ENOENT;
	attr = strrchr(buf, '/');
	*attr++ = '\0';
	for (tok = strtok_r(buf + 5, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
		k = child_named(k, tok);
		if (!k)
			return -ENOENT;
	}
	if (!k || !k->ktype || !k->ktype->default_groups)
		return -ENOENT;
	for (groups = k->ktype->default_groups; *groups; groups++) {
		for (struct attribute **a = (*groups)->attrs; *a; a++) {
			struct kobj_attribute *ka = container_of(*a, struct kobj_attribute, attr);

			if (strcmp((*a)->name, attr))
				continue;
			if (!ka->store)
				return -EACCES;
			return (int)ka->store(k, ka, value, strlen(value));
		}
	}
	return -ENOENT;
}

/* cat /sys/module/M/parameters/P: a module_param_cb() getter runs (what it returns is not logged) */
static int sysfs_read(const char *path)
{
	char buf[512], *mname, *slash;
	struct klpmc_module *m;

	snprintf(buf, sizeof(buf), "%s", path);
	if (strncmp(buf, "/sys/module/", 12))
		return -ENOENT;
	mname = buf + 12;
	slash = strchr(mname, '/');
	if (!slash || strncmp(slash, "/parameters/", 12))
		return -ENOENT;
	*slash = '\0';
	m = module_named(mname);
	if (!m || !m->mod->loaded)
		return -ENOENT;
	for (const struct kernel_param *p = m->params; p && p < m->params_end; p++) {
		if (strcmp(p->name, slash + 12))
			continue;
		return p->ops && p->ops->get ? p->ops->get(S->page, p) : 0;
	}
	return -ENOENT;
}

static const char *const proc_files[][2] = { { "/proc/cmdline", "cmdline_proc_show" },
					    { "/proc/meminfo", "meminfo_proc_show" } };

/* grep 'live patched' /proc/cmdline > /dev/kmsg, and /proc/meminfo: the shell reads the files */
static void grep_live_patched(void)
{
	for (size_t f = 0; f < ARRAY_SIZE(proc_files); f++) {
		struct seq_file seq = { .len = 0 };
		unsigned long addr = 0;
		char *line, *end;

		for (int i = 0; i < S->nsymbols && !addr; i++)
			if (S->symbols[i].module < 0 && !strcmp(S->symbols[i].name, proc_files[f][1]))
				addr = S->symbols[i].addr;
		if (!addr)
			continue;
		((int (*)(struct seq_file *, void *))traced(addr))(&seq, NULL);
		for (line = seq.buf; *line; line = end + 1) {
			end = strchr(line, '\n');
			if (!end)
				end = line + strlen(line);
			if (memmem(line, end - line, "live patched", 12))
				log_append(line, end - line);
			if (!*end)
				break;
		}
	}
}

/* -------------------------------------------------------------------------------------------------
 * Steps: one command or one queued work item, guarded: a crash or a finding ends the step, not the run
 * ---------------------------------------------------------------------------------------------- */

enum { OP_INSMOD, OP_INSMOD_RELOAD, OP_RMMOD, OP_RMMOD_RELOAD, OP_WRITE, OP_RUN_WORK, OP_GREP, OP_SETTLE_TASKS,
       OP_READ };

static struct work_struct *pending_at(int index)
{
	return index >= 0 && index < klpmc_nqueue ? klpmc_queue[index] : NULL;
}

/* a work item from the explorer: klp_transition_work runs when the user task has reached a safe point */
static int run_pending(int index)
{
	struct work_struct *w = pending_at(index);
	bool transition = w == klpmc_transition_work();

	if (!w)
		return -ENOENT;
	if (transition)
		klpmc_tasks[2].on_cpu = false;
	run_work(w);
	if (transition)
		klpmc_tasks[2].on_cpu = true;
	return 0;
}

/* after a command: every sleeping task wakes once, as its timer fires (and may sleep again) */
static void wake_sleepers(void)
{
	for (int k = FIRST_KWORKER; k < KLPMC_TASKS; k++)
		if (klpmc_tasks[k].used && klpmc_tasks[k].sleeps_at)
			resume(k);
}

static void on_signal(int sig, siginfo_t *info, void *uc)
{
	if (!S || !S->guarded) {
		signal(sig, SIG_DFL);
		raise(sig);
		return;
	}
	snprintf(S->finding, sizeof(S->finding), "crash: %s at %p", strsignal(sig), info->si_addr);
	siglongjmp(S->jmp, 1);
}

int klpmc_step(int op, const char *a, const char *b, const char *fail_at, int *ret)
{
	volatile int rc = 0;
	volatile bool shell;

	S->loglen = 0;
	S->finding[0] = '\0';
	S->points[0] = '\0';
	S->npoints = 0;
	S->ndeferred = 0;
	memset(S->state_patch, 0, sizeof(S->state_patch));
	S->nfresh = 0;
	S->nalloc = 0;
	snprintf(S->fail_at, sizeof(S->fail_at), "%s", fail_at ? fail_at : "");
	*ret = 0;
	S->guarded = 1;
	if (sigsetjmp(S->jmp, 1) == 0) {
		shell = op != OP_RUN_WORK && op != OP_SETTLE_TASKS;
		if (shell)      /* the command's process, forked from a shell that came back to user mode */
			klp_update_patch_state(&klpmc_tasks[1]);
		switch (op) {
		case OP_INSMOD:
		case OP_INSMOD_RELOAD:
			*ret = insmod(a, b);
			break;
		case OP_RMMOD:
		case OP_RMMOD_RELOAD:
			*ret = rmmod(a, op == OP_RMMOD_RELOAD);
			break;
		case OP_WRITE:
			*ret = sysfs_write(a, b);
			break;
		case OP_RUN_WORK:
			*ret = run_pending(atoi(a));
			break;
		case OP_GREP:
			grep_live_patched();
			break;
		case OP_READ:
			*ret = sysfs_read(a);
			break;
		case OP_SETTLE_TASKS:
			break;
		}
		if (shell)      /* exit_to_user_mode(): a task coming back from a system call switches */
			klp_update_patch_state(&klpmc_tasks[1]);
		if (op != OP_RUN_WORK && op != OP_GREP)
			wake_sleepers();
		for (int i = 0; i < S->ndeferred; i++)  /* the grace period ends */
			klpmc_free(S->deferred[i]);
		S->ndeferred = 0;
		klpmc_sort_klp_ops();                  /* sets the core only searches, in one order */
		klpmc_sort_shadow_hash();
	} else {
		rc = 1;
	}
	S->guarded = 0;
	*klpmc_signals_cnt() = 0;
	klpmc_clear_stack_entries();
	klpmc_current = &klpmc_tasks[1];
	return rc;
}

const char *klpmc_log(size_t *len)
{
	*len = S->loglen;
	return S->log;
}

const char *klpmc_points(void)
{
	return S->points;
}

const char *klpmc_finding_text(void)
{
	return S->finding;
}

/* the queued work items, one a line: "transition", "free <patch>" or "work <symbol>" */
int klpmc_pending(char *out, size_t cap)
{
	size_t n = 0;
	int count = 0;

	out[0] = '\0';
	for (int i = 0; i < klpmc_nqueue; i++) {
		struct work_struct *w = klpmc_queue[i];
		char line[128];

		if (w == klpmc_transition_work()) {
			snprintf(line, sizeof(line), "transition\n");
		} else if (w->func == klpmc_free_patch_work_fn()) {
			struct klp_patch *p = container_of(w, struct klp_patch, free_work);

			snprintf(line, sizeof(line), "free %s\n", p->mod->name);
		} else {
			snprintf(line, sizeof(line), "work %s\n", symbol_at((unsigned long)w->func));
		}
		if (n + strlen(line) < cap) {
			strcpy(out + n, line);
			n += strlen(line);
		}
		count++;
	}
	return count;
}

/* -------------------------------------------------------------------------------------------------
 * Snapshots and digests
 * ---------------------------------------------------------------------------------------------- */

static char *snap_put(char *p, const void *src, size_t n)
{
	memcpy(p, src, n);
	return p + n;
}

static size_t stack_lo(int k)
{
	uintptr_t sp = (uintptr_t)CTX[k].uc_mcontext.gregs[REG_RSP];
	uintptr_t base = (uintptr_t)(STACK_BASE + k * STACK_SIZE);

	if (sp < base + 512 || sp > base + STACK_SIZE)
		return 0;
	return sp - 512 - base;
}

/* for finding what splits two states: region 0 is this object's data, region i the data of module i - 1 */
const char *klpmc_region(int i, size_t *len)
{
	if (i == 0) {
		*len = S->core.len;
		return S->core.data;
	}
	if (i - 1 >= S->nmodules || !S->modules[i - 1].mod->loaded)
		return *len = 0, NULL;
	*len = S->modules[i - 1].data_len;
	return S->modules[i - 1].data;
}

const char *klpmc_snapshot(size_t *len)
{
	size_t need = S->core.len + 2 * sizeof(size_t) + (S->nmodules + 1) * sizeof(int) + M->nallocs * sizeof(struct alloc) + M->top +
		      KLPMC_TASKS * sizeof(ucontext_t) + sizeof(int) + R->n * sizeof(struct kobject *) +
		      KLPMC_TASKS * (STACK_SIZE + sizeof(ucontext_t) + 2 * sizeof(size_t));
	char *p;

	for (int i = 0; i < S->nmodules; i++)
		need += S->modules[i].data_len;
	if (need > S->snap_cap) {
		free(S->snap_buf);
		S->snap_cap = need * 2;
		S->snap_buf = malloc(S->snap_cap);
	}
	p = S->snap_buf;
	p = snap_put(p, &M->top, sizeof(size_t));
	p = snap_put(p, &M->nallocs, sizeof(size_t));
	p = snap_put(p, S->core.data, S->core.len);
	for (int i = 0; i < S->nmodules; i++) {
		if (!S->modules[i].active && !S->modules[i].mod->loaded)
			continue;
		p = snap_put(p, &i, sizeof(int));
		p = snap_put(p, S->modules[i].data, S->modules[i].data_len);
	}
	{
		int end = -1;

		p = snap_put(p, &end, sizeof(int));
	}
	p = snap_put(p, M->a, M->nallocs * sizeof(struct alloc));
	p = snap_put(p, ARENA_BASE, M->top);
	p = snap_put(p, &R->n, sizeof(int));
	p = snap_put(p, R->k, R->n * sizeof(struct kobject *));
	for (int k = FIRST_KWORKER; k < KLPMC_TASKS; k++) {
		size_t lo;

		if (!klpmc_tasks[k].used)
			continue;
		lo = stack_lo(k);
		p = snap_put(p, &k, sizeof(int));
		p = snap_put(p, &CTX[k], sizeof(ucontext_t));
		p = snap_put(p, &lo, sizeof(size_t));
		p = snap_put(p, STACK_BASE + k * STACK_SIZE + lo, STACK_SIZE - lo);
	}
	*len = p - S->snap_buf;
	return S->snap_buf;
}

/* a module a snapshot does not hold was neither loaded nor in use: as its file has it */
void klpmc_restore(const char *p, size_t len)
{
	const char *end = p + len;
	int i, next = 0;

	memcpy(&M->top, p, sizeof(size_t));
	p += sizeof(size_t);
	memcpy(&M->nallocs, p, sizeof(size_t));
	p += sizeof(size_t);
	memcpy(S->core.data, p, S->core.len);
	p += S->core.len;
	for (;;) {
		memcpy(&i, p, sizeof(int));
		p += sizeof(int);
		for (; next < S->nmodules && next != i; next++)
			if (S->modules[next].mod->loaded || S->modules[next].active)
				memcpy(S->modules[next].data, S->modules[next].image, S->modules[next].data_len);
		if (i < 0)
			break;
		memcpy(S->modules[i].data, p, S->modules[i].data_len);
		p += S->modules[i].data_len;
		next = i + 1;
	}
	memcpy(M->a, p, M->nallocs * sizeof(struct alloc));
	p += M->nallocs * sizeof(struct alloc);
	memcpy(ARENA_BASE, p, M->top);
	p += M->top;
	memcpy(&R->n, p, sizeof(int));
	memcpy(R->k, p + sizeof(int), R->n * sizeof(struct kobject *));
	p += sizeof(int) + R->n * sizeof(struct kobject *);
	while (p < end) {
		int k;
		size_t lo;

		memcpy(&k, p, sizeof(int));
		p += sizeof(int);
		memcpy(&CTX[k], p, sizeof(ucontext_t));
		p += sizeof(ucontext_t);
		memcpy(&lo, p, sizeof(size_t));
		p += sizeof(size_t);
		memcpy(STACK_BASE + k * STACK_SIZE + lo, p, STACK_SIZE - lo);
		p += STACK_SIZE - lo;
	}
}

struct hash {
	uint64_t a, b;
};

static inline void mix(struct hash *h, uint64_t v)
{
	h->a = (h->a ^ v) * 0x9E3779B97F4A7C15ULL;
	h->a ^= h->a >> 29;
	h->b = (h->b + v) * 0xC2B2AE3D27D4EB4FULL;
	h->b ^= h->b >> 31;
}

static void scan(struct hash *h, const char *p, size_t n, size_t *tail)
{
	size_t i, zeros = 0;

	for (i = 0; i + 8 <= n; i += 8) {
		uint64_t w;

		memcpy(&w, p + i, 8);
		if (w == 0) {                        /* a run of zero words is mixed as its length */
			zeros++;
			continue;
		}
		if (zeros) {
			mix(h, 0x2E40ULL ^ (zeros << 16));
			zeros = 0;
		}
		if (w >= (uint64_t)ARENA_BASE && w < (uint64_t)(ARENA_BASE + M->top)) {
			struct alloc *a = find_alloc((void *)w);

			if (a && a->live) {
				size_t idx = a - M->a;

				if (S->canon_gen[idx] != S->gen) {
					S->canon_gen[idx] = S->gen;
					S->canon_id[idx] = (uint32_t)++*tail;
					S->walk[*tail - 1] = idx;
				}
				mix(h, 0xA11C0000ULL ^ S->canon_id[idx]);
				mix(h, w - (uint64_t)(ARENA_BASE + a->off));
				continue;
			}
			mix(h, 0xDEADULL);           /* a pointer to freed memory */
			continue;
		}
		mix(h, w);
	}
	if (zeros)
		mix(h, 0x2E40ULL ^ (zeros << 16));
	for (; i < n; i++)
		mix(h, (unsigned char)p[i]);
}

/* the state's digest: its memory with pointers into the arena numbered in the order a S->walk finds them */
void klpmc_digest(unsigned char out[16])
{
	struct hash h = { 0x243F6A8885A308D3ULL, 0x13198A2E03707344ULL };
	size_t tail = 0, head = 0, live = 0;

	if (M->nallocs > S->canon_cap) {
		S->canon_cap = M->nallocs * 2 + 1024;
		S->canon_gen = realloc(S->canon_gen, S->canon_cap * sizeof(uint32_t));
		S->canon_id = realloc(S->canon_id, S->canon_cap * sizeof(uint32_t));
		S->walk = realloc(S->walk, S->canon_cap * sizeof(size_t));
		memset(S->canon_gen, 0, S->canon_cap * sizeof(uint32_t));
		S->gen = 0;
	}
	S->gen++;
	scan(&h, S->core.data, S->core.len, &tail);
	for (int i = 0; i < S->nmodules; i++) {
		if (!S->modules[i].mod->loaded) {
			mix(&h, 0x0DDULL);        /* not loaded: its data is reset when it loads again */
			continue;
		}
		scan(&h, S->modules[i].data, S->modules[i].data_len, &tail);
	}
	while (head < tail) {
		struct alloc *a = &M->a[S->walk[head++]];

		mix(&h, a->size);
		scan(&h, ARENA_BASE + a->off, a->size, &tail);
	}
	for (size_t i = 0; i < M->nallocs; i++)
		live += M->a[i].live;
	/*
	 * Memory nothing reaches any more is a leak: whether there is one is part of the state, how many
	 * is not (a module that leaks on every failed load would make the states endless).
	 */
	mix(&h, live > tail);
	memcpy(out, &h.a, 8);
	memcpy(out + 8, &h.b, 8);
}

/* -------------------------------------------------------------------------------------------------
 * Facts: the fields of the field table that the kernel's structures give (models/_fields.py,
 * kernel_fields), in its order
 * ---------------------------------------------------------------------------------------------- */

static int patch_index(struct klp_patch *p)
{
	if (!p)
		return -1;
	for (int i = 0; i < S->npatches; i++)
		if (!strcmp(S->patches[i], p->mod->name))
			return i;
	return -2;
}

static bool listed(struct klp_patch *patch)
{
	struct klp_patch *p;

	klp_for_each_patch(p)
		if (p == patch)
			return true;
	return false;
}

/* nothing is loaded, yet memory the modules' coming allocated is still live, or an ftrace ops registered */
static int leaked(void)
{
	size_t live = 0;

	for (int i = 0; i < S->nmodules; i++)
		if (S->modules[i].mod->loaded)
			return 0;
	for (size_t i = 0; i < M->nallocs; i++)
		live += M->a[i].live;
	for (int i = 0; i < MAX_OPS; i++)
		if (klpmc_ftrace[i])
			return 1;
	return live > S->baseline || !list_empty(klpmc_klp_ops());
}

int klpmc_facts(int *out)
{
	int n = S->npatches, ns = S->nsids, *o = out;
	int pos[16], i = 0;
	struct klp_patch *p, *at[16];

	for (int j = 0; j < n; j++)
		pos[j] = -1;
	klp_for_each_patch(p) {
		int k = patch_index(p);

		if (k >= 0) {
			pos[k] = i;
			at[k] = p;
		}
		i++;
	}
	*o++ = patch_index(klp_transition_patch);
	*o++ = *klpmc_target_state();
	for (int k = 0; k < n; k++) {
		p = pos[k] >= 0 ? at[k] : NULL;
		*o++ = pos[k];
		*o++ = p ? p->enabled : 0;
		*o++ = p ? p->forced : 0;
		*o++ = p ? p->replace : 0;
		for (int s = 0; s < ns; s++) {
			struct klp_state *st = p ? klp_get_state(p, S->sids[s]) : NULL;

			*o++ = st != NULL;
#ifdef KLPMC_STATE_VERSION
			*o++ = st ? (int)st->version : 0;
#else
			*o++ = st ? 1 : 0;          /* a series without versions: every state is version 1 */
#endif
#ifdef KLPMC_STATE_CALLBACKS
			*o++ = st && st->callbacks.KLPMC_SCB0;   /* it has a setup callback */
#else
			*o++ = 0;                   /* mainline's states have no callbacks */
#endif
		}
	}
	for (int s = 0; s < ns; s++)
		*o++ = klpmc_shadow_exists(S->sids[s]);
	for (int mi = 0; mi < S->nfmodules; mi++) {
		struct klpmc_module *m = module_named(S->fmodules[mi]);
		int loaded = m && m->mod->loaded;

		*o++ = loaded;
		*o++ = loaded && m->patch && m->patch->forced && !listed(m->patch);
	}
	*o++ = leaked();
	*o++ = (int)klpmc_shadow_set();
	return (int)(o - out);
}

/* the harness's own view of a module, for the explorer: loaded, gone (not to load again), in use */
int klpmc_module_info(const char *name, int *out)
{
	struct klpmc_module *m = module_named(name);

	if (!m)
		return -1;
	out[0] = m->mod->loaded;
	out[1] = klpmc_gone[m - S->modules];
	out[2] = m->mod->refcnt;
	out[3] = m->mod->klp;
	return 0;
}

/* -------------------------------------------------------------------------------------------------
 * Set-up: the regions, this object's data, the modules, the symbols, the vocabulary of the facts
 * ---------------------------------------------------------------------------------------------- */

struct segment_query {
	const void *inside;
	char *data;
	size_t len;
};

static int find_segment(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct segment_query *q = arg;
	uintptr_t relro_end = 0;
	bool mine = false;

	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;

		if (ph->p_type == PT_LOAD && (uintptr_t)q->inside >= lo && (uintptr_t)q->inside < lo + ph->p_memsz)
			mine = true;
		if (ph->p_type == PT_GNU_RELRO)
			relro_end = lo + ph->p_memsz;
	}
	if (!mine)
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;

		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W))
			continue;
		if (relro_end > lo)
			lo = (relro_end + 4095) & ~4095UL;
		lo = (lo + 7) & ~7UL;
		q->data = (char *)lo;
		q->len = hi > lo ? ((hi - lo) & ~7UL) : 0;
	}
	return 1;
}

static void *map_at(void *addr, size_t len)
{
	void *p = mmap(addr, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE | MAP_NORESERVE, -1, 0);

	return p == addr ? p : NULL;
}

int klpmc_init(void)
{
	struct segment_query q = { .inside = &klpmc_tasks };
	struct sigaction sa = { 0 };
	int ret;
	stack_t ss;

	if (S)
		return 0;
	if (!map_at(ARENA_BASE, ARENA_SIZE) || !map_at(META_BASE, META_SIZE) ||
	    !map_at(STACK_BASE, KLPMC_TASKS * STACK_SIZE) || !map_at(CTX_BASE, KLPMC_TASKS * sizeof(ucontext_t)) ||
	    !map_at(REG_BASE, sizeof(struct registry)))
		return -ENOMEM;
	S = mmap(NULL, sizeof(*S), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (S == MAP_FAILED)
		return -ENOMEM;
	M = (struct meta *)META_BASE;
	CTX = (ucontext_t *)CTX_BASE;
	R = (struct registry *)REG_BASE;
	dl_iterate_phdr(find_segment, &q);
	if (!q.data)
		return -ENOEXEC;
	S->core.data = q.data;
	S->core.len = q.len;
	ss.ss_sp = S->altstack;
	ss.ss_size = sizeof(S->altstack);
	ss.ss_flags = 0;
	sigaltstack(&ss, NULL);
	sa.sa_sigaction = on_signal;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGFPE, &sa, NULL);
	sigaction(SIGILL, &sa, NULL);
	task_start(0, "swapper/0", 0, PF_KTHREAD);
	task_start(1, "sh", 1, 0);
	task_start(2, "user", 2, 0);
	klpmc_tasks[2].on_cpu = true;
	kobject_init(&klpmc_kernel_kobj, NULL);
	klpmc_kernel_kobj.name = "kernel";
	registry_add(&klpmc_kernel_kobj);
	klpmc_kernel_kobj.state_in_sysfs = true;
	ret = klpmc_klp_init();
	for (size_t i = 0; i < M->nallocs; i++)
		S->baseline += M->a[i].live;
	return ret;
}

void klpmc_set_faults(unsigned int kinds)
{
	S->faults = kinds;
}

int klpmc_add_module(const char *name, const char *path)
{
	struct klpmc_module *m;
	struct segment_query q;
	void *handle;
	const struct kernel_param **start, **stop;

	if (S->nmodules == MAX_MODULES)
		return -ENOSPC;
	handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!handle)
		return -ENOENT;
	m = &S->modules[S->nmodules];
	memset(m, 0, sizeof(*m));
	snprintf(m->name, sizeof(m->name), "%s", name);
	m->handle = handle;
	m->mod = dlsym(handle, "__this_module");
	m->init = dlsym(handle, "__klpmc_init");
	m->exit = dlsym(handle, "__klpmc_exit");
	start = dlsym(handle, "__klpmc_params_start");
	stop = dlsym(handle, "__klpmc_params_stop");
	m->params = start ? *start : NULL;
	m->params_end = stop ? *stop : NULL;
	if (!m->mod)
		return -ENOEXEC;
	q.inside = m->mod;
	q.data = NULL;
	dl_iterate_phdr(find_segment, &q);
	if (!q.data)
		return -ENOEXEC;
	m->data = q.data;
	m->data_len = q.len;
	m->mod->klp = dlsym(handle, "__klpmc_info_livepatch") != NULL;
	m->mod->state = MODULE_STATE_UNFORMED;
	m->image = malloc(m->data_len);
	memcpy(m->image, m->data, m->data_len);
	m->active = false;
	return S->nmodules++;
}

/* where a module's (or, for -1, this object's) symbols are: the load address nm's values are from */
unsigned long klpmc_base(int module)
{
	Dl_info info;
	const void *inside = module < 0 ? (const void *)&klpmc_tasks : (const void *)S->modules[module].mod;

	if (!dladdr(inside, &info))
		return 0;
	return (unsigned long)info.dli_fbase;
}

int klpmc_add_symbol(int module, const char *name, unsigned long addr, unsigned long size)
{
	struct klpmc_symbol *s;

	if (S->nsymbols == MAX_SYMBOLS)
		return -ENOSPC;
	s = &S->symbols[S->nsymbols++];
	s->module = module;
	s->name = strdup(name);
	s->addr = addr;
	s->size = size;
	return 0;
}

void klpmc_set_vocabulary(const char *patches, const char *sids, const char *modules)
{
	char buf[2048], *tok, *save;

	S->npatches = S->nsids = S->nfmodules = 0;
	snprintf(buf, sizeof(buf), "%s", patches);
	for (tok = strtok_r(buf, " ", &save); tok && S->npatches < 16; tok = strtok_r(NULL, " ", &save))
		snprintf(S->patches[S->npatches++], MODULE_NAME_LEN, "%s", tok);
	snprintf(buf, sizeof(buf), "%s", sids);
	for (tok = strtok_r(buf, " ", &save); tok && S->nsids < 16; tok = strtok_r(NULL, " ", &save))
		S->sids[S->nsids++] = atol(tok);
	snprintf(buf, sizeof(buf), "%s", modules);
	for (tok = strtok_r(buf, " ", &save); tok && S->nfmodules < 32; tok = strtok_r(NULL, " ", &save))
		snprintf(S->fmodules[S->nfmodules++], MODULE_NAME_LEN, "%s", tok);
}

/* where this object's data is (for diagnostics: which variable two states differ in) */
const char *klpmc_core_data(size_t *len)
{
	*len = S->core.len;
	return S->core.data;
}

/*
 * One step from a saved state, in one call: restore it, run the step, and unless the step ended in a
 * finding, read the facts and the digest of the state it leads to. Returns what klpmc_step returns.
 */
int klpmc_run(const char *snap, size_t snaplen, int op, const char *a, const char *b, const char *fail_at,
	      int *ret, int *facts, unsigned char *digest, size_t *loglen)
{
	int rc;

	klpmc_restore(snap, snaplen);
	rc = klpmc_step(op, a, b, fail_at, ret);
	if (!rc) {
		klpmc_facts(facts);
		klpmc_digest(digest);
	}
	*loglen = S->loglen;                      /* the log is at klpmc_log()'s address, which never moves */
	return rc;
}
