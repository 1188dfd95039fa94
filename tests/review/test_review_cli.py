"""`scones review` against a running local stack: the pending review of a dark photo listed
with its photo, a wrong label refused before anything is sent, a right one resuming the review
workflow (a human result, training data), a second answer refused, the interactive walk."""

from __future__ import annotations

import json

import pytest

from scones_domain.errors import ReviewExpired
from scones_domain.location import S3Location

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def one_line(err: str) -> str:
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


def test_list_shows_the_pending_review_of_a_dark_photo(tmp_path, review_stack,
                                                       dark_photo):
    # GIVEN a dark photo the model is not sure of, waiting for a review
    pending = review_stack.send_to_review(dark_photo, "incoming/list/dark.png")
    # WHEN the queue is listed (not in a terminal that draws images)
    code, out, err = review_stack.review("--html", str(tmp_path / "page"), "--json",
                            str(tmp_path / "reviews.json"))
    # THEN the table names it: id prefix, image, the model's label and confidence, the copy
    assert code == 0, err
    row = next(line for line in out.splitlines() if line.startswith(pending.short_id))
    assert pending.image in row and "motorcycle 0.600" in row
    assert f"s3://{review_stack.stack.bucket}/review/incoming/list/dark.png" in row
    assert "classes: bicycle, motorcycle" in out
    # AND the JSON holds the review with its inferences per class, and no task token
    listed = {r["review_id"]: r for r in json.loads((tmp_path / "reviews.json").read_text())}
    assert listed[pending.review_id]["inferences"] == {"bicycle": 0.4, "motorcycle": 0.6}
    assert listed[pending.review_id]["class_labels"] == ["bicycle", "motorcycle"]
    assert all("task_token" not in r for r in listed.values())
    # AND the page shows the photo (read from the stack's S3), its URI and each class's command
    assert f"photos: {tmp_path / 'page' / 'index.html'}" in out
    page = (tmp_path / "page" / "index.html").read_text()
    assert pending.image in page
    assert f"scones review label {pending.short_id} bicycle" in page
    assert f'src="images/{pending.short_id}.png"' in page
    photo = tmp_path / "page" / "images" / f"{pending.short_id}.png"
    assert photo.read_bytes() == dark_photo.read_bytes()


def test_list_json_dash_is_the_json_alone_on_stdout(tmp_path, review_stack, dark_photo):
    pending = review_stack.send_to_review(dark_photo, "incoming/json/dark.png")
    code, out, err = review_stack.review("list", "--json", "-", "--html",
                            str(tmp_path / "page"))
    assert code == 0
    assert pending.review_id in {r["review_id"] for r in json.loads(out)}
    assert pending.short_id in err and "photos: " in err  # the table went to stderr


def test_a_label_not_among_the_classes_is_refused_before_it_is_sent(review_stack,
                                                                    dark_photo):
    # GIVEN a pending review
    pending = review_stack.send_to_review(dark_photo, "incoming/wrong/dark.png")
    # WHEN a person answers with a class the model does not have
    code, out, err = review_stack.review("label", pending.short_id, "scooter")
    # THEN a usage error names the classes, and nothing was sent: the same token still waits
    assert code == 2 and out == ""
    assert one_line(err) == ("scones review label: error: UnknownReviewLabel: label 'scooter' "
                             "is not one of the model's classes: bicycle, motorcycle\n")
    item = review_stack.item(pending)
    assert item["status"]["S"] == "pending" and "rejected_label" not in item
    assert item["task_token"]["S"] == pending.task_token
    assert review_stack.execution_status(pending) == "RUNNING"


def test_a_label_resumes_the_review_and_is_recorded_once(review_stack, dark_photo):
    # GIVEN a pending review
    key = "incoming/right/dark.png"
    pending = review_stack.send_to_review(dark_photo, key)
    # WHEN a person labels it, naming the photo by its s3:// URI
    code, out, err = review_stack.review("label", pending.image, "bicycle",
                            "--reviewer", "ana@depot")
    assert code == 0, err
    assert out.startswith(f"sent: {pending.image} is bicycle (review {pending.short_id}")
    # THEN the review workflow ends SUCCEEDED
    assert review_stack.execution_status(pending, until={"SUCCEEDED", "FAILED"}) == "SUCCEEDED"
    # AND the photo is training data under labels/bicycle/, the result is a person's
    stack = review_stack.stack
    stack.client("s3").head_object(Bucket=stack.bucket, Key=f"labels/bicycle/{key}")
    result = stack.client("dynamodb").get_item(
        TableName=stack.deployment.resources["ResultsTable"],
        Key={"image": {"S": S3Location(stack.bucket, key).uri}}, ConsistentRead=True)["Item"]
    assert (result["source"]["S"], result["label"]["S"], result["reviewer"]["S"]) == (
        "human", "bicycle", "ana@depot")
    # WHEN the same review is answered again (by its id or its prefix, or with the spent token)
    for ref in (pending.review_id, pending.short_id):
        code, out, err = review_stack.review("label", ref, "motorcycle")
        # THEN it was answered already: exit 1, one line, nothing changes
        assert code == 1 and out == ""
        assert one_line(err) == (f"error: ReviewExpired: review {pending.short_id} "
                                 f"({pending.image}) was answered already: bicycle by "
                                 f"ana@depot\n")
    with pytest.raises(ReviewExpired, match="expired or was answered already"):
        review_stack.queue.send(pending, "motorcycle", "bo")
    assert review_stack.item(pending)["true_label"]["S"] == "bicycle"


@pytest.mark.parametrize(("ref", "message"), [
    ("0123456789ab", "ReviewNotFound: no pending review matches '0123456789ab'"),
    ("incoming/never/sent.png", "ReviewNotFound: no pending review matches"),
])
def test_an_id_no_pending_review_has_is_a_usage_error(review_stack, ref, message):
    code, out, err = review_stack.review("label", ref, "bicycle")
    assert code == 2 and out == ""
    assert message in one_line(err) and "`scones review` lists them" in err


def test_interactive_walks_the_queue_from_standard_input(tmp_path,
                                                         review_stack, dark_photo):
    # GIVEN two more photos waiting (after whatever earlier tests left pending)
    review_stack.send_to_review(dark_photo, "incoming/walk/one.png")
    review_stack.send_to_review(dark_photo, "incoming/walk/two.png")
    first, second = review_stack.queue.pending()[:2]
    # WHEN a person walks the queue: a class the model lacks, then the second class by its
    # number; Enter for the next photo; q
    code, out, err = review_stack.review("--interactive", "--reviewer", "cy",
                            "--html", str(tmp_path / "page"), "--json",
                            str(tmp_path / "answers.json"), stdin="scooter\n2\n\nq\n")
    # THEN the first is labeled motorcycle (after the wrong class was refused), the second
    # skipped and still pending
    assert code == 0, err
    assert "label 'scooter' is not one of the model's classes: bicycle, motorcycle" in out
    page = tmp_path / "page" / "index.html"
    assert "[1/" in out and f"photo: {page}#{first.short_id}" in out
    assert "labeled 1, skipped 1" in out
    answers = json.loads((tmp_path / "answers.json").read_text())
    assert [(a["review_id"], a["label"], a["reviewer"]) for a in answers] == [
        (first.review_id, "motorcycle", "cy")]
    assert review_stack.execution_status(first, until={"SUCCEEDED", "FAILED"}) == "SUCCEEDED"
    assert review_stack.item(second)["status"]["S"] == "pending"

