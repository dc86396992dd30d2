"""Weights are pinned on first download, like a lockfile: a branch resolves to the commit downloaded, that commit is
locked on the volume, the GPU classes load exactly it, and only `--update` moves it. Offline: the Hub is a loopback
stand-in answering its HTTP API, driven by the real `huggingface_hub` client."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
from huggingface_hub.errors import HfHubHTTPError

from config.models import BY_ID
from functions.generation.engine import RenderFailed, VolumeSource
from functions.generation.weights import fill_weights
from shared.weights import read_lock, refusal
from tests.support.fake_hub import FakeHub, fake_hub

ESRGAN = BY_ID["real-esrgan-x4"]
SCHNELL = BY_ID["flux-schnell"]


@pytest.fixture(autouse=True)
def hub_client_online(monkeypatch: pytest.MonkeyPatch) -> None:
    """The generation tests switch the Hub client offline for the whole test process (HF_HUB_OFFLINE, read once at
    import); these tests talk only to the loopback stand-in, so the client may go online for them."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)


def _quiet(_: str) -> None:
    return None


def test_a_branch_is_resolved_downloaded_and_locked_then_loaded_at_that_commit(tmp_path: Path) -> None:
    assert not ESRGAN.pinned  # the registry names a branch for this one
    with fake_hub() as hub:
        first = hub.commit(ESRGAN.repo, "main", {"RealESRGAN_x4.pth": b"v1", "notes.txt": b"not downloaded"})
        saved: list[str] = []
        locks = fill_weights(tmp_path, (ESRGAN,), endpoint=hub.url, saved=lambda: saved.append("x"), say=_quiet)
    assert locks[ESRGAN.id].commit == first
    assert read_lock(tmp_path)[ESRGAN.id].commit == first
    assert saved == ["x"]  # the volume is committed after the model
    folder = tmp_path / ESRGAN.repo / first
    assert (folder / "RealESRGAN_x4.pth").read_bytes() == b"v1"
    assert not (folder / "notes.txt").exists()  # allow_patterns
    assert VolumeSource(tmp_path).path_for(ESRGAN) == folder


def test_a_locked_model_stays_at_its_commit_until_updated(tmp_path: Path) -> None:
    with fake_hub() as hub:
        first = hub.commit(ESRGAN.repo, "main", {"RealESRGAN_x4.pth": b"v1"})
        fill_weights(tmp_path, (ESRGAN,), endpoint=hub.url, say=_quiet)
        second = hub.commit(ESRGAN.repo, "main", {"RealESRGAN_x4.pth": b"v2"})
        hub.requests.clear()
        again = fill_weights(tmp_path, (ESRGAN,), endpoint=hub.url, say=_quiet)
        assert again[ESRGAN.id].commit == first
        assert ("GET", f"/api/models/{ESRGAN.repo}/revision/main") not in hub.requests  # the branch is not asked
        assert VolumeSource(tmp_path).path_for(ESRGAN) == tmp_path / ESRGAN.repo / first
        moved = fill_weights(tmp_path, (ESRGAN,), update=(ESRGAN.id,), endpoint=hub.url, say=_quiet)
    assert moved[ESRGAN.id].commit == second
    assert read_lock(tmp_path)[ESRGAN.id].commit == second
    assert (tmp_path / ESRGAN.repo / second / "RealESRGAN_x4.pth").read_bytes() == b"v2"
    assert VolumeSource(tmp_path).path_for(ESRGAN) == tmp_path / ESRGAN.repo / second


def test_a_pinned_model_downloads_its_commit_and_cannot_be_updated(tmp_path: Path) -> None:
    with fake_hub() as hub:
        hub.files[(SCHNELL.repo, SCHNELL.revision)] = {"model_index.json": b"{}"}
        hub.commit(SCHNELL.repo, "main", {"model_index.json": b'{"newer": true}'})
        locks = fill_weights(tmp_path, (SCHNELL,), endpoint=hub.url, say=_quiet)
        assert locks[SCHNELL.id].commit == SCHNELL.revision
        assert ("GET", f"/api/models/{SCHNELL.repo}/revision/main") not in hub.requests
        with pytest.raises(ValueError, match="pinned"):
            fill_weights(tmp_path, (SCHNELL,), update=(SCHNELL.id,), endpoint=hub.url, say=_quiet)
    assert (tmp_path / SCHNELL.repo / SCHNELL.revision / "model_index.json").read_bytes() == b"{}"


def test_an_unknown_branch_fails_and_locks_nothing(tmp_path: Path) -> None:
    with fake_hub() as hub, pytest.raises(HfHubHTTPError):
        fill_weights(tmp_path, (ESRGAN,), endpoint=hub.url, say=_quiet)
    assert read_lock(tmp_path) == {}


def test_deploy_refuses_only_what_is_neither_pinned_nor_locked_and_names_the_fix(tmp_path: Path) -> None:
    reason = refusal((SCHNELL, ESRGAN), {})
    assert reason is not None
    assert ESRGAN.id in reason
    assert SCHNELL.id not in reason
    assert f"deploy.py weights --model {ESRGAN.id}" in reason
    hub: FakeHub
    with fake_hub() as hub:
        hub.commit(ESRGAN.repo, "main", {"RealESRGAN_x4.pth": b"v1"})
        fill_weights(tmp_path, (ESRGAN,), endpoint=hub.url, say=_quiet)
    assert refusal((SCHNELL, ESRGAN), read_lock(tmp_path)) is None


def test_the_volume_never_loads_a_branch_or_a_lock_made_for_another_revision(tmp_path: Path) -> None:
    with pytest.raises(RenderFailed) as unlocked:
        VolumeSource(tmp_path).path_for(ESRGAN)
    assert unlocked.value.code == "model_unpinned"
    with fake_hub() as hub:
        hub.commit(ESRGAN.repo, "main", {"RealESRGAN_x4.pth": b"v1"})
        fill_weights(tmp_path, (ESRGAN,), endpoint=hub.url, say=_quiet)
    other_branch = dataclasses.replace(ESRGAN, revision="v2-branch")
    with pytest.raises(RenderFailed) as moved:
        VolumeSource(tmp_path).path_for(other_branch)
    assert moved.value.code == "model_unpinned"


def test_the_weights_command_refuses_updating_a_pinned_or_unknown_model_before_contacting_modal(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODAL_")}
    env.update({"HOME": str(tmp_path), "MODAL_SERVER_URL": "http://127.0.0.1:9"})
    for args, expected in (
        (["--update", SCHNELL.id], f"pinned in config/models.py, change them there: {SCHNELL.id}"),
        (["--model", "no-such-model"], "unknown models: no-such-model"),
    ):
        result = subprocess.run(
            [sys.executable, "deploy.py", "weights", *args], cwd=Path(__file__).resolve().parents[2], env=env,
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert result.returncode == 2, result.stdout + result.stderr
        assert expected in result.stdout + result.stderr
