"""Job options are refused at submit (and on read, in workers) when they would plan more
windows than frames, or sample faster than any scorer reads."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from common.schemas import MAX_FPS, JobOptions, JobSpec, Query


def test_a_window_shorter_than_one_sampled_frame_is_refused():
    with pytest.raises(ValidationError, match=r"window 1e-07s is shorter than one sampled frame"):
        JobOptions(window=1e-7)
    with pytest.raises(ValidationError, match=r"window 0.5s is shorter than one sampled frame"):
        JobOptions(window=0.5, fps=1.0)


def test_a_stride_shorter_than_one_sampled_frame_is_refused():
    with pytest.raises(ValidationError, match=r"stride 0.2s is shorter than one sampled frame"):
        JobOptions(window=5.0, stride=0.2, fps=1.0)


def test_a_window_of_exactly_one_frame_is_accepted():
    options = JobOptions(window=0.5, stride=0.5, fps=2.0)
    assert options.effective_stride == 0.5
    assert JobOptions(window=1.0, fps=1.0).window == 1.0


def test_fps_is_capped():
    assert JobOptions(fps=MAX_FPS, window=1.0).fps == MAX_FPS
    with pytest.raises(ValidationError, match="fps"):
        JobOptions(fps=MAX_FPS * 2)


def test_a_crafted_spec_with_a_tiny_window_does_not_validate_in_a_worker():
    spec = JobSpec(job_id="j", query=Query(text="x"), options=JobOptions(), videos=[])
    crafted = spec.model_dump_json().replace('"window":5.0', '"window":1e-7')
    assert '"window":1e-7' in crafted
    with pytest.raises(ValidationError, match="shorter than one sampled frame"):
        JobSpec.model_validate_json(crafted)
