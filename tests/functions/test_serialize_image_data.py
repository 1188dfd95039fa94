"""serialize_image_data: real images from S3 (moto), inline vs by reference, named errors."""

from __future__ import annotations

import base64

import pytest

from scones.local.lambdas import load_handler

FUNCTION = "SerializeImageDataFunction"


def workflow_input(bucket, key, image_data=""):
    return {"image_data": image_data, "s3_bucket": bucket, "s3_key": key}


def test_real_png_is_passed_inline_base64(load_function, s3, bucket, real_png, capsys):
    # GIVEN a real CIFAR-100 PNG in the image bucket
    name, data = real_png
    s3.put_object(Bucket=bucket, Key=f"test/{name}", Body=data)
    # WHEN the workflow input in the seed's format is serialized
    result = load_function(FUNCTION)(workflow_input(bucket, f"test/{name}"))
    # THEN the bytes travel inline, base64-encoded, with what the next states need
    assert not result.failed, result.payload
    out = result.payload
    assert base64.b64decode(out["image_data"]) == data
    assert out == {
        "bucket": bucket,
        "key": f"test/{name}",
        "content_type": "image/png",
        "size_bytes": len(data),
        "width": 32,
        "height": 32,
        "transport": "inline",
        "image_data": out["image_data"],
    }
    # AND the image bytes appear in no log line or metric
    printed = capsys.readouterr().out
    assert out["image_data"] not in printed
    assert '"ImagesProcessed"' in printed and '"ImageBytes"' in printed


def test_large_image_goes_by_s3_reference(load_function, s3, bucket, large_png):
    # GIVEN a ~360 KB PNG: its base64 would not fit a 256 KB state payload
    s3.put_object(Bucket=bucket, Key="uploads/large.png", Body=large_png)
    # WHEN serialized
    result = load_function(FUNCTION)(workflow_input(bucket, "uploads/large.png"))
    # THEN it is passed by reference: no bytes, a small payload
    assert not result.failed, result.payload
    assert result.payload["transport"] == "s3"
    assert result.payload["image_data"] == ""
    assert result.payload["size_bytes"] == len(large_png)
    assert (result.payload["width"], result.payload["height"]) == (400, 300)


def test_image_just_at_the_inline_limit_stays_inline(load_function, s3, bucket, make_image):
    # GIVEN a PNG, and the function with an inline limit of exactly its size, then one byte less
    data = make_image("PNG", (64, 64), noise=True)
    s3.put_object(Bucket=bucket, Key="k.png", Body=data)
    spec = load_function(FUNCTION).spec
    at_limit = load_handler(spec, {"INLINE_IMAGE_MAX_BYTES": str(len(data))})
    below = load_handler(spec, {"INLINE_IMAGE_MAX_BYTES": str(len(data) - 1)})
    # WHEN serialized  THEN inline at the limit, by S3 reference one byte over it
    assert at_limit(workflow_input(bucket, "k.png")).payload["transport"] == "inline"
    assert below(workflow_input(bucket, "k.png")).payload["transport"] == "s3"


def test_jpeg_is_recognised_by_bytes_not_name(load_function, s3, bucket, make_image):
    # GIVEN a JPEG stored under a .png name
    s3.put_object(Bucket=bucket, Key="misnamed.png", Body=make_image("JPEG", (50, 40)))
    # WHEN serialized  THEN its content type comes from its bytes
    out = load_function(FUNCTION)(workflow_input(bucket, "misnamed.png")).payload
    assert (out["content_type"], out["width"], out["height"]) == ("image/jpeg", 50, 40)


def test_caller_supplied_image_data_is_used_without_s3(load_function, s3, bucket, make_image):
    # GIVEN a workflow input carrying the image itself (no such S3 object exists)
    data = make_image("PNG")
    event = workflow_input(bucket, "inline/only.png", base64.b64encode(data).decode())
    # WHEN serialized  THEN those bytes are checked and passed on
    result = load_function(FUNCTION)(event)
    assert not result.failed, result.payload
    assert base64.b64decode(result.payload["image_data"]) == data


def test_s3_object_created_event_is_accepted(load_function, s3, bucket, real_png, load_event):
    # GIVEN the shipped EventBridge "Object Created" event, pointed at a real object
    name, data = real_png
    event = load_event("serialize_image_data_s3_object_created.json")
    event["detail"]["bucket"]["name"] = bucket
    s3.put_object(Bucket=bucket, Key=event["detail"]["object"]["key"], Body=data)
    # WHEN serialized  THEN the object is read and passed inline
    result = load_function(FUNCTION)(event)
    assert not result.failed, result.payload
    assert result.payload["key"] == event["detail"]["object"]["key"]


def test_missing_bucket_in_input_defaults_to_the_image_bucket(load_function, s3, bucket, real_png):
    # GIVEN an input with only s3_key (IMAGE_BUCKET comes from the template's !Ref ImageBucket)
    name, data = real_png
    s3.put_object(Bucket=bucket, Key=name, Body=data)
    # WHEN serialized  THEN the stack's bucket is used
    result = load_function(FUNCTION)({"s3_key": name})
    assert result.payload["bucket"] == bucket


def bad_inputs(bucket: str, png: bytes, gif: bytes, big: bytes) -> dict[str, tuple]:
    """case -> (objects stored first, event, template parameter overrides, expected error)."""
    wide = str(64 * 48 - 1)
    return {
        "no-key": ({}, {"image_data": "", "s3_bucket": bucket}, {}, "MissingEventField"),
        "key-not-string": ({}, {"s3_bucket": bucket, "s3_key": 42}, {}, "InvalidEventField"),
        "bad-bucket-name": ({}, workflow_input("Not_A_Bucket!", "k.png"), {}, "InvalidEventField"),
        "event-not-object": ({}, "test/bicycle_s_001789.png", {}, "InvalidEventField"),
        "bad-base64": ({}, workflow_input(bucket, "k.png", "not base64!"), {}, "InvalidImageData"),
        "missing-object": ({}, workflow_input(bucket, "test/absent.png"), {}, "ImageNotFound"),
        "missing-bucket": ({}, workflow_input("no-such-bucket-here", "k.png"), {}, "ImageNotFound"),
        "text-file": (
            {"k.png": b"just text named .png"},
            workflow_input(bucket, "k.png"),
            {},
            "NotAnImage",
        ),
        "empty-file": ({"k.png": b""}, workflow_input(bucket, "k.png"), {}, "NotAnImage"),
        "truncated-png": ({"k.png": png[:16]}, workflow_input(bucket, "k.png"), {}, "CorruptImage"),
        "gif": ({"k.gif": gif}, workflow_input(bucket, "k.gif"), {}, "UnsupportedContentType"),
        "too-many-bytes": (
            {"k.png": png},
            workflow_input(bucket, "k.png"),
            {"MaxImageBytes": str(len(png) - 1)},
            "ImageTooLarge",
        ),
        "too-many-pixels": (
            {"k.png": png},
            workflow_input(bucket, "k.png"),
            {"MaxImagePixels": wide},
            "ImageDimensionsTooLarge",
        ),
        "inline-too-large": (
            {},
            workflow_input(bucket, "k.png", base64.b64encode(big).decode()),
            {},
            "ImageTooLarge",
        ),
    }


BAD_INPUT_CASES = list(bad_inputs("b", b"", b"", b""))


@pytest.mark.parametrize("case", BAD_INPUT_CASES)
def test_bad_input_gets_a_named_error(load_function, s3, bucket, make_image, large_png, case):
    # GIVEN one bad input or stored object
    objects, event, parameters, error = bad_inputs(
        bucket, make_image("PNG", (64, 48)), make_image("GIF"), large_png
    )[case]
    for key, body in objects.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    # WHEN serialized by the function deployed with those parameters
    result = load_function(FUNCTION, **parameters)(event)
    # THEN it fails with that named error
    assert result.failed, result.payload
    assert result.error_type == error, result.payload
