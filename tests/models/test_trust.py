"""Loading runs no code of the file's choosing unless the user trusted it."""

from __future__ import annotations

import json
import sys
import textwrap

import pytest
import torch

from scanflow.models import (
    UntrustedModelError,
    load_model_folder,
    register_architecture,
    resolve_architecture,
    save_torch_model,
)


def _module_with_side_effect(tmp_path, name):
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(f"""
        import pathlib, torch
        pathlib.Path({str(tmp_path / "imported")!r}).write_text("ran")
        class Net(torch.nn.Linear):
            pass
    """))
    sys.path.insert(0, str(tmp_path))


def test_a_class_named_by_a_file_is_refused_before_its_module_is_imported(tmp_path):
    _module_with_side_effect(tmp_path, "payload_mod")
    folder = save_torch_model(torch.nn.Linear(2, 2), tmp_path / "m",
                              init_kwargs={"in_features": 2, "out_features": 2})
    config = json.loads((folder / "data" / "model.json").read_text())
    config["architecture"] = "payload_mod:Net"
    (folder / "data" / "model.json").write_text(json.dumps(config))
    with pytest.raises(UntrustedModelError, match="SCANFLOW_TRUSTED_ARCHITECTURES=payload_mod:Net"):
        load_model_folder(folder)
    assert not (tmp_path / "imported").exists()
    assert type(load_model_folder(folder, trusted_architectures=("payload_mod:Net",)).native).__name__ == "Net"


def test_registered_and_environment_trusted_classes_load(tmp_path, monkeypatch):
    from user_models import ColorNet

    register_architecture(ColorNet)
    assert resolve_architecture("user_models:ColorNet") is ColorNet
    monkeypatch.setenv("SCANFLOW_TRUSTED_ARCHITECTURES", "other_mod:*")
    with pytest.raises(Exception, match="cannot import"):
        resolve_architecture("other_mod:Thing")  # trusted by pattern, so it is imported


def test_torch_layers_are_library_code():
    assert resolve_architecture("torch.nn.modules.linear:Linear") is torch.nn.Linear


def test_weights_are_read_without_unpickling_objects(tmp_path):
    folder = save_torch_model(torch.nn.Linear(4, 2), tmp_path / "m",
                              init_kwargs={"in_features": 4, "out_features": 2})
    weights = torch.load(folder / "data" / "weights.pt", weights_only=True)
    assert set(weights) == {"weight", "bias"}


def test_tree_models_need_the_user_to_trust_their_node_storage(tmp_path, wine_data):
    from sklearn.tree import DecisionTreeClassifier

    from scanflow.models import save_model

    X, y, Xt, _ = wine_data
    folder = save_model(DecisionTreeClassifier(random_state=0).fit(X, y), tmp_path / "tree")
    with pytest.raises(UntrustedModelError, match=r"sklearn.tree._tree.Tree.*bounds"):
        load_model_folder(folder)
    model = load_model_folder(folder, trusted_types=("sklearn.tree._tree.Tree",))
    assert len(model.predict(Xt)) == len(Xt)


def test_pickled_models_load_only_when_the_user_opts_in(tmp_path, wine_data, monkeypatch):
    import mlflow.sklearn

    monkeypatch.delenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", raising=False)
    X, y, Xt, _ = wine_data
    from sklearn.linear_model import LogisticRegression

    mlflow.sklearn.save_model(LogisticRegression(max_iter=500).fit(X, y), tmp_path / "pkl",
                              serialization_format="cloudpickle")
    with pytest.raises(UntrustedModelError, match="allow_pickle=True"):
        load_model_folder(tmp_path / "pkl")
    assert len(load_model_folder(tmp_path / "pkl", allow_pickle=True).predict(Xt)) == len(Xt)
