"""The one place that names Modal resources: the App, its Images, Volumes and Secrets.

Functions register on `app` from their own modules (functions/api_service.py, functions/tasks.py,
functions/generation/gpu.py, functions/safety/modal_function.py); functions/deployment.py imports them all for
`deploy.py deploy`. Modal imports only the module that defines a function in its container, so nothing here imports
those modules: the API's container never loads generation code.
"""

from __future__ import annotations

from pathlib import Path

import modal

from functions.job_routing import APP_NAME

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = str(ROOT / "pyproject.toml")
LOCAL_SOURCES = ("functions", "shared", "config")
REMOTE_ROOT = "/root"  # where Modal puts local sources; on the container's PYTHONPATH and its working directory

app = modal.App(APP_NAME)

# One secret holds the production environment: ATELIER_ENV=production, DATABASE_URL, SUPABASE_URL,
# SUPABASE_SECRET_KEY, SUPABASE_JWT_SECRET (legacy projects), CORS_ORIGINS, and the Polar settings.
SECRETS = [modal.Secret.from_name("atelier-production")]


def _skip(*folders: str) -> modal.FilePatternMatcher:
    """Every file of the packages is mounted, data files too (policies, products, migrations: anything read at run
    time), except bytecode and the folders named here. Modal's default would mount `.py` files only."""
    return modal.FilePatternMatcher("**/__pycache__", "**/*.pyc", *(f"{folder}/**" for folder in folders))


# The API and the scheduled tasks run no generation code: their image leaves functions/generation/ out.
API_SKIPS = ("generation",)

# The API image carries only the base dependencies: no torch, so a cold start stays fast.
api_image = (
    modal.Image.debian_slim(python_version="3.11")
    .pip_install_from_pyproject(PYPROJECT)
    # Uploads and publications are classified by the `classify_image` function (functions/safety/), never here.
    # Two malloc arenas from the process's start: freed image-decode buffers go back to the system
    # (shared/media/decoding.py; the API also asks glibc for this itself, for arenas made after it starts).
    .env({"ATELIER_ENV": "production", "ATELIER_IMAGE_CLASSIFIER": "modal", "MALLOC_ARENA_MAX": "2"})
    .add_local_python_source(*LOCAL_SOURCES, ignore=_skip(*API_SKIPS))
)

# The studio web app (functions/web.py): the API image plus the static files of web/.
WEB_DIR = Path(__file__).resolve().parent.parent / "web"
web_image = api_image.add_local_dir(str(WEB_DIR), "/root/web")

# The GPU image adds the `gpu` extra (torch, diffusers, transformers, ... pinned exactly; PyPI's torch wheel is the
# CUDA build) and the `cuda` extra (torchao's fp8 kernels). It reads pinned weights from the volume only: the hub is
# never contacted at run time, and no attention backend that fetches kernels from a hub is used.
gpu_image = (
    modal.Image.debian_slim(python_version="3.11")
    .pip_install_from_pyproject(PYPROJECT, optional_dependencies=["gpu", "cuda"])
    .env(
        {
            "ATELIER_ENV": "production",
            "ATELIER_MODEL_SOURCE": "volume",
            "ATELIER_WEIGHTS_DIR": "/weights",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_HUB_OFFLINE": "1",
        }
    )
    .add_local_python_source(*LOCAL_SOURCES, ignore=_skip())
)

# Pinned model snapshots, `/weights/<repo>/<revision>`, written by `python deploy.py weights`.
WEIGHTS_MOUNT = "/weights"
weights_volume = modal.Volume.from_name("atelier-weights", create_if_missing=True)

# The downloader needs only the hub client and the registry (config/), no torch.
weights_image = (
    modal.Image.debian_slim(python_version="3.11")
    .pip_install("huggingface_hub>=0.34", "hf_xet>=1.1")
    .env({"HF_HUB_DISABLE_TELEMETRY": "1"})
    .add_local_python_source(*LOCAL_SOURCES, ignore=_skip())
)

IMAGES = {"api": api_image, "web": web_image, "gpu": gpu_image, "weights": weights_image}
