"""The RRDBNet architecture of ESRGAN / Real-ESRGAN (BSD-3-Clause, X. Wang et al.), sized from a state dict.

Real-ESRGAN checkpoints (`RealESRGAN_x4plus.pth` and its mirrors) load into this module unchanged: the parameter
names (`conv_first`, `body.N.rdbK.convM`, `conv_body`, `conv_up1`, `conv_up2`, `conv_hr`, `conv_last`) are the
original ones. We carry the ~60 lines ourselves instead of depending on `spandrel`, because spandrel requires
torchvision, which has no CPU wheel beside our pinned CPU torch and would pull a CUDA build into development.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

CONFIG_NAME = "esrgan_config.json"
WEIGHTS_NAMES = ("model.safetensors", "RealESRGAN_x4plus.safetensors", "RealESRGAN_x4plus.pth", "RealESRGAN_x4.pth")


class ResidualDenseBlock(nn.Module):
    def __init__(self, num_feat: int, num_grow_ch: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, num_grow_ch, 3, 1, 1)
        self.conv2 = nn.Conv2d(num_feat + num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv3 = nn.Conv2d(num_feat + 2 * num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv4 = nn.Conv2d(num_feat + 3 * num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv5 = nn.Conv2d(num_feat + 4 * num_grow_ch, num_feat, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.lrelu(self.conv1(x))
        x2 = self.lrelu(self.conv2(torch.cat((x, x1), 1)))
        x3 = self.lrelu(self.conv3(torch.cat((x, x1, x2), 1)))
        x4 = self.lrelu(self.conv4(torch.cat((x, x1, x2, x3), 1)))
        x5: torch.Tensor = self.conv5(torch.cat((x, x1, x2, x3, x4), 1))
        return x5 * 0.2 + x


class RRDB(nn.Module):
    def __init__(self, num_feat: int, num_grow_ch: int) -> None:
        super().__init__()
        self.rdb1 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb2 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb3 = ResidualDenseBlock(num_feat, num_grow_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.rdb3(self.rdb2(self.rdb1(x)))
        return out * 0.2 + x


class RRDBNet(nn.Module):
    """A 4x super-resolution network: values in [0, 1], NCHW in, NCHW four times larger out."""

    scale = 4

    def __init__(self, num_feat: int = 64, num_block: int = 23, num_grow_ch: int = 32) -> None:
        super().__init__()
        self.config = {"num_feat": num_feat, "num_block": num_block, "num_grow_ch": num_grow_ch, "scale": 4}
        self.conv_first = nn.Conv2d(3, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*[RRDB(num_feat, num_grow_ch) for _ in range(num_block)])
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, 3, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        feat = self.lrelu(self.conv_up1(F.interpolate(feat, scale_factor=2, mode="nearest")))
        feat = self.lrelu(self.conv_up2(F.interpolate(feat, scale_factor=2, mode="nearest")))
        out: torch.Tensor = self.conv_last(self.lrelu(self.conv_hr(feat)))
        return out

    @property
    def device(self) -> torch.device:
        return self.conv_first.weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.conv_first.weight.dtype

    def save_pretrained(self, directory: Path) -> None:
        from safetensors.torch import save_file

        directory.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in self.state_dict().items()}, str(directory / "model.safetensors"))
        (directory / CONFIG_NAME).write_text(json.dumps(self.config))

    @classmethod
    def from_pretrained(cls, directory: Path, torch_dtype: torch.dtype | None = None) -> RRDBNet:
        """Load from a folder holding one of WEIGHTS_NAMES; the size is read from the weights themselves."""
        state = _load_state(directory)
        num_feat = state["conv_first.weight"].shape[0]
        num_grow_ch = state["body.0.rdb1.conv1.weight"].shape[0]
        num_block = 1 + max(int(key.split(".")[1]) for key in state if key.startswith("body."))
        model = cls(num_feat=num_feat, num_block=num_block, num_grow_ch=num_grow_ch)
        model.load_state_dict(state, strict=True)
        model.eval()
        if torch_dtype is not None:
            model.to(dtype=torch_dtype)
        return model


def _load_state(directory: Path) -> dict[str, torch.Tensor]:
    for name in WEIGHTS_NAMES:
        path = directory / name
        if not path.exists():
            continue
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        raw: Any = torch.load(str(path), map_location="cpu", weights_only=True)
        for wrapper in ("params_ema", "params", "state_dict"):
            if isinstance(raw, dict) and wrapper in raw:
                raw = raw[wrapper]
        return dict(raw)
    raise FileNotFoundError(f"no upscaler weights ({', '.join(WEIGHTS_NAMES)}) in {directory.name}")
