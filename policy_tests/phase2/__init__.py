"""Phase 2 of the checklist: the calibration run stays within its allowed operations and hard bounds."""
