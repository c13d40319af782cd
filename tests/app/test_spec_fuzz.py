"""Property: any file, however malformed, loads and validates or fails with a SpecError.

The CI profile runs a few hundred cases per property; the long one (``-m fuzz``, or
``benchmarks/fuzz_specs.py`` which also counts hangs) runs thousands.
"""

import os

import pytest
from hypothesis import HealthCheck, given, settings
from spec_strategies import load_and_validate, mutated_specs, spec_bytes, spec_texts

from scanflow.app import SpecError, load_yaml

settings.register_profile("ci", max_examples=200, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("fuzz", max_examples=int(os.environ.get("SCANFLOW_FUZZ_EXAMPLES", 5000)),
                          deadline=None, suppress_health_check=list(HealthCheck))
CI = settings.get_profile("ci")
LONG = settings.get_profile("fuzz")


@CI
@given(spec_bytes)
def test_any_file_loads_or_is_a_spec_error(raw):
    assert load_and_validate(raw) in {"valid", "spec error"}


@CI
@given(mutated_specs())
def test_hostile_values_are_spec_errors_or_valid(spec):
    import yaml

    assert load_and_validate(yaml.safe_dump(spec).encode()) in {"valid", "spec error"}


@CI
@given(spec_texts())
def test_spec_errors_name_a_location_and_a_message(text):
    try:
        load_yaml(text)
    except SpecError as exc:
        assert exc.problems and all(p.location and p.message for p in exc.problems)


@pytest.mark.fuzz
@LONG
@given(spec_bytes)
def test_long_fuzz_any_file_loads_or_is_a_spec_error(raw):
    assert load_and_validate(raw) in {"valid", "spec error"}
