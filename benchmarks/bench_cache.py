"""Target 4: a second query on an already-ingested video skips decoding entirely."""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchmarks._util import Figure, print_table, timed, update_doc
from benchmarks.media import lecture_720p
from common.settings import Settings
from producer.client import Client


def first_and_second(scorer: str, store_dir: Path) -> tuple[float, float, dict, dict]:
    path, _ = lecture_720p(3)
    client = Client(Settings(data_dir=store_dir, broker_url=None, s3_endpoint=None))
    first, t_first = timed(lambda: _run(client, path, "free-body diagram", scorer))
    second, t_second = timed(lambda: _run(client, path, "conservation of energy", scorer))
    return t_first, t_second, first, second


def _run(client: Client, path: Path, query: str, scorer: str) -> dict:
    job = client.submit([path], query, scorer=scorer)
    job.wait(timeout=900)
    return dict(job._dispatcher.runner.ctx.counters)  # type: ignore[union-attr]


def main() -> list[Figure]:
    figures = []
    with tempfile.TemporaryDirectory() as tmp:
        for scorer in ("ocr", "null-benchmark"):
            t1, t2, _, c2 = first_and_second(scorer, Path(tmp) / scorer)
            decoded = c2.get("decodes", 0)
            figures += [
                Figure(f"{scorer}: first job (decode{', OCR' if scorer == 'ocr' else ''})",
                       t1, "s", "-", None),
                Figure(f"{scorer}: second job, other query", t2, "s", "-", None),
                Figure(f"{scorer}: first / second", t1 / t2, "x", "-", None),
                Figure(f"{scorer}: decodes in the second job", decoded, "", "0", decoded == 0),
            ]  # fmt: skip
    table = print_table("Cache: second query on an ingested video (target 4)", figures)
    update_doc(
        "bench_cache",
        table + "\n\n3-minute 720p lecture, embedded mode (same code as the workers). "
        "Measured by `python -m benchmarks.bench_cache`.",
    )
    return figures


if __name__ == "__main__":
    main()
