"""Detection: turn samples into alert transitions (threshold rules; anomaly models later).

Importing this package registers every built-in kind in ``detectors``.
"""

from sentinel.detect import threshold
from sentinel.detect.base import Detector, DetectorConfig, detectors

__all__ = ["Detector", "DetectorConfig", "detectors", "threshold"]
