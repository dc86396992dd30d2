"""validate_image on its own (uploads and support attachments call it): formats, modes, limits, cleaning."""

from __future__ import annotations

import io
import threading

import pytest
from PIL import Image, ImageChops, ImageStat

from shared.kit.errors import AtelierError
from shared.media.decoding import MIB, DecodeBudget, DecodingBusy, ImageTooLarge
from shared.media.images import CleanImage, ImageFormat, sniff_format, validate_image
from tests.support import images


def _open(clean: CleanImage) -> Image.Image:
    return Image.open(io.BytesIO(clean.data))


def test_sniffing_reads_the_bytes_not_a_name() -> None:
    assert sniff_format(images.plain("JPEG")) == "JPEG"
    assert sniff_format(images.plain("PNG")) == "PNG"
    assert sniff_format(images.plain("WEBP")) == "WEBP"
    assert sniff_format(images.gif()) is None
    assert sniff_format(b"RIFF\x00\x00\x00\x00WAVE") is None


def test_cmyk_jpeg_becomes_rgb_without_its_profile() -> None:
    out = io.BytesIO()
    Image.new("CMYK", (10, 10), (0, 255, 255, 0)).save(out, "JPEG", icc_profile=images.srgb_icc())
    clean = validate_image(out.getvalue())
    image = _open(clean)
    assert image.mode == "RGB"
    assert "icc_profile" not in image.info


def test_palette_png_keeps_its_transparency_and_drops_text() -> None:
    out = io.BytesIO()
    source = Image.new("P", (8, 8), 1)
    source.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    source.save(out, "PNG", transparency=1, pnginfo=_text_chunk())
    image = _open(validate_image(out.getvalue()))
    assert image.mode == "P"
    assert image.info == {"transparency": 1}


def _text_chunk() -> object:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Ada Lovelace")
    return info


def test_a_transparent_png_forced_to_jpeg_is_flattened_onto_white() -> None:
    out = io.BytesIO()
    Image.new("RGBA", (4, 4), (0, 0, 0, 0)).save(out, "PNG")
    clean = validate_image(out.getvalue(), output_format="JPEG")
    assert clean.content_type == "image/jpeg"
    assert _open(clean).convert("RGB").getpixel((1, 1)) == (255, 255, 255)


def test_an_animated_webp_keeps_its_first_frame_only() -> None:
    out = io.BytesIO()
    frames = [Image.new("RGB", (6, 6), color) for color in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(out, "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    image = _open(validate_image(out.getvalue()))
    assert getattr(image, "n_frames", 1) == 1
    red, _green, blue = image.convert("RGB").getpixel((3, 3))  # type: ignore[misc]
    assert red > 200
    assert blue < 50  # the red first frame, not the blue second one (re-encoding is lossy)


@pytest.mark.parametrize(
    ("data", "kwargs", "status", "code"),
    [
        (images.plain("PNG", (50, 50)), {"max_bytes": 10}, 413, "payload_too_large"),
        (images.plain("PNG", (50, 50)), {"max_pixels": 2499}, 422, "image_too_large"),
        (images.png_bomb(), {}, 422, "image_too_large"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, {}, 422, "invalid_image"),
        (images.gif(), {}, 415, "unsupported_media_type"),
    ],
)
def test_refusals_carry_status_and_code(data: bytes, kwargs: dict[str, int], status: int, code: str) -> None:
    with pytest.raises(AtelierError) as caught:
        validate_image(data, **kwargs)  # type: ignore[arg-type]
    assert (caught.value.status, caught.value.code) == (status, code)


def test_exactly_at_the_pixel_limit_is_accepted() -> None:
    clean = validate_image(images.plain("PNG", (50, 50)), max_pixels=2500)
    assert (clean.width, clean.height) == (50, 50)


@pytest.mark.parametrize("max_side", [2048, 16], ids=["kept size", "reduced"])
@pytest.mark.parametrize("output_format", [None, "WEBP"])
def test_a_sixteen_bit_grey_png_keeps_its_tones(max_side: int, output_format: ImageFormat | None) -> None:
    """Scanners and astro cameras write 16-bit grey; a plain convert would clip every mid tone to white."""
    out = io.BytesIO()
    source = Image.new("I;16", (64, 48), 0x8000)  # half way to white
    source.paste(0xFFFF, (0, 0, 32, 48))
    source.save(out, "PNG")
    image = _open(validate_image(out.getvalue(), max_side=max_side, output_format=output_format))
    grey = image.convert("L")
    assert grey.getpixel((grey.width - 1, grey.height - 1)) in range(125, 131)
    assert grey.getpixel((0, 0)) == 255


def _webp_lossless(size: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (10, 120, 10)).save(out, "WEBP", lossless=True)
    return out.getvalue()


def test_concurrent_decodes_reserve_within_the_budget_and_all_finish() -> None:
    budget = DecodeBudget(40 * MIB, wait_seconds=60)  # about two of these at once
    bodies = [_webp_lossless((1024, 1024)), images.plain("PNG", (1024, 1024)), images.plain("JPEG", (1024, 1024))]
    results: list[tuple[int, int]] = []
    failures: list[BaseException] = []

    def upload(body: bytes) -> None:
        try:
            clean = validate_image(body, max_side=256, budget=budget)
            results.append((clean.width, clean.height))
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    threads = [threading.Thread(target=upload, args=(bodies[i % 3],)) for i in range(9)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert results == [(256, 256)] * 9
    assert 0 < budget.high_water <= budget.total_bytes
    assert budget.reserved == 0


@pytest.mark.parametrize("fmt", ["WEBP", "PNG", "JPEG"])
def test_an_image_whose_decode_needs_more_than_the_whole_budget_is_refused_with_422(fmt: str) -> None:
    body = _webp_lossless((1024, 1024)) if fmt == "WEBP" else images.plain(fmt, (1024, 1024))
    with pytest.raises(ImageTooLarge) as caught:
        validate_image(body, budget=DecodeBudget(2 * MIB, wait_seconds=60))
    assert (caught.value.status, caught.value.code) == (422, "image_too_large")


def test_a_webp_over_the_pixel_cap_is_refused_from_its_header_before_anything_is_reserved() -> None:
    data = bytearray(_webp_lossless((16, 16)))
    assert data[12:16] == b"VP8L"
    bits = int.from_bytes(data[21:25], "little") & ~((1 << 28) - 1)  # keep the alpha and version bits
    data[21:25] = (bits | (12000 - 1) | ((12000 - 1) << 14)).to_bytes(4, "little")  # claims 12000x12000
    budget = DecodeBudget(64 * MIB)
    with pytest.raises(ImageTooLarge):
        validate_image(bytes(data), budget=budget)
    assert budget.high_water == 0


def test_no_room_in_the_budget_within_the_wait_is_503_busy() -> None:
    budget = DecodeBudget(64 * MIB, wait_seconds=0.05)
    with budget.reserve(64 * MIB), pytest.raises(DecodingBusy) as caught:
        validate_image(images.plain("PNG", (256, 256)), budget=budget)
    assert (caught.value.status, caught.value.code) == (503, "image_decoding_busy")


@pytest.mark.parametrize("progressive", [False, True], ids=["baseline", "progressive"])
@pytest.mark.parametrize(("size", "max_side"), [((3000, 2000), 1000), ((1999, 3001), 500), ((1200, 800), 1024)])
def test_a_jpeg_decoded_at_reduced_scale_is_stored_as_a_full_decode_would_be(
    progressive: bool, size: tuple[int, int], max_side: int
) -> None:
    out = io.BytesIO()
    Image.linear_gradient("L").convert("RGB").resize(size).save(out, "JPEG", quality=92, progressive=progressive)
    data = out.getvalue()
    with Image.open(io.BytesIO(data)) as full:  # the whole image, then brought to size: what draft() saves
        full.load()
        expected = full.copy()
    expected.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)

    stored = _open(validate_image(data, max_side=max_side))

    assert stored.size == expected.size
    difference = ImageChops.difference(stored.convert("L"), expected.convert("L"))
    assert max(ImageStat.Stat(difference).mean) < 2
