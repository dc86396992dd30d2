"""The Postgres connection budget of a deployment, in one place.

Modal scales each function out to at most `max_containers` containers and every container opens its own pool, while
Supabase's transaction pooler accepts at most a fixed number of client connections (ATELIER_DB_CONNECTION_LIMIT:
200 on the smallest computes). So the sum over every function that connects — containers × pool size — must stay
within that limit, or a burst of traffic turns into refused connections instead of queued requests. `deploy.py
deploy` refuses a deployment whose budget does not fit; the Modal functions take their container caps from here.

A request that finds its container's pool busy waits ATELIER_DB_ACQUIRE_TIMEOUT_SECONDS for a connection, then gets
503 `busy` with Retry-After (shared/kit/db/database.py): never a hang, never a 500.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from config.values import value

API_MAX_CONTAINERS = 6  # the API web function (functions/api_service.py), each with ATELIER_DB_POOL_MAX connections
TASK_POOL_MAX = 2  # the Cron tick and each scheduled-task run: one task, short transactions
TASK_RUN_MAX_CONTAINERS = 8  # scheduled-task runs at once (functions/cron.py run_scheduled)
TICK_MAX_CONTAINERS = 1
GPU_POOL_MAX = 2  # a GPU container renders one job at a time: its transactions and the heartbeat's


class PoolSettings(Protocol):
    @property
    def db_pool_max(self) -> int: ...

    @property
    def db_connection_limit(self) -> int: ...


@value
class PoolUse:
    """One function's share: at most `containers` containers, each with a pool of at most `pool_max`."""

    function: str
    containers: int
    pool_max: int

    @property
    def connections(self) -> int:
        return self.containers * self.pool_max


def budget(settings: PoolSettings, gpu_containers: Iterable[tuple[str, int]]) -> tuple[PoolUse, ...]:
    """Every function that connects to Postgres, with its worst case; `gpu_containers` is (class, max containers)
    of each GPU class (the model registry's `Serving.max_containers`)."""
    return (
        PoolUse("api", API_MAX_CONTAINERS, settings.db_pool_max),
        PoolUse("tick", TICK_MAX_CONTAINERS, TASK_POOL_MAX),
        PoolUse("run_scheduled", TASK_RUN_MAX_CONTAINERS, TASK_POOL_MAX),
        *(PoolUse(name, containers, GPU_POOL_MAX) for name, containers in gpu_containers),
    )


def over_budget(settings: PoolSettings, gpu_containers: Iterable[tuple[str, int]]) -> str | None:
    """Why this deployment could open more connections than the pooler accepts, or None when it fits."""
    uses = budget(settings, gpu_containers)
    total = sum(use.connections for use in uses)
    if total <= settings.db_connection_limit:
        return None
    parts = ", ".join(f"{use.function} {use.containers}×{use.pool_max}" for use in uses)
    return (
        f"at full scale the functions may open {total} Postgres connections ({parts}), more than "
        f"ATELIER_DB_CONNECTION_LIMIT={settings.db_connection_limit} the pooler accepts: raise the limit to what your "
        "Supabase compute allows, or lower ATELIER_DB_POOL_MAX or a model's max_containers (config/models.py)"
    )
