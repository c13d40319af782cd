"""Hypothesis strategies for malformed and mutated ``scanflow.yaml`` files, and the oracle that
every case must satisfy: it loads and validates, or it fails with a SpecError (or an agent
config problem). Shared by ``tests/app/test_spec_fuzz.py`` and ``benchmarks/fuzz_specs.py``."""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

import yaml
from hypothesis import strategies as st

from scanflow.app import SpecError, load_yaml
from scanflow.app.bounded_yaml import decode
from scanflow.app.validation import find_problems

HOSTILE_STRINGS = [
    "1e100000000", "1e309", "-1", "0", ".nan", "500m", "2Gi", "x" * 300, "../" * 40, "a\x00b",
    "m:f", "subprocess:run", "%2e%2e", "café", "\u202e", "🙂" * 70, "", " ", "~", "*x", "&x",
    "/" + "d/" * 2100, "9" * 5000,
]
HOSTILE_FRAGMENTS = [
    "&a ", "*a", "*b", "[" * 80, "]", "{", "}", ": ", "- ", "\t", "? ", "!!python/object/apply:os.system ['true']",
    "!!binary AAAA", "%YAML 1.1\n---\n", "---\n", "<<: *a\n", "description: &x [*x]\n",
    "a: &a [1,1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n",
    "memory: '1e100000000'", "cpu: .nan", "workflows: 5", "nodes: 5", "agents: true", "services: 100",
    "\n  - name: n\n    callable: 'm:f'\n", "script: " + "y" * 300, "9" * 4400,
]
KEYS = ["name", "workflows", "nodes", "services", "agents", "tracker", "script", "module", "callable",
        "depends_on", "resources", "cpu", "memory", "gpu", "retries", "timeout", "requirements",
        "dockerfile", "workdir", "parameters", "env", "config", "sensors", "kind", "supervises",
        "port", "replicas", "state_dir", "workflow", "max_parallel", "uri", "description"]

scalars = st.one_of(
    st.sampled_from(HOSTILE_STRINGS), st.text(max_size=30), st.integers(), st.integers(min_value=2**62),
    st.floats(), st.booleans(), st.none(),
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), inner, max_size=4)),
    max_leaves=12)


@st.composite
def base_specs(draw) -> dict:
    """A plausible application: a few workflows of executors and nested workflows, agents."""
    names = ["a", "b", "c", "train", "eval"]
    workflows = []
    for wi in range(draw(st.integers(1, 3))):
        nodes = []
        for ni in range(draw(st.integers(0, 3))):
            node = {"name": draw(st.sampled_from(names)) + str(ni), "callable": "m:f"}
            if ni and draw(st.booleans()):
                node["depends_on"] = [nodes[0]["name"]]
            if draw(st.booleans()):
                node["resources"] = {"cpu": draw(st.sampled_from([1, "500m", 0.5])), "memory": "1Gi"}
            nodes.append(node)
        workflows.append({"name": f"w{wi}", "nodes": nodes})
    spec = {"name": "fuzz", "workflows": workflows}
    if draw(st.booleans()):
        spec["agents"] = [{"name": "checker", "kind": draw(st.sampled_from(["checker", "planner", "custom"])),
                           "supervises": ["w0"]}]
    return spec


@st.composite
def mutated_specs(draw) -> dict:
    """A plausible application with a few values replaced by hostile ones."""
    spec = draw(base_specs())
    for _ in range(draw(st.integers(0, 4))):
        _replace_somewhere(spec, draw(st.sampled_from(KEYS)), draw(values), draw(st.randoms(use_true_random=False)))
    return spec


def _replace_somewhere(data, key: str, value, rnd: random.Random) -> None:
    """Set ``key`` to ``value`` in a random mapping inside ``data``."""
    mappings = []
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            mappings.append(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    rnd.choice(mappings)[key] = value


def _dump(spec: dict) -> str:
    return yaml.safe_dump(spec, sort_keys=False, allow_unicode=True)


@st.composite
def spec_texts(draw) -> str:
    """YAML text: a mutated spec, with fragments spliced in or lines cut out."""
    text = _dump(draw(mutated_specs()))
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(text)))
        if draw(st.booleans()):
            text = text[:at] + draw(st.sampled_from(HOSTILE_FRAGMENTS) | st.text(max_size=10)) + text[at:]
        else:
            text = text[:at] + text[at + draw(st.integers(1, 20)):]
    return text


spec_bytes = st.one_of(
    spec_texts().map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.binary(max_size=200),
    spec_texts().map(lambda t: t.encode("utf-8", "surrogatepass") + b"\xff\xfe\xc3"),
)

_ROOT = Path(tempfile.mkdtemp(prefix="scanflow-fuzz-"))


def load_and_validate(raw: bytes) -> str:
    """What ``scanflow validate`` does with a file's bytes; returns ``"valid"`` or
    ``"spec error"``; anything else escapes (the bug the fuzzers look for)."""
    # lazy: the agents' config check, the last step of `scanflow validate`
    from scanflow.agents import config_problems

    try:
        app = load_yaml(decode(raw, "scanflow.yaml"), file="scanflow.yaml", root=_ROOT)
    except SpecError:
        return "spec error"
    if find_problems(app):
        return "spec error"
    return "spec error" if config_problems(app) else "valid"
