"""An on-disk cache of trained torch modules, so repeated experiments skip retraining.

A cached module is two files in ``cache_dir``: ``<key>.pt`` (a state_dict, read back with
``torch.load(..., weights_only=True)``: no code runs when it is opened) and ``<key>.json``
(the constructor config and the settings that produced it). The key is a readable prefix and
a hash of those settings, so changing a setting, the seed or the data trains a new module.

Example:
    >>> import tempfile
    >>> from scanflow.improve.denoiser import DenoisingAutoencoder
    >>> d = tempfile.mkdtemp()
    >>> key = cache_key("denoiser", {"seed": 0})
    >>> load_cached(d, key, DenoisingAutoencoder) is None
    True
    >>> _ = save_cached(d, key, DenoisingAutoencoder(in_channels=3), {"seed": 0})
    >>> load_cached(d, key, DenoisingAutoencoder).get_config()["in_channels"]
    3
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

__all__ = ["cache_key", "data_fingerprint", "load_cached", "save_cached"]


def data_fingerprint(*arrays) -> str:
    """A short hash of array contents (to key a cache on the training data)."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.shape, a.dtype.str)).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def cache_key(prefix: str, settings: dict) -> str:
    """``<prefix>-<hash of settings>``; settings must be JSON-serialisable."""
    blob = json.dumps(settings, sort_keys=True, default=str)
    return f"{prefix}-{hashlib.sha256(blob.encode()).hexdigest()[:12]}"


def save_cached(cache_dir, key: str, module: nn.Module, settings: dict) -> Path:
    """Write ``module``'s weights and config under ``key``; returns the ``.pt`` path."""
    d = Path(cache_dir)
    d.mkdir(parents=True, exist_ok=True)
    pt = d / f"{key}.pt"
    tmp = pt.with_suffix(".pt.tmp")
    torch.save(module.state_dict(), tmp)
    tmp.replace(pt)  # atomic: a crash never leaves a half-written cache entry
    meta = {"class": type(module).__name__, "config": module.get_config(), "settings": settings}
    (d / f"{key}.json").write_text(json.dumps(meta, indent=1, sort_keys=True, default=str))
    return pt


def load_cached(cache_dir, key: str, cls: type[nn.Module]) -> nn.Module | None:
    """The module cached under ``key`` rebuilt as ``cls``, or None when absent or unreadable."""
    if cache_dir is None:
        return None
    d = Path(cache_dir)
    pt, js = d / f"{key}.pt", d / f"{key}.json"
    if not (pt.is_file() and js.is_file()):
        return None
    try:
        meta = json.loads(js.read_text())
        if meta.get("class") != cls.__name__:
            return None
        module = cls(**meta["config"])
        module.load_state_dict(torch.load(pt, weights_only=True))
    except (OSError, ValueError, KeyError, RuntimeError):
        return None  # a stale or damaged entry is retrained, not trusted
    module.eval()
    return module
