"""Tiled super-resolution: run a fixed-factor upscaler over overlapping tiles so GPU memory stays bounded.

Real-ESRGAN needs about 4 KB of GPU memory per input pixel when it sees the whole image at once; in tiles of
~512 px it needs the same small amount whatever the image size. Each tile is cut from the input with `overlap`
extra pixels on every side (clamped at the borders), upscaled, and only its central part (the tile without the
overlap) is written to the output canvas. Once `overlap` covers the network's receptive field the central part
is exactly what the whole-image pass computes there, so the seams vanish; with less, they are within rounding.

The canvas stays on the model's device and, when a target size is given, is resized there (antialiased) and
converted to 8 bits there too: only the final uint8 image is copied to the host.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

DEFAULT_TILE = 512
DEFAULT_OVERLAP = 32


def tile_starts(length: int, tile: int) -> list[int]:
    """Start offsets of tiles of `tile` pixels covering `length` pixels (the last tile may be shorter)."""
    if length <= 0 or tile <= 0:
        raise ValueError("length and tile must be positive")
    return list(range(0, length, tile))


@torch.inference_mode()
def upscale_tiled(
    model: torch.nn.Module,
    image: torch.Tensor,
    *,
    scale: int,
    tile: int = DEFAULT_TILE,
    overlap: int = DEFAULT_OVERLAP,
) -> torch.Tensor:
    """`image` (1×C×H×W, values in [0, 1], on the model's device and dtype) upscaled `scale` times, tile by tile.

    Returns a 1×C×(H·scale)×(W·scale) tensor of the model's dtype on its device, equal to `model(image)` within
    rounding when `overlap` covers the receptive field.
    """
    if image.dim() != 4 or image.shape[0] != 1:
        raise ValueError("expected one image as a 1×C×H×W tensor")
    if overlap < 0:
        raise ValueError("overlap must not be negative")
    _, channels, height, width = image.shape
    canvas = image.new_empty((1, channels, height * scale, width * scale))
    for top in tile_starts(height, tile):
        for left in tile_starts(width, tile):
            bottom, right = min(top + tile, height), min(left + tile, width)
            # The input window: the tile plus `overlap` pixels of context on each side, clamped to the image.
            in_top, in_left = max(top - overlap, 0), max(left - overlap, 0)
            in_bottom, in_right = min(bottom + overlap, height), min(right + overlap, width)
            out = model(image[:, :, in_top:in_bottom, in_left:in_right])
            # Keep only the tile's own part of the output (drop the context).
            y0, x0 = (top - in_top) * scale, (left - in_left) * scale
            y1, x1 = y0 + (bottom - top) * scale, x0 + (right - left) * scale
            canvas[:, :, top * scale : bottom * scale, left * scale : right * scale] = out[:, :, y0:y1, x0:x1]
    return canvas


@torch.inference_mode()
def to_uint8(image: torch.Tensor, size: tuple[int, int] | None = None) -> torch.Tensor:
    """A 1×C×H×W float image in [0, 1] as an H×W×C uint8 tensor on the same device, resized to `size`
    (width, height) first when given (bicubic, antialiased: a downscale that keeps detail without aliasing)."""
    if size is not None and (image.shape[3], image.shape[2]) != size:
        width, height = size
        image = F.interpolate(image.float(), size=(height, width), mode="bicubic", antialias=True, align_corners=False)
    pixels = image[0].float().clamp_(0.0, 1.0).mul_(255.0).round_().to(torch.uint8)
    return pixels.permute(1, 2, 0).contiguous()
