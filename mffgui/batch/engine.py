"""The batch engine: one task per stack, on Dask (embedded ``LocalCluster`` or an existing
scheduler) or serially in this process; Qt-free, shared by ``mffgui fuse --batch`` and the app.

Dask (``dask[distributed]``) is optional: :func:`dask_available` says whether it is installed and
:class:`BatchRunner` falls back to the serial path when it is not.
"""

from __future__ import annotations

import importlib.util
import os
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mffgui.batch.task import (
    BatchJob,
    StackResult,
    fuse_stack_task,
    is_complete,
    remove_stale_parts,
)

__all__ = [
    "NO_DASK_MESSAGE",
    "BatchRunner",
    "ClusterInfo",
    "dask_available",
    "default_workers",
    "discover_stacks",
]

NO_DASK_MESSAGE = (
    "dask is not installed (pip install 'mffgui[batch]' for parallel batches); "
    "fusing the stacks one after another in this process"
)

ResultFn = Callable[[StackResult], None]


def dask_available() -> bool:
    """Whether ``dask.distributed`` can be imported."""
    return importlib.util.find_spec("distributed") is not None


def default_workers(threads_per_worker: int = 1) -> int:
    """Worker processes for this machine: usable cores // ``threads_per_worker`` (at least 1)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        cores = os.cpu_count() or 1
    return max(1, cores // max(1, threads_per_worker))


def discover_stacks(root: str | os.PathLike[str]) -> list[Path]:
    """The stacks under ``root``: its non-hidden sub-folders holding at least one image, in
    natural order.

    Raises
    ------
    MffError
        When ``root`` is not a folder or holds no such sub-folder.
    """
    from mffgui.errors import MffError
    from mffgui.io.readers import is_image_file
    from mffgui.io.stacks import natural_key

    root = Path(root).expanduser()
    if not root.is_dir():
        raise MffError("--batch needs a folder whose sub-folders are stacks", root)
    subdirs = sorted(
        (d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")),
        key=lambda d: natural_key(d.name),
    )
    stacks = [d for d in subdirs if any(is_image_file(f) for f in d.iterdir() if f.is_file())]
    if not stacks:
        raise MffError("no sub-folder with images found (each sub-folder is one stack)", root)
    return stacks


@dataclass
class ClusterInfo:
    """Where a batch runs (for the progress line and the report).

    Attributes
    ----------
    kind : str
        ``"local"`` (embedded ``LocalCluster``), ``"scheduler"`` (an existing one), ``"client"``
        (a caller's client) or ``"serial"``.
    workers : int
        Worker processes (1 on the serial path).
    threads : int
        Threads in all.
    scheduler : str
        The scheduler's address ("" on the serial path).
    dashboard : str
        The dashboard URL ("" when there is none, e.g. bokeh is not installed).
    """

    kind: str
    workers: int
    threads: int
    scheduler: str = ""
    dashboard: str = ""


class BatchRunner:
    """Fuse many stacks with one :class:`BatchJob`, each stack one task.

    Parameters
    ----------
    job : BatchJob
        The shared settings.
    out_dir : path
        Output folder (as this process sees it; it must be the same path on the workers).
    use_dask : bool
        ``False`` = the serial path in this process.
    workers : int, optional
        Worker processes of the embedded cluster (default :func:`default_workers`).
    threads_per_worker : int
        Threads per worker process (also the OpenCV threads of each task).
    scheduler : str, optional
        Address of an existing scheduler (``tcp://host:8786``) instead of an embedded cluster.
    client : distributed.Client, optional
        Use this client (tests, the app); the runner neither creates nor closes a cluster.
    retries : int
        Resubmissions of a task that raised an unexpected exception (a worker that dies is
        handled by the scheduler: its tasks are rescheduled elsewhere).
    dashboard : bool
        Serve the Dask dashboard of the embedded cluster (needs bokeh).
    """

    def __init__(
        self,
        job: BatchJob,
        out_dir: str | os.PathLike[str],
        *,
        use_dask: bool = True,
        workers: int | None = None,
        threads_per_worker: int = 1,
        scheduler: str | None = None,
        client: Any = None,
        retries: int = 2,
        dashboard: bool = True,
    ) -> None:
        self.job = job
        self.out_dir = Path(out_dir).expanduser().resolve()
        self.use_dask = use_dask and (client is not None or dask_available())
        self.workers = workers
        self.threads_per_worker = max(1, threads_per_worker)
        self.scheduler = scheduler
        self.retries = retries
        self.dashboard = dashboard
        self._client = client
        self._own_client = client is None
        self._cluster: Any = None
        self._cancel = threading.Event()
        self.info = ClusterInfo("serial", 1, 1)

    # --- cluster ---------------------------------------------------------------------------

    def start(self) -> ClusterInfo:
        """Start (or connect to) the cluster; idempotent. Returns where the batch runs."""
        if not self.use_dask:
            self.info = ClusterInfo("serial", 1, 1)
            return self.info
        if self._client is not None and self.info.kind != "serial":
            return self.info  # already started
        if self._client is None:
            from distributed import Client, LocalCluster

            if self.scheduler:
                self._client = Client(self.scheduler)
                kind = "scheduler"
            else:
                n = self.workers or default_workers(self.threads_per_worker)
                dash = ":0" if self.dashboard and importlib.util.find_spec("bokeh") else None
                self._cluster = LocalCluster(
                    n_workers=n,
                    threads_per_worker=self.threads_per_worker,
                    processes=True,
                    dashboard_address=dash,
                    silence_logs=40,
                )
                self._client = Client(self._cluster)
                kind = "local"
        else:
            kind = "client"
        c = self._client
        winfo = (
            c.scheduler_info(n_workers=-1)["workers"]
            if _takes_n_workers(c)
            else c.scheduler_info()["workers"]
        )
        dash = ""
        try:
            if c.dashboard_link and (kind != "local" or self._cluster.dashboard_link):
                dash = c.dashboard_link
        except Exception:
            dash = ""
        self.info = ClusterInfo(
            kind, len(winfo), sum(w["nthreads"] for w in winfo.values()), c.scheduler.address, dash
        )
        return self.info

    def close(self) -> None:
        """Close the client and the embedded cluster this runner created."""
        if self._own_client and self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def __enter__(self) -> BatchRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def cancel(self) -> None:
        """Stop submitting and cancel every queued task (thread-safe); running ones finish."""
        self._cancel.set()

    # --- running ----------------------------------------------------------------------------

    def output_for(self, stack_dir: Path) -> Path:
        """The output image of ``stack_dir``: ``OUT/<folder name>.<fmt>``."""
        return self.out_dir / f"{stack_dir.name}.{self.job.fmt}"

    def run(
        self,
        stacks: Sequence[str | os.PathLike[str]],
        *,
        resume: bool = False,
        on_result: ResultFn | None = None,
        on_start: ResultFn | None = None,
    ) -> list[StackResult]:
        """Fuse ``stacks``; returns one result per stack, in the order given.

        Parameters
        ----------
        stacks : sequence of path
            Stack folders.
        resume : bool
            Skip stacks whose output is complete (:func:`~mffgui.batch.task.is_complete`).
        on_result : callable, optional
            Called in this thread with each finished (done, failed, skipped, cancelled) result,
            in completion order.
        on_start : callable, optional
            Called with each result as its task is queued (``status="queued"``).

        Returns
        -------
        list of StackResult
        """
        self._cancel.clear()
        self.out_dir.mkdir(parents=True, exist_ok=True)
        dirs = [Path(s).expanduser().resolve() for s in stacks]
        results: list[StackResult | None] = [None] * len(dirs)
        todo: list[int] = []
        for i, d in enumerate(dirs):
            done = is_complete(self.output_for(d), self.job) if resume else None
            if done is not None:
                done.stack, done.input = d.name, str(d)
                results[i] = done
                if on_result:
                    on_result(done)
            else:
                todo.append(i)
        if todo:
            self.start()
            if on_start:
                for i in todo:
                    on_start(StackResult(stack=dirs[i].name, input=str(dirs[i])))
            runner = self._run_dask if self.use_dask else self._run_serial
            for i, res in runner(dirs, todo):
                results[i] = res
                if on_result:
                    on_result(res)
            remove_stale_parts(self.out_dir, [self.output_for(dirs[i]).name for i in todo])
        return [r for r in results if r is not None]

    def _cancelled(self, d: Path) -> StackResult:
        return StackResult(
            stack=d.name,
            input=str(d),
            status="cancelled",
            method=self.job.method_name(),
            error="cancelled",
        )

    def _run_serial(self, dirs: list[Path], todo: list[int]):
        for i in todo:
            if self._cancel.is_set():
                yield i, self._cancelled(dirs[i])
                continue
            yield i, fuse_stack_task(self.job, str(dirs[i]), str(self.output_for(dirs[i])))

    def _run_dask(self, dirs: list[Path], todo: list[int]):
        from distributed import as_completed

        client = self._client
        job = self.job if self.job.threads else _with_threads(self.job, self.threads_per_worker)
        run_id = uuid.uuid4().hex[:8]
        futures = {}
        for i in todo:
            d = dirs[i]
            fut = client.submit(
                fuse_stack_task,
                job,
                str(d),
                str(self.output_for(d)),
                key=f"mffgui-fuse-{d.name}-{run_id}",
                retries=self.retries,
                pure=False,
            )
            futures[fut] = i
        ac = as_completed(list(futures))
        pending = set(futures)
        stopping = False
        try:
            while pending and not ac.is_empty():
                if self._cancel.is_set() and not stopping:
                    # Only queued tasks are cancelled: a finished one has written its output and
                    # a running one cannot be interrupted (it will), so both report what they
                    # did, collected as usual.
                    stopping = True
                    queued = self._queued(pending)
                    client.cancel(queued)
                    for fut in queued:
                        pending.discard(fut)
                        yield futures[fut], self._cancelled(dirs[futures[fut]])
                    continue
                batch = ac.next_batch(block=False) if ac.has_ready() else []
                if not batch:
                    time.sleep(0.05)
                    continue
                for fut in batch:
                    if fut not in pending:
                        continue  # cancelled above
                    pending.discard(fut)
                    i = futures[fut]
                    yield i, self._collect(fut, dirs[i])
        finally:
            if pending:
                client.cancel(list(pending))

    def _queued(self, pending: set[Any]) -> list[Any]:
        """The futures of ``pending`` whose task has neither finished nor started on a worker."""
        try:
            started = {k for keys in self._client.processing().values() for k in keys}
        except Exception:  # an older scheduler without processing(): cancel all unfinished
            started = set()
        return [f for f in pending if not f.done() and f.key not in started]

    def _collect(self, fut: Any, d: Path) -> StackResult:
        try:
            res = fut.result()
        except Exception as err:
            return StackResult(
                stack=d.name,
                input=str(d),
                status="failed",
                method=self.job.method_name(),
                error=f"{type(err).__name__}: {err}",
            )
        return res


def _with_threads(job: BatchJob, n: int) -> BatchJob:
    from dataclasses import replace

    return replace(job, threads=n)


def _takes_n_workers(client: Any) -> bool:
    import inspect

    return "n_workers" in inspect.signature(client.scheduler_info).parameters
