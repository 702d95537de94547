"""StyleGAN2-style generator whose output is linear HDR radiance (GlowGAN, Sec. 3.1).

The generator knows nothing of cameras: it returns ``hdr`` (linear, >= 0) or, for the vanilla
LDR baseline, ``ldr`` in [0, 1]. Training renders the HDR output through ``glowgan.camera``.

Architecture after StyleGAN2 (Karras et al. 2020): mapping network (Sec. 2 of StyleGAN, with
lr multiplier 0.01), constant input, modulated/demodulated 3x3 convolutions with noise
(Sec. 2.2), skip generator with a toRGB at every resolution (Sec. 4.1, Fig. 7b).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from glowgan.models.layers import (
    EqualLinear,
    ModulatedConv2d,
    ToRGB,
    channels_for,
    level_resolutions,
    upsample2x_bilinear,
)

NOISE_MODES = ("random", "const", "none")
HDR_ACTIVATIONS = ("exp2", "relu")
OUTPUTS = ("hdr", "ldr")

# Photographic mid-grey (18% reflectance): the exp2 activation is centred here, so a fresh
# generator renders to sensible LDR images under the camera prior from step 0.
MID_GREY = 0.18
# Soft bound of the predicted log2 radiance: |log2 hdr| < 24, i.e. hdr in (2^-24, 2^24) ~
# (6e-8, 1.7e7); wide enough for a sun disk 17 stops above mid-grey, finite in float32.
LOG2_HDR_BOUND = 24.0
# official GlowGAN code: img = 0.25 * relu(toRGB output)
RELU_HDR_SCALE = 0.25


class MappingNetwork(nn.Module):
    """z -> w: normalise z to unit second moment (ProGAN Sec. 4.2), then an lrelu MLP.

    Keeps a running average of w (``w_avg``) for the truncation trick (StyleGAN Sec. 3.1/B):
    ``w' = w_avg + psi (w - w_avg)``. ``w_avg`` moves only when a forward pass is asked to
    (``update_w_avg=True``: every training pass of G), by the batch mean with decay ``w_avg_beta``.
    """

    def __init__(
        self,
        z_dim: int,
        w_dim: int,
        num_ws: int,
        *,
        num_layers: int,
        lr_multiplier: float,
        w_avg_beta: float,
    ) -> None:
        super().__init__()
        dims = [z_dim] + [w_dim] * num_layers
        self.layers = nn.Sequential(
            *(
                EqualLinear(d_in, d_out, lr_multiplier=lr_multiplier, activation="lrelu")
                for d_in, d_out in zip(dims[:-1], dims[1:])
            )
        )
        self.register_buffer("w_avg", torch.zeros(w_dim))
        self.num_ws = num_ws
        self.w_avg_beta = w_avg_beta

    def forward(
        self,
        z: torch.Tensor,  # [N, z_dim]
        psi: float = 1.0,
        update_w_avg: bool = False,
    ) -> torch.Tensor:  # [N, num_ws, w_dim]
        z = z * torch.rsqrt(z.square().mean(dim=1, keepdim=True) + 1e-8)
        w = self.layers(z)  # [N, w_dim]
        if update_w_avg:
            self.track(w)
        if psi != 1.0:
            w = self.w_avg.lerp(w.float(), psi)
        return w[:, None, :].repeat(1, self.num_ws, 1)  # a real tensor, safe to optimise

    @torch.no_grad()
    def track(self, w: torch.Tensor) -> None:
        """Move ``w_avg`` towards the mean of a batch of ``w`` [N, w_dim] (what ``update_w_avg`` does)."""
        # float32 even under autocast (the mapping's linear layers then return bfloat16)
        self.w_avg.copy_(w.detach().float().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))


class SynthesisNetwork(nn.Module):
    """ws [N, num_ws, w_dim] -> image [N, 3, H, W] (StyleGAN2 skip architecture, Fig. 7b).

    Layer order and w indices follow StyleGAN2: the base block has one 3x3 conv (w 0) and a toRGB
    (w 1); every later block has an upsampling conv, a conv and a toRGB, where the upsampling
    conv shares its w with the previous toRGB. ``num_ws = 2 * num_levels``.
    """

    def __init__(
        self,
        w_dim: int,
        resolution: tuple[int, int],
        *,
        channel_base: int,
        channel_max: int,
        output: str,
        hdr_activation: str,
        circular: bool,
    ) -> None:
        super().__init__()
        self.levels = level_resolutions(resolution)
        self.num_ws = 2 * len(self.levels)
        self.output = output
        self.hdr_activation = hdr_activation
        self.circular = circular
        chans = [
            channels_for(min(h, w), channel_base=channel_base, channel_max=channel_max)
            for h, w in self.levels
        ]
        self.const = nn.Parameter(torch.randn(chans[0], *self.levels[0]))
        self.convs = nn.ModuleList()
        self.torgbs = nn.ModuleList()
        for i, (res, ch) in enumerate(zip(self.levels, chans)):
            if i > 0:
                self.convs.append(
                    ModulatedConv2d(chans[i - 1], ch, w_dim, res, up=True, circular=circular)
                )
            self.convs.append(ModulatedConv2d(ch, ch, w_dim, res, circular=circular))
            self.torgbs.append(ToRGB(ch, w_dim))

    def draw_noise(self, n: int, *, rng: torch.Generator | None = None) -> list[torch.Tensor]:
        """Per-pixel noise for ``n`` samples, one [n, 1, h, w] float32 tensor per conv layer, from
        ``rng`` (torch's global RNG if None): what ``forward`` with ``noise_mode="random"`` adds."""
        device = rng.device if rng is not None else self.const.device
        return [torch.randn(n, 1, *conv.resolution, device=device, generator=rng) for conv in self.convs]

    def forward(
        self,
        ws: torch.Tensor,  # [N, num_ws, w_dim]
        noise_mode: str = "random",
        rng: torch.Generator | None = None,
        noise: list[torch.Tensor] | None = None,  # from draw_noise (noise_mode "random"); None: drawn here
    ) -> torch.Tensor:  # [N, 3, H, W], float32: hdr (linear, >= 0) or ldr in [0, 1]
        """Mixed precision: under autocast the convolutions run in its dtype, but toRGB, the sum of the
        skip connections and the output activation run in float32 with autocast off, as that sum is
        (for HDR) log2 radiance: bfloat16's 8-bit mantissa would quantise a highlight 10 stops above
        mid-grey into steps of 2**-4 stop (4 % in radiance).
        """
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        if ws.ndim != 3 or ws.shape[1] != self.num_ws:
            raise ValueError(
                f"ws must have shape [N, {self.num_ws}, w_dim], got {tuple(ws.shape)}; "
                "use G.mapping(z) to make them"
            )
        if noise is not None and (noise_mode != "random" or len(noise) != len(self.convs)):
            raise ValueError(
                f"noise must come with noise_mode 'random' and hold one tensor per conv layer ({len(self.convs)}); "
                "make it with draw_noise"
            )
        if noise is None and noise_mode == "random":
            noise = self.draw_noise(ws.shape[0], rng=rng)
        # repeat, not expand: a view of a parameter made under no_grad confuses module hooks
        x = self.const[None].repeat(ws.shape[0], 1, 1, 1)  # [N, C0, h0, w0]
        x_scale = None  # deferred per-sample channel scale of x, see ModulatedConv2d
        img = None
        layer = 0
        for i, torgb in enumerate(self.torgbs):
            for w_index in ((2 * i - 1, 2 * i) if i > 0 else (0,)):
                layer_noise = noise[layer] if noise is not None else None
                x, x_scale = self.convs[layer](x, x_scale, ws[:, w_index], noise_mode, layer_noise)
                layer += 1
            with torch.autocast(x.device.type, enabled=False):
                rgb = torgb(x.float(), x_scale.float(), ws[:, 2 * i + 1].float())  # [N, 3, h, w]
                img = rgb if img is None else upsample2x_bilinear(img, self.circular) + rgb
        with torch.autocast(img.device.type, enabled=False):
            return self.activation(img)

    def activation(self, x: torch.Tensor) -> torch.Tensor:
        """Map the summed toRGB output to the image domain.

        - ``output="hdr", hdr_activation="exp2"`` (default): ``x`` is log2 radiance relative to
          mid-grey, softly bounded: ``hdr = 2 ** (B tanh((x + log2 0.18) / B))`` with B = 24.
          Multiplicative steps in radiance are additive steps for the network, so a sun 17 stops
          above mid-grey costs a toRGB output of about 20 (tanh compresses a little towards
          the bound) rather than ~10^5 under ``relu``, the gradient
          ``d hdr / d x = ln2 hdr`` is relative (no dead zone, no explosion in log space), and
          the output is > 0 and finite. At init the summed toRGB outputs are roughly N(0, ~2),
          so a fresh G is centred on mid-grey with a spread of a couple of stops.
        - ``hdr_activation="relu"``: the official GlowGAN ``0.25 * relu(x)``, kept for comparison;
          half of a fresh G's pixels sit at exactly 0 with no gradient, and reaching 10^4 needs
          toRGB outputs of 4 * 10^4.
        - ``output="ldr"``: the vanilla LDR GAN baseline, ``sigmoid(x) = (tanh(x/2) + 1) / 2``
          in [0, 1], smooth so that no pixel loses its gradient (StyleGAN2 instead clamps at
          display time).
        Computed in float32 (``forward`` turns autocast off here), so mixed precision cannot
        overflow 2^24.
        """
        if self.output == "ldr":
            return torch.sigmoid(x)
        if self.hdr_activation == "relu":
            return RELU_HDR_SCALE * torch.relu(x)
        log2_hdr = torch.tanh((x + math.log2(MID_GREY)) / LOG2_HDR_BOUND) * LOG2_HDR_BOUND
        return torch.exp2(log2_hdr)


class Generator(nn.Module):
    """z [N, z_dim] -> image [N, 3, H, W]; HDR (linear, >= 0) by default (GlowGAN Sec. 3.1).

    Split API for inversion: ``ws = G.mapping(z, psi)`` then ``G.synthesis(ws, noise_mode)``;
    ``ws`` may differ per layer (W+ space, ``G.num_ws`` entries).

    Args:
        z_dim, w_dim: latent and intermediate latent sizes.
        resolution: (height, width) in pixels, powers of two >= 4; 2:1 for panoramas.
        channel_base, channel_max: feature channels at a level with shorter side r pixels are
            ``min(channel_base // r, channel_max)`` (StyleGAN2). The defaults are the CPU preset
            that trains at > 56 images/s at 32x64 on 2 cores (benchmarks/model_speed.py).
        mapping_layers: depth of the mapping MLP (StyleGAN2 uses 8; small data needs fewer).
        output: ``"hdr"`` (linear radiance >= 0) or ``"ldr"`` (vanilla GAN baseline, [0, 1]).
        circular: wrap every spatial operation around horizontally (seamless panoramas).
        hdr_activation: ``"exp2"`` (log-radiance, default) or ``"relu"`` (official GlowGAN);
            see SynthesisNetwork.activation. Ignored when ``output="ldr"``.
        w_avg_beta: decay of the running mean of w used for truncation.
    """

    def __init__(
        self,
        *,
        z_dim: int = 64,
        w_dim: int = 64,
        resolution: tuple[int, int] = (32, 64),
        channel_base: int = 1024,
        channel_max: int = 64,
        mapping_layers: int = 2,
        output: str = "hdr",
        circular: bool = False,
        hdr_activation: str = "exp2",
        w_avg_beta: float = 0.995,
    ) -> None:
        super().__init__()
        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
        if hdr_activation not in HDR_ACTIVATIONS:
            raise ValueError(
                f"hdr_activation must be one of {HDR_ACTIVATIONS}, got {hdr_activation!r}"
            )
        self.z_dim = z_dim
        self.w_dim = w_dim
        self.img_resolution = tuple(int(s) for s in resolution)
        self.output = output
        self.synthesis = SynthesisNetwork(
            w_dim,
            self.img_resolution,
            channel_base=channel_base,
            channel_max=channel_max,
            output=output,
            hdr_activation=hdr_activation,
            circular=circular,
        )
        self.num_ws = self.synthesis.num_ws
        # StyleGAN2: mapping network learns 100x slower than the synthesis network.
        self.mapping = MappingNetwork(
            z_dim,
            w_dim,
            self.num_ws,
            num_layers=mapping_layers,
            lr_multiplier=0.01,
            w_avg_beta=w_avg_beta,
        )

    def forward(
        self,
        z: torch.Tensor,  # [N, z_dim]
        psi: float = 1.0,
        noise_mode: str = "random",
        update_w_avg: bool = False,
        rng: torch.Generator | None = None,
        noise: list[torch.Tensor] | None = None,  # from G.synthesis.draw_noise; None: drawn here from rng
    ) -> torch.Tensor:  # [N, 3, H, W], float32
        ws = self.mapping(z, psi=psi, update_w_avg=update_w_avg)
        return self.synthesis(ws, noise_mode=noise_mode, rng=rng, noise=noise)
