"""Docker-free local runtime of the SAM application.

``scones.local.template`` reads template.yaml (functions, layers, environment, state machine
ASL with its substitutions); ``scones.local.lambdas`` imports and invokes the real handlers
in-process the way the AWS Python runtime does. The Step Functions/moto stack, the local
SageMaker endpoint and the ``scones serve/run/invoke`` commands build on these two modules.
"""
