"""The decode memory budget (shared/media/decoding.py), with real threads: what it admits, refuses and in what order.

Memory itself is measured in bench/uploads.py; these tests check the accounting the bound rests on.
"""

from __future__ import annotations

import io
import random
import threading
import time
from collections.abc import Iterator

import pytest
from PIL import Image

from shared.media import decoding
from shared.media.decoding import DecodeBudget, DecodingBusy, ImageTooLarge, webp_size
from shared.media.thumbnails import make_thumbnail


def _until(condition: object, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.001)


def test_concurrent_reservations_never_add_up_to_more_than_the_budget() -> None:
    budget = DecodeBudget(100, wait_seconds=30)
    lock = threading.Lock()
    held = 0
    most = 0
    failures: list[BaseException] = []

    def decode(seed: int) -> None:
        nonlocal held, most
        rng = random.Random(seed)
        try:
            for _ in range(30):
                size = rng.randint(1, 70)
                with budget.reserve(size):
                    with lock:
                        held += size
                        most = max(most, held)
                    time.sleep(rng.random() / 1000)
                    with lock:
                        held -= size
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    threads = [threading.Thread(target=decode, args=(seed,)) for seed in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert most <= 100
    assert budget.high_water <= 100
    assert budget.reserved == 0


def test_a_decode_larger_than_the_whole_budget_is_refused_at_once_not_left_waiting() -> None:
    budget = DecodeBudget(100, wait_seconds=30)
    # Full: a waiter would wait its 30 s and then be told "busy".
    with budget.reserve(100), pytest.raises(ImageTooLarge) as caught, budget.reserve(101):
        pass  # pragma: no cover
    assert (caught.value.status, caught.value.code) == (422, "image_too_large")
    assert budget.reserved == 0


def test_no_room_within_the_wait_is_503_busy_with_retry_after() -> None:
    budget = DecodeBudget(100, wait_seconds=0.05)
    with budget.reserve(60):
        with pytest.raises(DecodingBusy) as caught, budget.reserve(50):
            pass  # pragma: no cover
        with budget.reserve(40):  # what fits still goes in
            assert budget.reserved == 100
    assert (caught.value.status, caught.value.code) == (503, "image_decoding_busy")
    assert caught.value.retry_after >= 1
    assert budget.reserved == 0
    assert budget.waiting == 0


@pytest.fixture
def small_budget() -> Iterator[DecodeBudget]:
    """This process's budget, small and impatient, as the API's start configures it; the default again after."""
    yield decoding.configure(64 * decoding.MIB, wait_seconds=0.05)
    decoding.configure(decoding.DEFAULT_BUDGET_BYTES)


def test_a_thumbnail_of_an_accepted_image_waits_out_a_busy_moment_that_refuses_a_new_upload(
    small_budget: DecodeBudget,
) -> None:
    budget = small_budget
    png = io.BytesIO()
    Image.new("RGB", (600, 400), "teal").save(png, "PNG")
    made: list[bytes] = []
    holder = budget.reserve(budget.total_bytes)  # every byte held: a new upload's decode is refused
    holder.__enter__()
    with pytest.raises(DecodingBusy), budget.reserve(1):
        pass  # pragma: no cover
    thumbnail = threading.Thread(target=lambda: made.append(make_thumbnail(png.getvalue())))
    thumbnail.start()
    _until(lambda: budget.waiting == 1)
    time.sleep(0.3)  # six times the budget's wait: a new upload would have been refused by now
    assert thumbnail.is_alive()
    assert budget.waiting == 1
    holder.__exit__(None, None, None)
    thumbnail.join()
    assert Image.open(io.BytesIO(made[0])).size == (384, 256)
    assert budget.reserved == 0


def test_waiters_are_served_in_arrival_order_so_a_large_decode_is_not_starved() -> None:
    budget = DecodeBudget(100, wait_seconds=30)
    order: list[str] = []
    holder = budget.reserve(60)
    holder.__enter__()

    def decode(name: str, size: int) -> None:
        with budget.reserve(size):
            order.append(name)

    large = threading.Thread(target=decode, args=("large", 80))
    large.start()
    _until(lambda: budget.waiting == 1)
    small = threading.Thread(target=decode, args=("small", 10))  # it would fit now, but the large one came first
    small.start()
    _until(lambda: budget.waiting == 2)
    assert order == []
    holder.__exit__(None, None, None)
    large.join()
    small.join()
    assert order == ["large", "small"]
    assert budget.reserved == 0


@pytest.mark.parametrize(
    "options",
    [{"lossless": True}, {"quality": 80}, {"quality": 80, "exif": b"Exif\x00\x00"}],
    ids=["VP8L", "VP8", "VP8X"],
)
@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_the_webp_canvas_is_read_from_the_header_as_pillow_reads_it(options: dict[str, object], mode: str) -> None:
    out = io.BytesIO()
    Image.new(mode, (300, 17), (1, 2, 3, 4)[: len(mode)]).save(out, "WEBP", **options)
    data = out.getvalue()
    with Image.open(io.BytesIO(data)) as opened:
        assert webp_size(data) == opened.size == (300, 17)
    assert webp_size(data[:20]) is None
    assert webp_size(b"RIFF\x00\x00\x00\x00WEBPXXXX" + bytes(20)) is None
