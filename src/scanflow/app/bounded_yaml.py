"""YAML parsing with limits, so that a small hostile file can neither exhaust memory nor recurse.

PyYAML's safe loader refuses to build objects, but it still follows aliases without bound (a
few hundred bytes of nested aliases expand to billions of nodes), accepts self-referencing
aliases and nests as deep as Python's stack allows. :func:`parse` reads a spec with:

* a size limit on the text (:data:`MAX_BYTES`),
* a nesting limit (:data:`MAX_DEPTH` mappings and lists, checked while composing),
* an expansion limit (:data:`MAX_NODES` nodes after every alias is expanded, counted on the
  composed graph before anything is built), and no alias inside itself.

Every refusal is a :class:`~scanflow.app.errors.SpecError` with the line and the fix.
"""

from __future__ import annotations

from typing import Any

import yaml

from .errors import Problem, SpecError

__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_NODES", "decode", "parse"]

MAX_BYTES = 4 * 2**20
MAX_DEPTH = 64
MAX_NODES = 200_000


def decode(raw: bytes, file: str | None = None) -> str:
    """The text of a spec file; not UTF-8 or too large is a :class:`SpecError`."""
    if len(raw) > MAX_BYTES:
        raise _error("file", f"is {len(raw):,} bytes, more than the {MAX_BYTES:,} a spec may have",
                     "split the application or remove generated content", None, file)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise _error("file", f"is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})",
                     "save the file as UTF-8", line, file) from None


class _BoundedLoader(yaml.SafeLoader):
    """A safe loader whose composer refuses to nest deeper than :data:`MAX_DEPTH`."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise _error("yaml", f"nests deeper than {MAX_DEPTH} levels",
                             "flatten the structure", mark.line + 1, None)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def parse(text: str, file: str | None = None) -> tuple[yaml.Node | None, Any]:
    """The composed node graph and the plain data of ``text`` (one YAML document)."""
    if len(text) > MAX_BYTES:
        raise _error("file", f"has more than {MAX_BYTES:,} characters", "split the application", None, file)
    loader = None
    try:
        loader = _BoundedLoader(text)  # reads (and checks the characters of) the first chunk
        node = loader.get_single_node()
        if node is None:
            return None, None
        _check_expansion(node, file)
        return node, loader.construct_document(node)
    except SpecError as exc:
        raise SpecError([_in_file(p, file) for p in exc.problems]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        why = getattr(exc, "problem", None) or (exc.reason if isinstance(exc, yaml.reader.ReaderError) else exc)
        raise _error("yaml", f"not valid YAML: {why}", "fix the syntax",
                     mark.line + 1 if mark else None, file) from None
    except (ValueError, OverflowError, RecursionError) as exc:  # e.g. an int of 5,000 digits
        why = "a number is too long" if "digits" in str(exc) else str(exc)[:200]
        raise _error("yaml", f"a value cannot be read: {why}", "shorten the value, or quote it", None, file) from None
    finally:
        if loader is not None:
            loader.dispose()


def _check_expansion(root: yaml.Node, file: str | None) -> None:
    """Refuse aliases that refer to themselves or expand beyond :data:`MAX_NODES` nodes.

    Sizes are memoised per node, so the count costs one visit per distinct node however often
    aliases repeat it; a node met again while it is being counted is a self-reference.
    """
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, int]] = [(root, 0)]
    open_: set[int] = set()
    while stack:
        node, child = stack.pop()
        children = _children(node)
        if child == 0:
            if id(node) in sizes:
                continue
            if id(node) in open_:
                raise _error("yaml", "an alias refers to the node that contains it",
                             "replace the alias (*name) with a copy of the value", node.start_mark.line + 1, file)
            open_.add(id(node))
        if child < len(children):
            stack.append((node, child + 1))
            if id(children[child]) not in sizes:
                stack.append((children[child], 0))
            continue
        open_.discard(id(node))
        sizes[id(node)] = 1 + sum(sizes[id(c)] for c in children)
        if sizes[id(node)] > MAX_NODES:
            raise _error("yaml", f"expands to more than {MAX_NODES:,} values once aliases are followed",
                         "use fewer aliases (*name), or copy only what is needed", node.start_mark.line + 1, file)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _error(location: str, message: str, fix: str, line: int | None, file: str | None) -> SpecError:
    return SpecError([Problem(location, message, fix, line, file)])


def _in_file(p: Problem, file: str | None) -> Problem:
    return Problem(p.location, p.message, p.fix, p.line, p.file or file)
