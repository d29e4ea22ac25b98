"""The official Qwen3-VL-Reranker checkpoints, pinned to known-good commits; torch-free.

The Hugging Face repositories were revised after release (a Sentence Transformers
integration added files in April 2026), and a later revision is reported to break
``AutoProcessor.from_pretrained`` (embeddings-benchmark/mteb pull request #5057). A hub id is
therefore loaded at a fixed commit unless ``SEGLOCATE_MODEL_REVISION`` says otherwise
(``main`` follows the branch). The commits are the ones the MTEB evaluation suite pins for
these models (mteb ``models/model_implementations/qwen3_vl_reranker.py`` in that pull
request); other evaluation users report running the official wrapper (AutoProcessor,
transformers 4.57.3, qwen-vl-utils 0.0.14) at the same commits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Checkpoint:
    """An official checkpoint and what the scorer expects of it."""

    model_id: str
    #: The known-good commit (40 hex digits) loaded by default.
    revision: str
    #: Vocabulary ids of the single tokens ``yes`` and ``no`` (the Qwen3 vocabulary's).
    yes_id: int = 9693
    no_id: int = 2152


#: Official checkpoints by hub id.
CHECKPOINTS = {
    checkpoint.model_id: checkpoint
    for checkpoint in (
        Checkpoint("Qwen/Qwen3-VL-Reranker-2B", "4bd860ac4f15ad1897a214615cccc700f8f71818"),
        Checkpoint("Qwen/Qwen3-VL-Reranker-8B", "b212dc8c91a8164aef1ea2de9c1a867611e75c04"),
    )
}

_SNAPSHOT = re.compile(r"(?:^|/)snapshots/([0-9a-f]{40})(?:/|$)")


def official_checkpoint(model_id: str) -> Checkpoint | None:
    """The official checkpoint named by ``model_id`` (a hub id), else ``None``."""
    return CHECKPOINTS.get(model_id)


def is_local(model_id: str) -> bool:
    """True if ``model_id`` names an existing local directory (not a hub id)."""
    return Path(model_id).expanduser().is_dir()


def revision_to_load(model_id: str, setting: str | None) -> str | None:
    """The revision to pass to ``from_pretrained`` for ``model_id``.

    A local directory has none. For a hub id: ``setting`` (``SEGLOCATE_MODEL_REVISION``) when
    given, else the official checkpoint's pinned commit, else ``None`` (the hub's default
    branch; a checkpoint we know nothing about).
    """
    if is_local(model_id):
        return None
    if setting and setting.strip():
        return setting.strip()
    checkpoint = official_checkpoint(model_id)
    return checkpoint.revision if checkpoint else None


def directory_revision(path: str) -> str | None:
    """The commit a local directory holds, when it says: a hub cache snapshot folder
    (``.../snapshots/<40 hex>/``); else ``None``."""
    match = _SNAPSHOT.search(str(Path(path).expanduser().resolve()))
    return match.group(1) if match else None
