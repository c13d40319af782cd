"""The improver's default work: from an episode's labels to an evaluated, registered candidate.

For any model the registry holds (scikit-learn, torch, pyfunc — :mod:`scanflow.models`):

1. the champion is loaded from the registry (its version pinned for the whole round);
2. the episode's labeled samples are read from the label store and split, stably by sample, into
   a training share and a held-out share (``holdout``) that only the gate sees; the training
   shares of the model's earlier episodes join the training set, so that a candidate for a new
   shift does not forget the shifts the champion was adapted to (their held-out shares stay
   held out: they are the gate's guards);
3. a candidate is made — by the application's own **retrain workflow** (run through the
   scheduler like any run, tracked in MLflow, given the labeled training samples as a file plus
   the champion's version as parameters; the version it registers is the candidate) or by a
   built-in **strategy** (refit, fine-tune, denoising wrapper);
4. champion, candidate and a waiting zero-label candidate are evaluated on the same held-out
   slices: the episode's held-out labels (``drifted``), clean data (``clean``: ``eval_data``)
   and, as guards, the held-out labels of earlier episodes; the best candidate goes to the
   planner with every number and the episode's label accounting.

Everything a round produces is keyed by the action key, so a restarted improver finds its
candidate (:meth:`EpisodeImprovement.find`) instead of training twice.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from scanflow.models import ModelAdapter, concat, load_model, take

from .candidates import best_candidate, register
from .episodes import RESOLVED, Episode, EpisodeStore, label_accounting
from .retrain import run_retrain_workflow

__all__ = ["EpisodeImprovement", "LabeledSet", "held_out_mask", "write_labeled"]


@dataclass
class LabeledSet:
    """Labeled samples: ``X`` (array or DataFrame), ``y`` (class labels), label-store ``ids``."""

    X: Any
    y: np.ndarray
    ids: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    def part(self, mask: np.ndarray) -> LabeledSet:
        return LabeledSet(take(self.X, np.flatnonzero(mask)), self.y[mask], self.ids[mask])

    def plus(self, other: LabeledSet) -> LabeledSet:
        if not len(other):
            return self
        return LabeledSet(concat([self.X, other.X]), np.concatenate([self.y, other.y]),
                          np.concatenate([self.ids, other.ids]))


def write_labeled(train: LabeledSet, folder: Path) -> Path:
    """The labeled samples as a file a workflow reads: CSV with a ``target`` column for tables,
    ``.npz`` with ``X`` and ``y`` for arrays."""
    folder.mkdir(parents=True, exist_ok=True)
    if hasattr(train.X, "columns"):
        path = folder / "labeled.csv"
        train.X.assign(target=train.y).to_csv(path, index=False)
    else:
        path = folder / "labeled.npz"
        np.savez_compressed(path, X=np.asarray(train.X), y=np.asarray(train.y))
    return path


def held_out_mask(ids: np.ndarray, share: float) -> np.ndarray:
    """A stable split: sample ``id`` is held out when its hash falls below ``share``."""
    h = np.array([int(hashlib.sha1(str(int(i)).encode()).hexdigest()[:8], 16) for i in ids])
    return (h % 10_000) < share * 10_000


class EpisodeImprovement:
    """The default ``improvement`` of the improver agent (see the module docstring)."""

    def __init__(self, cfg: Any, ctx: Any):
        self.cfg, self.ctx = cfg, ctx
        self._lock = threading.Lock()
        self._champion: tuple[str | None, ModelAdapter | None] = (None, None)
        self._data: dict[str, Any] = {}

    # ------------------------------------------------------------------ what it works on
    @property
    def model(self) -> str:
        return self.cfg.model_name(self.ctx)

    def _load(self, version: str) -> ModelAdapter:
        return load_model(self.model, version=version, trusted_types=tuple(self.cfg.trusted_types),
                          trusted_architectures=tuple(self.cfg.trusted_architectures),
                          allow_pickle=self.cfg.allow_pickle)

    def champion(self) -> tuple[str, ModelAdapter]:
        version = self.ctx.services.registry.champion_version(self.model)
        if version is None:
            raise LookupError(f"model {self.model!r} has no champion: train and promote one first")
        with self._lock:
            if self._champion[0] != version:
                self._champion = (version, self._load(version))
            return version, self._champion[1]

    def data(self, which: str) -> tuple[Any, np.ndarray]:
        """``train_data`` or ``eval_data`` of the config, loaded once (see ImproverConfig)."""
        with self._lock:
            if which not in self._data:
                self._data[which] = self.cfg.load_data(which, self.ctx)
            return self._data[which]

    def labeled(self, batches: list[str], champion: ModelAdapter) -> LabeledSet:
        labels = self.ctx.services.labels
        parts = [labels.labeled(b) for b in batches]
        parts = [p for p in parts if len(p[0])]
        if not parts:
            return LabeledSet(np.zeros((0,)), np.zeros(0), np.zeros(0, np.int64))
        if champion.classes_ is None:
            champion.predict(take(parts[0][1], [0]))
        y = champion.label_of(np.concatenate([p[2] for p in parts]))
        return LabeledSet(concat([p[1] for p in parts]), np.asarray(y),
                          np.concatenate([p[0] for p in parts]).astype(np.int64))

    def episode_labels(self, episode: Episode, champion: ModelAdapter) -> LabeledSet:
        return self.labeled([r["batch"] for r in episode.rounds], champion)

    def earlier_training(self, episode: Episode, champion: ModelAdapter) -> LabeledSet:
        """The training shares of the model's earlier episodes (their held-out shares are the
        gate's guards and stay out)."""
        batches = [r["batch"] for old in EpisodeStore(self.ctx.store).list()
                   if old.id < episode.id and old.model == episode.model for r in old.rounds]
        past = self.labeled(batches, champion)
        return past.part(~held_out_mask(past.ids, self.cfg.holdout)) if len(past) else past

    def slices(self, episode: Episode, holdout: LabeledSet, champion: ModelAdapter) -> dict[str, tuple]:
        slices: dict[str, tuple] = {"drifted": (holdout.X, holdout.y), "clean": self.data("eval_data")}
        for old in EpisodeStore(self.ctx.store).list(status=RESOLVED):
            if old.id == episode.id or old.model != episode.model:
                continue
            past = self.episode_labels(old, champion)
            kept = past.part(held_out_mask(past.ids, self.cfg.holdout))
            if len(kept):
                slices[f"guard:episode-{old.id}"] = (kept.X, kept.y)
        return slices

    # ------------------------------------------------------------------ making candidates
    def _strategy(self, champion: ModelAdapter):
        # lazy: scanflow.improve.strategies imports torch
        from scanflow.improve.strategies import get_strategy

        name = self.cfg.strategy
        if name == "auto":
            name = "retrain"
        cache = str(self.ctx.app.state_path / "cache" / "improve") if self.ctx.app else None
        return name, get_strategy(name, cache_dir=cache, **self.cfg.strategy_params)

    def _built_in(self, champion: ModelAdapter, train: LabeledSet, seed: int) -> tuple[str, ModelAdapter]:
        name, strategy = self._strategy(champion)
        X_train, y_train = self.data("train_data")
        return name, strategy.improve(champion, X_train, y_train, train.X, train.y, seed=seed)

    def _via_workflow(self, champion_version: str, train: LabeledSet, key: str) -> tuple[str, ModelAdapter]:
        version = run_retrain_workflow(self.ctx, self.cfg, self.model, champion_version, train, key)
        return f"workflow:{self.cfg.retrain_workflow}", self._load(str(version))

    def zero_label(self, episode_id: int, key: str) -> dict[str, Any] | None:
        """Build, register and record the episode's zero-label candidate (None: no method fits)."""
        # lazy: scanflow.improve.zero_label loads scikit-learn, SciPy and pandas
        from scanflow.improve.zero_label import subsample, zero_label_for

        version, champion = self.champion()
        method = zero_label_for(champion, self.cfg.zero_label, **self._zero_label_params())
        if method is None:
            return None
        pool = EpisodeStore(self.ctx.store).pool(episode_id)
        X = self.ctx.services.predictions.prediction_inputs(pool[-2000:])
        X_train, y_train = self.data("train_data") if self.cfg.train_data is not None else (X, None)
        cand = method.adapt(champion, subsample(X, 2000, self.cfg.seed), X_train, y_train,
                            seed=self.cfg.seed)
        info = register(self.ctx, self.model, cand, key, episode_id, f"zero-label:{method.name}",
                        {"scanflow.zero_label": method.name, "scanflow.champion": version})
        EpisodeStore(self.ctx.store).update_info(episode_id, key=key, zero_label=info)
        return info

    def _zero_label_params(self) -> dict[str, Any]:
        params = dict(self.cfg.zero_label_params)
        if self.ctx.app is not None:
            params.setdefault("cache_dir", str(self.ctx.app.state_path / "cache" / "improve"))
        return params

    def improve(self, request: dict[str, Any], key: str) -> dict[str, Any]:
        """One round for the episode of ``request`` → the candidate payload for the planner."""
        found = self.find(key)
        if found is not None:
            return found
        episodes = EpisodeStore(self.ctx.store)
        episode = episodes.get(int(request["episode"]))
        version, champion = self.champion()
        labeled = self.episode_labels(episode, champion)
        holdout = held_out_mask(labeled.ids, self.cfg.holdout)
        train, held = labeled.part(~holdout), labeled.part(holdout)
        if len(train) == 0 or len(held) == 0:
            raise ValueError(f"episode {episode.id}: {len(labeled)} labeled samples are too few "
                             "to both train and check a candidate; ask for more labels")
        slices = self.slices(episode, held, champion)
        everything = train.plus(self.earlier_training(episode, champion))
        made = (self._via_workflow(version, everything, key) if self.cfg.retrain_workflow
                else self._built_in(champion, everything, self.cfg.seed + int(request.get("round", 1))))
        accounting = {**label_accounting(episode, self.ctx.services.labels),
                      "trained_on": len(train), "held_out": len(held)}
        episodes.update_info(episode.id, key=f"{key}/accounting", trained_on=len(train),
                             held_out=len(held))
        return best_candidate(self, episode, request, key, version, champion, made, slices,
                              accounting)

    def find(self, key: str) -> dict[str, Any] | None:
        """The candidate an earlier attempt of this action already registered, if any."""
        for mv in self.ctx.services.registry.versions_tagged("scanflow.action_key", key):
            tags = mv.tags or {}
            if "scanflow.candidate" in tags:
                return json.loads(tags["scanflow.candidate"])
        return None
