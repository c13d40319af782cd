"""Schemathesis against every FastAPI app of Scanflow, each served by uvicorn on 127.0.0.1: no
server error, every answer documented (status, media type, body schema), schema-invalid
requests refused. Bounded for CI; ``benchmarks/fuzz_http.py`` runs the long, ``--checks all``
and stateful version."""

from __future__ import annotations

import pytest
from fuzz_apps import APPS, BUILDERS, run_schemathesis

from scanflow.serve.server import ServerThread

pytest.importorskip("schemathesis")


@pytest.mark.parametrize("name", APPS)
def test_schemathesis_finds_no_server_error_and_no_undocumented_answer(name, tmp_path, monkeypatch):
    monkeypatch.delenv("SCANFLOW_TOKEN", raising=False)
    app, schema_path = BUILDERS[name](tmp_path)
    with ServerThread(app) as server:
        result = run_schemathesis(server.url, schema_path, tmp_path / "report", max_examples=8)
    assert result["operations"] > 0 and result["requests"] > 0, result["output"][-3000:]
    assert result["server_errors"] == 0, result["output"][-3000:]
    assert result["failures"] == {}, result["output"][-3000:]


def test_with_a_token_schemathesis_is_refused_without_it_and_served_with_it(tmp_path):
    app, schema_path = BUILDERS["labeling"](tmp_path)
    with ServerThread(app, token="fuzz-token") as server:
        refused = run_schemathesis(server.url, schema_path, tmp_path / "refused", max_examples=1)
        served = run_schemathesis(server.url, schema_path, tmp_path / "served", max_examples=4,
                                  extra=("-H", "Authorization: Bearer fuzz-token"))
    assert refused["exit_code"] != 0 and refused["requests"] == 0  # not even the schema
    assert served["server_errors"] == 0 and served["failures"] == {}, served["output"][-3000:]
