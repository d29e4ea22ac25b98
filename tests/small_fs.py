"""Run a command whose files live on a small real filesystem, so that writes fail as on a full
disk: a tmpfs of ``size`` bytes mounted in a private user and mount namespace (``unshare``, no
privileges needed; the mount vanishes with the command). Where the kernel refuses unprivileged
namespaces, the command runs with ``RLIMIT_FSIZE`` = ``size`` instead: each file it writes is
capped (EFBIG), a real limit of the kernel too."""

from __future__ import annotations

import functools
import resource
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

#: Mounts a tmpfs of "$1" bytes on "$2", runs the rest, then copies the mount's files to "$3".
_SCRIPT = (
    'mount -t tmpfs -o size="$1" tmpfs "$2" || exit 97; mnt="$2"; copy="$3"; shift 3; '
    '"$@"; rc=$?; cp -a "$mnt/." "$copy/"; exit $rc'
)


@functools.cache
def tmpfs_available() -> bool:
    """True if this machine lets us mount a tmpfs in a private namespace."""
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", _SCRIPT, "sh",
         "65536", "/tmp", "/tmp", "true"],
        capture_output=True,
    )  # fmt: skip
    return probe.returncode == 0


def run_on_small_filesystem(
    argv: Sequence[str], folder: Path, size: int, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` with ``folder`` (created empty) on a filesystem of ``size`` bytes; when the
    command ends, ``folder`` holds a copy of what it wrote there."""
    folder.mkdir(parents=True, exist_ok=True)
    if tmpfs_available():
        mount = folder.with_name(folder.name + "-mnt")
        mount.mkdir()
        env = {k: v.replace(str(folder), str(mount)) for k, v in env.items()}
        argv = [a.replace(str(folder), str(mount)) for a in argv]
        wrapper = ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", _SCRIPT, "sh"]
        command = [*wrapper, str(size), str(mount), str(folder), *argv]
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)

    def limit_file_size() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    return subprocess.run(
        argv, capture_output=True, text=True, env=env, timeout=timeout, preexec_fn=limit_file_size
    )
