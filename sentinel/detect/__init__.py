"""Detection: turn samples into alert transitions (threshold rules and streaming anomaly models).

Importing this package registers every built-in kind in ``detectors``.
"""

from sentinel.detect import anomaly, threshold
from sentinel.detect.base import Detector, DetectorConfig, detectors

__all__ = ["Detector", "DetectorConfig", "anomaly", "detectors", "threshold"]
