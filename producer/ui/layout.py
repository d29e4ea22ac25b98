"""The page: what a newcomer sees, top to bottom, and which event feeds which component.

Left: 1. videos (upload, or pick from the videos bucket), 2. what to look for, advanced options,
the Find and Cancel buttons and live progress. Right: the player, the ranked clips (click one to
watch it), each video's score curve, downloads. Below: recent jobs, reopenable.
"""

from __future__ import annotations

from typing import Any

from common.recall_option import DEFAULT_RECALL
from common.scorers.specs import SPECS
from producer.ui import formatting, import_gradio
from producer.ui.callbacks import PageActions

#: Page title (browser tab and heading).
TITLE = "seglocate: find the moment in your videos"

#: Installed on the clip list: a click on a clip card plays its video from the clip's start in
#: the page's player (``element`` is the list's container; cards are replaced on each result).
PLAY_ON_CLICK_JS = """
element.addEventListener('click', (event) => {
  const card = event.target.closest('.seglocate-clip[data-url]');
  const player = document.getElementById('PLAYER_ID');
  if (!card || !player) return;
  const url = card.dataset.url, start = parseFloat(card.dataset.start);
  const go = () => { player.currentTime = start; player.play().catch(() => {}); };
  if (player.dataset.src !== url) {
    player.dataset.src = url;
    player.src = url;
    player.addEventListener('loadedmetadata', go, {once: true});
    player.load();
  } else if (player.readyState >= 1) {
    go();
  } else {
    player.addEventListener('loadedmetadata', go, {once: true});
  }
  const caption = document.getElementById('seglocate-caption');
  if (caption) caption.textContent = card.title;
  player.scrollIntoView({block: 'nearest', behavior: 'smooth'});
});
""".replace("PLAYER_ID", formatting.PLAYER_ID)

#: Event options: the status line says what is going on (no spinner over the results), and the
#: events are the page's, not an API to document.
_QUIET: dict[str, Any] = {"show_progress": "minimal", "api_visibility": "private"}
#: Searches and reopened jobs share the queue's slots (``queue(default_concurrency_limit=...)``).
_SEARCH: dict[str, Any] = {"concurrency_id": "search", **_QUIET}

CSS = """
.seglocate-clips { display: flex; flex-direction: column; gap: 6px; }
.seglocate-clip { display: grid; grid-template-columns: 112px 2.2em minmax(0, 1fr) auto;
  grid-template-areas: "thumb rank video score" "thumb rank span span";
  column-gap: 10px; row-gap: 2px; align-items: center; text-align: left; font-size: 14px;
  padding: 6px 12px 6px 6px; border-radius: 8px; cursor: pointer;
  border: 1px solid var(--border-color-primary); background: var(--background-fill-primary); }
.seglocate-clip:hover { border-color: var(--color-accent); }
.seglocate-clip img, .seglocate-nothumb { grid-area: thumb; width: 112px; height: 63px;
  object-fit: cover; border-radius: 4px; background: #ddd; }
.seglocate-rank { grid-area: rank; font-weight: bold; font-size: 1.1em; }
.seglocate-video { grid-area: video; overflow: hidden; text-overflow: ellipsis;
  white-space: nowrap; }
.seglocate-span { grid-area: span; font-variant-numeric: tabular-nums; font-weight: 600;
  font-size: 1.1em; white-space: nowrap; }
.seglocate-score { grid-area: score; color: var(--body-text-color-subdued); white-space: nowrap; }
.seglocate-player { width: 100%; max-height: 420px; background: #000; border-radius: 8px; }
.seglocate-caption { margin: 4px 0 0 0; color: var(--body-text-color-subdued); }
#seglocate-downloads .label-clear-button { display: none; }
"""


def page_theme() -> Any:
    """Gradio's Soft theme; its fonts are served by the page itself (no font CDN)."""
    gr = import_gradio()

    return gr.themes.Soft()


def build_page(actions: PageActions, default_scorer: str, where: str) -> Any:
    """The Gradio Blocks of the page. ``where`` tells who can reach it (shown under the title).

    Launch it with ``theme=page_theme(), css=CSS`` (Gradio 6 takes them at launch)."""
    gr = import_gradio()

    scorers = [name for name in SPECS if name != "null-benchmark"]
    if default_scorer not in scorers:
        scorers.append(default_scorer)
    with gr.Blocks(title=TITLE, analytics_enabled=False) as page:
        job_id = gr.State(None)
        gr.Markdown(f"# {TITLE}\n{where}")
        with gr.Row():
            with gr.Column(scale=2):
                gr.Markdown("### 1. Your videos")
                uploads = gr.File(
                    file_count="multiple", file_types=["video"], label="Upload videos"
                )
                with gr.Row():
                    picks = gr.Dropdown(
                        choices=[],
                        multiselect=True,
                        label="...or pick videos or folders/ from the videos bucket",
                        scale=5,
                    )
                    refresh = gr.Button("Refresh lists", scale=1, min_width=90)
                sample = gr.Button(
                    "No video at hand? Use the sample lecture", elem_id="seglocate-sample"
                )
                gr.Markdown("### 2. What are you looking for?")
                query = gr.Textbox(
                    label="Describe the moment",
                    placeholder="e.g. free-body diagram",
                    elem_id="seglocate-query",
                )
                with gr.Accordion("Search with an image or a short clip instead", open=False):
                    query_image = gr.Image(type="filepath", label="Image of the moment")
                    query_clip = gr.File(
                        file_count="single", file_types=["video"], label="Short clip (30 s at most)"
                    )
                    instruction = gr.Textbox(label="Instruction for the scorer (optional)")
                with gr.Accordion("Advanced options", open=False):
                    with gr.Row():
                        fps = gr.Number(
                            value=1.0, label="Frames per second sampled", elem_id="seglocate-fps"
                        )
                        window = gr.Number(value=5.0, label="Window, seconds")
                        stride = gr.Number(value=0, label="Stride, seconds (0: same as window)")
                    with gr.Row():
                        top_k = gr.Slider(1, 50, value=5, step=1, label="Clips to return")
                        min_score = gr.Slider(0, 100, value=10, step=1, label="Minimum score")
                    scorer = gr.Dropdown(choices=scorers, value=default_scorer, label="Scorer")
                    recall = gr.Textbox(
                        value=str(DEFAULT_RECALL),
                        label="Recall: windows reranked across the job ('all': every one)",
                        elem_id="seglocate-recall",
                    )
                with gr.Row():
                    find = gr.Button("Find", variant="primary", elem_id="seglocate-find")
                    cancel = gr.Button("Cancel", variant="stop", elem_id="seglocate-cancel")
                status = gr.Markdown(
                    "Add a video, describe the moment, press **Find**.", elem_id="seglocate-status"
                )
            with gr.Column(scale=3):
                player = gr.HTML(
                    formatting.player_html(None), elem_id="seglocate-player-box", js_on_load=None
                )
                gr.Markdown("### Best matches: click one to watch it")
                clips = gr.HTML("", elem_id="seglocate-clips", js_on_load=PLAY_ON_CLICK_JS)
                gr.Markdown("### Score over time, per video")
                curves = gr.Plot(show_label=False)
                downloads = gr.File(
                    label="Downloads: result JSON, qvh, WebVTT, EDL, CSV",
                    file_count="multiple",
                    interactive=False,
                    elem_id="seglocate-downloads",
                )
        recent_label = "Recent jobs (from this page, the CLI or the Python client)"
        with gr.Accordion(recent_label, open=False), gr.Row():
            recent = gr.Dropdown(choices=[], label="Job", scale=5, elem_id="seglocate-recent")
            reopen = gr.Button("Open", scale=1, elem_id="seglocate-reopen")

        view = [job_id, status, player, clips, curves, downloads]
        form = [
            uploads, picks, query, query_image, query_clip, instruction,
            fps, window, stride, top_k, min_score, scorer, recall,
        ]  # fmt: skip
        searching = find.click(actions.find, inputs=form, outputs=view, **_SEARCH)
        typing_done = query.submit(actions.find, inputs=form, outputs=view, **_SEARCH)
        opening = reopen.click(actions.open_job, inputs=[recent], outputs=view, **_SEARCH)
        # No concurrency limit: it runs while every search slot is taken.
        cancel.click(
            actions.cancel,
            inputs=[job_id],
            outputs=view,
            cancels=[searching, typing_done, opening],
            concurrency_limit=None,
            **_QUIET,
        )
        lists = {"outputs": [picks, recent], "concurrency_limit": None, **_QUIET}
        refresh.click(actions.refresh_lists, **lists)
        sample.click(
            actions.sample_lecture, inputs=[query], outputs=[picks, query, status], **_QUIET
        )
        page.load(actions.refresh_lists, **lists)
    return page
