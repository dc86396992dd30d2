"""The Modal App inspected offline: which function runs on which image, with what GPU and secrets."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import modal
import pytest

from functions import api_service, cron, modal_app, web
from functions.generation import gpu
from functions.safety import modal_function, remote
from shared.tasks.schedule import DEFAULT_LEASE

ROOT = Path(__file__).resolve().parents[2]


def same_image(a: Any, b: Any) -> bool:
    """Modal re-wraps an image's local-files layer per function; the build step underneath is the one defined."""
    return repr(a._deps_()[0]) == repr(b._deps_()[0])


def _registered() -> dict[str, Any]:
    """Everything the Modal modules define: the app module and the modules it imports to register on `app`."""
    return {**vars(gpu), **vars(cron), **vars(modal_function), **vars(modal_app), **vars(api_service), **vars(web)}


def _functions() -> dict[str, modal.Function[..., Any, Any]]:
    return {name: value for name, value in _registered().items() if isinstance(value, modal.Function)}


def test_api_is_a_cpu_web_function_with_the_production_secret() -> None:
    info = api_service.api.info()
    assert info.gpus == []
    assert info.secrets == ["modal.Secret.from_name('atelier-production')"]
    assert info.web_info is not None
    assert same_image(api_service.api._spec_.image, modal_app.api_image)
    assert not same_image(api_service.api._spec_.image, modal_app.gpu_image)
    # Cold starts restore a memory snapshot taken after the module (and so the API's imports) loaded.
    assert _definition(api_service.api)["enable_memory_snapshot"] is True
    assert _definition(cron.tick)["enable_memory_snapshot"] is False


def test_the_web_app_is_its_own_cpu_web_function_carrying_the_static_files() -> None:
    info = web.web.info()
    assert info.gpus == []
    assert info.web_info is not None
    assert same_image(web.web._spec_.image, modal_app.web_image)
    assert (ROOT / "web" / "index.html").exists()


def _classes() -> dict[str, modal.Cls]:
    return {name: value for name, value in _registered().items() if isinstance(value, modal.Cls)}


def test_every_registered_function_is_known() -> None:
    functions = {"api", "web", "download_weights", "tick", "run_scheduled", "classify_image"}
    assert set(_functions()) == functions
    assert set(_classes()) == {
        "FluxSchnell",
        "FluxKontext",
        "FluxFill",
        "QwenImage",
        "Flux2Klein",
        "Upscaler",
        "Captioner",
    }
    # Nothing is registered on the app that this module does not know about.
    local_state: Any = synchronizer_app()._local_state
    assert set(local_state.functions) == functions | {f"{name}.*" for name in _classes()}
    assert set(local_state.classes) == set(_classes())


def test_one_cron_tick_is_the_only_schedule_and_tasks_run_on_the_api_image_without_gpu() -> None:
    scheduled = {name: f.info().schedule for name, f in _functions().items() if f.info().schedule is not None}
    assert scheduled == {"tick": f"Cron('{cron.TICK_SCHEDULE}', UTC)"}
    for function in (cron.tick, cron.run_scheduled):
        info = function.info()
        assert info.gpus == []
        assert info.secrets == ["modal.Secret.from_name('atelier-production')"]
        assert same_image(function._spec_.image, modal_app.api_image)
    # A claimed run keeps its lease longer than Modal lets it run, so no tick starts it twice.
    assert cron.run_scheduled.info().timeout == cron.RUN_TIMEOUT
    assert DEFAULT_LEASE.total_seconds() > cron.RUN_TIMEOUT


def synchronizer_app() -> Any:
    from modal._utils.async_utils import synchronizer

    translate: Any = synchronizer._translate_in
    return translate(modal_app.app)


def _enter_flags(cls: modal.Cls) -> dict[str, int]:
    """The lifecycle flags of a class's methods, read offline from Modal's partial functions."""
    from modal._partial_function import _PartialFunctionFlags
    from modal._utils.async_utils import synchronizer

    translate: Any = synchronizer._translate_in
    flags = {name: translate(pf).flags for name, pf in cls._get_partial_functions().items()}
    return {
        name: flag
        for name, flag in flags.items()
        if flag & (_PartialFunctionFlags.ENTER_PRE_SNAPSHOT | _PartialFunctionFlags.ENTER_POST_SNAPSHOT)
    }


def test_each_gpu_class_has_a_gpu_the_weights_volume_and_snapshots() -> None:
    from modal._partial_function import _PartialFunctionFlags

    from config.models import BY_ID
    from functions.job_routing import CLASS_FOR_MODEL

    assert set(CLASS_FOR_MODEL) == set(BY_ID)
    for name, cls in _classes().items():
        service = cls._get_class_service_function()
        info = service.info()
        served = [model_id for model_id, cls_name in CLASS_FOR_MODEL.items() if cls_name == name]
        assert served, name
        assert info.gpus == [(BY_ID[served[0]].gpu, 1)], name
        assert set(info.volumes) == {modal_app.WEIGHTS_MOUNT}
        assert info.volumes[modal_app.WEIGHTS_MOUNT].name == "atelier-weights"
        assert info.secrets == ["modal.Secret.from_name('atelier-production')"]
        assert 0 < info.timeout <= 900
        # One input at a time per container (no @modal.concurrent), so one job at a time per GPU.
        assert info.concurrency_info is None or info.concurrency_info.max_inputs == 1
        assert sorted(info.method_names or []) == ["render", "run_job"]
        # Weights load before the snapshot and move to the GPU after it. Modal refuses snap=True methods on a
        # class without enable_memory_snapshot=True (InvalidError at decoration), so their presence proves it.
        flags = sorted(_enter_flags(cls).values())
        assert flags == [_PartialFunctionFlags.ENTER_PRE_SNAPSHOT, _PartialFunctionFlags.ENTER_POST_SNAPSHOT], name
        assert same_image(service._spec_.image, modal_app.gpu_image)
        assert not same_image(service._spec_.image, modal_app.api_image)


def _definition(function: Any) -> dict[str, Any]:
    """The options a function was defined with, as Modal will send them at deploy, read offline from its loader."""
    from modal._utils.async_utils import synchronizer

    load = synchronizer._translate_in(function)._load  # type: ignore[no-untyped-call]
    return dict(zip(load.__code__.co_freevars, (cell.cell_contents for cell in load.__closure__ or ()), strict=True))


def test_gpu_classes_reserve_memory_and_cpu_snapshot_the_gpu_and_read_weights_read_only() -> None:
    from config.models import BY_ID
    from functions.job_routing import SERVES

    for name, cls in _classes().items():
        service = cls._get_class_service_function()
        serving = [BY_ID[model_id].serving for model_id in SERVES[name]]
        info = service.info()
        # Modal's defaults (128 MiB, 0.125 cores) cannot hold a FLUX container's ~34 GB before its snapshot.
        assert info.memory_mib == max(s.memory_mib for s in serving), name
        assert info.cpu == max(s.cpu for s in serving), name
        assert min(s.memory_mib for s in serving) >= 8192, name
        assert min(s.cpu for s in serving) >= 4, name
        assert info.volumes[modal_app.WEIGHTS_MOUNT].read_only, name
        definition = _definition(service)
        assert definition["enable_memory_snapshot"] is True
        assert definition["experimental_options"] == {"enable_gpu_snapshot": "True"}, name
        # The container's start order (functions/generation/serving.py) follows the same flag.
        assert getattr(cls._get_user_cls(), "gpu_snapshot", None) is True, name
        autoscaler = definition["autoscaler_settings"]
        assert autoscaler.min_containers == max(s.min_containers for s in serving)
        assert autoscaler.max_containers == max(s.max_containers for s in serving) > 0
    assert _classes()["FluxSchnell"]._get_class_service_function().info().memory_mib == 48 * 1024


def test_the_weights_downloader_takes_the_hub_token_from_a_secret_not_an_argument() -> None:
    import inspect

    raw = _definition(gpu.download_weights)["info"].raw_f
    assert list(inspect.signature(raw).parameters) == ["model_ids", "update"]
    # The downloader writes the volume, so only the serving classes mount it read-only.
    assert not gpu.download_weights.info().volumes[modal_app.WEIGHTS_MOUNT].read_only


def test_snap_enter_methods_require_snapshots_enabled() -> None:
    """The premise of the snapshot check above: Modal rejects snap=True without enable_memory_snapshot."""
    probe = modal.App("probe")

    class Probe:
        @modal.enter(snap=True)
        def load(self) -> None:
            pass

        @modal.method()
        def run(self) -> None:
            pass

    with pytest.raises(modal.exception.InvalidError, match="enable_memory_snapshot"):
        probe.cls()(Probe)


def _pip_commands(image: Any) -> str:
    """The pip install lines an image's build runs, computed offline from its layers' Dockerfile functions."""
    from modal._utils.async_utils import synchronizer

    commands: list[str] = []
    seen: set[int] = set()
    stack = [synchronizer._translate_in(image)]  # type: ignore[no-untyped-call]
    while stack:
        layer = stack.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        for cell in getattr(layer._load, "__closure__", None) or ():
            value = cell.cell_contents
            if getattr(value, "__name__", "") == "build_dockerfile":
                commands.extend(value("2024.10").commands)
            elif type(value).__name__ == "_Image":
                stack.append(value)
        if callable(layer._deps):
            stack.extend(layer._deps())
    return "\n".join(command for command in commands if "pip install" in command)


def test_gpu_image_has_the_gpu_extra_and_the_api_image_does_not() -> None:
    gpu, api = _pip_commands(modal_app.gpu_image), _pip_commands(modal_app.api_image)
    assert "fastapi" in api
    assert "fastapi" in gpu
    for heavy in ("torch", "diffusers==0.42.1", "transformers", "accelerate", "torchao"):
        assert heavy in gpu
        assert heavy not in api
    assert "torch" not in _pip_commands(modal_app.weights_image)


def test_the_weights_downloader_runs_without_a_gpu_on_the_weights_volume() -> None:
    info = gpu.download_weights.info()
    assert info.gpus == []
    assert set(info.volumes) == {modal_app.WEIGHTS_MOUNT}


def test_api_image_dependencies_carry_no_gpu_stack() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = " ".join(project["dependencies"]).lower()
    for heavy in ("torch", "diffusers", "transformers", "accelerate"):
        assert heavy not in base
    gpu = " ".join(project["optional-dependencies"]["gpu"]).lower()
    assert "torch" in gpu
    assert "diffusers" in gpu
    # The GPU stack is pinned exactly, so an image build never floats to versions nobody tested.
    extras = project["optional-dependencies"]["gpu"] + project["optional-dependencies"]["cuda"]
    for package in ("torch", "diffusers", "transformers", "accelerate", "torchao"):
        (spec,) = [spec for spec in extras if spec.split("==")[0].split(">")[0].split("<")[0] == package]
        assert "==" in spec, spec
    assert not any("torchao" in spec for spec in project["optional-dependencies"]["dev"])


def test_the_classifier_runs_on_a_cpu_with_torch_and_the_weights_and_the_api_calls_it_by_name() -> None:
    info = modal_function.classify_image.info()
    assert info.gpus == []
    assert same_image(modal_function.classify_image._spec_.image, modal_app.gpu_image)  # torch lives there
    assert modal_app.WEIGHTS_MOUNT in modal_function.classify_image._spec_.volumes
    assert remote.FUNCTION_NAME == "classify_image"
    assert modal_app.app.name == remote.APP_NAME


def test_every_function_that_connects_to_postgres_is_capped_by_the_connection_budget() -> None:
    """The caps Modal enforces are the ones config/connections.py adds up; the default deployment fits the default
    pooler limit, and a smaller limit is refused with every function's share named."""
    from config.connections import API_MAX_CONTAINERS, TASK_RUN_MAX_CONTAINERS, TICK_MAX_CONTAINERS, over_budget
    from config.settings import Settings
    from functions.job_routing import gpu_containers

    caps = {
        "api": (api_service.api, API_MAX_CONTAINERS),
        "tick": (cron.tick, TICK_MAX_CONTAINERS),
        "run_scheduled": (cron.run_scheduled, TASK_RUN_MAX_CONTAINERS),
    }
    for name, (function, cap) in caps.items():
        assert _definition(function)["autoscaler_settings"].max_containers == cap, name
    for name, containers in gpu_containers():
        service = _classes()[name]._get_class_service_function()
        assert _definition(service)["autoscaler_settings"].max_containers == containers, name
    assert over_budget(Settings(), gpu_containers()) is None
    refusal = over_budget(Settings(db_connection_limit=50), gpu_containers())
    assert refusal is not None
    assert "ATELIER_DB_CONNECTION_LIMIT=50" in refusal
    assert f"api {API_MAX_CONTAINERS}×10" in refusal
    assert all(f"{name} {containers}×2" in refusal for name, containers in gpu_containers())
