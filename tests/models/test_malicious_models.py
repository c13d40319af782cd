"""Crafted model files are refused and run nothing (issue 14): a torch folder naming a
function or a class reached through an imported module, a scikit-learn model in a pickle
format, a model file that points outside its folder."""

from __future__ import annotations

import json
import pickle

import pytest
import torch

from scanflow.models import (
    ModelLoadError,
    UntrustedModelError,
    load_model_folder,
    load_sklearn_model,
    load_torch_folder,
    save_torch_model,
)


class _RunsCommand:
    """Unpickling this writes ``marker``: the proof that a pickle ran code."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _legacy_folder(tmp_path, cls: str, kwargs: dict) -> object:
    folder = tmp_path / "legacy"
    folder.mkdir()
    torch.save({}, folder / "weights.pt")
    (folder / "scanflow_model.json").write_text(json.dumps(
        {"format": "scanflow.torch/1", "class": cls, "kwargs": kwargs}))
    return folder


def test_a_torch_folder_naming_subprocess_run_runs_nothing(tmp_path):
    marker = tmp_path / "ran"
    folder = _legacy_folder(tmp_path, "subprocess:run", {"args": ["touch", str(marker)]})
    with pytest.raises(UntrustedModelError, match="subprocess:run, which is not trusted"):
        load_torch_folder(folder)
    assert not marker.exists()


@pytest.mark.parametrize("spec", ["torch.nn.modules.linear:torch.hub.load",
                                  "torch.nn.modules.linear:torch.load",
                                  "torch.nn.modules.linear:Linear.__init__"])
def test_a_trusted_module_cannot_reach_a_function_through_its_imports(tmp_path, spec):
    payload = tmp_path / "payload.pt"
    torch.save(_RunsCommand(tmp_path / "ran"), payload, _use_new_zipfile_serialization=True)
    folder = _legacy_folder(tmp_path, spec, {"f": str(payload), "weights_only": False})
    with pytest.raises(UntrustedModelError, match="not a class"):
        load_torch_folder(folder)
    assert not (tmp_path / "ran").exists()


def test_a_class_re_exported_by_a_trusted_module_is_not_its_own(tmp_path):
    folder = _legacy_folder(tmp_path, "torch.nn.modules.linear:Module", {})
    with pytest.raises(UntrustedModelError, match="torch.nn.modules.module:Module"):
        load_torch_folder(folder)


def test_a_genuine_torch_folder_still_loads(tmp_path):
    folder = save_torch_model(torch.nn.Linear(3, 2), tmp_path / "m",
                              init_kwargs={"in_features": 3, "out_features": 2})
    assert isinstance(load_torch_folder(folder), torch.nn.Linear)


def _sklearn_folder(tmp_path, fmt: str | None, file: str = "model.pkl"):
    folder = tmp_path / "sk"
    folder.mkdir()
    with open(folder / "model.pkl", "wb") as fh:
        pickle.dump(_RunsCommand(tmp_path / "ran"), fh)
    conf = {"pickled_model": file, "sklearn_version": "1.5.0"}
    if fmt is not None:
        conf["serialization_format"] = fmt
    (folder / "MLmodel").write_text(json.dumps({
        "flavors": {"sklearn": conf, "python_function": {"loader_module": "mlflow.sklearn",
                                                         "model_path": file}}}))
    return folder


@pytest.mark.parametrize("fmt", ["cloudpickle", "pickle", None])
def test_a_pickled_sklearn_model_is_refused_without_opt_in(tmp_path, monkeypatch, fmt):
    monkeypatch.delenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", raising=False)
    folder = _sklearn_folder(tmp_path, fmt)
    with pytest.raises(UntrustedModelError, match="allow_pickle=True"):
        load_sklearn_model(str(folder))
    with pytest.raises(UntrustedModelError):
        load_model_folder(folder)
    assert not (tmp_path / "ran").exists()


def test_a_model_file_outside_the_folder_is_refused(tmp_path):
    folder = _sklearn_folder(tmp_path, "skops", file="../../etc/passwd")
    with pytest.raises(ModelLoadError, match="points outside the model folder"):
        load_model_folder(folder)
