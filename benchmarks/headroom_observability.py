"""Can the LDR photos tell a world from one with dimmer highlights? (issue 11's headroom target)

Every generator so far ends with its highlights about 1.2 stops short of the world's observable
headroom and its suns about 1.1 stops too close to the clip (``docs/training/README.md``), while its
photos clip exactly as often as the real ones. This asks how much of that gap the training data can
show at all, with no generator involved:

1. the world's ground truth on the metered scale (``glowgan.report.sets``), and a **dimmed** version of
   it: every radiance above ``L`` compressed in log space, ``log2 h' = log2 L + alpha log2(h / L)``
   (``L`` in metered units, so ``alpha = 0.5`` halves how far, in stops, a sun reaches above ``L``);
2. both photographed with *the very cameras of the world's own photos* (each record's exposure offset
   and curve, 8 bits): re-photographing the true version reproduces the stored photos, which is checked;
3. scored as the quality benchmark scores a generator: median headroom against the observable truth,
   and the suns (``glowgan.itm_levels``, stops above the clip of the clipped pixels in photos clipping
   < 1 %);
4. and the LDR evidence between them: the share of photos without a clipped pixel, clipped pixels per
   photo, and a classifier's held-out accuracy at telling the two versions' photos apart. The classifier
   reads what the highlight head reads (each photo's brightest and darkest channel at its quantiles) plus
   the 64 brightest values (and once without the darkest channel), and is trained and tested on disjoint
   scenes, one version each, so it compares distributions, not pairs (chance: 50 %). With ``--d-steps``
   the default preset's own discriminator is trained for the same test.

A dimming that the benchmark scores as a large headroom error but that the photos cannot tell apart
(accuracy near 50 %) is a gap that these statistics cannot close from these photos.

With ``--ckpt``, the same evidence for generators: their samples photographed through their camera prior
(as their discriminator saw them) against the world's photos, scored the same way (the HDR columns on the
metered scale of the world's own auto-exposure, as the quality benchmark meters them).

    python benchmarks/headroom_observability.py --world runs/q8-head3/world --json docs/training/quality/observability/observability.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from glowgan import camera as cam
from glowgan.augment import augment
from glowgan.checkpoint import build_discriminator, load_generator
from glowgan.config import load_config
from glowgan.data.synth import meter_stops, read_manifest
from glowgan.itm_levels import ClipLevels
from glowgan.models.highlights import quantile_ranks, shadow_ranks
from glowgan.report.sets import headroom_stops_batch, read_world

TOP_VALUES = 64
TEST_SHARE = 0.2


def dimmed(metered: np.ndarray, level: float, alpha: float) -> np.ndarray:
    """``metered`` [N, H, W, 3] with every channel above ``level`` compressed: ``level * (h / level)**alpha``."""
    above = metered > level
    out = metered.copy()
    out[above] = level * (metered[above] / level) ** alpha
    return out


def cameras(records: list[dict]) -> cam.CameraParams:
    """The world's photos' cameras, with each exposure as an offset from the metered scale."""
    return cam.CameraParams(
        exposure_stops=torch.tensor([r["offset_stops"] for r in records], dtype=torch.float32),
        crf=tuple(r["camera"]["crf"] for r in records),
        gamma=torch.tensor([r["camera"]["gamma"] for r in records], dtype=torch.float32),
        beta=torch.tensor([r["camera"]["beta"] for r in records], dtype=torch.float32),
        quantize_bits=8,
    )


def photographs(metered: np.ndarray, params: cam.CameraParams) -> np.ndarray:
    """8-bit codes [N, H, W, 3] of ``metered`` through ``params``, as ``glowgan.data.synth.photograph`` rounds them."""
    hdr = torch.from_numpy(np.ascontiguousarray(metered, dtype=np.float32)).permute(0, 3, 1, 2)
    with torch.inference_mode():
        ldr = cam.render(hdr, params)
    return np.floor(ldr.permute(0, 2, 3, 1).numpy() * 255.0 + 0.5).astype(np.uint8)


def features(codes: np.ndarray) -> np.ndarray:
    """Per photo: the head's order statistics of the brightest and darkest channel, the TOP_VALUES brightest
    values and the log count of clipped pixels [N, K], in [0, 1] (the count in log2 pixels / 16)."""
    ldr = codes.astype(np.float32) / 255.0
    pixels = ldr.shape[1] * ldr.shape[2]
    bright = np.sort(ldr.max(axis=-1).reshape(len(ldr), -1), axis=1)
    dark = np.sort(ldr.min(axis=-1).reshape(len(ldr), -1), axis=1)
    clipped = (codes.max(axis=-1) == 255).reshape(len(ldr), -1).sum(axis=1)
    return np.concatenate(
        [bright[:, quantile_ranks(pixels)], dark[:, shadow_ranks(pixels)], bright[:, -TOP_VALUES:],
         np.log2(1.0 + clipped)[:, None] / 16.0],
        axis=1,
    ).astype(np.float32)


def bright_only(features_: np.ndarray, pixels: int) -> np.ndarray:
    """The columns of :func:`features` that do not read the darkest channel."""
    dark = len(quantile_ranks(pixels)) + np.arange(len(shadow_ranks(pixels)))
    return np.delete(features_, dark, axis=1)


def held_out_accuracy(true_features: np.ndarray, dim_features: np.ndarray, *, seed: int, steps: int = 3000) -> float:
    """A small MLP's accuracy at telling the versions apart on held-out scenes: scenes split into train
    and test, and within each, alternate scenes shown as the true or the dimmed version."""
    n = len(true_features)
    order = np.random.default_rng(seed).permutation(n)
    version = np.arange(n) % 2  # by position in the permutation: each scene in one version only
    x = np.where(version[:, None] == 1, dim_features[order], true_features[order])
    y = version.astype(np.float32)
    cut = int(n * (1 - TEST_SHARE))
    x_train, y_train, x_test, y_test = (torch.from_numpy(a) for a in (x[:cut], y[:cut], x[cut:], y[cut:]))
    mean, std = x_train.mean(0), x_train.std(0).clamp_min(1e-3)
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], 64), torch.nn.LeakyReLU(0.2), torch.nn.Linear(64, 64),
                              torch.nn.LeakyReLU(0.2), torch.nn.Linear(64, 1))
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3, weight_decay=1e-4)
    rng = torch.Generator().manual_seed(seed)
    best = 0.0
    for step in range(steps):
        batch = torch.randint(0, cut, (256,), generator=rng)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(net((x_train[batch] - mean) / std)[:, 0], y_train[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if (step + 1) % 500 == 0:  # the best test accuracy along the way: an upper bound, generous to the photos
            with torch.no_grad():
                accuracy = float((((net((x_test - mean) / std)[:, 0] > 0).float()) == y_test).float().mean())
            best = max(best, accuracy)
    return best


def discriminator_accuracy(true_codes: np.ndarray, other_codes: np.ndarray, *, seed: int, steps: int, batch: int = 32) -> float:
    """The same held-out test with the default preset's own discriminator (``cpu-32x64``: the frozen
    features, the residual branch and the head) trained as in training: logistic loss, its Adam settings,
    DiffAugment for the convolutional parts and the plain photos for the head; tested without augmentation."""
    config = load_config(preset="cpu-32x64")
    torch.manual_seed(seed)
    discriminator = build_discriminator(config)
    trainable = [p for p in discriminator.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(trainable, lr=config.train.d_lr, betas=config.train.adam_betas)
    n = len(true_codes)
    order = np.random.default_rng(seed).permutation(n)
    cut = int(n * (1 - TEST_SHARE))
    first, second = order[:cut:2], order[1:cut:2]  # training scenes: one half true, the other half the other version

    def photos(codes: np.ndarray, index: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(codes[index]).permute(0, 3, 1, 2).float() / 255.0

    rng = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        real = photos(true_codes, first[torch.randint(0, len(first), (batch,), generator=rng).numpy()])
        other = photos(other_codes, second[torch.randint(0, len(second), (batch,), generator=rng).numpy()])
        judge = [discriminator(augment(x, policy=config.train.augment, rng=rng, circular_x=True), photo=x) for x in (real, other)]
        loss = torch.nn.functional.softplus(-judge[0]).mean() + torch.nn.functional.softplus(judge[1]).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    test = order[cut:]
    with torch.no_grad():
        right = [(discriminator(photos(true_codes, test[0::2])) > 0).float().mean(),
                 (discriminator(photos(other_codes, test[1::2])) <= 0).float().mean()]
    return float(sum(right) / 2)


def scores(metered: np.ndarray, observable_level: float, params: cam.CameraParams, codes: np.ndarray) -> dict:
    exposed = torch.from_numpy(metered).permute(0, 3, 1, 2) * torch.exp2(params.exposure_stops)[:, None, None, None]
    suns = ClipLevels.of_images(exposed).small_share_level()
    clipped = (codes.max(axis=-1) == 255).reshape(len(codes), -1).sum(axis=1)
    return {
        "headroom_observable": float(np.median(headroom_stops_batch(np.minimum(metered, np.float32(observable_level))))),
        "suns_above_clip": suns,
        "unclipped_photos": float((clipped == 0).mean()),
        "clipped_pixels_mean": float(clipped.mean()),
    }


def generator_photos(ckpt: Path, count: int, spec: dict, *, seed: int = 0, batch: int = 250):
    """``count`` samples of the generator of ``ckpt`` on the world's metered scale [N, H, W, 3], its camera
    prior's draws (exposures as offsets from that scale) and their 8-bit codes, as its D saw them."""
    generator, config = load_generator(ckpt)
    rng = torch.Generator().manual_seed(seed)
    z = torch.randn(count, generator.z_dim, generator=rng)
    params = config.camera.prior.sample(count, rng=rng)
    with torch.no_grad():
        raw = torch.cat([generator(z[i : i + batch], noise_mode="const").float() for i in range(0, count, batch)])
    raw_hdr = np.ascontiguousarray(raw.permute(0, 2, 3, 1).numpy())
    stops = meter_stops(raw_hdr, metering=spec["metering"], target=spec["target"])  # [N]
    metered = (raw_hdr * np.exp2(stops)[:, None, None, None]).astype(np.float32)
    params = dataclasses.replace(params, exposure_stops=params.exposure_stops - torch.from_numpy(stops).float(), quantize_bits=8)
    return metered, params, photographs(metered, params)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--world", type=Path, required=True, help="a `glowgan data synth` set (the quality benchmark's world)")
    parser.add_argument("--count", type=int, default=5000, help="scenes read (default 5000)")
    parser.add_argument("--levels", default="clip,observable/4",
                        help="L: 'clip' (the clip level at the mean exposure offset), 'observable/K', or a number")
    parser.add_argument("--alphas", default="0.5,0.75", help="log-space compression factors above L")
    parser.add_argument("--classifier-seeds", default="0,1,2")
    parser.add_argument("--d-steps", type=int, default=0,
                        help="also train the default preset's discriminator this many steps per comparison (0: off)")
    parser.add_argument("--ckpt", type=Path, nargs="*", default=[], help="generators to score the same way")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    world = read_world(args.world, args.count, progress=True)
    _, records = read_manifest(args.world)
    records = records[: args.count]
    params = cameras(records)
    true_codes = photographs(world.metered_hdr, params)
    stored = np.stack([np.asarray(Image.open(args.world / r["ldr"]).convert("RGB")) for r in records])
    agreement = float((true_codes == stored).mean())
    print(f"{len(records)} scenes; re-photographed truth equals the stored photos in {100 * agreement:.3f} % of codes")
    mean_offset = float(np.mean([r["offset_stops"] for r in records]))
    true_features = features(true_codes)
    seeds = [int(s) for s in args.classifier_seeds.split(",")]
    pixels = true_codes.shape[1] * true_codes.shape[2]

    def evidence(codes: np.ndarray) -> dict:
        other = features(codes)
        found = {"accuracy": [held_out_accuracy(true_features, other, seed=s) for s in seeds],
                 "bright_accuracy": [held_out_accuracy(bright_only(true_features, pixels), bright_only(other, pixels), seed=s)
                                     for s in seeds]}
        if args.d_steps and codes is not true_codes:
            found["d_accuracy"] = discriminator_accuracy(true_codes, codes, seed=seeds[0], steps=args.d_steps)
        return found

    rows = [{"version": "truth", **scores(world.metered_hdr, world.observable_level, params, true_codes), **evidence(true_codes)}]
    for level_spec in filter(None, args.levels.split(",")):
        if level_spec == "clip":
            level = 2.0**-mean_offset
        elif level_spec.startswith("observable/"):
            level = world.observable_level / float(level_spec.split("/")[1])
        else:
            level = float(level_spec)
        for alpha in (float(a) for a in args.alphas.split(",")):
            hdr = dimmed(world.metered_hdr, level, alpha)
            codes = photographs(hdr, params)
            rows.append({"version": f"L={level_spec} ({math.log2(level):+.2f} st), alpha={alpha}",
                         **scores(hdr, world.observable_level, params, codes), **evidence(codes)})
            print(rows[-1]["version"], "done", flush=True)
    for ckpt in args.ckpt:
        hdr, fake_params, codes = generator_photos(ckpt, len(records), world.spec)
        rows.append({"version": f"generator {ckpt}", **scores(hdr, world.observable_level, fake_params, codes), **evidence(codes)})
        print(rows[-1]["version"], "done", flush=True)
    truth = rows[0]
    print(f"\nobservable level {math.log2(world.observable_level):+.2f} stops (metered), mean exposure offset {mean_offset:+.2f}\n")
    print("| version | headroom − truth's | suns − truth's | photos without a clipped pixel | clipped pixels per photo | "
          "classifier accuracy (held out) | the same, brightest channel only | the default D's accuracy (held out) |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        accuracy = np.array(row["accuracy"])
        print(f"| {row['version']} | {row['headroom_observable'] - truth['headroom_observable']:+.2f} | "
              f"{row['suns_above_clip'] - truth['suns_above_clip']:+.2f} | {100 * row['unclipped_photos']:.1f} % | "
              f"{row['clipped_pixels_mean']:.1f} | {100 * accuracy.mean():.1f} ± {100 * accuracy.std():.1f} % | "
              f"{100 * np.mean(row['bright_accuracy']):.1f} ± {100 * np.std(row['bright_accuracy']):.1f} % | "
              + (f"{100 * row['d_accuracy']:.1f} % |" if "d_accuracy" in row else "– |"))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"world": str(args.world), "count": len(records), "stored_agreement": agreement,
                                         "observable_level": world.observable_level, "mean_offset": mean_offset,
                                         "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
