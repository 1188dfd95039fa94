"""Named errors of the workflow.

On AWS a Lambda's ``errorType`` is the raised exception's class name, and Step Functions
matches ``Retry``/``Catch`` ``ErrorEquals`` against it. So every class name below is part of
the contract with ``statemachine/image_classification.asl.json``: renaming one is a breaking
change (tests/template checks that every name the ASL uses is defined here).
"""

from __future__ import annotations


class WorkflowError(Exception):
    """Base class of every error the three functions raise on purpose."""

    retryable = False


# --- bad input (never retried)


class MissingEventField(WorkflowError):
    """A required key is absent from the event."""


class InvalidEventField(WorkflowError):
    """A key is present but has the wrong type or an unusable value."""


class InvalidImageData(WorkflowError):
    """``image_data`` is not valid base64."""


class MissingConfiguration(WorkflowError):
    """An environment variable the function needs is absent or unusable (a deploy error)."""


# --- the image itself (never retried)


class ImageNotFound(WorkflowError):
    """The S3 object (or its bucket) does not exist: NoSuchKey / NoSuchBucket / 404."""


class ImageAccessDenied(WorkflowError):
    """S3 refused to read the object (403): wrong bucket for this stack or a policy problem."""


class ImageStoreUnavailable(WorkflowError):
    """S3 still answered SlowDown / 5xx after the SDK's own retries (with backoff) in the task."""


class NotAnImage(WorkflowError):
    """The bytes do not start with the signature of a supported image format."""


class CorruptImage(WorkflowError):
    """The bytes start like an image but its header cannot be read (truncated or damaged)."""


class ImageTooLarge(WorkflowError):
    """The image exceeds MAX_IMAGE_BYTES."""


class ImageDimensionsTooLarge(WorkflowError):
    """The image's width x height exceeds MAX_IMAGE_PIXELS."""


class UnsupportedContentType(WorkflowError):
    """The event names a content type the endpoint does not accept."""


# --- the SageMaker endpoint


class EndpointThrottled(WorkflowError):
    """ThrottlingException / HTTP 429: retry with backoff."""

    retryable = True


class EndpointModelNotReady(WorkflowError):
    """ModelNotReadyException: the model is still loading; retry with backoff."""

    retryable = True


class EndpointUnavailable(WorkflowError):
    """5xx, ServiceUnavailable, a model error with a 5xx status, a timeout or no connection."""

    retryable = True


class EndpointNotFound(WorkflowError):
    """ValidationError naming an endpoint that does not exist (check EndpointName)."""


class EndpointRejectedImage(WorkflowError):
    """The model could not decode the image (ModelError, original status 400): damaged past a
    readable header, e.g. a truncated PNG. The same bytes fail the same way on every attempt."""


class EndpointUnsupportedContentType(WorkflowError):
    """The model does not read this content type (ModelError, original status 415)."""


class EndpointUnsupportedAccept(WorkflowError):
    """The model cannot answer in the Accept type asked for (ModelError, original status 406)."""


class EndpointRequestRejected(WorkflowError):
    """The endpoint refused the request: any other 4xx (ValidationError, a model error with a
    4xx status not named above)."""


class InvalidEndpointResponse(WorkflowError):
    """The endpoint answered, but not with one probability per class label summing to ~1."""


# --- model promotion (retraining)


class InvalidModelMetrics(WorkflowError):
    """A model's metrics lack a key the promotion gate reads, or hold an unusable value (a
    count below 1, a share outside [0, 1], fewer than two class labels)."""


# --- human review and retraining


class UnknownReviewLabel(WorkflowError):
    """A reviewer's label is not one of the model's class labels; the review asks again."""


class ReviewNotFound(WorkflowError):
    """No pending review has this id (answered already, or never sent)."""


class ReviewExpired(WorkflowError):
    """The review's task token is no longer valid: its deadline passed or it was answered."""


class ChallengeNotFound(WorkflowError):
    """The training job's artifact holds no challenge.json (not trained by model.pipeline)."""


class ModelPackageNotApproved(WorkflowError):
    """Promotion was asked for a model package whose approval status is not Approved."""


# --- the workflow's verdict


class THRESHOLD_CONFIDENCE_NOT_MET(WorkflowError):  # noqa: N801 - the name is the contract
    """The inference's confidence is below CONFIDENCE_THRESHOLD.

    Named in capitals on purpose: it is the error name the execution fails with, on AWS and
    locally, exactly as the product asks (``States`` matches the class name).
    """


RETRYABLE_ERRORS = tuple(cls.__name__ for cls in WorkflowError.__subclasses__() if cls.retryable)
