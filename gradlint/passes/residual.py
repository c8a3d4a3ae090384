"""Residual-blocks pass: the residual blocks along the main span, and the span's network class.

Requires: ``topology`` (data predecessors), ``main_span`` (route and inside).

Ensures: ``Residual``: ``blocks``, each add on the main route with the branch that feeds it from
the stream (the nodes between the stream and the add that are not on the route; one backward
walk per branch, so linear in the span's size), and ``span_class``, the main span's network
class (docs/THEORY.md §3): S when saturating activations carry it with no normalization and no
residual stream (an identity skip: a damped skip does not keep the gradient), N when
normalization layers sit on it (judged as H, except that GL202 needs the error threshold), H
otherwise (ReLU family, linear, residual stream); None without a span.
"""

from __future__ import annotations

import dataclasses
import itertools

import networkx as nx

from gradlint.passes.span import MainSpan
from gradlint.passes.topology import Topology


@dataclasses.dataclass(frozen=True)
class ResidualBlock:
    """``add`` = stream + branch; ``identity_skip``: the stream reaches the add unchanged (not
    damped, projected or gated on the way)."""

    add: str
    branch: frozenset[str]
    identity_skip: bool


@dataclasses.dataclass(frozen=True)
class Residual:
    blocks: tuple[ResidualBlock, ...]
    span_class: str | None


def residual(graph: nx.DiGraph, topo: Topology, main: MainSpan) -> Residual:
    """The residual-blocks pass (see the module docstring)."""
    if main.span is None:
        return Residual((), None)
    nodes = graph.nodes
    route = main.route
    on_route = set(route)
    inside = main.inside | {main.span.start, main.span.end}
    blocks = []
    for previous, node in itertools.pairwise(route):
        if nodes[node]["kind"] != "add":
            continue
        branch: set[str] = set()
        sources: set[str] = set()
        stack = [p for p in topo.predecessors[node] if p not in on_route and p in inside]
        while stack:
            current = stack.pop()
            if current in on_route:
                sources.add(current)
            if current in branch or current in on_route or current not in inside:
                continue
            branch.add(current)
            stack.extend(topo.predecessors[current])
        if branch:
            blocks.append(ResidualBlock(node, frozenset(branch), previous in sources))
    if any(nodes[n]["kind"] == "norm" for n in main.inside):
        span_class = "N"
    else:
        saturating = sum(nodes[n]["saturating"] for n in main.inside)
        identity = any(block.identity_skip for block in blocks)
        span_class = "S" if saturating >= 2 and not identity else "H"
    return Residual(tuple(blocks), span_class)
