"""Token ids of prompt pieces, shared by Qwen3-VL-Reranker and Qwen3-VL-Embedding: text
pieces are tokenised once and kept (a query's text recurs in every pair, a slide's text over
many windows); vision markers map to their ids."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Protocol

from common.scorers.qwen3_vl_prompt import TextPiece

#: Distinct text pieces whose token ids are kept.
TEXT_CACHE_SIZE = 4096


class TokenizingModel(Protocol):
    """What encoding pieces needs of a loaded model (the reranker's or the embedder's)."""

    processor: Any
    marker_ids: dict[str, int]


class TokenCache:
    """Token ids of text pieces, tokenised once, the ``size`` most recently used kept."""

    def __init__(self, size: int = TEXT_CACHE_SIZE) -> None:
        self.size = size
        self._ids: OrderedDict[str, list[int]] = OrderedDict()

    def encode(self, loaded: TokenizingModel, pieces: Sequence[Any]) -> list[int]:
        """Token ids of ``pieces``: text tokenised without special tokens, markers by id."""
        texts = [piece.text for piece in pieces if isinstance(piece, TextPiece)]
        missing = list(dict.fromkeys(text for text in texts if text not in self._ids))
        if missing:
            encoded = loaded.processor.tokenizer(missing, add_special_tokens=False)["input_ids"]
            for text, text_ids in zip(missing, encoded, strict=True):
                self._ids[text] = list(text_ids)
        ids: list[int] = []
        for piece in pieces:
            if isinstance(piece, TextPiece):
                self._ids.move_to_end(piece.text)
                ids += self._ids[piece.text]
            else:
                ids += [loaded.marker_ids[piece.token]] * piece.count
        while len(self._ids) > self.size:
            self._ids.popitem(last=False)
        return ids
