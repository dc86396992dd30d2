"""GPU serving figures without the real weights: FLUX.1, FLUX.2 [klein] and Qwen-Image at production size with random
weights, tiled Real-ESRGAN, output encoding.

    python bench/gpu.py [--models flux-schnell,flux-kontext-dev,flux-fill-dev,qwen-image,flux2-klein-4b]
                        [--variants eager,compiled,fp8] [--images 2] [--skip-upscale] [--skip-encode] [--dry-run]

On a CUDA device each FLUX, FLUX.2 [klein] and Qwen-Image model (one row per task it does: `ROWS`) is built at its
production architecture (the configs below, from the published checkpoints' config files, written here: nothing is
downloaded) with random bf16 weights made on the GPU. The
compute per image is the architecture's, not the weights', so the timings are those of the real model. Per model,
variant and size it prints warm seconds per image (the median of `--images` renders after one warm-up render),
the cold start to the first image (build, speed-ups, compilation, first render: what a container does before its
GPU snapshot; a restore from that snapshot skips all of it) and the peak GPU memory. Variants: `eager` (bf16),
`compiled` (fused QKV + regional compile), `fp8` (fused QKV + fp8 + regional compile; skipped with the reason on
GPUs without fp8). Then Real-ESRGAN (full RRDBNet, fp16) 1024²→4096² in 512 px tiles against the whole image at
once, and the output encoders on a 4096² image and on four 1024² images, sequential and parallel.

Without CUDA the same code runs with the tiny configs on the CPU and says so: those figures show the code paths
work, and nothing about FLUX's speed. Targets (H100): FLUX.1 [schnell] 1024² ≤ 0.5 s warm, ≤ 5 s cold with a
snapshot. Expect about ten minutes on one H100 for the default set.
"""

from __future__ import annotations

import argparse
import gc
import io
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch
from PIL import Image

from config.models import BY_ID, MODELS
from functions.generation.engine import encode_images
from functions.generation.speedups import apply_speedups
from functions.generation.tiles import to_uint8, upscale_tiled

# Production architectures (black-forest-labs FLUX.1 checkpoints' config.json files) and their tiny stand-ins.
TRANSFORMER: dict[str, dict[str, Any]] = {
    "full": {
        "num_layers": 19,
        "num_single_layers": 38,
        "attention_head_dim": 128,
        "num_attention_heads": 24,
        "joint_attention_dim": 4096,
        "pooled_projection_dim": 768,
        "axes_dims_rope": (16, 56, 56),
    },
    "tiny": {
        "num_layers": 1,
        "num_single_layers": 1,
        "attention_head_dim": 16,
        "num_attention_heads": 2,
        "joint_attention_dim": 32,
        "pooled_projection_dim": 32,
        "axes_dims_rope": (4, 4, 8),
    },
}
# Latent channels (packed 2x2): FLUX.1 has 16 latent channels → 64; Fill adds masked-image latents and the mask.
CHANNELS = {"full": (64, 64 + 64 + 256, 16), "tiny": (16, 16 + 16 + 256, 4)}
VAE: dict[str, dict[str, Any]] = {
    "full": {"block_out_channels": (128, 256, 512, 512), "layers_per_block": 2, "norm_num_groups": 32},
    "tiny": {"block_out_channels": (4, 4, 4, 4), "layers_per_block": 1, "norm_num_groups": 1},
}
CLIP: dict[str, dict[str, Any]] = {
    "full": {"hidden_size": 768, "intermediate_size": 3072, "num_attention_heads": 12, "num_hidden_layers": 12},
    "tiny": {"hidden_size": 32, "intermediate_size": 37, "num_attention_heads": 4, "num_hidden_layers": 2},
}
T5: dict[str, dict[str, Any]] = {
    "full": {"d_model": 4096, "d_kv": 64, "d_ff": 10240, "num_layers": 24, "num_heads": 64},
    "tiny": {"d_model": 32, "d_kv": 8, "d_ff": 37, "num_layers": 2, "num_heads": 4},
}
ESRGAN: dict[str, dict[str, Any]] = {
    "full": {"num_feat": 64, "num_block": 23, "num_grow_ch": 32},
    "tiny": {"num_feat": 8, "num_block": 1, "num_grow_ch": 4},
}
PIPELINES = {"flux": "FluxPipeline", "flux-kontext": "FluxKontextPipeline", "flux-fill": "FluxFillPipeline"}
# Qwen-Image (Qwen/Qwen-Image's transformer/, vae/ and text_encoder/ config.json files: the 20B MMDiT, the causal
# 3D VAE, Qwen2.5-VL-7B-Instruct) and its tiny stand-in (functions/generation/tiny.py's shapes).
QWEN_TRANSFORMER: dict[str, dict[str, Any]] = {
    "full": {
        "in_channels": 64,
        "out_channels": 16,
        "num_layers": 60,
        "attention_head_dim": 128,
        "num_attention_heads": 24,
        "joint_attention_dim": 3584,
        "axes_dims_rope": (16, 56, 56),
    },
    "tiny": {
        "in_channels": 16,
        "out_channels": 4,
        "num_layers": 1,
        "attention_head_dim": 16,
        "num_attention_heads": 2,
        "joint_attention_dim": 16,
        "axes_dims_rope": (8, 4, 4),
    },
}
QWEN_VAE: dict[str, dict[str, Any]] = {
    "full": {"base_dim": 96, "z_dim": 16, "num_res_blocks": 2},
    "tiny": {"base_dim": 8, "z_dim": 4, "num_res_blocks": 1},
}
QWEN_TEXT: dict[str, dict[str, Any]] = {
    "full": {
        "text": {
            "hidden_size": 3584,
            "intermediate_size": 18944,
            "num_hidden_layers": 28,
            "num_attention_heads": 28,
            "num_key_value_heads": 4,
            "vocab_size": 152064,
            "rope_scaling": {"mrope_section": [16, 24, 24], "rope_type": "default", "type": "default"},
        },
        "vision": {
            "depth": 32,
            "hidden_size": 1280,
            "intermediate_size": 3420,
            "num_heads": 16,
            "out_hidden_size": 3584,
            "fullatt_block_indexes": [7, 15, 23, 31],
        },
    },
    "tiny": {
        "text": {
            "hidden_size": 16,
            "intermediate_size": 16,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "num_key_value_heads": 2,
            "vocab_size": 263,
            "rope_scaling": {"mrope_section": [1, 1, 2], "rope_type": "default", "type": "default"},
        },
        "vision": {
            "depth": 1,
            "hidden_size": 16,
            "intermediate_size": 16,
            "num_heads": 2,
            "out_hidden_size": 16,
            "fullatt_block_indexes": [0],
        },
    },
}
# FLUX.2 [klein] 4B (black-forest-labs/FLUX.2-klein-4B: Flux2Transformer2DModel with 5 double- and 20 single-stream
# blocks, 24 heads of 128, 4-axis RoPE of 32 each, no guidance embedding; the FLUX.2 VAE with 32 latent channels; the
# Qwen3-4B text encoder, whose layers 9, 18 and 27 make 3 x 2560 = 7680 wide prompt embeddings). Written here from
# Black Forest Labs' published parameters and Qwen3-4B's config (nothing is downloaded); tiny: tiny.py's shapes.
KLEIN_TRANSFORMER: dict[str, dict[str, Any]] = {
    "full": {
        "in_channels": 128,
        "num_layers": 5,
        "num_single_layers": 20,
        "attention_head_dim": 128,
        "num_attention_heads": 24,
        "joint_attention_dim": 7680,
        "timestep_guidance_channels": 256,
        "axes_dims_rope": (32, 32, 32, 32),
    },
    "tiny": {
        "in_channels": 16,
        "num_layers": 1,
        "num_single_layers": 1,
        "attention_head_dim": 16,
        "num_attention_heads": 2,
        "joint_attention_dim": 48,
        "timestep_guidance_channels": 16,
        "axes_dims_rope": (4, 4, 4, 4),
    },
}
KLEIN_VAE: dict[str, dict[str, Any]] = {
    "full": {"block_out_channels": (128, 256, 512, 512), "layers_per_block": 2, "latent_channels": 32},
    "tiny": {"block_out_channels": (4, 4, 4, 4), "layers_per_block": 1, "latent_channels": 4, "norm_num_groups": 1},
}
KLEIN_TEXT: dict[str, dict[str, Any]] = {
    "full": {
        "hidden_size": 2560,
        "intermediate_size": 9728,
        "num_hidden_layers": 36,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "head_dim": 128,
        "vocab_size": 151936,
        "max_position_embeddings": 40960,
    },
    "tiny": {
        "hidden_size": 16,
        "intermediate_size": 16,
        "num_hidden_layers": 28,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "head_dim": 8,
        "vocab_size": 261,
        "max_position_embeddings": 1024,
    },
}
# What this bench renders per registry model: (model id, task). Every model in config/models.py has its row here
# (tests/unit/test_model_registry.py checks it), so its GPU figures print on a GPU machine without a change.
ROWS: tuple[tuple[str, str], ...] = (
    ("flux-schnell", "text_to_image"),
    ("flux-kontext-dev", "edit"),
    ("flux-fill-dev", "inpaint"),
    ("qwen-image", "text_to_image"),
    ("qwen-image", "inpaint"),
    ("flux2-klein-4b", "text_to_image"),
    ("flux2-klein-4b", "edit"),
    ("flux2-klein-4b", "inpaint"),
    ("real-esrgan-x4", "upscale"),
)


@contextmanager
def default_dtype(dtype: torch.dtype) -> Iterator[None]:
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def build_flux(model_id: str, size: str, device: str, dtype: torch.dtype) -> Any:
    """A FLUX pipeline of `model_id`'s architecture with random weights, made directly on `device` in `dtype`."""
    import diffusers
    from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

    from functions.generation.tiny import _clip_tokenizer, _t5_tokenizer

    d: Any = diffusers
    entry = BY_ID[model_id]
    plain, fill, latent = CHANNELS[size]
    work = Path(tempfile.gettempdir()) / "atelier-bench-gpu"
    tokenizer, clip_vocab = _clip_tokenizer(work / "clip")
    clip_ids: dict[str, Any] = {
        "bos_token_id": clip_vocab - 2,
        "eos_token_id": clip_vocab - 1,
        "pad_token_id": clip_vocab - 1,
    }
    tokenizer_2 = _t5_tokenizer()
    with torch.device(device), default_dtype(dtype):
        transformer = d.FluxTransformer2DModel(
            patch_size=1,
            in_channels=fill if entry.family == "flux-fill" else plain,
            out_channels=plain,
            guidance_embeds=entry.family != "flux",
            **TRANSFORMER[size],
        )
        vae = d.AutoencoderKL(
            down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4,
            latent_channels=latent,
            use_quant_conv=False,
            use_post_quant_conv=False,
            shift_factor=0.1159,
            scaling_factor=0.3611,
            **VAE[size],
        )
        text_encoder = CLIPTextModel(
            CLIPTextConfig(vocab_size=49408, max_position_embeddings=77, projection_dim=768, **CLIP[size], **clip_ids)
        )
        text_encoder_2 = T5EncoderModel(T5Config(vocab_size=32128, feed_forward_proj="gated-gelu", **T5[size]))
    pipe = getattr(d, PIPELINES[entry.family])(
        scheduler=d.FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        text_encoder_2=text_encoder_2,
        tokenizer_2=tokenizer_2,
        transformer=transformer,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def build_qwen(model_id: str, size: str, device: str, dtype: torch.dtype) -> Any:
    """A Qwen-Image pipeline at `size` with random weights, made directly on `device` in `dtype`."""
    import diffusers
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    from functions.generation.tiny import QWEN_SPECIAL_TOKENS, _qwen_tokenizer

    d: Any = diffusers
    tokenizer = _qwen_tokenizer()
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in QWEN_SPECIAL_TOKENS}
    z_dim = QWEN_VAE[size]["z_dim"]
    with torch.device(device), default_dtype(dtype):
        transformer = d.QwenImageTransformer2DModel(patch_size=2, guidance_embeds=False, **QWEN_TRANSFORMER[size])
        vae = d.AutoencoderKLQwenImage(
            dim_mult=[1, 2, 4, 4],
            temperal_downsample=[False, True, True],
            latents_mean=[0.0] * z_dim,
            latents_std=[1.0] * z_dim,
            **QWEN_VAE[size],
        )
        text_encoder = Qwen2_5_VLForConditionalGeneration(
            Qwen2_5_VLConfig(
                text_config={**QWEN_TEXT[size]["text"], "rope_theta": 1000000.0},
                vision_config=QWEN_TEXT[size]["vision"],
                image_token_id=ids["<|image_pad|>"],
                video_token_id=ids["<|video_pad|>"],
                vision_start_token_id=ids["<|vision_start|>"],
                vision_end_token_id=ids["<|vision_end|>"],
            )
        )
    pipe = d.QwenImagePipeline(
        scheduler=d.FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        transformer=transformer,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def build_flux2_klein(model_id: str, size: str, device: str, dtype: torch.dtype) -> Any:
    """A FLUX.2 [klein] pipeline at `size` with random weights, made directly on `device` in `dtype`."""
    import diffusers
    from transformers import Qwen3Config, Qwen3ForCausalLM

    from functions.generation.tiny import _qwen3_tokenizer

    d: Any = diffusers
    tokenizer = _qwen3_tokenizer()
    with torch.device(device), default_dtype(dtype):
        transformer = d.Flux2Transformer2DModel(patch_size=1, guidance_embeds=False, **KLEIN_TRANSFORMER[size])
        vae = d.AutoencoderKLFlux2(**KLEIN_VAE[size])
        # The full vocabulary's embedding rows beyond the tiny tokenizer's are never read: the compute per token is
        # the real encoder's.
        rope = {"rope_type": "default", "rope_theta": 1000000.0}
        text_encoder = Qwen3ForCausalLM(Qwen3Config(tie_word_embeddings=True, rope_parameters=rope, **KLEIN_TEXT[size]))
    pipe = d.Flux2KleinPipeline(
        scheduler=d.FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        transformer=transformer,
        is_distilled=True,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def build(model_id: str, size: str, device: str, dtype: torch.dtype) -> Any:
    if BY_ID[model_id].family == "qwen-image":
        return build_qwen(model_id, size, device, dtype)
    if BY_ID[model_id].family == "flux2-klein":
        return build_flux2_klein(model_id, size, device, dtype)
    return build_flux(model_id, size, device, dtype)


def _png(width: int, height: int) -> Image.Image:
    return Image.new("RGB", (width, height), (120, 80, 200))


def render(pipe: Any, model_id: str, width: int, height: int, task: str = "") -> None:
    entry = BY_ID[model_id]
    if entry.family == "qwen-image":
        _render_qwen(pipe, model_id, width, height, task)
        return
    kwargs: dict[str, Any] = {
        "prompt": "a lighthouse at dusk",
        "width": width,
        "height": height,
        "num_inference_steps": entry.default_steps,
        "guidance_scale": entry.default_guidance,
        "max_sequence_length": entry.max_sequence_length,
        "generator": torch.Generator("cpu").manual_seed(0),
        "output_type": "pil",
    }
    if entry.family == "flux2-klein":
        # As the engine renders it: distilled, so no guidance; an edit passes a reference image of the output's size,
        # an inpaint runs Flux2KleinInpaintPipeline over the same components from pure noise under the mask.
        if task == "edit":
            kwargs["image"] = _png(width, height)
        elif task == "inpaint":
            import diffusers

            inpaint: Any = diffusers.Flux2KleinInpaintPipeline
            pipe = inpaint.from_pipe(pipe)
            pipe.set_progress_bar_config(disable=True)
            kwargs.update(image=_png(width, height), mask_image=Image.new("L", (width, height), 255), strength=1.0)
    elif entry.family == "flux-kontext":
        kwargs.update(image=_png(width, height), _auto_resize=False, max_area=width * height)
    elif entry.family == "flux-fill":
        kwargs.update(image=_png(width, height), mask_image=Image.new("L", (width, height), 255))
    with torch.inference_mode():
        pipe(**kwargs)


def _render_qwen(pipe: Any, model_id: str, width: int, height: int, task: str) -> None:
    """As the engine renders Qwen-Image: true CFG (two passes a step) against a blank negative prompt; inpaint
    through QwenImageInpaintPipeline over the same components."""
    import diffusers

    entry = BY_ID[model_id]
    kwargs: dict[str, Any] = {
        "prompt": "a lighthouse at dusk",
        "negative_prompt": " ",
        "true_cfg_scale": entry.default_guidance,
        "width": width,
        "height": height,
        "num_inference_steps": entry.default_steps,
        "max_sequence_length": entry.max_sequence_length,
        "generator": torch.Generator("cpu").manual_seed(0),
        "output_type": "pil",
    }
    if task == "inpaint":
        inpaint: Any = diffusers.QwenImageInpaintPipeline
        pipe = inpaint.from_pipe(pipe)
        pipe.set_progress_bar_config(disable=True)
        kwargs.update(image=_png(width, height), mask_image=Image.new("L", (width, height), 255), strength=1.0)
    with torch.inference_mode():
        pipe(**kwargs)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _timed(device: str, run: Callable[[], object]) -> float:
    _sync(device)
    started = time.perf_counter()
    run()
    _sync(device)
    return time.perf_counter() - started


def _peak_gib(device: str) -> str:
    return f"{torch.cuda.max_memory_allocated() / 2**30:.1f} GiB" if device.startswith("cuda") else "n/a (CPU)"


def _free(device: str) -> None:
    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def bench_flux(
    model_id: str, variant: str, *, size: str, device: str, images: int, sizes: list[str], task: str = ""
) -> None:
    """One row per size: warm, first and cold seconds of `model_id` (a FLUX or Qwen-Image model) doing `task`."""
    divisor = 1 if size == "full" else 8
    started = time.perf_counter()
    pipe = build(model_id, size, device, torch.bfloat16 if device.startswith("cuda") else torch.float32)
    wanted: tuple[Any, ...] = {"eager": (), "compiled": ("fuse_qkv", "compile"), "fp8": ("fuse_qkv", "fp8", "compile")}[
        variant
    ]
    # Only what the registry enables for the model (Qwen-Image has no fused QKV).
    wanted = tuple(name for name in wanted if name == "compile" or name in BY_ID[model_id].serving.enabled())
    report = apply_speedups(pipe, wanted, device)
    if variant == "fp8" and "fp8" in report.skipped:
        print(f"  {model_id:17} {task or '':13} {variant:8} skipped: {report.skipped['fp8']}", flush=True)
        sizes = []
    for index, ratio in enumerate(sizes):
        width, height = (side // divisor // 16 * 16 for side in BY_ID[model_id].sizes[ratio])
        once = partial(render, pipe, model_id, width, height, task)
        first = _timed(device, once)
        cold = f"cold {time.perf_counter() - started:6.1f} s" if index == 0 else " " * 13
        warm = [_timed(device, once) for _ in range(images)]
        print(
            f"  {model_id:17} {task or '':13} {variant:8} {width:4}x{height:<4} "
            f"warm {statistics.median(warm):6.3f} s/image  first {first:6.2f} s  {cold}  peak {_peak_gib(device)}",
            flush=True,
        )
    del pipe
    _free(device)


def _upscale_once(model: torch.nn.Module, image: torch.Tensor, tile: int) -> torch.Tensor:
    return to_uint8(upscale_tiled(model, image, scale=4, tile=tile, overlap=32))


def bench_upscale(size: str, device: str) -> None:
    from functions.generation.esrgan import RRDBNet

    dtype = torch.float16 if device.startswith("cuda") else torch.float32
    side = 1024 if size == "full" else 128
    with torch.device(device):
        model = RRDBNet(**ESRGAN[size]).eval().to(dtype)
        image = torch.rand(1, 3, side, side, dtype=dtype)
    for label, tile in (("tiles of 512 px", 512 if size == "full" else 64), ("whole image", side)):
        _free(device)
        try:
            upscale_tiled(model, image, scale=4, tile=tile, overlap=32)  # warm-up (cuDNN picks its algorithms)
            seconds = _timed(device, partial(_upscale_once, model, image, tile))
            print(f"  real-esrgan-x4 {side}²→{side * 4}² {label:16} {seconds:6.2f} s  peak {_peak_gib(device)}")
        except torch.OutOfMemoryError:
            print(f"  real-esrgan-x4 {side}²→{side * 4}² {label:16} out of GPU memory")


def bench_encode() -> None:
    import numpy as np

    from functions.generation import engine as engine_module

    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 255, 4096, dtype=np.float32)
    big = Image.fromarray((ramp[None, :, None] * 0.7 + rng.normal(0, 20, (4096, 4096, 3))).clip(0, 255).astype("uint8"))
    for label, run in (
        ("webp q90 method 4 (before)", lambda: big.save(io.BytesIO(), format="WEBP", quality=90, method=4)),
        (f"webp q90 method {engine_module.WEBP_METHOD}", lambda: encode_images([big], "webp")),
        (f"jpeg q{engine_module.JPEG_QUALITY} 4:4:4 (upscales)", lambda: encode_images([big], "jpeg")),
    ):
        print(f"  encode 4096² {label:30} {_timed('cpu', run):6.2f} s")
    small = [big.crop((x, 0, x + 1024, 1024)) for x in range(0, 4096, 1024)]
    sequential = _timed("cpu", lambda: [encode_images([image], "webp") for image in small])
    parallel = _timed("cpu", lambda: encode_images(small, "webp"))
    print(
        f"  encode 4 x 1024² webp  sequential {sequential:6.2f} s  parallel {parallel:6.2f} s ({os.cpu_count()} CPUs)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    diffusion = [entry.id for entry in MODELS if entry.family.startswith(("flux", "qwen"))]
    parser.add_argument("--models", default=",".join(diffusion))
    parser.add_argument("--variants", default="eager,compiled,fp8")
    parser.add_argument("--images", type=int, default=2)
    parser.add_argument("--sizes", default="1:1,16:9", help="aspect ratios for flux-schnell (the others: 1:1)")
    parser.add_argument("--skip-upscale", action="store_true")
    parser.add_argument("--skip-encode", action="store_true")
    parser.add_argument("--dry-run", action="store_true", help="print the rows that would run, build nothing")
    args = parser.parse_args()
    models = args.models.split(",")
    rows = [(model_id, task) for model_id, task in ROWS if model_id in models]
    if args.dry_run:
        for model_id, task in rows:
            sizes = args.sizes if model_id == "flux-schnell" else "1:1"
            print(f"{model_id} {task} variants={args.variants} sizes={sizes}")
        return

    if torch.cuda.is_available():
        device, size = "cuda", "full"
        print(f"CUDA: {torch.cuda.get_device_name()} — FLUX at production size, random bf16 weights")
    else:
        device, size = "cpu", "tiny"
        print("no CUDA device: tiny configs on the CPU; these figures show the code paths, not FLUX's speed")
    print(f"torch {torch.__version__}")
    for model_id, task in rows:
        if BY_ID[model_id].family == "esrgan":
            continue  # bench_upscale below
        sizes = args.sizes.split(",") if model_id == "flux-schnell" else ["1:1"]
        for variant in args.variants.split(","):
            bench_flux(model_id, variant, size=size, device=device, images=args.images, sizes=sizes, task=task)
    if not args.skip_upscale:
        bench_upscale(size, device)
    if not args.skip_encode:
        bench_encode()


if __name__ == "__main__":
    main()
