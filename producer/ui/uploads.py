"""Checks on files the browser sends: only files Gradio received as uploads, within the size limit.

Gradio 3's file components accept a server path from the browser (``is_file``) and copy it; the
page must never let a browser name a file on the server, so :class:`UploadedFiles` refuses any
path outside Gradio's upload folder before Gradio touches it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from common.errors import InvalidInputError
from producer.ui import import_gradio


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
    if size > max_mb * 1024 * 1024:
        raise InvalidInputError(
            f"{label} {path.name}",
            f"{size / 1024 / 1024:.0f} MB is over the page's limit of {max_mb} MB "
            "(SEGLOCATE_UI_MAX_UPLOAD_MB)",
        )


def safe_file_component(**kwargs: Any):
    """A ``gr.File`` that accepts only files uploaded through the page (see module docstring)."""
    gr = import_gradio()

    class UploadedFiles(gr.File):
        def get_block_name(self) -> str:  # the browser draws it as a plain File
            return "file"

        def preprocess(self, x):  # type: ignore[override]
            if x is not None:
                root = upload_dir()
                for item in x if isinstance(x, list) else [x]:
                    if item.get("is_file"):
                        check_uploaded_path(str(item.get("name", "")), root)
            return super().preprocess(x)

    return UploadedFiles(**kwargs)
