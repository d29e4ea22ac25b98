"""The real page in a real browser: ``seglocate ui`` (embedded) driven by headless Chromium.

Debian's Chromium (``/usr/bin/chromium``, installed by ``make test``) through Playwright; the
browser may only reach the page (every other request is aborted). Screenshots are kept in
``.test-artifacts/ui/`` (or ``$SEGLOCATE_TEST_ARTIFACTS/ui/``).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from common.schemas import JobResult, JobState
from infra.services import free_port
from producer.cli import mmss

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--autoplay-policy=no-user-gesture-required", "--mute-audio",
]  # fmt: skip
#: Seconds the page may take to find the moment in the 72 s test lecture (OCR on 2 cores).
SEARCH_TIMEOUT_S = 240
#: The status line's text (Gradio 6 puts a Markdown's elem_id on its block).
STATUS = "#seglocate-status [data-testid=markdown]"
EMPTY_QUERY_MESSAGE = "query: empty (give a text, an image or a video clip)"
#: Gradio 6's upload route.
UPLOAD = "/gradio_api/upload"


def artifacts_dir() -> Path:
    root = Path(os.environ.get("SEGLOCATE_TEST_ARTIFACTS", REPO / ".test-artifacts"))
    folder = root / "ui"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class PageServer:
    """``seglocate ui`` in a subprocess on a free loopback port, embedded, with its own store."""

    def __init__(self, folder: Path, extra_env: dict[str, str] | None = None) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SEGLOCATE_")},
            "SEGLOCATE_DATA_DIR": str(folder / "store"),
            "SEGLOCATE_UI_MAX_UPLOAD_MB": "5",
            "GRADIO_TEMP_DIR": str(folder / "gradio"),
            "HF_HUB_OFFLINE": "1",
            **(extra_env or {}),
        }
        self.log = folder / "ui.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 90) -> PageServer:
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "producer.cli", "ui", "--port", str(self.port)],
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"seglocate ui exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"seglocate ui not up after {timeout}s: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[PageServer]:
    page_server = PageServer(tmp_path_factory.mktemp("ui")).start()
    yield page_server
    page_server.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), "Debian's chromium is missing (make test installs it)"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    outside: list[str] = []

    def only_the_page(route) -> None:
        if route.request.url.startswith(server.url):
            route.continue_()
        else:  # the page must work offline: no CDN, no fonts, no analytics
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_the_page)
    page.goto(server.url + "/")
    page.wait_for_selector("#seglocate-find", timeout=60_000)
    yield page
    context.close()
    assert outside == [], f"the page asked for outside resources: {outside}"


def read_result(server: PageServer, job_id: str) -> JobResult:
    path = server.folder / "store" / "results" / job_id / "result.json"
    return JobResult.model_validate_json(path.read_text())


def job_id_on_page(page) -> str:
    return page.locator(STATUS + " code").last.inner_text()


def test_a_newcomer_uploads_a_lecture_finds_the_moment_and_watches_it(page, server, lecture):
    path, spans = lecture
    truth = next(s for s in spans if s.title == "Free-Body Diagrams")
    page.locator("input[type=file]").first.set_input_files(str(path))
    page.wait_for_selector("text=lecture.mp4")
    page.fill("#seglocate-query textarea", "free-body diagram")
    page.click("#seglocate-find")
    page.wait_for_selector(".seglocate-clip", timeout=SEARCH_TIMEOUT_S * 1000)

    result = read_result(server, job_id_on_page(page))
    best = result.clips[0]
    assert truth.start - 1 <= best.start < best.end <= truth.end + 1, (best, truth)
    first = page.locator(".seglocate-clip").first
    span = first.locator(".seglocate-span").inner_text()
    assert span == f"{mmss(best.start)}–{mmss(best.end)}"
    assert first.locator(".seglocate-video").inner_text() == "lecture.mp4"
    assert first.locator("img").evaluate("img => img.complete && img.naturalWidth > 0")

    first.click()
    page.wait_for_function(
        "() => { const v = document.getElementById('seglocate-player');"
        " return v && v.readyState >= 1 && !v.seeking && v.currentTime > 0; }",
        timeout=30_000,
    )
    now = page.evaluate("document.getElementById('seglocate-player').currentTime")
    assert best.start - 0.05 <= now <= best.start + 2.0, (now, best.start)
    page.evaluate("document.getElementById('seglocate-player').pause()")
    downloads = page.locator("#seglocate-downloads tbody tr").evaluate_all(
        "rows => rows.map(r => [r.querySelector('.stem').textContent.trim()"
        " + r.querySelector('.ext').textContent.trim(), r.querySelector('a[href]').href])"
    )
    names = [name for name, _ in downloads]
    assert names == [f"{result.job_id}{s}" for s in (".json", ".jsonl", ".vtt", ".edl", ".csv")]
    downloaded = httpx.get(downloads[0][1])  # the result JSON, from the page's own link
    assert downloaded.status_code == 200
    assert JobResult.model_validate_json(downloaded.content) == result
    assert page.locator(STATUS).inner_text().startswith("Done: 1 clip")
    page.screenshot(path=str(artifacts_dir() / "found-and-playing.png"), full_page=True)


def test_an_empty_query_is_refused_with_the_clis_message_and_no_trace(page, lecture):
    cli = subprocess.run(
        [sys.executable, "-m", "producer.cli", "locate", str(lecture[0]), "--scorer", "ocr"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={k: v for k, v in os.environ.items() if not k.startswith("SEGLOCATE_")},
    )
    assert cli.returncode == 2
    assert cli.stderr == f"seglocate: error: {EMPTY_QUERY_MESSAGE}\n"
    page.click("#seglocate-find")
    status = page.locator(STATUS)
    status.locator("text=Error:").wait_for(timeout=30_000)
    assert status.inner_text() == f"Error: {EMPTY_QUERY_MESSAGE}"
    body = page.inner_text("body")
    assert "Traceback" not in body and 'File "' not in body
    page.screenshot(path=str(artifacts_dir() / "empty-query.png"))


def test_progress_shows_live_and_cancel_stops_the_job(page, server, lecture):
    page.locator("input[type=file]").first.set_input_files(str(lecture[0]))
    page.wait_for_selector("text=lecture.mp4")
    page.fill("#seglocate-query textarea", "free-body diagram")
    page.click("text=Advanced options")
    page.fill("#seglocate-fps input", "2")  # twice the frames: about 15 s of scoring to cancel
    page.click("#seglocate-find")
    status = page.locator(STATUS)
    status.locator("text=windows (").wait_for(timeout=120_000)
    progress = status.inner_text()
    assert re.match(r"(Waiting to start|Searching): \d+ of \d+ windows \(\d+%\)\n", progress)
    assert re.search(r"^lecture\.mp4: \w+", progress, re.MULTILINE), progress
    job_id = job_id_on_page(page)
    page.click("#seglocate-cancel")
    status.locator("text=Cancelled").wait_for(timeout=30_000)
    assert status.inner_text().startswith("Cancelled: "), status.inner_text()
    assert read_result(server, job_id).status == JobState.cancelled


def test_a_job_from_the_python_client_is_listed_and_reopens(page, server, tmp_path):
    from common.settings import Settings
    from producer.client import Client
    from tests import media

    clip = media.testsrc_clip(tmp_path / "short.mp4", 6)
    settings = Settings(data_dir=server.folder / "store", broker_url=None, s3_endpoint=None)
    job = Client(settings).submit([clip], "anything", scorer="null-benchmark", min_score=0)
    result = job.wait(timeout=120)
    assert result.clips

    page.click("text=Recent jobs")
    page.click("text=Refresh lists")
    page.locator("#seglocate-recent input").click()
    page.locator(f"li:has-text('{job.job_id}')").first.click()
    page.click("#seglocate-reopen")
    page.wait_for_selector(".seglocate-clip", timeout=30_000)
    assert job_id_on_page(page) == job.job_id
    first_span = page.locator(".seglocate-clip .seglocate-span").first.inner_text()
    assert first_span == f"{mmss(result.clips[0].start)}–{mmss(result.clips[0].end)}"


def test_the_server_refuses_other_sites_server_files_and_oversized_uploads(server):
    assert httpx.get(server.url + "/config").status_code == 200
    other_site = {"Origin": "http://evil.example"}
    assert httpx.get(server.url + "/config", headers=other_site).status_code == 403
    # Gradio answers an upload sent by another site (a plain form post) unless refused first.
    sent = httpx.post(server.url + UPLOAD, headers=other_site, files={"files": ("x.mp4", b"x")})
    assert sent.status_code == 403
    assert not list((server.folder / "gradio").rglob("x.mp4"))
    # Files next to the server (the repository here) are not served.
    for path in (f"/gradio_api/file={REPO / 'README.md'}", "/gradio_api/file=README.md"):
        assert httpx.get(server.url + path).status_code == 403, path
    big = b"\0" * (7 * 1024 * 1024)  # the server runs with SEGLOCATE_UI_MAX_UPLOAD_MB=5
    upload = httpx.post(server.url + UPLOAD, files={"files": ("big.mp4", big)})
    assert upload.status_code == 413
    assert upload.text == f"File size exceeded maximum allowed size of {5 * 1024 * 1024} bytes."
    assert not list((server.folder / "gradio").rglob("big.mp4"))
    assert httpx.get(server.url + "/seglocate/video/no-such-job/0").status_code == 404


def test_the_page_refuses_an_upload_over_the_limit_before_sending_it(page, server, tmp_path):
    big = tmp_path / "big.mp4"
    big.write_bytes(b"\0" * (6 * 1024 * 1024))  # the server runs with SEGLOCATE_UI_MAX_UPLOAD_MB=5
    uploads: list[str] = []
    page.on("request", lambda r: uploads.append(r.url) if r.method == "POST" else None)
    page.locator("input[type=file]").first.set_input_files(str(big))
    toast = page.locator("text=exceed the maximum allowed size of 5.0 Mb")
    toast.wait_for(timeout=10_000)
    assert '"big.mp4"' in toast.inner_text()
    assert not [url for url in uploads if url.endswith(UPLOAD)]
    assert not list((server.folder / "gradio").rglob("big.mp4"))


def test_an_event_naming_a_server_file_as_an_upload_is_refused(server):
    """A browser crafts the Find event with /etc/passwd as its uploaded video."""
    config = httpx.get(server.url + "/config").json()
    find = next(
        c["id"] for c in config["components"] if c["props"].get("elem_id") == "seglocate-find"
    )
    event = next(d for d in config["dependencies"] if [find, "click"] in map(list, d["targets"]))
    types = [next(c["type"] for c in config["components"] if c["id"] == i) for i in event["inputs"]]
    assert types[0] == "file"
    server_file = {"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}}
    data = [[server_file], [], "free-body diagram", None, None, "", 1, 5, 0, 5, 10, "ocr"]
    jobs_before = sorted((server.folder / "store").rglob("spec.json"))
    joined = httpx.post(
        server.url + "/gradio_api/queue/join",
        json={"data": data, "fn_index": event["id"], "session_hash": "crafted01",
              "event_data": None, "trigger_id": find},
    )  # fmt: skip
    assert joined.status_code == 200, joined.text
    messages = []
    with httpx.stream(
        "GET", server.url + "/gradio_api/queue/data", params={"session_hash": "crafted01"},
        timeout=60,
    ) as stream:  # fmt: skip
        for line in stream.iter_lines():
            if line.startswith("data:"):
                messages.append(json.loads(line[5:]))
                if messages[-1].get("msg") == "process_completed":
                    break
    assert messages[-1]["msg"] == "process_completed"
    assert messages[-1]["success"] is False
    assert "root:" not in json.dumps(messages)
    assert sorted((server.folder / "store").rglob("spec.json")) == jobs_before


def test_with_a_login_set_the_page_and_its_videos_need_it(tmp_path):
    server = PageServer(tmp_path, {"SEGLOCATE_UI_AUTH": "teacher:chalk"}).start()
    try:
        assert httpx.get(server.url + "/config").status_code == 401
        assert httpx.get(server.url + "/seglocate/video/any/0").status_code == 401
        with httpx.Client(base_url=server.url) as session:
            login = session.post("/login", data={"username": "teacher", "password": "chalk"})
            assert login.status_code == 200
            assert session.get("/config").status_code == 200
            assert session.get("/seglocate/video/any/0").status_code == 404  # in, but no such job
    finally:
        server.stop()
    assert "Login required" not in server.log.read_text()  # loopback: no network notice
    assert "this computer only" in server.log.read_text()
