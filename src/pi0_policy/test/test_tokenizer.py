"""Tokenizer: PaliGemma's prompt format reproduces LeRobot's tokens; a freshly trained model works."""

import io
import logging

import numpy as np
import pytest
import sentencepiece
from policy_fixtures import FIXTURE, load, reference

from pi0_policy.policy.tokenizer import PromptTokenizer, clean_prompt, demo_tokenizer_path

REFERENCE = reference()["tokenizer"]
GEMMA_SPECIAL_IDS = {"pad_id": 0, "eos_id": 1, "bos_id": 2, "unk_id": 3}


@pytest.fixture(scope="module")
def fixture_tokenizer():
    return PromptTokenizer(FIXTURE / "tokenizer" / "tokenizer.model", max_length=REFERENCE["max_length"])


def test_fixture_prompt_gives_lerobot_ids(fixture_tokenizer):
    ids = fixture_tokenizer.token_ids(REFERENCE["task_string"])
    assert ids == REFERENCE["token_ids_unpadded"]
    assert fixture_tokenizer.pieces(ids) == REFERENCE["tokens"]


def test_fixture_prompt_gives_lerobot_padded_tokens_and_mask(fixture_tokenizer):
    tokens, mask = fixture_tokenizer.encode(REFERENCE["task_string"])
    np.testing.assert_array_equal(tokens, load("inputs/lang_tokens.npy")[0])
    np.testing.assert_array_equal(mask, load("inputs/lang_masks.npy")[0])
    assert tokens.dtype == np.int64 and mask.dtype == bool


def test_demo_tokenizer_is_the_fixture_model():
    assert demo_tokenizer_path().read_bytes() == (FIXTURE / "tokenizer" / "tokenizer.model").read_bytes()


def test_cleaning_follows_openpi(fixture_tokenizer):
    assert clean_prompt("  pick_up the\ncube \n") == "pick up the cube"
    assert fixture_tokenizer.token_ids("pick_up the red cube\n") == fixture_tokenizer.token_ids(
        "pick up the red cube"
    )


def test_too_long_prompt_is_truncated_with_a_warning(fixture_tokenizer, caplog):
    prompt = " ".join(["red cube"] * 40)
    full = fixture_tokenizer.token_ids(prompt)
    assert len(full) > 48
    with caplog.at_level(logging.WARNING):
        tokens, mask = fixture_tokenizer.encode(prompt)
    assert "truncated to max_length=48" in caplog.text
    assert tokens.tolist() == full[:48] and mask.all()
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        again, _ = fixture_tokenizer.encode(prompt)  # the same prompt at the next inference
    assert caplog.text == "" and again.tolist() == tokens.tolist()


def test_too_long_prompt_rejected_when_asked():
    strict = PromptTokenizer(demo_tokenizer_path(), max_length=8, overflow="error")
    with pytest.raises(ValueError, match=r"\d+ tokens, more than max_length=8"):
        strict.encode("pick up the red cube and place it in the box")


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.model"):
        PromptTokenizer(tmp_path / "nope.model")
    (tmp_path / "junk.model").write_bytes(b"not a sentencepiece model")
    with pytest.raises(ValueError, match="junk.model"):
        PromptTokenizer(tmp_path / "junk.model")
    with pytest.raises(ValueError, match="overflow='drop'"):
        PromptTokenizer(demo_tokenizer_path(), overflow="drop")
    with pytest.raises(ValueError, match="prompt must be a str"):
        PromptTokenizer(demo_tokenizer_path()).encode(None)


def test_model_trained_in_the_test_works(tmp_path):
    corpus = ["pick up the red cube", "place it in the box", "fold the towel", "open the top drawer"] * 25
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus),
        model_writer=model,
        vocab_size=300,
        model_type="bpe",
        byte_fallback=True,  # "\n" becomes the byte piece <0x0A>, as in Gemma's vocabulary
        add_dummy_prefix=False,
        normalization_rule_name="identity",
        minloglevel=2,
        **GEMMA_SPECIAL_IDS,
    )
    path = tmp_path / "trained.model"
    path.write_bytes(model.getvalue())
    sp = sentencepiece.SentencePieceProcessor(model_file=str(path))

    tok = PromptTokenizer(path, max_length=16)
    tokens, mask = tok.encode("fold the towel")
    n = int(mask.sum())
    assert tokens[0] == 2 and tok.pieces([int(tokens[n - 1])]) == ["<0x0A>"]
    assert sp.decode(tokens[1 : n - 1].tolist()) == "fold the towel"
    assert mask[:n].all() and not mask[n:].any() and (tokens[n:] == 0).all()
    assert tok.vocab_size == 300
