"""A memory budget for decoding images, shared by everything in one process that turns image bytes into pixels.

A few hundred bytes can promise a 4096x4096 image, and decoding it costs what the pixels cost, not what the
file costs: a lossless WebP of 706 bytes holds 256 MB at its peak (libwebp's two canvases, the frame Pillow
copies out, the image). So before anything is decoded, the decoder reserves what its pipeline will hold at its
peak, estimated from the header alone (`pipeline_bytes`), from one process-wide `DecodeBudget`
(`ATELIER_DECODE_MEMORY_MB`, set by the API at start through `configure`). A decode that does not fit waits, in
arrival order, at most `ATELIER_DECODE_WAIT_SECONDS`, then is answered 503 `image_decoding_busy` with
Retry-After; one that could never fit (more than the whole budget) is refused at once as 422
`image_too_large`, never left to wait. Reservations never nest (each caller reserves once and releases before
the next step reserves), so a full budget always drains.

Memory comes back: glibc keeps freed blocks in the arena of the thread that freed them (and, past its dynamic
mmap threshold, large blocks in the heap), so a process that decoded a few large images stayed hundreds of
megabytes larger while idle. Releasing a large reservation calls `malloc_trim(0)`, which hands every arena's
free pages back to the system; where the C library is not glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import io
import logging
import math
import platform
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from shared.kit.errors import Busy, Unprocessable

if TYPE_CHECKING:  # Pillow is imported by the calls that decode: the API starts without it (cold start)
    from PIL import Image

log = logging.getLogger(__name__)

MIB = 1024 * 1024
DEFAULT_BUDGET_BYTES = 384 * MIB  # one at-cap lossless WebP (~304 MB reserved) plus a few small images
DEFAULT_WAIT_SECONDS = 10.0
RETRY_AFTER_SECONDS = 5
# How long a decode of bytes Atelier already accepted or rendered (a thumbnail, the classifier's input) waits for
# room: a rendered image lost to a busy moment costs a GPU render and a refund, and the budget always drains.
ACCEPTED_WAIT_SECONDS = 120.0
TRIM_AFTER_BYTES = 32 * MIB  # a released reservation at least this large gives memory back to the system
OUTPUT_COPIES = 3  # at the output size: the reduced image, its upright copy, and the resize or encoder buffers

# How many bytes Pillow keeps per pixel, by mode (everything else, RGB included, is stored 4 bytes a pixel).
_PIXEL_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2}


class ImageTooLarge(Unprocessable):
    """The image has more pixels than this service accepts, or needs more memory to decode than it gives one image."""

    code = "image_too_large"


class DecodingBusy(Busy):
    """This server is decoding as many images as its memory allows; retry in a moment."""

    code = "image_decoding_busy"


class DecodeBudget:
    """At most `total_bytes` reserved at once; waiters are served in arrival order (a large one is never starved
    by a stream of small ones), each for at most `wait_seconds`."""

    def __init__(self, total_bytes: int, *, wait_seconds: float = DEFAULT_WAIT_SECONDS) -> None:
        if total_bytes <= 0 or wait_seconds < 0:
            raise ValueError("a decode budget needs a positive size and a wait that is not negative")
        self.total_bytes = total_bytes
        self.wait_seconds = wait_seconds
        self._reserved = 0
        self._high_water = 0
        self._queue: deque[object] = deque()
        self._changed = threading.Condition()

    @property
    def reserved(self) -> int:
        """Bytes reserved now."""
        with self._changed:
            return self._reserved

    @property
    def waiting(self) -> int:
        """Decodes waiting for room now."""
        with self._changed:
            return len(self._queue)

    @property
    def high_water(self) -> int:
        """The most bytes ever reserved at once (never above `total_bytes`)."""
        with self._changed:
            return self._high_water

    @contextmanager
    def reserve(self, nbytes: int, *, wait_seconds: float | None = None) -> Iterator[None]:
        """Hold `nbytes` of the budget for the block; raises ImageTooLarge (more than the whole budget, at once)
        or DecodingBusy (no room within `wait_seconds`, the budget's own unless given)."""
        nbytes = max(0, nbytes)
        if nbytes > self.total_bytes:
            raise ImageTooLarge(
                f"Decoding this image needs about {math.ceil(nbytes / MIB)} MB; this server decodes images of at "
                f"most {self.total_bytes // MIB} MB."
            )
        self._acquire(nbytes, self.wait_seconds if wait_seconds is None else wait_seconds)
        try:
            yield
        finally:
            with self._changed:
                self._reserved -= nbytes
                self._changed.notify_all()
            if nbytes >= TRIM_AFTER_BYTES:
                give_back_memory()

    def _acquire(self, nbytes: int, wait_seconds: float) -> None:
        ticket = object()
        deadline = time.monotonic() + wait_seconds
        with self._changed:
            self._queue.append(ticket)
            try:
                while self._queue[0] is not ticket or self._reserved + nbytes > self.total_bytes:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        log.info("decode budget full", extra={"bytes": nbytes, "reserved": self._reserved})
                        raise DecodingBusy(
                            "The server is decoding as many images as it can; try again in a moment.",
                            retry_after=RETRY_AFTER_SECONDS,
                        )
                    self._changed.wait(remaining)
                self._reserved += nbytes
                self._high_water = max(self._high_water, self._reserved)
            finally:
                self._queue.remove(ticket)
                self._changed.notify_all()  # the next in line may fit now


_process = [DecodeBudget(DEFAULT_BUDGET_BYTES)]  # this process's budget, replaced by `configure`
_process_lock = threading.Lock()


def configure(total_bytes: int, *, wait_seconds: float = DEFAULT_WAIT_SECONDS) -> DecodeBudget:
    """Replace this process's budget (the API does at start, from its settings); decodes holding the previous one
    release into it as they finish."""
    with _process_lock:
        _process[0] = DecodeBudget(total_bytes, wait_seconds=wait_seconds)
        return _process[0]


def process_budget() -> DecodeBudget:
    with _process_lock:
        return _process[0]


@contextmanager
def reserving(data: bytes, *, output_side: int, full_size_copies: int = 2) -> Iterator[None]:
    """Hold the process budget while image bytes Atelier already validated or rendered are decoded to at most
    `output_side` (a thumbnail, the classifier's input: a converted copy at full size and the resize's own
    intermediate reduction, hence two full-size copies by default). These are never refused for their size: one larger
    than the whole budget waits until it has the budget to itself; and they wait up to ACCEPTED_WAIT_SECONDS, not
    the budget's short wait for new uploads, so a busy moment never loses an image already accepted or rendered.
    Bytes whose header cannot be read reserve nothing (their decode fails as it would have)."""
    from PIL import Image, UnidentifiedImageError  # noqa: PLC0415  (lazy: the API starts without Pillow)

    budget = process_budget()
    cost = 0
    declared = webp_size(data)
    if declared is not None:
        cost = webp_pipeline_bytes(declared, output_side=output_side, full_size_copies=full_size_copies)
    else:
        try:
            with Image.open(io.BytesIO(data)) as opened:  # the header only: nothing is decoded here
                cost = pipeline_bytes(
                    opened, full_size=opened.size, output_side=output_side, full_size_copies=full_size_copies
                )
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError):
            cost = 0
    with budget.reserve(min(cost, budget.total_bytes), wait_seconds=max(budget.wait_seconds, ACCEPTED_WAIT_SECONDS)):
        yield


def pixel_bytes(mode: str, size: tuple[int, int]) -> int:
    """What Pillow holds for an image of this mode and size."""
    return size[0] * size[1] * _PIXEL_BYTES.get(mode, 4)


def pipeline_bytes(
    image: Image.Image,
    *,
    full_size: tuple[int, int],
    output_side: int,
    full_size_copies: int = 0,
) -> int:
    """The peak bytes of decoding `image` (opened, header read, a JPEG's `draft` applied, not loaded) and bringing
    it to at most `output_side` on its long side.

    `full_size` is the size the header declares (a drafted JPEG's `size` is already the reduced one);
    `full_size_copies` how many converted copies the caller makes at the decoded size (4 bytes a pixel each).
    """
    decoded = image.size
    pixels = pixel_bytes(image.mode, decoded)
    if image.format == "WEBP":  # libwebp's two canvases and the frame's bytes, all RGBA, besides the image
        pixels = decoded[0] * decoded[1] * 4 * 4
    elif image.format == "JPEG" and image.info.get("progressive"):
        pixels += jpeg_coefficient_bytes(image, full_size)  # a progressive scan keeps every coefficient
    scale = min(1.0, output_side / max(decoded))
    output = max(1, round(decoded[0] * scale)) * max(1, round(decoded[1] * scale)) * 4
    return pixels + full_size_copies * decoded[0] * decoded[1] * 4 + OUTPUT_COPIES * output


def jpeg_coefficient_bytes(image: Image.Image, full_size: tuple[int, int]) -> int:
    """libjpeg's whole-image coefficient buffer (2 bytes each), by each component's sampling factors."""
    layers: list[tuple[int, int, int, int]] = getattr(image, "layer", None) or [(0, 1, 1, 0)] * len(image.getbands())
    most_h = max(h for _, h, _, _ in layers) or 1
    most_v = max(v for _, _, v, _ in layers) or 1
    share = sum(h * v for _, h, v, _ in layers) / (most_h * most_v)
    blocks = math.ceil(full_size[0] / 8) * 8 * math.ceil(full_size[1] / 8) * 8
    return math.ceil(blocks * share * 2)


def webp_size(data: bytes) -> tuple[int, int] | None:
    """The canvas a WebP file declares, from its first chunk alone (read before Pillow opens it: its decoder
    allocates the canvas as the file is opened)."""
    if len(data) < 30 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return None
    chunk = data[12:16]
    if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8X":
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    if chunk == b"VP8L" and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


def webp_pipeline_bytes(size: tuple[int, int], *, output_side: int, full_size_copies: int = 0) -> int:
    """`pipeline_bytes` for a WebP known from its header only (see `webp_size`)."""
    scale = min(1.0, output_side / max(size))
    output = max(1, round(size[0] * scale)) * max(1, round(size[1] * scale)) * 4
    return size[0] * size[1] * 4 * (4 + full_size_copies) + OUTPUT_COPIES * output


def _glibc() -> ctypes.CDLL | None:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL(None)
    except OSError:
        return None


def _load_trim() -> Callable[[], None]:
    libc = _glibc()
    trim = getattr(libc, "malloc_trim", None)
    if trim is None:
        return lambda: None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int

    def trim_all() -> None:
        trim(0)

    return trim_all


_trim = _load_trim()


def give_back_memory() -> None:
    """Return the C allocator's free pages to the system (glibc `malloc_trim(0)`: every arena); a no-op elsewhere."""
    _trim()


M_ARENA_MAX = -8  # glibc's mallopt parameter (malloc.h)
API_ARENAS = 2


def limit_arenas(arenas: int = API_ARENAS) -> bool:
    """Let glibc make at most `arenas` malloc arenas from now on (what `MALLOC_ARENA_MAX` does from a process's
    start; the Modal API image sets that too). An API thread that decoded an image otherwise keeps its own arena,
    whose pages stay resident wherever one small allocation still lives: measured, the idle RSS after mixed
    at-cap batches stayed +64 MB with trimming alone and +25 MB with two arenas. Threads that already have an
    arena keep it. False (nothing done) where the C library is not glibc."""
    mallopt = getattr(_glibc(), "mallopt", None)
    if mallopt is None:
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_ARENA_MAX, arenas))
