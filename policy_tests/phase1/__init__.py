"""Phase 1 of the checklist: the calibration run writes nothing, reads only the CLM file, connects nowhere."""
