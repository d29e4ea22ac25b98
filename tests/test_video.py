"""Probing and one-pass sampling on real generated files (real ffmpeg)."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.errors import VideoError
from common.video import content_hash, probe_video, sample_frames
from tests import media

EXPECTED_REASONS = {
    "missing": "file not found",
    "not_a_video": "not a video file",
    "empty": "empty file",
    "truncated": "truncated",
    "audio_only": "audio only",
    "zero_length": "zero-length video",
}


@pytest.mark.parametrize("kind", sorted(EXPECTED_REASONS))
def test_bad_input_gives_one_line_naming_the_file_and_reason(bad_inputs, kind):
    path = bad_inputs[kind]
    with pytest.raises(VideoError) as info:
        probe_video(path)
    message = str(info.value)
    assert str(path) in message
    assert EXPECTED_REASONS[kind] in message
    assert "\n" not in message


def test_probe_reads_duration_fps_and_size(tmp_path):
    path = media.testsrc_clip(tmp_path / "t.mp4", 7.3, fps=10, size="320x180")
    probe = probe_video(path)
    assert probe.duration == pytest.approx(7.3, abs=0.05)
    assert probe.fps == pytest.approx(10)
    assert (probe.width, probe.height, probe.rotation) == (320, 180, 0)


def test_sampling_at_1fps_gives_one_frame_per_second_including_the_tail(tmp_path):
    path = media.testsrc_clip(tmp_path / "t.mp4", 7.3)
    frames = list(sample_frames(path, probe_video(path), 1.0, 160 * 90))
    assert [f.time for f in frames] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    assert {f.image.size for f in frames} == {(160, 90)}


def test_sampling_at_2fps_gives_half_second_timestamps(tmp_path):
    path = media.testsrc_clip(tmp_path / "t.mp4", 3.0)
    frames = list(sample_frames(path, probe_video(path), 2.0, 160 * 90))
    assert [f.time for f in frames] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]


def test_variable_frame_rate_frames_show_what_is_on_screen_at_their_time(tmp_path):
    path = media.vfr_clip(tmp_path / "vfr.mp4")  # red 0-3 s at 30 fps, blue 3-8 s at 2 fps
    frames = list(sample_frames(path, probe_video(path), 1.0, 160 * 90))
    colours = {f.time: ("red" if f.image.getpixel((80, 45))[0] > 200 else "blue") for f in frames}
    assert colours[0.0] == colours[1.0] == colours[2.0] == "red"
    assert colours[3.0] == colours[5.0] == colours[7.0] == "blue"


def test_rotated_video_is_sampled_upright(tmp_path):
    path = media.rotated_clip(tmp_path / "rot.mp4")
    probe = probe_video(path)
    assert probe.rotation in (90, 270)
    assert probe.display_size == (180, 320)
    frames = list(sample_frames(path, probe, 1.0, 180 * 320))
    assert frames[0].image.size == (180, 320)


def test_large_frames_are_resized_to_the_pixel_budget(tmp_path):
    path = media.testsrc_clip(tmp_path / "big.mp4", 1.0, fps=2, size="3840x2160")
    frames = list(sample_frames(path, probe_video(path), 1.0, 448 * 448))
    width, height = frames[0].image.size
    assert width * height <= 448 * 448 and width > height


def test_content_hash_depends_on_bytes_only(tmp_path):
    a = media.colour_clip(tmp_path / "a.mp4", "red", 1)
    b = Path(tmp_path / "copy.mp4")
    b.write_bytes(a.read_bytes())
    c = media.colour_clip(tmp_path / "c.mp4", "blue", 1)
    assert content_hash(a) == content_hash(b) != content_hash(c)


def test_jpeg_sampling_matches_image_sampling_in_times_and_size(tmp_path):
    import io

    from PIL import Image

    from common.video import sample_jpeg_frames

    path = media.testsrc_clip(tmp_path / "t.mp4", 4.5, size="320x180")
    probe = probe_video(path)
    images = list(sample_frames(path, probe, 2.0, 320 * 180))
    jpegs = list(sample_jpeg_frames(path, probe, 2.0, 320 * 180))
    assert [f.time for f in jpegs] == [f.time for f in images]
    decoded = Image.open(io.BytesIO(jpegs[3].jpeg))
    assert decoded.size == images[3].image.size == (320, 180)
    diff = sum(
        abs(a - b)
        for a, b in zip(
            decoded.convert("RGB").getpixel((100, 50)),
            images[3].image.getpixel((100, 50)),
            strict=True,
        )
    )
    assert diff < 30


def test_split_jpeg_stream_cuts_concatenated_images_at_any_chunking():
    import io

    from PIL import Image

    from common.video import split_jpeg_stream

    blobs = []
    for colour in ("red", "green", "blue"):
        buf = io.BytesIO()
        Image.new("RGB", (64, 48), colour).save(buf, "JPEG")
        blobs.append(buf.getvalue())
    stream = b"".join(blobs)
    for size in (1, 7, 100, len(stream)):
        chunks = (stream[i : i + size] for i in range(0, len(stream), size))
        assert list(split_jpeg_stream(chunks)) == blobs


@pytest.fixture(scope="module")
def indirect_inputs(tmp_path_factory) -> dict[str, Path]:
    """Files that make ffmpeg read other files: an HLS playlist, a concat list, an image2
    pattern; each names the video a hostile user wants a worker to read."""
    folder = tmp_path_factory.mktemp("indirect")
    secret = media.testsrc_clip(folder / "secret.ts", 2, fps=5, size="160x90")
    return {
        "hls": media.hls_playlist(folder / "playlist.mp4", secret),
        "concat": media.concat_list(folder / "list.mp4", "secret.ts"),
        "image2": media.image_sequence(folder),
    }


@pytest.mark.parametrize("kind", ["hls", "concat", "image2"])
def test_playlists_and_indirect_formats_are_refused_at_the_probe(indirect_inputs, kind):
    path = indirect_inputs[kind]
    with pytest.raises(VideoError) as info:
        probe_video(path)
    message = str(info.value)
    print(message)
    assert message.startswith(f"{path}: refused: '{kind}' ")
    assert "reads other files" in message and "\n" not in message


@pytest.mark.parametrize("kind", ["hls", "concat", "image2"])
def test_the_sampler_refuses_indirect_formats_even_without_a_probe(tmp_path, indirect_inputs, kind):
    good = media.testsrc_clip(tmp_path / "good.mp4", 2, fps=5, size="160x90")
    with pytest.raises(VideoError, match=f"refused: '{kind}' "):
        list(sample_frames(indirect_inputs[kind], probe_video(good), 1.0, 160 * 90))


def test_a_relative_file_name_that_looks_like_a_protocol_is_read_as_a_file(tmp_path, monkeypatch):
    media.testsrc_clip(tmp_path / "concat:clip.mp4", 2, fps=5, size="160x90")
    monkeypatch.chdir(tmp_path)
    path = Path("concat:clip.mp4")  # ffmpeg alone would read it as the concat protocol
    assert probe_video(path).duration == pytest.approx(2.0, abs=0.1)
    assert len(list(sample_frames(path, probe_video(path), 1.0, 160 * 90))) == 2
