"""Security of the distributed path: JSON-only messages, broker password, secrets kept out of logs
and results, object keys confined to their bucket, URL inputs off by default, TLS to both
servers."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from celery import Celery

from common import keys
from common.celery_config import celery_config, send_task
from common.errors import StoreUnavailableError
from common.pipeline import TASK_FINALIZE, TASK_INGEST
from common.schemas import JobOptions, JobSpec, JobState, Query, VideoRef, VideoState, VideoTask
from common.storage import open_store, write_model
from infra.services import free_port, redis_command
from producer.client import Client
from producer.dispatch import CeleryDispatcher
from tests import media
from tests.cluster import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]


class FileCreatingPayload:
    """Unpickling this creates a file: the visible effect a pickle-accepting worker would have."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


def assert_no_secrets(cluster, *secrets: str) -> None:
    """No secret in any worker log, result object or JSON object of the work bucket."""
    logs = cluster.full_logs()
    store = cluster.store()
    settings = cluster.settings
    stored = [
        store.get_bytes(bucket, key).decode(errors="replace")
        for bucket in (settings.results_bucket, settings.work_bucket)
        for key in store.list_keys(bucket)
        if key.endswith(".json")
    ]
    assert stored and logs
    for secret in secrets:
        assert secret not in logs, "a secret is in a worker log"
        assert not any(secret in text for text in stored), "a secret is in a stored object"


def test_a_pickle_message_is_refused_and_never_unpickled(
    redis, make_cluster, short_videos, tmp_path
):
    cluster = make_cluster(redis.url)
    cpu = cluster.start_worker("cpu")
    cluster.start_worker("gpu")
    cluster.wait_for_workers(2)
    marker = tmp_path / "unpickled-here"
    attacker = Celery("attacker", broker=redis.url, set_as_current=False)
    attacker.send_task(
        TASK_FINALIZE,
        kwargs={"payload": FileCreatingPayload(marker)},
        queue="cpu",
        serializer="pickle",
    )

    def refusals() -> list[str]:
        lines = cluster.full_logs().splitlines()
        return [line for line in lines if "Received invalid task message" in line]

    wait_until(refusals, 30, what="the refusal logged")
    print(refusals()[0])
    assert "Refusing to deserialize untrusted content of type pickle" in refusals()[0]
    assert not marker.exists()
    assert cpu.alive()
    job = Client(cluster.settings).submit(short_videos[:1], "x", scorer="null-benchmark")
    assert cluster.wait_result(job.job_id, timeout=60).status == JobState.succeeded
    assert not marker.exists()
    assert len(refusals()) == 1, "the refused message came back"


def test_a_password_protected_broker_works_and_no_secret_leaks(
    redis_server_factory, make_cluster, short_videos, tmp_path, s3_server
):
    password = "pw-" + "7f3c9a1e5b" * 2
    redis = redis_server_factory(password=password)
    assert f":{password}@" in redis.url
    assert redis_command(redis.port, "PING").startswith("-NOAUTH")
    cluster = make_cluster(redis.url)
    cluster.start_worker("cpu")
    cluster.start_worker("gpu")
    cluster.wait_for_workers(2)
    bad = media.not_a_video(tmp_path / "bad.mp4")
    job = Client(cluster.settings).submit([short_videos[0], bad], "x", scorer="null-benchmark")
    result = cluster.wait_result(job.job_id, timeout=60)
    assert result.status == JobState.partial
    status = cluster.cli("status", job.job_id)
    assert status.returncode == 0 and password not in status.stdout + status.stderr
    assert "transport:   redis://:**@127.0.0.1" in cluster.full_logs()  # masked in the banner
    assert_no_secrets(cluster, password, s3_server.secret_key)


def write_spec(cluster, job_id: str, refs: list[VideoRef]) -> None:
    """What a hostile client could put in the store: keys the real client would refuse."""
    spec = JobSpec(
        job_id=job_id,
        query=Query(text="x"),
        options=JobOptions(scorer="null-benchmark"),
        videos=refs,
    )
    store = open_store(cluster.settings)
    write_model(store, cluster.settings.work_bucket, keys.job_spec(job_id), spec)
    dispatcher = CeleryDispatcher(cluster.settings)
    for index in range(len(refs)):
        send_task(dispatcher.app, TASK_INGEST, VideoTask(job_id=job_id, video_index=index))


def test_object_keys_cannot_escape_their_bucket_even_in_a_forged_job(redis, make_cluster, tmp_path):
    cluster = make_cluster(redis.url)
    cluster.start_worker("cpu")
    cluster.start_worker("gpu")
    cluster.wait_for_workers(2)
    settings = cluster.settings
    store = cluster.store()
    clip = media.testsrc_clip(tmp_path / "clip.mp4", 3, fps=5, size="160x90")
    # A real video in another bucket: reading it through a '..' key would make the video succeed.
    store.put_file(settings.results_bucket, "elsewhere.mp4", clip)
    store.put_file(settings.videos_bucket, "ok.mp4", clip)
    videos = settings.videos_bucket
    hostile = {
        f"../{settings.results_bucket}/elsewhere.mp4": "'.', '..' and empty path segments",
        "/etc/passwd": "absolute paths are not object keys",
        "a/./../../etc/passwd": "'.', '..' and empty path segments",
        "https://example.com/v.mp4": "'.', '..' and empty path segments",
    }
    refs = [VideoRef(name="ok.mp4", bucket=videos, key="ok.mp4")]
    refs += [VideoRef(name=key, bucket=videos, key=key) for key in hostile]
    write_spec(cluster, "forged-job", refs)
    result = cluster.wait_result("forged-job", timeout=60)
    assert result.status == JobState.partial
    by_name = {v.video: v for v in result.videos}
    assert by_name["ok.mp4"].status == VideoState.succeeded
    for key, reason in hostile.items():
        assert by_name[key].status == VideoState.failed
        assert reason in by_name[key].error, by_name[key].error


def test_url_inputs_are_refused_unless_enabled(redis, make_cluster):
    cluster = make_cluster(redis.url)
    client = Client(cluster.settings)
    refs, rejected = client.resolve_videos(["http://127.0.0.1:1/v.mp4", "https://x.test/v.mp4"])
    assert refs == []
    assert [r.error for r in rejected] == [
        "http://127.0.0.1:1/v.mp4: URL inputs are disabled (SEGLOCATE_ALLOW_URL_INPUTS)",
        "https://x.test/v.mp4: URL inputs are disabled (SEGLOCATE_ALLOW_URL_INPUTS)",
    ]


# ------------------------------------------------------------------------------------------ TLS


@pytest.fixture
def tls_files(tmp_path: Path) -> dict[str, Path]:
    """A private CA and a server certificate for 127.0.0.1, made with the openssl CLI."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("openssl not found: apt-get install openssl")
    folder = tmp_path / "tls"
    folder.mkdir()

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], cwd=folder, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
        "-days", "2", "-subj", "/CN=seglocate test CA")  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=127.0.0.1")  # fmt: skip
    (folder / "ext.cnf").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
        "extendedKeyUsage=serverAuth\n"
    )
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "ext.cnf")  # fmt: skip
    return {name: folder / name for name in ("ca.crt", "server.crt", "server.key")}


def test_a_job_runs_over_tls_to_redis_and_s3(
    tls_files, redis_server_factory, s3_server_factory, make_cluster, short_videos, monkeypatch
):  # servers set up before the cluster, so its workers stop while the servers still run
    tls_port, https_port = free_port(), free_port()
    redis_server_factory(
        extra_config={
            "tls-port": str(tls_port),
            "tls-cert-file": str(tls_files["server.crt"]),
            "tls-key-file": str(tls_files["server.key"]),
            "tls-ca-cert-file": str(tls_files["ca.crt"]),
            "tls-auth-clients": "no",
        }
    )
    s3 = s3_server_factory(
        extra_args=[
            f"-s3.cert.file={tls_files['server.crt']}",
            f"-s3.key.file={tls_files['server.key']}",
            f"-s3.port.https={https_port}",
        ]
    )

    class HttpsS3:  # the same server, addressed through its TLS port
        endpoint = f"https://127.0.0.1:{https_port}"
        access_key = s3.access_key
        secret_key = s3.secret_key

    # Our CA is trusted through the standard OpenSSL variable, by the workers and by this test.
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files["ca.crt"]))
    cluster = make_cluster(f"rediss://127.0.0.1:{tls_port}/0", s3=HttpsS3)
    cluster.env["SSL_CERT_FILE"] = str(tls_files["ca.crt"])
    cluster.start_worker("cpu")
    cluster.start_worker("gpu")
    cluster.wait_for_workers(2)
    job = Client(cluster.settings).submit(short_videos[:1], "x", scorer="null-benchmark")
    result = cluster.wait_result(job.job_id, timeout=90)
    assert result.status == JobState.succeeded
    assert len(result.videos[0].windows) == 12
    assert f"transport:   rediss://:**@127.0.0.1:{tls_port}/0" in cluster.full_logs()

    # Without our CA both certificates are refused: TLS is verified, not merely encrypted.
    monkeypatch.delenv("SSL_CERT_FILE")
    untrusting = cluster.settings.model_copy(update={"s3_retry_window_s": 0.5})
    with pytest.raises(StoreUnavailableError, match="CERTIFICATE_VERIFY_FAILED"):
        open_store(untrusting)
    app = Celery("untrusting", set_as_current=False)
    app.conf.update(celery_config(untrusting))
    with (
        app.connection_for_write() as conn,
        pytest.raises(Exception, match="CERTIFICATE_VERIFY_FAILED"),
    ):
        conn.ensure_connection(max_retries=1)
