"""Phase 3, choosing the result: the report a human reviews, its proof, and what must hold before APPLY.

Owns P3.1.a-e (the report must contain a one-page summary, before/after metrics, a reliability plot, a
risk section and a "DO NOT APPLY IF …" section: ``report/``, and the job's ``policy_report.html`` made
from pytest-html: ``html_report``), the proof that the report is what was analysed and tested
(``signing``: a signed statement over every file of the job, CLM bytes, config and test outcomes), and
P3.2.a-c (the decision: ``approval`` — reviewed, every bound OK, the decision maker on call for 24 h —
collected as a list of problems before ``calpolicy approve`` may touch the live config).

May import: the vocabulary, ``calpolicy.files``, ``calpolicy.jobs`` and the phases before it (the
preflight, the calibration); never ``calpolicy.apply`` or anything after it.
"""
