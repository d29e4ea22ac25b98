"""The query-side library index: every indexed window of a library, searchable by BM25 and by
vector, built from the shards in the store and cached on the local disk of the process that
runs recall.

One index folder per *scope* (sampling, windowing, text source, embedders: everything of a shard
identity but the video), under the cache root. Its manifest lists the shard identities it holds;
windows are numbered (ordinals) video after video in the order videos were added. A recall for
a set of videos first :meth:`LibraryIndex.sync`\\ s: shards already held cost nothing (no store
read); missing ones are read from the store (one read per shard plus one per vector block) and
appended: the text index gets a new segment, each vector file grows, the manifest is replaced.
Nothing is rebuilt when a video is added. Searches are restricted to the job's videos, so one
cached index serves every job of the scope. :meth:`LibraryIndex.rebuild` makes it again from the
store at any time (the store is the source of truth); an index found inconsistent on open (a
crash between writes) is rebuilt the same way.

Processes on one host share the folder: updates hold an exclusive ``flock`` on ``lock``; every
process re-reads the manifest before it searches and loads only what it has not seen.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import uuid
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict

from common.index.shard import EmbedderIdentity, ShardIdentity
from common.index.shard_store import read_shard, read_vectors
from common.index.text_search import TextIndex
from common.index.vector_search import VectorFile, VectorIndex
from common.storage import ObjectStore

#: Version of the cached index layout; a folder of another version is rebuilt.
INDEX_VERSION = 1


class IndexScope(BaseModel):
    """What every shard of one library index shares: a shard identity without its video."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sampling_id: str
    window: float
    stride: float
    text_source: str
    embedders: tuple[EmbedderIdentity, ...] = ()

    @classmethod
    def of(cls, identity: ShardIdentity) -> IndexScope:
        return cls(
            sampling_id=identity.sampling_id,
            window=identity.window,
            stride=identity.stride,
            text_source=identity.text_source,
            embedders=identity.embedders,
        )

    def identity(self, content_hash: str) -> ShardIdentity:
        """The shard identity of one video in this scope."""
        return ShardIdentity(content_hash=content_hash, **self.model_dump())

    @property
    def tag(self) -> str:
        """Folder name of this scope's index under the cache root."""
        return self.identity("-").tag + "-" + self.sampling_id


class IndexedVideo(BaseModel):
    """One video in the index: its shard, its window ordinals ``[first, first + windows)``."""

    model_config = ConfigDict(extra="forbid")

    content_hash: str
    shard_id: str
    first: int
    windows: int


class IndexManifest(BaseModel):
    """``manifest.json`` of an index folder: which shards it holds, in ordinal order."""

    model_config = ConfigDict(extra="forbid")

    version: int = INDEX_VERSION
    scope: IndexScope
    #: Changes when the index is rebuilt: processes holding the old one reload it whole.
    generation: str
    videos: list[IndexedVideo] = []

    @property
    def docs(self) -> int:
        return self.videos[-1].first + self.videos[-1].windows if self.videos else 0


class ShardMissingError(LookupError):
    """A video has no shard in the store for this scope: index it first."""


@dataclass
class SyncReport:
    """What :meth:`LibraryIndex.sync` did."""

    #: Videos whose shards were read from the store and appended.
    added: list[str] = field(default_factory=list)
    #: Videos already in the index (no store read).
    present: list[str] = field(default_factory=list)


class LibraryIndex:
    """The cached query-side index of one scope; see the module docstring."""

    def __init__(self, cache_root: Path, scope: IndexScope, store: ObjectStore, bucket: str):
        self.scope = scope
        self.folder = Path(cache_root) / scope.tag
        self.folder.mkdir(parents=True, exist_ok=True)
        self.store = store
        self.bucket = bucket
        self._manifest = IndexManifest(scope=scope, generation="")
        self._text: TextIndex | None = None
        self._vectors: dict[str, VectorIndex] = {}
        self._slots: dict[str, int] = {}
        self._doc_slot = np.zeros(0, dtype=np.int32)
        self._doc_window = np.zeros(0, dtype=np.int32)
        with self._locked(exclusive=True):
            stored = self._read_manifest()
            if stored is None or not self._consistent(stored):
                self._reset([] if stored is None else [v.content_hash for v in stored.videos])
            self._refresh_locked()

    # -- reading -------------------------------------------------------------------------------

    @property
    def videos(self) -> list[str]:
        """Content hashes held, in ordinal order."""
        return [video.content_hash for video in self._manifest.videos]

    @property
    def doc_count(self) -> int:
        return self._manifest.docs

    def window_count(self, content_hash: str) -> int:
        return self._manifest.videos[self._slots[content_hash]].windows

    def window_of(self, ordinal: int) -> tuple[str, int]:
        """(content hash, window index in its video) of a window ordinal."""
        slot = int(self._doc_slot[ordinal])
        return self._manifest.videos[slot].content_hash, int(self._doc_window[ordinal])

    def search_text(
        self, query: str, limit: int, videos: Collection[str] | None = None
    ) -> list[tuple[int, float]]:
        """BM25: ``(ordinal, score)`` best first, among ``videos`` (None: all held)."""
        assert self._text is not None
        slots = self._slot_filter(videos)
        return self._text.search(query, limit, slots)

    def search_vectors(
        self,
        embedder: EmbedderIdentity,
        query: np.ndarray,
        limit: int,
        videos: Collection[str] | None = None,
    ) -> list[tuple[int, float]]:
        """Cosine: ``(ordinal, similarity)`` best first, among ``videos`` (None: all held)."""
        index = self._vectors[embedder.tag]
        slots = self._slot_filter(videos)
        mask = None
        if slots is not None:
            mask = np.zeros(index.count, dtype=bool)
            for slot in slots:
                video = self._manifest.videos[slot]
                mask[video.first : video.first + video.windows] = True
        return index.search(query, limit, mask)

    def _slot_filter(self, videos: Collection[str] | None) -> set[int] | None:
        if videos is None:
            return None
        unknown = [v for v in videos if v not in self._slots]
        if unknown:
            raise ShardMissingError(f"not in the index (sync first): {', '.join(unknown[:3])}")
        slots = {self._slots[v] for v in videos}
        return None if len(slots) == len(self._slots) else slots

    # -- updating ------------------------------------------------------------------------------

    def sync(self, content_hashes: Iterable[str]) -> SyncReport:
        """Make every video of ``content_hashes`` searchable, appending only missing shards.

        Raises :class:`ShardMissingError` (adding nothing) if a video has no stored shard.
        """
        wanted = list(dict.fromkeys(content_hashes))
        report = SyncReport()
        self.refresh()
        if all(h in self._slots for h in wanted):
            report.present = wanted
            return report
        with self._locked(exclusive=True):
            self._refresh_locked()
            missing = [h for h in wanted if h not in self._slots]
            report.present = [h for h in wanted if h in self._slots]
            self._check_stored(missing)
            self._append_locked(missing)
            report.added = missing
        return report

    def rebuild(self, content_hashes: Iterable[str] | None = None) -> None:
        """Make the index again from the store: ``content_hashes``, or the videos it held."""
        with self._locked(exclusive=True):
            self._reset(list(content_hashes) if content_hashes is not None else self.videos)
            self._refresh_locked()

    def refresh(self) -> None:
        """Load what other processes appended (or their rebuild) since this one last looked."""
        with self._locked(exclusive=False):
            self._refresh_locked()

    # -- internals -----------------------------------------------------------------------------

    def _reset(self, content_hashes: list[str]) -> None:
        """(Lock held.) Empty the folder and append ``content_hashes`` from the store."""
        for child in self.folder.iterdir():
            if child.name != "lock":
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        self._write_manifest(IndexManifest(scope=self.scope, generation=uuid.uuid4().hex))
        self._manifest = IndexManifest(scope=self.scope, generation="")
        self._text = None
        self._check_stored(content_hashes)
        self._refresh_locked()
        self._append_locked(content_hashes)

    def _check_stored(self, content_hashes: list[str]) -> None:
        """Raise :class:`ShardMissingError` unless every video has a stored shard (one stat
        each), so that an update adds all of them or none."""
        for content_hash in content_hashes:
            if not self.store.exists(self.bucket, self.scope.identity(content_hash).key):
                raise ShardMissingError(f"video {content_hash} has no shard for this scope")

    def _append_locked(self, content_hashes: list[str]) -> None:
        """(Lock held, in-memory state current.) Append videos' shards, read one at a time:
        vectors and text first, the manifest last."""
        if not content_hashes:
            return
        manifest = self._manifest.model_copy(deep=True)
        assert self._text is not None
        docs = manifest.docs
        for content_hash in content_hashes:
            shard = read_shard(self.store, self.bucket, self.scope.identity(content_hash))
            if shard is None:
                self._text.rollback()
                raise ShardMissingError(f"video {content_hash} has no shard for this scope")
            slot = len(manifest.videos)
            for block in shard.vectors:
                rows = read_vectors(self.store, self.bucket, shard, block)
                VectorFile(self._vector_path(block.embedder), block.embedder.dims).append(
                    rows, at_row=docs
                )
            self._text.add((docs + i, slot, window.text) for i, window in enumerate(shard.windows))
            manifest.videos.append(
                IndexedVideo(
                    content_hash=shard.content_hash,
                    shard_id=shard.shard_id,
                    first=docs,
                    windows=len(shard.windows),
                )
            )
            docs += len(shard.windows)
        self._text.commit()
        self._write_manifest(manifest)
        self._refresh_locked()

    def _refresh_locked(self) -> None:
        stored = self._read_manifest()
        if stored is None:
            raise RuntimeError(f"library index {self.folder}: manifest vanished")
        if stored.generation != self._manifest.generation:
            self._manifest = IndexManifest(scope=self.scope, generation=stored.generation)
            self._text = TextIndex(self.folder / "text")
            self._vectors = {e.tag: VectorIndex(e.dims) for e in self.scope.embedders}
        start = self._manifest.docs
        if stored.docs == start and self._text is not None:
            return
        assert self._text is not None
        self._text.reload()
        for embedder in self.scope.embedders:
            rows = VectorFile(self._vector_path(embedder), embedder.dims).read(stored.docs)
            self._vectors[embedder.tag].add(rows[start:])
        self._manifest = stored
        self._slots = {video.content_hash: slot for slot, video in enumerate(stored.videos)}
        counts = [video.windows for video in stored.videos]
        self._doc_slot = np.repeat(np.arange(len(counts), dtype=np.int32), counts)
        self._doc_window = np.concatenate(
            [np.arange(n, dtype=np.int32) for n in counts] or [np.zeros(0, dtype=np.int32)]
        )

    def _consistent(self, manifest: IndexManifest) -> bool:
        """True if the folder holds exactly what ``manifest`` says (no torn update)."""
        if manifest.version != INDEX_VERSION or manifest.scope != self.scope:
            return False
        try:
            if TextIndex(self.folder / "text").doc_count != manifest.docs:
                return False
        except (OSError, ValueError):
            return False
        return all(
            VectorFile(self._vector_path(e), e.dims).rows_on_disk() >= manifest.docs
            for e in self.scope.embedders
        )

    def _vector_path(self, embedder: EmbedderIdentity) -> Path:
        return self.folder / f"vectors-{embedder.tag}.f16"

    def _read_manifest(self) -> IndexManifest | None:
        path = self.folder / "manifest.json"
        try:
            return IndexManifest.model_validate_json(path.read_bytes())
        except FileNotFoundError:
            return None
        except ValueError:
            return None

    def _write_manifest(self, manifest: IndexManifest) -> None:
        tmp = self.folder / f".manifest-{uuid.uuid4().hex}.tmp"
        tmp.write_text(manifest.model_dump_json(), encoding="utf-8")
        os.replace(tmp, self.folder / "manifest.json")

    @contextmanager
    def _locked(self, exclusive: bool) -> Iterator[None]:
        with open(self.folder / "lock", "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


#: Library indexes this process has open, by (cache folder, scope): one per process, kept.
_OPEN: dict[tuple[str, str], LibraryIndex] = {}


def open_library_index(
    cache_root: Path, scope: IndexScope, store: ObjectStore, bucket: str
) -> LibraryIndex:
    """This process's library index for ``scope`` (opened once, then kept, like a resident
    model: its FAISS index lives in memory)."""
    key = (str(Path(cache_root).resolve()), scope.tag)
    index = _OPEN.get(key)
    if index is None:
        index = _OPEN[key] = LibraryIndex(cache_root, scope, store, bucket)
    return index
