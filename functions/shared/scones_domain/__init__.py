"""The domain of Scones Unlimited's classifier: its rules, written once.

Shipped to the Lambda functions as SharedLayer (``/opt/python/scones_domain``) and installed
with the project (``pip install -e .``) for ``scones`` and ``model``. It imports neither of
them, and nothing beyond the standard library and boto3/botocore (tests/test_architecture.py).

Modules: ``errors`` (named errors, the contract with the state machine), ``config`` (the
threshold and class-label defaults; environment variables, read strictly), ``contracts`` (the
input and output of every state), ``events`` (event parsing), ``location`` (``S3Location``),
``images`` (format and dimensions from the bytes), ``storage`` (S3 reads and JSON writes with
named errors), ``predictions`` (probability checks, the top label, the threshold), ``batch``
(a batch's outcomes and summary), ``monitoring`` (capture reader, statistics, drift),
``arguments`` (the values the command lines take, checked while they parse).
"""
