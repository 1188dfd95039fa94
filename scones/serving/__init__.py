"""The model endpoint on this machine: ``scones serve`` (an HTTP server answering as the
SageMaker PyTorch serving container does), data capture in SageMaker's format, fault
injection, and the real serving toolkit (TorchServe) for the tests that compare the two."""
