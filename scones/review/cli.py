"""``scones review``: the photos the classifier was not sure of, labeled by a person.

    scones review [list] [--json FILE|-] [--html DIR] [--limit N]
    scones review label ID LABEL [--reviewer NAME] [--json FILE|-]
    scones review --interactive [--reviewer NAME] [--html DIR]
    ... [--stack-name NAME [--region R]]     (default: the stack `scones up` runs)

A photo below the confidence threshold waits in the stack's reviews table with the task token
of its review workflow (statemachine/review.asl.json). ``list`` shows the pending ones, oldest
first, with the photo (inline in a terminal that draws images, else an HTML page); ``label``
checks the label against the review's classes and sends it (SendTaskSuccess), which resumes
the workflow: the label becomes a human result and training data. ``--interactive`` walks the
queue and asks for each photo's label on standard input.

Exit status: 0 done; 1 the answer came too late (ReviewExpired: the review expired or was
answered already) or AWS refused; 2 usage error: no stack to review, no pending review with
that id (ReviewNotFound), an id prefix several reviews share, a label that is not one of the
model's classes (UnknownReviewLabel).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from scones_domain.arguments import STDOUT, output_file, positive_int, write_output

EXIT_EXPIRED = 1
EXIT_USAGE = 2
DEFAULT_HTML = Path("runs/review")
DEFAULT_STATE_FILE = "runs/local-stack.json"  # scones.local.server's, without importing it
DEFAULT_LIMIT = 100
_STACK_NAME = re.compile(r"^[A-Za-z][-A-Za-z0-9]{0,127}$")
EPILOG = f"""exit status:
  0  done (a label sent, the queue listed, the interactive walk ended)
  {EXIT_EXPIRED}  ReviewExpired: the review expired or was answered already; AWS refused
  {EXIT_USAGE}  usage error: no stack to review (start one with `scones up` or give
     --stack-name), ReviewNotFound (no pending review has that id), an id prefix several
     reviews share, UnknownReviewLabel (not one of the model's classes)
"""


def reviewer_name(text: str) -> str:
    """``--reviewer``: who answers, as the results table and the labeled image record it."""
    from scones_domain.errors import InvalidEventField
    from scones_domain.review import check_reviewer

    try:
        return check_reviewer(text)
    except InvalidEventField as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def stack_name(text: str) -> str:
    if not _STACK_NAME.match(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a CloudFormation stack name: a letter, then letters, digits and "
            f"hyphens, 128 characters at most")
    return text


def review_ref(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("give a review id (or a prefix of it), the image's "
                                         "s3:// URI or its key")
    return text.strip()


def html_folder(text: str) -> Path:
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a file, not a folder")
    return path


def default_reviewer() -> str:
    user = os.environ.get("USER") or os.environ.get("USERNAME") or "reviewer"
    return f"{user}@{socket.gethostname()}"


def _stack_options(parser: argparse.ArgumentParser, nested: bool) -> None:
    """--stack-name/--region on ``review`` and on each of its subcommands (``nested``: no
    default, so a value given before the subcommand is kept)."""
    default = {"default": argparse.SUPPRESS} if nested else {"default": None}
    parser.add_argument("--stack-name", type=stack_name, metavar="NAME", **default,
                        help="review a stack on AWS (its ReviewsTableName output; the default "
                        "credentials) instead of the local stack `scones up` runs")
    parser.add_argument("--region", metavar="R", **default,
                        help="the AWS stack's region (default: the default region)")
    parser.add_argument("--state-file", **({"default": argparse.SUPPRESS} if nested else
                                           {"default": DEFAULT_STATE_FILE}),
                        help=argparse.SUPPRESS)
    if nested:  # `scones review label ... --debug` as well as `scones review --debug ...`
        parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                            help=argparse.SUPPRESS)


def _json_option(parser: argparse.ArgumentParser, what: str, nested: bool) -> None:
    parser.add_argument("--json", metavar="FILE|-", type=output_file,
                        default=argparse.SUPPRESS if nested else None,
                        help=f"write {what} as JSON to FILE ('-': stdout, the text then goes "
                        "to stderr)")


def _list_options(parser: argparse.ArgumentParser, nested: bool) -> None:
    default = (lambda value: argparse.SUPPRESS) if nested else (lambda value: value)
    _json_option(parser, "the pending reviews (no task tokens; with --interactive, the "
                 "answers sent)", nested)
    parser.add_argument("--html", type=html_folder, metavar="DIR", default=default(None),
                        help="write the photos and index.html into DIR, also in a terminal "
                        f"that draws images (default: {DEFAULT_HTML}/ where the terminal "
                        "cannot draw them)")
    parser.add_argument("--limit", type=positive_int, metavar="N",
                        default=default(DEFAULT_LIMIT),
                        help=f"show the N oldest (default {DEFAULT_LIMIT})")


def _reviewer_option(parser: argparse.ArgumentParser, nested: bool) -> None:
    parser.add_argument("--reviewer", type=reviewer_name, metavar="NAME",
                        default=argparse.SUPPRESS if nested else None,
                        help="who labels (default: $USER@hostname)")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "review",
        help="label the photos the model was not sure of: list them, send a label",
        description="The photos below the confidence threshold wait for a person. List them\n"
        "(with the photos: inline in kitty, Ghostty, iTerm2 or WezTerm, else an HTML page),\n"
        "label one (scones review label ID LABEL), or walk them all (--interactive).\n"
        "Talks to the stack `scones up` runs, or with --stack-name to one on AWS.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    _stack_options(p, nested=False)
    _list_options(p, nested=False)
    _reviewer_option(p, nested=False)
    p.add_argument("--interactive", action="store_true",
                   help="show each pending review and ask for its label on standard input "
                   "(Enter skips, q quits)")
    sub = p.add_subparsers(dest="review_command", metavar="{list,label}")
    listing = sub.add_parser("list", help="the pending reviews, oldest first (the default)",
                             description="The pending reviews, oldest first: id, image, the "
                             "model's label and confidence, how long each waits, when it "
                             "expires, the review copy; and the photos.")
    _list_options(listing, nested=True)
    _stack_options(listing, nested=True)
    label = sub.add_parser(
        "label", help="send a person's label for one review",
        description="Send the label of one pending review: checked against the model's\n"
        "classes first, then sent to the waiting review workflow, which records it as a\n"
        "human result and as training data (labels/<label>/<key>).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    label.add_argument("id", type=review_ref, metavar="ID",
                       help="the review's id or a unique prefix of it (`scones review` shows "
                       "12 characters), the image's s3:// URI, or its key")
    label.add_argument("label", metavar="LABEL", help="one of the model's classes")
    _reviewer_option(label, nested=True)
    _json_option(label, "the answer sent", nested=True)
    _stack_options(label, nested=True)
    p.set_defaults(func=run)


# --------------------------------------------------------------------------- running


def _usage(args: argparse.Namespace, message: str) -> int:
    command = " ".join(["scones review", *([args.review_command] if args.review_command else [])])
    print(f"{command}: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def run(args: argparse.Namespace) -> int:
    from botocore.exceptions import NoRegionError

    from scones.local.server import StackNotRunningError
    from scones.review.queue import AmbiguousReview, NoStackError, aws_queue, local_queue
    from scones_domain.errors import (
        InvalidEventField,
        ReviewExpired,
        ReviewNotFound,
        UnknownReviewLabel,
    )

    if args.region and not args.stack_name:
        return _usage(args, "--region needs --stack-name (the local stack has its own region)")
    if args.interactive and args.review_command:
        return _usage(args, f"--interactive walks the queue: not with {args.review_command}")
    args.reviewer = args.reviewer or default_reviewer()
    try:
        queue = (aws_queue(args.stack_name, args.region) if args.stack_name
                 else local_queue(args.state_file))
        if args.review_command == "label":
            return label_command(queue, args)
        if args.interactive:
            return interactive_command(queue, args, sys.stdin)
        return list_command(queue, args)
    except StackNotRunningError as exc:
        reason = str(exc).split(" (start one", 1)[0]
        return _usage(args, f"{reason}: start one with `scones up` or give --stack-name")
    except NoStackError as exc:
        return _usage(args, str(exc))
    except NoRegionError:
        return _usage(args, "no AWS region: give --region or set AWS_REGION")
    except (ReviewNotFound, AmbiguousReview, UnknownReviewLabel, InvalidEventField) as exc:
        return _usage(args, f"{type(exc).__name__}: {exc}")
    except ReviewExpired as exc:
        print(f"error: ReviewExpired: {exc}", file=sys.stderr)
        return EXIT_EXPIRED


def _text_stream(args: argparse.Namespace) -> TextIO:
    return sys.stderr if args.json == STDOUT else sys.stdout


def _stack_argv(args: argparse.Namespace) -> list[str]:
    """The options that name the same stack again (in the commands the page shows)."""
    if not args.stack_name:
        return []
    return ["--stack-name", args.stack_name, *(["--region", args.region] if args.region else [])]


def format_table(reviews: list, now: float) -> str:
    from scones.review.queue import format_duration

    header = ("id", "image", "model says", "waiting", "expires in", "review copy")
    rows = [header] + [
        (r.short_id, r.image, f"{r.predicted_label} {float(r.confidence or 0):.3f}",
         format_duration(r.waiting_s(now)),
         format_duration(r.expires_in_s(now)) if r.expires_in_s(now) > 0 else "expired",
         r.review_copy) for r in reviews]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
                     .rstrip() for row in rows)


def _classes(reviews: list) -> list[str]:
    return list(dict.fromkeys(label for r in reviews for label in r.class_labels))


def _protocol(args: argparse.Namespace, out: TextIO) -> str | None:
    """The inline image protocol of ``out`` (None with --html, or where it draws none)."""
    from scones.review.show import inline_protocol

    return None if args.html else inline_protocol(os.environ, out.isatty())


def show_inline(queue: Any, reviews: list, out: TextIO, protocol: str) -> None:
    from scones.review.show import inline_image

    for review in reviews:
        data = queue.image(review)
        print(f"{review.short_id}  {review.image}", file=out)
        out.write(inline_image(data, protocol) if data else "  (image not found)\n")
    out.flush()


def write_photos(queue: Any, reviews: list, args: argparse.Namespace, now: float) -> Path:
    """The photos and index.html in --html DIR (default runs/review/); the page's path."""
    from scones.review.show import write_page

    images = {review.review_id: queue.image(review) for review in reviews}
    return write_page(args.html or DEFAULT_HTML, reviews, images, where=queue.where, now=now,
                      stack_options=_stack_argv(args))


def list_command(queue: Any, args: argparse.Namespace) -> int:
    out, now = _text_stream(args), time.time()
    reviews = queue.pending()
    shown = reviews[:args.limit]
    if not reviews:
        print(f"no pending reviews in {queue.where}", file=out)
    else:
        more = f", the oldest {len(shown)} shown" if len(shown) < len(reviews) else ""
        print(f"{len(reviews)} pending review(s) in {queue.where}, oldest first{more}\n"
              f"{format_table(shown, now)}", file=out)
        for review in shown:
            if review.rejected_label:
                print(f"{review.short_id}: the last answer was sent back: "
                      f"{review.rejected_label}", file=out)
        command = " ".join(["scones review label ID LABEL", *_stack_argv(args)])
        print(f"label one: {command}   (classes: {', '.join(_classes(shown))})", file=out)
    if args.json:
        write_output(args.json, json.dumps([r.to_json(now) for r in shown], indent=2) + "\n")
    protocol = _protocol(args, out)
    if protocol:
        show_inline(queue, shown, out, protocol)
    else:
        print(f"photos: {write_photos(queue, shown, args, now)}", file=out)
    return 0


def label_command(queue: Any, args: argparse.Namespace) -> int:
    out = _text_stream(args)
    review = queue.find(args.id)
    record = queue.send(review, args.label, args.reviewer)
    print(f"sent: {review.image} is {record['label']} (review {review.short_id}, reviewer "
          f"{record['reviewer']}; the model said {review.predicted_label} "
          f"{float(review.confidence or 0):.3f}); the review workflow records it", file=out)
    if args.json:
        write_output(args.json, json.dumps(record, indent=2) + "\n")
    return 0


def _choice(text: str, classes: list[str]) -> str:
    """A typed label, or its number in the list the prompt shows."""
    if text not in classes and text.isdigit() and 1 <= int(text) <= len(classes):
        return classes[int(text) - 1]
    return text


def interactive_command(queue: Any, args: argparse.Namespace, stdin: TextIO) -> int:
    """Each pending review in turn: shown, its label asked for and sent (Enter skips, q or the
    end of the input quits)."""
    from scones.review.queue import format_duration

    out, now = _text_stream(args), time.time()
    reviews = queue.pending()[:args.limit]
    if not reviews:
        print(f"no pending reviews in {queue.where}", file=out)
        return 0
    protocol = _protocol(args, out)
    page = None if protocol else write_photos(queue, reviews, args, now)
    if page is not None:
        print(f"photos: {page}", file=out)
    counts, answers = {"labeled": 0, "skipped": 0, "expired": 0}, []
    for number, review in enumerate(reviews, 1):
        scores = ", ".join(f"{label} {float(review.inferences.get(label, 0)):.3f}"
                           for label in review.class_labels)
        print(f"\n[{number}/{len(reviews)}] {review.short_id}  {review.image}\n"
              f"  model: {review.predicted_label} ({scores}); waiting "
              f"{format_duration(review.waiting_s(time.time()))}\n"
              f"  review copy: {review.review_copy}", file=out)
        if review.rejected_label:
            print(f"  the last answer was sent back: {review.rejected_label}", file=out)
        if protocol:
            show_inline(queue, [review], out, protocol)
        else:
            print(f"  photo: {page}#{review.short_id}", file=out)
        outcome = _ask(queue, review, args.reviewer, stdin, out, answers)
        if outcome == "quit":
            break
        counts[outcome] += 1
    left = len(reviews) - sum(counts.values())
    print(f"\nlabeled {counts['labeled']}, skipped {counts['skipped']}, expired or answered "
          f"elsewhere {counts['expired']}, not shown {left}", file=out)
    if args.json:
        write_output(args.json, json.dumps(answers, indent=2) + "\n")
    return 0


def _ask(queue: Any, review: Any, reviewer: str, stdin: TextIO, out: TextIO,
         answers: list) -> str:
    """Ask for one review's label until one is sent: labeled, skipped, expired or quit."""
    from scones_domain.errors import ReviewExpired, UnknownReviewLabel

    classes = review.class_labels
    numbered = ", ".join(f"{n} {label}" for n, label in enumerate(classes, 1))
    while True:
        out.write(f"label ({numbered}; Enter skips, q quits): ")
        out.flush()
        line = stdin.readline()
        text = line.strip()
        if not line or text.lower() in ("q", "quit"):
            out.write("\n" if not line else "")
            return "quit"
        if not text:
            return "skipped"
        try:
            answers.append(queue.send(review, _choice(text, classes), reviewer))
        except UnknownReviewLabel as exc:
            print(f"  {exc}", file=out)
            continue
        except ReviewExpired as exc:
            print(f"  {exc}: skipped", file=out)
            return "expired"
        print(f"  sent: {answers[-1]['label']}", file=out)
        return "labeled"
