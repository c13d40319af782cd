"""Kubernetes-style resource quantities: ``500m`` CPUs, ``2Gi`` of memory."""

from __future__ import annotations

import re

_CPU = re.compile(r"^(\d+(?:\.\d+)?)(m?)$")
_MEM = re.compile(r"^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|Pi|K|M|G|T|P|k|e\d+)?$")
_MEM_FACTORS = {
    None: 1,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50,
    "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15,
}


def parse_cpu(value: str | int | float) -> float:
    """Return a CPU quantity in cores.

    >>> parse_cpu("500m"), parse_cpu(2), parse_cpu("1.5")
    (0.5, 2.0, 1.5)
    """
    if isinstance(value, bool):
        raise ValueError(f"bad cpu quantity {value!r}: use a number of cores (2, 0.5) or millicores ('500m')")
    if isinstance(value, int | float):
        if value <= 0:
            raise ValueError(f"bad cpu quantity {value!r}: must be positive")
        return float(value)
    match = _CPU.match(str(value).strip())
    if not match:
        raise ValueError(f"bad cpu quantity {value!r}: use a number of cores (2, 0.5) or millicores ('500m')")
    number = float(match.group(1))
    cores = number / 1000 if match.group(2) else number
    if cores <= 0:
        raise ValueError(f"bad cpu quantity {value!r}: must be positive")
    return cores


def parse_memory(value: str | int | float) -> int:
    """Return a memory quantity in bytes.

    >>> parse_memory("2Gi"), parse_memory("512Mi"), parse_memory("1G"), parse_memory(1024)
    (2147483648, 536870912, 1000000000, 1024)
    """
    if isinstance(value, bool):
        raise ValueError(f"bad memory quantity {value!r}: use bytes or a suffix such as '512Mi' or '2Gi'")
    if isinstance(value, int | float):
        if value <= 0:
            raise ValueError(f"bad memory quantity {value!r}: must be positive")
        return int(value)
    match = _MEM.match(str(value).strip())
    if not match:
        raise ValueError(f"bad memory quantity {value!r}: use bytes or a suffix such as '512Mi' or '2Gi'")
    number, suffix = float(match.group(1)), match.group(2)
    if suffix and suffix.startswith("e"):
        factor = 10 ** int(suffix[1:])
    else:
        factor = _MEM_FACTORS[suffix]
    if number <= 0:
        raise ValueError(f"bad memory quantity {value!r}: must be positive")
    return int(number * factor)
