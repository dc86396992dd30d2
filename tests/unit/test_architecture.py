"""The import direction and the torch-free API are checked, not hoped for."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_hold() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_api_imports_without_torch_or_diffusers() -> None:
    code = (
        "import sys, functions.api.app, functions.api_service, functions.tasks;"
        "heavy = sorted(m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules);"
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def _modules_after(imports: str) -> list[str]:
    code = f"import sys, {imports}; print(' '.join(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return result.stdout.split()


def test_the_api_and_task_containers_import_no_generation_code() -> None:
    """Modal imports a function's own module in its container: the API's (functions.api_service) and the tasks'
    (functions.tasks) import graphs hold no module of functions.generation; dispatch finds the GPU class by name."""
    for entry in ("functions.api.app, functions.tasks", "functions.api_service"):
        loaded = _modules_after(entry)
        assert [name for name in loaded if name.startswith("functions.generation")] == [], entry
        assert "functions.dispatch" in loaded, entry


def test_polar_sdk_is_imported_where_it_is_used_not_at_api_start() -> None:
    for entry in ("functions.api.app", "functions.api_service"):
        loaded = _modules_after(entry)
        assert [name for name in loaded if name == "polar" or name.startswith("polar.")] == [], entry
