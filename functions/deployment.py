"""Everything `deploy.py deploy` ships: importing this module registers every function and class on the App.

Modal imports only a function's own module inside its container, so each container loads what it runs:
the API (functions/api_service.py), the tasks (functions/tasks.py), the web app (functions/web.py) or a GPU
class (functions/generation/gpu.py).
"""

from __future__ import annotations

from functions import api_service, tasks, web
from functions.generation import gpu
from functions.modal_app import app

MODULES = (api_service, tasks, web, gpu)

__all__ = ["MODULES", "app"]
