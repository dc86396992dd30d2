"""The web app's structure, checked like shared/'s floors: a view never imports another view (shared pieces live in
web/js/*.js), and no module keeps its own listener set where the platform's EventTarget does the job."""

from __future__ import annotations

import re
from pathlib import Path

WEB = Path(__file__).resolve().parents[2] / "web" / "js"
IMPORT = re.compile(r"""^\s*import\b[^'"]*['"]([^'"]+)['"]""", re.MULTILINE)


def test_no_view_imports_another_view() -> None:
    offenders = [
        f"{view.name} imports {target}"
        for view in sorted((WEB / "views").glob("*.js"))
        for target in IMPORT.findall(view.read_text())
        if target.startswith("./") or "/views/" in target
    ]
    assert offenders == [], "share the piece through a module in web/js/ instead"


def test_listeners_go_through_event_target() -> None:
    hand_rolled = [
        path.name for path in sorted(WEB.rglob("*.js")) if re.search(r"listeners\s*=\s*new Set", path.read_text())
    ]
    assert hand_rolled == [], "use web/js/events.js (the platform's EventTarget)"


def test_no_merge_conflict_markers_were_left_in_the_web_app_or_docs() -> None:
    """Python has ruff to catch a left-over conflict; the static files and docs have this."""
    root = WEB.parents[1]
    marker = re.compile(r"^(<<<<<<< |>>>>>>> |=======$)", re.MULTILINE)
    files = [*root.joinpath("web").rglob("*.*"), *root.joinpath("docs").glob("*.md"), root / "README.md"]
    left = [str(path.relative_to(root)) for path in files if path.suffix != ".png" and marker.search(path.read_text())]
    assert left == []
