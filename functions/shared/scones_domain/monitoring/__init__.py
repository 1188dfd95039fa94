"""Monitoring of captured inferences, shared by ``scones monitor`` and MonitorCapturesFunction.

- ``captures``: reads SageMaker data-capture JSON Lines (local tree or s3://) into rows
- ``stats``   : PSI, two-sample KS, chi-square with p-values, window summaries
- ``drift``   : baseline loading (baseline.json or model.tar.gz) and the drift checks

Pure Python: no numpy, matplotlib or Pillow, so the Lambda imports them from SharedLayer as
they are. Image width/height come from an inspector the caller passes: the CLI decodes with
Pillow, the Lambda reads headers with ``scones_domain.images``. The report (charts,
report.html) lives in ``scones.monitor``.
"""
