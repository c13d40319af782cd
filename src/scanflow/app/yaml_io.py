"""Reading and writing applications: ``scanflow.yaml`` or a Python file that defines ``app``.

Errors name the file, the line and the field, and suggest the key that was probably meant.
"""

from __future__ import annotations

import os
import runpy
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from .bounded_yaml import MAX_BYTES, decode, parse
from .errors import Problem, SpecError
from .spec import Agent, Application, Executor, Service, SubWorkflow, TrackerSettings, Workflow
from .validation import did_you_mean, find_problems

APP_FILES = ("scanflow.yaml", "scanflow.yml", "app.py", "scanflow_app.py")


def find_app_file(path: str | os.PathLike[str]) -> Path:
    """The application file at ``path``: the file itself, or the app file inside a folder."""
    path = Path(path)
    if path.is_dir():
        for name in APP_FILES:
            if (path / name).is_file():
                return path / name
        raise FileNotFoundError(
            f"no application in {path}: create {path / 'scanflow.yaml'} (or app.py defining `app`), "
            "or run `scanflow init DIR` for an example"
        )
    if not path.exists():
        raise FileNotFoundError(f"application file {path} does not exist")
    return path


def load_app(path: str | os.PathLike[str], validate: bool = True) -> Application:
    """Load an application from a YAML file, a Python file defining ``app``, or their folder."""
    file = find_app_file(path)
    if file.suffix == ".py":
        namespace = runpy.run_path(str(file), run_name="__scanflow_app__")
        app = namespace.get("app")
        if not isinstance(app, Application):
            raise SpecError([Problem("app", "the file defines no `app` Application", "add `app = Application(...)`", file=str(file))])
        if app._root is None:
            app.root = file.parent
    else:
        app = load_yaml(decode(_read(file), str(file)), file=str(file), root=file.parent)
    app._source = file.resolve()
    if validate:
        problems = find_problems(app)
        if problems:
            raise SpecError([_with_file(p, str(file)) for p in problems])
    return app


def _read(file: Path) -> bytes:
    try:
        with file.open("rb") as fh:
            return fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise SpecError([Problem("file", f"cannot be read: {exc.strerror or exc}",
                                 "check the path and its permissions", None, str(file))]) from None


def _with_file(p: Problem, file: str) -> Problem:
    return Problem(p.location, p.message, p.fix, p.line, p.file or file)


def load_yaml(text: str, file: str | None = None, root: str | os.PathLike[str] | None = None) -> Application:
    """Parse YAML text into an :class:`Application` (field checks only; see ``validate_spec``)."""
    node, data = parse(text, file)
    if not isinstance(data, dict):
        raise SpecError([Problem("top level", "expected a mapping with at least `name:`", "start the file with `name: my-app`", 1, file)])
    lines = _line_index(node)
    problems = [Problem(loc, msg, fix, lines.get(path), file) for path, loc, msg, fix in _unknown_keys(data)]
    if problems:
        raise SpecError(problems)
    try:
        app = Application.model_validate(data)
    except ValidationError as exc:
        raise SpecError(_from_pydantic(exc, data, lines, file)) from None
    if root is not None:
        app.root = root
    app._lines = lines
    return app


def dump_yaml(app: Application) -> str:
    """YAML for ``app``; ``load_yaml(dump_yaml(app)) == app``."""
    return yaml.safe_dump(app.to_dict(), sort_keys=False, default_flow_style=False, allow_unicode=True)


# -- unknown keys, with the key that was probably meant ---------------------------------------------

def _fields(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def _unknown_keys(data: dict[str, Any]):
    """Unknown keys, with a hint; values of the wrong type are left to pydantic, which names them."""
    yield from _check_keys(data, Application, (), "")
    for wi, wf in _mappings(data.get("workflows")):
        wpath = ("workflows", wi)
        yield from _check_keys(wf, Workflow, wpath, f"workflows[{wi}]")
        for ni, node in _mappings(wf.get("nodes")):
            model = SubWorkflow if "workflow" in node else Executor
            loc = f"workflows[{wi}].nodes[{ni}]" + (f" ({node['name']})" if isinstance(node.get("name"), str) else "")
            yield from _check_keys(node, model, (*wpath, "nodes", ni), loc)
            if isinstance(node.get("resources"), dict):
                yield from _check_keys(node["resources"], Executor.model_fields["resources"].annotation,
                                       (*wpath, "nodes", ni, "resources"), f"{loc}.resources")
    for key, model in (("services", Service), ("agents", Agent)):
        for i, item in _mappings(data.get(key)):
            yield from _check_keys(item, model, (key, i), f"{key}[{i}]")
    if isinstance(data.get("tracker"), dict):
        yield from _check_keys(data["tracker"], TrackerSettings, ("tracker",), "tracker")


def _mappings(value: Any) -> list[tuple[int, dict[str, Any]]]:
    """The mappings of a list, with their positions; anything but a list holds none."""
    if not isinstance(value, list):
        return []
    return [(i, item) for i, item in enumerate(value) if isinstance(item, dict)]


def _check_keys(data: dict[str, Any], model: type[BaseModel], path: tuple, loc: str):
    known = _fields(model)
    for key in data:
        if key not in known:
            hint = did_you_mean(str(key), known) or f"known keys: {', '.join(known)}"
            yield (*path, key), f"{loc}.{key}" if loc else str(key), f"unknown key {key!r}", hint


# -- line numbers -----------------------------------------------------------------------------------

def _line_index(node: yaml.Node | None, path: tuple = ()) -> dict[tuple, int]:
    """Map each path (keys and list indices) to the 1-based line where it appears."""
    index: dict[tuple, int] = {}
    if node is None:
        return index
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            sub = (*path, key_node.value)
            index[sub] = key_node.start_mark.line + 1
            index.update(_line_index(value_node, sub))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            sub = (*path, i)
            index[sub] = item.start_mark.line + 1
            index.update(_line_index(item, sub))
    return index


_TYPE_FIXES = {
    "list_type": "write a list: `- item` lines or `[a, b]`",
    "dict_type": "write a mapping: `key: value` lines or `{key: value}`",
    "model_type": "write a mapping: `key: value` lines or `{key: value}`",
    "model_attributes_type": "write a mapping: `key: value` lines or `{key: value}`",
    "string_type": "write text (quote it if it looks like a number)",
}


def _from_pydantic(exc: ValidationError, data: dict, lines: dict[tuple, int], file: str | None) -> list[Problem]:
    problems = []
    for err in exc.errors():
        # Drop pydantic's union-branch labels ("Executor", "SubWorkflow", "function-before[...]").
        path = tuple(p for p in err["loc"] if isinstance(p, int) or not (p[:1].isupper() or "[" in p))
        loc = _describe(path, data)
        msg = err["msg"].removeprefix("Value error, ")
        fix = _TYPE_FIXES.get(err["type"], "")
        if err["type"] == "missing":
            msg, fix = f"required field {path[-1]!r} is missing", f"add `{path[-1]}:`"
        line = None
        for n in range(len(path), 0, -1):
            if path[:n] in lines:
                line = lines[path[:n]]
                break
        problems.append(Problem(loc, msg, fix, line, file))
    return problems


def _describe(path: tuple, data: Any) -> str:
    parts: list[str] = []
    cur = data
    for p in path:
        if isinstance(p, int):
            label = f"[{p}]"
            if isinstance(cur, list) and p < len(cur) and isinstance(cur[p], dict) and "name" in cur[p]:
                label += f" ({cur[p]['name']})"
            parts.append(label)
            cur = cur[p] if isinstance(cur, list) and p < len(cur) else None
        else:
            parts.append(("." if parts else "") + str(p))
            cur = cur.get(p) if isinstance(cur, dict) else None
    return "".join(parts) or "application"
