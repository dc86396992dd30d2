"""A bare FastAPI hello-world: the baseline `bench/api.py` measures Atelier's framework overhead against."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/hello")
def hello() -> dict[str, str]:  # a plain def, run in the thread pool like Atelier's handlers
    return {"hello": "world"}
