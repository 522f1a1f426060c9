"""Unit tests of the calibration engine (calpolicy.calibrate) and its safety bounds (calpolicy.calibrate.bounds)."""
