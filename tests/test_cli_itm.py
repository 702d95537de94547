"""`glowgan itm` on several photos, a folder or a list: one load, resumable, one summary, failures listed;
and several solutions per photo (--samples)."""

import json

import numpy as np
import pytest
import torch

from glowgan import hdrio
from glowgan.checkpoint import build_generator, save_checkpoint
from glowgan.cli import main
from glowgan.config import load_config
from glowgan.invert import InversionOptions, invert_photo
from glowgan.itm_photo import photo_tensor, saturation_mask

TINY = ["model.resolution=[16, 32]", "model.z_dim=8", "model.w_dim=8", "model.g_channel_base=64", "model.g_channel_max=8"]
QUICK = ["--steps", "3", "--tune-steps", "1", "--loss", "pixel"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    config = load_config(preset="cpu-32x64", overrides=TINY)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "g.pt"
    save_checkpoint(path, {"config": config.to_dict(), "G_ema": build_generator(config).state_dict()})
    return path


def _photos(folder, count):
    rng = np.random.default_rng(0)
    for index in range(count):
        photo = rng.uniform(0.1, 0.9, (16, 24, 3)).astype(np.float32)
        photo[4:8, 10:16] = 1.0
        hdrio.write_ldr(folder / f"p{index}.png", photo)
    return folder


def test_a_folder_is_inverted_once_and_resumed(checkpoint, tmp_path, capsys, monkeypatch):
    photos = _photos(tmp_path / "photos", 3)
    (photos / "notes.txt").write_text("not a photo\n")  # ignored: not an image
    out = tmp_path / "out"
    loads = []
    import glowgan.checkpoint

    real_load = glowgan.checkpoint.load_generator
    monkeypatch.setattr(glowgan.checkpoint, "load_generator", lambda *a, **k: loads.append(1) or real_load(*a, **k))
    assert main(["itm", str(photos), "--ckpt", str(checkpoint), "--out", str(out), *QUICK]) == 0
    assert len(loads) == 1  # the generator is loaded once for the batch
    assert "3 photos inverted, 0 skipped" in capsys.readouterr().out
    for name in ("p0", "p1", "p2"):
        assert hdrio.read_hdr(out / f"{name}.exr").shape == (16, 24, 3)
        assert {"camera", "final_tune_loss"} <= set(json.loads((out / f"{name}.json").read_text()))
        assert (out / f"{name}.mask.png").is_file() and (out / f"{name}.preview.png").is_file()
    summary = json.loads((out / "summary.json").read_text())
    assert [photo["status"] for photo in summary["photos"]] == ["done"] * 3 and summary["failed"] == []
    first = summary["photos"][0]
    assert first["outputs"]["hdr"] == "p0.exr" and first["seconds"] > 0 and {"exposure_stops", "gamma"} <= set(first["camera"])
    assert first["final_latent_loss"] is not None and summary["photos_per_minute"] > 0

    (out / "p1.preview.png").unlink()  # an incomplete photo is done again, complete ones are skipped
    before = (out / "p0.exr").stat().st_mtime_ns
    assert main(["itm", str(photos), "--ckpt", str(checkpoint), "--out", str(out), *QUICK]) == 0
    assert "1 photos inverted, 2 skipped" in capsys.readouterr().out
    assert (out / "p0.exr").stat().st_mtime_ns == before and (out / "p1.preview.png").is_file()
    statuses = [photo["status"] for photo in json.loads((out / "summary.json").read_text())["photos"]]
    assert statuses == ["skipped: done before", "done", "skipped: done before"]
    # other settings: nothing counts as done
    assert main(["itm", str(photos), "--ckpt", str(checkpoint), "--out", str(out), *QUICK, "--seed", "1"]) == 0
    assert "3 photos inverted, 0 skipped" in capsys.readouterr().out
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_a_list_and_several_files_with_a_failure_that_does_not_stop_the_batch(checkpoint, tmp_path, capsys):
    photos = _photos(tmp_path / "photos", 2)
    (photos / "broken.png").write_bytes(b"not a png")
    listing = tmp_path / "list.txt"
    listing.write_text("# photos\nphotos/p0.png\n\nphotos/broken.png\nphotos/p1.png\n")
    out = tmp_path / "out"
    assert main(["itm", str(listing), "--ckpt", str(checkpoint), "--out", str(out), *QUICK]) == 1
    captured = capsys.readouterr()
    assert "2 photos inverted, 0 skipped" in captured.out and "1 failed" in captured.out and "broken.png" in captured.err
    summary = json.loads((out / "summary.json").read_text())
    assert [photo["input"].rsplit("/", 1)[-1] for photo in summary["photos"]] == ["p0.png", "p1.png"]
    assert summary["failed"][0]["input"].endswith("broken.png") and summary["failed"][0]["error"]
    assert not (out / "broken.exr").exists()
    two = tmp_path / "two"
    assert main(["itm", str(photos / "p0.png"), str(photos / "p1.png"), "--ckpt", str(checkpoint), "--out", str(two), *QUICK]) == 0
    assert (two / "p0.exr").is_file() and (two / "p1.exr").is_file() and (two / "summary.json").is_file()


def test_photos_inverted_side_by_side_match_those_inverted_one_at_a_time(checkpoint, tmp_path, capsys):
    photos = _photos(tmp_path / "photos", 3)
    runs = {}
    for batch in (1, 2):
        out = tmp_path / f"batch{batch}"
        assert main(["itm", str(photos), "--ckpt", str(checkpoint), "--out", str(out), *QUICK, "--batch", str(batch)]) == 0
        assert json.loads((out / "summary.json").read_text())["batch"] == batch
        runs[batch] = out
    assert "3 photos inverted" in capsys.readouterr().out
    for name, batch_size in (("p0", 2), ("p1", 2), ("p2", 1)):  # p2 is the second batch's only photo
        assert json.loads((runs[2] / f"{name}.json").read_text())["batch_size"] == batch_size
        assert json.loads((runs[1] / f"{name}.json").read_text())["batch_size"] == 1
        np.testing.assert_allclose(hdrio.read_hdr(runs[2] / f"{name}.exr"), hdrio.read_hdr(runs[1] / f"{name}.exr"), rtol=1e-3)


def test_a_photo_that_fails_in_a_batch_is_retried_alone_and_does_not_take_the_others_with_it(
    checkpoint, tmp_path, capsys, monkeypatch
):
    photos = _photos(tmp_path / "photos", 2)
    hdrio.write_ldr(photos / "p1.png", np.ones((16, 24, 3), np.float32))  # this one fails
    import glowgan.itm_samples

    real = glowgan.itm_samples.invert_samples_of
    calls = []

    def failing_on_white(generator, config, photos_ldr, **kwargs):
        calls.append(len(photos_ldr))
        if any(photo.min() == 1.0 for photo in photos_ldr):
            raise ValueError("a white photo")
        return real(generator, config, photos_ldr, **kwargs)

    monkeypatch.setattr(glowgan.itm_samples, "invert_samples_of", failing_on_white)
    out = tmp_path / "out"
    assert main(["itm", str(photos), "--ckpt", str(checkpoint), "--out", str(out), *QUICK]) == 1
    assert calls == [2, 1, 1]  # the batch, then each photo alone
    captured = capsys.readouterr()
    assert "1 photos inverted, 0 skipped (done before), 1 failed" in captured.out
    assert "warning: the batch of 2 photos failed (ValueError: a white photo); inverting each photo alone" in captured.out
    assert "p1.png: ValueError: a white photo" in captured.err
    summary = json.loads((out / "summary.json").read_text())
    assert [photo["input"].rsplit("/", 1)[-1] for photo in summary["photos"]] == ["p0.png"]
    assert summary["photos"][0]["retried_alone"] == "ValueError: a white photo"
    assert (out / "p0.exr").is_file() and not (out / "p1.exr").exists()


def test_batch_errors_are_one_clear_line(checkpoint, tmp_path, capsys):
    photos = _photos(tmp_path / "photos", 1)
    (tmp_path / "other").mkdir()
    hdrio.write_ldr(tmp_path / "other" / "p0.jpg", np.full((16, 24, 3), 0.5, np.float32))
    (tmp_path / "empty").mkdir()
    hdrio.write_ldr(tmp_path / "summary.png", np.full((16, 24, 3), 0.5, np.float32))
    cases = [
        ([str(photos), "--out", str(tmp_path / "x.exr")], "--out is a folder"),
        ([str(photos), str(tmp_path / "other"), "--out", str(tmp_path / "o")], "would both write"),
        ([str(tmp_path / "empty"), "--out", str(tmp_path / "o")], "no photos"),
        ([str(tmp_path / "missing.jpg"), "--out", str(tmp_path / "o.exr")], "missing.jpg"),
        ([str(tmp_path / "summary.png"), str(photos / "p0.png"), "--out", str(tmp_path / "o")], "overwrite"),
    ]
    for extra, message in cases:
        assert main(["itm", *extra, "--ckpt", str(checkpoint), *QUICK]) == 2
        assert message in capsys.readouterr().err


def test_single_photo_mode_is_unchanged_and_records_the_wrap(checkpoint, tmp_path, capsys):
    photo = _photos(tmp_path, 1) / "p0.png"
    out = tmp_path / "r" / "p.exr"
    assert main(["itm", str(photo), "--ckpt", str(checkpoint), "--out", str(out), *QUICK, "--wrap"]) == 0
    assert "exposure" in capsys.readouterr().out
    assert sorted(p.name for p in out.parent.iterdir()) == ["p.exr", "p.json", "p.mask.png", "p.preview.png"]
    record = json.loads((tmp_path / "r" / "p.json").read_text())
    assert record["wrap"] is True and record["options"]["wrap"] is True
    assert main(["itm", str(photo), "--ckpt", str(checkpoint), "--out", str(out), *QUICK]) == 0
    assert json.loads((tmp_path / "r" / "p.json").read_text())["wrap"] is False  # a 3:2 photo: no wrap by default


def test_one_sample_is_the_single_inversion_byte_for_byte(checkpoint, tmp_path):
    from glowgan.checkpoint import load_generator

    photo = _photos(tmp_path, 1) / "p0.png"
    for name, extra in (("default", []), ("one", ["--samples", "1"])):
        assert main(["itm", str(photo), "--ckpt", str(checkpoint), "--out", str(tmp_path / name / "p.exr"), *QUICK, *extra]) == 0
    assert sorted(p.name for p in (tmp_path / "one").iterdir()) == ["p.exr", "p.json", "p.mask.png", "p.preview.png"]
    for name in ("p.exr", "p.mask.png", "p.preview.png"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "default" / name).read_bytes()
    assert "samples" not in json.loads((tmp_path / "one" / "p.json").read_text())
    generator, config = load_generator(checkpoint)
    options = InversionOptions(latent_steps=3, tune_steps=1, perceptual="pixel")  # QUICK
    direct = invert_photo(generator, config, hdrio.read_ldr(photo), options=options, progress=False)
    assert np.array_equal(hdrio.read_hdr(tmp_path / "one" / "p.exr"), direct.hdr)


def test_samples_write_each_fill_and_their_spread(checkpoint, tmp_path, capsys):
    photo = _photos(tmp_path, 1) / "p0.png"
    out = tmp_path / "r" / "p.exr"
    # the generator's colour: this tiny generator fills below the clip, which a neutral fill raises to the clip
    args = ["itm", str(photo), "--ckpt", str(checkpoint), "--out", str(out), *QUICK, "--samples", "2", "--fill", "generator"]
    assert main(args) == 0
    assert "2 samples, the output is sample" in capsys.readouterr().out
    folder = out.parent
    expected = ["p.exr", "p.json", "p.mask.png", "p.preview.png", "p.sample-1.exr", "p.sample-2.exr", "p.spread.exr", "p.spread.png"]
    assert sorted(p.name for p in folder.iterdir()) == expected  # no temporary files either
    fills = [hdrio.read_hdr(folder / f"p.sample-{k}.exr") for k in (1, 2)]
    record = json.loads((folder / "p.json").read_text())["samples"]
    losses = record["final_losses"]
    assert record["count"] == 2 and record["seeds"] == [0, 1] and record["main"] == 1 + int(losses[1] < losses[0])
    assert np.array_equal(hdrio.read_hdr(out), fills[record["main"] - 1])  # OUT is the lowest-loss fill
    spread = hdrio.read_hdr(folder / "p.spread.exr")[..., 0]  # one channel, read as grey
    filled = saturation_mask(photo_tensor(hdrio.read_ldr(photo)))[0, 0].numpy() > 0  # the photo's clipped block
    assert filled.sum() == 24 and (spread >= 0).all()
    assert (spread[~filled] == 0).all() and spread[filled].max() > 0  # different starts give different fills
    logs = np.log2(np.stack(fills).mean(axis=3))
    assert np.allclose(spread[filled], logs.std(axis=0)[filled], atol=1e-5)
    summary = record["spread_stops"]
    assert summary["filled_pixels"] == 24 and summary["max"] == pytest.approx(float(spread.max()))
    assert summary["median"] == pytest.approx(float(np.median(spread[filled])))
    assert hdrio.read_ldr(folder / "p.spread.png").shape == (16, 24, 3)


def test_a_folder_with_samples_is_summarised_and_resumed(checkpoint, tmp_path, capsys):
    photos = _photos(tmp_path / "photos", 2)
    out = tmp_path / "out"
    args = ["itm", str(photos), "--ckpt", str(checkpoint), "--out", str(out), *QUICK, "--samples", "2"]
    assert main(args) == 0
    assert "2 photos inverted, 0 skipped" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["samples"] == 2
    for entry, name in zip(summary["photos"], ("p0", "p1")):
        assert entry["outputs"]["sample-2"] == f"{name}.sample-2.exr" and entry["outputs"]["spread_picture"] == f"{name}.spread.png"
        assert {"median", "max", "filled_pixels"} <= set(entry["spread_stops"]) and entry["spread_stops"]["max"] >= 0
        assert all((out / file).is_file() for file in entry["outputs"].values())
    assert main(args) == 0
    assert "0 photos inverted, 2 skipped" in capsys.readouterr().out
    assert main(args[:-2]) == 0  # one sample is another result: done again
    assert "2 photos inverted, 0 skipped" in capsys.readouterr().out
    assert "samples" not in json.loads((out / "summary.json").read_text())


def test_bad_sample_counts_and_clashing_names_are_refused(checkpoint, tmp_path, capsys):
    photos = _photos(tmp_path / "photos", 1)
    for count in ("0", "-2", "two"):
        with pytest.raises(SystemExit) as exit_:
            main(["itm", str(photos), "--ckpt", str(checkpoint), "--out", str(tmp_path / "o"), "--samples", count])
        assert exit_.value.code == 2 and "--samples" in capsys.readouterr().err
    hdrio.write_ldr(photos / "p0.sample-1.png", np.full((16, 24, 3), 0.5, np.float32))
    assert main(["itm", str(photos), "--ckpt", str(checkpoint), "--out", str(tmp_path / "o"), *QUICK, "--samples", "2"]) == 2
    assert "would both write" in capsys.readouterr().err and not (tmp_path / "o").exists()


def test_later_samples_move_the_fast_mode_guess_and_keep_its_camera(checkpoint):
    from glowgan import camera as cam
    from glowgan.checkpoint import load_generator
    from glowgan.invert import InitialGuess
    from glowgan.itm_samples import invert_samples

    generator, config = load_generator(checkpoint)
    camera = cam.CameraParams(exposure_stops=torch.tensor([1.5]), gamma=torch.tensor([0.9]), beta=torch.tensor([0.6]))
    targets = []

    def guess(target_ldr):
        targets.append(target_ldr.shape)
        return InitialGuess(w=generator.mapping.w_avg.clone(), camera=camera)

    options = InversionOptions(latent_steps=0, tune_steps=0, perceptual="pixel")  # the starts themselves
    photo = np.full((16, 32, 3), 0.99, np.float32)  # inside the mask's soft ramp everywhere
    found = invert_samples(generator, config, photo, samples=2, options=options, initial=guess, progress=False)
    assert len(targets) == 2 and found.seeds == [0, 1] and found.chosen == 0  # no losses: the first
    assert [float(result.camera.exposure_stops) for result in found.results] == [1.5, 1.5]
    assert not np.array_equal(found.results[0].generator_hdr, found.results[1].generator_hdr)
    assert found.spread.shape == (16, 32) and found.spread.max() > 0 and found.record()["spread_stops"]["filled_pixels"] == 16 * 32



def test_fewer_samples_remove_the_earlier_runs_extra_files(checkpoint, tmp_path):
    photo = _photos(tmp_path / "photos", 1) / "p0.png"
    out = tmp_path / "out"
    single = ["itm", str(photo), "--ckpt", str(checkpoint), "--out", str(out / "p0.exr"), *QUICK]
    assert main([*single, "--samples", "3"]) == 0
    assert main([*single, "--samples", "2"]) == 0
    spread = {"p0.spread.exr", "p0.spread.png"}
    assert {p.name for p in out.iterdir()} == {"p0.exr", "p0.json", "p0.mask.png", "p0.preview.png", "p0.sample-1.exr", "p0.sample-2.exr", *spread}
    assert main(single) == 0  # one sample: no sample or spread files
    assert {p.name for p in out.iterdir()} == {"p0.exr", "p0.json", "p0.mask.png", "p0.preview.png"}


def test_the_clean_up_spares_what_another_photo_of_the_batch_writes(checkpoint, tmp_path):
    photos = _photos(tmp_path / "photos", 1)
    other = photos / "p0.sample-3.png"  # its result is p0.sample-3.exr, the name of p0's third sample
    hdrio.write_ldr(other, np.full((16, 24, 3), 0.5, np.float32))
    out = tmp_path / "out"
    assert main(["itm", str(photos / "p0.png"), "--ckpt", str(checkpoint), "--out", str(out / "p0.exr"), *QUICK, "--samples", "3"]) == 0
    # the other photo first, then p0 with 2 samples, whose earlier record names p0.sample-3.exr
    assert main(["itm", str(other), str(photos / "p0.png"), "--ckpt", str(checkpoint), "--out", str(out), *QUICK, "--samples", "2"]) == 0
    assert (out / "p0.sample-3.exr").is_file() and (out / "p0.sample-3.json").is_file()
    assert json.loads((out / "p0.json").read_text())["samples"]["count"] == 2


def test_the_clean_up_takes_only_sample_and_spread_names_and_spares_the_inputs(checkpoint, tmp_path):
    folder = _photos(tmp_path / "photos", 1)
    photo = folder / "p0.png"
    out = folder / "p0.exr"  # the results beside the photos
    args = ["itm", str(photo), "--ckpt", str(checkpoint), "--out", str(out), *QUICK]
    assert main([*args, "--samples", "2"]) == 0
    record = json.loads((folder / "p0.json").read_text())
    record["samples"]["files"] += ["p0.png", "..", "../outside.txt", "p0.sample-9.exr"]  # a hand-edited record
    (folder / "p0.json").write_text(json.dumps(record))
    (tmp_path / "outside.txt").write_text("keep me\n")
    (folder / "p0.sample-9.exr").mkdir()  # a folder where a file was named: reported, not fatal
    assert main(args) == 0
    assert photo.is_file() and (tmp_path / "outside.txt").is_file()
    assert not (folder / "p0.sample-1.exr").exists() and not (folder / "p0.spread.png").exists()
