"""Order and cycles of small directed graphs (the spec's DAGs), with no graph library: the
spec loads fast, and ``scanflow validate`` and ``scanflow run`` start at once.

>>> topological_order(["b", "a", "c"], [("a", "c")])
['b', 'a', 'c']
>>> find_cycle([("a", "b"), ("b", "c"), ("c", "a")])
['a', 'b', 'c', 'a']
>>> find_cycle([("a", "b")]) is None
True
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable


def topological_order(names: list[str], edges: Iterable[tuple[str, str]]) -> list[str]:
    """``names`` in an order where every edge ``(up, down)`` has ``up`` first; among the nodes
    ready at once, the one listed first in ``names`` goes first (the same order every time).
    Edges to or from unknown names are ignored; a cycle raises ``ValueError``."""
    index = {name: i for i, name in enumerate(names)}
    downstream: dict[str, list[str]] = {name: [] for name in names}
    waiting = dict.fromkeys(names, 0)
    for up, down in edges:
        if up in index and down in index:
            downstream[up].append(down)
            waiting[down] += 1
    ready = [index[name] for name in names if waiting[name] == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        name = names[heapq.heappop(ready)]
        order.append(name)
        for down in downstream[name]:
            waiting[down] -= 1
            if waiting[down] == 0:
                heapq.heappush(ready, index[down])
    if len(order) < len(names):
        raise ValueError(f"cycle among {sorted(set(names) - set(order))}")
    return order


def find_cycle(edges: Iterable[tuple[str, str]]) -> list[str] | None:
    """A cycle of the graph ``edges`` as ``[a, b, ..., a]``, or ``None``."""
    graph: dict[str, list[str]] = {}
    for up, down in edges:
        graph.setdefault(up, []).append(down)
        graph.setdefault(down, [])
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in graph:
        if state.get(start):
            continue
        path, stack = [start], [iter(graph[start])]
        state[start] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(graph[nxt]))
    return None
