"""Read a Distributed Map's ResultWriter output and summarize a batch (pure functions).

The batch state machine's item processor ends every image with an *outcome*::

    {"s3_key", "status": "SUCCEEDED" | "FAILED", "execution_arn", "label", "confidence",
     "error", "cause"}

(``status``/``error``/``cause`` are those of the image's ImageClassificationStateMachine
execution). ResultWriter writes ``manifest.json`` listing result files per status; each file is
a JSON list of child executions whose ``Output`` is the outcome as a JSON string. Items whose
processor itself failed (not the image: e.g. StartExecution refused) are in the FAILED files
with the processor's ``Error``/``Cause``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from typing import Any

from scones_domain.contracts import BatchCounts, ImageOutcome, ItemFailure
from scones_domain.errors import InvalidEventField

THRESHOLD_ERROR = "THRESHOLD_CONFIDENCE_NOT_MET"
RESULT_STATUSES = ("SUCCEEDED", "FAILED", "PENDING")


def result_file_keys(manifest: dict[str, Any]) -> dict[str, list[str]]:
    """Status -> keys of the result files the manifest lists."""
    files = manifest.get("ResultFiles")
    if not isinstance(files, dict):
        raise InvalidEventField("the ResultWriter manifest has no 'ResultFiles' object")
    return {status: [entry["Key"] for entry in files.get(status, [])]
            for status in RESULT_STATUSES}


def read_results(
    manifest: dict[str, Any], read_json: Callable[[str], Any]
) -> tuple[list[ImageOutcome], list[ItemFailure]]:
    """(outcomes of the images, item-processor failures) from the result files.

    ``read_json(key)`` returns a result file's parsed content (a list of executions).
    """
    outcomes: list[ImageOutcome] = []
    item_failures: list[ItemFailure] = []
    for status, keys in result_file_keys(manifest).items():
        for key in keys:
            for execution in read_json(key):
                if status == "SUCCEEDED":
                    output = execution.get("Output")
                    outcomes.append(json.loads(output) if isinstance(output, str) else output)
                else:
                    item_failures.append({
                        "status": status,
                        "error": execution.get("Error"),
                        "cause": execution.get("Cause"),
                        "input": execution.get("Input"),
                    })
    return outcomes, item_failures


def summarize_batch(
    outcomes: list[ImageOutcome], item_failures: list[ItemFailure]
) -> BatchCounts:
    """Counts per label (confident results), below the threshold, failed and why."""
    confident = [o for o in outcomes if o.get("status") == "SUCCEEDED"]
    below = [o for o in outcomes if o.get("error") == THRESHOLD_ERROR]
    failed = [o for o in outcomes if o.get("status") != "SUCCEEDED" and o not in below]
    failed_by_error = Counter(o.get("error") or o.get("status") or "unknown" for o in failed)
    failed_by_error.update(f.get("error") or "unknown" for f in item_failures)
    return {
        "images": len(outcomes) + len(item_failures),
        "confident": len(confident),
        "by_label": dict(sorted(Counter(o.get("label") for o in confident).items())),
        "below_threshold": len(below),
        "failed": len(failed) + len(item_failures),
        "failed_by_error": dict(sorted(failed_by_error.items())),
    }
