"""Chains pass: runs of layers on the cheapest gradient route, for the depth rules.

Going backwards from the output, a gradient takes every path at once; a skip connection is a path
around some layers, so what a gradient *must* cross to reach a node is the minimum over paths.
For members (weight layers, saturating activations, ...) the pass finds, for every node, the
fewest members any path from it to the output crosses before a breaker (a normalization, say),
and the route that achieves it. A residual add therefore cuts a chain, while parallel branches
that all hold a layer (q/k/v, gate/up projections) still count as one layer of depth. One
reverse-topological sweep per family: linear-time, and no rule enumerates paths.

Requires: ``topology`` (data successors, reverse order), ``recurrence`` (the time steps of a loop
end every chain: a recurrence is judged over its horizon, not as depth).

Ensures: ``Chains``, the chains of each family in ``FAMILIES`` (earliest start first).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Collection, Mapping
from typing import Any

import networkx as nx

from gradlint.passes.recurrence import Recurrence
from gradlint.passes.topology import Topology, node_facts


@dataclasses.dataclass(frozen=True)
class Chain:
    """Members (earliest first) on one gradient route, and every node of that route."""

    nodes: tuple[str, ...]
    route: tuple[str, ...]   # from the first member to the last, inclusive

    @property
    def start(self) -> str:
        return self.nodes[0]

    @property
    def end(self) -> str:
        return self.nodes[-1]

    def __len__(self) -> int:
        return len(self.nodes)

    @functools.cached_property
    def _position(self) -> dict[str, int]:
        # built once: a rule that walks a chain layer by layer stays linear in its length
        return {node: i for i, node in enumerate(self.route)}

    def between(self, start: str, end: str) -> tuple[str, ...]:
        """Route nodes after ``start`` up to and including ``end``."""
        return self.route[self._position[start] + 1:self._position[end] + 1]

    def part(self, members: list[str]) -> Chain:
        return Chain(tuple(members), self.route[self._position[members[0]]:self._position[members[-1]] + 1])


@dataclasses.dataclass(frozen=True)
class Family:
    """Which nodes a chain counts (``member``, given a node's facts) and which node kinds end it."""

    member: Callable[[dict[str, Any]], bool]
    breaker_kinds: tuple[str, ...]


# Nodes whose inside we cannot see (blocks, opaque modules) end every chain: claiming a chain
# across them would be a guess.
FAMILIES: Mapping[str, Family] = {
    # saturating activations with no normalization between (GL101); a recurrent module or an
    # attention block between two activations hides what happens to the gradient there
    "saturating": Family(lambda facts: facts["saturating"],
                         ("norm", "recurrent", "attention", "block", "opaque")),
    # weight layers with no normalization between (GL201, GL601)
    "unnormalized": Family(lambda facts: facts["kind"] == "weight", ("norm", "block", "opaque")),
    # layers with no skip connection around them, normalized or not (GL401)
    "skipless": Family(lambda facts: facts["kind"] in ("weight", "recurrent", "attention"), ("block", "opaque")),
}


@dataclasses.dataclass(frozen=True)
class Chains:
    by_family: Mapping[str, tuple[Chain, ...]]

    def __getitem__(self, family: str) -> tuple[Chain, ...]:
        return self.by_family[family]


def chains(graph: nx.DiGraph, topo: Topology, recurrence: Recurrence) -> Chains:
    """The chains pass (see the module docstring)."""
    facts, kind = node_facts(graph), topo.kind
    found = {}
    for name, family in FAMILIES.items():
        ends = family.breaker_kinds
        breakers = {n for n in topo.successors if kind[n] in ends} | recurrence.nodes
        member = family.member
        members = {n for n in topo.successors if n not in breakers and member(facts[n])}
        found[name] = find_chains(topo, members, breakers)
    return Chains(found)


def find_chains(topo: Topology, members: Collection[str], breakers: Collection[str]) -> tuple[Chain, ...]:
    """Chains of members that the cheapest gradient route crosses with no breaker between.

    For each member m, the route from m towards the output that crosses the fewest members
    before a breaker (or the output) gives the chain starting at m. Chains that end at the same
    member are one problem: the longest is returned (ties: the earliest start).

    Parameters
    ----------
    topo : Topology
        The graph's topology (``topology`` pass).
    members, breakers : collections of nodes
        The nodes a chain counts, and the nodes that end it (a breaker is never a member).

    Returns
    -------
    tuple of Chain
        Earliest start first.

    Examples
    --------
    The skip around ``b`` (``a -> add``) is the cheapest route from ``a``: it crosses ``c`` only.
    ``b``'s chain (``b``, ``c``) ends at the same member and is no longer, so it is the same problem:

    >>> from gradlint.passes.topology import topology
    >>> g = nx.DiGraph([("x", "a"), ("a", "b"), ("a", "add"), ("b", "add"), ("add", "c"), ("c", "out")])
    >>> nx.set_node_attributes(g, True, "data"); nx.set_node_attributes(g, True, "floating")
    >>> nx.set_node_attributes(g, "other", "kind"); g.nodes["out"]["kind"] = "output"
    >>> [c.nodes for c in find_chains(topology(g), {"a", "b", "c"}, set())]
    [('a', 'c')]
    """
    if not members:
        return ()
    successors, position = topo.successors, topo.position
    output = topo.output
    cost: dict[str, int] = {}
    step: dict[str, str | None] = {}
    tail: dict[str, str | None] = {}   # last member on the route strictly after the node
    for node in topo.reverse:
        if node == output:
            cost[node], step[node], tail[node] = 0, None, None
            continue
        following = successors[node]
        if len(following) == 1:   # most nodes of a deep stack: no route to choose
            best = following[0]
            known = cost.get(best)
            if known is None:
                continue  # never reaches the output
            best_value = 0 if best in breakers else known + (best in members)
        else:
            best_value, best = -1, None
            for succ in following:
                known = cost.get(succ)
                if known is None:
                    continue  # never reaches the output
                value = 0 if succ in breakers else known + (succ in members)
                if best is None or value < best_value or (value == best_value and succ < best):
                    best_value, best = value, succ
            if best is None:
                continue
        cost[node], step[node] = best_value, best
        if best in breakers:
            tail[node] = None
        else:
            after = tail[best]
            tail[node] = after if after is not None else (best if best in members else None)
    longest: dict[str, str] = {}
    for node in reversed(topo.reverse):
        if node in members and node in cost:
            end = tail[node] or node
            if end not in longest or cost[node] > cost[longest[end]]:
                longest[end] = node
    found = []
    for end, start in sorted(longest.items(), key=lambda item: position[item[1]]):
        route, chain = [start], [start]
        while route[-1] != end:
            route.append(step[route[-1]])  # type: ignore[arg-type]
            if route[-1] in members:
                chain.append(route[-1])
        found.append(Chain(tuple(chain), tuple(route)))
    return tuple(found)
