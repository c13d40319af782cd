"""The contract every improvement strategy and zero-label method keeps, checked on each registered
one (``STRATEGIES`` and ``ALIGNERS``) and on every model kind a user brings.

Model kinds (tests/user_models.py and the MNIST demo network): ``wine`` (a scikit-learn pipeline
on the wine table), ``tablenet`` (a torch MLP on the same table), ``colornet`` (a torch CNN on
3-channel 32x32 images) and ``mnist`` (``MnistCNN`` on 28x28 digits). ``APPLIES`` says which
kinds each strategy takes. Where one applies, its candidate leaves the champion untouched, comes
back in the champion's form and is the same for the same seed; where it does not, it refuses
the model with an error that names it. Mismatched inputs are refused by name.

A new strategy or zero-label method is in the suite the moment it is registered: the suite
fails until ``APPLIES`` and ``FAST`` say where it applies and how to run it quickly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import joblib
import numpy as np
import pytest
import torch

from scanflow.improve.strategies import (
    STRATEGIES,
    CombinedStrategy,
    DenoiserStrategy,
    RetrainStrategy,
    StrategyError,
)
from scanflow.improve.zero_label import ALIGNERS, ZeroLabelError, get_zero_label
from scanflow.models import InputSchema, ModelAdapter, as_model
from scanflow.params import ParamsError

KINDS = ("wine", "tablenet", "colornet", "mnist")
APPLIES = {
    "retrain": {"wine", "tablenet", "colornet", "mnist"},  # every model that can be trained
    "denoiser": {"colornet", "mnist"},                     # torch image classifiers
    "combined": {"colornet", "mnist"},
    "align": {"wine", "tablenet"},                         # tables
    "denoise": {"colornet", "mnist"},                      # torch image classifiers
    "entropy": {"tablenet", "colornet", "mnist"},          # torch models
}
FAST = {  # small settings: the suite checks behaviour, not quality
    "retrain": lambda: RetrainStrategy(epochs=1, replay=100),
    "denoiser": lambda: DenoiserStrategy(pretrain_steps=10, steps=5, batch_size=16, labeled_batch=8),
    "combined": lambda: CombinedStrategy(denoiser=DenoiserStrategy(pretrain_steps=10, steps=5),
                                         retrain=RetrainStrategy(epochs=1, replay=100)),
    "align": lambda: get_zero_label("align"),
    "denoise": lambda: get_zero_label("denoise", pretrain_steps=10),
    "entropy": lambda: get_zero_label("entropy", steps=3, batch_size=16),
}
APPLICABLE = [(s, k) for s in APPLIES for k in KINDS if k in APPLIES[s]]
NOT_APPLICABLE = [(s, k) for s in APPLIES for k in KINDS if k not in APPLIES[s]]


def _ids(pairs):
    return [f"{s}-{k}" for s, k in pairs]


# -- the model kinds ----------------------------------------------------------------------------

@dataclass
class Case:
    """A champion, its training data, a few labeled samples of a shift and more unlabeled ones."""

    champion: Any
    X_train: Any
    y_train: np.ndarray
    X_labeled: Any
    y_labeled: np.ndarray
    X_drifted: Any
    fingerprint: Any = field(init=False)

    def __post_init__(self):
        self.fingerprint = fingerprint(self.champion)  # before any strategy saw it


def fingerprint(model) -> Any:
    """Everything a strategy could change in place: weights, frozen flags, mode; fitted state."""
    if isinstance(model, torch.nn.Module):
        return ({k: v.detach().clone() for k, v in model.state_dict().items()},
                [p.requires_grad for p in model.parameters()], model.training)
    return joblib.hash(model)


def same_fingerprint(a, b) -> bool:
    if isinstance(a, tuple):
        return (a[0].keys() == b[0].keys() and all(torch.equal(a[0][k], b[0][k]) for k in a[0])
                and a[1:] == b[1:])
    return a == b


def _wine_case(net: bool) -> Case:
    from user_models import recalibrate, wine, wine_pipeline

    X, y, Xt, yt = wine()
    champion = _table_net(X, y) if net else wine_pipeline(X, y)
    return Case(champion, X, y, recalibrate(Xt[:20]), yt[:20], recalibrate(Xt))


def _table_net(X, y):
    from user_models import TableNet

    net = TableNet()
    net.mean.copy_(torch.tensor(X.to_numpy().mean(0), dtype=torch.float32))
    net.scale.copy_(torch.tensor(X.to_numpy().std(0), dtype=torch.float32))
    adapter = as_model(net, schema=InputSchema.from_data(X), classes=[0, 1, 2])
    return adapter.fit_more(X, y, epochs=30, lr=1e-2, seed=0).native


def _color_case() -> Case:
    from user_models import color_shapes, train_color_net

    X, y = color_shapes(200, seed=0)
    Xs, ys = color_shapes(60, seed=3, shifted=True)
    return Case(train_color_net(X, y, epochs=2), X, y, Xs[:20], ys[:20], Xs)


def _mnist_case(request) -> Case:
    from scanflow.datasets import corrupt

    X, y, Xt, yt = request.getfixturevalue("digits")
    fog = corrupt(Xt[:60], "fog", seed=1)
    return Case(request.getfixturevalue("base_cnn"), X[:300], y[:300], fog[:20], yt[:20], fog)


@pytest.fixture(scope="module")
def cases(request):
    """``cases(kind)``: the :class:`Case` of a model kind, built once."""
    built: dict[str, Case] = {}
    builders = {"wine": lambda: _wine_case(net=False), "tablenet": lambda: _wine_case(net=True),
                "colornet": _color_case, "mnist": lambda: _mnist_case(request)}

    def get(kind: str) -> Case:
        if kind not in built:
            built[kind] = builders[kind]()
        return built[kind]
    return get


def make(name: str, case: Case, seed: int = 0, **changes) -> Any:
    """The candidate of strategy (or zero-label method) ``name`` for ``case``."""
    c = {**case.__dict__, **changes}
    if name in STRATEGIES:
        return FAST[name]().improve(c["champion"], c["X_train"], c["y_train"], c["X_labeled"],
                                    c["y_labeled"], seed=seed)
    return FAST[name]().adapt(c["champion"], c["X_drifted"], c["X_train"], c["y_train"], seed=seed)


@pytest.fixture(scope="module")
def candidates(cases):
    """``candidates(name, kind)``: the candidate for seed 0, made once."""
    made: dict[tuple[str, str], Any] = {}

    def get(name: str, kind: str) -> Any:
        if (name, kind) not in made:
            made[(name, kind)] = make(name, cases(kind))
        return made[(name, kind)]
    return get


def adapter_of(model, case: Case) -> ModelAdapter:
    """``model`` as an adapter that reads ``case``'s data (its input schema taken from it)."""
    adapter = as_model(model)
    adapter.ensure_schema(case.X_train)
    return adapter


def outputs(model, case: Case) -> np.ndarray:
    adapter = adapter_of(model, case)
    X = case.X_labeled
    return adapter.predict_proba(X) if adapter.has_proba else np.asarray(adapter.predict(X))


# -- the suite ----------------------------------------------------------------------------------

def test_every_registered_strategy_and_zero_label_method_is_in_the_suite():
    registered = set(STRATEGIES) | set(ALIGNERS)
    assert registered == set(APPLIES) == set(FAST), (
        f"declare where {sorted(registered ^ set(APPLIES))} apply (APPLIES) and how to run them "
        "quickly (FAST) in tests/improve/test_strategy_suite.py")


@pytest.mark.parametrize("name", sorted(FAST))
def test_settings_are_the_constructor_arguments(name):
    strategy = FAST[name]()
    clone = strategy.clone()
    assert type(clone) is type(strategy) and clone is not strategy and repr(clone) == repr(strategy)
    assert list(strategy.get_params()) == type(strategy)._param_names()
    with pytest.raises(ParamsError, match=r"has no parameter 'colour'; valid: \["):
        strategy.set_params(colour="red")


@pytest.mark.parametrize("name", sorted(ALIGNERS))
@pytest.mark.parametrize("kind", KINDS)
def test_a_zero_label_method_says_it_applies_where_declared(name, kind, cases):
    case = cases(kind)
    assert FAST[name]().applies_to(adapter_of(case.champion, case)) == (kind in APPLIES[name])


@pytest.mark.parametrize(("name", "kind"), APPLICABLE, ids=_ids(APPLICABLE))
def test_a_candidate_leaves_the_champion_untouched(name, kind, cases, candidates):
    case = cases(kind)
    candidate = candidates(name, kind)
    assert candidate is not case.champion
    assert same_fingerprint(fingerprint(case.champion), case.fingerprint)


@pytest.mark.parametrize(("name", "kind"), APPLICABLE, ids=_ids(APPLICABLE))
def test_a_candidate_comes_back_in_the_champions_form_and_predicts(name, kind, cases, candidates):
    case = cases(kind)
    candidate = candidates(name, kind)
    assert not isinstance(candidate, ModelAdapter)  # a native champion gives a native candidate
    assert outputs(candidate, case).shape[0] == len(case.y_labeled)
    wrapped = make(name, case, champion=as_model(case.champion))
    assert isinstance(wrapped, ModelAdapter)  # an adapter gives an adapter


@pytest.mark.parametrize(("name", "kind"), APPLICABLE, ids=_ids(APPLICABLE))
def test_the_same_seed_gives_the_same_candidate(name, kind, cases, candidates):
    case = cases(kind)
    again = make(name, case, seed=0)
    np.testing.assert_allclose(outputs(again, case), outputs(candidates(name, kind), case), rtol=0, atol=1e-6)


@pytest.mark.parametrize(("name", "kind"), NOT_APPLICABLE, ids=_ids(NOT_APPLICABLE))
def test_a_model_kind_it_does_not_apply_to_is_refused_by_name(name, kind, cases):
    case = cases(kind)
    with pytest.raises((StrategyError, ZeroLabelError)) as info:
        make(name, case)
    flavor = adapter_of(case.champion, case).flavor
    assert f"{flavor} model" in str(info.value), str(info.value)
    assert same_fingerprint(fingerprint(case.champion), case.fingerprint)


FIRST_KIND = {name: sorted(kinds)[0] for name, kinds in APPLIES.items()}


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_a_strategy_names_mismatched_labels(name, cases):
    case = cases(FIRST_KIND[name])
    with pytest.raises(StrategyError, match="X_labeled has 5 samples but y_labeled 3 labels"):
        make(name, case, X_labeled=_take(case.X_labeled, 5), y_labeled=case.y_labeled[:3])
    with pytest.raises(StrategyError, match=f"X_train has {len(case.X_train)} samples but y_train 7"):
        make(name, case, y_train=case.y_train[:7])


@pytest.mark.parametrize("name", sorted(ALIGNERS))
def test_a_zero_label_method_names_mismatched_training_labels(name, cases):
    case = cases(FIRST_KIND[name])
    with pytest.raises(ZeroLabelError, match="y_train"):
        make(name, case, y_train=case.y_train[:7])


def _take(X, n):
    return X.iloc[:n] if hasattr(X, "iloc") else X[:n]
