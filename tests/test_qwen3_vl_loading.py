"""Loading Qwen3-VL-Reranker: pinned revisions, refused checkpoints, running out of memory.

Checkpoints that differ from the official one are tiny models built with a wrong chat
template or without a ``yes`` token; the hub-id path runs against a hub cache laid out on disk
(offline), in a subprocess so its cache location is read at import.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"

import numpy as np
import pytest
import torch
from PIL import Image

from common.scorers.base import LoadedQuery, SampledFrame, WindowInput
from common.scorers.qwen3_vl import Qwen3VLScorer, ScorerLoadError
from common.scorers.qwen3_vl_checkpoints import CHECKPOINTS
from tests.qwen_tiny import CHAT_TEMPLATE, save_tiny_reranker

REPO_ROOT = Path(__file__).resolve().parents[1]


def window(seed: int, count: int = 6) -> WindowInput:
    rng = np.random.default_rng(seed)
    frames = [
        SampledFrame(
            index=i,
            time=float(i),
            image=Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)),
        )
        for i in range(count)
    ]
    return WindowInput(start=0.0, end=float(count), frame_indices=list(range(count)), frames=frames)


# --- refused checkpoints -----------------------------------------------------------------------


def test_a_chat_template_with_a_think_block_is_refused_naming_what_differs(tmp_path: Path) -> None:
    thinking = CHAT_TEMPLATE.replace(
        "'<|im_start|>assistant\\n'", "'<|im_start|>assistant\\n<think>\\n\\n</think>\\n\\n'"
    )
    assert thinking != CHAT_TEMPLATE
    directory = save_tiny_reranker(tmp_path / "thinking", chat_template=thinking)
    with pytest.raises(ScorerLoadError) as caught:
        Qwen3VLScorer(str(directory)).load()
    message = str(caught.value)
    assert str(directory) in message and "chat template" in message and "<think>" in message


def test_a_reranker_native_template_with_query_and_document_roles_is_refused(
    tmp_path: Path,
) -> None:
    native = (
        "<|im_start|>system\nJudge.<|im_end|>\n<|im_start|>user\n<Query>:"
        "{{ messages | selectattr('role', 'eq', 'query') | map(attribute='content') | first }}"
        "<|im_end|>\n<|im_start|>assistant\n"
    )
    directory = save_tiny_reranker(tmp_path / "native", chat_template=native)
    with pytest.raises(ScorerLoadError, match="differently from Qwen3-VL's"):
        Qwen3VLScorer(str(directory)).load()


def test_a_tokenizer_without_a_yes_token_is_refused(tmp_path: Path) -> None:
    directory = save_tiny_reranker(tmp_path / "no-yes", omit=("yes",))
    with pytest.raises(ScorerLoadError, match=r"no single token for yes"):
        Qwen3VLScorer(str(directory)).load()


def test_a_hub_snapshot_directory_records_its_commit(tmp_path: Path) -> None:
    commit = "0123456789abcdef0123456789abcdef01234567"
    directory = save_tiny_reranker(tmp_path / "models--me--reranker" / "snapshots" / commit)
    scorer = Qwen3VLScorer(str(directory))
    scorer.load()
    assert scorer.info.revision == commit


HUB_SCRIPT = """
import sys
from pathlib import Path
from tests.qwen_tiny import save_tiny_reranker
from common.scorers.qwen3_vl import Qwen3VLScorer, ScorerLoadError

model_id, pinned, cache = sys.argv[1], sys.argv[2], Path(sys.argv[3])
name = "models--" + model_id.replace("/", "--")
save_tiny_reranker(cache / name / "snapshots" / pinned)
for revision in (None, "f" * 40):
    try:
        Qwen3VLScorer(model_id, revision=revision, device="cpu").load()
        print("LOADED", revision)
    except ScorerLoadError as exc:
        print("REFUSED", exc)
"""


@pytest.mark.slow
def test_an_official_hub_id_loads_its_pinned_commit_and_a_wrong_revision_is_refused(
    tmp_path: Path,
) -> None:
    model_id = "Qwen/Qwen3-VL-Reranker-2B"
    pinned = CHECKPOINTS[model_id].revision
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1"}
    env["PYTHONPATH"] = str(REPO_ROOT)
    run = subprocess.run(
        [sys.executable, "-c", HUB_SCRIPT, model_id, pinned, str(tmp_path / "hub")],
        capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=300,
    )  # fmt: skip
    lines = [line for line in run.stdout.splitlines() if line.startswith(("LOADED", "REFUSED"))]
    assert len(lines) == 2, run.stdout + run.stderr
    # The pinned commit was found in the cache by its hash (nothing else is there) and loaded;
    # the tiny model's vocabulary then fails the official checkpoint's yes/no ids.
    assert lines[0] == (
        f"REFUSED qwen3-vl model {model_id!r} (revision {pinned}): its tokenizer gives 'yes' "
        f"the id {lines[0].split('the id ')[1].split(';')[0]}; the official checkpoint's is 9693"
    )
    assert lines[1].startswith(f"REFUSED qwen3-vl model {model_id!r} (revision {'f' * 40}): ")
    assert "cannot load" in lines[1]


# --- running out of memory ---------------------------------------------------------------------


class LimitedScorer(Qwen3VLScorer):
    """Runs out of memory, as a GPU would, in any forward pass of more than ``limit`` pairs."""

    limit = 2

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.passes: list[int] = []

    def _forward(self, loaded, inputs):  # type: ignore[no-untyped-def]
        rows = int(inputs["input_ids"].shape[0])
        self.passes.append(rows)
        if rows > self.limit:
            raise torch.OutOfMemoryError(f"{rows} pairs do not fit")
        return super()._forward(loaded, inputs)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_reranker(tmp_path_factory.mktemp("qwen3-vl-tiny-loading"))


def test_a_batch_that_runs_out_of_memory_is_halved_and_no_pair_is_lost_or_scored_twice(
    tiny_dir: Path,
) -> None:
    windows = [window(seed) for seed in range(7)]
    query = LoadedQuery(text="a red car")
    reference = Qwen3VLScorer(str(tiny_dir), frame_pixels="4096", max_batch_pairs=1)
    expected = reference.score_windows(query, windows, None)
    limited = LimitedScorer(str(tiny_dir), frame_pixels="4096", max_batch_tokens=100_000)
    scores = limited.score_windows(query, windows, None)
    assert scores == pytest.approx(expected, abs=1e-4)  # same pairs, same order
    stats = limited.last_stats
    assert stats.pairs == stats.scored_rows == 7  # every pair scored once
    assert sum(rows for rows in limited.passes if rows <= 2) == 7
    assert limited.passes[0] == 7 and stats.out_of_memory >= 1
    assert stats.batches == len([rows for rows in limited.passes if rows <= 2])
    # Later calls plan smaller batches from the halved budget.
    assert limited.max_batch_tokens < 100_000


def test_a_single_pair_that_runs_out_of_memory_is_not_retried(tiny_dir: Path) -> None:
    limited = LimitedScorer(str(tiny_dir), frame_pixels="4096", max_batch_pairs=1)
    limited.limit = 0
    with pytest.raises(torch.OutOfMemoryError):
        limited.score_windows(LoadedQuery(text="q"), [window(1)], None)
    assert limited.passes == [1]


def test_without_cuda_the_batch_budget_is_the_cpu_default(tiny_dir: Path) -> None:
    scorer = Qwen3VLScorer(str(tiny_dir), device="cpu")
    scorer.load()
    assert scorer.max_batch_tokens == 8192
