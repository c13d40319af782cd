import json
import re

from dockerfile_parse import DockerfileParser

from scanflow.deploy import BASE_IMAGE, DockerfilesExporter, build_deployment, write_dockerfiles
from scanflow.deploy.dockerfile import USER_ID


def parse(path):
    parser = DockerfileParser(path=str(path))
    return [(i["instruction"], i["value"]) for i in parser.structure if i["instruction"] != "COMMENT"]


def test_every_built_node_service_and_agent_gets_a_dockerfile(app, tmp_path):
    dep = build_deployment(app)
    files = write_dockerfiles(dep, tmp_path / "df")
    built = {c.name for c in dep.containers if c.build}
    assert set(files) == built
    assert "training-report" not in files  # uses its own image
    assert files["training-evaluation-evaluate"] == (app.root / "docker/Evaluate.Dockerfile").resolve()
    assert (tmp_path / "df" / "training-load.Dockerfile.dockerignore").read_text().count(".scanflow") == 1


def test_generated_dockerfile_pins_the_base_runs_as_non_root_and_ends_with_the_entry_point(app, tmp_path):
    dep = build_deployment(app)
    files = write_dockerfiles(dep, tmp_path)
    steps = parse(files["training-load"])
    instructions = [i for i, _ in steps]
    assert instructions[0] == "FROM" and steps[0][1] == BASE_IMAGE
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+", BASE_IMAGE)  # a patch release, not 'latest'
    user = [v for i, v in steps if i == "USER"]
    assert user == [f"{USER_ID}:{USER_ID}"] and USER_ID != 0
    assert instructions.index("USER") > instructions.index("COPY") > instructions.index("RUN")
    run = [v for i, v in steps if i == "RUN" and "pip install" in v]
    assert run and "'numpy>=1.26'" in run[0] and "pandas==2.2.2" in run[0]
    assert json.loads(dict(steps)["ENTRYPOINT"]) == ["python", "steps/load.py"]
    assert json.loads(dict(steps)["CMD"]) == ["--limit", "500", "--fast", "true"]


def test_module_and_callable_nodes_keep_the_local_run_semantics(app, tmp_path):
    files = write_dockerfiles(build_deployment(app), tmp_path)
    stats = dict(parse(files["training-stats"]))
    assert json.loads(stats["ENTRYPOINT"]) == ["python", "-m", "steps.stats"]
    train = dict(parse(files["training-train"]))
    assert json.loads(train["ENTRYPOINT"])[:2] == ["python", "-c"]
    assert json.loads(train["CMD"]) == ["steps.train:fit", '{"epochs": 2}']


def test_agent_images_install_scanflow_and_start_the_agent(app, tmp_path):
    files = write_dockerfiles(build_deployment(app), tmp_path)
    steps = dict(parse(files["agent-checker"]))
    assert "scanflow==" in steps["RUN"]
    command = json.loads(steps["ENTRYPOINT"]) + json.loads(steps["CMD"])
    assert command[0] == "scanflow" and command[-2:] == ["--agent", "checker"]
    assert steps["EXPOSE"] == "9000"


def test_base_image_and_registry_are_settings_of_the_dockerfiles_exporter(app, tmp_path):
    exporter = DockerfilesExporter(registry="ghcr.io/acme/", tag="1.2.0", base_image="python:3.12.7-slim-bookworm")
    files = exporter.export(app, tmp_path)
    assert parse(files["api"])[0] == ("FROM", "python:3.12.7-slim-bookworm")
    assert exporter.deployment(app).container("api").image == "ghcr.io/acme/shop-ml-api:1.2.0"
