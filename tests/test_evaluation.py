import numpy as np
import pytest

from glowgan.baselines import get_baseline
from glowgan.evaluation import HeldOutPhoto, by_light, evaluate_methods, format_table, held_out_photos, score, summarise


@pytest.fixture(scope="module")
def photos():
    return held_out_photos("sky", range(12), size=(16, 32))


def test_held_out_photos_clip_and_are_deterministic(photos):
    assert photos and all(p.clipped.mean() >= 0.002 for p in photos)
    again = held_out_photos("sky", [photos[0].seed], size=(16, 32))[0]
    np.testing.assert_array_equal(again.ldr, photos[0].ldr)
    for photo in photos:  # clipped: saturated in the photo, which includes every pixel at the clip level
        assert (photo.ldr.max(axis=-1)[photo.clipped] == 1.0).all()
        assert (photo.hdr.max(axis=-1)[~photo.clipped] < 1.0).all()


def test_scores_reward_the_truth_and_punish_the_clip(photos):
    photo = photos[0]
    perfect = score(3.0 * photo.hdr, photo)  # any exposure: the alignment removes it
    assert perfect["pu21_psnr"] > 80 and perfect["clipped_rmse_stops"] < 1e-4
    trivial = score(get_baseline("trivial")(photo.ldr), photo)
    assert trivial["pu21_psnr_clipped"] < perfect["pu21_psnr_clipped"] - 10
    assert trivial["clipped_bias_stops"] < 0  # highlights left at the clip level are too dark
    brighter = photo.ldr.astype(np.float64).copy()
    brighter[photo.clipped] = 8.0
    assert score(brighter, photo)["clipped_bias_stops"] > trivial["clipped_bias_stops"]
    with pytest.raises(ValueError, match="shape"):
        score(photo.hdr[:8], photo)


def test_evaluate_methods_summary_and_table(photos):
    methods = {"trivial": get_baseline("trivial"), "truth": lambda ldr: next(p.hdr for p in photos if p.ldr is ldr)}
    results = evaluate_methods(methods, photos[:3], progress=False)
    assert len(results["trivial"]["pu21_psnr"]) == 3
    summary = summarise(results)
    assert summary["truth"]["pu21_psnr"] == 100.0  # inf capped
    table = format_table(summary)
    assert table.count("\n") == 3 and "| truth |" in table


def _photo_clipping_at(level: float) -> HeldOutPhoto:
    hdr = np.full((4, 8, 3), 0.5, np.float32)
    hdr[1:3, 2:4] = level  # the clipped region's truth, ``level`` times the clip level
    return HeldOutPhoto(0, np.minimum(hdr, 1.0), hdr, hdr.max(axis=-1) >= 1.0)


def test_scores_split_by_the_light_the_clipped_region_hides():
    sun, sky, lamp = _photo_clipping_at(8.0), _photo_clipping_at(1.5), _photo_clipping_at(2.0)
    assert sun.light_stops == pytest.approx(3.0) and sky.light_stops == pytest.approx(np.log2(1.5))
    results = {"m": {"pu21_psnr_clipped": [10.0, 20.0, 30.0], "seconds": [1.0, 2.0, 3.0]}}
    kinds = by_light(results, [sun, sky, lamp])
    assert kinds == {
        "with a light": {"m": {"pu21_psnr_clipped": [10.0, 30.0], "seconds": [1.0, 3.0]}},  # 2x the clip is 1 stop
        "without": {"m": {"pu21_psnr_clipped": [20.0], "seconds": [2.0]}},
    }
    assert list(by_light({"m": {"seconds": [1.0]}}, [sun])) == ["with a light"]


def test_light_scores_are_exact_for_the_truth_and_low_for_the_clip(photos):
    photo = photos[0]
    assert photo.panorama  # sky at 2:1
    perfect = score(3.0 * photo.hdr, photo)
    assert abs(perfect["clipped_energy_stops"]) < 1e-4 and perfect["irradiance_rms_stops"] < 1e-4
    assert abs(perfect["clipped_peak_stops"]) < 1e-4
    assert perfect["clipped_hue_degrees"] < 1e-3
    assert {f"irradiance_stops_{axis}" for axis in ("+x", "-x", "+y", "-y", "+z", "-z")} <= set(perfect)
    trivial = score(get_baseline("trivial")(photo.ldr), photo)
    assert trivial["clipped_energy_stops"] < -1  # a sun left at the clip level lacks most of its light
    assert trivial["clipped_peak_stops"] < trivial["clipped_energy_stops"] < 0  # its core most of all
    assert trivial["irradiance_rms_stops"] > 0.05
    summary = summarise(evaluate_methods({"trivial": get_baseline("trivial")}, photos[:2], progress=False))
    assert "clipped energy st" in format_table(summary) and "irradiance RMS st" in format_table(summary)
    assert "clipped hue °" in format_table(summary) and "clipped peak st" in format_table(summary)


def test_photos_that_are_not_panoramas_get_no_irradiance_score():
    square = held_out_photos("sky", range(12), size=(16, 16))[0]
    assert not square.panorama
    scores = score(get_baseline("trivial")(square.ldr), square)
    assert "irradiance_rms_stops" not in scores and "clipped_energy_stops" in scores
    table = format_table(summarise({"trivial": {key: [value] for key, value in scores.items()} | {"seconds": [0.0]}}))
    assert "n/a" in table


def test_held_out_photos_can_be_shot_with_a_curve_the_model_never_assumed():
    """The same scenes through the default (glowgan) camera and through sRGB: same radiance, other
    photos, and each photo carries the camera that took it."""
    import torch

    from glowgan.camera import render
    from glowgan.data.synth import default_camera
    srgb = default_camera("sky").component("srgb")
    default = held_out_photos("sky", range(12), size=(8, 16))
    other = held_out_photos("sky", range(12), size=(8, 16), camera=srgb)
    assert {p.camera.crf for p in default} == {"glowgan"} and {p.camera.crf for p in other} == {"srgb"}
    for photo in other:
        again = render(torch.from_numpy(photo.hdr).permute(2, 0, 1)[None], photo.camera.shifted(-photo.camera.exposure_stops))
        assert np.abs(again[0].permute(1, 2, 0).numpy() - photo.ldr).max() <= 0.5 / 255 + 1e-6
