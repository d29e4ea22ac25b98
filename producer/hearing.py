"""The speech part of ingest: what is said in a video, transcribed once per content hash.

It runs on the cpu queue inside the ingest step, right after the frames: the audio is decoded
from the same local copy of the video the sampler reads (one fetch from the store), and the
ASR model (about 400 MB) loads once per cpu worker process. A video whose audio cannot be read
(a corrupt stream) keeps its frames: the error is recorded beside its result, and the video is
still searched by what it shows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from common import keys
from common.errors import AudioError
from common.pipeline import PipelineContext
from common.schemas import SpeechSummary, VideoRecord
from common.storage import read_model_or_none

log = logging.getLogger(__name__)


def summary_of(transcript: object) -> SpeechSummary:
    """What a result says of a transcript: model, audio, language, how many words."""
    from common.speech.transcript import Transcript

    assert isinstance(transcript, Transcript)
    return SpeechSummary(
        model=transcript.model,
        audio=str(transcript.audio),
        language=transcript.language,
        english_only=transcript.english_only,
        words=len(transcript.words),
        note=transcript.note or None,
    )


def hear_video(
    ctx: PipelineContext,
    record: VideoRecord,
    content_hash: str,
    name: str,
    local_path: Callable[[], Path],
) -> None:
    """Fill ``record``'s transcript key and speech summary (or speech error): the stored
    transcript of this content and model, else ``local_path()`` transcribed now and stored.

    Counts ``transcriptions`` when it runs the model (a second job on the video never does).
    """
    from common.speech.asr import asr_cache_id
    from common.speech.cache import transcript_for
    from common.speech.transcript import Transcript

    settings = ctx.settings
    key = keys.transcript(asr_cache_id(settings.asr_model), content_hash)
    transcript = read_model_or_none(ctx.store, settings.work_bucket, key, Transcript)
    if transcript is None:
        try:
            transcript, transcribed = transcript_for(
                ctx.store, settings, content_hash, local_path(), name=name
            )
        except AudioError as exc:
            record.transcript_key, record.speech, record.speech_error = None, None, str(exc)
            log.warning("speech of %s not read: %s", name, exc)
            return
        if transcribed:
            ctx.count("transcriptions")
            log.info("transcribed %s: %d words", name, len(transcript.words))
    record.transcript_key = key
    record.speech = summary_of(transcript)
    record.speech_error = None
