"""``glowgan itm`` (inverse tone mapping of one photo) and ``glowgan itm-encoder`` (its fast mode)."""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULTS_NOTE = "defaults are the official GlowGAN recipe: 1000 latent steps at lr 0.1, 350 tuning steps"
# glowgan.invert.FAST_LATENT_STEPS / FAST_TUNE_STEPS, repeated here so that --help does not import torch
# (tests/test_invert.py checks they agree)
FAST_LATENT_STEPS = 100
FAST_TUNE_STEPS = 50


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "itm",
        help="inverse tone mapping: one LDR photo in, one HDR image out (GAN inversion)",
        description=(
            "Turn an LDR photo into linear HDR by inverting a GlowGAN generator: optimise a latent, the "
            "exposure and the camera response curve so the generator's photographed image matches the "
            "photo, fine-tune the generator around that latent (pivotal tuning), then fill the photo's "
            "clipped regions with the generator's HDR content at the photo's own resolution. Writes OUT "
            "(.exr/.hdr/.pfm; 1.0 = the photo's clip level) plus OUT.mask.png, OUT.preview.png (input, and "
            f"the output at -3/0/+3 stops) and OUT.json (the camera found, timings). The {DEFAULTS_NOTE}."
        ),
    )
    parser.add_argument("photo", type=Path, help="the LDR photo (JPEG, PNG, WebP, TIFF)")
    parser.add_argument("--ckpt", type=Path, required=True, help="a GlowGAN checkpoint (camera on) from `glowgan train`")
    parser.add_argument("--out", type=Path, required=True, help="output HDR file, e.g. out.exr")
    parser.add_argument("--steps", type=int, help="latent/camera optimisation steps (default 1000, fast mode 100)")
    parser.add_argument("--tune-steps", type=int, help="pivotal tuning steps (default 350, fast mode 50)")
    parser.add_argument("--lr", type=float, default=0.1, help="peak learning rate of the latent optimisation (default 0.1)")
    parser.add_argument("--w-plus", action="store_true", help="optimise one latent per layer (W+) instead of one w")
    parser.add_argument("--fixed-crf", action="store_true", help="keep the CRF at the prior's mean (the official recipe)")
    parser.add_argument(
        "--loss",
        choices=("auto", "lpips", "msssim", "pixel"),
        default="auto",
        help=(
            "perceptual loss: auto (LPIPS-VGG16 if its weights are installed, else the MS-SSIM fallback; pixels only for "
            "generators under 64 pixels, where that measured better), lpips, msssim, or pixel"
        ),
    )
    parser.add_argument("--fit", choices=("stretch", "crop"), default="stretch", help="a photo of another aspect ratio is stretched (default) or centre-cropped")
    parser.add_argument("--encoder", type=Path, help="fast mode: start from this encoder's prediction (see `glowgan itm-encoder`)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the latent noise and regulariser (default 0)")
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto (default: auto)")
    parser.set_defaults(func=run_itm)

    encoder = commands.add_parser(
        "itm-encoder",
        help="train the encoder of fast inverse tone mapping for one checkpoint",
        description=(
            "Train an encoder that predicts a photo's latent, exposure and CRF in one pass, on the generator's "
            "own samples photographed by its camera prior (no photos needed). `glowgan itm --encoder ENC` then "
            f"starts from its prediction and needs only {FAST_LATENT_STEPS}+{FAST_TUNE_STEPS} steps by default."
        ),
    )
    encoder.add_argument("--ckpt", type=Path, required=True, help="the GlowGAN checkpoint the encoder is for")
    encoder.add_argument("--out", type=Path, required=True, help="encoder file to write, e.g. encoder.pt")
    encoder.add_argument("--steps", type=int, default=2000, help="training steps (default 2000)")
    encoder.add_argument("--minutes", type=float, help="also stop after this many minutes (whichever comes first)")
    encoder.add_argument("--batch", type=int, default=32, help="samples per step (default 32)")
    encoder.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    encoder.add_argument("--device", default="auto", help="cpu, cuda or auto (default: auto)")
    encoder.set_defaults(func=run_itm_encoder)


def run_itm(args: argparse.Namespace) -> int:
    import json
    import os

    from glowgan import hdrio
    from glowgan.checkpoint import load_generator
    from glowgan.cli.common import resolve_device
    from glowgan.invert import InversionOptions, invert_photo, output_paths, preview_sheet, result_record

    fast = args.encoder is not None
    options = InversionOptions(
        latent_steps=args.steps if args.steps is not None else (FAST_LATENT_STEPS if fast else 1000),
        tune_steps=args.tune_steps if args.tune_steps is not None else (FAST_TUNE_STEPS if fast else 350),
        latent_lr=args.lr,
        latent_space="w+" if args.w_plus else "w",
        estimate_crf=not args.fixed_crf,
        perceptual=args.loss,
        fit=args.fit,
        seed=args.seed,
    )
    paths = output_paths(args.out)
    photo = hdrio.read_ldr(args.photo)
    device = resolve_device(args.device)
    generator, config = load_generator(args.ckpt, device=device)
    initial = None
    if fast:
        from glowgan.encoder import guesser, load_encoder

        initial = guesser(load_encoder(args.encoder, generator, device=device))
    result = invert_photo(generator, config, photo, options=options, initial=initial)
    preview = preview_sheet(photo, result)
    # the photo's path relative to the JSON, so a folder moved with its inputs still pairs them (glowgan view)
    input_path = os.path.relpath(args.photo.resolve(), paths["json"].resolve().parent)
    record = result_record(result, input_path=input_path, options=options)
    record["encoder"] = str(args.encoder) if fast else None
    hdrio.write_hdr(paths["hdr"], result.hdr)
    hdrio.write_ldr(paths["mask"], result.mask)
    hdrio.write_ldr(paths["preview"], preview)
    hdrio.write_text(paths["json"], json.dumps(record, indent=2) + "\n")  # last: its presence means complete
    camera = result.camera
    print(
        f"wrote {paths['hdr']} ({result.hdr.shape[1]}x{result.hdr.shape[0]}, {record['masked_fraction']:.1%} of pixels "
        f"from the generator); exposure {camera['exposure_stops']:+.2f} stops, gamma {camera['gamma']:.3f}, "
        f"beta {camera['beta']:.3f}; {sum(result.seconds.values()):.1f} s"
    )
    return 0


def run_itm_encoder(args: argparse.Namespace) -> int:
    from glowgan.checkpoint import load_generator
    from glowgan.cli.common import resolve_device
    from glowgan.encoder import save_encoder, train_encoder

    device = resolve_device(args.device)
    generator, config = load_generator(args.ckpt, device=device)
    encoder, record = train_encoder(
        generator, config, steps=args.steps, minutes=args.minutes, batch=args.batch, seed=args.seed
    )
    save_encoder(args.out, encoder, generator, record)
    losses = record["losses_every_10"]
    print(f"wrote {args.out}: {record['steps']} steps in {record['seconds']:.0f} s, loss {losses[0]:.3f} -> {losses[-1]:.3f}")
    return 0
