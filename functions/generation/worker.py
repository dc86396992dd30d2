"""Runs one job: claim → load inputs → render → store outputs and post credits, or void them.

The same code runs in a Modal GPU container and in the local stack's worker threads. Database
work happens in short transactions around the render, never across it.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from uuid import UUID

from config.connections import GPU_POOL_MAX
from config.models import FOUR_K_LONG_SIDE, SEEDLESS_TASKS
from config.settings import Settings, get_settings
from config.values import value
from functions.generation.engine import (
    Engine,
    RenderCanceled,
    RenderedImage,
    RenderFailed,
    RenderRequest,
    RenderResult,
    scaled_size,
)
from functions.safety.factory import moderator_for
from shared.jobs import repo as jobs_repo
from shared.jobs import service as jobs
from shared.jobs.heartbeat import Heartbeat
from shared.jobs.models import Job, Withheld
from shared.kit.db import Database, open_database
from shared.media import service as media
from shared.media.storage import Storage, build_storage
from shared.media.thumbnails import THUMBNAIL_TYPE, make_thumbnail
from shared.moderation import ContentBlocked, ModerationUnavailable, Moderator
from shared.provenance.marks import Marked, Marker
from shared.provenance.verify import content_type_of
from shared.trust import screening

log = logging.getLogger("atelier.worker")

PROGRESS_EVERY_SECONDS = 0.5  # how often progress is written and a cancel request is looked for
UPLOAD_THREADS = 4  # a job has at most four outputs


@dataclass
class JobRunner:
    db: Database
    storage: Storage
    engine: Engine
    settings: Settings
    moderator: Moderator
    poll_seconds: float = PROGRESS_EVERY_SECONDS
    # Signs every output (shared/provenance); by default with the settings' credential, which production
    # requires: a worker without a real C2PA certificate refuses to start.
    marker: Marker | None = field(default=None)

    def __post_init__(self) -> None:
        if self.marker is None:
            self.marker = Marker.from_settings(self.settings)

    def run(self, job_id: UUID) -> Job | None:
        """Run the job if it is still queued; returns the finished job, or None if someone else had it."""
        with self.db.transaction() as conn:
            job = jobs.claim(conn, job_id)
        if job is None:
            return None
        return self.run_claimed(job)

    def run_claimed(self, job: Job) -> Job | None:
        """Render a job this worker has claimed (status running) and finish it exactly once."""
        with Heartbeat(self.db, job.id):  # a dead worker's job is failed (credits back) within a minute
            return self._run_claimed(job)

    def _run_claimed(self, job: Job) -> Job | None:
        log.info("job started", extra={"job_id": str(job.id), "task": job.task, "model": job.model})
        try:
            request = self._request(job)
            progress = self._progress(job)
            result = self.engine.render(
                request, on_progress=progress, should_cancel=self._canceled(job), on_step=progress.step
            )
            return self._deliver(job, request, result)
        except RenderCanceled:
            return self._finish_without_outputs(job, "canceled")
        except (RenderFailed, ContentBlocked, ModerationUnavailable) as exc:
            if isinstance(exc, ModerationUnavailable):  # say why the classifier did not answer: by class only
                cause = exc.__cause__
                log.warning(
                    "unavailable",
                    extra={
                        "job_id": str(job.id),
                        "code": exc.code,
                        "cause_class": type(cause).__name__ if cause is not None else None,
                    },
                )
            return self._finish_without_outputs(job, "failed", exc.code, exc.message)
        except Exception:
            log.exception("job crashed", extra={"job_id": str(job.id)})
            return self._finish_without_outputs(
                job, "failed", "internal_error", "The render failed on our side; your credits were returned."
            )

    def _request(self, job: Job) -> RenderRequest:
        params = job.params  # the typed record the API planned (shared/jobs/models.JobParams)
        divisor = self.engine.source.size_divisor
        width, height = params.width, params.height
        if width and height:  # the registry's size, scaled down when the engine runs tiny models
            width, height = scaled_size(width, height, divisor)
        with self.db.transaction() as conn:
            image = media.get_owned(conn, job.user_id, job.image_id) if job.image_id else None
            mask = media.get_owned(conn, job.user_id, job.mask_id, ("mask", "upload")) if job.mask_id else None
        return RenderRequest(
            task=job.task,
            model=job.model,
            prompt=job.prompt or "",
            image=media.load_bytes(self.storage, image) if image else None,
            mask=media.load_bytes(self.storage, mask) if mask else None,
            width=width,
            height=height,
            target_long_side=params.target_long_side,
            count=params.count,
            seed=job.seed,
            target_model=params.target_model,
            strength=params.strength_value,
            negative_prompt=params.negative_prompt,
            guidance=params.guidance,
            steps=params.steps,
            output_format=params.output_format,
            # 4k: 4096 on the long side, or what tiny models make of it (1/8 scale: 512)
            upscale_long_side=FOUR_K_LONG_SIDE // divisor if params.four_k else None,
            upscale_model=params.upscale_model if params.four_k else None,
        )

    def _progress(self, job: Job) -> _Throttled:
        return _Throttled(self.db, job.id, self.poll_seconds)

    def _canceled(self, job: Job) -> _CancelCheck:
        return _CancelCheck(self.db, job.id, self.poll_seconds)

    def _mark(self, job: Job, request: RenderRequest, image: RenderedImage) -> _MarkedOutput:
        """The one place outputs get their provenance marks: applied to the encoded bytes, before storing. The
        thumbnail is made here from the marked output and marked as its rendition, so both carry the marks."""
        if self.marker is None:  # pragma: no cover - set in __post_init__
            raise RuntimeError("the runner has no marker")
        full = self.marker.mark(
            image.data,
            image.content_type,
            task=job.task,
            model_id=job.model,
            input_image=request.image,
            input_content_type=content_type_of(request.image) if request.image else None,
        )
        thumbnail = self.marker.mark(
            make_thumbnail(full.data), THUMBNAIL_TYPE, task=job.task, model_id=job.model, rendition_of=full.data
        )
        return _MarkedOutput(image, full, thumbnail)

    def _check_outputs(self, job: Job, result: RenderResult) -> list[RenderedImage]:
        """Judge every output before anything is stored or charged, and record each decision (never the image)."""
        pairs = [(image.data, image.content_type) for image in result.images]
        verdicts = screening.judge_and_record(
            self.db, self.moderator, pairs, user_id=job.user_id, stage="output", job_id=job.id
        )
        return [image for image, verdict in zip(result.images, verdicts, strict=True) if verdict.allowed]

    def _deliver(self, job: Job, request: RenderRequest, result: RenderResult) -> Job | None:
        if result.prompt_text is not None:
            self.moderator.check_prompt(result.prompt_text)
        allowed = self._check_outputs(job, result)
        if result.images and not allowed:
            raise ContentBlocked("The generated image was blocked by the content policy; your credits were returned.")
        # Marked first (provenance on the encoded bytes), then objects are written, outside any transaction (remote
        # calls, in parallel); the transaction then records only rows and settles the job. If that finish fails,
        # finds the job already finished (timed out) or loses to a cancel, the objects are deleted again: nothing is
        # left behind and nothing is charged.
        marks = [self._mark(job, request, image) for image in allowed]
        uploaded = self._upload(job, marks)  # raises (the job fails, credits back) when none could be stored
        withheld = _withheld(blocked=len(result.images) - len(allowed), unstored=len(marks) - len(uploaded))
        delivered = len(uploaded) if result.images else 1  # image_to_prompt delivers its text
        canceled = False
        try:
            with self.db.transaction() as conn:
                try:
                    with conn.transaction():  # a savepoint: the outputs' rows, undone if a cancel wins
                        stored = [
                            media.record_output(
                                conn, item, job_id=job.id, task=job.task, model=job.model, prompt=job.prompt
                            )
                            for item in uploaded
                        ]
                        if jobs.cancel_wins(conn, job):
                            raise _CancelWon
                        done = jobs.succeed(
                            conn,
                            job,
                            delivered=delivered,
                            withheld=withheld,
                            seed=None if job.task in SEEDLESS_TASKS else result.seed,  # nothing to reuse
                            prompt_text=result.prompt_text,
                        )
                        if done is None:  # timed out meanwhile: deliver nothing, charge nothing
                            raise _NoLongerRunning
                except _CancelWon:  # a cancel accepted before this commit: no outputs, hold voided
                    done, canceled = jobs.mark_canceled(conn, job), True
        except _NoLongerRunning:
            media.discard_uploaded(self.storage, uploaded)
            return None
        except BaseException:
            media.discard_uploaded(self.storage, uploaded)
            raise
        if canceled:
            media.discard_uploaded(self.storage, uploaded)
            log.info("job canceled before its outputs were committed", extra={"job_id": str(job.id)})
            return done
        log.info("job succeeded", extra={"job_id": str(job.id), "outputs": len(stored), "seconds": result.seconds})
        return done

    def _upload(self, job: Job, images: list[_MarkedOutput]) -> list[media.UploadedOutput]:
        """Upload every output's marked bytes and marked thumbnail (in parallel when there are several) and return
        those stored. An output the store refused is withheld (nothing of it is left: `upload_output` deletes its
        image when its thumbnail fails); when the store refused every output, the first error is raised."""
        if not images:
            return []

        def put(marked: _MarkedOutput) -> media.UploadedOutput:
            return media.upload_output(
                self.storage,
                user_id=job.user_id,
                data=marked.full.data,
                content_type=marked.image.content_type,
                width=marked.image.width,
                height=marked.image.height,
                digital_source_type=marked.full.digital_source_type,
                c2pa_manifest=marked.full.c2pa_manifest,
                thumbnail=marked.thumbnail.data,
            )

        with ThreadPoolExecutor(max_workers=min(len(images), UPLOAD_THREADS)) as pool:
            futures = [pool.submit(put, image) for image in images]
        done = [future.result() for future in futures if future.exception() is None]
        failed = next((future.exception() for future in futures if future.exception() is not None), None)
        if failed is not None and not done:
            raise failed
        if failed is not None:
            log.warning(
                "outputs withheld: the store refused them",
                extra={"job_id": str(job.id), "withheld": len(images) - len(done), "error": type(failed).__name__},
            )
        return done

    def _finish_without_outputs(
        self, job: Job, status: str, code: str | None = None, message: str | None = None
    ) -> Job | None:
        with self.db.transaction() as conn:
            if status == "canceled":
                done = jobs.mark_canceled(conn, job)
            else:
                done = jobs.fail(conn, job, code=code or "render_failed", message=message or "The render failed.")
        log.info("job finished without outputs", extra={"job_id": str(job.id), "status": status, "code": code})
        return done


def _withheld(*, blocked: int, unstored: int) -> Withheld | None:
    """What a delivery leaves out: images the classifier blocked and images the store refused, counted together;
    the reason names moderation whenever it blocked any (a job rarely meets both)."""
    if blocked + unstored == 0:
        return None
    return Withheld(blocked + unstored, "moderation" if blocked else "storage")


@value
class _MarkedOutput:
    """A rendered output with its marked bytes and its marked thumbnail, ready to store."""

    image: RenderedImage
    full: Marked
    thumbnail: Marked


class _NoLongerRunning(Exception):
    """The job was finished by someone else (cancel, reconciler) while it rendered."""


class _CancelWon(Exception):
    """A cancel was accepted while the outputs were being stored: it wins over the delivery."""


class _Throttled:
    """Writes progress (with the render step last heard) at most every `every` seconds, in its own short
    transaction; the API estimates the time left from the steps' timing."""

    def __init__(self, db: Database, job_id: UUID, every: float) -> None:
        self.db, self.job_id, self.every, self.last = db, job_id, every, -every
        self.current: tuple[int, int] | None = None
        self.written: tuple[int, int] | None = None

    def step(self, done: int, total: int) -> None:
        """The engine's step callback: remembered, and written with the progress it implies."""
        self.current = (min(done, total), total)

    def __call__(self, fraction: float) -> None:
        now = time.monotonic()
        if fraction < 1.0 and now - self.last < self.every:
            return
        self.last = now
        step = self.current if self.current != self.written else None
        with self.db.transaction() as conn:
            jobs_repo.report_progress(
                conn, self.job_id, fraction, step=step[0] if step else None, steps=step[1] if step else None
            )
        self.written = self.current


class _CancelCheck:
    """Looks for a cancel request between steps, at most every `every` seconds (the first call always looks)."""

    def __init__(self, db: Database, job_id: UUID, every: float) -> None:
        self.db, self.job_id, self.every, self.last, self.canceled = db, job_id, every, -every, False

    def __call__(self) -> bool:
        now = time.monotonic()
        if self.canceled or now - self.last < self.every:
            return self.canceled
        self.last = now
        with self.db.transaction() as conn:
            self.canceled = jobs_repo.cancel_requested(conn, self.job_id)
        return self.canceled


@lru_cache(maxsize=1)
def _container_database() -> Database:
    """One pool per GPU container, opened on its first job and kept while the container is warm; its size is the
    GPU classes' share of the connection budget (config/connections.py)."""
    return open_database(get_settings(), max_size=GPU_POOL_MAX)


def runner_for(engine: Engine) -> JobRunner:
    """The runner a Modal GPU container uses: this process's settings, database pool and storage."""
    settings = get_settings()
    return JobRunner(
        db=_container_database(),
        storage=build_storage(settings),
        engine=engine,
        settings=settings,
        moderator=moderator_for(settings),
    )
