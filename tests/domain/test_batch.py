"""scones_domain.batch: a Distributed Map's result files read back and summarized."""

from __future__ import annotations

import json

from scones_domain.batch import read_results, summarize_batch


def test_summary_counts_labels_below_threshold_and_failures_by_error():
    outcomes = [
        {"s3_key": "a", "status": "SUCCEEDED", "label": "bicycle"},
        {"s3_key": "b", "status": "SUCCEEDED", "label": "motorcycle"},
        {"s3_key": "c", "status": "SUCCEEDED", "label": "bicycle"},
        {"s3_key": "d", "status": "FAILED", "error": "THRESHOLD_CONFIDENCE_NOT_MET"},
        {"s3_key": "e", "status": "FAILED", "error": "NotAnImage"},
    ]
    files = {"s/SUCCEEDED_0.json": [{"Output": json.dumps(o)} for o in outcomes],
             "s/FAILED_0.json": [{"Error": "States.Runtime", "Cause": "boom"}]}
    manifest = {"ResultFiles": {"SUCCEEDED": [{"Key": "s/SUCCEEDED_0.json"}],
                                "FAILED": [{"Key": "s/FAILED_0.json"}], "PENDING": []}}
    read, failures = read_results(manifest, files.__getitem__)
    summary = summarize_batch(read, failures)
    assert summary == {"images": 6, "confident": 3, "by_label": {"bicycle": 2, "motorcycle": 1},
                       "below_threshold": 1, "failed": 2,
                       "failed_by_error": {"NotAnImage": 1, "States.Runtime": 1}}
