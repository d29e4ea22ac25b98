"""A tiny, randomly initialised Qwen3-VL reranker built offline, for tests and dry runs.

:func:`save_tiny_reranker` writes a directory that ``Qwen3VLForConditionalGeneration`` and
``AutoProcessor`` load with ``from_pretrained`` exactly like the real weights: a 2-layer,
width-64 language model with a 2-layer, width-32 vision tower (patch 16, 2x2 merge, temporal
patch 2), a byte-level BPE tokenizer with Qwen's special tokens plus single-token ``yes`` and
``no``, a chat template that renders our messages as Qwen3-VL's does, and the Qwen2-VL image
and Qwen3-VL video processors combined in ``Qwen3VLProcessor``. About 1 MB, built in well
under a second; no network.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import (
    Qwen2TokenizerFast,
    Qwen2VLImageProcessor,
    Qwen3VLConfig,
    Qwen3VLForConditionalGeneration,
    Qwen3VLProcessor,
)
from transformers.models.qwen3_vl.video_processing_qwen3_vl import Qwen3VLVideoProcessor

#: Qwen's special tokens, in Qwen's order (the real ids start at 151643).
SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
#: Added tokens that are not special (``<think>`` and friends), as in Qwen's vocabulary.
ADDED_TOKENS = ("<tool_call>", "</tool_call>", "<think>", "</think>")

#: Qwen2's pre-tokenizer split (contractions, letters, single digits, punctuation, spaces).
QWEN_SPLIT_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)

#: Renders system/user/assistant messages as Qwen3-VL's template does (no tools branch).
CHAT_TEMPLATE = (
    "{%- if messages[0].role == 'system' %}"
    "{{- '<|im_start|>system\\n' }}"
    "{%- if messages[0].content is string %}{{- messages[0].content }}"
    "{%- else %}{%- for item in messages[0].content %}"
    "{%- if 'text' in item %}{{- item.text }}{%- endif %}"
    "{%- endfor %}{%- endif %}"
    "{{- '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- for message in messages %}"
    "{%- if message.role == 'user' or message.role == 'assistant' %}"
    "{{- '<|im_start|>' + message.role + '\\n' }}"
    "{%- if message.content is string %}{{- message.content }}"
    "{%- else %}{%- for item in message.content %}"
    "{%- if item.type == 'image' or 'image' in item %}"
    "{{- '<|vision_start|><|image_pad|><|vision_end|>' }}"
    "{%- elif item.type == 'video' or 'video' in item %}"
    "{{- '<|vision_start|><|video_pad|><|vision_end|>' }}"
    "{%- elif 'text' in item %}{{- item.text }}"
    "{%- endif %}"
    "{%- endfor %}{%- endif %}"
    "{{- '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)

#: Text the tokenizer learns merges from, so prompts cost roughly what they cost in Qwen.
_TRAINING_TEXT = (
    "system\nJudge whether the Document meets the requirements based on the Query and the "
    'Instruct provided. Note that the answer can only be "yes" or "no".',
    "user\n<Instruct>: Given a search query, retrieve relevant candidates that answer the query.",
    "Find the clip that corresponds to the described scene in the given video.",
    "<Query>:\n<Document>:NULL",
    "<0.5 seconds><2.5 seconds><4.5 seconds><1.0 seconds><3.0 seconds><5.0 seconds>",
    "the teacher draws a free-body diagram on the board",
    "a red car drives through the rain at night",
    "assistant\n",
    "yes\nno\nyes\nno\nyes\nno\nyes\nno",
)


def build_tokenizer(vocab_size: int = 600, omit: tuple[str, ...] = ()) -> Qwen2TokenizerFast:
    """A byte-level BPE tokenizer with Qwen's pre-tokenizer and special tokens.

    ``vocab_size`` is an upper bound: training stops when the small corpus has no more merges.
    Words in ``omit`` are left out of the training text, so they get no token of their own
    (a checkpoint the scorer must refuse).
    """
    core = Tokenizer(models.BPE())
    core.normalizer = normalizers.NFC()
    core.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN_SPLIT_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
        ]
    )
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=1,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    corpus = list(_TRAINING_TEXT)
    for word in omit:
        corpus = [line.replace(word, " ") for line in corpus]
    core.train_from_iterator(corpus * 4, trainer=trainer)
    tokenizer = Qwen2TokenizerFast(
        tokenizer_object=core,
        unk_token=None,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=list(SPECIAL_TOKENS[1:]),
    )
    tokenizer.add_tokens(list(ADDED_TOKENS))
    for word in ("yes", "no"):
        if word not in omit and len(tokenizer.encode(word, add_special_tokens=False)) != 1:
            raise AssertionError(f"tiny tokenizer: {word!r} is not a single token")
    return tokenizer


def build_processor(
    tokenizer: Qwen2TokenizerFast | None = None, chat_template: str = CHAT_TEMPLATE
) -> Qwen3VLProcessor:
    """Qwen2-VL image processor + Qwen3-VL video processor + tokenizer, as Qwen3-VL ships them."""
    common: dict[str, Any] = {
        "patch_size": 16,
        "temporal_patch_size": 2,
        "merge_size": 2,
        "image_mean": [0.5, 0.5, 0.5],
        "image_std": [0.5, 0.5, 0.5],
    }
    image_processor = Qwen2VLImageProcessor(
        size={"shortest_edge": 4 * 32 * 32, "longest_edge": 16384 * 32 * 32}, **common
    )
    video_processor = Qwen3VLVideoProcessor(
        size={"shortest_edge": 4 * 32 * 32, "longest_edge": 768 * 32 * 32}, **common
    )
    return Qwen3VLProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer or build_tokenizer(),
        video_processor=video_processor,
        chat_template=chat_template,
    )


def token_ids(tokenizer: Qwen2TokenizerFast) -> dict[str, int]:
    """The vision token ids a Qwen3-VL config must agree with."""
    ids = {
        "image_token_id": "<|image_pad|>",
        "video_token_id": "<|video_pad|>",
        "vision_start_token_id": "<|vision_start|>",
        "vision_end_token_id": "<|vision_end|>",
    }
    vocab = tokenizer.get_vocab()
    return {key: vocab[token] for key, token in ids.items()}


def tiny_config(tokenizer: Qwen2TokenizerFast) -> Qwen3VLConfig:
    """2 text layers of width 64, 2 vision layers of width 32; ids from ``tokenizer``."""
    text = {
        "vocab_size": len(tokenizer),
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 16,
        "max_position_embeddings": 32768,
        "rope_theta": 5_000_000.0,
        # mrope sections are halves of head_dim split over (time, height, width).
        "rope_scaling": {
            "rope_type": "default",
            "mrope_section": [4, 2, 2],
            "mrope_interleaved": True,
        },
        # Wider than Qwen's 0.02: random scores spread out, so comparisons mean something.
        "initializer_range": 0.2,
        "tie_word_embeddings": False,
    }
    vision = {
        "depth": 2,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_heads": 2,
        "patch_size": 16,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "out_hidden_size": 64,
        "num_position_embeddings": 64,
        "deepstack_visual_indexes": [0, 1],
        "initializer_range": 0.2,
    }
    return Qwen3VLConfig(
        text_config=text,
        vision_config=vision,
        tie_word_embeddings=False,
        **token_ids(tokenizer),
    )


def save_tiny_reranker(
    directory: Path,
    seed: int = 0,
    *,
    chat_template: str = CHAT_TEMPLATE,
    omit: tuple[str, ...] = (),
) -> Path:
    """Build the tiny model and processor and ``save_pretrained`` both into ``directory``.

    ``chat_template`` and ``omit`` (words left out of the vocabulary) build checkpoints that
    differ from the official one in the ways the scorer must refuse.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    processor = build_processor(build_tokenizer(omit=omit), chat_template)
    torch.manual_seed(seed)
    tokenizer: Qwen2TokenizerFast = processor.tokenizer  # type: ignore[attr-defined]
    model = Qwen3VLForConditionalGeneration(tiny_config(tokenizer)).eval()
    model.save_pretrained(directory, safe_serialization=True)
    processor.save_pretrained(directory)
    return directory
