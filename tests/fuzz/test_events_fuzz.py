"""Property tests of event parsing: any JSON a state can receive gives a record or a named error.

The three parsers (workflow input, serialized image, classification) and the filter function's
real handler are fed random JSON documents and mutations of valid events. Every outcome must be
the parsed record or a WorkflowError subclass named for what went wrong; never another
exception, never a record of another type, never unbounded memory.
"""

from __future__ import annotations

import base64
import io

import pytest
from fuzzing import FUZZ, peak_memory
from hypothesis import given
from hypothesis import strategies as st

from scones.workflow.runner import function_stdout_to
from scones_domain import errors
from scones_domain.events import (
    Classification,
    ImageRequest,
    SerializedImage,
    parse_classification,
    parse_image_request,
    parse_serialized_image,
)

NAMED_ERRORS = tuple(
    cls for cls in vars(errors).values()
    if isinstance(cls, type) and issubclass(cls, errors.WorkflowError)
    and cls is not errors.WorkflowError
)
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics:UserWarning")
PARSE_MEMORY_BOUND = 4 * 1024 * 1024  # bytes of Python heap one parse may use at peak

json_scalars = (st.none() | st.booleans() | st.integers() | st.text(max_size=40)
                | st.floats(allow_nan=True, allow_infinity=True))
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=30,
)
FIELDS = ("image_data", "s3_bucket", "s3_key", "bucket", "key", "content_type", "size_bytes",
          "transport", "inferences", "source", "detail", "width", "height", "label")
# a valid event with any of its fields replaced by random JSON or removed
valid_serialized = {
    "bucket": "scones-fuzz-images", "key": "a.png", "content_type": "image/png",
    "size_bytes": 3, "width": 1, "height": 1, "transport": "inline",
    "image_data": base64.b64encode(b"abc").decode(),
}
mutated_events = st.builds(
    lambda base, changes, drops: {**{k: v for k, v in base.items() if k not in drops}, **changes},
    st.sampled_from([
        valid_serialized,
        {"image_data": "", "s3_bucket": "scones-fuzz-images", "s3_key": "a.png"},
        {"bucket": "b", "key": "k", "inferences": [0.5, 0.5]},
        {"source": "aws.s3", "detail": {"bucket": {"name": "scones-fuzz-images"},
                                        "object": {"key": "a.png"}}},
    ]),
    st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=3),
    st.sets(st.sampled_from(FIELDS), max_size=2),
)
any_event = json_values | mutated_events


def outcome(parse, event):
    """The parsed record, or the named error's class; anything else propagates (fails)."""
    try:
        return parse(event)
    except NAMED_ERRORS as exc:
        return type(exc)


@pytest.mark.parametrize(("parse", "record"), [(parse_image_request, ImageRequest),
                                               (parse_serialized_image, SerializedImage),
                                               (parse_classification, Classification)],
                         ids=["parse_image_request", "parse_serialized_image",
                              "parse_classification"])
@FUZZ
@given(event=any_event)
def test_any_json_event_parses_or_raises_a_named_error(parse, record, event):
    # GIVEN any JSON value, or a valid event with fields replaced or removed
    # WHEN the state's parser reads it
    with peak_memory() as peak:
        result = outcome(parse, event)
    # THEN the parser's own record, or a named WorkflowError subclass (outcome() lets any other
    # exception through), within the memory bound
    assert isinstance(result, record) or result in NAMED_ERRORS, result
    assert peak() < PARSE_MEMORY_BOUND


@FUZZ
@given(text=st.text(max_size=200) | st.binary(max_size=150).map(
    lambda b: base64.b64encode(b).decode()[: len(b)]))
def test_any_image_data_string_decodes_or_is_invalid_image_data(text):
    # GIVEN any string as image_data (random text, truncated base64)
    event = {"image_data": text, "s3_bucket": "scones-fuzz-images", "s3_key": "a.png"}
    # WHEN parsed  THEN bytes, or InvalidImageData / InvalidEventField by name
    result = outcome(parse_image_request, event)
    assert not isinstance(result, type) or result in (errors.InvalidImageData,
                                                      errors.InvalidEventField)


@FUZZ
@given(inferences=json_values | st.lists(
    st.integers(min_value=-(10**400), max_value=10**400) | st.floats(), min_size=2, max_size=2))
def test_filter_handler_answers_any_inferences_with_a_named_error(fuzz_function, inferences):
    # GIVEN the real filter handler (template environment) and any 'inferences' value,
    # huge integers and non-finite floats included
    handler = fuzz_function("FilterLowConfidenceFunction")
    event = {"bucket": "scones-fuzz-images", "key": "a.png", "inferences": inferences}
    # WHEN invoked (its log lines and metrics go to a buffer)
    with function_stdout_to(io.StringIO()):
        result = handler.invoke(event)
    # THEN it passes the image on, or fails with a named error of the workflow
    if result.failed:
        assert result.payload["errorType"] in {cls.__name__ for cls in NAMED_ERRORS}, (
            result.payload["errorType"], result.payload["errorMessage"])
