"""How many tokens one forward pass may hold, from free GPU memory and the model's size; pure.

A forward pass without a KV cache keeps, per token, a few hidden-state-wide tensors (the
residual stream, the normed input, attention in and out) and the MLP's three
intermediate-wide tensors alive at its peak, in the model's dtype; vision tokens cost their
four merged patches' worth of vision-tower activations on top. The weights are already
resident, so the free memory after loading is what activations may use, less a reserve for
the CUDA context, kernels' workspaces and allocator fragmentation.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Hidden-width tensors alive per token at the language model's peak (residual, normed
#: input, attention output, q/k/v, the final hidden state, one spare for copies).
HIDDEN_TENSORS = 8
#: Intermediate-width tensors alive per token in the MLP (gate, up, activated product).
INTERMEDIATE_TENSORS = 3
#: Patches merged into one language-model vision token (2x2).
PATCHES_PER_TOKEN = 4
#: Memory kept free for the CUDA context, workspaces and fragmentation, bytes.
RESERVE_BYTES = 2 * 2**30
#: Share of the remaining free memory activations may take.
HEADROOM = 0.7
#: Bounds of a derived budget, tokens.
MIN_BATCH_TOKENS = 2048
MAX_BATCH_TOKENS = 262_144


@dataclass(frozen=True)
class ModelWidths:
    """The sizes that set activation memory (from the model's config)."""

    hidden: int  #: language model hidden size
    intermediate: int  #: language model MLP size
    vision_hidden: int  #: vision tower hidden size
    vision_intermediate: int  #: vision tower MLP size

    @classmethod
    def from_config(cls, config: object) -> ModelWidths:
        """Widths of a ``Qwen3VLConfig`` (``text_config`` and ``vision_config``)."""
        text = config.text_config  # type: ignore[attr-defined]
        vision = config.vision_config  # type: ignore[attr-defined]
        return cls(
            hidden=text.hidden_size,
            intermediate=text.intermediate_size,
            vision_hidden=vision.hidden_size,
            vision_intermediate=vision.intermediate_size,
        )


def activation_bytes_per_token(widths: ModelWidths, dtype_bytes: int) -> int:
    """Peak activation bytes one token costs in a forward pass, counting every token as a
    vision token (the conservative case: windows are mostly vision tokens)."""
    language = HIDDEN_TENSORS * widths.hidden + INTERMEDIATE_TENSORS * widths.intermediate
    vision = PATCHES_PER_TOKEN * (
        HIDDEN_TENSORS * widths.vision_hidden + INTERMEDIATE_TENSORS * widths.vision_intermediate
    )
    return (language + vision) * dtype_bytes


def batch_token_budget(
    free_bytes: int,
    bytes_per_token: int,
    *,
    reserve_bytes: int = RESERVE_BYTES,
    headroom: float = HEADROOM,
    lower: int = MIN_BATCH_TOKENS,
    upper: int = MAX_BATCH_TOKENS,
) -> int:
    """Padded tokens per forward pass that fit in ``free_bytes`` of GPU memory.

    ``(free_bytes - reserve_bytes) * headroom / bytes_per_token``, kept within
    ``[lower, upper]`` (a pass that still runs out of memory is halved and retried).
    """
    if bytes_per_token <= 0:
        raise ValueError(f"bytes per token must be positive, got {bytes_per_token}")
    usable = max(0.0, (free_bytes - reserve_bytes) * headroom)
    return int(min(upper, max(lower, usable // bytes_per_token)))
