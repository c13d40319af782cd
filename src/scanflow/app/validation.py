"""Whole-application checks: names, references, cycles, files. One :class:`Problem` per issue."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from .dag import find_cycle
from .errors import Problem, SpecError
from .spec import Application, Executor, SubWorkflow


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``"did you mean 'train'?"`` for the closest choice, or ``""``."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else ""


def _duplicates(names: list[str]) -> list[str]:
    seen: set[str] = set()
    dup: list[str] = []
    for name in names:
        if name in seen and name not in dup:
            dup.append(name)
        seen.add(name)
    return dup


def find_problems(app: Application, check_files: bool = True) -> list[Problem]:
    """Every structural problem of ``app`` (an empty list when it is valid)."""
    problems = _duplicate_names(app)
    for wi, wf in enumerate(app.workflows):
        problems += _workflow_problems(app, wi, wf, check_files)
    problems += _workflow_cycles(app)
    problems += _agent_problems(app)
    for si, service in enumerate(app.services):
        if check_files and service.script:
            problems.extend(_file_problems(app, f"services[{si}] ({service.name})", service))
    return problems


def _duplicate_names(app: Application) -> list[Problem]:
    problems = [Problem("workflows", f"duplicate workflow name {name!r}", "give each workflow a unique name")
                for name in _duplicates([w.name for w in app.workflows])]
    for kind, items in (("services", app.services), ("agents", app.agents)):
        for name in _duplicates([i.name for i in items]):
            problems.append(Problem(kind, f"duplicate {kind[:-1]} name {name!r}", f"give each {kind[:-1]} a unique name"))
    return problems


def _workflow_problems(app: Application, wi: int, wf, check_files: bool) -> list[Problem]:
    """Duplicate nodes, unknown or self dependencies, unknown nested workflows, node cycles."""
    wf_names = [w.name for w in app.workflows]
    where = f"workflows[{wi}] ({wf.name})"
    names = [n.name for n in wf.nodes]
    problems = [Problem(f"{where}.nodes", f"duplicate node name {name!r}", "give each node of a workflow a unique name")
                for name in _duplicates(names)]
    for ni, node in enumerate(wf.nodes):
        nwhere = f"{where}.nodes[{ni}] ({node.name}).depends_on"
        for up in node.depends_on:
            if up == node.name:
                problems.append(Problem(nwhere, f"node {node.name!r} depends on itself", "remove it from its own depends_on"))
            elif up not in names:
                hint = did_you_mean(up, names) or f"known nodes: {', '.join(names)}"
                problems.append(Problem(nwhere, f"unknown dependency {up!r}", hint))
        if isinstance(node, SubWorkflow) and node.workflow not in wf_names:
            hint = did_you_mean(node.workflow, wf_names) or f"define a workflow named {node.workflow!r}"
            problems.append(Problem(f"{where}.nodes[{ni}] ({node.name}).workflow", f"unknown workflow {node.workflow!r}", hint))
        if check_files and isinstance(node, Executor):
            problems.extend(_file_problems(app, f"{where}.nodes[{ni}] ({node.name})", node))
    for up in wf.depends_on:
        if up not in wf_names:
            hint = did_you_mean(up, wf_names) or f"known workflows: {', '.join(wf_names)}"
            problems.append(Problem(f"{where}.depends_on", f"unknown workflow {up!r}", hint))
    cycle = find_cycle([(up, n.name) for n in wf.nodes for up in n.depends_on if up != n.name])
    if cycle:
        problems.append(Problem(f"{where}", f"dependency cycle {' -> '.join(cycle)}", "remove one of these depends_on entries"))
    return problems


def _workflow_cycles(app: Application) -> list[Problem]:
    """Workflows reference each other by depends_on and by nesting; neither may loop."""
    wf_names = [w.name for w in app.workflows]
    wf_edges = [(up, wf.name) for wf in app.workflows for up in wf.depends_on if up in wf_names]
    wf_edges += [(n.workflow, wf.name) for wf in app.workflows for n in wf.nodes
                 if isinstance(n, SubWorkflow) and n.workflow in wf_names]
    cycle = find_cycle(wf_edges)
    if not cycle:
        return []
    return [Problem("workflows", f"workflow cycle {' -> '.join(cycle)} (through depends_on or nesting)",
                    "a workflow cannot run itself, directly or through others")]


def _agent_problems(app: Application) -> list[Problem]:
    """Agents supervise known workflows or services and talk to known agents."""
    problems: list[Problem] = []
    targets = [w.name for w in app.workflows] + [s.name for s in app.services]
    agent_names = [a.name for a in app.agents]
    for ai, agent in enumerate(app.agents):
        for target in agent.supervises:
            if target not in targets:
                hint = did_you_mean(target, targets) or f"known workflows and services: {', '.join(targets) or 'none'}"
                problems.append(Problem(f"agents[{ai}] ({agent.name}).supervises", f"unknown workflow or service {target!r}", hint))
        for other in agent.talks_to:
            if other not in agent_names:
                hint = did_you_mean(other, agent_names) or f"known agents: {', '.join(agent_names)}"
                problems.append(Problem(f"agents[{ai}] ({agent.name}).talks_to", f"unknown agent {other!r}", hint))
    return problems


def _file_problems(app: Application, where: str, node) -> list[Problem]:
    problems = []
    if node.script and not _is_file(app.root / (node.workdir or "") / node.script):
        folder = app.root / (node.workdir or "")
        problems.append(Problem(f"{where}.script", f"script file {node.script!r} not found (looked in {folder})",
                                "fix the path; it is relative to the application folder"))
    if isinstance(node.requirements, str) and not _is_file(app.root / node.requirements):
        problems.append(Problem(f"{where}.requirements", f"requirements file {node.requirements!r} not found",
                                "give a path relative to the application folder, or a list of packages"))
    if node.dockerfile and not _is_file(app.root / node.dockerfile):
        problems.append(Problem(f"{where}.dockerfile", f"Dockerfile {node.dockerfile!r} not found",
                                "give a path relative to the application folder"))
    return problems


def _is_file(path) -> bool:
    """``path.is_file()``, with a path the system refuses (too long, a loop) counted as absent."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def check_application(app: Application, check_files: bool = True) -> None:
    """Raise :class:`SpecError` if ``app`` has any problem."""
    problems = find_problems(app, check_files=check_files)
    if problems:
        raise SpecError(problems)
