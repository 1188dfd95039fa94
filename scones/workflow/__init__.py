"""The ``scones serve``, ``scones run`` and ``scones invoke`` commands: the local endpoint and
the local stack wired together over images, a batch or one function's event."""
