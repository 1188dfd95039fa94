"""``scones monitor``: the monitoring report over captured inferences.

- ``report``: charts + self-contained report.html + summary.json (matplotlib, Pillow)
- ``context``: what the captures do not say: the model version (from the artifact), the
  endpoint's latency and 4xx/5xx (CloudWatch)
- ``reviewed``: reviewed labels matched to captured inferences, the accuracy measured on them
- ``cli``   : the ``scones monitor`` command

Reading captures, the statistics and the drift checks are the domain's
(``scones_domain.monitoring``), the same code the scheduled MonitorCapturesFunction runs.
"""
