"""Batch fusion of many stacks: one task per stack on Dask (or serially); Qt-free.

``mffgui fuse --batch`` and the app's batch queue both drive :class:`BatchRunner`.
Dask is optional (``pip install 'mffgui[batch]'``) and imported only when a batch runs.
"""

from mffgui.batch.engine import (
    NO_DASK_MESSAGE,
    BatchRunner,
    ClusterInfo,
    dask_available,
    default_workers,
    discover_stacks,
)
from mffgui.batch.report import BatchProgress, write_report
from mffgui.batch.task import BatchJob, StackResult, fuse_stack_task, is_complete

__all__ = [
    "NO_DASK_MESSAGE",
    "BatchJob",
    "BatchProgress",
    "BatchRunner",
    "ClusterInfo",
    "StackResult",
    "dask_available",
    "default_workers",
    "discover_stacks",
    "fuse_stack_task",
    "is_complete",
    "write_report",
]
