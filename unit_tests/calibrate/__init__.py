"""Unit tests of the calibration engine (calpolicy.calibrate) and the hard safety bounds (calpolicy.bounds)."""
