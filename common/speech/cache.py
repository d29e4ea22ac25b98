"""The speech step's cache: one transcript per (video content hash, ASR model), in the work
bucket, so a video is transcribed once whatever the number of queries or jobs."""

from __future__ import annotations

from pathlib import Path

from common import keys
from common.settings import Settings
from common.speech.asr import AsrModel, asr_cache_id
from common.speech.transcribe import transcribe_file
from common.speech.transcript import Transcript
from common.storage import ObjectStore, read_model_or_none, write_model


def transcript_key(settings: Settings, content_hash: str) -> str:
    """Work-bucket key of the transcript of ``content_hash`` by ``settings.asr_model``."""
    return keys.transcript(asr_cache_id(settings.asr_model), content_hash)


def stored_transcript(
    store: ObjectStore, settings: Settings, content_hash: str
) -> Transcript | None:
    """The cached transcript of this content by the configured model, or None."""
    key = transcript_key(settings, content_hash)
    return read_model_or_none(store, settings.work_bucket, key, Transcript)


def transcript_for(
    store: ObjectStore,
    settings: Settings,
    content_hash: str,
    path: Path,
    name: str | None = None,
    model: AsrModel | None = None,
) -> tuple[Transcript, bool]:
    """(transcript, transcribed): the stored transcript of ``content_hash``, or ``path``
    transcribed now (:func:`transcribe_file`) and stored. ``transcribed`` is False on a cache
    hit. Errors (a corrupt audio stream, no model) are raised, never stored."""
    cached = stored_transcript(store, settings, content_hash)
    if cached is not None:
        return cached, False
    transcript = transcribe_file(path, settings, name=name, model=model)
    write_model(store, settings.work_bucket, transcript_key(settings, content_hash), transcript)
    return transcript, True
