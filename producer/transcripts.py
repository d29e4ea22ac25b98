"""``seglocate transcript VIDEO``: what is said in a video, as subtitles or JSON.

The transcript comes from the store when this content was transcribed before (by any job or an
earlier call, with the configured model); otherwise the video is transcribed here, once, and the
transcript is stored for every later job. Subtitles for free.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from common import keys
from common.errors import InvalidInputError, ObjectNotFoundError, VideoError
from common.settings import Settings
from common.storage import ObjectStore, read_model_or_none
from common.video import content_hash

if TYPE_CHECKING:
    from common.speech.transcript import Transcript

#: Formats of ``seglocate transcript --format``.
TRANSCRIPT_FORMATS = ("vtt", "srt", "json")


def video_transcript(store: ObjectStore, settings: Settings, video: str) -> Transcript:
    """The transcript of ``video`` (a local file, or an object key in the videos bucket)."""
    from common.speech.cache import stored_transcript, transcript_for

    path = Path(video)
    if path.is_file():
        digest = content_hash(path)
        cached = stored_transcript(store, settings, digest)
        if cached is not None:
            return cached
        transcript, _ = transcript_for(store, settings, digest, path, name=video)
        return transcript
    try:
        keys.check_key(video)
        info = store.stat(settings.videos_bucket, video)
    except (InvalidInputError, ObjectNotFoundError):
        raise VideoError(video, "file not found (neither a local file nor an object key)") from None
    known = _known_hash(store, settings, video, info.etag, info.size)
    if known is not None:
        cached = stored_transcript(store, settings, known)
        if cached is not None:
            return cached
    with tempfile.TemporaryDirectory(prefix="seglocate-transcript-") as tmp:
        local = Path(tmp) / (Path(video).name or "video")
        store.get_file(settings.videos_bucket, video, local)
        transcript, _ = transcript_for(store, settings, content_hash(local), local, name=video)
        return transcript


def _known_hash(
    store: ObjectStore, settings: Settings, key: str, etag: str, size: int
) -> str | None:
    """The content hash the producer recorded for this object, while it is unchanged."""
    from producer.ingest import ObjectIdentity

    identity_key = keys.object_identity(settings.videos_bucket, key)
    known = read_model_or_none(store, settings.work_bucket, identity_key, ObjectIdentity)
    if known is not None and known.etag == etag and known.size == size:
        return known.content_hash
    return None


def write_transcript(transcript: Transcript, fmt: str, out: Path | None) -> str:
    """The transcript as ``fmt`` text, also written to ``out`` when given."""
    from common.speech.subtitles import format_transcript

    text = format_transcript(transcript, fmt)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    return text
