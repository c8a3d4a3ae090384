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

Ensures: ``Chains``, the chains of each family in ``FAMILIES`` (earliest start first); each
``Chain`` holds its members, its route and, for each member, the first activation on the route
before the next member (what a per-layer gain multiplies in).
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
    # for each member, the first activation on the route after it, up to and including the
    # next member (None when there is none, and for the last member)
    activations: tuple[str | None, ...] = ()

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

    @functools.cached_property
    def _member_index(self) -> dict[str, int]:
        return {node: i for i, node in enumerate(self.nodes)}

    def part(self, members: list[str]) -> Chain:
        """The chain of ``members``, consecutive members of this one."""
        first, last = self._member_index[members[0]], self._member_index[members[-1]]
        return Chain(tuple(members), self.route[self._position[members[0]]:self._position[members[-1]] + 1],
                     self.activations[first:last] + (None,))


@dataclasses.dataclass(frozen=True)
class Family:
    """Which nodes a chain counts (nodes of ``member_kinds`` for which ``member``, given the node's
    facts, holds; every such node without ``member``) and which node kinds end it."""

    member_kinds: tuple[str, ...]
    breaker_kinds: tuple[str, ...]
    member: Callable[[dict[str, Any]], bool] | None = None


# Nodes whose inside we cannot see (blocks, opaque modules) end every chain: claiming a chain
# across them would be a guess.
FAMILIES: Mapping[str, Family] = {
    # saturating activations with no normalization between (GL101); a recurrent module or an
    # attention block between two activations hides what happens to the gradient there
    "saturating": Family(("activation",), ("norm", "recurrent", "attention", "block", "opaque"),
                         lambda facts: facts["saturating"]),
    # weight layers with no normalization between (GL201, GL601)
    "unnormalized": Family(("weight",), ("norm", "block", "opaque")),
    # layers with no skip connection around them, normalized or not (GL401)
    "skipless": Family(("weight", "recurrent", "attention"), ("block", "opaque")),
}


_BREAKER = -1   # a breaker's role in ``find_chains``


@dataclasses.dataclass(frozen=True)
class Chains:
    by_family: Mapping[str, tuple[Chain, ...]]

    def __getitem__(self, family: str) -> tuple[Chain, ...]:
        return self.by_family[family]


def chains(graph: nx.DiGraph, topo: Topology, recurrence: Recurrence) -> Chains:
    """The chains pass (see the module docstring)."""
    facts, by_kind, data = node_facts(graph), topo.by_kind, topo.successors
    found = {}
    swept: list[tuple[set[str], set[str], tuple[Chain, ...]]] = []
    for name, family in FAMILIES.items():
        breakers = {n for kind in family.breaker_kinds for n in by_kind.get(kind, ()) if n in data}
        breakers |= recurrence.nodes
        member = family.member
        members = {n for kind in family.member_kinds for n in by_kind.get(kind, ())
                   if n in data and n not in breakers and (member is None or member(facts[n]))}
        # families often select the same nodes (a stack with no normalization, recurrence or
        # attention: "unnormalized" and "skipless"); the same sets give the same chains
        same = next((c for m, b, c in swept if m == members and b == breakers), None)
        found[name] = same if same is not None else find_chains(topo, members, breakers)
        swept.append((members, breakers, found[name]))
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
    # what a node counts for on a route: 1 a member, 0 neither; a breaker resets the count. One
    # lookup per step instead of two set tests.
    role = dict.fromkeys(members, 1)
    role.update(dict.fromkeys(breakers, _BREAKER))
    get_role = role.get
    # node -> (cost, step, tail): the fewest members on a route to the output, the next node on
    # it, and the last member on it strictly after the node (one tuple per node)
    state: dict[str, tuple[int, str | None, str | None]] = {}
    for node in topo.reverse:
        if node == output:
            state[node] = (0, None, None)
            continue
        following = successors[node]
        if len(following) == 1:   # most nodes of a deep stack: no route to choose
            best = following[0]
            known = state.get(best)
            if known is None:
                continue  # never reaches the output
            counted = get_role(best, 0)
        else:
            best_value, best, known, counted = -1, None, None, 0
            for succ in following:
                succ_state = state.get(succ)
                if succ_state is None:
                    continue  # never reaches the output
                succ_role = get_role(succ, 0)
                value = 0 if succ_role == _BREAKER else succ_state[0] + succ_role
                if best is None or value < best_value or (value == best_value and succ < best):
                    best_value, best, known, counted = value, succ, succ_state, succ_role
            if best is None:
                continue
        if counted == _BREAKER:
            state[node] = (0, best, None)
        else:
            after = known[2]
            state[node] = (known[0] + counted, best,
                           after if after is not None else (best if counted else None))
    longest: dict[str, str] = {}
    for node in reversed(topo.reverse):
        if role.get(node) == 1 and node in state:
            end = state[node][2] or node
            if end not in longest or state[node][0] > state[longest[end]][0]:
                longest[end] = node
    kind = topo.kind
    found = []
    for end, start in sorted(longest.items(), key=lambda item: position[item[1]]):
        route, chain, activations = [start], [start], []
        node, activation = start, None
        while node != end:
            node = state[node][1]
            route.append(node)  # type: ignore[arg-type]
            if activation is None and kind[node] == "activation":
                activation = node
            if role.get(node) == 1:
                chain.append(node)  # type: ignore[arg-type]
                activations.append(activation)
                activation = None
        activations.append(None)
        found.append(Chain(tuple(chain), tuple(route), tuple(activations)))
    return tuple(found)
