"""validate_image on its own (uploads and support attachments call it): formats, modes, limits, cleaning."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from shared.kit.errors import AtelierError
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
