"""``scanflow demo``: train, serve, stream drifting digits and let the agents close the loop.

>>> from scanflow.demo import DemoSettings, run_demo        # doctest: +SKIP
>>> summary = run_demo(DemoSettings.preset(quick=True))     # doctest: +SKIP
>>> summary["accuracy_before"], summary["accuracy_after"]   # doctest: +SKIP

The demo application (``scanflow/demo/app/scanflow.yaml``) is a normal Scanflow application:
``scanflow graph``, ``scanflow run`` and ``scanflow serve`` work on it too, on the state the demo
left in ``./.scanflow/demo`` (see :func:`packaged_state_dir`).
"""

from .runner import DemoError, clear_cache, demo_app, packaged_state_dir, run_demo
from .settings import DemoSettings

__all__ = ["DemoError", "DemoSettings", "clear_cache", "demo_app", "packaged_state_dir", "run_demo"]
