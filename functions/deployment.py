"""Everything `deploy.py deploy` ships: importing this module registers every function and class on the App.

Modal imports only a function's own module inside its container, so each container loads what it runs:
the API (functions/api_service.py), the scheduled tasks (functions/cron.py), the web app (functions/web.py), a GPU class
(functions/generation/gpu.py) or the image classifier (functions/safety/modal_function.py, a CPU function on the GPU
image).
"""

from __future__ import annotations

from functions import api_service, cron, web
from functions.generation import gpu
from functions.modal_app import app
from functions.safety import modal_function

MODULES = (api_service, cron, web, gpu, modal_function)

__all__ = ["MODULES", "app"]
