"""Cost and capacity models of the deployed application (``scones cost``, ``scones capacity``).

``usage`` reads what one photo uses from the ASL and the template, ``cost`` prices it from
``prices.json``, ``capacity`` replays an hour of arrivals against the quotas in ``quotas.json``.
Pure functions and dataclasses; nothing heavy is imported (no torch, no moto, no boto3), and
nothing of the project: the models read the shipped files, they do not import the product.
"""
