"""Detectors: drift, outlier and integrity checks with one result schema.

Every detector follows one small interface (``fit`` on reference data, ``score`` per sample,
``predict`` a batch decision as a :class:`CheckResult`, ``save`` / ``load``) and is found by
name in a registry that plugins extend (``@register_detector`` or the ``scanflow.detectors``
entry point group). Importing this package does not import torch.

=============  =====================================================================
name           detector
=============  =====================================================================
``default``    :class:`DefaultDetector`: AE error distribution + MMD on the AE latent
``ae``         :class:`AutoencoderDetector`: reconstruction error, two-tailed
``latent``     :class:`LatentDriftDetector`: KS / MMD on a (trained or untrained) latent
``ks``         :class:`KSDetector`: KS per feature, Bonferroni / FDR
``mmd``        :class:`MMDDetector`: kernel MMD, permutation test
``chi2``       :class:`Chi2Detector`: categories, unseen categories
``psi``        :class:`PSIDetector`: population stability index
``pose``       :class:`PoseDetector`: self-supervised pose regression (images)
``pca``        :class:`PCADetector`: PCA reconstruction error (tables)
``integrity``  :class:`IntegrityDetector`: schema, ranges, NaN/inf, category balance
``accepting``  :class:`AcceptingDetector`: a base plus the shifts the model was adapted to
=============  =====================================================================

Example:
    >>> import numpy as np
    >>> from scanflow.check import get_detector
    >>> rng = np.random.default_rng(0)
    >>> det = get_detector("ks").fit(rng.normal(size=(500, 4)))
    >>> det.predict(rng.normal(size=(100, 4))).is_drift
    False
"""

from .accepted import AcceptingDetector
from .autoencoder import AutoencoderDetector, TrainingCollapseWarning
from .base import Detector, DetectorInputError, NotFittedError, prepare_input
from .categorical import Chi2Detector
from .features import feature_ranking
from .integrity import IntegrityDetector
from .latent import DefaultDetector, LatentDriftDetector, default_detector
from .pca import PCADetector
from .pose import PoseDetector
from .registry import (
    ENTRY_POINT_GROUP,
    available_detectors,
    get_detector,
    get_detector_class,
    register_detector,
    unregister_detector,
)
from .result import CheckResult
from .stats import KSDetector, MMDDetector, PSIDetector, adjust_p_values, mmd_permutation_test
from .streaming import StreamingDetector

__all__ = [
    "ENTRY_POINT_GROUP",
    "AcceptingDetector",
    "AutoencoderDetector",
    "CheckResult",
    "Chi2Detector",
    "DefaultDetector",
    "Detector",
    "DetectorInputError",
    "IntegrityDetector",
    "KSDetector",
    "LatentDriftDetector",
    "MMDDetector",
    "NotFittedError",
    "PCADetector",
    "PSIDetector",
    "PoseDetector",
    "StreamingDetector",
    "TrainingCollapseWarning",
    "adjust_p_values",
    "available_detectors",
    "default_detector",
    "feature_ranking",
    "get_detector",
    "get_detector_class",
    "mmd_permutation_test",
    "prepare_input",
    "register_detector",
    "unregister_detector",
]
