"""Run the real ``certmint`` CLI as a subprocess, as a user would."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

# The console script pip installed next to this interpreter: what a user runs.
CLI = [str(Path(sys.executable).parent / "certmint")]


def run(
    env: Mapping[str, str],
    cwd: Path,
    *args: str,
    stdin: str | None = None,
    umask: int | None = None,
    max_file_bytes: int | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run ``certmint ARGS`` in ``cwd``; optional umask and file-size limit."""

    def prepare() -> None:
        if umask is not None:
            os.umask(umask)
        if max_file_bytes is not None:
            # Like `ulimit -f`: writes past the limit fail with EFBIG instead
            # of killing the process with SIGXFSZ.
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_bytes, max_file_bytes))

    preexec: Callable[[], None] | None = prepare
    return subprocess.run(
        [*CLI, *args],
        cwd=cwd,
        env={**os.environ, **env},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=preexec,
        check=False,
    )
