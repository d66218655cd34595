"""Invariants of the token kernels and transforms, and of the string helper (issue 3, items 3, 6)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mmnoise.functional import tokens as F
from mmnoise.transcripts import asr_noise
from mmnoise.transforms import tokens as T
from mmnoise.transforms.compose import Compose

PAD, MASK, SPECIAL, VOCAB = 0, 1, (2, 3), 30
PROTECTED = torch.tensor([PAD, *SPECIAL])


@dataclass(frozen=True)
class Batch:
    x: torch.Tensor
    lengths: torch.Tensor


@st.composite
def batches(draw: st.DrawFn) -> Batch:
    """Ids in [0, 30) with pads and special ids inside the valid part, junk past the lengths."""
    b, t = draw(st.integers(1, 4)), draw(st.integers(1, 16))
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    x = torch.randint(0, VOCAB, (b, t), generator=g)
    x[:, 0] = 2  # [CLS]-like start
    lengths = torch.tensor(draw(st.lists(st.integers(1, t), min_size=b, max_size=b)))
    return Batch(x, lengths)


def _valid(batch: Batch) -> torch.Tensor:
    return torch.arange(batch.x.shape[1])[None, :] < batch.lengths[:, None]


KERNELS = {
    "mask": lambda x, r, g, n: F.token_mask(
        x, fraction=r, mask_id=MASK, pad_id=PAD, special_ids=SPECIAL, generator=g, lengths=n
    ),
    "replace": lambda x, r, g, n: F.random_token_replace(
        x, fraction=r, vocab_size=VOCAB, pad_id=PAD, special_ids=SPECIAL, generator=g, lengths=n
    ),
    "swap": lambda x, r, g, n: F.adjacent_swap(
        x, fraction=r, pad_id=PAD, special_ids=SPECIAL, generator=g, lengths=n
    ),
    "span": lambda x, r, g, n: F.span_mask(
        x,
        start=torch.rand(x.shape[0], generator=g),
        width_fraction=r,
        mask_id=MASK,
        pad_id=PAD,
        special_ids=SPECIAL,
        lengths=n,
    ),
}


@pytest.mark.parametrize("name", sorted(KERNELS))
@settings(max_examples=25)
@given(batch=batches(), ratio=st.floats(0.0, 1.0), seed=st.integers(0, 2**31 - 1))
def test_in_place_token_ops_never_touch_pads_or_special_ids(
    name: str, batch: Batch, ratio: float, seed: int
) -> None:
    x = batch.x
    before = x.clone()
    r = torch.full((x.shape[0],), ratio)
    y = KERNELS[name](x, r, torch.Generator().manual_seed(seed), batch.lengths)
    assert torch.equal(x, before) and y.dtype == torch.int64 and y.shape == x.shape
    frozen = ~_valid(batch) | torch.isin(x, PROTECTED)
    assert torch.equal(y[frozen], x[frozen])
    # no op ever writes a pad or special id into an editable position
    changed = y != x
    assert not bool(torch.isin(y[changed], PROTECTED).any())
    if name == "swap":  # a permutation of each example's tokens
        assert torch.equal(y.sort(dim=1).values, x.sort(dim=1).values)
    if name == "replace":
        assert bool(((y >= 0) & (y < VOCAB)).all())


@settings(max_examples=25)
@given(batch=batches(), ratio=st.floats(0.0, 1.0), seed=st.integers(0, 2**31 - 1))
def test_deletion_keeps_order_specials_and_padding(batch: Batch, ratio: float, seed: int) -> None:
    x, n = batch.x, batch.lengths
    r = torch.full((x.shape[0],), ratio)
    kw = {"fraction": r, "pad_id": PAD, "special_ids": SPECIAL, "lengths": n}
    y = F.token_deletion(x, **kw, generator=torch.Generator().manual_seed(seed))
    new = F.token_deletion_lengths(x, **kw, generator=torch.Generator().manual_seed(seed))
    assert bool((new >= 1).all()) and bool((new <= n).all())
    # the count from the kept mask and the count from the output (pads added) agree
    assert torch.equal(F.lengths_after_deletion(x, y, pad_id=PAD, lengths=n), new)
    for b in range(x.shape[0]):
        old_len, new_len = int(n[b]), int(new[b])
        src, out = x[b, :old_len].tolist(), y[b, :new_len].tolist()
        # the kept tokens are a subsequence of the original valid tokens
        it = iter(src)
        assert all(tok in it for tok in out)
        # protected ids (pads and specials inside the valid part) are all kept, in order
        keep = [t for t in src if t in (PAD, *SPECIAL)]
        assert [t for t in out if t in (PAD, *SPECIAL)] == keep
        # the freed tail is padding, and the original padding is untouched
        assert y[b, new_len:old_len].eq(PAD).all()
        assert torch.equal(y[b, old_len:], x[b, old_len:])


def test_deletion_at_full_rate_keeps_at_least_one_token() -> None:
    x = torch.tensor([[5, 6, 7], [2, 8, 3]])
    y = F.token_deletion(x, fraction=torch.ones(2), special_ids=SPECIAL)
    n = F.token_deletion_lengths(x, fraction=torch.ones(2), special_ids=SPECIAL)
    assert y.tolist() == [[5, 0, 0], [2, 3, 0]] and n.tolist() == [1, 2]


def test_lengths_after_deletion_counts_pads_inside_the_valid_part() -> None:
    # pads inside the valid part are kept (never editable): at rate 1 the three words go, the
    # two inner pads stay, so 2 valid tokens are left; the row left as it was keeps its length
    x = torch.tensor([[5, 0, 6, 7, 0, 0], [5, 0, 6, 7, 0, 0]])
    n = torch.tensor([5, 5], dtype=torch.int32)
    y = F.token_deletion(x, fraction=torch.tensor([1.0, 0.0]), lengths=n)
    assert y.tolist() == [[0, 0, 0, 0, 0, 0], x[1].tolist()]
    assert F.lengths_after_deletion(x, y, lengths=n).tolist() == [2, 5]
    assert F.lengths_after_deletion(x[:1], y[:1]).tolist() == [3]  # None: all 6 steps valid


def test_token_deletion_writes_new_lengths_into_a_new_dict() -> None:
    x = torch.tensor([[2, 5, 6, 7, 8, 3, 0, 0], [2, 9, 9, 3, 0, 0, 0, 0]])
    lengths = {"text": torch.tensor([6, 4]), "audio": torch.tensor([3, 3])}
    sample = {"text": x, "audio": torch.zeros(2, 3, 1), "lengths": lengths}
    t = T.TokenDeletion("text", fraction=(0.0, 1.0), special_ids=SPECIAL)
    out, rec = t.run(sample, level=1.0, generator=torch.Generator().manual_seed(0))
    assert out["lengths"] is not lengths and lengths["text"].tolist() == [6, 4]
    assert out["lengths"]["text"].tolist() == [2, 2] and out["lengths"]["audio"] is lengths["audio"]
    assert out["text"].tolist() == [[2, 3, 0, 0, 0, 0, 0, 0], [2, 3, 0, 0, 0, 0, 0, 0]]
    assert torch.equal(rec["keys"]["text"]["lengths"], out["lengths"]["text"])
    again = t.replay(sample, rec)
    assert torch.equal(again["lengths"]["text"], out["lengths"]["text"])
    # level 0 for one example: its length is kept
    part = t(sample, level=torch.tensor([0.0, 1.0]), generator=torch.Generator())
    assert part["lengths"]["text"].tolist() == [6, 2]


def test_token_deletion_creates_lengths_when_the_sample_has_none() -> None:
    t = T.TokenDeletion("text", fraction=(0.5, 0.5))
    x = torch.arange(4, 24).reshape(2, 10)
    out = t({"text": x}, generator=torch.Generator().manual_seed(3))
    kept = (out["text"] != 0).sum(dim=1)
    assert torch.equal(out["lengths"]["text"], kept) and bool((kept < 10).all())


def test_deletion_lengths_flow_through_compose() -> None:
    x = torch.tensor([[2, 5, 6, 7, 8, 9, 3, 0]])
    chain = Compose(
        [
            T.TokenDeletion("text", fraction=(0.0, 0.5), special_ids=SPECIAL),
            T.TokenMask("text", mask_id=MASK, fraction=(0.0, 1.0), special_ids=SPECIAL),
        ]
    )
    out = chain({"text": x, "lengths": {"text": torch.tensor([7])}}, generator=torch.Generator())
    n = int(out["lengths"]["text"][0])
    y = out["text"][0].tolist()
    assert n < 7 and y[0] == 2 and y[n - 1] == 3 and set(y[1 : n - 1]) <= {MASK}
    assert y[n:] == [0] * (8 - n)


@pytest.mark.parametrize("ratio", [0.1, 0.4])
def test_mask_rate_matches_ratio(ratio: float) -> None:
    x = torch.randint(4, VOCAB, (4, 4000), generator=torch.Generator().manual_seed(0))
    y = F.token_mask(
        x,
        fraction=torch.full((4,), ratio),
        mask_id=MASK,
        generator=torch.Generator().manual_seed(1),
    )
    assert abs(float((y == MASK).float().mean()) - ratio) < 0.01


def test_swap_at_full_rate_swaps_every_disjoint_pair() -> None:
    x = torch.arange(4, 14)[None]
    y = F.adjacent_swap(x, fraction=torch.ones(1), generator=torch.Generator().manual_seed(0))
    # offset 0 pairs (0, 1) ... (8, 9); offset 1 pairs (1, 2) ... (7, 8)
    assert y.tolist() in (
        [[5, 4, 7, 6, 9, 8, 11, 10, 13, 12]],
        [[4, 6, 5, 8, 7, 10, 9, 12, 11, 13]],
    )


def test_replacement_never_draws_protected_ids() -> None:
    x = torch.full((2, 500), 7)
    y = F.random_token_replace(
        x, fraction=torch.ones(2), vocab_size=6, special_ids=(2, 3), generator=torch.Generator()
    )
    assert set(y.unique().tolist()) <= {1, 4, 5}


@pytest.mark.parametrize(
    ("pad_id", "special_ids"),
    [(0, (2, 3, 4)), (0, (9, 2, 6)), (5, (0, 1)), (11, ()), (0, (3, 4, 8, 9))],
)
def test_replacement_draws_every_allowed_id_and_only_those(
    pad_id: int, special_ids: tuple[int, ...]
) -> None:
    # runs of consecutive excluded ids share one rank shift: each allowed id must still be hit
    vocab = 10
    x = torch.full((4, 400), 7)
    y = F.random_token_replace(
        x,
        fraction=torch.ones(4),
        vocab_size=vocab,
        pad_id=pad_id,
        special_ids=special_ids,
        generator=torch.Generator().manual_seed(0),
    )
    allowed = set(range(vocab)) - {pad_id, *special_ids}
    assert set(y.unique().tolist()) == allowed


def test_token_errors_are_clear() -> None:
    with pytest.raises(TypeError, match="int64"):
        F.token_mask(torch.zeros(2, 3), fraction=torch.ones(2), mask_id=1)
    with pytest.raises(ValueError, match="no id to draw"):
        T.RandomTokenReplace(vocab_size=2, special_ids=(1,))
    with pytest.raises(ValueError, match="mask_id"):
        T.TokenMask(mask_id=-1)
    with pytest.raises(ValueError, match="special_ids"):
        T.SpanMask(mask_id=1, special_ids=101)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="mask_id"):
        T.TokenMask()  # type: ignore[call-arg]


# ---- the string-level helper (mmnoise.transcripts) -------------------------------------------

TEXT = (
    "I really did not expect that to happen today and honestly their phone was ringing "
    "for hours while we were waiting right here in the kitchen for the weather to change"
)


def _edit_distance(a: list[str], b: list[str]) -> int:
    row = list(range(len(b) + 1))
    for i, wa in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, wb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (wa != wb))
    return row[-1]


def test_asr_noise_reaches_the_requested_word_error_rate() -> None:
    texts = [TEXT] * 20
    ref = TEXT.split()
    for level, target in ((0.5, 0.15), (1.0, 0.3)):
        noisy = asr_noise(texts, level=level, seed=1)
        wer = sum(_edit_distance(ref, t.split()) for t in noisy) / (len(ref) * len(texts))
        assert abs(wer - target) < 0.05, (level, wer)


def test_asr_noise_is_seeded_identity_at_zero_and_grows_with_level() -> None:
    assert asr_noise(TEXT, level=0.0, wer=(0.2, 0.5)) == TEXT
    assert asr_noise(TEXT, level=0.7, seed=3) == asr_noise(TEXT, level=0.7, seed=3)
    assert asr_noise(TEXT, level=0.7, seed=3) != asr_noise(TEXT, level=0.7, seed=4)
    ref = TEXT.split()
    dist = [_edit_distance(ref, asr_noise(TEXT, level=lv, seed=5).split()) for lv in (0.2, 0.6, 1)]
    assert 0 < dist[0] <= dist[1] <= dist[2]
    # a text's noise depends on its index, not on the rest of the list
    assert asr_noise([TEXT, "x"], level=1.0, seed=2)[0] == asr_noise([TEXT], level=1.0, seed=2)[0]


def test_asr_noise_keeps_punctuation_and_case_and_never_empties() -> None:
    out = asr_noise("Their phone, ringing!", level=1.0, wer=(1.0, 1.0), mix=(1.0, 0.0, 0.0))
    assert out == "There fone, ringin!"
    assert asr_noise("hello", level=1.0, wer=(1.0, 1.0), mix=(0.0, 1.0, 0.0)) == "hello"


def test_asr_noise_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="level"):
        asr_noise("a b", level=1.5)
    with pytest.raises(ValueError, match="mix"):
        asr_noise("a b", level=0.5, mix=(1.0, -1.0, 0.0))
    with pytest.raises(TypeError, match="strings"):
        asr_noise([1, 2], level=0.5)  # type: ignore[list-item]


def test_frame_dropout_is_the_embedding_dropout() -> None:
    # text held as (B, T, D) embeddings: FrameDropout zeroes whole token vectors, never parts
    from mmnoise.transforms.features import FrameDropout

    emb = torch.randn(3, 12, 8, generator=torch.Generator().manual_seed(0))
    lengths = torch.tensor([12, 7, 3])
    out = FrameDropout("text", fraction=(0.0, 0.8))(
        {"text": emb, "lengths": {"text": lengths}}, generator=torch.Generator().manual_seed(1)
    )["text"]
    zeroed = (out == 0).all(dim=-1)
    kept = (out == emb).all(dim=-1)
    assert bool((zeroed | kept).all()) and bool(zeroed.any())
    assert not bool((zeroed & (torch.arange(12)[None, :] >= lengths[:, None])).any())


@pytest.mark.parametrize("b", [1, 3, 20])
def test_token_kernels_with_full_lengths_equal_no_lengths(b: int) -> None:
    # full lengths skip the valid mask on the host (few examples) or build it: the same ids
    x = torch.randint(5, 50, (b, 9), generator=torch.Generator().manual_seed(b))
    x[:, 0] = 1
    frac, full = torch.full((b,), 0.5), torch.full((b,), 9)
    kernels = {
        "mask": lambda **k: F.token_mask(x, fraction=frac, mask_id=3, special_ids=(1,), **k),
        "replace": lambda **k: F.random_token_replace(x, fraction=frac, vocab_size=50, **k),
        "swap": lambda **k: F.adjacent_swap(x, fraction=frac, special_ids=(1,), **k),
        "delete": lambda **k: F.token_deletion(x, fraction=frac, special_ids=(1,), **k),
    }
    for name, fn in kernels.items():
        a = fn(generator=torch.Generator().manual_seed(0), lengths=full)
        assert torch.equal(a, fn(generator=torch.Generator().manual_seed(0))), name


@pytest.mark.parametrize("shape", [(1, 40), (3, 17), (64, 128)])
@pytest.mark.parametrize("special", [(), (2, 3), (2, 3, 4, 5, 6, 7)])
@pytest.mark.parametrize("isin_ids", [0, 10**9])
def test_editable_positions_are_the_same_on_either_side_of_the_isin_cut(
    monkeypatch: pytest.MonkeyPatch, shape: tuple[int, int], special: tuple[int, ...], isin_ids: int
) -> None:
    # small batches read the protected ids with one isin, larger ones compare id by id: each
    # path, forced on the same ids, marks exactly the valid positions that hold no protected id
    monkeypatch.setattr(F, "_ISIN_IDS", isin_ids)
    b, t = shape
    g = torch.Generator().manual_seed(t)
    x = torch.randint(0, 9, shape, generator=g)  # a small vocabulary: protected ids are common
    lengths = torch.randint(1, t + 1, (b,), generator=g)
    valid = torch.arange(t)[None, :] < lengths[:, None]
    protected = {PAD, *special}
    want = [
        [step < n and tok not in protected for step, tok in enumerate(row)]
        for row, n in zip(x.tolist(), lengths.tolist(), strict=True)
    ]
    for v in (valid, None):
        got = F._editable(x, v, PAD, special)
        assert got.dtype == torch.bool and got.tolist() == (
            want if v is not None else [[tok not in protected for tok in row] for row in x.tolist()]
        )
