"""Checks on files the browser sends: only files Gradio received as uploads, within the size limit.

Gradio 6 refuses, before an event runs, a file input that names a path outside its upload
folder, and ``launch(max_file_size=...)`` stops an upload over the limit while it streams in.
The events check again here, so the page never reads a server file even if that changes.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from common.errors import InvalidInputError


def upload_dir() -> Path:
    """Where Gradio stores uploads (``GRADIO_TEMP_DIR`` or ``$TMPDIR/gradio``), resolved."""
    folder = os.environ.get("GRADIO_TEMP_DIR") or str(Path(tempfile.gettempdir()) / "gradio")
    return Path(folder).resolve()


def check_uploaded_path(name: str, root: Path) -> Path:
    """``name`` resolved, if it is a regular file inside ``root``; else an error."""
    path = Path(name).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise InvalidInputError(f"upload {Path(name).name!r}", "not a file this page received")
    return path


def check_upload_size(path: Path, max_mb: int, label: str) -> None:
    """Refuse a file larger than ``max_mb`` megabytes (``SEGLOCATE_UI_MAX_UPLOAD_MB``)."""
    size = path.stat().st_size
    if size > max_upload_bytes(max_mb):
        raise InvalidInputError(
            f"{label} {path.name}",
            f"{size / 1024 / 1024:.0f} MB is over the page's limit of {max_mb} MB "
            "(SEGLOCATE_UI_MAX_UPLOAD_MB)",
        )


def max_upload_bytes(max_mb: int) -> int:
    """``SEGLOCATE_UI_MAX_UPLOAD_MB`` in bytes, for ``launch(max_file_size=...)``."""
    return max_mb * 1024 * 1024
