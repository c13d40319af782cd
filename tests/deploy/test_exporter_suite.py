"""The contract every exporter keeps, checked on each registered one (``scanflow.deploy.EXPORTERS``).

An exporter writes files, and every file it writes is valid for its tool, checked structurally
(the Compose specification's JSON schema, the official kubernetes client models, hera's Argo
models, a Dockerfile parser), never by string matching alone. Exporting twice gives the same
files; bad input (an unknown setting, an output path that is a file, containers whose names
clash) is refused with a message that names it. A new exporter is tested the moment it is
registered; the suite fails until ``check_file`` knows the kinds of files it writes.
"""

from __future__ import annotations

import pytest
import yaml
from dockerfile_parse import DockerfileParser

from scanflow.app import load_app
from scanflow.deploy import EXPORTERS, Exporter, ExportError, get_exporter, validate_compose

TARGETS = sorted(EXPORTERS)


@pytest.fixture
def validators(k8s_model, argo_model):
    return {"k8s": k8s_model, "argo": argo_model}


def check_dockerfile(path):
    steps = [(i["instruction"], i["value"]) for i in DockerfileParser(path=str(path)).structure
             if i["instruction"] != "COMMENT"]
    assert steps and steps[0][0] == "FROM", f"{path}: a Dockerfile starts with FROM"
    assert all(i.isupper() for i, _ in steps), f"{path}: unknown instructions {steps}"


def check_yaml(target, path, validators):
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    assert docs, f"{path} is empty"
    for doc in docs:
        if target in ("compose", "swarm"):
            assert validate_compose(doc, required=True)
        elif doc.get("kind") == "Workflow":
            validators["argo"](doc)
        elif doc.get("kind") == "Kustomization":
            missing = [r for r in doc["resources"] if not (path.parent / r).is_file()]
            assert not missing, f"{path} lists resources that were not written: {missing}"
        else:
            validators["k8s"](doc)


def check_file(target, path, validators):
    """Validate one written file with the structural check of its kind."""
    if path.name.endswith("Dockerfile"):
        check_dockerfile(path)
    elif path.suffix == ".yaml":
        check_yaml(target, path, validators)
    else:
        pytest.fail(f"the {target!r} exporter wrote {path.name}, which no structural check knows: "
                    "add one to check_file in tests/deploy/test_exporter_suite.py")


def contents(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("target", TARGETS)
def test_an_exporter_is_an_exporter_registered_under_its_target(target):
    cls = EXPORTERS[target]
    assert issubclass(cls, Exporter) and cls.target == target
    assert {"registry", "tag", "base_image"} <= set(cls.settings())


@pytest.mark.parametrize("target", TARGETS)
def test_it_writes_the_files_it_returns(target, app, tmp_path):
    out = tmp_path / "out"
    files = get_exporter(target).export(app, out)
    assert files
    for what, path in files.items():
        assert path.is_file() and path.stat().st_size > 0, (what, path)
        assert path.is_relative_to(out) or path.is_relative_to(app.root), (what, path)
    assert any(path.is_relative_to(out) for path in files.values())


@pytest.mark.parametrize("target", TARGETS)
def test_every_file_it_writes_is_structurally_valid(target, app, tmp_path, validators):
    for path in get_exporter(target).export(app, tmp_path / "out").values():
        check_file(target, path, validators)


@pytest.mark.parametrize("target", TARGETS)
def test_exporting_again_gives_the_same_files(target, app, tmp_path):
    out = tmp_path / "out"
    exporter = get_exporter(target, tag="v1")
    first_files = exporter.export(app, out)
    first = contents(out)
    again = exporter.export(app, out)
    assert again == first_files and contents(out) == first


@pytest.mark.parametrize("target", TARGETS)
def test_an_unknown_setting_is_named_with_the_accepted_ones(target):
    with pytest.raises(ExportError, match=r"no setting 'colour'; it accepts: registry, tag"):
        get_exporter(target, colour="red")


@pytest.mark.parametrize("target", TARGETS)
def test_an_output_path_that_is_a_file_is_refused_by_name(target, app, tmp_path):
    taken = tmp_path / "taken"
    taken.write_text("mine")
    with pytest.raises(ExportError, match="taken: it is a file, not a folder"):
        get_exporter(target).export(app, taken)
    assert taken.read_text() == "mine"


@pytest.mark.parametrize("target", TARGETS)
def test_containers_whose_names_clash_are_refused_by_name(target, tmp_path):
    (tmp_path / "scanflow.yaml").write_text(
        "name: x\nworkflows:\n  - name: w\n    nodes:\n      - {name: a, module: m}\n"
        "services:\n  - {name: w-a, module: m}\n")
    with pytest.raises(ValueError, match="would both be deployed as 'w-a'"):
        get_exporter(target).export(load_app(tmp_path), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_an_unknown_target_is_named_with_the_known_ones():
    with pytest.raises(ExportError, match="unknown export target 'helm': use one of compose, dockerfiles"):
        get_exporter("helm")
