"""The import direction and the torch-free API are checked, not hoped for."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable
from functools import cache
from pathlib import Path

import pytest

from functions.api.routes import LOADED_BY_THEIR_CALLS

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_hold() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_api_imports_without_torch_or_diffusers() -> None:
    code = (
        "import sys, functions.api.app, functions.api_service, functions.cron;"
        "heavy = sorted(m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules);"
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@cache  # a fresh interpreter per entry, once per test process: several tests read the same entry's modules
def _modules_after(imports: str) -> tuple[str, ...]:
    code = f"import sys, {imports}; print(' '.join(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return tuple(result.stdout.split())


@pytest.fixture(scope="module")
def modules_at_api_start(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The modules loaded once the API is imported and its app made (`create_app`), in a fresh interpreter."""
    data_dir = tmp_path_factory.mktemp("api-start")
    code = (
        "import sys\n"
        "from config.settings import Settings\n"
        "from functions.api.app import create_app\n"
        f"create_app(Settings(data_dir={str(data_dir)!r}))\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return result.stdout.split()


def test_the_frozen_dataclasses_the_api_makes_at_start_share_their_methods(tmp_path: Path) -> None:
    """Issue 34 (cold start): a `@dataclass(frozen=True)` compiles six methods of its own when made; a `@value`
    (config/values.py) compiles three and shares equality, hash and repr. Every one of ours the start makes is one,
    and has a docstring (without one, dataclass writes one from the class's signature, ~0.3 M instructions each)."""
    code = (
        "import dataclasses, json, sys\n"
        "from config.settings import Settings\n"
        "from functions.api.app import create_app\n"
        f"create_app(Settings(data_dir={str(tmp_path)!r}))\n"
        "classes = {c for m in list(sys.modules.values()) for c in vars(m).values() if isinstance(c, type)}\n"
        "ours = {c for c in classes if str(c.__module__).split('.')[0] in ('config', 'shared', 'functions')}\n"
        "made = {c for c in ours if dataclasses.is_dataclass(c)}\n"
        "generated = sorted(c.__qualname__ for c in made if c.__eq__.__module__ != 'config.values')\n"
        "undocumented = sorted(c.__qualname__ for c in made if (c.__doc__ or '').startswith(c.__name__ + '('))\n"
        "print(json.dumps([len(made), generated, undocumented]))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    count, generated, undocumented = json.loads(result.stdout)
    assert count > 40  # the check sees them
    assert generated == []
    assert undocumented == []


def test_every_frozen_dataclass_of_ours_is_a_value() -> None:
    """One way of making a value object: `@value` (config/values.py), wherever the class is made, so a record that
    moves into the start's import graph needs no second change and none is left behind."""
    spelled = [
        f"{path.relative_to(ROOT)}:{number}"
        for folder in ("config", "shared", "functions", "bench", "tests/support", "tests/e2e")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if path.name != "values.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if line.strip().startswith("@dataclass(") and "frozen=True" in line
    ]
    assert spelled == []


def test_the_api_and_task_containers_import_no_generation_code() -> None:
    """Modal imports a function's own module in its container: the API's (functions.api_service) and the tasks'
    (functions.cron) import graphs hold no module of functions.generation; dispatch finds the GPU class by name."""
    for entry in ("functions.api.app, functions.cron", "functions.api_service"):
        loaded = _modules_after(entry)
        assert [name for name in loaded if name.startswith("functions.generation")] == [], entry
        assert "functions.job_routing" in loaded, entry


def test_polar_sdk_is_imported_where_it_is_used_not_at_api_start() -> None:
    for entry in ("functions.api.app", "functions.api_service"):
        loaded = _modules_after(entry)
        assert [name for name in loaded if name == "polar" or name.startswith("polar.")] == [], entry


# Loaded only by the calls that use them (shared/kit/http.py, SupabaseStorage): httpx also loads its command-line
# tool's rich and pygments; none of them is needed to build the app or answer its common requests.
OUTBOUND_SDKS = ("httpx", "storage3", "rich", "pygments", "yarl", "polar")


def _outbound_sdks(loaded: Iterable[str]) -> list[str]:
    return sorted({name.split(".")[0] for name in loaded} & set(OUTBOUND_SDKS))


def test_outbound_sdks_are_imported_where_they_are_used_not_when_the_api_starts(
    modules_at_api_start: list[str],
) -> None:
    assert _outbound_sdks(modules_at_api_start) == []


# Imported by the calls that use them, as the outbound SDKs are (issue 34: cold start): Pillow by the calls that decode
# images (shared/media/decoding.py, images.py, thumbnails.py), tomllib by the product catalogue's parser.
LAZY_AT_START = ("PIL", "tomllib")


def test_modules_only_some_requests_need_are_imported_by_those_calls_not_when_the_api_starts(
    modules_at_api_start: list[str],
) -> None:
    modules = set(modules_at_api_start)
    loaded = {name.split(".")[0] for name in modules}
    assert loaded & set(LAZY_AT_START) == set()
    # Ours, imported by the rarer calls that need them (functions/api/routes/__init__.py); smtplib with the SMTP sender.
    assert modules & {*LOADED_BY_THEIR_CALLS, "shared.notify.smtp", "shared.notify.email", "smtplib"} == set()


def test_the_modal_api_entry_imports_what_the_routes_import_when_first_called() -> None:
    """A container restored from the snapshot pays for none of them either."""
    assert set(LOADED_BY_THEIR_CALLS) <= set(_modules_after("functions.api_service"))


def test_the_modal_api_entry_loads_the_production_sdks_before_its_memory_snapshot() -> None:
    """Production stores in Supabase Storage: its entry module imports storage3 (and httpx) so the snapshot holds
    them; polar-sdk stays with the rare webhook and billing calls."""
    loaded = _outbound_sdks(_modules_after("functions.api_service"))
    assert {"httpx", "storage3"} <= set(loaded)
    assert "polar" not in loaded
    assert {"PIL.Image", "PIL.ImageOps"} <= set(_modules_after("functions.api_service"))


def test_the_local_stack_imports_no_modal() -> None:
    """The local stack (deploy.py local) shares the task registry with the Modal tick but not its wiring: importing it
    builds no `modal.App` and loads no Modal client."""
    loaded = _modules_after("functions.local")
    assert "functions.tasks" in loaded
    assert [name for name in loaded if name == "modal" or name.startswith(("modal.", "functions.modal_app"))] == []


# Issue 34 (cold start): response models build their schemas on first use (functions/api/schemas.py); request bodies
# are built at import, where FastAPI silences the warning about the alias it gives them.
_SCHEMA_STATE = """
import sys, typing
from pydantic import BaseModel
from fastapi.routing import APIRoute
import {entry}
from functions.api.routes import LOCAL_ROUTERS, ROUTERS
from functions.api.schemas import ResponseModel, response_models
bodies, deferred_bodies = set(), []
for router in ROUTERS + LOCAL_ROUTERS:
    for route in router.routes:
        if isinstance(route, APIRoute):
            for field in route.dependant.body_params:
                for kind in (field.field_info.annotation, *typing.get_args(field.field_info.annotation)):
                    if isinstance(kind, type) and issubclass(kind, BaseModel):
                        bodies.add(kind.__name__)
                        if issubclass(kind, ResponseModel):
                            deferred_bodies.append(kind.__name__)
built = sorted(m.__name__ for m in response_models() if m.__pydantic_complete__)
print(len(bodies), sorted(deferred_bodies), len(list(response_models())), built)
"""


def _schema_state(entry: str) -> tuple[int, str, int, str]:
    code = _SCHEMA_STATE.format(entry=entry)
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    bodies, rest = result.stdout.split(" ", 1)
    deferred, rest = rest.split("] ", 1)
    count, built = rest.split(" ", 1)
    return int(bodies), deferred + "]", int(count), built.strip()


def test_response_models_are_built_on_first_use_and_request_bodies_at_import() -> None:
    bodies, deferred_bodies, responses, built = _schema_state("functions.api.app")
    assert bodies >= 10
    assert deferred_bodies == "[]", "a request body must be a RequestModel (functions/api/schemas.py says why)"
    assert responses >= 50
    assert built == "[]", f"built at import: {built}"


def test_the_modal_api_entry_builds_the_response_models_before_its_memory_snapshot() -> None:
    _, _, responses, built = _schema_state("functions.api_service")
    assert built.count("'") == 2 * responses


def test_route_modules_evaluate_their_annotations_when_defined() -> None:
    """Issue 34 (cold start): with postponed annotations (`from __future__ import annotations`) pydantic evaluates each
    model field's string and FastAPI each route parameter's, again, when the module is imported; evaluated by Python
    as the module runs they cost nothing more (3-4% of what the API's start costs beyond its libraries). The settings'
    ~80 fields likewise."""
    routes = sorted((ROOT / "functions" / "api" / "routes").glob("*.py"))
    assert routes
    routes.append(ROOT / "config" / "settings.py")
    postponed = [p.name for p in routes if "from __future__ import annotations" in p.read_text(encoding="utf-8")]
    assert postponed == []


# Issue 34 (cold start): pydantic reads a default factory's signature when a model or a route's parameter is declared
# (does the factory take the validated data?); a builtin's (`list`, `dict`) has no Python signature and is parsed from
# its text by the tokenizer: the twelve the API had cost ~20 million instructions of its start.
_BUILTIN_FACTORIES = """
import sys, builtins
import functions.api.app
from fastapi.routing import APIRoute
from pydantic import BaseModel
from config.settings import Settings
from functions.api.routes import LOCAL_ROUTERS, ROUTERS
builtin = {v for v in vars(builtins).values() if isinstance(v, type)}
found = []
models, seen = [BaseModel], set()
while models:
    model = models.pop()
    models.extend(model.__subclasses__())
    if model.__module__.split('.')[0] in ('config', 'functions', 'shared') and model not in seen:
        seen.add(model)
        found += [f'{model.__name__}.{n}' for n, f in model.model_fields.items() if f.default_factory in builtin]
for router in ROUTERS + LOCAL_ROUTERS:
    for route in router.routes:
        if isinstance(route, APIRoute):
            for field in route.dependant.query_params + route.dependant.body_params + route.dependant.header_params:
                if field.field_info.default_factory in builtin:
                    found.append(f'{route.path} {field.name}')
print(len(seen), sorted(found))
"""


def test_no_model_or_route_parameter_the_api_declares_at_start_takes_a_builtin_as_its_default_factory() -> None:
    code = _BUILTIN_FACTORIES
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    models, found = result.stdout.split(" ", 1)
    assert int(models) >= 80  # the settings, the request bodies and the response models were all looked at
    assert found.strip() == "[]", "use a factory of ours (config/settings.py's _empty_list says why)"
