"""``stackflow local up`` as a user runs it: a process that serves until interrupted."""

from __future__ import annotations

import ctypes
import errno
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import boto3
import psycopg
import pytest

from tests.support.polling import wait_until

# Generous: a fresh embedded PostgreSQL runs initdb first on a shared 2-core machine.
# A guard against a hung process, not a speed expectation.
START_GUARD_SECONDS = 240
STOP_GUARD_SECONDS = 120


@dataclass
class UpProcess:
    process: subprocess.Popen[str]
    stderr: Path
    lines: queue.Queue[str | None] = field(default_factory=queue.Queue)
    seen: list[str] = field(default_factory=list)

    def stop(self, sig: signal.Signals, *, not_to_main_thread: bool = False) -> int:
        """Send ``sig`` (to one of the process's threads other than the main one if
        asked) and wait for the exit code; a stop past the guard fails the test with
        what each thread was doing (``local up`` dumps its stacks on SIGUSR1), then kills
        it."""
        if not_to_main_thread:
            _signal_a_thread_but_main(self.process.pid, sig)
        else:
            self.process.send_signal(sig)
        try:
            return self.process.wait(STOP_GUARD_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.send_signal(signal.SIGUSR1)
            time.sleep(2)
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"local up did not stop within {STOP_GUARD_SECONDS} s; "
                                 f"its threads and stderr:\n{self.stderr.read_text()}") from None

    def read_until(self, prefix: str, guard_seconds: float) -> dict[str, str]:
        """Every ``key: value`` line up to the one starting with ``prefix``."""
        while True:
            try:
                line = self.lines.get(timeout=guard_seconds)
            except queue.Empty:
                raise AssertionError(f"no {prefix!r} line; output so far: {self.seen}") from None
            if line is None:
                raise AssertionError(f"exited before {prefix!r}: {self.seen}")
            self.seen.append(line)
            if line.startswith(prefix):
                return dict(part.split(": ", 1) for part in self.seen if ": " in part)

    def rest(self) -> list[str]:
        while (line := self.lines.get(timeout=STOP_GUARD_SECONDS)) is not None:
            self.seen.append(line)
        return self.seen


def _pump(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line.rstrip("\n"))
    lines.put(None)


@contextmanager
def running_local_up(cdk_out: Path, workdir: Path, *extra: str,
                     command: Sequence[str] = ("up", "--port", "0")) -> Iterator[UpProcess]:
    """``stackflow local up --port 0`` (or another local ``command``) in its own
    process, stopped afterwards."""
    argv = [sys.executable, "-m", "stackflow_tools.cli.main", "local", *command,
            "--workdir", str(workdir), "--cdk-out", str(cdk_out), *extra]
    workdir.mkdir(parents=True, exist_ok=True)
    stderr_path = workdir.parent / "stderr.txt"
    with stderr_path.open("w") as stderr:
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=stderr, text=True,
                                   env={**os.environ, "PYTHONWARNINGS": "ignore"})
        assert process.stdout is not None
        up = UpProcess(process, stderr_path)
        threading.Thread(target=_pump, args=(process.stdout, up.lines), daemon=True).start()
        try:
            yield up
        finally:
            if process.poll() is None:  # not stopped by the test itself: never leak it
                up.stop(signal.SIGTERM)


@pytest.fixture
def local_up(cdk_out: Path, tmp_path: Path) -> Iterator[UpProcess]:
    with running_local_up(cdk_out, tmp_path / "work") as up:
        yield up


def _aws(service: str, endpoint: str) -> Any:
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1",  # type: ignore[call-overload]
                        aws_access_key_id="local", aws_secret_access_key="local")


def test_local_up_serves_the_synthesized_stack_until_sigint_then_stops_postgres(
        local_up: UpProcess, tmp_path: Path) -> None:
    # GIVEN `stackflow local up --port 0` started in its own process
    # WHEN it says it is ready
    info = local_up.read_until("ready", START_GUARD_SECONDS)
    endpoint, database = info["endpoint"], info["database"]
    # THEN the moto server on the printed endpoint holds the synthesized state machine
    sfn = _aws("stepfunctions", endpoint)
    machines = sfn.list_state_machines()["stateMachines"]
    assert [m["stateMachineArn"] for m in machines] == [info["state machine"]]
    functions = _aws("lambda", endpoint).list_functions()["Functions"]
    assert "StackFlowAPI" in {f["FunctionName"] for f in functions}
    # AND the printed database URL reaches the embedded PostgreSQL in the work folder
    with psycopg.connect(database) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("stackflow",)
    pid_file = tmp_path / "work" / "pgdata" / "postmaster.pid"
    postmaster = int(pid_file.read_text().splitlines()[0])
    assert _running(postmaster)

    # WHEN someone asks a running `local up` what it is doing (kill -USR1)
    local_up.process.send_signal(signal.SIGUSR1)
    # THEN it prints each thread's stack to stderr, the main one waiting for a signal,
    # and carries on serving
    wait_until(lambda: "_serve_until_stopped" in (tmp_path / "stderr.txt").read_text(),
               "the thread stacks on stderr", seconds=30)
    assert local_up.process.poll() is None
    assert sfn.list_state_machines()["stateMachines"]

    # WHEN it is interrupted as Ctrl-C would, the kernel handing the signal to one of
    # its threads other than the main one (it may pick any thread that does not block it)
    code = local_up.stop(signal.SIGINT, not_to_main_thread=True)
    output = local_up.rest()
    # THEN it shut down cleanly: exit 0, said so, and PostgreSQL is stopped
    assert code == 0, (tmp_path / "stderr.txt").read_text()
    assert output[-1] == "stopped"
    assert not pid_file.exists()
    assert not _running(postmaster)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(database, connect_timeout=5).close()


@pytest.mark.parametrize("command", [("up", "--port", "0"), ("deploy",)],
                         ids=["up", "deploy"])
def test_a_sigterm_while_local_mode_starts_stops_what_had_started(
        cdk_out: Path, tmp_path: Path, command: tuple[str, ...]) -> None:
    # GIVEN `stackflow local up` (or `local deploy`) starting: its embedded PostgreSQL
    # is up (the library has registered this process as its user), the rest not yet
    pgdata = tmp_path / "work" / "pgdata"
    handles = pgdata / ".handle_pids.json"
    with running_local_up(cdk_out, tmp_path / "work", command=command) as starting:
        wait_until(lambda: handles.is_file() and str(starting.process.pid)
                   in handles.read_text(), "the embedded PostgreSQL", START_GUARD_SECONDS)
        postmaster = int((pgdata / "postmaster.pid").read_text().splitlines()[0])
        # WHEN it gets SIGTERM before it is ready (as a supervisor stopping it would)
        code = starting.stop(signal.SIGTERM)
        output = starting.rest()
    # THEN it never said ready, says it was interrupted and exits 130
    assert not any(line.startswith("ready") for line in output), output
    assert code == 130, (tmp_path / "stderr.txt").read_text()
    assert "interrupted" in (tmp_path / "stderr.txt").read_text()
    # AND the PostgreSQL it had started is stopped, not left behind
    assert not _running(postmaster)
    assert not (pgdata / "postmaster.pid").exists()


def _signal_a_thread_but_main(pid: int, sig: signal.Signals) -> None:
    """``tgkill``: ``sig`` to one thread of another process (its oldest other than the
    main one, the next if that one has just ended), as the kernel may deliver it."""
    libc = ctypes.CDLL(None, use_errno=True)
    threads = sorted(int(task.name) for task in Path(f"/proc/{pid}/task").iterdir())
    for tid in (t for t in threads if t != pid):
        if libc.tgkill(pid, tid, int(sig)) == 0:
            return
        if ctypes.get_errno() != errno.ESRCH:
            raise OSError(ctypes.get_errno(), f"tgkill({pid}, {tid}, {sig.name})")
    raise AssertionError(f"process {pid} has no thread but its main one")


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie awaiting its reaper is not)."""
    stat = Path(f"/proc/{pid}/stat")
    if Path("/proc").is_dir():
        try:
            return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except FileNotFoundError:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
