"""Monitoring of captured inferences: reader, statistics, drift, report.

Pure-Python modules (no numpy, matplotlib or Pillow), shared with the scheduled
``MonitorCapturesFunction`` Lambda, whose build copies them into its artifact:

- ``captures``  : reads SageMaker data-capture JSON Lines (local tree or s3://) into rows
- ``stats``     : PSI, two-sample KS, chi-square with p-values, window summaries
- ``drift``     : baseline loading (baseline.json or model.tar.gz) and the drift checks

Image width/height: the CLI decodes with Pillow, the Lambda reads headers with the shared
layer's ``scones_domain.images`` (one header parser in the project).

CLI-only (matplotlib, Pillow): ``report`` (charts + self-contained report.html) and ``cli``.
This file imports nothing so that the Lambda artifact stays small.
"""
