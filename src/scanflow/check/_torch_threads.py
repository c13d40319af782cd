"""A block run with torch on a given number of threads (the torch detectors' ``n_threads``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(n)``, restored after; ``None`` changes nothing."""
    if n is None:
        yield
        return
    # lazy: torch (importing scanflow.check must not load it)
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)
