"""Tiny offline variants of every production pipeline: real architectures, random (seeded) weights, no download.

Each builder creates the pipeline in code with a few thousand parameters and offline tokenizers, then writes it
with `save_pretrained`; the engine loads it back with `from_pretrained`, so the very loading code production runs
is exercised locally and in tests. The images are noise, but their size, count, determinism, progress and
cancellation behave exactly as in production (the tiny upscaler's weights pass its input through, so an upscale
looks like its input; variations use the tiny FLUX pipeline through FluxImg2ImgPipeline.from_pipe, as production).

Tokenizers, built from files we write ourselves (nothing comes from a hub):
- CLIP: a byte-level `vocab.json` (every byte character, alone and as a word end), an empty `merges.txt`.
- T5: a Unigram vocabulary of the same characters through the `tokenizers` library, as `T5TokenizerFast`.
- BART (Florence-2's text side): a byte-level `vocab.json` with an empty `merges.txt` and an `<image>` token.
- Qwen2 (Qwen-Image's Qwen2.5-VL text encoder): the same byte-level vocabulary with no merges, plus the chat
  template's special tokens, passed to `Qwen2Tokenizer(vocab=..., merges=[])` directly.
- Qwen3 (FLUX.2 [klein]'s text encoder): the same, with Qwen3's thinking markers and a chat template of our own
  that renders what Qwen3's does for one user message (Flux2KleinPipeline calls `apply_chat_template` with
  `enable_thinking=False`).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

# Bump when a builder changes, so stale tiny models on disk are rebuilt.
TINY_VERSION = "3"
MARKER = ".atelier-tiny"
SEED = 0


def _byte_chars() -> list[str]:
    """GPT-2's reversible byte → printable character table, as CLIP and BART use."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    chars = printable[:]
    n = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + n)
            n += 1
    return [chr(c) for c in chars]


def _clip_tokenizer(directory: Path) -> Any:
    from transformers import CLIPTokenizer

    vocab: dict[str, int] = {}
    for char in _byte_chars():
        vocab.setdefault(char, len(vocab))
        vocab.setdefault(char + "</w>", len(vocab))
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "vocab.json").write_text(json.dumps(vocab))
    (directory / "merges.txt").write_text("#version: 0.2\n")
    (directory / "tokenizer_config.json").write_text(
        json.dumps({"model_max_length": 77, "tokenizer_class": "CLIPTokenizer"})
    )
    return CLIPTokenizer.from_pretrained(str(directory)), len(vocab)


def _t5_tokenizer() -> Any:
    import transformers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    t5_tokenizer: Any = transformers.T5TokenizerFast  # type: ignore[attr-defined]  # lazily exported

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -1.0)]
    pieces += [(chr(c), -2.0) for c in range(32, 127)]
    tok = Tokenizer(models.Unigram(pieces, unk_id=2))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    special = {"eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}  # token names, not secrets
    return t5_tokenizer(tokenizer_object=tok, model_max_length=512, **special)


def _flux_parts(*, in_channels: int, out_channels: int, guidance_embeds: bool, work: Path) -> dict[str, Any]:
    import diffusers
    from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

    d: Any = diffusers  # diffusers' constructors are untyped

    torch.manual_seed(SEED)
    tokenizer, clip_vocab = _clip_tokenizer(work / "clip-tokenizer")
    tokenizer_2 = _t5_tokenizer()
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=clip_vocab,
            hidden_size=32,
            intermediate_size=37,
            num_attention_heads=4,
            num_hidden_layers=2,
            max_position_embeddings=77,
            projection_dim=32,
            bos_token_id=clip_vocab - 2,
            eos_token_id=clip_vocab - 1,
            pad_token_id=clip_vocab - 1,
        )
    )
    text_encoder_2 = T5EncoderModel(
        T5Config(vocab_size=len(tokenizer_2), d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=4)
    )
    transformer = d.FluxTransformer2DModel(
        patch_size=1,
        in_channels=in_channels,
        out_channels=out_channels,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=32,
        pooled_projection_dim=32,
        guidance_embeds=guidance_embeds,
        axes_dims_rope=[4, 4, 8],
    )
    # Four blocks give the production VAE scale factor of 8; no mid-block attention keeps large sizes cheap.
    vae = d.AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(4, 4, 4, 4),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=1,
        use_quant_conv=False,
        use_post_quant_conv=False,
        mid_block_add_attention=False,
        shift_factor=0.0609,
        scaling_factor=1.5035,
    )
    return {
        "scheduler": d.FlowMatchEulerDiscreteScheduler(),
        "vae": vae,
        "text_encoder": text_encoder,
        "tokenizer": tokenizer,
        "text_encoder_2": text_encoder_2,
        "tokenizer_2": tokenizer_2,
        "transformer": transformer,
    }


def build_flux(target: Path, work: Path) -> None:
    import diffusers

    pipeline: Any = diffusers.FluxPipeline
    pipeline(**_flux_parts(in_channels=16, out_channels=16, guidance_embeds=False, work=work)).save_pretrained(
        str(target)
    )


def build_flux_kontext(target: Path, work: Path) -> None:
    import diffusers

    pipeline: Any = diffusers.FluxKontextPipeline
    parts = _flux_parts(in_channels=16, out_channels=16, guidance_embeds=True, work=work)
    pipeline(**parts).save_pretrained(str(target))


def build_flux_fill(target: Path, work: Path) -> None:
    import diffusers

    pipeline: Any = diffusers.FluxFillPipeline
    # Packed latents (4 x 4) + packed masked-image latents (4 x 4) + the packed 8x8 mask (64 x 4).
    parts = _flux_parts(in_channels=16 + 16 + 256, out_channels=16, guidance_embeds=True, work=work)
    pipeline(**parts).save_pretrained(str(target))


def build_esrgan(target: Path, work: Path) -> None:
    from functions.generation.esrgan import RRDBNet

    torch.manual_seed(SEED)
    model = RRDBNet(num_feat=8, num_block=1, num_grow_ch=4)
    # Random convolutions alone turn any input black (every output value below 0.01). The real architecture is
    # kept, with weights a trained model could have: the first three feature channels carry the RGB input through
    # conv_first, the two nearest-neighbour 2x steps (each smoothed by a 3x3 binomial kernel, so the result is
    # close to a bilinear upscale) and conv_hr to conv_last, and the random weights, scaled down, add a small
    # residual on top. The local stack's upscale then shows the input, four times larger.
    smooth = torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]) / 16.0
    centre = torch.zeros(3, 3)
    centre[1, 1] = 1.0
    with torch.no_grad():
        for param in model.parameters():
            param.mul_(0.01)
        for conv, kernel in (
            (model.conv_first, centre),
            (model.conv_up1, smooth),
            (model.conv_up2, smooth),
            (model.conv_hr, centre),
            (model.conv_last, centre),
        ):
            for channel in range(3):
                conv.weight[channel, channel] += kernel
    model.save_pretrained(target)


def _bart_tokenizer(directory: Path) -> Any:
    from transformers import BartTokenizer

    vocab: dict[str, int] = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for char in _byte_chars():
        vocab.setdefault(char, len(vocab))
    vocab["<mask>"] = len(vocab)
    vocab["<image>"] = len(vocab)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "vocab.json").write_text(json.dumps(vocab))
    (directory / "merges.txt").write_text("#version: 0.2\n")
    (directory / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "tokenizer_class": "BartTokenizer",
                "model_max_length": 1024,
                "extra_special_tokens": {"image_token": "<image>"},
            }
        )
    )
    return BartTokenizer.from_pretrained(str(directory))


def build_florence2(target: Path, work: Path) -> None:
    from transformers import (
        CLIPImageProcessorPil,
        Florence2Config,
        Florence2ForConditionalGeneration,
        Florence2Processor,
    )

    torch.manual_seed(SEED)
    tokenizer = _bart_tokenizer(work / "bart-tokenizer")
    image_size, stride = 16, 4
    image_tokens = (image_size // stride) ** 2 + 1  # the last stage's grid plus one pooled token
    image_processor = CLIPImageProcessorPil(
        size={"height": image_size, "width": image_size},
        do_center_crop=False,
        image_seq_length=image_tokens,
    )
    processor = Florence2Processor(image_processor=image_processor, tokenizer=tokenizer)
    config = Florence2Config(
        text_config={
            "model_type": "bart",
            "vocab_size": len(tokenizer),
            "max_position_embeddings": 128,
            "encoder_layers": 1,
            "encoder_ffn_dim": 16,
            "encoder_attention_heads": 1,
            "decoder_layers": 1,
            "decoder_ffn_dim": 16,
            "decoder_attention_heads": 1,
            "d_model": 16,
            "bos_token_id": 0,
            "pad_token_id": 1,
            "eos_token_id": 2,
            "decoder_start_token_id": 2,
            "forced_bos_token_id": 0,
        },
        vision_config={
            "depths": [1],
            "patch_size": [7],
            "patch_stride": [stride],
            "patch_padding": [3],
            "patch_prenorm": [False],
            "embed_dim": [16],
            "num_heads": [1],
            "num_groups": [1],
            "window_size": 12,
            "drop_path_rate": 0.0,
            "projection_dim": 16,
        },
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
    )
    model = Florence2ForConditionalGeneration(config).eval()  # type: ignore[no-untyped-call]
    # The published checkpoint's generation settings: beam search without repeated trigrams, BOS forced first.
    model.generation_config.num_beams = 3
    model.generation_config.no_repeat_ngram_size = 3
    model.generation_config.max_length = 24  # production: up to 1025; tiny captions are noise, keep them short
    model.generation_config.forced_bos_token_id = 0
    model.save_pretrained(str(target))
    processor.save_pretrained(str(target))


# Qwen2's special tokens: the chat template's (Qwen-Image wraps every prompt in it) and the vision markers the
# Qwen2.5-VL config names; their ids follow the byte vocabulary.
QWEN_SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
)


def _byte_level_tokenizer(specials: tuple[str, ...], max_length: int, **names: str) -> Any:
    """A Qwen2 byte-level tokenizer with no merges: every byte one token, then `specials`, all but the first
    registered as special, so the template's markers stay one token each instead of being split into bytes.
    `names`: the pad/eos token names where a pipeline reads them."""
    from transformers import Qwen2Tokenizer

    vocab: dict[str, int] = {}
    for char in _byte_chars():
        vocab.setdefault(char, len(vocab))
    for token in specials:
        vocab[token] = len(vocab)
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=[], model_max_length=max_length, **names)
    tokenizer.add_special_tokens({"additional_special_tokens": list(specials[1:])})
    return tokenizer


def _qwen_tokenizer() -> Any:
    return _byte_level_tokenizer(QWEN_SPECIAL_TOKENS, 2048)


def _qwen_text_encoder(tokenizer: Any) -> Any:
    """The smallest Qwen2.5-VL that runs: one 16-wide text layer (multimodal RoPE split 1/1/2) and one vision
    block (unused by the text-to-image pipelines, but part of the architecture production loads)."""
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in QWEN_SPECIAL_TOKENS}
    config = Qwen2_5_VLConfig(
        text_config={
            "hidden_size": 16,
            "intermediate_size": 16,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "num_key_value_heads": 2,
            "rope_scaling": {"mrope_section": [1, 1, 2], "rope_type": "default", "type": "default"},
            "rope_theta": 1000000.0,
            "vocab_size": len(tokenizer),
            "max_position_embeddings": 2048,
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
        },
        vision_config={
            "depth": 1,
            "hidden_size": 16,
            "intermediate_size": 16,
            "num_heads": 2,
            "out_hidden_size": 16,
            "fullatt_block_indexes": [0],
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    return Qwen2_5_VLForConditionalGeneration(config)


def build_qwen_image(target: Path, work: Path) -> None:
    """Qwen-Image's architecture in miniature: the MMDiT with 2x2 patches over 4 latent channels, the causal 3D
    VAE with production's 8x spatial scale, a Qwen2.5-VL text encoder. Inpainting runs QwenImageInpaintPipeline
    over these very components (`from_pipe`), as production does over the real weights."""
    import diffusers

    d: Any = diffusers  # diffusers' constructors are untyped

    torch.manual_seed(SEED)
    tokenizer = _qwen_tokenizer()
    text_encoder = _qwen_text_encoder(tokenizer)
    latent = 4
    transformer = d.QwenImageTransformer2DModel(
        patch_size=2,
        in_channels=latent * 4,
        out_channels=latent,
        num_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=16,
        guidance_embeds=False,
        axes_dims_rope=(8, 4, 4),
    )
    # Four levels with two temporal downsamples: the pipeline's scale factor is 2 ** 3 = 8, as in production.
    vae = d.AutoencoderKLQwenImage(
        base_dim=8,
        z_dim=latent,
        dim_mult=[1, 2, 4, 4],
        num_res_blocks=1,
        temperal_downsample=[False, True, True],
        latents_mean=[0.0] * latent,
        latents_std=[1.0] * latent,
    )
    pipeline: Any = d.QwenImagePipeline
    pipeline(
        scheduler=d.FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        transformer=transformer,
    ).save_pretrained(str(target))


# Qwen3's chat template for what FLUX.2 [klein] sends (one user message, a generation prompt, thinking off), written
# here: the real tokenizer ships its own; this renders the same text for that case.
QWEN3_SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>")
QWEN3_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and enable_thinking is false %}<think>\n\n</think>\n\n{% endif %}{% endif %}"
)
# Flux2KleinPipeline stacks the text encoder's hidden states after layers 9, 18 and 27 (its default
# `text_encoder_out_layers`, as production's 36-layer Qwen3-4B): the tiny encoder has 28 layers, 16 wide, so the
# pipeline runs unchanged. Its prompt embeddings are 3 x 16 = 48 wide, the transformer's joint attention width.
KLEIN_TEXT_LAYERS = 28
KLEIN_TEXT_WIDTH = 16


def _qwen3_tokenizer() -> Any:
    special = {"pad_token": "<|endoftext|>", "eos_token": "<|im_end|>"}  # token names, not secrets
    tokenizer = _byte_level_tokenizer(QWEN3_SPECIAL_TOKENS, 1024, **special)
    tokenizer.chat_template = QWEN3_CHAT_TEMPLATE
    return tokenizer


def build_flux2_klein(target: Path, work: Path) -> None:
    """FLUX.2 [klein] 4B's architecture in miniature: the FLUX.2 MMDiT (double- and single-stream blocks, 4-axis
    RoPE, no guidance embedding), the FLUX.2 VAE (batch-normed latents, 8x as production, 2x2 patches), a Qwen3
    causal LM as text encoder; `is_distilled`, as a step-distilled checkpoint, so the pipeline ignores guidance."""
    import diffusers
    from transformers import Qwen3Config, Qwen3ForCausalLM

    d: Any = diffusers

    torch.manual_seed(SEED)
    tokenizer = _qwen3_tokenizer()
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in QWEN3_SPECIAL_TOKENS}
    text_encoder = Qwen3ForCausalLM(
        Qwen3Config(
            vocab_size=len(tokenizer),
            hidden_size=KLEIN_TEXT_WIDTH,
            intermediate_size=16,
            num_hidden_layers=KLEIN_TEXT_LAYERS,
            num_attention_heads=2,
            num_key_value_heads=1,
            head_dim=8,
            max_position_embeddings=1024,
            tie_word_embeddings=True,
            bos_token_id=ids["<|endoftext|>"],
            eos_token_id=ids["<|im_end|>"],
            pad_token_id=ids["<|endoftext|>"],
        )
    )
    latent = 4
    transformer = d.Flux2Transformer2DModel(
        patch_size=1,
        in_channels=latent * 4,  # the VAE's latents in 2x2 patches
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=3 * KLEIN_TEXT_WIDTH,
        timestep_guidance_channels=16,
        axes_dims_rope=(4, 4, 4, 4),
        guidance_embeds=False,
    )
    # Four levels: the pipeline's scale factor is 2 ** 3 = 8, as in production.
    vae = d.AutoencoderKLFlux2(
        block_out_channels=(4, 4, 4, 4), layers_per_block=1, latent_channels=latent, norm_num_groups=1
    )
    pipeline: Any = d.Flux2KleinPipeline
    pipeline(
        scheduler=d.FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        transformer=transformer,
        is_distilled=True,
    ).save_pretrained(str(target))


BUILDERS: dict[str, Callable[[Path, Path], None]] = {
    "flux": build_flux,
    "flux-kontext": build_flux_kontext,
    "flux-fill": build_flux_fill,
    "esrgan": build_esrgan,
    "florence2": build_florence2,
    "qwen-image": build_qwen_image,
    "flux2-klein": build_flux2_klein,
}


def ensure_tiny(family: str, root: Path) -> Path:
    """The folder of the tiny model for `family` under `root`, built there once (atomically) if missing."""
    target = root / family
    marker = target / MARKER
    if marker.exists() and marker.read_text() == TINY_VERSION:
        return target
    builder = BUILDERS[family]
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{family}-", dir=root))
    try:
        builder(staging / "model", staging / "work")
        (staging / "model" / MARKER).write_text(TINY_VERSION)
        if target.exists():
            shutil.rmtree(target, ignore_errors=True)
        try:
            os.replace(staging / "model", target)
        except OSError:
            # Another process finished the same build first; its copy is identical (same seed, same code).
            if not (marker.exists() and marker.read_text() == TINY_VERSION):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
