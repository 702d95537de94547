"""Generator and discriminator: shapes, domains, gradients, the split API, circular padding."""

from __future__ import annotations

import ast
import copy
import io
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import glowgan.models
from glowgan.models import Discriminator, Generator
from glowgan.models.discriminator import minibatch_stddev
from glowgan.models.generator import LOG2_HDR_BOUND
from glowgan.models.layers import (
    EqualConv2d,
    ModulatedConv2d,
    ToRGB,
    downsample2x_box,
    level_resolutions,
    upsample2x_bilinear,
)

TINY = dict(z_dim=8, w_dim=8, channel_base=64, channel_max=8)


def tiny_generator(seed: int = 0, **kwargs) -> Generator:
    torch.manual_seed(seed)
    return Generator(**{**TINY, "resolution": (16, 32), **kwargs})


def tiny_discriminator(seed: int = 0, **kwargs) -> Discriminator:
    torch.manual_seed(seed)
    return Discriminator(**{"channel_base": 64, "channel_max": 8, "resolution": (16, 32), **kwargs})


def perturb_(module: torch.nn.Module, seed: int = 1) -> None:
    """Give zero-initialised parameters (biases, noise strengths) non-zero values."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g))


def z_batch(n: int, seed: int = 0, z_dim: int = 8) -> torch.Tensor:
    return torch.randn(n, z_dim, generator=torch.Generator().manual_seed(seed))


def test_level_resolutions_and_invalid_resolution() -> None:
    assert level_resolutions((32, 64)) == [(4, 8), (8, 16), (16, 32), (32, 64)]
    assert level_resolutions((16, 16)) == [(4, 4), (8, 8), (16, 16)]
    with pytest.raises(ValueError, match="powers of two"):
        Generator(**TINY, resolution=(24, 48))
    with pytest.raises(ValueError, match="powers of two"):
        Discriminator(resolution=(2, 4))


@pytest.mark.parametrize("resolution", [(16, 16), (16, 32), (32, 16), (8, 32), (4, 8)])
@pytest.mark.parametrize("output", ["hdr", "ldr"])
def test_generator_shapes(resolution: tuple[int, int], output: str) -> None:
    G = tiny_generator(resolution=resolution, output=output)
    img = G(z_batch(3))
    assert img.shape == (3, 3, *resolution)
    assert G.img_resolution == resolution
    assert G.num_ws == 2 * len(level_resolutions(resolution))
    assert G.mapping(z_batch(3)).shape == (3, G.num_ws, 8)


@pytest.mark.parametrize("hdr_activation", ["exp2", "relu"])
def test_hdr_output_nonnegative_and_finite(hdr_activation: str) -> None:
    G = tiny_generator(hdr_activation=hdr_activation)
    perturb_(G)
    hdr = G(z_batch(4))
    assert torch.isfinite(hdr).all()
    assert (hdr >= 0).all()


def test_exp2_output_is_softly_bounded() -> None:
    G = tiny_generator()
    last_rgb = G.synthesis.torgbs[-1]
    with torch.no_grad():
        last_rgb.bias.fill_(1e4)
    hdr = G(z_batch(2))
    assert torch.isfinite(hdr).all() and hdr.max() <= 2**LOG2_HDR_BOUND
    with torch.no_grad():
        last_rgb.bias.fill_(-1e4)
    hdr = G(z_batch(2))
    assert hdr.min() >= 2**-LOG2_HDR_BOUND
    # a sun 17 stops above mid-grey needs a moderate pre-activation (~22), not ~10^5
    with torch.no_grad():
        last_rgb.bias.fill_(22.0)
    hdr = G(z_batch(2), noise_mode="none")
    assert hdr.log2().median() > math.log2(0.18) + 17.0
    assert hdr.max() < 2**20


def test_ldr_output_in_unit_range() -> None:
    G = tiny_generator(output="ldr")
    perturb_(G)
    ldr = G(z_batch(4))
    assert ldr.min() >= 0 and ldr.max() <= 1
    assert ldr.std() > 0.01


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fresh_generator_sits_near_mid_grey(seed: int) -> None:
    """At init the HDR output is centred near mid-grey with a spread of a couple of stops."""
    torch.manual_seed(seed)
    G = Generator(z_dim=16, w_dim=16, resolution=(32, 64), channel_base=256, channel_max=16)
    with torch.no_grad():
        log2_hdr = G(torch.randn(16, 16)).log2()
    assert -4.0 < log2_hdr.median() < 0.0  # 0.06 .. 1.0, around 0.18
    assert 0.7 < log2_hdr.std() < 4.0  # stops


def test_relu_activation_is_the_official_one() -> None:
    G = tiny_generator(hdr_activation="relu")
    ws = G.mapping(z_batch(2))
    hdr = G.synthesis(ws, noise_mode="const")
    assert (hdr == 0).float().mean() > 0.1  # the dead zone the exp2 default avoids


@pytest.mark.parametrize("circular", [False, True])
def test_gradients_reach_every_generator_parameter(circular: bool) -> None:
    G = tiny_generator(circular=circular)
    hdr = G(z_batch(3), noise_mode="random")
    hdr.log().mean().backward()
    for name, p in G.named_parameters():
        assert p.grad is not None, f"{name} got no gradient"
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, f"{name} got an all-zero gradient"


def test_gradients_reach_every_discriminator_parameter() -> None:
    D = tiny_discriminator()
    D(torch.rand(5, 3, 16, 32)).sum().backward()
    for name, p in D.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_mapping_then_synthesis_equals_forward() -> None:
    G = tiny_generator()
    perturb_(G)
    z = z_batch(3)
    full = G(z, psi=0.7, noise_mode="const")
    split = G.synthesis(G.mapping(z, psi=0.7), noise_mode="const")
    torch.testing.assert_close(full, split, rtol=0, atol=0)


def test_truncation_psi_zero_gives_w_avg() -> None:
    G = tiny_generator()
    with torch.no_grad():
        G.mapping.w_avg.copy_(torch.randn(8))
    ws = G.mapping(z_batch(4), psi=0.0)
    torch.testing.assert_close(ws, G.mapping.w_avg.expand(4, G.num_ws, 8))
    assert not torch.allclose(G.mapping(z_batch(4), psi=0.5), ws)


def test_w_avg_moves_only_when_asked() -> None:
    G = tiny_generator(w_avg_beta=0.9)
    z = z_batch(6)
    before = G.mapping.w_avg.clone()
    G(z)
    torch.testing.assert_close(G.mapping.w_avg, before, rtol=0, atol=0)
    w = G.mapping(z)[:, 0]
    G(z, update_w_avg=True)
    torch.testing.assert_close(G.mapping.w_avg, 0.9 * before + 0.1 * w.mean(0).detach())


def test_w_plus_with_identical_ws_equals_w() -> None:
    G = tiny_generator()
    perturb_(G)
    ws = G.mapping(z_batch(2))
    w_plus = ws[:, :1].repeat(1, G.num_ws, 1).clone()  # a real W+ tensor, not a broadcast view
    torch.testing.assert_close(
        G.synthesis(w_plus, noise_mode="const"), G.synthesis(ws, noise_mode="const")
    )
    w_plus[:, -1] += 1.0  # every layer reads its own w: changing the last toRGB's changes the image
    assert not torch.allclose(
        G.synthesis(w_plus, noise_mode="const"), G.synthesis(ws, noise_mode="const")
    )


def test_synthesis_rejects_wrong_ws_shape() -> None:
    G = tiny_generator()
    with pytest.raises(ValueError, match="G.mapping"):
        G.synthesis(torch.zeros(2, G.num_ws + 1, 8))
    with pytest.raises(ValueError, match="noise_mode"):
        G(z_batch(1), noise_mode="fixed")


def test_noise_modes() -> None:
    G = tiny_generator()
    perturb_(G)  # non-zero noise strengths
    ws = G.mapping(z_batch(2))
    const = G.synthesis(ws, noise_mode="const")
    torch.testing.assert_close(G.synthesis(ws, noise_mode="const"), const, rtol=0, atol=0)
    assert not torch.allclose(G.synthesis(ws, noise_mode="none"), const)
    a = G.synthesis(ws, rng=torch.Generator().manual_seed(5))
    b = G.synthesis(ws, rng=torch.Generator().manual_seed(5))
    c = G.synthesis(ws, rng=torch.Generator().manual_seed(6))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.allclose(a, c)


def seam_ratio(hdr: torch.Tensor, cell: int) -> float:
    """Mean |log2 step| across the wrap seam over that across interior cell boundaries.

    Columns ``cell * k`` are where the seam sits relative to every upsampling level, so for a
    seamless generator both are samples of the same distribution.
    """
    log2_hdr = hdr.log2()
    interior = (log2_hdr[..., cell::cell] - log2_hdr[..., cell - 1 : -1 : cell]).abs().mean()
    seam = (log2_hdr[..., 0] - log2_hdr[..., -1]).abs().mean()
    return (seam / interior).item()


@pytest.mark.parametrize("circular", [True, False])
def test_circular_generator_is_seamless(circular: bool) -> None:
    """circular=True: the wrap seam is like any interior column step; False: much larger."""
    ratios = []
    for seed in range(4):
        G = tiny_generator(seed=seed, circular=circular)
        with torch.no_grad():
            hdr = G(z_batch(32, seed=seed), noise_mode="none")
        ratios.append(seam_ratio(hdr, cell=4))  # 16x32 from a 4x8 base: cells of 4 columns
    mean_ratio = sum(ratios) / len(ratios)
    if circular:
        assert mean_ratio < 1.3, ratios
    else:
        assert mean_ratio > 1.3, ratios


def roll_x(x: torch.Tensor, k: int) -> torch.Tensor:
    return torch.roll(x, k, dims=-1)


@pytest.mark.parametrize("circular", [True, False])
def test_layers_are_horizontally_shift_equivariant_iff_circular(circular: bool) -> None:
    """Rolling a circular layer's input by k columns rolls its output by k (2k, k/2 resampled).

    With zero padding the columns near the border differ, so every check must fail.
    """
    torch.manual_seed(0)
    x = torch.randn(2, 4, 8, 16)
    w = torch.randn(2, 8)
    k = 6
    pairs = []  # (layer(roll(x)), roll(layer(x)))
    for up in (False, True):
        conv = ModulatedConv2d(4, 5, 8, (16, 32) if up else (8, 16), up=up, circular=circular)
        perturb_(conv)
        # const noise is fixed in space and the test rolls the content only, so no noise here
        y, _ = conv(x, None, w, "none", None)
        y_rolled, _ = conv(roll_x(x, k), None, w, "none", None)
        pairs.append((y_rolled, roll_x(y, 2 * k if up else k)))
    pairs.append(
        (
            upsample2x_bilinear(roll_x(x, k), circular),
            roll_x(upsample2x_bilinear(x, circular), 2 * k),
        )
    )
    for down in (False, True):
        conv = EqualConv2d(4, 5, 3, down=down, circular=circular)
        pairs.append((conv(roll_x(x, k)), roll_x(conv(x), k // 2 if down else k)))
    matches = [torch.allclose(a, b, atol=1e-5) for a, b in pairs]
    if circular:
        assert all(matches), matches
    else:
        assert not any(matches), matches
    # the box filter needs no padding: equivariant under even shifts either way
    torch.testing.assert_close(downsample2x_box(roll_x(x, k)), roll_x(downsample2x_box(x), k // 2))


def test_circular_synthesis_is_shift_equivariant() -> None:
    """Rolling the constant input and the constant noise rolls the whole output (circular G)."""
    G = tiny_generator(circular=True)
    perturb_(G)
    ws = G.mapping(z_batch(2))
    before = G.synthesis(ws, noise_mode="const")
    rolled = copy.deepcopy(G)
    with torch.no_grad():
        rolled.synthesis.const.copy_(roll_x(G.synthesis.const, 1))  # 1 column of the 4x8 base
        for conv in rolled.synthesis.convs:
            factor = conv.resolution[1] // 8
            conv.noise_const.copy_(roll_x(conv.noise_const, factor))
    after = rolled.synthesis(ws, noise_mode="const")
    torch.testing.assert_close(after, roll_x(before, 4), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("batch", [1, 2, 3, 5, 7, 8])
@pytest.mark.parametrize("resolution", [(16, 32), (16, 16), (32, 8), (4, 8)])
def test_discriminator_shapes(batch: int, resolution: tuple[int, int]) -> None:
    D = tiny_discriminator(resolution=resolution, circular=resolution == (16, 32))
    logits = D(torch.rand(batch, 3, *resolution))
    assert logits.shape == (batch, 1)
    assert torch.isfinite(logits).all()


def test_discriminator_rejects_wrong_shape() -> None:
    D = tiny_discriminator()
    with pytest.raises(ValueError, match=r"\[N, 3, 16, 32\]"):
        D(torch.rand(2, 3, 32, 16))


def reference_mbstd_feature(x: torch.Tensor, group_size: int) -> torch.Tensor:
    """Per-sample mbstd value by explicit loops (StyleGAN2 grouping: n % num_groups)."""
    n = x.shape[0]
    num_groups = math.ceil(n / min(group_size, n))
    values = torch.empty(n)
    for g in range(num_groups):
        members = [i for i in range(n) if i % num_groups == g]
        group = x[members]
        std = torch.sqrt(group.var(dim=0, unbiased=False) + 1e-8).mean()
        values[members] = std
    return values


@pytest.mark.parametrize("batch", [1, 4, 6, 7, 8, 12])
def test_minibatch_stddev(batch: int) -> None:
    x = torch.randn(batch, 5, 4, 8) * torch.arange(1, batch + 1).float()[:, None, None, None]
    out = minibatch_stddev(x, 4)
    assert out.shape == (batch, 6, 4, 8)
    torch.testing.assert_close(out[:, :5], x)
    feature = out[:, 5]
    assert (feature == feature[:, :1, :1]).all()  # constant over the map
    expected = reference_mbstd_feature(x, 4)
    torch.testing.assert_close(feature[:, 0, 0], expected, rtol=1e-5, atol=1e-4)


def test_minibatch_stddev_is_finite_in_float16_for_a_group_without_variance() -> None:
    # fp16 autocast on older GPUs: in float16 the eps 1e-8 is 0 and d sqrt(var)/d var at var = 0 is infinite
    x = torch.ones(4, 3, 2, 2, dtype=torch.float16, requires_grad=True)  # one group, all samples equal
    out = minibatch_stddev(x, 4)
    assert out.dtype == torch.float16
    out[:, 3].sum().backward()
    assert torch.isfinite(x.grad).all()


def test_minibatch_stddev_matches_stylegan2_reshape_for_divisible_batches() -> None:
    x = torch.randn(8, 3, 2, 2)
    y = x.reshape(4, 2, 3, 2, 2)  # StyleGAN2: [G, N/G, C, H, W]
    std = torch.sqrt(y.var(dim=0, unbiased=False) + 1e-8).mean(dim=(1, 2, 3))  # [N/G]
    torch.testing.assert_close(minibatch_stddev(x, 4)[:, 3, 0, 0], std.repeat(4))


@pytest.mark.parametrize("kind", ["generator", "discriminator"])
def test_state_dict_round_trip(kind: str) -> None:
    make = tiny_generator if kind == "generator" else tiny_discriminator
    a, b = make(seed=0), make(seed=1)
    perturb_(a)
    buffer = io.BytesIO()
    torch.save(a.state_dict(), buffer)
    buffer.seek(0)
    b.load_state_dict(torch.load(buffer, weights_only=True))
    if kind == "generator":
        with torch.no_grad():
            a.mapping.w_avg.normal_()
        buffer = io.BytesIO()
        torch.save(a.state_dict(), buffer)
        buffer.seek(0)
        b.load_state_dict(torch.load(buffer, weights_only=True))
        z = z_batch(3)
        expected = a(z, psi=0.5, noise_mode="const")
        torch.testing.assert_close(b(z, psi=0.5, noise_mode="const"), expected, rtol=0, atol=0)
        torch.testing.assert_close(b.mapping.w_avg, a.mapping.w_avg, rtol=0, atol=0)
    else:
        x = torch.rand(3, 3, 16, 32)
        torch.testing.assert_close(b(x), a(x), rtol=0, atol=0)


def test_deepcopy_is_independent() -> None:
    G = tiny_generator()
    G_ema = copy.deepcopy(G)
    z = z_batch(2)
    expected = G(z, noise_mode="const")
    torch.testing.assert_close(G_ema(z, noise_mode="const"), expected, rtol=0, atol=0)
    with torch.no_grad():
        for p in G_ema.parameters():
            p.mul_(0.5)
    assert not torch.allclose(G_ema(z, noise_mode="const"), G(z, noise_mode="const"))
    G(z, update_w_avg=True)
    assert not torch.equal(G.mapping.w_avg, G_ema.mapping.w_avg)


def test_torgb_is_a_modulated_1x1_convolution() -> None:
    torch.manual_seed(0)
    torgb = ToRGB(4, 8)
    perturb_(torgb)
    x, scale, w = torch.randn(2, 4, 3, 5), torch.rand(2, 4) + 0.5, torch.randn(2, 8)
    styles = torgb.affine(w) * torgb.weight_gain  # [N, C]
    expected = torch.stack(
        [
            F.conv2d(
                (x[n] * scale[n, :, None, None])[None],
                (torgb.weight * styles[n])[:, :, None, None],
                torgb.bias,
            )[0]
            for n in range(2)
        ]
    )
    torch.testing.assert_close(torgb(x, scale, w), expected)


@pytest.mark.parametrize("up", [False, True])
def test_modulated_conv_matches_per_sample_weights(up: bool) -> None:
    """Activation modulation + deferred scale equals StyleGAN2's per-sample weights (Eq. 1-3)."""
    torch.manual_seed(0)
    conv = ModulatedConv2d(4, 6, 8, (10, 12) if up else (5, 6), up=up)
    perturb_(conv)
    x, x_scale, w = torch.randn(2, 4, 5, 6), torch.rand(2, 4) + 0.5, torch.randn(2, 8)
    out, out_scale = conv(x, x_scale, w, "const", None)
    styles = conv.affine(w)
    weight = conv.weight * conv.weight_gain
    for n in range(2):
        xn = (x[n] * x_scale[n, :, None, None])[None]
        if up:  # transposed-conv layout [Cin, Cout, k, k]; 2x2 taps per output pixel
            wn = weight * styles[n][:, None, None, None]
            d = torch.rsqrt(wn.square().sum(dim=(0, 2, 3)) / 4 + 1e-8)
            y = F.conv_transpose2d(xn, wn, stride=2, padding=1)
        else:
            wn = weight * styles[n][None, :, None, None]
            d = torch.rsqrt(wn.square().sum(dim=(1, 2, 3)) + 1e-8)
            y = F.conv2d(xn, wn, padding=1)
        y = y * d[None, :, None, None] + conv.noise_const * conv.noise_strength
        expected = F.leaky_relu(y + conv.bias[None, :, None, None], 0.2) * math.sqrt(2)
        actual = out[n : n + 1] * out_scale[n, :, None, None]
        torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-5)


def test_models_import_nothing_outside_models() -> None:
    """DESIGN: models never import the camera or anything of glowgan outside glowgan.models."""
    package_dir = Path(glowgan.models.__file__).parent
    for source in package_dir.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for name in names:
                if name.startswith("glowgan"):
                    assert name.startswith("glowgan.models"), f"{source.name} imports {name}"


def reference_discriminator(D: Discriminator, ldr: torch.Tensor) -> torch.Tensor:
    """StyleGAN2's residual D written out with explicit gains, using D's parameters."""

    def act(x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(x, 0.2) * math.sqrt(2)

    def conv(layer: EqualConv2d, x: torch.Tensor) -> torch.Tensor:
        fan_in = layer.weight[0].numel()
        if layer.down:
            x = F.avg_pool2d(x, 2)
        return F.conv2d(x, layer.weight / math.sqrt(fan_in), layer.bias, padding=layer.pad)

    def linear(layer: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, layer.weight / math.sqrt(layer.weight.shape[1]), layer.bias)

    x = act(conv(D.from_rgb, ldr * 2 - 1))
    for block in D.blocks:
        residual = act(conv(block.conv1, act(conv(block.conv0, x))))
        x = (conv(block.skip, x) + residual) * math.sqrt(0.5)
    x = act(conv(D.conv, minibatch_stddev(x, 4)))
    return linear(D.out, act(linear(D.fc, x.flatten(1))))


def test_discriminator_matches_stylegan2_formulation() -> None:
    """The deferred lrelu gains and the box filter change nothing but speed."""
    D = tiny_discriminator()
    perturb_(D)
    ldr = torch.rand(5, 3, 16, 32)
    torch.testing.assert_close(D(ldr), reference_discriminator(D, ldr), rtol=1e-4, atol=1e-5)
