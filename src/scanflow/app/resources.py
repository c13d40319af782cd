"""Kubernetes-style resource quantities: ``500m`` CPUs, ``2Gi`` of memory.

Parsing is bounded: the text is short, exponents are small and the result is finite and fits
in 63 bits, so no quantity makes Python build a huge integer or return ``inf``/``nan``.
"""

from __future__ import annotations

import math
import re
import reprlib

_CPU = re.compile(r"^(\d{1,12}(?:\.\d{1,12})?)(m?)$")
_MEM = re.compile(r"^(\d{1,20}(?:\.\d{1,12})?)(Ki|Mi|Gi|Ti|Pi|Ei|K|M|G|T|P|E|k|e\d{1,2})?$")
_MEM_FACTORS = {
    None: 1,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
    "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
}
MAX_CPU = 1e6  # cores
MAX_MEMORY = 2**63 - 1  # bytes, Kubernetes' limit
_CPU_HELP = "use a number of cores (2, 0.5) or millicores ('500m')"
_MEM_HELP = "use bytes or a suffix such as '512Mi' or '2Gi'"


def parse_cpu(value: str | int | float) -> float:
    """Return a CPU quantity in cores.

    >>> parse_cpu("500m"), parse_cpu(2), parse_cpu("1.5")
    (0.5, 2.0, 1.5)
    """
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"bad cpu quantity {_show(value)}: {_CPU_HELP}")
    if isinstance(value, int | float):
        cores = _finite(value, "cpu", _CPU_HELP)
    else:
        match = _CPU.match(value.strip()[:64])
        if not match:
            raise ValueError(f"bad cpu quantity {_show(value)}: {_CPU_HELP}")
        number = float(match.group(1))
        cores = number / 1000 if match.group(2) else number
    if not 0 < cores <= MAX_CPU:
        raise ValueError(f"bad cpu quantity {_show(value)}: must be more than 0 and at most {MAX_CPU:g} cores")
    return cores


def parse_memory(value: str | int | float) -> int:
    """Return a memory quantity in bytes.

    >>> parse_memory("2Gi"), parse_memory("512Mi"), parse_memory("1G"), parse_memory(1024)
    (2147483648, 536870912, 1000000000, 1024)
    """
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"bad memory quantity {_show(value)}: {_MEM_HELP}")
    if isinstance(value, int | float):
        amount = _finite(value, "memory", _MEM_HELP)
    else:
        match = _MEM.match(value.strip()[:64])
        if not match:
            raise ValueError(f"bad memory quantity {_show(value)}: {_MEM_HELP}")
        suffix = match.group(2)
        factor = 10 ** int(suffix[1:]) if suffix and suffix.startswith("e") else _MEM_FACTORS[suffix]
        amount = float(match.group(1)) * factor
    if not 0 < amount <= MAX_MEMORY:
        raise ValueError(f"bad memory quantity {_show(value)}: must be more than 0 bytes and at most 8Ei")
    return value if isinstance(value, int) else int(amount)


def _finite(value: int | float, field: str, help_: str) -> float:
    """``value`` as a finite float; an int too large for a float or ``inf``/``nan`` is refused."""
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise ValueError(f"bad {field} quantity {_show(value)}: must be a finite number ({help_})")
    return number


def _show(value: object) -> str:
    """``value`` for a message, short (an int of thousands of digits is not printed)."""
    if isinstance(value, int) and value.bit_length() > 64:
        return f"(a {value.bit_length()}-bit integer)"
    if isinstance(value, str):
        return repr(value[:40])
    return reprlib.repr(value)
