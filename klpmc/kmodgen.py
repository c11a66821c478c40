"""C sources of the modules a configuration describes: its livepatches and its target modules.

One generator serves two builds of the same source: the `kernel` model compiles it in user space against
the harness's stubs (``KLPMC_MODULE`` defined: a callback asks the harness whether it fails, so the
explorer can make any of them fail), and a kernel tree builds it with kbuild (a callback fails when the
module parameter ``fail`` names it: ``insmod P1.ko fail=pre_patch:vmlinux``). The modules print what the
generic module of the Python models prints (`models._fixtures.Generic`, ``GenericTarget``): a callback
its name and its object, a target module its init and exit.

Each livepatch patches one function per object: ``cmdline_proc_show`` in vmlinux (what /proc/cmdline
shows; the selftests' test_klp_livepatch patches it too), ``<module>_func`` in a target module (its
generated source defines it).

What a livepatch can say depends on the tree's API, read from its ``include/linux/livepatch.h``
(`KernelAPI`, `api_of`): mainline has per-object callbacks and versioned states; the POC series and v1
add per-state callbacks (named setup/enable/disable/release in the POC, pre_patch/post_patch/pre_unpatch/
post_unpatch in v1), ``is_shadow`` and ``block_disable``, and take the per-object callbacks and the
versions away. A configuration the tree's API cannot express is refused with what is missing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

OBJECT_CALLBACKS = ("pre_patch", "post_patch", "pre_unpatch", "post_unpatch")
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,54}$")
# the state callbacks by position, as the POC names them and as v1 does
POC_STATE_CALLBACKS = ("setup", "enable", "disable", "release")
V1_STATE_CALLBACKS = ("pre_patch", "post_patch", "pre_unpatch", "post_unpatch")


@dataclass(frozen=True)
class KernelAPI:
    """What a tree's ``include/linux/livepatch.h`` lets a livepatch say (read by `api_of`)."""

    object_callbacks: bool = True              # struct klp_callbacks in struct klp_object
    state_callbacks: tuple[str, ...] = ()      # struct klp_state_callbacks' four callbacks, in order
    versions: bool = True                      # struct klp_state's version
    is_shadow: bool = False
    shadow_dtor: bool = False
    block_disable: bool = False

    @property
    def features(self) -> tuple[str, ...]:
        """The model features this API has (the names the Python models' ``features`` use)."""
        out = []
        if self.object_callbacks:
            out.append("object_callbacks")
        if self.versions:
            out.append("versions")
        if self.state_callbacks:
            out.append("state_callbacks")
        if self.is_shadow:
            out.append("shadow_states")
        if self.block_disable:
            out.append("block_disable")
        return tuple(out)

    def describe(self) -> str:
        parts = ["per-object callbacks" if self.object_callbacks else "no per-object callbacks"]
        if self.state_callbacks:
            parts.append("per-state " + "/".join(self.state_callbacks))
        parts.append("state versions" if self.versions else "no state versions")
        parts += [name for name, on in (("is_shadow", self.is_shadow), ("block_disable", self.block_disable)) if on]
        return ", ".join(parts)


MAINLINE = KernelAPI()


def _struct_body(text: str, name: str) -> str | None:
    m = re.search(r"\bstruct\s+" + name + r"\s*\{(.*?)\n\};", text, re.S)
    return m.group(1) if m else None


def _members(body: str) -> set[str]:
    """The member names of a struct body (comments dropped; function pointers by their name)."""
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
    names = set(re.findall(r"\(\s*\*\s*(\w+)\s*\)\s*\(", body))
    names |= set(re.findall(r"(\w+)\s*(?:\[[^]]*\])?\s*(?::\s*\d+\s*)?;", body))
    return names


def api_of(livepatch_h: str) -> KernelAPI:
    """The API of a tree, from the text of its ``include/linux/livepatch.h``."""
    obj = _struct_body(livepatch_h, "klp_object") or ""
    state = _struct_body(livepatch_h, "klp_state") or ""
    cbs = _struct_body(livepatch_h, "klp_state_callbacks")
    names: tuple[str, ...] = ()
    if cbs is not None:
        names = tuple(re.findall(r"\(\s*\*\s*(\w+)\s*\)\s*\(", re.sub(r"/\*.*?\*/", "", cbs, flags=re.S)))
    members = _members(state)
    return KernelAPI(
        object_callbacks="callbacks" in _members(obj) and _struct_body(livepatch_h, "klp_callbacks") is not None,
        state_callbacks=names,
        versions="version" in members,
        is_shadow="is_shadow" in members,
        shadow_dtor="shadow_dtor" in members or (cbs is not None and "shadow_dtor" in _members(cbs)),
        block_disable="block_disable" in members,
    )


class GenerateError(ValueError):
    """A configuration whose modules cannot be written as C (a name that is not a C identifier)."""


@dataclass(frozen=True)
class Source:
    """One module: its name, whether it is a livepatch, and its C source."""

    name: str
    livepatch: bool
    text: str


def _ident(name: str, what: str) -> str:
    if not NAME.match(name):
        raise GenerateError(f"{what} {name!r} is not usable as a module and C name (letters, digits, _)")
    return name


HEADER = """// SPDX-License-Identifier: GPL-2.0
/* Generated by klpmc from the configuration {config!r}: {what}. */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/kernel.h>
"""


def target_source(name: str, config: str) -> Source:
    """A target module: the function its livepatches patch; init and exit print their names."""
    _ident(name, "module")
    text = HEADER.format(config=config, what=f"target module {name}") + f"""
noinline int {name}_func(void)
{{
	return 0;
}}
EXPORT_SYMBOL_GPL({name}_func);

static int {name}_init(void)
{{
	pr_info("%s\\n", __func__);
	return 0;
}}

static void {name}_exit(void)
{{
	pr_info("%s\\n", __func__);
}}

module_init({name}_init);
module_exit({name}_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("klpmc: target module {name}");
"""
    return Source(name, False, text)


def patched_function(obj: str) -> str:
    """The function a configuration's patch patches in an object: /proc/cmdline's show function in vmlinux
    (as the selftests' test_klp_livepatch), ``<module>_func`` in a target module (its generated source)."""
    return "cmdline_proc_show" if obj == "vmlinux" else f"{obj}_func"


def _state_callback_names(p: Any, api: KernelAPI) -> list[tuple[str, str]]:
    """(the tree's name, the position's POC name) of each state callback the patch provides."""
    out = []
    for given in getattr(p, "callbacks", POC_STATE_CALLBACKS):
        pos = POC_STATE_CALLBACKS.index(given) if given in POC_STATE_CALLBACKS else V1_STATE_CALLBACKS.index(given)
        out.append((api.state_callbacks[pos], POC_STATE_CALLBACKS[pos]))
    return out


def _state_entry(p: Any, s: Any, api: KernelAPI) -> str:
    """One `struct klp_state` initialiser. A field the tree's API lacks is left out, as a Python model
    without the feature ignores it (a TOML file that sets it is refused by the configuration loader)."""
    fields = [f".id = {int(s.id)}"]
    if api.versions:
        fields.append(f".version = {int(s.version)}")
    for flag in ("is_shadow", "block_disable"):
        if getattr(s, flag, False) and getattr(api, flag):
            fields.append(f".{flag} = true")
    if api.state_callbacks:
        cbs = "".join(f"\t\t\t.{name} = state_{name}_callback,\n" for name, _ in _state_callback_names(p, api))
        fields.append(".callbacks = {\n" + cbs + "\t\t}")
    return "\t{ " + ", ".join(fields) + " },\n"


def _state_callbacks(api: KernelAPI) -> str:
    """The state callbacks of the Python models' generic module: each prints its name and the state; the
    first may fail (fault kind ``setup``) and, on success, allocates an is_shadow state's <NULL, id>."""
    if not api.state_callbacks:
        return ""
    first, *rest = api.state_callbacks
    shadow = ("\tif (state->is_shadow)\n\t\tklp_shadow_alloc(NULL, state->id, sizeof(long), GFP_KERNEL, NULL, NULL);\n"
              if api.is_shadow else "")
    out = f"""
static int state_{first}_callback(struct klp_patch *patch, struct klp_state *state)
{{
	char id[24];

	pr_info("%s_callback: state %lu\\n", "{first}", state->id);
	snprintf(id, sizeof(id), "%lu", state->id);
	if (fails("setup", id))
		return -ENODEV;
{shadow}	return 0;
}}
"""
    for name in rest:
        out += f"""
static void state_{name}_callback(struct klp_patch *patch, struct klp_state *state)
{{
	pr_info("%s_callback: state %lu\\n", "{name}", state->id);
}}
"""
    return out


OBJECT_CALLBACK_SOURCE = """
static const char *object_name(struct klp_object *obj)
{
	return obj->name ? obj->name : "vmlinux";
}

static int pre_patch_callback(struct klp_object *obj)
{
	pr_info("%s: %s\\n", __func__, object_name(obj));
	if (fails("pre_patch", object_name(obj)))
		return -ENODEV;
	return 0;
}

static void post_patch_callback(struct klp_object *obj)
{
	pr_info("%s: %s\\n", __func__, object_name(obj));
}

static void pre_unpatch_callback(struct klp_object *obj)
{
	pr_info("%s: %s\\n", __func__, object_name(obj));
}

static void post_unpatch_callback(struct klp_object *obj)
{
	pr_info("%s: %s\\n", __func__, object_name(obj));
}
"""


def livepatch_source(p: Any, config: str, api: KernelAPI = MAINLINE) -> Source:
    """A livepatch module in the tree's API: its objects (with the four per-object callbacks where the
    API has them), its states (with their callbacks and flags where it has them), replace."""
    name = _ident(p.name, "patch")
    objects = [(o, None if o == "vmlinux" else _ident(o, "object")) for o in p.objects]
    funcs = []
    objs = []
    for label, module in objects:
        func = patched_function(label)
        if module is None:      # /proc/cmdline's show function: its new version says it is patched
            new = f"""
static int livepatch_{func}(struct seq_file *m, void *v)
{{
	seq_printf(m, "%s: %s\\n", THIS_MODULE->name, "this has been live patched");
	return 0;
}}
"""
        else:
            new = f"""
static int livepatch_{func}(void)
{{
	return 1;
}}
"""
        funcs.append(new + f"""
static struct klp_func funcs_{label}[] = {{
	{{
		.old_name = "{func}",
		.new_func = livepatch_{func},
	}}, {{ }}
}};
""")
        callbacks = ""
        if api.object_callbacks:
            cbs = "".join(f"\t\t\t.{cb} = {cb}_callback,\n" for cb in OBJECT_CALLBACKS)
            callbacks = f"\t\t.callbacks = {{\n{cbs}\t\t}},\n"
        objs.append(f"""	{{
		.name = {'NULL' if module is None else f'"{module}"'},
		.funcs = funcs_{label},
{callbacks}	}},
""")
    states = "".join(_state_entry(p, s, api) for s in p.states)
    text = HEADER.format(config=config, what=f"livepatch {name}") + f"""#include <linux/livepatch.h>
#include <linux/seq_file.h>

/* the callbacks that fail, as "<callback>:<object or state>" separated by commas (klpmc's fault points) */
static char *fail = "";
module_param(fail, charp, 0644);
MODULE_PARM_DESC(fail, "callbacks that return -ENODEV, e.g. pre_patch:vmlinux or setup:1");

#ifdef KLPMC_MODULE
#define fails(callback, where) klpmc_fault(callback, KBUILD_MODNAME, where)
#else
static bool fails(const char *callback, const char *where)
{{
	char point[128];
	const char *p = fail;
	size_t n;

	snprintf(point, sizeof(point), "%s:%s", callback, where);
	n = strlen(point);
	while (p && *p) {{
		if (!strncmp(p, point, n) && (p[n] == ',' || p[n] == '\\0'))
			return true;
		p = strchr(p, ',');
		if (p)
			p++;
	}}
	return false;
}}
#endif
{OBJECT_CALLBACK_SOURCE if api.object_callbacks else ""}{_state_callbacks(api)}{"".join(funcs)}
static struct klp_object objs[] = {{
{"".join(objs)}	{{ }}
}};

static struct klp_state states[] = {{
{states}	{{ }}
}};

static struct klp_patch patch = {{
	.mod = THIS_MODULE,
	.objs = objs,
	.states = states,
	.replace = {'true' if p.replace else 'false'},
}};

static int {name}_init(void)
{{
	return klp_enable_patch(&patch);
}}

static void {name}_exit(void)
{{
}}

module_init({name}_init);
module_exit({name}_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
MODULE_DESCRIPTION("klpmc: livepatch {name}");
"""
    return Source(name, True, text)


def sources(config: Any, api: KernelAPI = MAINLINE) -> list[Source]:
    """Every module of a configuration (its ``patches``, each with ``name``, ``replace``, ``objects``,
    ``states`` and ``callbacks``; its ``targets``) in the tree's API: the patches, the targets and objects."""
    if any(getattr(p, "replace_set", None) is not None for p in config.patches):
        raise GenerateError("replace_set: no tree klpmc builds has it (the series is based on 7.1)")
    out = [livepatch_source(p, config.name, api) for p in config.patches]
    objects = {o for p in config.patches for o in p.objects if o != "vmlinux"}
    out += [target_source(t, config.name) for t in dict.fromkeys([*config.targets, *sorted(objects)])]
    return out


def kbuild(mods: list[Source]) -> str:
    """A Kbuild/Makefile fragment that builds the modules out of tree."""
    objs = " ".join(f"{m.name}.o" for m in mods)
    return (f"obj-m += {objs}\n\nKDIR ?= /lib/modules/$(shell uname -r)/build\n\n"
            "all:\n\t$(MAKE) -C $(KDIR) M=$(CURDIR) modules\n\n"
            "clean:\n\t$(MAKE) -C $(KDIR) M=$(CURDIR) clean\n")


__all__ = ["FAIL_PARAM", "KERNEL_FAULTS", "MAINLINE", "GenerateError", "KernelAPI", "Source", "api_of", "fail_value",
           "kbuild", "livepatch_source", "patched_function", "sources", "target_source"]

FAIL_PARAM = "fail"     # the generated livepatch modules' parameter naming the callbacks that fail
# faults inside the kernel itself: no module parameter (no command) makes them happen
KERNEL_FAULTS = ("patch_object", "module_coming", "alloc")


def fail_value(callback: str, where: str) -> str:
    """The ``fail`` parameter's value that makes one callback of a generated module return -ENODEV:
    ``pre_patch:vmlinux`` (an object's pre_patch), ``setup:1`` (the first callback of state 1)."""
    return f"{callback}:{where}"
