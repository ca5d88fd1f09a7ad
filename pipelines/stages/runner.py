"""Run a stage's per-utterance work through the artifact cache.

Every stage has the same outer loop: skip what the cache holds, compute the rest
(optionally in worker processes), keep going past a bad utterance, save each result
the moment it is done, commit at the end, and report "N cached, M computed".
"""

from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from pipelines.artifacts.store import ArtifactStore
from pipelines.errors import BadInput, Interrupted, SkipItem
from pipelines.reporting import Reporter
from pipelines.stage_report import StageReport


@dataclass(frozen=True)
class WorkItem:
    """One utterance's work: its id, a checksum of all its inputs, and what `compute` needs."""

    uid: str
    checksum: str
    task: Any


@dataclass
class ItemOutput:
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    attrs: dict[str, Any] = field(default_factory=dict)
    notices: list[tuple[str, str]] = field(default_factory=list)  # (key, message), said once per run


def run_items(
    store: ArtifactStore,
    items: Iterable[WorkItem],
    compute: Callable[[Any], ItemOutput],
    reporter: Reporter,
    jobs: int = 1,
) -> StageReport:
    """Compute every item not already cached; `compute` must be a picklable top-level function."""
    report = StageReport(store.stage, store.split)
    todo = uncached(store, items, report)
    with committing(store, report), reporter.progress(len(todo), f"{store.stage} {store.split}") as bar:
        for item, outcome in outcomes(todo, compute, jobs):
            _record(store, item, outcome, report, reporter)
            bar.advance()
    return report


def uncached(store: ArtifactStore, items: Iterable, report: StageReport) -> list:
    """The items (anything with `uid` and `checksum`) the cache does not hold; counts the others."""
    todo = []
    for item in items:
        if store.is_cached(item.uid, item.checksum):
            report.cached += 1
        else:
            todo.append(item)
    return todo


def committing(store: ArtifactStore, report: StageReport):
    """Commit the store when the work ends, also on Ctrl-C (then exit as interrupted, work kept)."""
    return committing_all([(store, report)])


@contextmanager
def committing_all(runs: list[tuple[ArtifactStore, StageReport]]) -> Iterator[None]:
    """`committing` for a stage that works on several splits at once: on Ctrl-C every store is committed and the
    message counts the items of all of them."""
    try:
        yield
    except KeyboardInterrupt:
        for store, _ in runs:
            store.commit()
        saved = {report.split: report.cached + report.computed for _, report in runs}
        each = f" ({', '.join(f'{split} {count}' for split, count in saved.items())})" if len(runs) > 1 else ""
        raise Interrupted(f"{runs[0][0].stage} {', '.join(saved)} interrupted: {sum(saved.values())} items "
                          f"saved{each}; rerun to resume") from None
    for store, _ in runs:
        store.commit()


def outcomes(todo: list[WorkItem], compute: Callable, jobs: int):
    """Yield (item, ItemOutput or exception) as items finish, serially or in a process pool."""
    if jobs <= 1 or len(todo) <= 1:
        for item in todo:
            yield item, _guarded(compute, item.task)
        return
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        queue = iter(todo)
        running = {}
        for item in queue:
            running[pool.submit(_guarded, compute, item.task)] = item
            if len(running) >= 2 * jobs:
                break
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                item = running.pop(future)
                yield item, future.result()
                following = next(queue, None)
                if following is not None:
                    running[pool.submit(_guarded, compute, following.task)] = following


def _guarded(compute: Callable, task: Any):
    """Run one item; user-fixable problems come back as values so the run goes on."""
    try:
        return compute(task)
    except (BadInput, SkipItem) as err:
        return err


def _record(store: ArtifactStore, item: WorkItem, outcome, report: StageReport, reporter: Reporter) -> None:
    if isinstance(outcome, SkipItem):
        report.skipped.append((item.uid, str(outcome)))
        reporter.warn(f"{item.uid}: {outcome}")
    elif isinstance(outcome, BadInput):
        report.failed.append((item.uid, str(outcome)))
        reporter.warn(f"{item.uid}: {outcome}")
    else:
        store.put(item.uid, item.checksum, outcome.arrays, outcome.attrs)
        for key, message in outcome.notices:
            reporter.once(key, message)
        report.computed += 1
