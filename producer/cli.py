"""The ``seglocate`` command line: locate, submit, status, results, cancel, cover, worker."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from common import keys
from common.errors import SeglocateError
from common.logcontext import TextFormatter
from common.printable import printable
from common.recall_option import DEFAULT_RECALL
from common.schemas import JobResult, JobState, JobStatus, VideoState
from common.settings import Settings
from common.storage import open_store
from producer.transcripts import TRANSCRIPT_FORMATS

if TYPE_CHECKING:
    from producer.cover import CoverResult


def mmss(seconds: float) -> str:
    """``75.4`` -> ``01:15`` (hours shown when needed)."""
    total = int(seconds + 0.5)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def _add_job_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "videos", nargs="+", metavar="VIDEO", help="files, folders, object keys, prefixes/ or globs"
    )
    parser.add_argument("--query", help="text to look for")
    parser.add_argument("--query-image", help="image to look for (file or object key)")
    parser.add_argument(
        "--query-video", help="short clip to look for (file or object key, <= 64 s)"
    )
    parser.add_argument("--instruction", help="task instruction for the reranker")
    parser.add_argument("--top-k", type=int, default=5, help="clips to return (default 5)")
    parser.add_argument(
        "--min-score",
        type=float,
        default=None,
        help="drop clips below this score 0-100 (default 10)",
    )
    parser.add_argument(
        "--window", type=float, default=5.0, help="window length, seconds (default 5)"
    )
    parser.add_argument(
        "--stride", type=float, default=None, help="seconds between windows (default: window)"
    )
    parser.add_argument(
        "--fps", type=float, default=1.0, help="frames sampled per second (default 1)"
    )
    parser.add_argument(
        "--scorer", default=None, help="ocr, qwen3-vl or null-benchmark (default SEGLOCATE_SCORER)"
    )
    parser.add_argument(
        "--no-refine",
        action="store_true",
        help="keep window-level clip boundaries (skip the one-frame edge probes)",
    )
    parser.add_argument(
        "--frame-pixels",
        default=None,
        help="qwen3-vl frame size: official, fast or pixels (default SEGLOCATE_FRAME_PIXELS)",
    )
    parser.add_argument(
        "--recall",
        default=str(DEFAULT_RECALL),
        help=(
            f"windows the scorer reranks across the job, chosen by library recall (default "
            f"{DEFAULT_RECALL}); 'all' scores every window (the full scan)"
        ),
    )
    parser.add_argument("--job-id", default=None, help=argparse.SUPPRESS)


def _add_index_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "videos", nargs="+", metavar="VIDEO", help="files, folders, object keys, prefixes/ or globs"
    )
    parser.add_argument(
        "--window", type=float, default=5.0, help="window length, seconds (default 5)"
    )
    parser.add_argument(
        "--stride", type=float, default=None, help="seconds between windows (default: window)"
    )
    parser.add_argument(
        "--fps", type=float, default=1.0, help="frames sampled per second (default 1)"
    )
    parser.add_argument(
        "--scorer",
        default=None,
        help="the scorer later searches will use (its frames are cached; default SEGLOCATE_SCORER)",
    )
    parser.add_argument(
        "--frame-pixels",
        default=None,
        help="qwen3-vl frame size: official, fast or pixels (default SEGLOCATE_FRAME_PIXELS)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seglocate", description="Find where a query happens in videos."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True)
    locate = sub.add_parser("locate", help="run a job to completion and print ranked clips")
    _add_job_arguments(locate)
    locate.add_argument("--json", type=Path, help="also write the result JSON here")
    locate.add_argument("--no-progress", action="store_true", help="no progress bar")
    submit = sub.add_parser("submit", help="submit a job and print its id")
    _add_job_arguments(submit)
    index = sub.add_parser(
        "index", help="index videos for library search ahead of any query (frames, text, vectors)"
    )
    _add_index_arguments(index)
    status = sub.add_parser("status", help="show a job's progress and failures")
    status.add_argument("job_id")
    results = sub.add_parser("results", help="print a finished job's clips")
    results.add_argument("job_id")
    results.add_argument("--json", type=Path, help="also write the result JSON here")
    cancel = sub.add_parser("cancel", help="cancel a job (finished work is kept)")
    cancel.add_argument("job_id")
    resume = sub.add_parser("resume", help="re-enqueue a stalled job's missing work")
    resume.add_argument("job_id")
    export = sub.add_parser("export", help="write a finished job's clips as qvh, vtt, edl or csv")
    export.add_argument("job_id")
    export.add_argument(
        "--format",
        required=True,
        choices=("qvh", "vtt", "edl", "csv"),
        help="qvh (moment-retrieval JSON lines), vtt (WebVTT chapters), "
        "edl (CMX 3600 edit list), csv (one row per clip)",
    )
    export.add_argument("--out", type=Path, help="write here instead of standard output")
    cover = sub.add_parser(
        "cover", help="the frames that best fit a title, as full-resolution JPEGs"
    )
    cover.add_argument("video", metavar="VIDEO", help="a local file or an object key")
    cover.add_argument("--title", required=True, help="the title the frames should fit")
    cover.add_argument("--top-k", type=int, default=3, help="frames to return (default 3)")
    cover.add_argument(
        "--min-gap",
        type=float,
        default=10.0,
        help="least seconds between two frames returned (default 10)",
    )
    cover.add_argument(
        "--out", type=Path, default=None, help="folder for cover-1.jpg... (default: here)"
    )
    cover.add_argument("--scorer", default=None, help="ocr or qwen3-vl (default SEGLOCATE_SCORER)")
    cover.add_argument(
        "--fps", type=float, default=1.0, help="frames scored per second (default 1)"
    )
    cover.add_argument("--no-progress", action="store_true", help="no progress bar")
    transcript = sub.add_parser(
        "transcript", help="what is said in a video, as WebVTT or SRT subtitles or JSON"
    )
    transcript.add_argument("video", metavar="VIDEO", help="a local file or an object key")
    transcript.add_argument("--format", choices=TRANSCRIPT_FORMATS, default="vtt")
    transcript.add_argument("--out", type=Path, help="write it here instead of printing it")
    ui = sub.add_parser("ui", help="serve the web page (search videos, watch the answers)")
    ui.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)"
    )
    ui.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    worker = sub.add_parser("worker", help="run a Celery worker (distributed mode)")
    worker.add_argument(
        "--queues", default="cpu,gpu", help="comma-separated queues (default cpu,gpu)"
    )
    worker.add_argument(
        "--gpus", default=None, help="comma-separated GPU ids: one worker process per GPU"
    )
    worker.add_argument("--concurrency", type=int, default=None, help="processes for the cpu queue")
    worker.add_argument("--loglevel", default="INFO")
    depth = sub.add_parser(
        "queue-depth", help="messages waiting in the broker queues (and windows waiting)"
    )
    depth.add_argument("--queue", help="print only this queue's count, e.g. gpu.qwen3-vl")
    sub.add_parser("stats", help="the fleet on one screen: queues, workers, jobs, throughput")
    return parser


def _job_kwargs(args: argparse.Namespace) -> dict:
    return {
        "query": args.query,
        "query_image": args.query_image,
        "query_video": args.query_video,
        "instruction": args.instruction,
        "top_k": args.top_k,
        "min_score": args.min_score,
        "window": args.window,
        "stride": args.stride,
        "fps": args.fps,
        "scorer": args.scorer,
        "refine_boundaries": not args.no_refine,
        "job_id": args.job_id,
        "frame_pixels": args.frame_pixels,
        "recall": args.recall,
    }


def thumbnail_location(settings: Settings, key: str | None) -> str:
    if key is None:
        return "-"
    if settings.s3_endpoint:
        return f"s3://{settings.results_bucket}/{key}"
    return str(settings.data_dir / settings.results_bucket / key)


def result_location(settings: Settings, job_id: str) -> str:
    return thumbnail_location(settings, keys.result_json(job_id))


def print_result(result: JobResult, settings: Settings, out=sys.stdout) -> None:
    """The ranked table, then failures, then where the JSON is. Every user-controlled string
    (names, query, errors, keys) is passed through :func:`printable`."""
    if result.purpose == "index":
        print_index_result(result, settings, out)
        return
    query = printable(repr(result.query_text or ""))
    print(
        f"job {printable(result.job_id)}: {result.status.value}; query {query}; "
        f"scorer {printable(result.scorer.name)}",
        file=out,
    )
    if result.clips:
        names = [printable(c.video) for c in result.clips]
        width = max(len(name) for name in names)
        # Which signal matched (text scorer): "ocr" on screen, "speech" said, "both".
        matched = any(c.signal for c in result.clips)
        header = f"{'rank':>4}  {'video':<{width}}  {'start-end':<13}  {'score':>5}  "
        print(header + (f"{'matched':<7}  " if matched else "") + "thumbnail", file=out)
        for clip, name in zip(result.clips, names, strict=True):
            span = f"{mmss(clip.start)}-{mmss(clip.end)}"
            signal = f"{clip.signal or '-':<7}  " if matched else ""
            print(
                f"{clip.rank:>4}  {name:<{width}}  {span:<13}  {clip.score:>5.1f}  {signal}"
                f"{printable(thumbnail_location(settings, clip.thumbnail))}",
                file=out,
            )
    else:
        print("no clip scored at or above the minimum score", file=out)
    if result.recall is not None and result.recall.windows > result.recall.budget:
        print(recall_line(result), file=out)  # a job within its budget is a full scan
    _print_failures(result)
    print(f"result JSON: {printable(result_location(settings, result.job_id))}", file=out)


def recall_line(result: JobResult) -> str:
    """How many windows were reranked, and what recall ran (or why it scanned everything)."""
    summary = result.recall
    assert summary is not None
    line = f"reranked {summary.reranked} of {summary.windows} windows"
    if summary.signals:
        line += f" (recall {summary.budget}: {', '.join(summary.signals)})"
    if summary.note:
        line += f"; {summary.note}"
    return line


def print_index_result(result: JobResult, settings: Settings, out=sys.stdout) -> None:
    """An index job: what was indexed, then failures."""
    indexed = [v for v in result.videos if v.status == VideoState.succeeded]
    hours = sum(v.duration or 0.0 for v in indexed) / 3600.0
    print(
        f"job {printable(result.job_id)}: {result.status.value}; indexed {len(indexed)} of "
        f"{len(result.videos)} videos ({hours:.2f} h); later searches with scorer "
        f"{printable(result.scorer.name)}, fps {result.fps:g} and window {result.window:g} s "
        "reuse it",
        file=out,
    )
    _print_failures(result)


def _print_failures(result: JobResult) -> None:
    if result.error:
        print(f"failed: {printable(result.error)}", file=sys.stderr)
    for video in result.videos:
        if video.speech_error:
            print(f"speech not read: {printable(video.speech_error)}", file=sys.stderr)
    for video in result.videos:
        if video.error and video.error != result.error:
            print(f"failed: {printable(video.error)}", file=sys.stderr)


def print_cover(covers: CoverResult, out=sys.stdout) -> None:
    """One line per cover (rank, time, score, JPEG), then the scorer's note."""
    print(
        f"job {printable(covers.job_id)}: covers of {printable(covers.video)} for "
        f"{printable(repr(covers.title))}; scorer {printable(covers.scorer)}",
        file=out,
    )
    if not covers.picks:
        print("no frame was scored", file=out)
    else:
        print(f"{'rank':>4}  {'time':>8}  {'score':>5}  frame", file=out)
    for pick in covers.picks:
        when = f"{mmss(pick.time)}" if pick.time == int(pick.time) else f"{pick.time:.1f}s"
        print(
            f"{pick.rank:>4}  {when:>8}  {pick.score:>5.1f}  {printable(str(pick.path))}",
            file=out,
        )
    if covers.note:
        print(f"note: {covers.note}", file=out)


def print_status(status: JobStatus, out=sys.stdout) -> None:
    print(
        f"job {printable(status.job_id)}: {status.state.value}, "
        f"windows {status.windows_done}/{status.windows_total}",
        file=out,
    )
    for video in status.videos:
        done = f"{video.windows_done:>5}/{video.windows_total:<5}"
        line = f"  {video.state.value:<10} {done} {printable(video.video)}"
        if video.error:
            line += f"  error: {printable(video.error)}"
        print(line, file=out)


def _write_json(result: JobResult, path: Path | None) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(result.model_dump_json(indent=2))


def _exit_code(result: JobResult) -> int:
    return 1 if result.status in (JobState.failed,) else 0


def run(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = logging.StreamHandler()  # log messages name user files: escaped, one line each
    handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, handlers=[handler])
    settings = Settings()
    if args.command == "worker":
        from workers.launch import run_worker

        return run_worker(settings, args.queues, args.gpus, args.concurrency, args.loglevel)
    if args.command in ("queue-depth", "stats"):
        return run_operator_command(args, settings)
    if args.command == "transcript":
        from producer.transcripts import video_transcript, write_transcript

        found = video_transcript(open_store(settings), settings, args.video)
        text = write_transcript(found, args.format, args.out)
        if args.out is None:
            sys.stdout.write(text)
        else:
            print(f"{args.format} transcript written to {printable(str(args.out))}")
        return 0
    if args.command == "ui":
        from producer.ui.launch import run_ui

        return run_ui(settings, args.host, args.port)
    from producer.client import Client

    client = Client(settings)
    if args.command == "locate":
        job = client.submit(
            args.videos,
            **_job_kwargs(args),
            run_in_background=not client.embedded or not args.no_progress,
        )
        result = job.wait(progress=not args.no_progress)
        _write_json(result, args.json)
        print_result(result, settings)
        return _exit_code(result)
    if args.command == "index":
        job = client.index(
            args.videos,
            window=args.window,
            stride=args.stride,
            fps=args.fps,
            scorer=args.scorer,
            frame_pixels=args.frame_pixels,
            run_in_background=not client.embedded or not args.no_progress,
        )
        result = job.wait(progress=not args.no_progress)
        print_result(result, settings)
        return _exit_code(result)
    if args.command == "cover":
        covers = client.cover(
            args.video,
            args.title,
            top_k=args.top_k,
            min_gap=args.min_gap,
            scorer=args.scorer,
            out=args.out,
            fps=args.fps,
            progress=not args.no_progress,
        )
        print_cover(covers)
        return 0
    if args.command == "submit":
        job = client.submit(args.videos, **_job_kwargs(args), run_in_background=False)
        print(job.job_id)
        return 0
    if args.command == "status":
        print_status(client.job(args.job_id).status())
        return 0
    if args.command == "results":
        result = client.job(args.job_id).result()
        _write_json(result, args.json)
        print_result(result, settings)
        return _exit_code(result)
    if args.command == "export":
        text = client.job(args.job_id).export(args.format)
        if args.out is None:
            sys.stdout.write(text)
        else:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(text, encoding="utf-8")
            print(f"{args.format}: {args.out}", file=sys.stderr)
        return 0
    if args.command == "cancel":
        job = client.job(args.job_id)
        if job.cancel():
            print(f"job {args.job_id}: cancelled")
        else:
            print(f"job {args.job_id}: already finished ({job.result().status.value})")
        return 0
    if args.command == "resume":
        sent = client.job(args.job_id).resume()
        print(
            f"job {args.job_id}: {sent} steps re-enqueued"
            if sent
            else f"job {args.job_id}: already finished"
        )
        return 0
    raise AssertionError(args.command)


def run_operator_command(args: argparse.Namespace, settings: Settings, out=sys.stdout) -> int:
    """``queue-depth`` and ``stats``: read the broker and the store, never a worker."""
    from common.broker import broker_address
    from common.errors import InvalidInputError
    from common.fleet import read_fleet, read_queue_depths
    from common.storage import open_store

    if settings.embedded:
        raise InvalidInputError(
            "SEGLOCATE_BROKER_URL", "not set: embedded mode has no queues or workers"
        )
    if args.command == "queue-depth" and args.queue:
        print(read_queue_depths(settings, [args.queue])[args.queue], file=out)
        return 0
    if args.command == "queue-depth":
        depths = read_queue_depths(settings)
        waiting = read_fleet(settings, open_store(settings), with_broker=False).windows_waiting()
        print(f"{'queue':<24} {'messages':>9} {'windows waiting':>16}", file=out)
        for queue, messages in depths.items():
            scorer = queue.split(".", 1)[1] if "." in queue else None
            windows = str(waiting.get(scorer, 0)) if scorer else "-"
            print(f"{queue:<24} {messages:>9} {windows:>16}", file=out)
        return 0
    from producer.stats import print_stats

    print_stats(read_fleet(settings, open_store(settings)), broker_address(settings))
    return 0


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or "input"
        parts.append(f"{where}: {error['msg']}")
    return printable("; ".join(parts))


def main(argv: Sequence[str] | None = None) -> None:
    try:
        code = run(argv)
    except SeglocateError as exc:
        print(f"seglocate: error: {printable(exc)}", file=sys.stderr)
        code = 2
    except ValidationError as exc:
        print(f"seglocate: error: {_validation_message(exc)}", file=sys.stderr)
        code = 2
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)


if __name__ == "__main__":
    main()
