"""Recurrence pass: weights applied again and again along one chain (a Python loop over time steps).

A loop over time steps unrolls, when traced, into repeated calls of the same layer (``cell``,
``cell_1``, ... in node names). Rules that reason about depth treat these nodes as the
recurrence they are (GL301 judges them over the horizon), not as a deep feed-forward stack.

Requires: ``topology`` (the order, for "in graph order").

Ensures: ``Recurrence``: ``applications`` maps each module (or parameter set) applied to data at
least twice, each application feeding the next, to its applications in graph order; ``nodes``
holds all of them; ``calls`` maps every called module's qualified name to the node of its first
call in the graph's node order (where GL301 points for an ``nn.RNN``, found once here rather than
by a scan of the graph per module).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import networkx as nx

from gradlint.passes.topology import Topology, node_facts


@dataclasses.dataclass(frozen=True)
class Recurrence:
    applications: Mapping[str, tuple[str, ...]]
    nodes: frozenset[str]
    calls: Mapping[str, str] = dataclasses.field(default_factory=dict)


def recurrence(graph: nx.DiGraph, topo: Topology) -> Recurrence:
    """The recurrence pass (see the module docstring)."""
    uses: dict[str, list[str]] = {}
    nodes = node_facts(graph)
    for node in topo.by_kind.get("weight", ()):
        facts = nodes[node]
        if facts["data"]:
            uses.setdefault(facts["module"] or ",".join(sorted(facts["params"])), []).append(node)
    applications = {}
    for key, used in sorted(uses.items()):
        if len(used) >= 2 and all(nx.has_path(graph, a, b) for a, b in zip(used, used[1:])):
            applications[key] = tuple(used)
    calls: dict[str, str] = {}
    for node, facts in nodes.items():   # graph order, as the nodes were added
        module = facts["module"]
        if module is not None and module not in calls:
            calls[module] = node
    return Recurrence(applications, frozenset(n for used in applications.values() for n in used), calls)
