"""The weights lock: which commit of each model's repository the weights volume holds, like a lockfile.

`config/models.py` (and `config/moderation.py` for the image classifier) names a commit (pinned: it wins) or a
branch. `deploy.py weights` resolves a branch to the commit it downloads and records it here,
`<volume>/weights.lock.json`; the GPU classes (and the classifier) load exactly the locked commit, never a branch, and
`deploy.py deploy` refuses a model that is neither pinned nor locked.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from config.models import select_for_download as select_models
from config.moderation import IMAGE_CLASSIFIER
from config.values import value

LOCK_FILE = "weights.lock.json"


class Lockable(Protocol):
    """A registry entry whose weights the volume holds: a generation model (config/models.py) or the image
    classifier (config/moderation.py)."""

    @property
    def id(self) -> str: ...

    @property
    def repo(self) -> str: ...

    @property
    def revision(self) -> str: ...

    @property
    def pinned(self) -> bool: ...

    @property
    def allow_patterns(self) -> tuple[str, ...]: ...


def select_for_download(model_ids: list[str] | None) -> tuple[Lockable, ...]:
    """What `deploy.py weights` downloads: the named entries, or every generation model and the image classifier
    when None. Refuses unknown ids (config.models.select_for_download)."""
    if not model_ids:
        return (*select_models(None), IMAGE_CLASSIFIER)
    named = list(dict.fromkeys(model_ids))
    models = [model_id for model_id in named if model_id != IMAGE_CLASSIFIER.id]
    chosen: dict[str, Lockable] = {entry.id: entry for entry in select_models(models)} if models else {}
    chosen[IMAGE_CLASSIFIER.id] = IMAGE_CLASSIFIER
    return tuple(chosen[model_id] for model_id in named)


@value
class Locked:
    """One model's entry in the lock: the repository, what the registry asked for, and the commit downloaded."""

    repo: str
    requested: str
    commit: str
    locked_at: str


def parse_lock(text: str | None) -> dict[str, Locked]:
    if not text:
        return {}
    data = json.loads(text)
    return {model_id: Locked(**entry) for model_id, entry in data.get("models", {}).items()}


def dump_lock(locks: Mapping[str, Locked]) -> str:
    return json.dumps({"models": {k: asdict(v) for k, v in sorted(locks.items())}}, indent=2, sort_keys=True) + "\n"


def read_lock(root: Path) -> dict[str, Locked]:
    path = root / LOCK_FILE
    return parse_lock(path.read_text(encoding="utf-8")) if path.is_file() else {}


def write_lock(root: Path, locks: Mapping[str, Locked]) -> None:
    """Write the whole lock at once (a temporary file renamed over the old one)."""
    staging = root / f".{LOCK_FILE}.tmp"
    staging.write_text(dump_lock(locks), encoding="utf-8")
    staging.replace(root / LOCK_FILE)


def locked_commit(entry: Lockable, locks: Mapping[str, Locked]) -> str | None:
    """The commit to load for `entry`: its pinned revision, else the lock's (for the same repository and branch)."""
    if entry.pinned:
        return entry.revision
    found = locks.get(entry.id)
    if found is None or found.repo != entry.repo or found.requested != entry.revision:
        return None
    return found.commit


def unresolved(entries: Iterable[Lockable], locks: Mapping[str, Locked]) -> list[Lockable]:
    """Entries that are neither pinned nor locked: deploy refuses them."""
    return [entry for entry in entries if locked_commit(entry, locks) is None]


def refusal(entries: Iterable[Lockable], locks: Mapping[str, Locked]) -> str | None:
    loose = unresolved(entries, locks)
    if not loose:
        return None
    names = ", ".join(f"{e.id} ({e.repo}@{e.revision})" for e in loose)
    models = " ".join(f"--model {e.id}" for e in loose)
    return (
        "neither pinned (config/models.py, config/moderation.py for the classifier) nor locked on the weights "
        f"volume: {names}. "
        f"Run `python deploy.py weights {models}` (add --ephemeral before the first deploy) to download and lock them"
    )


def plan(
    entries: Iterable[Lockable],
    locks: Mapping[str, Locked],
    *,
    update: Iterable[str] = (),
    resolve: Callable[[str, str], str],
) -> dict[str, Locked]:
    """The lock after this download: pinned entries keep their commit, locked ones keep theirs unless named in
    `update` (moved to their branch's newest commit), the rest are resolved now with `resolve(repo, branch)`."""
    moving = set(update)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    result = dict(locks)
    for entry in entries:
        if entry.pinned and entry.id in moving:
            raise ValueError(f"{entry.id} is pinned to {entry.revision} in its registry; change it there")
        current = None if entry.id in moving else locked_commit(entry, locks)
        if current is not None and current == (locks[entry.id].commit if entry.id in locks else None):
            continue  # locked already, kept
        commit = current or resolve(entry.repo, entry.revision)
        if len(commit) != 40:
            raise ValueError(f"{entry.repo}@{entry.revision} resolved to {commit!r}, not a full commit hash")
        result[entry.id] = Locked(entry.repo, entry.revision, commit, now)
    return result
