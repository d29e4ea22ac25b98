"""A video file to its :class:`~common.speech.transcript.Transcript`: audio decoding, then ASR.

This is the whole speech step for one file; the pipeline caches its result per video content
hash (work bucket, :func:`common.keys.transcript`), and ``seglocate transcript`` calls it in
embedded mode.
"""

from __future__ import annotations

from pathlib import Path

from common.settings import Settings
from common.speech.asr import AsrModel, load_asr_model, resolve_model
from common.speech.audio import probe_audio, read_audio
from common.speech.transcript import AudioPresence, Transcript


def transcribe_file(
    path: Path, settings: Settings, name: str | None = None, model: AsrModel | None = None
) -> Transcript:
    """Everything spoken in ``path`` with word times (seconds from the start of the file).

    A file without an audio stream gives an empty transcript marked ``none`` without loading
    a model; a silent track gives an empty one marked ``silent``. Raises
    :class:`~common.errors.VideoError` for a missing or unreadable file,
    :class:`~common.errors.AudioError` (naming ``name`` or the path) for a corrupt audio stream
    or a refused format, and :class:`~common.speech.asr.SpeechUnavailableError` when no model
    can be loaded. ``model``: an already loaded model (default: the process's resident one for
    ``settings.asr_model``). It runs whatever ``settings.asr`` says: asking for a transcript is
    explicit.
    """
    stream = probe_audio(path, name)
    if stream is None:
        return Transcript(
            model=resolve_model(settings.asr_model).label,
            audio=AudioPresence.none,
            note="no audio stream: nothing to transcribe",
        )
    asr = model or load_asr_model(settings.asr_model)
    return asr.transcribe(read_audio(path, name))
