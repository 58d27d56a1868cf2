"""Running external codec binaries (VTM, ffmpeg, avifenc, cjxl) safely and reproducibly.

Why a module of its own: every subprocess codec needs the same five things, and each is easy to
get subtly wrong.

* **Finding the binary**: a configured folder first (``--vtm-dir``, ``RDBENCH_<TOOL>_DIR``,
  ``params.<tool>_dir``), then ``PATH`` (:func:`find_tool`).
* **No shell**: an argument list goes straight to ``execve``, so file names holding spaces,
  ``;`` or ``$(...)`` are just bytes of one argument (:func:`run_tool`).
* **A time limit** per call; on expiry the tool's whole process group is killed, not only the
  direct child, so no orphaned encoder keeps a core busy.
* **A private temporary folder** per call, removed on success, failure and timeout alike
  (:func:`private_workdir`).
* **A one-line error** naming the tool, the exit status or signal, and the tool's last output
  lines, because that is what a failed record must show to be actionable (:class:`ToolError`).

:class:`SubprocessCodec` bundles these for adapters and records every command line in
``notes["commands"]`` (stored with the record in ``extra``), and the tool's version, read once
from its banner, as the record's codec version.
"""

from __future__ import annotations

import ctypes
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from functools import lru_cache
from pathlib import Path
from typing import ClassVar

from rdbench.codecs.base import Codec, CodecConfig, CodecContext
from rdbench.errors import CodecUnavailable, RdbenchError

#: How many of the tool's last output lines an error message carries.
TAIL_LINES = 6


class ToolError(RdbenchError):
    """An external tool exited non-zero, crashed or ran past its time limit."""


class ToolTimeout(ToolError):
    """An external tool ran past its time limit and was killed."""


def tool_dir_candidates(tool: str, config: CodecConfig, context: CodecContext) -> list[Path]:
    """Folders configured for ``tool``, highest priority first: command line, environment, TOML."""
    dirs = [context.tool_dir(tool), os.environ.get(f"RDBENCH_{tool.upper()}_DIR"), config.params.get(f"{tool}_dir")]
    return [Path(d).expanduser() for d in dirs if d]


def find_tool(names: Sequence[str], dirs: Sequence[Path] = (), subdirs: Sequence[str] = ("", "bin"),
              use_path: bool = True) -> Path | None:
    """First executable called one of ``names`` in ``dirs`` (and their ``subdirs``), then on PATH.

    Names are tried in order within each folder, so ``("EncoderAppStatic", "EncoderApp")``
    prefers the static build where both exist.
    """
    for folder in dirs:
        for sub in subdirs:
            for name in names:
                candidate = folder / sub / name
                if candidate.is_file() and os.access(candidate, os.X_OK):
                    return candidate.resolve()
    if use_path:
        for name in names:
            found = shutil.which(name)
            if found:
                return Path(found).resolve()
    return None


def _tail(output: str, lines: int = TAIL_LINES) -> str:
    kept = [line.strip() for line in output.splitlines() if line.strip()][-lines:]
    return " | ".join(kept) if kept else "(no output)"


def _describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with status {returncode}"


def _die_with_parent_hook():
    """On Linux, a pre-exec hook asking the kernel to SIGKILL the tool when rdbench dies.

    The tool runs in its own session (so a timeout can kill its group), which also shields it
    from the terminal's Ctrl-C; without this, a ``kill -9`` of rdbench would leave a VTM encode
    running on for minutes. The C library is loaded before the fork, not in the child.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1
    return lambda: prctl(pr_set_pdeathsig, signal.SIGKILL)


_PRE_EXEC = _die_with_parent_hook()


def run_tool(argv: Sequence[str | os.PathLike[str]], *, timeout_s: float | None, cwd: Path | None = None) -> str:
    """Run ``argv`` (no shell), return its stdout and stderr interleaved; raise :class:`ToolError` on failure.

    The tool runs in a new session so that, on timeout, its whole process group is killed, and
    (on Linux) is killed too if rdbench itself dies.
    Standard input is closed (``/dev/null``): a tool waiting for input fails instead of hanging.
    """
    args = [os.fspath(a) for a in argv]
    name = Path(args[0]).name
    try:
        proc = subprocess.Popen(args, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_PRE_EXEC)
    except OSError as exc:
        raise ToolError(f"cannot start {name}: {exc.strerror or exc}") from exc
    try:
        raw, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        raw, _ = proc.communicate()
        output = raw.decode(errors="replace")
        raise ToolTimeout(f"{name} ran past its {timeout_s:g} s limit and was killed "
                          f"(raise params.timeout_s in the codec TOML, or the run's timeout); last output: {_tail(output)}") from None
    except BaseException:  # KeyboardInterrupt: never leave the encoder running
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        raise
    output = raw.decode(errors="replace")
    if proc.returncode != 0:
        raise ToolError(f"{name} {_describe_exit(proc.returncode)}; last output: {_tail(output)}")
    return output


@contextmanager
def private_workdir(prefix: str) -> Iterator[Path]:
    """A fresh folder (mode 0700 under the system temp dir), removed however the block ends."""
    path = Path(tempfile.mkdtemp(prefix=f"rdbench-{prefix}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@lru_cache(maxsize=64)
def tool_banner(path: str, args: tuple[str, ...], pattern: str, timeout_s: float = 60.0) -> str:
    """The first match of ``pattern`` (group 1 if it has one) in what ``path args`` prints.

    Cached per process: the version is read once, not per image. Many tools print their banner
    and then exit non-zero when given no input; that is fine here, the output is what counts.
    """
    try:
        proc = subprocess.run([path, *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=timeout_s, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unknown ({type(exc).__name__})"
    match = re.search(pattern, proc.stdout.decode(errors="replace"))
    if not match:
        return "unknown"
    return (match.group(1) if match.groups() else match.group(0)).strip()


class SubprocessCodec(Codec):
    """Base of adapters that drive external binaries: timeouts, temp folders, command notes.

    Subclasses set ``tool`` (the key of ``--<tool>-dir`` / ``RDBENCH_<TOOL>_DIR`` /
    ``params.<tool>_dir``), ``default_timeout_s`` and ``package_hint`` (what to install), and call
    :meth:`run` for every command.
    """

    tool: ClassVar[str] = ""
    default_timeout_s: ClassVar[float] = 600.0
    package_hint: ClassVar[str] = ""
    per_quality_setup = False  # a tool per call, nothing loaded per quality

    def __init__(self, config: CodecConfig, context: CodecContext) -> None:
        super().__init__(config, context)
        self._dirs = tool_dir_candidates(self.tool, config, context)

    @property
    def timeout_s(self) -> float:
        """Per-call limit: the run's ``--timeout`` (context), else ``params.timeout_s``, else the class default."""
        if self.context.timeout_s:
            return float(self.context.timeout_s)
        return float(self.config.params.get("timeout_s", self.default_timeout_s))

    def locate(self, names: Sequence[str]) -> Path:
        """Path of the first of ``names`` found (configured folders, then PATH), or CodecUnavailable."""
        found = find_tool(names, self._dirs)
        if found is None:
            raise CodecUnavailable(f"{' / '.join(names)} not found; {self.package_hint}")
        return found

    def workdir(self) -> AbstractContextManager[Path]:
        return private_workdir(self.config.name)

    def run(self, argv: Sequence[str | os.PathLike[str]], cwd: Path | None = None) -> str:
        """Run one command under the time limit and note its exact command line."""
        args = [os.fspath(a) for a in argv]
        self.notes.setdefault("commands", []).append(shlex.join(args))
        return run_tool(args, timeout_s=self.timeout_s, cwd=cwd)
