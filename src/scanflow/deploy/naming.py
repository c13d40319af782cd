"""Names that every target accepts: Kubernetes DNS labels are the strictest, so use them for all.

>>> dns_label("training/evaluation/Evaluate_2")
'training-evaluation-evaluate-2'
>>> len(dns_label("x" * 80)), dns_label("x" * 80)[-9:-8]
(63, '-')
"""

from __future__ import annotations

import hashlib
import re


def dns_label(text: str, max_len: int = 63) -> str:
    """A lowercase RFC 1123 label (``[a-z0-9-]``, at most ``max_len``), unique for long inputs."""
    label = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    label = re.sub(r"-{2,}", "-", label) or "x"
    if not label[0].isalpha():
        label = "n-" + label
    if len(label) > max_len:
        digest = hashlib.sha256(text.encode()).hexdigest()[:8]
        label = label[: max_len - 9].rstrip("-") + "-" + digest
    return label
