"""The one place that names Modal resources: the App, its Images, Volumes and Secrets, and the API function.

Later modules (generation, tasks, webhooks) register their functions on `app` from here.
"""

from __future__ import annotations

from pathlib import Path

import modal

APP_NAME = "atelier"
PYPROJECT = str(Path(__file__).resolve().parent.parent / "pyproject.toml")
LOCAL_SOURCES = ("functions", "shared", "config")
PRODUCTS_FILE = Path(__file__).resolve().parent.parent / "config" / "products.toml"

app = modal.App(APP_NAME)

# One secret holds the production environment: ATELIER_ENV=production, DATABASE_URL, SUPABASE_URL,
# SUPABASE_SECRET_KEY, SUPABASE_JWT_SECRET (legacy projects), CORS_ORIGINS, and the Polar settings.
SECRETS = [modal.Secret.from_name("atelier-production")]

# The API image carries only the base dependencies: no torch, so a cold start stays fast.
api_image = (
    modal.Image.debian_slim(python_version="3.11")
    .pip_install_from_pyproject(PYPROJECT)
    # Uploads and publications are classified by the `classify_image` function (functions/safety/), never here.
    .env({"ATELIER_ENV": "production", "ATELIER_IMAGE_CLASSIFIER": "modal"})
    .add_local_python_source(*LOCAL_SOURCES)
    # Python sources are mounted without data files; the product catalogue is data the API reads.
    .add_local_file(str(PRODUCTS_FILE), "/root/config/products.toml")
)

# The GPU image adds the `gpu` extra (torch, diffusers, transformers, ...), resolved to a CUDA build on Modal.
# It reads pinned weights from the volume only: the hub is never contacted at run time.
gpu_image = (
    modal.Image.debian_slim(python_version="3.11")
    .pip_install_from_pyproject(PYPROJECT, optional_dependencies=["gpu"])
    .env(
        {
            "ATELIER_ENV": "production",
            "ATELIER_MODEL_SOURCE": "volume",
            "ATELIER_WEIGHTS_DIR": "/weights",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_HUB_OFFLINE": "1",
        }
    )
    .add_local_python_source(*LOCAL_SOURCES)
)

# Pinned model snapshots, `/weights/<repo>/<revision>`, written by `python deploy.py weights`.
WEIGHTS_MOUNT = "/weights"
weights_volume = modal.Volume.from_name("atelier-weights", create_if_missing=True)

# The downloader needs only the hub client and the registry (config/), no torch.
weights_image = (
    modal.Image.debian_slim(python_version="3.11")
    .pip_install("huggingface_hub>=0.34", "hf_xet>=1.1")
    .env({"HF_HUB_DISABLE_TELEMETRY": "1"})
    .add_local_python_source(*LOCAL_SOURCES)
)


@app.function(image=api_image, secrets=SECRETS, timeout=150, scaledown_window=300)
@modal.concurrent(max_inputs=64)
@modal.asgi_app(label="atelier-api")
def api() -> object:
    """The FastAPI app; long work is spawned, never awaited inside a request."""
    from functions.api.app import create_app
    from shared.logs import configure_logging

    configure_logging()
    return create_app()


# Generation: one GPU class per model family and the weights downloader, registered on `app` by importing them.
# Scheduled tasks likewise. These imports come last because those modules import `app` from here.
import functions.generation.gpu  # noqa: E402
import functions.safety.modal_function  # noqa: E402
import functions.tasks  # noqa: E402, F401
