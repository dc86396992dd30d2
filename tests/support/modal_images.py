"""The files a Modal image carries into its containers, read from the image definition itself (offline)."""

from __future__ import annotations

import shutil
from pathlib import Path, PurePosixPath
from typing import Any

from modal._utils.async_utils import synchronizer
from modal.mount import _Mount

CONTAINER_ROOT = PurePosixPath("/root")  # the working directory and first sys.path entry in a Modal container


def image_files(image: Any) -> dict[PurePosixPath, Path]:
    """Remote path → local file for every file the image's local-file layers mount (or copy)."""
    files: dict[PurePosixPath, Path] = {}
    seen: set[int] = set()
    stack = [synchronizer._translate_in(image)]  # type: ignore[no-untyped-call]
    while stack:
        layer = stack.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        if isinstance(layer, _Mount):
            for entry in layer._entries or ():
                for local, remote in entry.get_files_to_upload():
                    files[PurePosixPath(remote)] = Path(local)
            continue
        if callable(getattr(layer, "_deps", None)):
            stack.extend(layer._deps())
    return files


def materialise(image: Any, target: Path) -> Path:
    """Copy the image's files into `target` as the container would see them; returns the folder standing for
    /root. Files mounted elsewhere land under `target` at their absolute path."""
    for remote, local in image_files(image).items():
        destination = target / remote.relative_to("/")
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(local, destination)
    return target / CONTAINER_ROOT.relative_to("/")
