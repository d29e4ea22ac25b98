"""`seglocate worker` planning: which processes, queues and GPU assignments (pure)."""

import pytest

from common.errors import InvalidInputError
from workers.launch import parse_gpus, parse_queues, planned_processes


def test_default_is_one_process_serving_both_queues_on_the_solo_pool():
    [(cmd, env)] = planned_processes(["cpu", "gpu"], [], None, "INFO", "ocr")
    assert cmd[cmd.index("-Q") + 1] == "cpu,gpu.text"  # ocr is the text scorer
    assert cmd[cmd.index("--pool") + 1] == "solo"
    assert env == {"SEGLOCATE_WORKER_QUEUES": "cpu,gpu"}


def test_one_gpu_process_per_gpu_with_cuda_visible_devices_set():
    plans = planned_processes(["gpu"], ["0", "1"], None, "INFO", "qwen3-vl")
    assert [env["CUDA_VISIBLE_DEVICES"] for _, env in plans] == ["0", "1"]
    assert {cmd[cmd.index("-Q") + 1] for cmd, _ in plans} == {"gpu.qwen3-vl"}
    assert all(cmd[cmd.index("--pool") + 1] == "solo" for cmd, _ in plans)
    assert [cmd[cmd.index("-n") + 1] for cmd, _ in plans] == ["gpu0@%h", "gpu1@%h"]


def test_cpu_queue_alongside_gpus_gets_its_own_prefork_process_without_a_gpu():
    plans = planned_processes(["cpu", "gpu"], ["0"], 3, "INFO", "ocr")
    cpu_cmd, cpu_env = plans[0]
    assert cpu_cmd[cpu_cmd.index("--pool") + 1] == "prefork"
    assert cpu_cmd[cpu_cmd.index("--concurrency") + 1] == "3"
    assert "CUDA_VISIBLE_DEVICES" not in cpu_env


@pytest.mark.parametrize(("queues", "gpus"), [("cpu,tpu", None), ("", None), ("gpu", "0,x")])
def test_bad_queue_or_gpu_lists_are_refused(queues, gpus):
    with pytest.raises(InvalidInputError):
        parse_queues(queues)
        parse_gpus(gpus)


def test_scoring_steps_are_routed_to_their_scorers_queue():
    from common.pipeline import TASK_INGEST, TASK_SCORE, queue_for
    from common.schemas import BatchTask, VideoTask

    batch = BatchTask(job_id="j", video_index=0, batch_index=3, scorer="qwen3-vl")
    assert queue_for(TASK_SCORE, batch) == "gpu.qwen3-vl"
    assert queue_for(TASK_INGEST, VideoTask(job_id="j", video_index=0)) == "cpu"
    with pytest.raises(ValueError, match="needs the job's scorer"):
        queue_for(TASK_SCORE, BatchTask(job_id="j", video_index=0, batch_index=3))
