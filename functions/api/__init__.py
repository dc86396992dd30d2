"""The HTTPS API the static frontend calls (FastAPI). Served by uvicorn locally and by Modal in production."""
