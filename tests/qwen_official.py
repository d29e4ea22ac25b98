"""Pieces of the official Qwen3-VL-Embedding repository's code path (QwenLM/Qwen3-VL-Embedding
at 8ce3aab: ``qwen3_vl_reranker.py`` and ``qwen3_vl_embedding.py``, which build their inputs
alike), written here from reading it for ``tests/test_qwen3_vl_official.py`` and
``tests/test_qwen3_vl_embedding.py``."""

from __future__ import annotations

from typing import Any

from common.scorers.qwen3_vl_frames import IMAGE_MAX_PIXELS, IMAGE_MIN_PIXELS


def official_video_file(path: Any) -> dict[str, Any]:
    """A video file's content item: ``fps`` 1, at most 64 frames."""
    return {"type": "video", "video": "file://" + str(path), "fps": 1.0, "max_frames": 64}


def official_image(image: Any) -> dict[str, Any]:
    """An image's content item, within the official pixel bounds."""
    return {
        "type": "image",
        "image": image,
        "min_pixels": IMAGE_MIN_PIXELS,
        "max_pixels": IMAGE_MAX_PIXELS,
    }


def official_processor_inputs(processor: Any, conversations: list, **options: Any) -> Any:
    """Conversations through the chat template, qwen-vl-utils' ``process_vision_info`` and the
    processor (``do_resize=False``; ``options``: truncation and padding)."""
    from qwen_vl_utils import process_vision_info

    text = processor.apply_chat_template(conversations, tokenize=False, add_generation_prompt=True)
    images, videos, video_kwargs = process_vision_info(
        conversations, image_patch_size=16, return_video_kwargs=True, return_video_metadata=True
    )
    metadata = None
    if videos is not None:
        videos, metadata = (list(part) for part in zip(*videos, strict=True))
    return processor(
        text=text,
        images=images,
        videos=videos,
        video_metadata=metadata,
        do_resize=False,
        return_tensors="pt",
        **options,
        **video_kwargs,
    )
