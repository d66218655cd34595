"""The core's promises: replay writes nothing, every gate is draw_gate, a subclass the base
cannot call fails at its definition, and an empty batch gets a clear error from every call."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import torch
from torch import Tensor

import mmnoise as mm
from mmnoise.config import TRANSFORMS
from mmnoise.rng import Randomness
from mmnoise.transforms.base import NoiseTransform
from mmnoise.transforms.compose import MultimodalPipeline
from tests.records import assert_declared, frozen_record


@pytest.fixture(autouse=True)
def _registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # classes defined here register themselves: leave the registry as the package made it
    monkeypatch.setattr(TRANSFORMS, "_classes", TRANSFORMS.classes())
    yield


def _g(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _sample() -> dict[str, Any]:
    g = _g(1)
    return {
        "audio": torch.randn(4, 12, 3, generator=g),
        "text": torch.randint(5, 50, (4, 9), generator=g),
        "video": torch.rand(4, 3, 3, 4, 4, generator=g),
        "lengths": {"audio": torch.tensor([12, 7, 12, 3]), "text": torch.tensor([9, 9, 4, 6])},
        "present": {"video": torch.tensor([True, False, True, True])},
    }


def _pipelines() -> list[NoiseTransform]:
    return [
        mm.TokenDeletion("text", fraction=(0.3, 0.6), p=0.7),
        mm.DropModalities(["audio", "video"], fraction=(0.5, 0.5), fill="noise"),
        mm.DropModalities(["audio", "video", "text"], fill="nmer", p=0.5),
        mm.Compose([mm.TimeMask("audio"), mm.TokenDeletion("text")], p=0.6),
        mm.OneOf([mm.Gain("audio"), mm.TokenDeletion("text"), mm.Brightness("video")]),
        mm.SomeOf([mm.Gain("audio"), mm.TokenMask("text", mask_id=1), mm.TimeMask("audio")], n=(1, 3)),
        MultimodalPipeline(
            {"audio": [mm.AddGaussianSNR(), mm.TimeMask()], "text": mm.TokenDeletion()},
            missing=mm.DropModalities(["audio", "text", "video"], fill="noise"),
            p=0.8,
        ),
    ]


@pytest.mark.parametrize("t", _pipelines(), ids=lambda t: type(t).__name__)
@pytest.mark.parametrize("level", [0.7, "per-example"])
def test_replay_writes_nothing_into_its_record_or_sample(t: NoiseTransform, level: Any) -> None:
    s = _sample()
    lv = torch.tensor([0.0, 0.4, 1.0, 0.8]) if level == "per-example" else level
    for facts in (True, False):
        out, rec = t.run(s, level=lv, generator=_g(3), record=facts)
        assert_declared(rec)
        frozen, before = frozen_record(rec), frozen_record(s)
        again = t.replay(s, rec)
        assert frozen_record(rec) == frozen and frozen_record(s) == before
        for name in ("audio", "text", "video"):
            assert torch.equal(again[name], out[name])
        assert frozen_record(again.get("lengths")) == frozen_record(out.get("lengths"))
        assert frozen_record(again.get("present")) == frozen_record(out.get("present"))


def test_every_gate_is_draw_gate(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    draw_gate = NoiseTransform.draw_gate

    def spy(self: NoiseTransform, batch: int, device: torch.device, g: Randomness) -> Tensor:
        calls.append(type(self).__name__)
        return draw_gate(self, batch, device, g)

    monkeypatch.setattr(NoiseTransform, "draw_gate", spy)
    pipe = MultimodalPipeline(
        {"audio": [mm.Gain(), mm.OneOf([mm.TimeMask(), mm.Gain()])]},
        missing=mm.DropModalities(["audio", "text"]),
    )
    pipe(_sample(), generator=_g())
    assert calls == [
        "MultimodalPipeline", "Compose", "Gain", "OneOf", "TimeMask", "Gain", "DropModalities",
    ]  # fmt: skip


def _kernel(x: Tensor, shift: Tensor, *, lengths: Tensor | None = None) -> Tensor:
    return x + shift[:, None, None]


def _define(**body: Any) -> type[NoiseTransform]:
    def make_params(self: NoiseTransform, x: Tensor, level: Tensor, *, generator: Any) -> Any:
        return {"shift": level}

    namespace: dict[str, Any] = {
        "accepts": frozenset({"features"}),
        "kernel": staticmethod(_kernel),
        "make_params": make_params,
    }
    namespace.update(body)
    return type("Custom", (NoiseTransform,), {k: v for k, v in namespace.items() if v is not None})


def test_a_complete_subclass_is_accepted_and_runs() -> None:
    custom = _define()
    out = custom("a")({"a": torch.zeros(2, 3, 1)}, level=0.5)
    assert torch.equal(out["a"], torch.full((2, 3, 1), 0.5))


def _seeded(self: NoiseTransform, x: Tensor, level: Tensor, *, generator: Any) -> Any:
    return {"shift": level, "seed": self.draw_seed(x, generator)}


@pytest.mark.parametrize(
    ("body", "fix"),
    [
        ({"accepts": None}, r"set the class attribute accepts = frozenset\(\{\.\.\.\}\)"),
        ({"make_params": None}, r"define make_params\(self, x, level, \*, generator\)"),
        ({"kernel": None}, r"set the class attribute kernel = staticmethod\(fn\)"),
        (
            {"kernel": staticmethod(lambda x, shift: x + shift)},
            r"its kernel <lambda> must take the keywords the base passes: add lengths=None",
        ),
        (
            {"make_params": _seeded},
            r"its kernel _kernel must take .*: add generator=None to its signature",
        ),
        ({"writes_in_place": True}, r"its kernel _kernel must take .*: add inplace=False"),
    ],
    ids=["accepts", "make_params", "kernel", "lengths", "generator", "inplace"],
)
def test_a_subclass_the_base_cannot_call_fails_at_definition(body: dict[str, Any], fix: str) -> None:
    with pytest.raises(TypeError, match=rf"^Custom: {fix}"):
        _define(**body)
    assert "Custom" not in TRANSFORMS


def test_a_kernel_taking_keywords_is_accepted() -> None:
    def kernel(x: Tensor, **kwargs: Tensor) -> Tensor:
        return x + kwargs["shift"][:, None, None]

    custom = _define(kernel=staticmethod(kernel), make_params=_seeded, writes_in_place=True)
    assert custom("a")({"a": torch.zeros(1, 2, 1)}, level=1.0)["a"].sum().item() == 2.0


def test_an_undeclared_report_is_refused() -> None:
    def entry_updates(self: NoiseTransform, *args: Any, **kwargs: Any) -> dict[str, Tensor]:
        return {"level_used": torch.ones(1)}

    custom = _define(entry_updates=entry_updates)
    with pytest.raises(TypeError, match=r"Custom.entry_updates reported \['level_used'\]"):
        custom("a").run({"a": torch.zeros(1, 2, 1)})


_EMPTY: list[tuple[str, Callable[[], NoiseTransform], Tensor]] = [
    ("Gain", lambda: mm.Gain("m"), torch.zeros(0, 5, 3)),
    ("Compose", lambda: mm.Compose([mm.AddGaussianSNR("m"), mm.TimeMask("m")]),
     torch.zeros(0, 5, 3)),
    ("OneOf", lambda: mm.OneOf([mm.TokenMask("m", mask_id=1), mm.TokenDeletion("m")]),
     torch.zeros(0, 7, dtype=torch.long)),
    ("SomeOf", lambda: mm.SomeOf([mm.Brightness("m"), mm.GaussianBlur("m")]),
     torch.zeros(0, 2, 3, 4, 4)),
    ("MultimodalPipeline", lambda: MultimodalPipeline(
        {"m": mm.AddGaussianSNR()}, missing=mm.DropModalities(["m"])), torch.zeros(0, 1, 16)),
    ("DropModalities", lambda: mm.DropModalities(["m"]), torch.zeros(0, 5, 3)),
]  # fmt: skip


@pytest.mark.parametrize(("who", "build", "x"), _EMPTY, ids=[w for w, _, _ in _EMPTY])
def test_an_empty_batch_gets_a_clear_error_from_every_call(
    who: str, build: Callable[[], NoiseTransform], x: Tensor
) -> None:
    t = build()
    message = rf"^{who}: expected a non-empty batch, got 0 examples in \['m'\]; skip empty batches"
    for call in (
        lambda: t({"m": x}, generator=_g()),
        lambda: t.run({"m": x}, level=torch.zeros(0), generator=_g()),
        lambda: t.replay({"m": x}, t.run({"m": x.new_ones(1, *x.shape[1:])})[1]),
    ):
        with pytest.raises(ValueError, match=message):
            call()
