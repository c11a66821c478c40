"""Toy models for the engine's tests: counters, and a graph given as paths."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Inc:
    """Label: increment counter k."""

    k: int

    def __str__(self) -> str:
        return f"inc({self.k})"


class Counters:
    """K counters, each modulo M; a step increments one counter and logs its new value."""

    def __init__(self, k: int, m: int) -> None:
        self.k = k
        self.m = m

    def init_states(self) -> list[tuple[int, ...]]:
        return [(0,) * self.k]

    def next_steps(self, s: tuple[int, ...]) -> Iterator[tuple[Inc, tuple[int, ...], tuple[object, ...]]]:
        for k in range(self.k):
            v = (s[k] + 1) % self.m
            yield Inc(k), (*s[:k], v, *s[k + 1 :]), (f"counter {k} is now {v}",)

    def command(self, label: Inc) -> str:
        return f"inc {label.k}"


@dataclass(frozen=True)
class Visit:
    """Event: a node was entered."""

    node: str

    def as_json(self) -> dict[str, str]:
        return {"visit": self.node}


class Graph:
    """A directed graph given as paths ``"a b c"`` (edges a->b, b->c); steps follow edges in path order."""

    def __init__(self, *paths: str, init: tuple[str, ...] = ("a",)) -> None:
        self.edges: dict[str, list[str]] = {}
        for path in paths:
            nodes = path.split()
            for x, y in itertools.pairwise(nodes):
                if y not in self.edges.setdefault(x, []):
                    self.edges[x].append(y)
        self.init = init

    def init_states(self) -> tuple[str, ...]:
        return self.init

    def next_steps(self, s: str) -> Iterator[tuple[str, str, tuple[object, ...]]]:
        for t in self.edges.get(s, []):
            yield f"{s}->{t}", t, (f"go from {s} to {t}", Visit(t))
