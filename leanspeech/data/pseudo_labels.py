"""Teacher pseudo-labels for distillation, computed once: cached, in parallel, resumable.

`cached_pseudo_labels(make_teacher, clips, cache)` labels the clips the cache lacks with
`compress.teachers.pseudo_label` and appends one JSON line per clip to `cache` as each chunk finishes
(`{"clip": ..., "label": ...}` or `{"clip": ..., "failure": ...}`), so a killed run loses at most a
chunk and a re-run labels only the rest. A clip the teacher fails on is logged with its file, recorded
and skipped (not retried unless `retry_failures`). With `workers > 1`, chunks go to processes that
each build the teacher once with `make_teacher` (a picklable callable: a class or functools.partial)
and run torch on one thread.
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import torch
from tqdm import tqdm

from leanspeech.compress.teachers import PseudoLabels, Teacher, pseudo_label
from leanspeech.errors import CorpusError

log = logging.getLogger(__name__)
TeacherFactory = Callable[[], Teacher]


@dataclass
class CachedLabels:
    labels: dict[str, float] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)  # clip -> problem
    computed: int = 0  # clips labelled (or failed) by this call
    reused: int = 0  # clips found in the cache


def read_cache(cache: str | Path) -> tuple[dict[str, float], dict[str, str]]:
    """Labels and failures recorded in a cache file; a torn last line (killed run) is ignored."""
    labels, failures = {}, {}
    path = Path(cache)
    if not path.is_file():
        return labels, failures
    for number, line in enumerate(path.read_text().splitlines(), 1):
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            log.warning("%s:%d: unreadable cache line ignored (interrupted write)", path, number)
            continue
        if "label" in row:
            labels[row["clip"]] = float(row["label"])
            failures.pop(row["clip"], None)
        else:
            failures[row["clip"]] = row["failure"]
    return labels, failures


_worker_teacher: Teacher | None = None


def _init_worker(make_teacher: TeacherFactory) -> None:
    global _worker_teacher
    torch.set_num_threads(1)  # the processes are the parallelism
    _worker_teacher = make_teacher()


def _label_chunk(job: tuple[list[str], int]) -> PseudoLabels:
    clips, batch_size = job
    return pseudo_label(_worker_teacher, clips, batch_size, progress=False)


def _chunks(clips: Sequence[str], size: int) -> list[list[str]]:
    return [list(clips[i:i + size]) for i in range(0, len(clips), size)]


def _map_chunks(make_teacher: TeacherFactory, chunks: list[list[str]], batch_size: int,
                workers: int) -> Iterator[PseudoLabels]:
    if workers <= 1 or len(chunks) < 2:
        teacher = make_teacher()
        for chunk in chunks:
            yield pseudo_label(teacher, chunk, batch_size, progress=False)
        return
    with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(make_teacher,)) as pool:
        yield from pool.map(_label_chunk, [(chunk, batch_size) for chunk in chunks])


def cached_pseudo_labels(
    make_teacher: TeacherFactory, clips: Sequence[str | Path], cache: str | Path, workers: int = 1,
    batch_size: int = 8, chunk_size: int = 16, max_new: int | None = None, retry_failures: bool = False,
    progress: bool = True,
) -> CachedLabels:
    """Teacher labels of `clips` (audio paths, read at 16 kHz, resampled if needed), from and into `cache`.
    `max_new` stops after that many new clips (a budgeted run; call again to finish)."""
    if chunk_size < 1 or batch_size < 1:
        raise CorpusError(f"{cache}: chunk_size and batch_size must be at least 1")
    cache = Path(cache)
    labels, failures = read_cache(cache)
    done = set(labels) | (set() if retry_failures else set(failures))
    names = list(dict.fromkeys(str(c) for c in clips))
    todo = [c for c in names if c not in done]
    todo = todo[:max_new] if max_new is not None else todo
    result = CachedLabels(reused=len(names) - len([c for c in names if c not in done]))
    cache.parent.mkdir(parents=True, exist_ok=True)
    with open(cache, "a") as out, tqdm(total=len(todo), desc="teacher labels", unit="clip", disable=not progress) as bar:
        for chunk in _map_chunks(make_teacher, _chunks(todo, chunk_size), batch_size, workers):
            rows = [{"clip": c, "label": v} for c, v in chunk.labels.items()]
            rows += [{"clip": c, "failure": problem} for c, problem in chunk.failures]
            out.write("".join(json.dumps(row) + "\n" for row in rows))
            out.flush()
            labels.update(chunk.labels)
            for clip, problem in chunk.failures:
                failures[clip] = problem
            result.computed += len(rows)
            bar.update(len(rows))
    wanted = set(names)
    result.labels = {c: v for c, v in labels.items() if c in wanted}
    result.failures = {c: p for c, p in failures.items() if c in wanted and c not in result.labels}
    if result.failures:
        log.warning("teacher labels: %d clip(s) skipped after teacher or read failures (listed in %s)",
                    len(result.failures), cache)
    return result
