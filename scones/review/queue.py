"""The review queue of a deployed stack: the pending reviews, their images, the answers.

A photo below the threshold waits in the stack's reviews table (output ``ReviewsTableName``)
with the task token of its review workflow's SendToReview state
(functions/send_to_review/app.py). :class:`ReviewQueue` reads the pending reviews through the
table's ``ByStatus`` index (oldest first), reads each image from S3 (the copy under the review
prefix), and answers one with SendTaskSuccess ``{"label", "reviewer"}``, the label checked
against the review's class labels before anything is sent. The same code serves the local
stack of ``scones up`` (:func:`local_queue`: its state file says where its AWS APIs answer)
and a stack on AWS (:func:`aws_queue`: its CloudFormation outputs, the default credentials).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from scones_domain.errors import ReviewExpired, ReviewNotFound
from scones_domain.items import from_item
from scones_domain.location import S3Location
from scones_domain.review import (
    COUNTER_ID,
    EXPIRED,
    LABELED,
    PENDING,
    STATUS_INDEX,
    answer,
    review_id,
)

SHORT_ID = 12  # characters of the id the table shows (a unique prefix answers as well)
TABLE_OUTPUT = "ReviewsTableName"
BUCKET_OUTPUT = "ImageBucketName"
# A task token that waits no more: its deadline passed (AWS: TaskTimedOut), it was answered
# or never existed (TaskDoesNotExist; moto answers InvalidToken for all of these)
SPENT_TOKEN = {"TaskTimedOut", "TaskDoesNotExist", "InvalidToken"}
_FULL_ID = re.compile(r"^[0-9a-f]{64}$")
_HEX = re.compile(r"^[0-9a-f]+$")


class AmbiguousReview(Exception):
    """An id prefix (or key) that more than one pending review matches."""


class NoStackError(Exception):
    """No stack to review: no local stack answers, or the named stack has no reviews table."""


@dataclass(frozen=True)
class Review:
    """One pending review, as SendToReview put it in the reviews table."""

    review_id: str
    image: str
    review_copy: str
    predicted_label: str
    confidence: float | None
    inferences: dict[str, float]
    class_labels: list[str]
    model_version: str
    sent_at: str
    expires_at: int
    execution_arn: str
    review_execution_arn: str
    rejected_label: str | None = None
    task_token: str = field(default="", repr=False)

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Review:
        document = from_item(item)
        return cls(**{name: document.get(name) for name in cls.__dataclass_fields__
                      if name in document})

    @property
    def short_id(self) -> str:
        return self.review_id[:SHORT_ID]

    @property
    def key(self) -> str:
        return S3Location.parse(self.image).key

    def waiting_s(self, now: float) -> float:
        return max(0.0, now - datetime.fromisoformat(self.sent_at.replace("Z", "+00:00"))
                   .timestamp())

    def expires_in_s(self, now: float) -> float:
        return float(self.expires_at) - now

    def matches(self, ref: str) -> bool:
        """``ref`` names this review: an id prefix, the image's or review copy's URI, its key."""
        prefix = ref.lower()
        return (bool(_HEX.match(prefix)) and self.review_id.startswith(prefix)) or ref in (
            self.image, self.review_copy, self.key)

    def to_json(self, now: float) -> dict[str, Any]:
        """What ``--json`` writes: everything but the task token (it stays in the table)."""
        document = {name: getattr(self, name) for name in self.__dataclass_fields__
                    if name != "task_token"}
        return {**document, "waiting_s": round(self.waiting_s(now), 1),
                "expires_in_s": round(self.expires_in_s(now), 1)}


class ReviewQueue:
    """The pending reviews of one stack. ``client(service)`` gives a botocore client of the
    stack's account and region (a LocalStack's ``client`` does), ``table`` is its reviews
    table, ``bucket`` its image bucket (to find a review by key alone)."""

    def __init__(self, client: Callable[[str], Any], table: str, *, bucket: str | None = None,
                 where: str = "", stack_name: str | None = None):
        self.client, self.table, self.bucket = client, table, bucket
        self.where = where or f"reviews table {table}"
        self.stack_name = stack_name

    def pending(self) -> list[Review]:
        """The pending reviews, oldest first."""
        reviews = []
        pages = self.client("dynamodb").get_paginator("query").paginate(
            TableName=self.table, IndexName=STATUS_INDEX,
            KeyConditionExpression="#status = :pending",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":pending": {"S": PENDING}}, ScanIndexForward=True)
        for page in pages:
            reviews += [Review.from_item(item) for item in page["Items"]
                        if item.get("review_id", {}).get("S") != COUNTER_ID
                        and "task_token" in item]
        return reviews

    def labeled(self) -> list[dict[str, Any]]:
        """The answered reviews: the classification execution's ARN (which names its
        inference), the person's label and the image."""
        answered = []
        pages = self.client("dynamodb").get_paginator("query").paginate(
            TableName=self.table, IndexName=STATUS_INDEX,
            KeyConditionExpression="#status = :labeled",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":labeled": {"S": LABELED}})
        for page in pages:
            for item in page["Items"]:
                document = from_item(item)
                if document.get("true_label") and document.get("execution_arn"):
                    answered.append({"execution_arn": document["execution_arn"],
                                     "label": document["true_label"],
                                     "image": document.get("image")})
        return answered

    def _direct_id(self, ref: str) -> str | None:
        """The review id ``ref`` names without a search: the id itself, or the image's."""
        if _FULL_ID.match(ref.lower()):
            return ref.lower()
        if ref.startswith("s3://"):
            image = S3Location.parse(ref)
            return review_id(image.bucket, image.key) if image.key else None
        if self.bucket and not _HEX.match(ref.lower()):
            return review_id(self.bucket, ref)
        return None

    def find(self, ref: str) -> Review:
        """The pending review ``ref`` names: its id or a unique prefix of it, its image's
        s3:// URI or key, its review copy's URI. ReviewNotFound when none does,
        AmbiguousReview when several do, ReviewExpired when it was answered or expired."""
        ref = ref.strip()
        rid = self._direct_id(ref)
        if rid is not None:
            item = self.client("dynamodb").get_item(
                TableName=self.table, Key={"review_id": {"S": rid}},
                ConsistentRead=True).get("Item")
            if item and item.get("status", {}).get("S") == PENDING and "task_token" in item:
                return Review.from_item(item)
            if item:
                raise ReviewExpired(closed(from_item(item)))
        matches = [review for review in self.pending() if review.matches(ref)] if ref else []
        if not matches and _HEX.match(ref.lower()):
            answered = self._closed_with_prefix(ref.lower())
            if answered is not None:
                raise ReviewExpired(closed(answered))
        if not matches:
            raise ReviewNotFound(f"no pending review matches {ref!r} in {self.where} "
                                 f"(`scones review` lists them)")
        if len(matches) > 1:
            names = ", ".join(f"{r.short_id} ({r.image})" for r in matches[:5])
            more = f" and {len(matches) - 5} more" if len(matches) > 5 else ""
            raise AmbiguousReview(f"{ref!r} matches {len(matches)} pending reviews: "
                                  f"{names}{more}; give more of the id")
        return matches[0]

    def _closed_with_prefix(self, prefix: str, most: int = 1000) -> dict[str, Any] | None:
        """The latest labeled or expired review whose id starts with ``prefix`` (among the
        ``most`` latest of each status: a prefix names a review someone just listed)."""
        for status in (LABELED, EXPIRED):
            query = {"TableName": self.table, "IndexName": STATUS_INDEX,
                     "KeyConditionExpression": "#status = :status",
                     "FilterExpression": "begins_with(review_id, :prefix)",
                     "ExpressionAttributeNames": {"#status": "status"},
                     "ExpressionAttributeValues": {":status": {"S": status},
                                                   ":prefix": {"S": prefix}},
                     "ScanIndexForward": False, "Limit": most}
            items = self.client("dynamodb").query(**query)["Items"]
            if items:
                return from_item(items[0])
        return None

    def send(self, review: Review, label: str, reviewer: str,
             now: float | None = None) -> dict[str, Any]:
        """Answer ``review``: the label checked first (UnknownReviewLabel, nothing sent), then
        SendTaskSuccess; ReviewExpired when its token waits no more."""
        from botocore.exceptions import ClientError

        output = answer(label, reviewer, review.class_labels)
        now = time.time() if now is None else now
        if review.expires_in_s(now) <= 0:
            raise ReviewExpired(f"review {review.short_id} ({review.image}) expired "
                                f"{format_duration(-review.expires_in_s(now))} ago")
        try:
            self.client("stepfunctions").send_task_success(taskToken=review.task_token,
                                                           output=output)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code not in SPENT_TOKEN:
                raise
            raise ReviewExpired(f"review {review.short_id} ({review.image}) expired or was "
                                f"answered already ({code})") from None
        return {"review_id": review.review_id, "image": review.image, "label": label,
                "reviewer": reviewer.strip(), "predicted_label": review.predicted_label,
                "review_execution_arn": review.review_execution_arn}

    def image(self, review: Review) -> bytes | None:
        """The photo's bytes: the copy under the review prefix, else the original; None when
        neither is there any more."""
        from botocore.exceptions import ClientError

        for uri in (review.review_copy, review.image):
            location = S3Location.parse(uri)
            try:
                return self.client("s3").get_object(
                    Bucket=location.bucket, Key=location.key)["Body"].read()
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404",
                                                                     "AccessDenied"):
                    raise
        return None


def closed(document: Mapping[str, Any]) -> str:
    """Why a review that is no longer pending cannot be answered, in one line."""
    short, image = str(document.get("review_id", ""))[:SHORT_ID], document.get("image")
    if document.get("status") == LABELED:
        by = f" by {document['reviewer']}" if document.get("reviewer") else ""
        return (f"review {short} ({image}) was answered already: "
                f"{document.get('true_label')}{by}")
    return f"review {short} ({image}) expired unanswered ({document.get('status')})"


def format_duration(seconds: float) -> str:
    """``45s``, ``12m 05s``, ``3h 07m``, ``2d 04h``."""
    seconds = int(max(0.0, seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


# --------------------------------------------------------------------------- finding the stack


class _Clients:
    """One botocore client per service of a boto3 session (thread-safe, made on first use)."""

    def __init__(self, session: Any, **options: Any):
        self.session, self.options = session, options
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def __call__(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                self._clients[service] = self.session.client(service, **self.options)
            return self._clients[service]


def stack_queue(client: Callable[[str], Any], stack_name: str | None, where: str
                ) -> ReviewQueue:
    """The queue of the stack's ``ReviewsTableName`` output (``stack_name`` None: the one
    stack that has it, as in a local stack's moto)."""
    from botocore.exceptions import ClientError

    try:
        stacks = client("cloudformation").describe_stacks(
            **({"StackName": stack_name} if stack_name else {}))["Stacks"]
    except ClientError as exc:
        if "does not exist" not in str(exc):
            raise
        raise NoStackError(f"{where} does not exist") from None
    for stack in stacks:
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        if TABLE_OUTPUT in outputs:
            return ReviewQueue(client, outputs[TABLE_OUTPUT], bucket=outputs.get(BUCKET_OUTPUT),
                               where=where, stack_name=stack["StackName"])
    raise NoStackError(f"{where} has no {TABLE_OUTPUT} output: deploy a template with human "
                       f"review (sam deploy)")


def local_queue(state_file: str | Path) -> ReviewQueue:
    """The queue of the stack ``scones up`` runs (StackNotRunningError when none answers)."""
    import boto3

    from scones.local.server import read_state

    state = read_state(state_file)
    session = boto3.session.Session(aws_access_key_id="local", aws_secret_access_key="local",
                                    region_name=state["region"])
    url = state["aws_endpoint_url"]
    return stack_queue(_Clients(session, endpoint_url=url), state.get("stack_name"),
                       f"the local stack at {url}")


def aws_queue(stack_name: str, region: str | None) -> ReviewQueue:
    """The queue of a deployed stack, with the default credentials (and region)."""
    import boto3

    session = boto3.session.Session(region_name=region)
    where = f"stack {stack_name} in {session.region_name or 'the default region'}"
    return stack_queue(_Clients(session), stack_name, where)
