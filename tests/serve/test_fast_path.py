"""The /predict fast path answers what the FastAPI route answers, and hands on what it cannot.

Each test runs the same service behind two real Uvicorn servers on 127.0.0.1: the app with the
fast path and the app without it. Answers and errors must be the same, byte for byte where the
stream position does not enter.
"""

from __future__ import annotations

import base64

import httpx
import numpy as np
import pandas as pd
import pytest

from scanflow.check import PCADetector
from scanflow.serve.fast_path import PredictFastPath
from scanflow.serve.predict import create_prediction_app, serve_model
from scanflow.serve.server import ServerThread

STREAM = ("request_id", "prediction_id")  # positions in the stream: differ between the two apps


def _wine():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"alcohol": rng.normal(13, 1, 200), "hue": rng.normal(0.9, 0.2, 200)})
    y = np.where(X["alcohol"] + 2 * X["hue"] > 14.8, "red", "white")
    return LogisticRegression().fit(X, y), X


def _digits():
    import torch

    from scanflow.improve.classifier import MnistCNN
    from scanflow.models import InputSchema, TorchModel

    torch.manual_seed(0)
    return TorchModel(MnistCNN().eval(), schema=InputSchema.image(28, 28), classes=list(range(10)))


class Both:
    """One service served twice: ``fast`` with the fast path, ``plain`` without it."""

    def __init__(self, service):
        self.service = service
        self.servers = [ServerThread(create_prediction_app(service, fast_path=f)).start() for f in (True, False)]

    def post(self, body, **kwargs) -> tuple[httpx.Response, httpx.Response]:
        return tuple(httpx.post(s.url + "/predict", timeout=60, **({"json": body} if body is not None else {}),
                                **kwargs) for s in self.servers)

    def stop(self):
        for s in self.servers:
            s.stop()


@pytest.fixture
def wine():
    clf, X = _wine()
    both = Both(serve_model(clf, name="wine", detector=PCADetector(n_components=1).fit(X), micro_batch=8,
                            micro_batch_wait=0.001))
    yield both, X
    both.stop()


def _same(a: httpx.Response, b: httpx.Response) -> dict:
    assert a.status_code == b.status_code, (a.text, b.text)
    ja, jb = a.json(), b.json()
    if a.status_code == 200:
        ja, jb = ({k: v for k, v in j.items() if k not in STREAM} for j in (ja, jb))
    assert ja == jb
    assert a.headers["content-type"] == b.headers["content-type"]
    return a.json()


@pytest.mark.parametrize("check", [None, "inline", "deferred"])
def test_a_table_row_gets_the_same_answer_with_and_without_the_fast_path(wine, check):
    both, X = wine
    body = {"record": X.iloc[3].to_dict(), "id": "row-3", **({"check": check} if check else {})}
    answer = _same(*both.post(body))
    assert answer["id"] == "row-3" and answer["model"]["name"] == "wine"
    assert answer["check"] == (check or "deferred")
    assert (answer["outlier"] is None) == (check != "inline")


def test_an_image_gets_the_same_answer_with_and_without_the_fast_path():
    both = Both(serve_model(_digits(), name="digits", micro_batch=8, micro_batch_wait=0.001))
    try:
        image = (np.arange(784) % 256).astype(np.uint8)
        answer = _same(*both.post({"image_b64": base64.b64encode(image.tobytes()).decode()}))
        assert len(answer["probabilities"]) == 10
        nested = _same(*both.post({"image": image.reshape(28, 28).tolist()}))
        assert nested["label"] == answer["label"]
    finally:
        both.stop()


@pytest.mark.parametrize("body", [
    {"record": {"alcohol": 13.0}},                                  # a missing column
    {"record": {"alcohol": 13.0, "hue": "pale"}},                   # a mistyped value
    {"record": {"alcohol": 13.0, "hue": None}},                     # a null the model refuses
    {"record": {"alcohol": 13.0, "hue": 0.9}, "colour": "red"},     # an unknown field
    {"record": {"alcohol": 13.0, "hue": 0.9}, "check": "sometimes"},  # a bad check mode
    {"image_b64": "AAAA"},                                          # the wrong kind of input
    {},                                                             # nothing to predict
], ids=["missing", "mistyped", "null", "unknown-field", "bad-check", "wrong-kind", "empty"])
def test_a_bad_request_gets_the_same_error_as_without_the_fast_path(wine, body):
    both, _ = wine
    error = _same(*both.post(body))
    assert both.post(body)[0].status_code == 422 and error["detail"]


def test_a_body_that_is_not_json_gets_the_same_error_as_without_the_fast_path(wine):
    both, _ = wine
    for content, kind in ((b"{not json", "application/json"), (b"alcohol=13", "text/plain")):
        fast, plain = both.post(None, content=content, headers={"content-type": kind})
        assert fast.status_code == plain.status_code == 422
        assert fast.json() == plain.json()


def test_with_a_token_in_force_every_request_goes_through_the_token_check(wine, monkeypatch):
    both, X = wine
    monkeypatch.setenv("SCANFLOW_TOKEN", "s3cret")
    body = {"record": X.iloc[0].to_dict()}
    fast, plain = both.post(body)
    assert fast.status_code == plain.status_code == 401
    fast, _ = both.post(body, headers={"Authorization": "Bearer s3cret"})
    assert fast.status_code == 200


def test_the_fast_path_takes_only_json_posts_to_predict_on_a_micro_batched_service():
    clf, _ = _wine()
    batched, single = (serve_model(clf, name="wine", micro_batch=m) for m in (8, 1))
    scope = {"type": "http", "method": "POST", "path": "/predict", "app": create_prediction_app(batched),
             "headers": [(b"content-type", b"application/json")]}
    takes = PredictFastPath(None, service=batched, answer=None)._takes
    assert takes(scope)
    assert not PredictFastPath(None, service=single, answer=None)._takes(scope)
    assert not takes({**scope, "path": "/predict/batch"}) and not takes({**scope, "method": "GET"})
    assert not takes({**scope, "headers": [(b"content-type", b"text/plain")]})
    assert takes({**scope, "headers": [(b"content-type", b"application/json; charset=utf-8")]})
