"""Filling the weights volume from the Hugging Face Hub and locking what was downloaded (runs on the weights image).

Each model's revision is resolved to a commit (shared/weights.py decides which: pinned, locked, or the branch's
newest), the snapshot of exactly that commit is downloaded to `<root>/<repo>/<commit>`, and the lock is written
after each model so an interrupted run keeps what it finished. `endpoint` points the Hub client elsewhere (tests
use a loopback stand-in for the Hub's HTTP API).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from shared.weights import Lockable, Locked, plan, read_lock, write_lock


def fill_weights(
    root: Path,
    entries: tuple[Lockable, ...],
    *,
    update: tuple[str, ...] = (),
    token: str | None = None,
    endpoint: str | None = None,
    saved: Callable[[], None] = lambda: None,
    say: Callable[[str], None] = print,
) -> dict[str, Locked]:
    """Download every entry's locked commit (resolving branches first) and return the lock as written.

    `saved` runs after each model's snapshot and lock are on disk (the Modal function commits the volume there).
    """
    from huggingface_hub import HfApi, snapshot_download

    api = HfApi(endpoint=endpoint, token=token)

    def resolve(repo: str, revision: str) -> str:
        sha = api.model_info(repo, revision=revision).sha
        if sha is None:
            raise ValueError(f"the Hub answered no commit for {repo}@{revision}")
        return sha

    locks = read_lock(root)
    target = plan(entries, locks, update=update, resolve=resolve)
    for entry in entries:
        locked = target[entry.id]
        folder = root / entry.repo / locked.commit
        say(f"[weights] {entry.id}: {entry.repo}@{entry.revision} → commit {locked.commit} → {folder}")
        snapshot_download(
            repo_id=entry.repo,
            revision=locked.commit,
            local_dir=str(folder),
            allow_patterns=list(entry.allow_patterns) or None,
            token=token,
            endpoint=endpoint,
        )
        locks = {**read_lock(root), entry.id: locked}  # re-read: keep what another run locked meanwhile
        write_lock(root, locks)
        saved()
        say(f"[weights] {entry.id}: locked at {locked.commit}")
    return locks
