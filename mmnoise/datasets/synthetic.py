"""A synthetic multimodal emotion corpus with IEMOCAP-like feature sizes (not real data).

``SyntheticMER`` is **synthetic**: no audio, video or text was recorded. It imitates the shapes
of the IEMOCAP features used by MMIN / IF-MMIN / NMER (ComParE 130-d audio frames, Denseface
342-d face frames, BERT-large 1024-d token vectors, variable lengths, 4 emotion classes) and
has a known class structure, so that models learn, losing a modality costs accuracy, and
noise hurts. It is the embedded default for the demo and the examples; numbers measured on it
say nothing about real emotion recognition.

Generative model, per utterance with class y:

* a **shared** emotion latent ``s = mu_shared[y] + e_s`` carried by every modality;
* a **specific** latent per modality ``z_m = mu_m[y] + e_m`` carried only by modality m (so
  each modality adds evidence that the others do not have);
* a **nuisance** latent per modality ``n_m`` (speaker / channel / lexical variation),
  independent of the class;
* frames ``x_t = k_m a_t U_m [s; z_m] + M_m [n_m; f_t] + sigma w_t``: the emotion latents
  along orthonormal feature directions ``U_m`` with amplitude ``k_m`` (``emotion_scale``) and
  a slow envelope ``a_t`` (emotion shows more in some frames), the nuisance and a frame-level
  variation ``f_t`` spread densely over all features (about unit power each), and white
  noise ``w_t``.

Because the emotion signal is a small share of the feature power, additive noise at a few dB
SNR costs accuracy even after pooling over time; because each modality has its own factor,
zeroing a modality costs accuracy; the shared factor keeps single modalities informative.

The class prototypes ``mu`` and projections ``U, M`` are small and made from ``seed`` alone
(shared by the splits); each item is generated in ``__getitem__`` from a generator seeded with
``derive_seed(seed, split, index)``, so nothing else is stored and items are reproducible in any
process.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

from mmnoise.rng import derive_seed, make_generator
from mmnoise.sample import Sample

__all__ = ["SyntheticMER"]

_SPLITS = {"train": 0, "val": 1, "test": 2}
_DEFAULT_SIZES = {"train": 2000, "val": 400, "test": 400}
_DEFAULT_DIMS = {"audio": 130, "visual": 342, "text": 1024}
_DEFAULT_MAX_LEN = {"audio": 50, "visual": 50, "text": 22}
# Text (BERT) is usually the strongest single modality on IEMOCAP; its own emotion factor is
# twice as separable by default, which also offsets the larger estimation error of 1024-d
# inputs trained on a few thousand items.
_SPECIFIC_SEP_FACTOR = {"text": 2.0}
_IEMOCAP_CLASSES = ("neutral", "happy", "angry", "sad")


def _check_int_map(value: Mapping[str, int], *, who: str, name: str, lo: int) -> dict[str, int]:
    if not isinstance(value, Mapping) or not value:
        raise TypeError(
            f"{who}: expected {name} as a non-empty dict {{modality: int}}, got {value!r}."
        )
    out = {}
    for k, v in value.items():
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise ValueError(f"{who}: expected {name}[{k!r}] as an int >= {lo}, got {v!r}.")
        out[str(k)] = v
    return out


class SyntheticMER(Dataset[Sample]):
    """Synthetic multimodal emotion corpus (audio, visual, text features), generated on the fly.

    **Synthetic data**, documented as such: see the module docstring for the generative model.
    Items are deterministic functions of (seed, split, index).

    Args:
        split: ``"train"``, ``"val"`` or ``"test"``.
        size: number of items (default 2000 / 400 / 400 for train / val / test).
        seed: the corpus seed (prototypes, projections and every item).
        dims: feature size per modality (default audio 130, visual 342, text 1024).
        max_len: longest sequence per modality in steps (default audio 50, visual 50, text 22).
        min_len: shortest sequence per modality (default about a third of ``max_len``).
        num_classes: number of emotion classes (>= 2).
        shared_dim: size of the shared emotion latent.
        specific_dim: size of each modality's own emotion latent.
        class_sep: distance scale between class prototypes of the shared latent (larger:
            easier).
        specific_sep: the same for each modality's own latent, a float or {modality: float}
            (default ``class_sep``, twice that for ``"text"``).
        emotion_scale: amplitude of the emotion signal in the features relative to the
            class-independent variation (about unit power per feature), a float or
            {modality: float}; smaller makes additive noise hurt more.
        nuisance_std: scale of the class-independent per-utterance variation.

    Returns (per item):
        ``{"audio": (T_a, D_a) float32, "visual": (T_v, D_v), "text": (T_l, D_l),
        "label": int64 scalar tensor, "id": str}`` (modality names follow ``dims``).

    Raises:
        ValueError: unknown split, sizes or lengths out of range.

    Example:
        >>> ds = SyntheticMER("val", size=8, dims={"audio": 4, "text": 6},
        ...                   max_len={"audio": 9, "text": 5})
        >>> item = ds[3]
        >>> item["audio"].shape[1], item["text"].shape[1], item["label"].item(), item["id"]
        (4, 6, 3, 'val_00003')
        >>> torch.equal(ds[3]["text"], SyntheticMER("val", size=8, dims={"audio": 4, "text": 6},
        ...                                         max_len={"audio": 9, "text": 5})[3]["text"])
        True
    """

    def __init__(
        self,
        split: str = "train",
        *,
        size: int | None = None,
        seed: int = 0,
        dims: Mapping[str, int] | None = None,
        max_len: Mapping[str, int] | None = None,
        min_len: Mapping[str, int] | None = None,
        num_classes: int = 4,
        shared_dim: int = 4,
        specific_dim: int = 8,
        class_sep: float = 0.4,
        specific_sep: float | Mapping[str, float] | None = None,
        emotion_scale: float | Mapping[str, float] = 0.4,
        nuisance_std: float = 0.5,
    ) -> None:
        who = "SyntheticMER"
        if split not in _SPLITS:
            raise ValueError(f"{who}: expected split in {sorted(_SPLITS)}, got {split!r}.")
        if size is None:
            size = _DEFAULT_SIZES[split]
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"{who}: expected size as an int >= 1, got {size!r}.")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"{who}: expected seed as an int, got {type(seed).__name__}.")
        for name, v in (
            ("num_classes", num_classes),
            ("shared_dim", shared_dim),
            ("specific_dim", specific_dim),
        ):
            if (
                isinstance(v, bool)
                or not isinstance(v, int)
                or v < (2 if name == "num_classes" else 1)
            ):
                raise ValueError(f"{who}: expected {name} as a positive int, got {v!r}.")
        for name, f in (("class_sep", class_sep), ("nuisance_std", nuisance_std)):
            if not (isinstance(f, (int, float)) and math.isfinite(f) and f >= 0):
                raise ValueError(f"{who}: expected {name} as a float >= 0, got {f!r}.")
        self.dims = _check_int_map(dims or _DEFAULT_DIMS, who=who, name="dims", lo=1)
        self.max_len = _check_int_map(
            max_len or {m: _DEFAULT_MAX_LEN.get(m, 50) for m in self.dims},
            who=who,
            name="max_len",
            lo=1,
        )
        if set(self.max_len) != set(self.dims):
            raise ValueError(
                f"{who}: expected max_len for the modalities of dims {sorted(self.dims)}, got "
                f"{sorted(self.max_len)}."
            )
        default_min = {m: max(1, round(n / 3)) for m, n in self.max_len.items()}
        self.min_len = _check_int_map(min_len or default_min, who=who, name="min_len", lo=1)
        for m in self.dims:
            if m not in self.min_len or self.min_len[m] > self.max_len[m]:
                raise ValueError(
                    f"{who}: expected 1 <= min_len[{m!r}] <= max_len[{m!r}] = {self.max_len[m]}, "
                    f"got {self.min_len.get(m)!r}."
                )
        self.split = split
        self.size = size
        self.seed = seed
        self.num_classes = num_classes
        self.shared_dim = shared_dim
        self.specific_dim = specific_dim
        self.class_sep = float(class_sep)
        if specific_sep is None:
            specific_sep = {m: class_sep * _SPECIFIC_SEP_FACTOR.get(m, 1.0) for m in self.dims}
        self.specific_sep = self._per_modality(specific_sep, who, "specific_sep")
        self.emotion_scale = self._per_modality(emotion_scale, who, "emotion_scale")
        self.nuisance_std = float(nuisance_std)
        self.classes: tuple[str, ...] = (
            _IEMOCAP_CLASSES
            if num_classes == 4
            else tuple(f"class_{i}" for i in range(num_classes))
        )
        self._make_parameters()

    def _per_modality(
        self, value: float | Mapping[str, float], who: str, name: str
    ) -> dict[str, float]:
        if not isinstance(value, Mapping):
            value = {m: value for m in self.dims}
        out = {}
        for m in self.dims:
            f = value.get(m)
            if not (isinstance(f, (int, float)) and math.isfinite(f) and f >= 0):
                raise ValueError(f"{who}: expected {name}[{m!r}] as a float >= 0, got {f!r}.")
            out[m] = float(f)
        return out

    # The latent sizes of the per-utterance nuisance and the per-frame variation.
    _NUISANCE_DIM = 8
    _FRAME_DIM = 8
    _WHITE_STD = 0.5

    def _make_parameters(self) -> None:
        g = make_generator(derive_seed(self.seed, -1))
        c, ks, km = self.num_classes, self.shared_dim, self.specific_dim
        self._mu_shared = torch.randn(c, ks, generator=g) * self.class_sep
        self._mu_spec: dict[str, Tensor] = {}
        self._emo_dirs: dict[str, Tensor] = {}
        self._mix: dict[str, Tensor] = {}
        kn = self._NUISANCE_DIM + self._FRAME_DIM
        for m, d in self.dims.items():
            self._mu_spec[m] = torch.randn(c, km, generator=g) * self.specific_sep[m]
            # Emotion latents along unit-norm (orthonormal when d allows) feature directions:
            # a linear read-out then gains nothing from the feature size, so additive noise at a
            # given SNR costs about as much accuracy in 1024-d text as in 130-d audio.
            raw = torch.randn(d, ks + km, generator=g)
            if d >= ks + km:
                dirs = torch.linalg.qr(raw).Q.T
            else:
                dirs = (raw / raw.norm(dim=0, keepdim=True)).T
            self._emo_dirs[m] = dirs.contiguous()
            # Nuisance and frame variation spread densely: about unit power per feature.
            self._mix[m] = torch.randn(kn, d, generator=g) / math.sqrt(kn)

    @property
    def modalities(self) -> tuple[str, ...]:
        """The modality names, in item order."""
        return tuple(self.dims)

    def __len__(self) -> int:
        return self.size

    def label_of(self, index: int) -> int:
        """Return the class of item ``index`` without generating it (classes are balanced)."""
        return index % self.num_classes

    def __getitem__(self, index: int) -> Sample:
        if isinstance(index, Tensor) and index.numel() == 1:
            index = int(index.item())
        if isinstance(index, bool) or not isinstance(index, int):
            raise TypeError(f"SyntheticMER: expected an int index, got {type(index).__name__}.")
        if not -self.size <= index < self.size:
            raise IndexError(f"SyntheticMER: index {index} out of range for {self.size} items.")
        index %= self.size
        g = make_generator(derive_seed(self.seed, _SPLITS[self.split], index))
        y = self.label_of(index)
        shared = self._mu_shared[y] + torch.randn(self.shared_dim, generator=g)
        item: dict[str, Any] = {}
        for m in self.dims:
            item[m] = self._frames(m, y, shared, g)
        item["label"] = torch.tensor(y, dtype=torch.int64)
        item["id"] = f"{self.split}_{index:05d}"
        return item

    def _frames(self, m: str, y: int, shared: Tensor, g: torch.Generator) -> Tensor:
        lo, hi = self.min_len[m], self.max_len[m]
        t = int(torch.randint(lo, hi + 1, (1,), generator=g).item())
        specific = self._mu_spec[m][y] + torch.randn(self.specific_dim, generator=g)
        nuisance = torch.randn(self._NUISANCE_DIM, generator=g) * self.nuisance_std
        # Slow envelope in [0.5, 1.5]: emotion shows more in some frames than in others.
        phase, speed = torch.rand(2, generator=g).unbind()
        steps = torch.arange(t, dtype=torch.float32)
        env = 1.0 + 0.5 * torch.sin(2 * math.pi * (phase + steps * (0.02 + 0.08 * speed)))
        emotion = torch.cat([shared, specific]) @ self._emo_dirs[m]
        frame_var = torch.randn(t, self._FRAME_DIM, generator=g)
        other = torch.cat([nuisance.expand(t, -1), frame_var], dim=1)
        x = (self.emotion_scale[m] * env[:, None]) * emotion[None, :] + other @ self._mix[m]
        x = x + self._WHITE_STD * torch.randn(x.shape, generator=g)
        return x.to(torch.float32)

    def __repr__(self) -> str:
        return (
            f"SyntheticMER(split={self.split!r}, size={self.size}, seed={self.seed}, "
            f"dims={self.dims}, num_classes={self.num_classes})"
        )
