"""Group "frames": raw video clips, 8 clips x 16 frames x 3 x 112 x 112, float in [0, 1].

One sample = one clip. Parameters are drawn per clip and held over its frames (temporally
consistent), except noise, which is fresh on every frame: Gaussian noise sigma U(0.05, 0.2);
Gaussian blur sigma U(0.5, 2); one occluding box of 10 % of the frame; brightness shift up to
+-0.2; JPEG quality U(10, 90). albumentations rows run on uint8 (H, W, C) numpy clips prepared
before timing (the float <-> uint8 conversion, ~8 ms per batch, is not included) on one core.
Last, a OneOf of the first four ops against its reference, each of them on its own quarter of the
clips (what the chosen children cost; the gap is the container's overhead).

Then video as decoded: the same clips as uint8, (B, T, C, H, W) views of the albumentations rows'
own (B, T, H, W, C) arrays (``torchvision.io``'s THWC layout), through mmnoise's uint8 path
against albumentations' uint8 path at the same shapes and parameter ranges, and the MER2024
pyramid blur (rate 2 or 4 per clip) against ``cv2.pyrDown`` / ``cv2.pyrUp`` per frame (the
organisers' own function: the same uint8 output, bit for bit). mmnoise runs that pyramid, and
uint8 brightness (``cv2.add``, saturating), through OpenCV's own functions on the CPU when OpenCV
is installed (as it is wherever albumentations is; same bits as its torch paths); the torch
pyramid has a row of its own.

Threads: OpenCV (under albumentations too) gets the torch thread count of the run
(``cv2.setNumThreads(torch.get_num_threads())``), so every row has the same thread budget.
mmnoise's OpenCV pyramid spends that budget on frames instead: ``torch.get_num_threads()``
threads each run whole frames, with OpenCV's own pool at one thread for the call (restored
after); the opencv row is the organisers' loop as written, OpenCV's pool splitting each frame.

Same semantics (``=``) on the uint8 rows means the same per-clip parameter distribution, shapes
and threads: the occlusion rows draw square boxes of 10 % (35 x 35 px at 112 x 112, as
albumentations' 0.316 x 0.316 holes and kornia's ``ratio=(1, 1)``); brightness shifts by
U(-0.2, 0.2) x 255 per clip, saturated. ``~`` rows differ as their notes say.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from benchmarks import refs
from benchmarks.harness import Case, Thunk
from benchmarks.inputs import Inputs, mmnoise_class, nbytes, need

KEY = "video"
#: the end of every uint8 row's op name (the benchmark's uint8 target finds its rows by it)
UINT8 = " (uint8 clips)"


def _data(inp: Inputs) -> dict[str, Any]:
    if "clips" not in inp.cache:
        g = torch.Generator().manual_seed(3)
        b, t, c, h, w = inp.shapes.clips
        # smooth images with a little texture, slowly changing over time
        base = torch.nn.functional.interpolate(
            torch.rand(b, c, 8, 8, generator=g), size=(h, w), mode="bilinear", align_corners=False
        )
        drift = torch.linspace(0, 0.1, t)[None, :, None, None, None]
        x = (base[:, None] + drift + 0.05 * torch.rand(b, t, c, h, w, generator=g)).clamp(0, 1)
        level = (1.0 - torch.rand(b, generator=g)).to(inp.device)
        u8 = (x * 255).round().to(torch.uint8).permute(0, 1, 3, 4, 2).contiguous()
        x8 = u8.permute(0, 1, 4, 2, 3).to(inp.device)  # (B, T, C, H, W) view of THWC memory
        inp.cache["clips"] = {"x": x.to(inp.device), "level": level, "u8": u8.numpy(), "x8": x8}
    clips: dict[str, Any] = inp.cache["clips"]
    return clips


def cases(inp: Inputs) -> list[Case]:
    """Every row of the frames group."""
    d = _data(inp)
    x: Tensor = d["x"]
    lv: Tensor = d["level"]
    b, t, c, h, w = x.shape
    size = 2 * nbytes(x)
    size_u8 = 2 * int(d["u8"].nbytes)
    sample = {KEY: x}
    sigma_noise = 0.05 + 0.15 * lv
    sigma_blur = 0.5 + 1.5 * lv
    ksize = 2 * int(np.ceil(3 * 2.0)) + 1  # covers the largest sigma

    def mm(name: str, level: Tensor | float, **kw: Any) -> Any:
        def build() -> Thunk:
            tr = mmnoise_class("frames", name)(KEY, **kw)
            g = inp.generator()
            return lambda: tr(sample, level=level, generator=g)

        return build

    def with_g(fn: Any) -> Any:
        def build() -> Thunk:
            g = inp.generator()
            return lambda: fn(g)

        return build

    def kornia_noise_per_frame() -> Thunk:
        K = need("kornia.augmentation", "kornia")
        aug = inp.on_device(K.RandomGaussianNoise(mean=0.0, std=0.125, p=1.0))
        return lambda: aug(x.reshape(b * t, c, h, w)).clamp(0, 1).reshape(x.shape)

    def kornia_video(op: Any) -> Any:
        def build() -> Thunk:
            K = need("kornia.augmentation", "kornia")
            seq = inp.on_device(K.VideoSequential(op(K), data_format="BTCHW", same_on_frame=True))
            return lambda: seq(x)

        return build

    def kornia_blur() -> Thunk:
        KF = need("kornia.filters", "kornia")
        sig = sigma_blur.repeat_interleave(t)[:, None].expand(-1, 2)
        return lambda: KF.gaussian_blur2d(x.reshape(b * t, c, h, w), ksize, sig).reshape(x.shape)

    def kornia_brightness() -> Thunk:
        KE = need("kornia.enhance", "kornia")
        delta = (0.4 * lv - 0.2).repeat_interleave(t)
        return lambda: KE.adjust_brightness(x.reshape(b * t, c, h, w), delta).reshape(x.shape)

    def kornia_jpeg() -> Thunk:
        KE = need("kornia.enhance", "kornia")
        q = (90.0 - 80.0 * lv).repeat_interleave(t)
        return lambda: KE.jpeg_codec_differentiable(x.reshape(b * t, c, h, w), q).reshape(x.shape)

    def same_threads(cv2: Any) -> None:
        cv2.setNumThreads(torch.get_num_threads())  # the torch rows' thread budget

    def alb(make: Any, per_frame: bool = False) -> Any:
        def build() -> Thunk:
            inp.cpu_only("albumentations")
            A = need("albumentations")
            same_threads(need("cv2", "opencv"))
            aug = A.Compose([make(A)])
            clips = d["u8"]
            if per_frame:
                return lambda: [[aug(image=f)["image"] for f in clip] for clip in clips]
            return lambda: [aug(images=clip)["images"] for clip in clips]

        return build

    def children() -> list[Any]:
        return [
            mmnoise_class("frames", "GaussianNoise")(KEY, std=(0.05, 0.2)),
            mmnoise_class("frames", "GaussianBlur")(KEY, sigma_px=(0.5, 2.0)),
            mmnoise_class("frames", "Occlusion")(KEY, fraction=(0.1, 0.1)),
            mmnoise_class("frames", "Brightness")(KEY, delta=(0.0, 0.2)),
        ]

    def one_of() -> Thunk:
        tr = mmnoise_class("compose", "OneOf")(children())
        g = inp.generator()
        return lambda: tr(sample, level=lv, generator=g)

    def each_on_its_share() -> Thunk:
        # what the chosen children cost: each child on its own quarter of the clips
        shares = [
            (t, {KEY: xs}, ls)
            for t, xs, ls in zip(children(), x.tensor_split(4), lv.tensor_split(4), strict=True)
            if len(xs)
        ]
        g = inp.generator()
        return lambda: [t(s, level=ls, generator=g) for t, s, ls in shares]

    noise, blur, occ, bright, jpeg = (
        "gaussian noise (fresh per frame)",
        "gaussian blur (per-clip sigma)",
        "occlusion box 10%",
        "brightness +-0.2",
        "JPEG q 10-90",
    )
    one = "OneOf of 4 ops (noise, blur, occlusion, brightness)"
    x8: Tensor = d["x8"]
    sample8 = {KEY: x8}

    def mm8(name: str, level: Tensor | float, **kw: Any) -> Any:
        def build() -> Thunk:
            tr = mmnoise_class("frames", name)(KEY, **kw)
            g = inp.generator()
            return lambda: tr(sample8, level=level, generator=g)

        return build

    def cv2_pyramid() -> Thunk:
        inp.cpu_only("opencv")
        cv2 = need("cv2", "opencv")
        same_threads(cv2)
        clips = d["u8"]
        rates = [1 + int(v >= 0.5) for v in lv.tolist()]  # 1 or 2 rounds, as level (B,) gives

        def blur(f: Any, k: int) -> Any:
            for _ in range(k):
                f = cv2.pyrDown(f)
            for _ in range(k):
                f = cv2.pyrUp(f)
            return f

        return lambda: [[blur(f, k) for f in clip] for clip, k in zip(clips, rates, strict=True)]

    def mm8_torch_pyramid() -> Thunk:
        # mmnoise's pyramid as it runs where OpenCV is not installed
        from mmnoise.functional import frames as FF

        tr = mmnoise_class("frames", "PyramidBlur")(KEY)
        g = inp.generator()

        def call() -> Any:
            found = FF._opencv
            setattr(FF, "_opencv", lambda: None)  # noqa: B010 (a stand-in for the cached lookup)
            try:
                return tr(sample8, level=lv_pyr, generator=g)
            finally:
                setattr(FF, "_opencv", found)  # noqa: B010

        return call

    def ref8(fn: Any) -> Any:
        # the float reference on x8 / 255, rounded back: what a user without a uint8 path writes
        def build() -> Thunk:
            g = inp.generator()
            return lambda: (fn(x8.float() / 255, g) * 255).round_().to(torch.uint8)

        return build

    u8 = UINT8
    pyr = "MER2024 pyramid blur, rate 2-4 per clip" + UINT8
    pyr_torch = "MER2024 pyramid blur, torch fallback" + UINT8
    lv_pyr = 0.5 + 0.5 * lv  # rate 2 (level < 0.75) or 4: one or two rounds
    size8 = 2 * nbytes(x8)
    return [
        Case(noise, "mmnoise", "GaussianNoise(std=(0.05, 0.2)), level=(B,)", mm("GaussianNoise", lv, std=(0.05, 0.2)), b, size, kind="mmnoise"),
        Case(noise, "torch ref", "randn, scale per clip, clamp", with_g(lambda g: refs.frame_noise(x, sigma_noise, g)), b, size, kind="ref"),
        Case(noise, "kornia", "RandomGaussianNoise on (B*T, C, H, W)", kornia_noise_per_frame, b, size, sem="~", note="one std for all"),
        Case(noise, "kornia", "VideoSequential(RandomGaussianNoise)", kornia_video(lambda K: K.RandomGaussianNoise(std=0.125, p=1.0)), b, size, sem="!=", note="same noise on every frame"),
        Case(noise, "albumentations", "GaussNoise per frame (uint8)", alb(lambda A: A.GaussNoise(std_range=(0.05, 0.2), p=1.0), per_frame=True), b, size_u8, sem="~", note="uint8"),
        Case(blur, "mmnoise", "GaussianBlur(sigma_px=(0.5, 2)), level=(B,)", mm("GaussianBlur", lv, sigma_px=(0.5, 2.0)), b, size, kind="mmnoise"),
        Case(blur, "torch ref", f"separable depthwise conv, k={ksize}", lambda: lambda: refs.gaussian_blur(x, sigma_blur, ksize), b, size, kind="ref"),
        Case(blur, "kornia", f"filters.gaussian_blur2d, sigma per frame, k={ksize}", kornia_blur, b, size),
        Case(blur, "albumentations", "GaussianBlur per clip (uint8)", alb(lambda A: A.GaussianBlur(sigma_limit=(0.5, 2.0), p=1.0)), b, size_u8, sem="~", note="uint8"),
        Case(occ, "mmnoise", "Occlusion(fraction=(0.1, 0.1), aspect=(1, 1))", mm("Occlusion", 1.0, fraction=(0.1, 0.1), aspect=(1.0, 1.0)), b, size, kind="mmnoise"),
        Case(occ, "torch ref", "one box per clip by broadcast compares", with_g(lambda g: refs.erase_box(x, 0.1, g)), b, size, kind="ref"),
        Case(occ, "kornia", "VideoSequential(RandomErasing(scale=(0.1, 0.1)))", kornia_video(lambda K: K.RandomErasing(scale=(0.1, 0.1), ratio=(1.0, 1.0), p=1.0)), b, size),
        Case(occ, "albumentations", "CoarseDropout per clip (uint8)", alb(lambda A: A.CoarseDropout(num_holes_range=(1, 1), hole_height_range=(0.316, 0.316), hole_width_range=(0.316, 0.316), p=1.0)), b, size_u8, sem="~", note="uint8"),
        Case(bright, "mmnoise", "Brightness(delta=(0, 0.2)), level=(B,)", mm("Brightness", lv, delta=(0.0, 0.2)), b, size, kind="mmnoise"),
        Case(bright, "torch ref", "add per clip, clamp", lambda: lambda: (x + (0.4 * lv - 0.2)[:, None, None, None, None]).clamp(0, 1), b, size, kind="ref"),
        Case(bright, "kornia", "enhance.adjust_brightness per frame", kornia_brightness, b, size),
        Case(bright, "albumentations", "RandomBrightnessContrast per clip (uint8)", alb(lambda A: A.RandomBrightnessContrast(brightness_limit=0.2, contrast_limit=0.0, p=1.0)), b, size_u8, sem="~", note="uint8"),
        Case(jpeg, "mmnoise", "JPEG(quality=(90, 10)), level=(B,)", mm("JPEG", lv, quality=(90.0, 10.0)), b, size, kind="mmnoise"),
        Case(jpeg, "kornia", "enhance.jpeg_codec_differentiable per frame", kornia_jpeg, b, size),
        Case(jpeg, "albumentations", "ImageCompression per clip (uint8)", alb(lambda A: A.ImageCompression(quality_range=(10, 90), p=1.0)), b, size_u8, sem="~", note="uint8, libjpeg"),
        Case(one, "mmnoise", "OneOf([noise, blur, occlusion, brightness]), level=(B,)", one_of, b, size, kind="mmnoise"),
        Case(one, "torch ref", "each child on its own quarter of the clips (the chosen children's cost)", each_on_its_share, b, size, kind="ref"),
        Case(noise + u8, "mmnoise", "GaussianNoise(std=(0.05, 0.2)) on uint8, level=(B,)", mm8("GaussianNoise", lv, std=(0.05, 0.2)), b, size8, kind="mmnoise"),
        Case(noise + u8, "torch ref", "float ref on x / 255, rounded back", ref8(lambda x, g: refs.frame_noise(x, sigma_noise, g)), b, size8, kind="ref"),
        Case(noise + u8, "albumentations", "GaussNoise per frame", alb(lambda A: A.GaussNoise(std_range=(0.05, 0.2), p=1.0), per_frame=True), b, size_u8, sem="~", note="std drawn per frame, not per clip (per clip, albumentations repeats one noise field on every frame)"),
        Case(blur + u8, "mmnoise", "GaussianBlur(sigma_px=(0.5, 2)) on uint8, level=(B,)", mm8("GaussianBlur", lv, sigma_px=(0.5, 2.0)), b, size8, kind="mmnoise"),
        Case(blur + u8, "torch ref", "float ref on x / 255, rounded back", ref8(lambda x, g: refs.gaussian_blur(x, sigma_blur, ksize)), b, size8, kind="ref"),
        Case(blur + u8, "albumentations", "GaussianBlur per clip", alb(lambda A: A.GaussianBlur(sigma_limit=(0.5, 2.0), p=1.0)), b, size_u8, sem="~", note="OpenCV's fixed-point uint8 taps, kernel side from each sigma (mmnoise: float taps, one side for the batch, rounded once)"),
        Case(occ + u8, "mmnoise", "Occlusion(fraction=(0.1, 0.1), aspect=(1, 1)) on uint8", mm8("Occlusion", 1.0, fraction=(0.1, 0.1), aspect=(1.0, 1.0)), b, size8, kind="mmnoise"),
        Case(occ + u8, "torch ref", "one box per clip by broadcast compares", with_g(lambda g: refs.erase_box(x8, 0.1, g)), b, size8, kind="ref"),
        Case(occ + u8, "albumentations", "CoarseDropout per clip", alb(lambda A: A.CoarseDropout(num_holes_range=(1, 1), hole_height_range=(0.316, 0.316), hole_width_range=(0.316, 0.316), p=1.0)), b, size_u8),
        Case(bright + u8, "mmnoise", "Brightness(delta=(0, 0.2)) on uint8, level=(B,)", mm8("Brightness", lv, delta=(0.0, 0.2)), b, size8, kind="mmnoise", note="cv2.add per clip inside (OpenCV installed)"),
        Case(bright + u8, "torch ref", "float ref on x / 255, rounded back", ref8(lambda x, g: (x + (0.4 * lv - 0.2)[:, None, None, None, None]).clamp(0, 1)), b, size8, kind="ref"),
        Case(bright + u8, "albumentations", "RandomBrightnessContrast per clip", alb(lambda A: A.RandomBrightnessContrast(brightness_limit=0.2, contrast_limit=0.0, p=1.0)), b, size_u8),
        Case(jpeg + u8, "mmnoise", "JPEG(quality=(90, 10)) on uint8, level=(B,)", mm8("JPEG", lv, quality=(90.0, 10.0)), b, size8, kind="mmnoise"),
        Case(jpeg + u8, "albumentations", "ImageCompression per clip", alb(lambda A: A.ImageCompression(quality_range=(10, 90), p=1.0)), b, size_u8, sem="~", note="real libjpeg (integer DCT, true rounding); mmnoise: kornia's differentiable emulation (float DCT, soft rounding), not the same output"),
        Case(pyr, "mmnoise", "PyramidBlur(rate=(1, 4)) on uint8, level 0.5-1", mm8("PyramidBlur", lv_pyr), b, size8, kind="mmnoise", note="cv2.pyrDown / pyrUp per frame inside (OpenCV installed), frames on the run's torch threads, OpenCV's pool at 1 thread for the call"),
        Case(pyr, "opencv", "cv2.pyrDown / cv2.pyrUp per frame (MER2024 func_blur)", cv2_pyramid, b, size_u8, note="mmnoise calls these same functions on the CPU; here OpenCV's pool has the run's threads, one frame at a time"),
        Case(pyr_torch, "mmnoise", "PyramidBlur(rate=(1, 4)) on uint8, OpenCV not installed", mm8_torch_pyramid, b, size8, kind="mmnoise", note="torch fallback: banded matrix products (compare the opencv row above)"),
    ]  # fmt: skip
