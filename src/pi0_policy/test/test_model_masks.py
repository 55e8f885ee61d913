"""The blockwise causal mask and positions, checked entry by entry against their definition."""
import torch

from pi0_policy.model import masks


def _pi0_layout():
    """Prefix: 2 cameras × 3 tokens (camera 2 missing) + 4 prompt tokens (last 2 padded);
    suffix: 1 state token + 3 action tokens. Returns valid, block_start and the role of each token."""
    roles = ["img"] * 3 + ["missing"] * 3 + ["text"] * 2 + ["pad"] * 2 + ["state"] + ["action"] * 3
    valid = torch.tensor([[r not in ("missing", "pad") for r in roles]])
    block_start = torch.tensor([[False] * 10 + [True, True, False, False]])
    return valid, block_start, roles


def test_mask_matches_the_definition_entry_by_entry():
    valid, block_start, roles = _pi0_layout()
    allowed = masks.attention_mask(valid, block_start)[0]
    block = {"img": 0, "text": 0, "state": 1, "action": 2}
    for i, qi in enumerate(roles):
        for j, kj in enumerate(roles):
            if qi in ("missing", "pad") or kj in ("missing", "pad"):
                expected = False  # padding and missing cameras: neither queries nor keys
            else:
                expected = block[kj] <= block[qi]
            assert bool(allowed[i, j]) == expected, f"query {i} ({qi}) → key {j} ({kj})"


def test_mask_block_structure_in_words():
    valid, block_start, _ = _pi0_layout()
    allowed = masks.attention_mask(valid, block_start)[0]
    img, text, state, actions = [0, 1, 2], [6, 7], 10, [11, 12, 13]
    assert allowed[img][:, img + text].all() and allowed[text][:, img + text].all()  # prefix bidirectional
    assert not allowed[img + text][:, [state] + actions].any()  # prefix never sees the suffix
    assert allowed[state, img + text + [state]].all() and not allowed[state, actions].any()
    assert allowed[actions][:, img + text + [state] + actions].all()  # actions see everything valid
    assert not allowed[:, 3:6].any() and not allowed[3:6].any()  # missing camera
    assert not allowed[:, 8:10].any() and not allowed[8:10].any()  # padded prompt


def test_positions_skip_invalid_tokens():
    valid, _, _ = _pi0_layout()
    assert masks.positions(valid)[0].tolist() == [0, 1, 2, 2, 2, 2, 3, 4, 4, 4, 5, 6, 7, 8]


def test_additive_mask_values():
    allowed = torch.tensor([[[True, False], [False, False]]])
    additive = masks.additive_mask(allowed)
    assert additive.shape == (1, 1, 2, 2) and additive.dtype == torch.float32
    assert additive[0, 0, 0, 0] == 0 and additive[0, 0, 0, 1] == masks.MASK_VALUE
    assert torch.isfinite(torch.softmax(additive, dim=-1)).all()  # a fully masked row stays finite


def test_mismatched_shapes_are_rejected():
    try:
        masks.attention_mask(torch.ones(1, 3, dtype=torch.bool), torch.zeros(1, 4, dtype=torch.bool))
    except ValueError as error:
        assert "(1, 3)" in str(error) and "(1, 4)" in str(error)
    else:
        raise AssertionError("expected ValueError")
