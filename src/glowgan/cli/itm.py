"""``glowgan itm`` (inverse tone mapping of one photo) and ``glowgan itm-encoder`` (its fast mode)."""

from __future__ import annotations

import argparse
from pathlib import Path

from glowgan.itm_defaults import (
    BATCH,
    CLIP_LEVEL_WEIGHT,
    FAST_LATENT_STEPS,
    FAST_TUNE_STEPS,
    FILL_COLOURS,
    LATENT_LR,
    LATENT_STEPS,
    TUNE_STEPS,
)

DEFAULTS_NOTE = (
    f"defaults are the official GlowGAN recipe: {LATENT_STEPS} latent steps at lr {LATENT_LR}, {TUNE_STEPS} tuning steps"
)
# The batch's one summary, in the output folder.
SUMMARY_NAME = "summary.json"


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "itm",
        help="inverse tone mapping: LDR photos in, HDR images out (GAN inversion)",
        description=(
            "Turn an LDR photo into linear HDR by inverting a GlowGAN generator: optimise a latent, the "
            "exposure and the camera response curve so the generator's photographed image matches the "
            "photo, fine-tune the generator around that latent (pivotal tuning), then fill the photo's "
            "clipped regions with the generator's HDR content at the photo's own resolution. Writes OUT "
            "(.exr/.hdr/.pfm; 1.0 = the photo's clip level) plus OUT.mask.png, OUT.preview.png (input, and "
            f"the output at -3/0/+3 stops) and OUT.json (the camera found, timings). The {DEFAULTS_NOTE}. "
            "Several photos, a folder or a list file (.txt, one path a line) make a batch: OUT is then a "
            "folder that gets NAME.exr, NAME.mask.png, NAME.preview.png and NAME.json per photo and one "
            "summary.json; the networks are loaded once, photos already done are skipped, and a photo that "
            "fails is listed in the summary without stopping the batch. --samples K inverts each photo K "
            "times from different starts: OUT is then the fill with the lowest final loss, beside "
            "OUT.sample-1.exr ... OUT.sample-K.exr and OUT.spread.exr/.png (the per-pixel standard "
            "deviation of the fills in stops); the sample and spread files of an earlier run of OUT with more "
            "samples are removed once the new result is written."
        ),
    )
    parser.add_argument(
        "photo",
        type=Path,
        nargs="+",
        help="LDR photos (JPEG, PNG, WebP, TIFF), folders of them, or .txt files listing them (one a line)",
    )
    parser.add_argument("--ckpt", type=Path, required=True, help="a GlowGAN checkpoint (camera on) from `glowgan train`")
    parser.add_argument("--out", type=Path, required=True, help="output HDR file, e.g. out.exr; for a batch, a folder")
    parser.add_argument(
        "--steps", type=int, help=f"latent/camera optimisation steps (default {LATENT_STEPS}, fast mode {FAST_LATENT_STEPS})"
    )
    parser.add_argument("--tune-steps", type=int, help=f"pivotal tuning steps (default {TUNE_STEPS}, fast mode {FAST_TUNE_STEPS})")
    parser.add_argument(
        "--lr", type=float, default=LATENT_LR, help=f"peak learning rate of the latent optimisation (default {LATENT_LR})"
    )
    parser.add_argument("--w-plus", action="store_true", help="optimise one latent per layer (W+) instead of one w")
    parser.add_argument("--fixed-crf", action="store_true", help="keep the CRF at the prior's mean (the official recipe)")
    parser.add_argument(
        "--crf",
        help="response-curve family fitted to the photo: glowgan, gamma, linear, srgb, filmic or pca (default: the "
        "model's camera prior; pca spans sRGB, filmic, gamma and GlowGAN curves)",
    )
    parser.add_argument(
        "--loss",
        choices=("auto", "lpips", "msssim", "pixel"),
        default="auto",
        help=(
            "perceptual loss: auto (LPIPS-VGG16 if its weights are installed, else the MS-SSIM fallback; pixels only for "
            "generators under 128 pixels, where that measured better), lpips, msssim, or pixel"
        ),
    )
    parser.add_argument("--fit", choices=("stretch", "crop"), default="stretch", help="a photo of another aspect ratio is stretched (default) or centre-cropped")
    parser.add_argument(
        "--wrap",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=(
            "treat the photo's left and right edges as neighbours (a 360-degree panorama), or not (--no-wrap); "
            "default: only a 2:1 photo whose edges meet, with a model trained on panoramas"
        ),
    )
    parser.add_argument(
        "--clip-level-weight",
        type=_non_negative,
        default=CLIP_LEVEL_WEIGHT,
        metavar="W",
        help=(
            "weight of the term that asks the photo's pixels clipped in every channel (a sun, not a bright coloured sky) "
            "for the generator's typical level above the clip, measured on its own samples that clip a similar share "
            f"so (default {CLIP_LEVEL_WEIGHT:g}; 0: the fill stops where the rendering clips, as in the official recipe)"
        ),
    )
    parser.add_argument(
        "--fill",
        choices=FILL_COLOURS,
        default=FILL_COLOURS[0],
        help=(
            f"colour of the clipped regions' fill (default {FILL_COLOURS[0]}): white is neutral where every channel "
            "clipped and the generator's colour elsewhere; generator is the generator's own colour, photo the photo's "
            "(a fully clipped pixel stays neutral), surround that of the photo's unclipped surround; the brightness is "
            "the generator's in every case"
        ),
    )
    parser.add_argument("--encoder", type=Path, help="fast mode: start from this encoder's prediction (see `glowgan itm-encoder`)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the latent noise and regulariser (default 0)")
    parser.add_argument(
        "--samples",
        type=_at_least_one,
        default=1,
        metavar="K",
        help=(
            "invert each photo K times from different starting latents and seeds (SEED, SEED+1, ...) and write "
            "each fill, and their spread, beside OUT; OUT is the fill with the lowest final loss (default 1)"
        ),
    )
    parser.add_argument(
        "--batch",
        type=_at_least_one,
        default=BATCH,
        metavar="B",
        help=(
            f"photos of a batch inverted side by side (default {BATCH}): each gets the result it gets alone, in less "
            "time per photo; with --samples K, each photo's K samples run side by side too"
        ),
    )
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


def _at_least_one(text: str) -> int:
    """argparse type of --samples: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number; give the inversions per photo, e.g. 4") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value}: give at least 1 inversion per photo (1 is the single inversion)")
    return value


def _non_negative(text: str) -> float:
    """argparse type of --clip-level-weight: a finite number >= 0."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number; give a weight >= 0, e.g. 0.01") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"{text}: give a finite weight >= 0 (0 turns the term off)")
    return value


def list_photos(inputs: list[Path]) -> tuple[list[Path], bool]:
    """The photos that ``inputs`` name, in order and once each, and whether they make a batch.

    A folder gives every photo in it (not in subfolders; sorted by name), a ``.txt`` file the photos
    or folders it lists, one a line (blank lines and ``#`` comments skipped; relative paths are
    relative to the list's folder). One plain photo file is not a batch.
    """
    from glowgan import hdrio

    photos: list[Path] = []
    for item in inputs:
        if item.suffix.lower() == ".txt" and item.is_file():
            entries = [line.strip() for line in item.read_text(encoding="utf-8").splitlines()]
            listed = [item.parent / entry for entry in entries if entry and not entry.startswith("#")]
            if not listed:
                raise ValueError(f"{item}: the list names no photos; write one photo path a line")
            photos += [photo for entry in listed for photo in _expand(entry, hdrio.LDR_SUFFIXES)]
        else:
            photos += _expand(item, hdrio.LDR_SUFFIXES)
    unique = list(dict.fromkeys(photos))
    batch = len(inputs) > 1 or inputs[0].is_dir() or inputs[0].suffix.lower() == ".txt"
    return unique, batch


def _expand(path: Path, suffixes: tuple[str, ...]) -> list[Path]:
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in suffixes and not p.name.startswith("."))
        if not found:
            raise ValueError(f"{path}: no photos in this folder (looked for {', '.join(suffixes)})")
        return found
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such photo, folder or list")
    return [path]


def run_itm(args: argparse.Namespace) -> int:
    import time

    from glowgan.checkpoint import load_generator
    from glowgan.cli.common import resolve_device
    from glowgan.invert import InversionOptions, clip_levels_for
    from glowgan.itm_losses import perceptual_network
    from glowgan.itm_outputs import output_paths

    fast = args.encoder is not None
    options = InversionOptions(
        latent_steps=args.steps if args.steps is not None else (FAST_LATENT_STEPS if fast else LATENT_STEPS),
        tune_steps=args.tune_steps if args.tune_steps is not None else (FAST_TUNE_STEPS if fast else TUNE_STEPS),
        latent_lr=args.lr,
        latent_space="w+" if args.w_plus else "w",
        estimate_crf=not args.fixed_crf,
        crf=args.crf,
        perceptual=args.loss,
        fit=args.fit,
        wrap=args.wrap,
        fill=args.fill,
        clip_level_weight=args.clip_level_weight,
        seed=args.seed,
    )
    photos, batch = list_photos(args.photo)
    if batch:
        jobs = _batch_outputs(photos, args.out, samples=args.samples)
    else:
        jobs = [(photos[0], output_paths(args.out, samples=args.samples))]
    started = time.perf_counter()
    device = resolve_device(args.device)
    generator, config = load_generator(args.ckpt, device=device)
    initial = None
    if fast:
        from glowgan.encoder import guesser, load_encoder

        initial = guesser(load_encoder(args.encoder, generator, device=device))
    network = perceptual_network(options.perceptual, generator)
    clip_levels = clip_levels_for(generator, config, options)
    loaded = dict(
        generator=generator,
        config=config,
        options=options,
        samples=args.samples,
        initial=initial,
        network=network,
        clip_levels=clip_levels,
        encoder=args.encoder,
        ckpt=args.ckpt,
    )
    load_seconds = time.perf_counter() - started
    if not batch:
        record = _invert_group(jobs[0:1], progress=True, **loaded)[0]
        if isinstance(record, Exception):
            raise record
        camera = record["camera"]
        print(
            f"wrote {jobs[0][1]['hdr']} ({record['size'][0]}x{record['size'][1]}, {record['masked_fraction']:.1%} of pixels "
            f"from the generator); exposure {camera['exposure_stops']:+.2f} stops, {_curve_text(camera)}; "
            f"{sum(record['seconds'].values()):.1f} s"
            + _spread_text(record)
        )
        return 0
    return _run_batch(jobs, args.out, load_seconds=load_seconds, batch=args.batch, **loaded)


def _curve_text(camera: dict) -> str:
    """The found curve in words: its family and the parameters that family uses."""
    if camera["crf"] == "glowgan":
        return f"curve glowgan (gamma {camera['gamma']:.3f}, beta {camera['beta']:.3f})"
    if camera["crf"] in ("gamma", "filmic"):
        return f"curve {camera['crf']} (display gamma {camera['gamma']:.3f})"
    if camera["crf"] == "pca":
        return "curve pca (coefficients " + ", ".join(f"{c:+.3f}" for c in camera["coeffs"]) + ")"
    return f"curve {camera['crf']}"


def _spread_text(record: dict) -> str:
    """With several samples: which one is the output, and how much they disagree where the generator fills."""
    if "samples" not in record:
        return ""
    samples, spread = record["samples"], record["samples"]["spread_stops"]
    text = f"; {samples['count']} samples, the output is sample {samples['main']}"
    if spread["median"] is not None:
        text += f"; spread of the fills {spread['median']:.2f} stops median, {spread['max']:.2f} max"
    return text


def _batch_outputs(photos: list[Path], out: Path, *, samples: int = 1) -> list[tuple[Path, dict[str, Path]]]:
    """``OUT/NAME.exr`` (and its companions) for each photo; no two photos may write one file (two of a
    NAME, or, with samples, e.g. ``p.png`` and ``p.sample-1.png``)."""
    from glowgan import hdrio
    from glowgan.itm_outputs import output_paths

    if hdrio.is_hdr_path(out) or out.is_file():
        raise ValueError(f"{out}: with several photos, a folder or a list, --out is a folder (e.g. --out results/)")
    jobs, writers = [], {}
    for photo in photos:
        if photo.stem == Path(SUMMARY_NAME).stem:
            raise ValueError(f"{photo}: its record would overwrite the batch's {SUMMARY_NAME}; rename the photo")
        paths = output_paths(out / f"{photo.stem}.exr", samples=samples)
        for path in paths.values():
            if writers.setdefault(path.name, photo) != photo:
                raise ValueError(f"{writers[path.name]} and {photo} would both write {path}; rename one")
        jobs.append((photo, paths))
    return jobs


def _invert_group(items, *, progress, batch_outputs=(), **loaded) -> list:
    """Invert the photos of ``items`` ([(photo path, output paths)]) side by side, ``samples`` times each, and
    write each one's files (the JSON last: its presence means complete). Returns per photo its record, or
    the error that stopped it: a photo that cannot be read, or whose inversion fails when retried alone,
    does not stop the others (a record of a photo retried alone says why, under ``retried_alone``). ``batch_outputs``: every path that the batch writes, which the clean-up of an
    earlier run's files spares. ``loaded``: the networks and settings of :func:`run_itm`."""
    from glowgan import hdrio
    from glowgan.itm_samples import invert_samples_of

    generator, config, options, samples = loaded["generator"], loaded["config"], loaded["options"], loaded["samples"]

    outcomes: list = [None] * len(items)
    photos = {}
    for index, (photo_path, _) in enumerate(items):
        try:
            photos[index] = hdrio.read_ldr(photo_path)
        except Exception as error:  # noqa: BLE001 - reported per photo
            outcomes[index] = _without_traceback(error)
    readable = list(photos)
    failure = None
    try:
        found = invert_samples_of(
            generator,
            config,
            [photos[index] for index in readable],
            samples=samples,
            options=options,
            initial=loaded["initial"],
            perceptual=loaded["network"],
            clip_levels=loaded["clip_levels"],
            progress=progress,
        ) if readable else []
    except Exception as error:  # noqa: BLE001 - one photo's failure must not take the others with it
        failure = _without_traceback(error)  # its frames hold the batch's tensors: let them go before any retry
    if failure is not None:
        if len(readable) == 1:
            outcomes[readable[0]] = failure
            return outcomes
        print(f"warning: the batch of {len(readable)} photos failed ({type(failure).__name__}: {failure}); "
              "inverting each photo alone")
        for index in readable:
            outcomes[index] = _invert_group([items[index]], progress=progress, batch_outputs=batch_outputs, **loaded)[0]
            if isinstance(outcomes[index], dict):  # for the summary: its batch failed, it stood alone
                outcomes[index]["retried_alone"] = f"{type(failure).__name__}: {failure}"
        return outcomes
    for index, samples_found in zip(readable, found):
        photo_path, paths = items[index]
        try:
            outcomes[index] = _write_outputs(
                photo_path, paths, photos[index], samples_found, options=options, samples=samples, encoder=loaded["encoder"],
                ckpt=loaded["ckpt"], batch_outputs=batch_outputs,
            )
        except Exception as error:  # noqa: BLE001 - e.g. a full disk for this photo's files
            outcomes[index] = _without_traceback(error)
    return outcomes


def _without_traceback(error: Exception) -> Exception:
    """``error`` without the frames it holds (a failed batch's tensors), to keep and report."""
    return error.with_traceback(None)


def _write_outputs(photo_path, paths, photo, found, *, options, samples, encoder, ckpt, batch_outputs) -> dict:
    """Write one photo's result files and its JSON record (last); returns the record."""
    import json
    import os

    from glowgan import hdrio
    from glowgan.itm_outputs import SPREAD_PICTURE_MAX_STOPS, preview_sheet, result_record, spread_picture

    stale = _stale_outputs(paths, {*paths.values(), photo_path, *batch_outputs})
    result = found.main
    preview = preview_sheet(photo, result)
    # the photo's path relative to the JSON, so a folder moved with its inputs still pairs them (glowgan view)
    input_path = os.path.relpath(photo_path.resolve(), paths["json"].resolve().parent)
    record = result_record(result, input_path=input_path, options=options)
    record["encoder"] = str(encoder) if encoder is not None else None
    record["checkpoint"] = str(ckpt)
    if samples > 1:
        files = [paths[f"sample-{k}"].name for k in range(1, samples + 1)]
        record["samples"] = {**found.record(), "files": files, "spread_picture_stops": [0.0, SPREAD_PICTURE_MAX_STOPS]}
        for k, sample in enumerate(found.results, start=1):
            hdrio.write_hdr(paths[f"sample-{k}"], sample.hdr)
        hdrio.write_hdr(paths["spread"], found.spread)
        hdrio.write_ldr(paths["spread_picture"], spread_picture(photo, result, found.spread))
    hdrio.write_hdr(paths["hdr"], result.hdr)
    hdrio.write_ldr(paths["mask"], result.mask)
    hdrio.write_ldr(paths["preview"], preview)
    hdrio.write_text(paths["json"], json.dumps(record, indent=2) + "\n")
    for path in stale:  # an earlier run's extra samples and spread, now that the new record is complete
        try:
            path.unlink(missing_ok=True)
        except OSError as error:  # e.g. a folder of that name: the result stands, the file stays
            print(f"warning: could not remove {path}, an earlier run's output: {error}")
    return record


def _stale_outputs(paths: dict, kept: set) -> list:
    """The sample and spread files that the record already at ``paths["json"]`` (an earlier run with more
    samples) names, beside it, and that are not in ``kept`` (what this run reads and writes: a photo of the
    batch called ``NAME.sample-3`` keeps its own output). Only names of the form ``NAME.sample-K.EXT`` and
    ``NAME.spread.EXT`` are taken, whatever the record says."""
    import json
    import re

    from glowgan.itm_outputs import HDR_SUFFIXES

    try:
        previous = json.loads(paths["json"].read_text())
    except (OSError, ValueError):
        return []
    names = previous.get("samples", {}).get("files", []) if isinstance(previous, dict) else []
    if not isinstance(names, list) or not names:
        return []
    stem = paths["hdr"].with_suffix("").name
    suffixes = "|".join(re.escape(suffix) for suffix in HDR_SUFFIXES)
    sample = re.compile(rf"{re.escape(stem)}\.sample-[0-9]+({suffixes})", re.IGNORECASE)
    spreads = [f"{stem}.spread{suffix}" for suffix in (*HDR_SUFFIXES, ".png")]
    names = [name for name in names if isinstance(name, str) and sample.fullmatch(name)] + spreads
    folder, kept = paths["json"].parent, {path.resolve() for path in kept}
    return [folder / name for name in names if (folder / name).resolve() not in kept]


def _done_before(paths: dict, options, samples, encoder, ckpt) -> dict | None:
    """The record of a photo whose outputs all exist, made with the same options, number of samples,
    encoder and checkpoint."""
    import json
    from dataclasses import asdict

    if not all(path.is_file() for path in paths.values()):
        return None
    try:
        record = json.loads(paths["json"].read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    same = (
        record.get("options") == json.loads(json.dumps(asdict(options)))
        and record.get("encoder") == (str(encoder) if encoder is not None else None)
        and record.get("checkpoint") == str(ckpt)
        and record.get("samples", {"count": 1}).get("count") == samples
    )
    return record if same else None


def _run_batch(jobs, out: Path, *, load_seconds: float, batch: int, **loaded) -> int:
    """Invert every photo once (skipping those done before), ``batch`` photos side by side at a time,
    keeping ``OUT/summary.json`` up to date."""
    import sys
    import time
    from dataclasses import asdict

    from tqdm import tqdm

    summary: dict = {
        "checkpoint": str(loaded["ckpt"]),
        "encoder": str(loaded["encoder"]) if loaded["encoder"] is not None else None,
        "options": asdict(loaded["options"]),
        **({"samples": loaded["samples"]} if loaded["samples"] > 1 else {}),
        "batch": batch,
        "load_seconds": load_seconds,
        "photos": [],
        "failed": [],
    }
    started = time.perf_counter()
    inverted = 0
    written = {path for photo, paths in jobs for path in (photo, *paths.values())}  # spared by the clean-up
    done = [_done_before(paths, loaded["options"], loaded["samples"], loaded["encoder"], loaded["ckpt"]) for _, paths in jobs]
    pending = [index for index, record in enumerate(done) if record is None]
    groups = [pending[first : first + batch] for first in range(0, len(pending), batch)]
    with tqdm(total=len(jobs), unit="photo", desc="itm") as bar:
        bar.update(len(jobs) - len(pending))
        outcomes: dict[int, object] = {}
        for group in groups:
            bar.set_postfix_str(jobs[group[0]][0].name + (f" +{len(group) - 1}" if len(group) > 1 else ""))
            found = _invert_group([jobs[index] for index in group], progress=False, batch_outputs=written, **loaded)
            outcomes.update(zip(group, found))
            bar.update(len(group))
            inverted += sum(not isinstance(outcome, Exception) for outcome in found)
            _summarise(summary, jobs, done, outcomes)
            _write_summary(out, summary, started, inverted)
    _summarise(summary, jobs, done, outcomes)
    path = _write_summary(out, summary, started, inverted)
    skipped = len(jobs) - len(pending)
    rate = summary["photos_per_minute"]
    print(
        f"{inverted} photos inverted, {skipped} skipped (done before), {len(summary['failed'])} failed"
        + (f"; {rate:.2f} photos/min" if rate is not None else "")
        + f"; summary: {path}"
    )
    for failure in summary["failed"]:
        print(f"failed: {failure['input']}: {failure['error']}", file=sys.stderr)
    return 1 if summary["failed"] else 0


def _summarise(summary: dict, jobs, done: list, outcomes: dict) -> None:
    """The summary's photo and failure lists, in the batch's order: the photos done before, and those
    inverted (or failed) so far."""
    summary["photos"], summary["failed"] = [], []
    for index, (photo_path, paths) in enumerate(jobs):
        record, status = done[index], "skipped: done before"
        if record is None:
            record, status = outcomes.get(index), "done"
        if isinstance(record, Exception):
            summary["failed"].append({"input": str(photo_path), "error": f"{type(record).__name__}: {record}"})
        elif record is not None:
            summary["photos"].append(
                {
                    "input": str(photo_path),
                    "status": status,
                    "outputs": {key: path.name for key, path in paths.items()},
                    "seconds": sum(record["seconds"].values()),
                    "final_latent_loss": record["final_latent_loss"],
                    "final_tune_loss": record["final_tune_loss"],
                    "camera": record["camera"],
                    **({"spread_stops": record["samples"]["spread_stops"]} if "samples" in record else {}),
                    **({"retried_alone": record["retried_alone"]} if "retried_alone" in record else {}),
                }
            )


def _write_summary(out: Path, summary: dict, started: float, inverted: int) -> Path:
    import json
    import time

    from glowgan import hdrio

    minutes = (time.perf_counter() - started) / 60
    summary["inverted"] = inverted
    summary["photos_per_minute"] = inverted / minutes if inverted and minutes > 0 else None
    path = out / SUMMARY_NAME
    hdrio.write_text(path, json.dumps(summary, indent=2) + "\n")
    return path


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
