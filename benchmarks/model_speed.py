"""Time full GAN training iterations of the glowgan networks on the CPU.

One iteration is what training does per batch (StyleGAN2 schedule, GlowGAN losses):

- D step: G forward without grad, camera, augment reals and fakes, D forward/backward on both,
  logistic loss; every 16th D step also the lazy R1 penalty (gamma 1, times 16) on the reals;
  Adam step.
- G step: G forward (updating w_avg), camera, augment, D forward, non-saturating loss, backward
  through D (weights frozen) into G; Adam step; EMA of G.

The camera is a stand-in that costs what the real one costs (cheap elementwise):
``ldr = hdr.clamp(max=1) ** (1 / 2.2)``. FLOPs are counted with
``torch.utils.flop_counter.FlopCounterMode`` (convolutions and matrix products only). The last
column is the 1-minute load average: about the thread count when nothing else runs; more means
other processes shared the cores and the row is pessimistic (each row reports its fastest
round to soften that).

    python benchmarks/model_speed.py                       # all configs, 32x32, 32x64, 64x128
    python benchmarks/model_speed.py --configs small --resolutions 32x64 --profile
    LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 python benchmarks/model_speed.py
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from glowgan.augment import augment
from glowgan.losses import d_logistic_loss, g_nonsaturating_loss, r1_penalty
from glowgan.models import Discriminator, Generator

# (channel_base, channel_max): channels at a level with shorter side r = min(base // r, max).
CONFIGS = {
    "tiny": (512, 32),
    "small": (1024, 64),
    "small96": (1536, 96),
    "medium": (2048, 64),
    "large": (4096, 128),
}
R1_INTERVAL = 16  # StyleGAN2 lazy regularisation (Sec. 3.1)
R1_GAMMA = 1.0
EMA_BETA = 0.999


def camera_stand_in(hdr: torch.Tensor) -> torch.Tensor:
    """Elementwise stand-in for glowgan.camera.render: [N, 3, H, W] hdr -> ldr in [0, 1]."""
    return hdr.clamp(min=0.0, max=1.0) ** (1.0 / 2.2)


class Trainer:
    """G, D, their optimisers and a fixed batch of 'real' LDR images."""

    def __init__(
        self,
        *,
        resolution: tuple[int, int],
        channel_base: int,
        channel_max: int,
        batch: int,
    ) -> None:
        g = torch.Generator().manual_seed(0)
        self.G = Generator(
            resolution=resolution, channel_base=channel_base, channel_max=channel_max
        )
        self.D = Discriminator(
            resolution=resolution, channel_base=channel_base, channel_max=channel_max
        )
        self.G_ema = copy.deepcopy(self.G).requires_grad_(False)
        # StyleGAN2 config-f Adam settings, with the lazy-regularisation correction omitted.
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=0.0025, betas=(0.0, 0.99))
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=0.0025, betas=(0.0, 0.99))
        self.reals = torch.rand(batch, 3, *resolution, generator=g)
        self.batch = batch
        self.rng = g
        self.step = 0

    def iteration(self) -> None:
        z = torch.randn(self.batch, self.G.z_dim, generator=self.rng)
        # D step
        with torch.no_grad():
            fake_ldr = camera_stand_in(self.G(z, rng=self.rng))
        do_r1 = self.step % R1_INTERVAL == 0
        reals = self.reals.detach().requires_grad_(do_r1)
        real_logits = self.D(augment(reals, rng=self.rng))
        fake_logits = self.D(augment(fake_ldr, rng=self.rng))
        loss_D = d_logistic_loss(real_logits, fake_logits)
        if do_r1:
            loss_D = loss_D + r1_penalty(real_logits, reals) * (R1_GAMMA / 2 * R1_INTERVAL)
        self.opt_D.zero_grad(set_to_none=True)
        loss_D.backward()
        self.opt_D.step()
        # G step
        self.D.requires_grad_(False)
        z = torch.randn(self.batch, self.G.z_dim, generator=self.rng)
        fake_ldr = camera_stand_in(self.G(z, update_w_avg=True, rng=self.rng))
        loss_G = g_nonsaturating_loss(self.D(augment(fake_ldr, rng=self.rng)))
        self.opt_G.zero_grad(set_to_none=True)
        loss_G.backward()
        self.opt_G.step()
        self.D.requires_grad_(True)
        with torch.no_grad():
            ema_params = list(self.G_ema.parameters())
            torch._foreach_lerp_(ema_params, list(self.G.parameters()), 1.0 - EMA_BETA)
            for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):
                b_ema.copy_(b)
        self.step += 1


def count_flops(trainer: Trainer) -> float:
    """FLOPs of one iteration averaged over an R1 period (one R1 step in R1_INTERVAL)."""
    flops = []
    for _ in range(2):  # step % 16 == 0 (R1) first, then a plain step
        counter = FlopCounterMode(display=False)
        with counter:
            trainer.iteration()
        flops.append(counter.get_total_flops())
    return (flops[0] + (R1_INTERVAL - 1) * flops[1]) / R1_INTERVAL


def allocator() -> str:
    with open("/proc/self/maps") as maps:
        return "tcmalloc" if "tcmalloc" in maps.read() else "glibc"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated names")
    parser.add_argument("--resolutions", default="32x32,32x64,64x128", help="HxW,HxW,...")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--iters", type=int, default=R1_INTERVAL, help="timed iterations")
    parser.add_argument(
        "--rounds", type=int, default=3, help="repeat the timing, report the fastest round"
    )
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--profile", action="store_true", help="torch.profiler table per run")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    print(
        f"torch {torch.__version__}, {args.threads} threads, allocator {allocator()}, "
        f"batch {args.batch}, best of {args.rounds} x {args.iters} iterations "
        f"(R1 every {R1_INTERVAL})"
    )
    print(
        f"{'config':<8} {'res':>7} {'channels (low->high res)':<26} {'G params':>9} "
        f"{'D params':>9} {'GFLOP/img':>9} {'s/iter':>7} {'img/s':>7} {'GFLOP/s':>8} {'load':>5}"
    )
    for res_text in args.resolutions.split(","):
        resolution = tuple(int(s) for s in res_text.lower().split("x"))
        for name in args.configs.split(","):
            channel_base, channel_max = CONFIGS[name]
            trainer = Trainer(
                resolution=resolution,
                channel_base=channel_base,
                channel_max=channel_max,
                batch=args.batch,
            )
            flops = count_flops(trainer)
            for _ in range(args.warmup):
                trainer.iteration()
            seconds = math.inf
            for _ in range(args.rounds):  # the fastest round: other processes share the cores
                trainer.step = 0
                start = time.perf_counter()
                for _ in range(args.iters):
                    trainer.iteration()
                seconds = min(seconds, (time.perf_counter() - start) / args.iters)
            chans = [conv.bias.numel() for conv in trainer.G.synthesis.convs[::2]]
            print(
                f"{name:<8} {res_text:>7} {str(chans):<26} "
                f"{sum(p.numel() for p in trainer.G.parameters()):>9} "
                f"{sum(p.numel() for p in trainer.D.parameters()):>9} "
                f"{flops / args.batch / 1e9:>9.3f} {seconds:>7.3f} "
                f"{args.batch / seconds:>7.1f} {flops / seconds / 1e9:>8.1f} "
                f"{os.getloadavg()[0]:>5.1f}",
                flush=True,
            )
            if args.profile:
                with torch.profiler.profile() as prof:
                    for _ in range(4):
                        trainer.iteration()
                print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))


if __name__ == "__main__":
    main()
