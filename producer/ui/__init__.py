"""The web page: ``seglocate ui`` (Gradio, optional extra ``ui``).

- :mod:`producer.ui.launch`: the command: binding, login, warnings, server start.
- :mod:`producer.ui.layout`: the page's components and how events connect them.
- :mod:`producer.ui.callbacks`: what each event does, on :class:`producer.client.Client`.
- :mod:`producer.ui.formatting`: pure rendering of statuses, clip lists, the player, score curves.
- :mod:`producer.ui.routes`: video and thumbnail files for the page; the same-origin guard.
- :mod:`producer.ui.uploads`: checks on files the browser sends.
"""

from __future__ import annotations

import os
from types import ModuleType


def import_gradio() -> ModuleType:
    """``gradio`` with its analytics and version check off (no calls home); ImportError when
    the ``ui`` extra is missing."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    import gradio

    return gradio
