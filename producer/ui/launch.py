"""``seglocate ui``: serve the page on loopback unless told otherwise, with optional login."""

from __future__ import annotations

import ipaddress
import sys
import tempfile
from pathlib import Path

from common.errors import InvalidInputError
from common.settings import Settings
from producer.ui import import_gradio

#: Shown when the extra is missing.
INSTALL_HINT = "the web page needs the ui extra: pip install 'seglocate[ui]' (make demo does)"


def is_loopback(host: str) -> bool:
    """True for ``127.0.0.1``, ``::1``, ``localhost`` and the rest of 127.0.0.0/8."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_auth(value: str | None) -> tuple[str, str] | None:
    """``SEGLOCATE_UI_AUTH=user:password`` -> ``(user, password)``; None when unset."""
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise InvalidInputError("SEGLOCATE_UI_AUTH", "expected user:password")
    return user, password


def access_notice(host: str, port: int, auth: bool) -> tuple[str, str | None]:
    """(line for the page and the terminal, warning or None) about who can reach the page."""
    if is_loopback(host):
        return (
            f"Serving on http://{host}:{port}: this computer only "
            "(`seglocate ui --host 0.0.0.0` shares it on the network).",
            None,
        )
    line = f"Serving on {host}:{port}: reachable from the network."
    if auth:
        return line + " Login required (SEGLOCATE_UI_AUTH).", None
    return line, (
        f"WARNING: seglocate ui on {host}:{port} has no authentication: anyone who can reach "
        "this address can search and watch your videos. Set SEGLOCATE_UI_AUTH=user:password "
        "to require a login (and put it behind HTTPS)."
    )


def run_ui(settings: Settings, host: str, port: int) -> int:
    """Build the page on a :class:`Client` from ``settings`` and serve it until interrupted."""
    try:
        import_gradio()
    except ImportError:
        print(f"seglocate: error: {INSTALL_HINT}", file=sys.stderr)
        return 2
    from starlette.middleware import Middleware

    from producer.client import Client
    from producer.ui.callbacks import PageActions
    from producer.ui.layout import CSS, build_page, page_theme
    from producer.ui.routes import MediaFiles, SameOriginMiddleware, media_routes
    from producer.ui.uploads import max_upload_bytes

    auth = parse_auth(settings.ui_auth.get_secret_value() if settings.ui_auth else None)
    line, warning = access_notice(host, port, auth is not None)
    client = Client(settings)
    actions = PageActions(client, settings.ui_max_upload_mb)
    page = build_page(actions, settings.scorer, line)
    files = MediaFiles(client, Path(tempfile.mkdtemp(prefix="seglocate-ui-media-")))
    print(f"seglocate ui: {line}", file=sys.stderr)
    if warning:
        print(warning, file=sys.stderr)
    # Up to 4 searches at once; events are reachable through the queue only.
    page.queue(default_concurrency_limit=4, api_open=False)
    page.launch(
        server_name=host,
        server_port=port,
        auth=auth,
        max_file_size=max_upload_bytes(settings.ui_max_upload_mb),
        theme=page_theme(),
        css=CSS,
        footer_links=[],
        ssr_mode=False,  # no Node.js server next to the page
        mcp_server=False,
        enable_monitoring=False,
        pwa=False,
        share=False,
        quiet=True,
        prevent_thread_lock=True,
        app_kwargs={
            "routes": media_routes(files),
            "middleware": [Middleware(SameOriginMiddleware)],
        },
    )
    print(
        f"seglocate ui: open http://{'127.0.0.1' if host == '0.0.0.0' else host}:{port}",
        file=sys.stderr,
    )
    try:
        page.block_thread()
    except KeyboardInterrupt:
        pass
    finally:
        page.close()
    return 0
