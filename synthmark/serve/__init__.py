"""Serving: the validating DICOM storage gateway (:mod:`.dicom`, ``synthmark serve dicom``)."""
