"""Florence-2 captions use the checkpoint's own generation settings, and never suppress the BOS they force."""

from __future__ import annotations

import copy

from functions.generation.engine import Engine, caption_generation_settings


def test_caption_settings_come_from_the_checkpoint(engine: Engine) -> None:
    loaded = engine.load("florence-2-base")
    config = loaded.model.generation_config
    settings = caption_generation_settings(loaded.model, loaded.processor)
    assert settings["num_beams"] == config.num_beams == 3
    assert settings["no_repeat_ngram_size"] == 3
    assert settings["max_length"] == config.max_length == 24
    assert settings["do_sample"] is False
    tokenizer = loaded.processor.tokenizer
    assert config.forced_bos_token_id == tokenizer.bos_token_id
    assert tokenizer.bos_token_id not in settings["suppress_tokens"]  # forced first: suppressing it leaves nothing
    assert tokenizer.pad_token_id in settings["suppress_tokens"]
    assert tokenizer.convert_tokens_to_ids(loaded.processor.image_token) in settings["suppress_tokens"]


def test_an_unforced_bos_is_suppressed_and_unset_beams_follow_the_published_usage(engine: Engine) -> None:
    loaded = engine.load("florence-2-base")
    model = copy.deepcopy(loaded.model)
    model.generation_config.forced_bos_token_id = None
    model.generation_config.num_beams = None  # the checkpoint names no beam count
    model.config.text_config.forced_bos_token_id = None
    settings = caption_generation_settings(model, loaded.processor)
    assert loaded.processor.tokenizer.bos_token_id in settings["suppress_tokens"]
    assert settings["num_beams"] == 3
