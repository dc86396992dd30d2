"""Everything deployed to Modal. Importing this module registers every function on the one App.

modal deploy functions/deployment.py      (what `python deploy.py deploy` does)
"""

from functions import tasks
from functions.modal_app import app

__all__ = ["app", "tasks"]
