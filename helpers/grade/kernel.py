"""Running a learner's notebook: cell by cell in a fresh kernel, judging each exercise.

A cell the learner wrote or changed, and each check, has ``cell_timeout`` seconds; the
book's own cells, unchanged (loading TensorFlow, training a model), only the notebook's
time limit: they are known to finish, and a slow machine should not turn them into errors.
Each exercise is judged right after the cells of its section (from its question to the
next exercise's), where the learner's own check would run: two exercises may use the same
name (chapter 02 has two ``answer`` s), so the end of the notebook would be too late for
the first. A cell that raises does not stop the run. A cell that runs past its time limit
is interrupted (Ctrl-C, as in Jupyter); if the kernel does not answer within a few seconds,
or dies (``os._exit``, memory), it is restarted and the cells that ran before are run
again, so that the exercises after it are still judged.
"""

from __future__ import annotations

import json
import logging
import math
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import nbformat
from jupyter_core.utils import ensure_async
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from traitlets.config import Config

from helpers.grade import judge
from helpers.grade.book import EXERCISE, Chapter, cell_text, normalized

#: Seconds a kernel has to come back after Ctrl-C before it is restarted.
INTERRUPT_GRACE = 5.0

_quiet = logging.getLogger("helpers.grade.kernel")
_quiet.addHandler(logging.NullHandler())
_quiet.propagate = False  # nbclient's "Timeout waiting for execute reply" is ours to report


@dataclass
class CellProblem:
    """A cell of the submission that raised, ran out of time or stopped the kernel."""

    index: int  # position in the submission, from 0
    first_line: str
    kind: str  # "error", "timeout" or "died"
    detail: str

    def sentence(self) -> str:
        """``The cell that starts `while True:` did not finish within 20 s ...``."""
        return f"The cell that starts `{self.first_line}` {self.detail}"


@dataclass
class Judgement:
    """What the book's check said: ``passed`` and its ``message``, or why none ran."""

    passed: bool = False
    message: str = ""
    error: str | None = None


@dataclass
class Run:
    """The outcome of one run: problems by cell, judgements by exercise label, and the cells
    of each exercise's section (``None`` when its question is not in the submission)."""

    problems: list[CellProblem] = field(default_factory=list)
    judgements: dict[str, Judgement] = field(default_factory=dict)
    sections: dict[str, range | None] = field(default_factory=dict)
    unfinished: str | None = None  # why the run stopped before the end
    seconds: float = 0.0


class Kernel:
    """A python3 kernel started in ``folder`` whose output goes to ``log``, reached through
    local sockets (files named after ``sockets``, an absolute path) rather than TCP ports
    that any local user could connect to."""

    def __init__(self, folder: Path, log: IO[str], sockets: Path):
        self.folder, self.log, self.sockets = folder, log, sockets
        self.client: NotebookClient | None = None

    async def start(self) -> None:
        placeholder = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell()])
        client = NotebookClient(
            placeholder, kernel_name="python3", allow_errors=True, log=_quiet,
            config=Config({"KernelManager": {"transport": "ipc", "ip": str(self.sockets)}}),
            resources={"metadata": {"path": str(self.folder)}})
        client.km = client.create_kernel_manager()
        client.km.log = _quiet
        self.client = client
        await client.async_start_new_kernel(stdout=self.log, stderr=self.log)
        await client.async_start_new_kernel_client()

    async def stop(self) -> None:
        client, self.client = self.client, None
        if client is None:
            return
        if client.kc is not None:
            client.kc.stop_channels()
        if client.km is not None and client.km.has_kernel:
            try:
                await ensure_async(client.km.shutdown_kernel(now=True))
            except Exception:  # already gone: nothing left to stop
                pass

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    async def run(self, source: str, timeout: float) -> tuple[str, list]:
        """Run ``source``: ``("ok" | "error" | "timeout" | "died", outputs)``."""
        assert self.client is not None
        cell = nbformat.v4.new_code_cell(source)
        self.client.timeout = max(1, math.ceil(timeout))
        try:
            await self.client.async_execute_cell(cell, 0)
        except CellTimeoutError:
            return "timeout", cell.outputs
        except DeadKernelError:
            return "died", cell.outputs
        raised = any(output.output_type == "error" for output in cell.outputs)
        return ("error" if raised else "ok"), cell.outputs

    async def interrupt(self, grace: float) -> bool:
        """Ctrl-C, then whether the kernel answers again within ``grace`` seconds."""
        assert self.client is not None
        await ensure_async(self.client.km.interrupt_kernel())
        # A new client: the old one's sockets may hold the interrupted cell's half-read reply.
        self.client.kc.stop_channels()
        self.client.kc = self.client.km.client()
        await ensure_async(self.client.kc.start_channels())
        self.client.kc.allow_stdin = False
        status, _ = await self.run("pass", grace)
        return status == "ok"


def sections(cells: list, chapter: Chapter) -> dict[str, range | None]:
    """The cells of each exercise's section in a submission: from its question up to the
    next exercise's question (or the end); ``None`` for a question the learner removed."""
    labels = {exercise.label for exercise in chapter.exercises}
    starts: dict[str, int] = {}
    for index, cell in enumerate(cells):
        match = EXERCISE.search(cell_text(cell)) if cell.get("cell_type") == "markdown" else None
        if match and match["label"] in labels and match["label"] not in starts:
            starts[match["label"]] = index
    bounds = sorted(starts.values()) + [len(cells)]
    return {exercise.label: (range(starts[exercise.label],
                                   next(b for b in bounds if b > starts[exercise.label]))
                             if exercise.label in starts else None)
            for exercise in chapter.exercises}


def _error_text(outputs: list) -> str:
    error = next(output for output in outputs if output.output_type == "error")
    value = str(error.get("evalue", "")).strip().splitlines()
    return f"{error.get('ename', 'Error')}: {value[0][:300] if value else ''}".rstrip(": ")


def _first_line(source: str) -> str:
    line = next((line.strip() for line in source.splitlines() if line.strip()), "")
    return line if len(line) <= 60 else line[:57] + "..."


async def run_notebook(cells: list, chapter: Chapter, folder: Path, scratch: Path, *,
                       cell_timeout: float, notebook_timeout: float) -> Run:
    """Run the submission's ``cells`` in a new kernel started in ``folder``, and judge each
    exercise of ``chapter`` at the end of its section (those whose question is missing,
    after the last cell). ``scratch`` (outside ``folder``) receives the kernel's sockets and
    its log. Cancelling the task stops the kernel."""
    start = time.monotonic()
    deadline = start + notebook_timeout
    run = Run(sections=sections(cells, chapter))
    judged_before: dict[int, list] = {}
    for exercise in chapter.exercises:
        section = run.sections[exercise.label]
        judged_before.setdefault(section.stop if section else len(cells), []).append(exercise)
    steps = [step for index in range(len(cells) + 1)
             for step in ([("judge", e) for e in judged_before.get(index, [])]
                          + ([("cell", index)] if index < len(cells) else []))]
    marker = f"@grade-{secrets.token_hex(8)}@"
    ran: list[str] = []  # the cells that ran to their end, to run again after a restart
    log = open(scratch / "kernel.log", "w", encoding="utf-8")  # noqa: SIM115 (closed below)
    kernel = Kernel(folder, log, scratch.resolve() / "kernel")

    def limit(source: str | None) -> float:
        """The time a cell (``None``: a check) may take now."""
        left = deadline - time.monotonic()
        return left if source is not None and normalized(source) in chapter.code else min(
            cell_timeout, left)

    async def recover(status: str) -> bool:
        """After a timeout or a dead kernel: the kernel back, with the learner's names."""
        left = deadline - time.monotonic()
        if status == "timeout" and await kernel.interrupt(min(INTERRUPT_GRACE, max(left, 1))):
            return True
        await kernel.restart()
        for source in ran:
            if limit(source) <= 0 or (await kernel.run(source, limit(source)))[0] not in (
                    "ok", "error"):
                return False
        return True

    try:
        await kernel.start()
        for kind, item in steps:
            left = deadline - time.monotonic()
            if left <= 0:
                run.unfinished = (f"The notebook's time limit ({notebook_timeout:g} s) ran out "
                                  "before the end.")
                break
            if kind == "cell":
                cell = cells[item]
                source = cell_text(cell)
                if cell.get("cell_type") != "code" or not source.strip():
                    continue
                timeout = limit(source)
                status, outputs = await kernel.run(source, timeout)
                if status in ("ok", "error"):
                    ran.append(source)
                if status == "ok":
                    continue
                if status == "error":
                    detail = f"raised {_error_text(outputs)}."
                elif status == "timeout":
                    detail = (f"did not finish within {timeout:.0f} s (an endless loop?) and "
                              "was stopped.")
                else:
                    detail = "stopped the kernel (it exited or crashed)."
                run.problems.append(CellProblem(item, _first_line(source), status, detail))
            else:
                timeout = limit(None)
                status, outputs = await kernel.run(
                    judge.source(item.module, item.check, item.arguments, marker), timeout)
                run.judgements[item.label] = _judgement(status, outputs, marker, timeout, item)
            if status in ("timeout", "died") and not await recover(status):
                run.unfinished = ("The kernel had to be restarted, and the cells before the "
                                  "problem did not run again within the time limits.")
                break
    finally:
        await kernel.stop()
        log.close()
    run.seconds = time.monotonic() - start
    return run


def _judgement(status: str, outputs: list, marker: str, timeout: float, exercise) -> Judgement:
    text = "".join(output.get("text", "") for output in outputs
                   if output.output_type == "stream" and output.get("name") == "stdout")
    line = next((line for line in text.splitlines() if line.startswith(marker)), None)
    if status == "ok" and line is not None:
        return Judgement(**json.loads(line[len(marker):]))
    if status == "timeout":
        return Judgement(error=f"The check did not finish within {timeout:.0f} s on "
                               f"`{exercise.arguments}`: an endless loop in it?")
    if status == "died":
        return Judgement(error=f"The kernel stopped while the check ran on "
                               f"`{exercise.arguments}`.")
    if status == "error":
        return Judgement(error=_error_text(outputs))
    return Judgement(error="The check printed no verdict.")
