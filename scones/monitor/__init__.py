"""``scones monitor``: the monitoring report over captured inferences.

- ``report``: charts + self-contained report.html + summary.json (matplotlib, Pillow)
- ``cli``   : the ``scones monitor`` command

Reading captures, the statistics and the drift checks are the domain's
(``scones_domain.monitoring``), the same code the scheduled MonitorCapturesFunction runs.
"""
