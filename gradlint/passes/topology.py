"""Topology pass: the orders and neighbour lists every later pass walks, built once per model.

Requires: a graph from ``gradlint.tracing.graph.build_graph`` (acyclic; every node carries ``kind``,
``data`` and ``floating``).

Ensures: one immutable ``Topology``:

``order``            every node, each after its inputs (networkx's ``topological_sort`` order)
``position``         node -> its index in ``order``
``reverse``          the data nodes (``data`` is true, or the output node), each before its inputs
``successors``       data node -> its successors among the data nodes, in the graph's edge order
``predecessors``     data node -> its predecessors among the data nodes
``data_inputs``      node -> its predecessors whose ``data`` is true, in the graph's edge order
``floating``         the nodes whose example value is a floating-point tensor
``post_dominators``  data node -> its immediate post-dominator towards the output
``kind``             node -> its ``kind`` (read once here, as every sweep needs it)
``by_kind``          kind -> its nodes, in ``order``

Everything is plain lists, dicts and sets: the passes after this one never go through networkx's
views (a subgraph view filters every neighbour it yields, which made the old sweeps slow).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence

import networkx as nx


@dataclasses.dataclass(frozen=True)
class Topology:
    order: tuple[str, ...]
    position: Mapping[str, int]
    reverse: tuple[str, ...]
    successors: Mapping[str, tuple[str, ...]]
    predecessors: Mapping[str, tuple[str, ...]]   # read through: only span questions ask
    data_inputs: Mapping[str, tuple[str, ...]]
    floating: frozenset[str]
    output: str | None
    post_dominators: Mapping[str, str]
    kind: Mapping[str, str]
    by_kind: Mapping[str, tuple[str, ...]]

    @property
    def data(self) -> Mapping[str, tuple[str, ...]]:
        """The data nodes (the keys of ``successors``)."""
        return self.successors

    def between(self, start: str, end: str) -> set[str]:
        """Data nodes on some path from ``start`` to ``end`` (both excluded)."""
        if start not in self.successors or end not in self.successors:
            return set()
        return descendants(self.successors, start) & descendants(self.predecessors, end)


class _Filtered(Mapping):
    """node -> its neighbours in ``adjacency`` that are keys of ``keep``, filtered when asked
    (an immutable view: most models never ask, so nothing is built for them)."""

    def __init__(self, adjacency: Mapping[str, Iterable[str]], keep: Mapping[str, object]) -> None:
        self._adjacency, self._keep = adjacency, keep

    def __getitem__(self, node: str) -> tuple[str, ...]:
        if node not in self._keep:
            raise KeyError(node)
        keep = self._keep
        return tuple([n for n in self._adjacency[node] if n in keep])

    def __iter__(self) -> Iterator[str]:
        return iter(self._keep)

    def __len__(self) -> int:
        return len(self._keep)


def node_facts(graph: nx.DiGraph) -> Mapping[str, dict]:
    """node -> its facts: networkx's own node-attribute dict (``G._node``), read without the
    ``G.nodes`` view in front of it, which costs a few hundred ns per lookup in a long sweep.
    Read-only by convention, as every pass treats the graph.

    >>> node_facts(nx.DiGraph([("a", "b")]))["a"]
    {}
    """
    return graph._node


def topology(graph: nx.DiGraph) -> Topology:
    """The topology pass (see the module docstring)."""
    facts = node_facts(graph)
    order = topological_order(graph)
    strict, floating, outputs, kinds = set(), set(), [], {}
    for n, d in facts.items():   # one read of every node's facts
        kind = kinds[n] = d["kind"]
        if d["data"]:
            strict.add(n)
        if d["floating"]:
            floating.add(n)
        if kind == "output":
            outputs.append(n)
    data = strict.union(outputs)
    adjacency, incoming = graph._succ, graph._pred  # plain dicts: read once, never written
    # ``filter`` with a set's own ``__contains__`` keeps the order and runs no Python frame per node
    is_strict, is_data = strict.__contains__, data.__contains__
    data_inputs = {n: tuple(filter(is_strict, incoming[n])) for n in facts}
    successors = {n: tuple(filter(is_data, adjacency[n])) for n in filter(is_data, facts)}
    by_kind: dict[str, list[str]] = {}
    for n in order:
        by_kind.setdefault(kinds[n], []).append(n)
    reverse = tuple(filter(is_data, reversed(order)))
    output = outputs[0] if outputs else None
    return Topology(
        order=tuple(order), position={n: i for i, n in enumerate(order)}, reverse=reverse,
        successors=successors, predecessors=_Filtered(incoming, successors), data_inputs=data_inputs,
        floating=frozenset(floating), output=output,
        post_dominators=immediate_post_dominators(successors, reverse, output) if output else {},
        kind=kinds, by_kind={kind: tuple(nodes) for kind, nodes in by_kind.items()},
    )


def topological_order(graph: nx.DiGraph) -> list[Hashable]:
    """Every node of a DAG, each after its predecessors, in exactly the order of
    ``networkx.topological_sort`` (generation by generation), without its per-node overhead.

    Parameters
    ----------
    graph : networkx.DiGraph
        A directed acyclic graph.

    Returns
    -------
    list
        The nodes in topological order.

    Examples
    --------
    >>> g = nx.DiGraph([("x", "a"), ("x", "b"), ("a", "c"), ("b", "c")])
    >>> topological_order(g)
    ['x', 'a', 'b', 'c']
    >>> topological_order(g) == list(nx.topological_sort(g))
    True
    """
    adjacency = graph._succ
    indegree = {v: len(p) for v, p in graph._pred.items() if p}
    generation = [v for v, p in graph._pred.items() if not p]
    order: list[Hashable] = []
    while generation:
        order.extend(generation)
        following = []
        for node in generation:
            for child in adjacency[node]:
                indegree[child] -= 1
                if not indegree[child]:
                    following.append(child)
                    del indegree[child]
        generation = following
    if indegree:
        raise nx.NetworkXUnfeasible("graph contains a cycle")
    return order


def immediate_post_dominators(successors: Mapping[str, Sequence[str]], reverse: Sequence[str],
                              exit: str) -> dict[str, str]:
    """Immediate post-dominator of every node that reaches ``exit``: the nearest node that every
    path from it to ``exit`` crosses. One sweep in reverse topological order (Cooper, Harvey &
    Kennedy's intersection, which needs no iteration on an acyclic graph).

    Parameters
    ----------
    successors : mapping
        node -> its successors; every node of the graph is a key.
    reverse : sequence
        The nodes, each before its predecessors (a reversed topological order).
    exit : node
        The node every path is followed to.

    Returns
    -------
    dict
        node -> immediate post-dominator, for every node other than ``exit`` with a path to it
        (the same as ``networkx.immediate_dominators`` on the reversed graph, ``exit`` left out).

    Examples
    --------
    >>> succ = {"x": ["a", "b"], "a": ["c"], "b": ["c"], "c": ["out"], "out": []}
    >>> immediate_post_dominators(succ, ["out", "c", "b", "a", "x"], "out")
    {'c': 'out', 'b': 'c', 'a': 'c', 'x': 'c'}
    """
    rank = {exit: 0}
    idom: dict[str, str] = {}
    for node in reverse:
        if node == exit:
            continue
        following = successors[node]
        if len(following) == 1:   # most nodes of a deep stack: nothing to intersect
            finger = following[0]
            if finger not in rank:
                continue
        else:
            reaching = [s for s in following if s in rank]
            if not reaching:
                continue
            finger = reaching[0]
            for other in reaching[1:]:
                finger = _intersect(finger, other, idom, rank)
        idom[node] = finger
        rank[node] = len(rank)
    return idom


def _intersect(a: str, b: str, idom: Mapping[str, str], rank: Mapping[str, int]) -> str:
    # a node's post-dominator was ranked before it: walk the later-ranked finger up until they meet
    while a != b:
        while rank[a] > rank[b]:
            a = idom[a]
        while rank[b] > rank[a]:
            b = idom[b]
    return a


def descendants(successors: Mapping[str, Iterable[str]], source: str) -> set[str]:
    """The nodes reachable from ``source`` (``source`` excluded), by one graph search.

    Parameters
    ----------
    successors : mapping
        node -> its successors (pass predecessors for ancestors).
    source : node

    Returns
    -------
    set

    Examples
    --------
    >>> sorted(descendants({"x": ["a"], "a": ["b", "c"], "b": [], "c": []}, "a"))
    ['b', 'c']
    """
    seen: set[str] = set()
    stack = list(successors[source])
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(successors[node])
    return seen
