"""Speech: what a video's audio says, with word times (ASR), offline on CPU.

``transcript`` (the stored model), ``audio`` (ffmpeg decoding of the audio track), ``asr``
(faster-whisper), ``transcribe`` (file to transcript), ``cache`` (one transcript per video
content and model, in the work bucket), ``subtitles`` (WebVTT, SRT, JSON) and ``boundaries``
(clip ends that follow the spoken sentence).
"""
