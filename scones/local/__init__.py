"""The SAM application on this machine, on moto: no AWS account, no Docker.

``deploy`` deploys template.yaml as ``sam deploy`` does (package, the SAM transform,
CloudFormation ``create_stack``); ``moto_adapter`` holds every adaptation of moto, one function
per gap; ``stack`` runs executions; ``events`` delivers EventBridge targets and SNS alerts;
``lambdas`` runs the real handlers the way the AWS Python runtime does.
"""
