import dataclasses
import json

import numpy as np
import pytest
import torch

from glowgan import hdrio
from glowgan.camera import CameraParams, CameraPrior, render
from glowgan.data import world
from glowgan.data.stats import dataset_stats, exposure_counts
from glowgan.data.synth import (
    MANIFEST_NAME,
    MID_GREY,
    SynthSpec,
    default_camera,
    image_seeds,
    meter_stops,
    photograph,
    read_manifest,
    synthesize,
)

SMALL = dict(height=12, width=24)


def _files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _mtimes(root):
    return {p.relative_to(root).as_posix(): p.stat().st_mtime_ns for p in sorted(root.rglob("*.*")) if p.is_file()}


@pytest.mark.parametrize("family", world.FAMILIES)
def test_manifest_camera_reproduces_each_png_from_its_exr(tmp_path, family):
    report = synthesize(tmp_path, SynthSpec(family=family, count=5, **SMALL), progress=False)
    assert (report.rendered, report.reused, report.count) == (5, 0, 5)
    header, records = read_manifest(tmp_path)
    assert header["spec"]["family"] == family
    assert [r["index"] for r in records] == list(range(5))
    for record in records:
        hdr = hdrio.read_hdr(tmp_path / record["hdr"])  # [H, W, 3]
        ldr = hdrio.read_ldr(tmp_path / record["ldr"])
        assert hdr.shape == ldr.shape == (12, 24, 3)
        camera = CameraParams.from_records([record["camera"]])
        again = render(torch.from_numpy(hdr).permute(2, 0, 1)[None], camera)[0].permute(1, 2, 0).numpy()
        assert np.abs(again - ldr).max() <= 0.5 / 255 + 1e-6
        assert record["camera"]["exposure_stops"] == pytest.approx(record["meter_stops"] + record["offset_stops"])
        assert record["seed"] == image_seeds(0, record["index"])[0]


def test_same_spec_gives_the_same_bytes(tmp_path):
    spec = SynthSpec(family="sky", count=4, seed=7, **SMALL)
    synthesize(tmp_path / "a", spec, progress=False)
    synthesize(tmp_path / "b", spec, progress=False)
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    synthesize(tmp_path / "c", dataclasses.replace(spec, seed=8), progress=False)
    assert _files(tmp_path / "a")["ldr/000000.png"] != _files(tmp_path / "c")["ldr/000000.png"]


def test_a_smaller_count_is_a_prefix_and_batches_do_not_matter(tmp_path):
    synthesize(tmp_path / "few", SynthSpec(family="night", count=3, **SMALL), progress=False)
    synthesize(tmp_path / "many", SynthSpec(family="night", count=7, **SMALL), batch_size=2, workers=1, progress=False)
    few, many = read_manifest(tmp_path / "few")[1], read_manifest(tmp_path / "many")[1][:3]
    for a, b in zip(few, many, strict=True):
        # Other batch companions: the same images up to float rounding (see glowgan.data.world).
        assert (a["seed"], a["camera_seed"], a["ldr"], a["hdr"]) == (b["seed"], b["camera_seed"], b["ldr"], b["hdr"])
        assert a["camera"]["gamma"] == b["camera"]["gamma"] and a["camera"]["beta"] == b["camera"]["beta"]
        assert a["camera"]["exposure_stops"] == pytest.approx(b["camera"]["exposure_stops"], abs=1e-5)
        np.testing.assert_allclose(
            hdrio.read_hdr(tmp_path / "few" / a["hdr"]), hdrio.read_hdr(tmp_path / "many" / b["hdr"]), rtol=1e-5
        )
        ldr_a = hdrio.read_ldr(tmp_path / "few" / a["ldr"])
        ldr_b = hdrio.read_ldr(tmp_path / "many" / b["ldr"])
        assert np.abs(ldr_a - ldr_b).max() <= 1.5 / 255 and np.mean(ldr_a != ldr_b) < 0.01


def test_rerun_resumes_without_redoing_work(tmp_path):
    spec = SynthSpec(family="sky", count=4, **SMALL)
    synthesize(tmp_path, spec, progress=False)
    before = _mtimes(tmp_path / "ldr") | _mtimes(tmp_path / "hdr")
    report = synthesize(tmp_path, spec, progress=False)
    assert (report.rendered, report.reused) == (0, 4)
    assert _mtimes(tmp_path / "ldr") | _mtimes(tmp_path / "hdr") == before
    report = synthesize(tmp_path, dataclasses.replace(spec, count=6), progress=False)
    assert (report.rendered, report.reused) == (2, 4)
    after = _mtimes(tmp_path / "ldr") | _mtimes(tmp_path / "hdr")
    assert {k: after[k] for k in before} == before
    assert len(read_manifest(tmp_path)[1]) == 6


def test_interrupted_run_is_completed_consistently(tmp_path):
    spec = SynthSpec(family="window", count=4, **SMALL)
    synthesize(tmp_path / "clean", spec, progress=False)
    synthesize(tmp_path / "cut", spec, progress=False)
    # Simulate a kill: a lost image file and a half-written manifest line.
    (tmp_path / "cut" / "ldr" / "000002.png").unlink()
    with open(tmp_path / "cut" / MANIFEST_NAME, "a") as f:
        f.write('{"index": 3, "se')
    report = synthesize(tmp_path / "cut", spec, progress=False)
    assert report.rendered == 1
    cut, clean = _files(tmp_path / "cut"), _files(tmp_path / "clean")
    assert cut.pop(MANIFEST_NAME) != clean.pop(MANIFEST_NAME)  # records in another order...
    assert cut == clean
    header, records = read_manifest(tmp_path / "cut")
    assert header == read_manifest(tmp_path / "clean")[0]
    assert sorted(records, key=lambda r: r["index"]) == read_manifest(tmp_path / "clean")[1]  # ...but the same


@pytest.mark.parametrize(
    "change",
    [dict(family="night"), dict(height=10), dict(seed=1), dict(metering="mean-log"), dict(jpeg_quality=90), dict(world_version=1)],
)
def test_different_settings_into_the_same_folder_are_refused(tmp_path, change):
    spec = SynthSpec(family="sky", count=2, **SMALL)
    synthesize(tmp_path, spec, progress=False)
    with pytest.raises(ValueError, match="different settings"):
        synthesize(tmp_path, dataclasses.replace(spec, **change), progress=False)


def test_other_refusals(tmp_path):
    spec = SynthSpec(family="sky", count=3, **SMALL)
    synthesize(tmp_path / "set", spec, progress=False)
    camera = dataclasses.replace(default_camera("sky"), exposure_std_stops=2.0)
    with pytest.raises(ValueError, match=r"camera.exposure_std_stops 1.0 there, 2.0 now"):
        synthesize(tmp_path / "set", dataclasses.replace(spec, camera=camera), progress=False)
    with pytest.raises(ValueError, match="more than the 2 asked for"):
        synthesize(tmp_path / "set", dataclasses.replace(spec, count=2), progress=False)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty"):
        synthesize(tmp_path / "other", spec, progress=False)
    with pytest.raises(ValueError, match="quantize_bits=8"):
        SynthSpec(family="sky", count=1, camera=CameraPrior(), **SMALL)
    with pytest.raises(ValueError, match="unknown scene family"):
        SynthSpec(family="city", count=1, **SMALL)


def test_jpeg_output(tmp_path):
    synthesize(tmp_path, SynthSpec(family="sky", count=2, jpeg_quality=80, **SMALL), progress=False)
    assert sorted(p.name for p in (tmp_path / "ldr").iterdir()) == ["000000.jpg", "000001.jpg"]
    assert hdrio.read_ldr(tmp_path / "ldr" / "000000.jpg").shape == (12, 24, 3)


def test_photograph_does_not_depend_on_the_batch():
    hdr = world.render_scenes("sky", [1, 2, 3], height=16, width=32)
    camera = default_camera("sky")
    codes, params, meter = photograph(hdr, [10, 20, 30], camera=camera)
    alone, alone_params, _ = photograph(hdr[1:2], [20], camera=camera)
    assert codes.dtype == np.uint8 and codes.shape == (3, 16, 32, 3)
    assert np.array_equal(codes[1], alone[0])
    assert params.exposure_stops[1] == alone_params.exposure_stops[0]
    assert not np.array_equal(codes[0], photograph(hdr[:1], [21], camera=camera)[0][0])


def test_noisy_camera_is_reproducible_from_the_noise_seed(tmp_path):
    camera = CameraPrior(crf="gamma", quantize_bits=8, read_noise=0.01, exposure_mean_stops=-1.0)
    synthesize(tmp_path, SynthSpec(family="sky", count=2, camera=camera, **SMALL), progress=False)
    record = read_manifest(tmp_path)[1][1]
    hdr = torch.from_numpy(hdrio.read_hdr(tmp_path / record["hdr"])).permute(2, 0, 1)[None]
    params = CameraParams.from_records([record["camera"]])
    ldr = hdrio.read_ldr(tmp_path / record["ldr"])
    again = render(hdr, params, rng=torch.Generator().manual_seed(record["noise_seed"]))
    assert np.abs(again[0].permute(1, 2, 0).numpy() - ldr).max() <= 0.5 / 255 + 1e-6
    assert np.abs(render(hdr, params)[0].permute(1, 2, 0).numpy() - ldr).max() > 1 / 255  # noise is there


@pytest.mark.parametrize("metering", ["mean-log", "median"])
def test_metering_brings_the_key_to_mid_grey(metering):
    hdr = np.full((2, 4, 6, 3), 0.5, dtype=np.float32)
    hdr[1] *= 8.0
    np.testing.assert_allclose(meter_stops(hdr, metering=metering), np.log2(MID_GREY / np.array([0.5, 4.0])))
    mixed = np.concatenate([np.full((1, 2, 6, 3), 1.0), np.full((1, 2, 6, 3), 4.0)], axis=1).astype(np.float32)
    assert meter_stops(mixed, metering="mean-log")[0] == pytest.approx(np.log2(MID_GREY / 2.0))


def test_default_sky_collection_is_exposed_like_real_photos():
    seeds = [image_seeds(0, i) for i in range(128)]
    hdr = world.render_scenes("sky", [s[0] for s in seeds], height=32, width=64)
    codes, _, _ = photograph(hdr, [s[1] for s in seeds], camera=default_camera("sky"))
    over, under = exposure_counts(codes)
    pixels = codes.size // 3
    # GlowGAN's landscape set: 2.5 % over-, 9.2 % under-exposed pixels.
    assert 0.01 < over / pixels < 0.05
    assert 0.05 < under / pixels < 0.15


def test_reported_fractions_match_data_stats(tmp_path):
    report = synthesize(tmp_path, SynthSpec(family="night", count=6, **SMALL), progress=False)
    stats = dataset_stats(tmp_path, progress=False)
    assert stats["over_fraction"] == pytest.approx(report.over_fraction)
    assert stats["under_fraction"] == pytest.approx(report.under_fraction)
    assert stats["synthetic"]["hdr_dynamic_range_median_stops"] == pytest.approx(report.dynamic_range_median_stops)
    assert (
        json.loads((tmp_path / MANIFEST_NAME).read_text().split("\n")[0])["spec"]["world_version"]
        == world.WORLD_VERSION
    )


def test_a_mixture_of_cameras_is_recorded_per_photo_and_reproduces_each_png(tmp_path):
    camera = dataclasses.replace(default_camera("sky"), crf="srgb,filmic,pca,glowgan", gamma_mean=None, gamma_std=None,
                                 beta_mean=None, beta_std=None)
    synthesize(tmp_path, SynthSpec(family="sky", count=12, camera=camera, **SMALL), progress=False)
    header, records = read_manifest(tmp_path)
    assert header["spec"]["camera"]["crf"] == "srgb,filmic,pca,glowgan"
    assert {r["camera"]["crf"] for r in records} == {"srgb", "filmic", "pca", "glowgan"}
    cameras = CameraParams.from_records([r["camera"] for r in records])
    hdr = torch.stack([torch.from_numpy(hdrio.read_hdr(tmp_path / r["hdr"])).permute(2, 0, 1) for r in records])
    ldr = np.stack([hdrio.read_ldr(tmp_path / r["ldr"]) for r in records])
    again = render(hdr, cameras).permute(0, 2, 3, 1).numpy()
    assert np.abs(again - ldr).max() <= 0.5 / 255 + 1e-6


def test_world_version_is_part_of_the_set_and_old_versions_still_render(tmp_path):
    old = SynthSpec(family="sky", count=2, world_version=1, **SMALL)
    synthesize(tmp_path / "v1", old, progress=False)
    assert read_manifest(tmp_path / "v1")[0]["spec"]["world_version"] == 1
    synthesize(tmp_path / "v2", dataclasses.replace(old, world_version=2), progress=False)
    assert _files(tmp_path / "v1")["hdr/000000.exr"] != _files(tmp_path / "v2")["hdr/000000.exr"]
    assert SynthSpec(family="sky", count=1, **SMALL).world_version == world.WORLD_VERSION
    with pytest.raises(ValueError, match="unknown world version"):
        SynthSpec(family="sky", count=1, world_version=7, **SMALL)


def test_a_set_written_before_curve_mixtures_existed_is_resumed(tmp_path):
    """Manifests from before ``pca_spread`` existed lack it in their camera; they are the same set."""
    spec = SynthSpec(family="sky", count=2, **SMALL)
    synthesize(tmp_path, spec, progress=False)
    path = tmp_path / "manifest.jsonl"
    lines = path.read_text().splitlines()
    header = json.loads(lines[0])
    del header["spec"]["camera"]["pca_spread"]
    path.write_text("\n".join([json.dumps(header, sort_keys=True), *lines[1:]]) + "\n")
    report = synthesize(tmp_path, dataclasses.replace(spec, count=3), progress=False)
    assert (report.reused, report.rendered) == (2, 1)
