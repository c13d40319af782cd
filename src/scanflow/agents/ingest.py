"""Feeding new data to the agents without a prediction server: batch files in an inbox folder.

:class:`InboxSensor` fires once per new file of a folder (a workflow, a cron job or a person
drops them there); :class:`IngestBatch` reads the file (CSV, Parquet, ``.npy``, ``.npz``; tables
keep their column names), predicts it with the champion when a registered model is named, and
records every row in the prediction log — where the tracker's predictions sensor and the checker
pick it up exactly as they pick up served traffic. A file is ingested once: its rows are logged
under the service ``<service>:<file name>``, which a restart checks before logging again.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any

import numpy as np

from scanflow.models import load_model

from .actuators import ActionResult, Actuator
from .sensors import Observation, Sensor

__all__ = ["InboxSensor", "IngestBatch"]


class InboxSensor(Sensor):
    """Fires once for each new file of ``folder`` matching ``pattern`` (oldest first)."""

    type = "inbox"

    def __init__(self, name: str, *, folder: str, pattern: str = "*", poll_every: float = 1.0):
        super().__init__(name, poll_every=poll_every)
        self.folder = folder
        self.pattern = pattern

    def _folder(self, ctx) -> Path:
        path = Path(self.folder)
        return path if path.is_absolute() or ctx.root is None else Path(ctx.root) / path

    def poll(self, ctx, cursor, now, force):
        seen = set((cursor or {}).get("files", []))
        folder = self._folder(ctx)
        if not folder.is_dir():
            return None
        files = sorted((p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                        and fnmatch.fnmatch(p.name, self.pattern) and p.name not in seen),
                       key=lambda p: (p.stat().st_mtime, p.name))
        if not files:
            return None
        new = files[0]
        return Observation(cursor={"files": sorted(seen | {new.name})}, token=new.name,
                           payload={"path": str(new), "file": new.name})

    def describe(self) -> str:
        return f"new files {self.pattern!r} in {self.folder} (polled every {self.poll_every:g}s)"


class IngestBatch(Actuator):
    """Log the rows of a batch file as predictions (params ``path``; see the module docstring)."""

    type = "ingest"

    def __init__(self, name: str = "ingest", *, model: str | None = None, service: str = "inbox",
                 **defaults: Any):
        super().__init__(name, **defaults)
        self.model = model
        self.service = service
        self._loaded: tuple[str | None, Any] = (None, None)

    def _champion(self, ctx):
        version = ctx.services.registry.champion_version(self.model)
        if version is None:
            raise LookupError(f"model {self.model!r} has no champion to predict the batch with")
        if self._loaded[0] != version:
            self._loaded = (version, load_model(self.model, version=version))
        return version, self._loaded[1]

    def _predict(self, ctx, X) -> dict[str, Any]:
        if not self.model:
            return {"predictions_": [None] * len(X)}
        version, model = self._champion(ctx)
        if model.has_proba:
            proba = model.predict_proba(X)
            labels = np.asarray(model.classes_)[proba.argmax(1)]
            conf = proba.max(1).tolist()
        else:
            labels, conf = model.predict(X), None
        return {"predictions_": [v.item() if hasattr(v, "item") else v for v in labels],
                "model": self.model, "model_version": version, "confidences": conf}

    def run(self, ctx, params, key):
        # lazy: scanflow.datasets loads SciPy, which the agents package does not
        from scanflow.datasets import load_any

        path = Path(self.params(params)["path"])
        X, _ = load_any(path)
        service = f"{self.service}:{path.name}"
        ids = ctx.services.predictions.record_predictions(service, X, **self._predict(ctx, X))
        return ActionResult(result={"file": path.name, "rows": len(X), "service": service,
                                    "first_id": ids[0] if ids else None})

    def recover(self, ctx, params, key):
        name = Path(self.params(params)["path"]).name
        done = ctx.services.predictions.predictions_since(0, limit=1, service=f"{self.service}:{name}")
        return ActionResult(result={"file": name, "recovered": True}) if done else None
