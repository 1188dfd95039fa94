"""Code shared by the three workflow functions, shipped once as the SharedLayer.

Modules: ``errors`` (named errors, the contract with the state machine), ``config``
(environment variables, read strictly), ``events`` (event parsing), ``images`` (format and
dimensions from the bytes), ``storage`` (S3 reads with named errors), ``predictions``
(probability checks and the top label).
"""
