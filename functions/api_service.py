"""The API as a Modal web function, in a module of its own so its container imports the API and nothing else.

The app's modules are imported when this module loads, so the memory snapshot taken after loading holds them:
a restored container skips the imports. The database pool opens inside the function, after the restore.
The app's modules import storage3 and httpx only where they are used (shared/media/storage.py, shared/kit/http.py),
so the local stack and tests never load them; production stores in Supabase Storage from its first request on, so
they are imported here, before the snapshot, rather than by every restored container. Likewise the response models'
schemas, which the app builds on first use (functions/api/schemas.py), are built here, and Pillow, which only the
routes that read images import, is imported here, with the modules rarer routes import when first called
(`LOADED_BY_THEIR_CALLS`).
"""

from __future__ import annotations

import importlib

import httpx  # noqa: F401  (loaded for the memory snapshot: see the docstring)
import modal
import storage3  # noqa: F401
from PIL import Image, ImageOps  # noqa: F401  (the image routes' decoder)

from config.connections import API_MAX_CONTAINERS
from functions.api.app import create_app
from functions.api.routes import LOADED_BY_THEIR_CALLS, ROUTERS
from functions.api.schemas import build_all
from functions.modal_app import SECRETS, api_image, app
from shared.logs import configure_logging

build_all(route for router in ROUTERS for route in router.routes)  # before the snapshot: see the docstring
for _module in LOADED_BY_THEIR_CALLS:
    importlib.import_module(_module)


@app.function(
    image=api_image,
    secrets=SECRETS,
    timeout=150,
    scaledown_window=300,
    enable_memory_snapshot=True,
    max_containers=API_MAX_CONTAINERS,  # its share of the Postgres connection budget (config/connections.py)
)
@modal.concurrent(max_inputs=64)
@modal.asgi_app(label="atelier-api")
def api() -> object:
    """The FastAPI app; long work is spawned, never awaited inside a request."""
    configure_logging()
    return create_app(warm_up=True)
