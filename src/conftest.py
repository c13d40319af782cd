"""Doctests of the library (``pytest --doctest-modules src``): application scripts shipped as
package data (the scaffold template, the tabular example) are programs, not modules to import."""

import os

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("OMP_NUM_THREADS", "2")

collect_ignore_glob = [
    "scanflow/templates/*",
    "scanflow/demo/tabular/*",
    "scanflow/storage/migrations/*",  # Alembic runs these inside a migration
]
