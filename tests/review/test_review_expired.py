"""`scones review label` after the review's deadline: the answer comes too late (exit 1),
against a local stack whose reviews wait 1 second (its own module: one LocalStack per
process at a time)."""

from __future__ import annotations

import pytest

from scones_domain.errors import ReviewExpired

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_an_expired_review_is_refused(expiring_stack, dark_photo):
    # GIVEN a review nobody answered within ReviewTimeoutSeconds (1 s here)
    pending = expiring_stack.send_to_review(dark_photo, "incoming/late/dark.png")
    assert expiring_stack.execution_status(pending, until={"FAILED"}) == "FAILED"
    # WHEN the label comes now
    code, out, err = expiring_stack.review("label", pending.short_id, "bicycle")
    # THEN the review expired: exit 1, one line; and the stale token is refused as well
    assert code == 1 and out == ""
    assert err.startswith("error: ReviewExpired: ") and err.count("\n") == 1
    assert f"review {pending.short_id} ({pending.image}) expired unanswered" in err
    with pytest.raises(ReviewExpired):
        expiring_stack.queue.send(pending, "bicycle", "ana", now=0.0)
