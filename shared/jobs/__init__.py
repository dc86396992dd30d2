"""Generation jobs: validate, reserve credits and queue in one transaction; claim, render and finish exactly once."""
