"""``klpmc prove MODEL --unbounded``: the rules proved on a first-order model, for every stack.

The model's relational form (`klpmc.epr`, a ``*.rml`` file beside the Python model) and the invariants
written in it are checked the way Ivy and mypyvy check a protocol: z3 asks, for each action, whether a
state that meets every invariant can step to one that breaks an invariant or a rule (a counterexample to
induction, CTI), and whether the initial state meets them. No CTI anywhere: the rules hold for any number
of patches and states. A CTI is made as small as z3 can (fewest elements, fewest options of the stack),
then the stack it lives on is explored explicitly:

- the stack reaches a violation of what the CTI breaks: it is real. The shortest path there is replayed in
  the Python model of the same semantics and printed as ``klpmc check`` prints a trace; the rule (or the
  invariant) is settled as violated and the rest go on without it;
- it does not: the invariants let through a state no run reaches. The report names what is not preserved
  and shows the state, so that an invariant excluding it can be added; that conjunct is dropped (Houdini)
  and the rest go on.

The driver knows nothing about livepatch: a *bridge* (``models/_relational.py``) maps stacks and labels.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from klpmc import epr
from klpmc.contracts import BindsRules, HasRelational
from klpmc.engine import ReplayError, Step, Trace, replay
from klpmc.logic import IMPLIES, any_of

__all__ = ["Finding", "Outcome", "format_outcome", "outcome_json", "prove_command", "prove_unbounded"]

MAX_SIZE = 8       # elements (patches and states together) of the largest counterexample looked for


@dataclass
class Finding:
    """What became of one rule or invariant."""

    name: str
    role: str                       # "rule" or "invariant"
    kind: str                       # always, step, invariant
    text: str
    verdict: str = "holds"          # holds (proved), violated (real), not proved, undetermined
    note: str = ""
    stack: str | None = None        # the stack of the counterexample
    action: str | None = None       # the step that breaks it, as the Python model labels it
    state: list[str] = field(default_factory=list)      # the state before that step
    after: list[str] = field(default_factory=list)      # ... and after it
    steps: list[Step] | None = None                     # the replayed trace (a real violation)
    model: Any = None                                   # the Python model the trace ran on
    confirmed: bool | None = None   # the catalogue property fails on the replayed trace too
    description: str = ""           # the catalogue's one line, for a rule


@dataclass
class Outcome:
    """A whole run: every rule and invariant, what z3 did, whether the queries stayed in EPR."""

    source: str
    findings: list[Finding]
    queries: int = 0
    z3_seconds: float = 0.0
    seconds: float = 0.0
    alternations: list[tuple[str, str]] = field(default_factory=list)
    epr: bool = True

    def rules(self) -> list[Finding]:
        return [f for f in self.findings if f.role == "rule"]

    def invariants(self) -> list[Finding]:
        return [f for f in self.findings if f.role == "invariant"]


class _Query:
    """One action's step as formulas in one z3 solver, with each candidate invariant behind an indicator."""

    def __init__(self, m: epr.Model, action: epr.Action | None, candidates: Sequence[epr.Named],
                 rules: Sequence[str], timeout_ms: int) -> None:
        self.m, self.action = m, action
        self.z = epr.Z3(m, timeout_ms, action.params if action is not None else ())
        if action is None:      # the initial state
            first = epr.versioned(m, "0")
            symbols = {r: m.relations[r] for r in m.constants}
            symbols.update({first[r]: m.relations[r] for r in m.mutable})
            formulas: list[epr.F] = [epr.forall(vs, epr.Not(epr.Rel(first[r], tuple(vs))))
                                     for r in m.mutable for vs in [_vars(m.relations[r])]]
            self.first = self.last = first
        else:
            prog = epr.encode(m, action)
            symbols, formulas = prog.symbols, list(prog.formulas)
            self.first, self.last = prog.first, prog.last
        self.symbols = symbols
        extra: list[epr.F] = []
        self.assumed = [epr.at(m, a.formula, self.first, extra=extra, symbols=symbols) for a in m.axioms]
        self.inv = {c.name: epr.at(m, c.formula, self.first, extra=extra, symbols=symbols) for c in candidates}
        self.goals: dict[str, epr.F] = {}
        for c in candidates:
            self.goals[c.name] = epr.neg(epr.at(m, c.formula, self.last, extra=extra, symbols=symbols))
        if action is not None:
            for r in rules:
                f = epr.step_rule(m, r, action)
                self.goals[r] = epr.neg(epr.at(m, f, self.first, old=self.first, new=self.last, extra=extra,
                                               symbols=symbols))
        self.background = [*formulas, *extra, *self.assumed]
        self.z.declare(symbols)
        for f in self.background:
            self.z.s.add(self.z.formula(f))
        self.flags = {}
        for name, f in self.inv.items():
            flag = self.z.s.indicator(f"inv!{name}")
            self.z.s.add(_implies(flag, self.z.formula(f)))
            self.flags[name] = flag
        self.z3_goals = {name: self.z.formula(f) for name, f in self.goals.items()}

    def alternations(self) -> set[tuple[str, str]]:
        return epr.alternation_edges([*self.background, *self.inv.values(), *self.goals.values()])


def _vars(sorts: Sequence[str]) -> list[epr.Var]:
    return [epr.Var(f"x{i}", s, 10_000_000 + i) for i, s in enumerate(sorts)]


def _implies(a: Any, b: Any) -> Any:
    return IMPLIES(a, b)


class _Run:
    def __init__(self, bridge: Any, timeout_ms: int) -> None:
        self.bridge = bridge
        self.m: epr.Model = bridge.model
        self.ex: epr.Explicit = bridge.explicit
        self.timeout_ms = timeout_ms
        self.queries = 0
        self.z3_seconds = 0.0

    def check(self, q: _Query, goal: Any, assumptions: Sequence[Any]) -> str:
        q.z.s.push()
        q.z.s.add(goal)
        t0 = time.perf_counter()
        answer = q.z.s.check(assumptions)
        self.z3_seconds += time.perf_counter() - t0
        self.queries += 1
        q.z.s.pop()
        return answer

    def smallest(self, q: _Query, goal: Any, assumptions: Sequence[Any]) -> Any:
        """The model of the smallest counterexample: fewest elements, then fewest options of the stack."""
        s = q.z.s
        s.push()
        s.add(goal)
        found = False
        for total in range(2, MAX_SIZE + 1):
            for patches in range(1, total):
                s.push()
                s.at_most("patch", patches)
                s.at_most("state", total - patches)
                t0 = time.perf_counter()
                answer = s.check(assumptions)
                self.z3_seconds += time.perf_counter() - t0
                self.queries += 1
                if answer == "sat":
                    found = True
                    break
                s.pop()
            if found:
                break
        if not found:
            s.push()        # any size: the goal was sat to begin with
        off: list[Any] = []
        for name in self.bridge.optional:
            if name not in self.m.constants:
                continue
            vs = _vars(self.m.relations[name])
            lit = s.indicator(f"empty!{name}")
            s.add(_implies(lit, q.z.formula(epr.forall(vs, epr.Not(epr.Rel(name, tuple(vs)))))))
            t0 = time.perf_counter()
            answer = s.check([*assumptions, *off, lit])
            self.z3_seconds += time.perf_counter() - t0
            self.queries += 1
            if answer == "sat":
                off.append(lit)
        answer = s.check([*assumptions, *off])
        model = None
        if answer == "sat":     # else z3 ran out of time on the way: the caller says undetermined
            rels = [*self.m.constants, *q.first.values()]
            consts = [(q.z.param_name(v), v.sort) for v in (q.action.params if q.action else ())]
            model = s.model(rels, consts)
        s.pop()
        s.pop()
        return model


def prove_unbounded(bridge: Any, rules: Sequence[str], timeout_ms: int,
                    confirm: Callable[[str], Any] | None = None) -> Outcome:
    """Check the bridge's relational model: its invariants and ``rules`` inductive for every stack.

    ``confirm(rule)`` gives the catalogue property a rule restates, to check a replayed trace breaks it.
    """
    t_start = time.perf_counter()
    run = _Run(bridge, timeout_ms)
    m = run.m
    texts = {**{r.name: r.text for r in m.after}, **{a.name: a.text for a in m.automata}}
    findings: dict[str, Finding] = {}
    for name in rules:
        always = next((r for r in m.always if r.name == name), None)
        if always is not None:
            findings[name] = Finding(name, "rule", "always", always.text)
        else:
            findings[name] = Finding(name, "rule", "step", texts[name])
    for inv in m.invariants:
        findings[inv.name] = Finding(inv.name, "invariant", "invariant", inv.text)
    candidates = [c for c in [*m.invariants, *m.always] if c.name in findings]
    step_rules = [r for r in rules if findings[r].kind == "step"]
    queries: dict[str | None, _Query] = {None: _Query(m, None, candidates, [], timeout_ms)}
    for a in m.actions:
        queries[a.name] = _Query(m, a, candidates, step_rules, timeout_ms)
    edges: set[tuple[str, str]] = set()
    for q in queries.values():
        edges |= q.alternations()
    names = [c.name for c in candidates] + step_rules
    # rules before invariants: a real violation of a rule is what a reviewer asks for
    names.sort(key=lambda n: findings[n].role != "rule")
    settled: set[str] = set()
    # 1. each rule and invariant against all the others as written: a CTI then most likely shows a real bug.
    # In rounds: what a round finds violated is assumed no longer, which can make another CTI real.
    assumed = list(names)
    while True:
        found = False
        for name in [n for n in names if n not in settled]:
            for q in queries.values():
                if name not in q.goals:
                    continue
                flags = [q.flags[n] for n in assumed if n in q.flags]
                answer = run.check(q, q.z3_goals[name], flags)
                if answer == "unsat":
                    continue
                model = run.smallest(q, q.z3_goals[name], flags) if answer == "sat" else None
                if model is not None:
                    _classify(run, q, model, findings[name], confirm)
                    if findings[name].verdict == "violated":
                        settled.add(name)
                        found = True
                        break
                    _reset(findings[name])      # not reachable here: a later round or phase 2 settles it
                else:
                    findings[name].verdict, findings[name].note = "undetermined", _timeout(timeout_ms)
                    settled.add(name)
                    break
        if not found:
            break
        assumed = [n for n in names if n not in settled or findings[n].verdict != "violated"]
    # 2. Houdini: drop what fails until the rest is inductive (and holds initially)
    open_names = [n for n in names if n not in settled]
    while True:
        failure = None
        for key, q in queries.items():
            live = [n for n in open_names if n in q.goals]
            flags = [q.flags[n] for n in open_names if n in q.flags]
            if not live:
                continue
            answer = run.check(q, any_of(q.z3_goals[n] for n in live), flags)
            if answer == "unsat":
                continue
            for n in live:
                one = run.check(q, q.z3_goals[n], flags)
                if one != "unsat":
                    failure = (key, n, one, flags)
                    break
            if failure is not None:
                break
        if failure is None:
            break
        key, name, answer, flags = failure
        f = findings[name]
        open_names.remove(name)
        if answer != "sat":
            f.verdict, f.note = "undetermined", _timeout(timeout_ms)
            continue
        q = queries[key]
        model = run.smallest(q, q.z3_goals[name], flags)
        if model is None:
            f.verdict, f.note = "undetermined", _timeout(timeout_ms)
            continue
        _classify(run, q, model, f, confirm)
    return Outcome(bridge.source, list(findings.values()), run.queries, run.z3_seconds,
                   time.perf_counter() - t_start, sorted(edges), not epr.has_cycle(edges))


def _reset(f: Finding) -> None:
    """Back to unsettled: what a counterexample that led nowhere left in f goes."""
    f.verdict, f.note, f.stack, f.action, f.state, f.after = "holds", "", None, None, [], []
    f.steps, f.model, f.confirmed = None, None, None


def _timeout(timeout_ms: int) -> str:
    return f"z3 gave no answer within {timeout_ms / 1000:g} s"


def _violation(ex: epr.Explicit, f: Finding, stack: epr.Stack,
               found: epr.Exploration) -> list[tuple[int, str, tuple[Any, ...], int]] | None:
    """The shortest path on an explored stack to a state (or through a step) that breaks f, if any."""
    if f.kind == "step":
        for i, action, params, j, evs in found.edges:
            if not ex.step_holds(f.name, action, stack, found.states[i], found.states[j], evs):
                return [*found.path(i), (i, action, params, j)]
        return None
    for j, st in enumerate(found.states):
        if not ex.holds(f.name, stack, st):
            return found.path(j)
    return None


def _replays(ex: epr.Explicit, stack: epr.Stack, found: epr.Exploration,
             path: list[tuple[int, str, tuple[Any, ...], int]]) -> bool:
    """The path takes the same steps on this stack."""
    for i, action, params, j in path:
        step = ex.run(stack, found.states[i], action, params)
        if step is None or step[0] != found.states[j]:
            return False
    return True


def _classify(run: _Run, q: _Query, model: Any, f: Finding, confirm: Callable[[str], Any] | None) -> None:
    """A CTI of f: real (its stack reaches a violation, replayed in Python) or one to strengthen against."""
    bridge, ex = run.bridge, run.ex
    stack, pre, rename = bridge.from_model(model.universes, model.relations, q.first)
    f.stack = bridge.stack_name(stack)
    f.state = bridge.describe(stack, pre)
    if q.action is None:
        f.action = "(the initial state)"
        post = pre
    else:
        params = tuple(rename[model.constants[q.z.param_name(v)]] for v in q.action.params)
        step = ex.run(stack, pre, q.action.name, params)
        if step is None:
            raise AssertionError(f"z3's counterexample to {f.name}: {q.action.name}{params} is not enabled "
                                 "when run explicitly")
        post, evs = step
        f.action = bridge.label(stack, pre, q.action.name, params)
        f.after = bridge.describe(stack, post)
        if f.kind == "step" and ex.step_holds(f.name, q.action.name, stack, pre, post, evs):
            raise AssertionError(f"z3's counterexample to {f.name} holds when run explicitly")
    if f.kind != "step" and ex.holds(f.name, stack, post):
        raise AssertionError(f"z3's counterexample to {f.name} holds when run explicitly")
    # every option of the stack on: more runs, and the shortest one that breaks f says which it needs;
    # then the stack with one patch more, since a CTI is one step and its stack may be too small for the run
    stack = epr.Stack(stack.universes, {**stack.constants, **{o: True for o in bridge.options}})
    explored = 0
    path = None
    grown = False
    for where in [stack, *bridge.grow(stack)]:
        found = ex.explore(where)
        explored += len(found.states)
        path = _violation(ex, f, where, found)
        if path is not None:
            grown = where is not stack
            stack = where
            break
    if path is None:
        f.verdict = "not proved"
        f.note = (f"the invariants let through a state that no run reaches on its stack, nor with one patch "
                  f"more ({explored} states explored); from it {f.action} breaks {f.name}: add an invariant "
                  "that excludes it")
        return
    f.verdict = "violated"
    for o in bridge.options:    # the options the path does without
        fewer = epr.Stack(stack.universes, {**stack.constants, o: False})
        if _replays(ex, fewer, found, path):
            stack = fewer
    f.stack = bridge.stack_name(stack)
    labels = [bridge.label(stack, found.states[i], action, params) for i, action, params, _ in path]
    config = bridge.config_of(stack)
    pmodel = bridge.python_model(config)
    f.model = pmodel
    f.action = labels[-1] if labels else f.action
    f.state = bridge.describe(stack, found.states[path[-1][0]]) if path else bridge.describe(stack, pre)
    f.after = bridge.describe(stack, found.states[path[-1][3]]) if path else []
    try:
        f.steps = replay(pmodel, labels)
    except ReplayError as e:
        f.note = f"the relational path does not replay in the Python model: {e}"
        return
    f.note = (f"reached in {len(labels)} step{'s' * (len(labels) != 1)} on {f.stack}"
              + (" (the counterexample's stack with one patch more)" if grown else ""))
    prop = confirm(f.name) if confirm is not None and f.role == "rule" else None
    if prop is not None:
        # a rule over views: the model evaluates it
        predicate = pmodel.predicate(prop) if isinstance(pmodel, BindsRules) else prop.predicate
        init = next(iter(pmodel.init_states()))
        trace = Trace(init, tuple(f.steps))
        if prop.kind == "always":
            f.confirmed = not predicate(trace.last)
        else:
            before = f.steps[-2].state if len(f.steps) > 1 else init
            last = f.steps[-1]
            f.confirmed = not predicate(before, last.label, last.log, last.state)


# --------------------------------------------------------------------------------------------------
# Reports
# --------------------------------------------------------------------------------------------------

def format_outcome(o: Outcome, expected: Callable[[str], str]) -> str:
    """The report: a verdict per rule, the invariants as written, each counterexample, what z3 did."""
    from klpmc.output import format_trace

    lines = [o.source]
    rows = [("rule", "kind", "verdict", "expected", "")]
    for f in o.rules():
        verdict = "holds for every stack" if f.verdict == "holds" else f.verdict
        want = expected(f.name)
        ok = _ok(f, want)
        rows.append((f.name, f.kind, verdict, "holds for every stack" if want == "holds" else want,
                     "ok" if ok else "UNEXPECTED"))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines += [("  ".join(c.ljust(w) for c, w in zip(r[:4], widths, strict=True)) + "  " + r[4]).rstrip()
              for r in rows]
    held = [f for f in o.invariants() if f.verdict == "holds"]
    lines += ["", f"invariants (inductive together with the rules that hold, for any number of patches and "
                  f"states): {len(held)} of {len(o.invariants())}"]
    for f in o.invariants():
        mark = "" if f.verdict == "holds" else f"   [{'broken' if f.verdict == 'violated' else f.verdict}]"
        lines.append(f"  {f.name}: {f.text}{mark}")
    for f in o.findings:
        if f.verdict == "holds":
            continue
        what = "rule" if f.role == "rule" else "invariant"
        lines += ["", f"{f.name} ({what}) {f.verdict}: {f.description or f.text.splitlines()[0]}"]
        if f.verdict == "undetermined":
            lines.append(f"  {f.note}")
            continue
        if f.role == "invariant" and f.verdict == "violated":
            lines.append(f"  {f.action} breaks it, {f.note} (--json has the trace)")
            continue
        lines.append(f"  counterexample on {f.stack}: {f.action} from")
        lines += [f"      {x}" for x in f.state]
        if f.after:
            lines.append("    to")
            lines += [f"      {x}" for x in f.after]
        if f.note:
            lines.append(f"  {f.note}")
        if f.steps is not None:
            shown = Trace(None, tuple(f.steps))
            lines.append("  replayed in the Python model:" + (
                "" if f.confirmed is None else
                " the catalogue rule fails there too" if f.confirmed else
                " BUT THE CATALOGUE RULE HOLDS THERE (the models differ)"))
            lines += format_trace(f.model, cast(Any, _Shown(shown)))
    cycle = "" if o.epr else " (a cycle: outside EPR, z3 may not answer)"
    alts = ", ".join(f"{a} -> {b}" for a, b in o.alternations) or "none"
    lines += ["", f"EPR: quantifier alternations {alts}{cycle}",
              f"z3: {o.queries} queries, {o.z3_seconds:.2f} s; {o.seconds:.2f} s in all"]
    return "\n".join(lines)


@dataclass(frozen=True)
class _Shown:
    trace: Trace


def outcome_json(o: Outcome, expected: Callable[[str], str], model_name: str) -> dict[str, Any]:
    from klpmc.output import step_json

    def finding(f: Finding) -> dict[str, Any]:
        return {"name": f.name, "kind": f.kind, "text": f.text, "verdict": f.verdict, "note": f.note or None,
                "stack": f.stack, "action": f.action, "state": f.state or None, "after": f.after or None,
                "confirmed": f.confirmed,
                "trace": [step_json(f.model, s) for s in f.steps] if f.steps is not None else None}
    rules = []
    for f in o.rules():
        want = expected(f.name)
        rules.append({**finding(f), "expected": want, "ok": _ok(f, want)})
    return {"model": model_name, "unbounded": o.source, "ok": all(r["ok"] for r in rules), "rules": rules,
            "invariants": [finding(f) for f in o.invariants()],
            "epr": o.epr, "alternations": [list(e) for e in o.alternations],
            "queries": o.queries, "z3_seconds": round(o.z3_seconds, 6), "seconds": round(o.seconds, 6)}


# --------------------------------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------------------------------

def relational_of(mdef: Any) -> Any:
    """The model's relational form with the catalogue's first-order rules, through the hook of the model
    it builds; None if it has none."""
    from klpmc import registry

    built = mdef.build(mdef.presets[mdef.default_preset].config)
    return built.relational(registry.first_order_rules()) if isinstance(built, HasRelational) else None


def expected_unbounded(mdef: Any, name: str) -> str:
    """violated when the manifest expects some preset or scope configuration to break the rule, else holds."""
    for props in mdef.expected.values():
        want = props.get(name)
        if want is not None and want.verdict == "violated":
            return "violated"
    return "holds"


def prove_command(mdef: Any, names: Sequence[str], timeout_ms: int, as_json: bool) -> int:
    """``klpmc prove MODEL --unbounded``: print the report; 0 when every verdict is the expected one."""
    import json

    import click

    from klpmc import registry
    from klpmc.registry import InputError

    bridge = relational_of(mdef)
    if bridge is None:
        have = sorted(n for n, d in registry.all_models().items() if relational_of(d) is not None)
        raise InputError(f"model {mdef.name!r} has no relational model (models/<model>.rml); "
                         f"--unbounded works on: {', '.join(have)}")
    available = bridge.model.rules()
    applicable = {p.name for p in registry.select_properties(mdef, ())}
    if names:
        for n in names:
            registry.select_properties(mdef, [n])      # an unknown name is the usual error
            if n not in available:
                raise InputError(f"property {n!r} has no first-order form in properties/states.rml; "
                                 f"--unbounded proves: {', '.join(available)}")
        rules = [r for r in available if r in names]
    else:
        rules = [r for r in available if r in applicable]
    cat = registry.catalogue()
    outcome = prove_unbounded(bridge, rules, timeout_ms, cat.get)
    for f in outcome.rules():
        prop = cat.get(f.name)
        if prop is not None:
            f.description = prop.description

    def expected(name: str) -> str:
        return expected_unbounded(mdef, name)
    if as_json:
        out = outcome_json(outcome, expected, mdef.name)
        click.echo(json.dumps(out, indent=2))
        return 0 if out["ok"] else 1
    click.echo(format_outcome(outcome, expected))
    return 0 if all(_ok(f, expected(f.name)) for f in outcome.rules()) else 1


def _ok(f: Finding, want: str) -> bool:
    return f.verdict == want and (f.verdict != "violated" or f.confirmed is not False)
