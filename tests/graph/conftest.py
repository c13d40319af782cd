import textwrap

import pytest

from scanflow.app import load_yaml

APP_YAML = textwrap.dedent("""
    name: mnist
    workflows:
      - name: training
        nodes:
          - {name: load, script: load.py, parameters: {limit: 5000}}
          - {name: stats, script: stats.py, depends_on: [load]}
          - name: train
            script: train.py
            depends_on: [load]
            resources: {cpu: 2, memory: 2Gi}
            retries: 2
          - {name: evaluation, workflow: evaluation, depends_on: [train]}
          - {name: report, module: pkg.report, depends_on: [evaluation, stats]}
      - name: evaluation
        nodes:
          - {name: evaluate, script: evaluate.py}
          - {name: score, callable: "pkg.mod:score", depends_on: evaluate}
      - name: monitoring
        depends_on: training
        nodes:
          - {name: check, script: check.py}
    services:
      - {name: api, script: serve.py, port: 8000, depends_on: [training]}
    agents:
      - {name: checker, kind: checker, supervises: [training, api], talks_to: [planner]}
      - {name: planner, kind: planner, supervises: [evaluation]}
""")


@pytest.fixture
def app():
    return load_yaml(APP_YAML)


@pytest.fixture
def app_dir(tmp_path):
    (tmp_path / "scanflow.yaml").write_text(APP_YAML)
    for name in ("load.py", "stats.py", "train.py", "evaluate.py", "check.py", "serve.py"):
        (tmp_path / name).write_text("print('ok')\n")
    return tmp_path
