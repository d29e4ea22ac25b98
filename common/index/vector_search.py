"""Cosine search over window vectors: exact inner product on L2-normalised vectors (FAISS).

Chosen over LanceDB by ``benchmarks/bench_index_libraries.py`` (docs/benchmarks.md). The index
is FAISS's ``IndexScalarQuantizer`` with float16 codes: exact search (to float16 precision, the
precision vectors are stored in), half the memory of float32 and faster, since a single query is
bound by memory bandwidth. No training, so adding a video's rows is an append, and the index is
the same whatever order videos arrive in. Rows are numbered from 0 in the order they are added
(the library index keeps row == window ordinal).

On disk the rows live in an append-only float16 file (:class:`VectorFile`); a process that
opens the library copies it into the FAISS index as codes (float16 codes are the half floats
themselves), so opening costs a read of the file, not an encoding.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

#: Rows converted to float32 at a time when loading or adding (bounds the temporary copy).
ADD_CHUNK_ROWS = 65_536


class VectorIndex:
    """Exact top-k inner-product search over float16 rows of ``dims`` values."""

    def __init__(self, dims: int) -> None:
        import faiss

        self._faiss = faiss
        self.dims = dims
        self._index = faiss.IndexScalarQuantizer(
            dims, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT
        )

    @property
    def count(self) -> int:
        """Rows held."""
        return int(self._index.ntotal)

    def add(self, rows: np.ndarray) -> None:
        """Append rows (``(n, dims)``, float16 or float32, L2-normalised)."""
        if rows.ndim != 2 or rows.shape[1] != self.dims:
            raise ValueError(f"vectors: expected shape (n, {self.dims}), got {rows.shape}")
        for first in range(0, len(rows), ADD_CHUNK_ROWS):
            chunk = rows[first : first + ADD_CHUNK_ROWS]
            if chunk.dtype == np.float16:
                # The fp16 codes are the IEEE half floats themselves: a copy, no re-encoding.
                codes = np.ascontiguousarray(chunk).view(np.uint8).reshape(len(chunk), -1)
                self._index.add_sa_codes(codes)
            else:
                self._index.add(np.ascontiguousarray(chunk, dtype=np.float32))

    def search(
        self, query: np.ndarray, limit: int, allowed: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """The ``limit`` rows most similar to ``query`` as ``(row, cosine)``, best first.

        ``allowed`` is a boolean mask over rows (None: every row may be returned).
        """
        if query.shape != (self.dims,):
            raise ValueError(f"query vector: expected shape ({self.dims},), got {query.shape}")
        if limit < 1 or self.count == 0:
            return []
        params: Any = None
        if allowed is not None:
            if len(allowed) != self.count:
                raise ValueError(f"allowed mask: {len(allowed)} entries for {self.count} rows")
            if not allowed.any():
                return []
            bitmap = np.packbits(allowed.astype(np.uint8), bitorder="little")
            selector = self._faiss.IDSelectorBitmap(len(allowed), self._faiss.swig_ptr(bitmap))
            params = self._faiss.SearchParameters(sel=selector)  # type: ignore[call-arg]
        scores, rows = self._index.search(
            np.ascontiguousarray(query[None, :], dtype=np.float32), limit, params=params
        )
        return [(int(r), float(s)) for r, s in zip(rows[0], scores[0], strict=True) if r >= 0]


class VectorFile:
    """Append-only float16 rows of ``dims`` values in one file; the row count is the caller's."""

    def __init__(self, path: Path, dims: int) -> None:
        self.path = path
        self.dims = dims
        self._row_bytes = dims * np.dtype(np.float16).itemsize

    def rows_on_disk(self) -> int:
        """Complete rows in the file (a torn last append is not counted)."""
        return self.path.stat().st_size // self._row_bytes if self.path.exists() else 0

    def append(self, rows: np.ndarray, at_row: int) -> None:
        """Write ``rows`` starting at row ``at_row`` (anything after it is dropped first)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "ab") as handle:
            handle.truncate(at_row * self._row_bytes)
            handle.write(np.ascontiguousarray(rows, dtype=np.float16).tobytes())
            handle.flush()

    def read(self, rows: int) -> np.ndarray:
        """The first ``rows`` rows, memory-mapped (read-only)."""
        if rows == 0:
            return np.zeros((0, self.dims), dtype=np.float16)
        return np.memmap(self.path, dtype=np.float16, mode="r", shape=(rows, self.dims))
