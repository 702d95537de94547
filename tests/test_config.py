import pytest

from glowgan.camera import CameraPrior
from glowgan.config import Config, load_config, parse_override
from glowgan.presets import preset_names



def test_defaults_round_trip_through_dict():
    config = Config()
    assert Config.from_dict(config.to_dict()) == config


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_loads_and_round_trips(name):
    config = load_config(preset=name)
    assert Config.from_dict(config.to_dict()) == config
    height, width = config.model.resolution
    assert config.model.circular == (width == 2 * height)


def test_presets_include_cpu_and_gpu_sizes():
    names = preset_names()
    assert {"cpu-32x64", "cpu-32x32"} <= set(names)
    assert {64, 512} <= {load_config(preset=n).model.resolution[0] for n in names if n.startswith("gpu")}


def test_layers_apply_in_order(tmp_path):
    file = tmp_path / "c.toml"
    file.write_text("[train]\nbatch = 16\ng_lr = 0.001\n[camera]\nexposure_std_stops = 1.0\n")
    config = load_config(preset="cpu-32x32", config_file=file, overrides=["train.batch=8", "camera.crf=gamma"])
    assert config.train.batch == 8 and config.train.g_lr == 0.001
    assert config.camera.prior == CameraPrior(exposure_std_stops=1.0, crf="gamma", quantize_bits=8)  # preset, file, override
    assert config.model.resolution == (32, 32)


def test_override_parsing():
    assert parse_override("train.batch=64") == ("train", "batch", 64)
    assert parse_override("camera.enabled=false") == ("camera", "enabled", False)
    assert parse_override("train.augment=color") == ("train", "augment", "color")
    assert parse_override("model.resolution=[64, 128]") == ("model", "resolution", [64, 128])
    with pytest.raises(ValueError, match="section.key=value"):
        parse_override("batch=64")


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.batchsize=3", "unknown key"),
        ("nosuch.key=3", "unknown section"),
        ("train.batch=ten", "expected int"),
        ("train.batch=0", "batch must be >= 1"),
        ("model.resolution=[30, 60]", "powers of two"),
        ("model.resolution=[32]", "list of 2 values"),
        ("camera.crf=sigmoid", "unknown"),
        ("camera.exposure_std_stops=-1", "exposure_std_stops"),
        ("train.loss=wgan", "loss must be"),
        ("camera.enabled=1", "true or false"),
        ("train.seed=-1", "seed must be in"),
        ("train.threads=-2", "threads must be >= 0"),
        ("train.ema_rampup=0.0", "ema_rampup"),
        ("camera.quantize_bits=eight", "quantize_bits must be an integer from 1 to 16, or none"),
        ("camera.quantize_bits=0", "quantize_bits must be an integer from 1 to 16, or none"),
    ],
)
def test_bad_settings_are_clear_errors(override, message):
    with pytest.raises(ValueError, match=message):
        load_config(preset="cpu-32x64", overrides=[override])


def test_an_optional_setting_of_a_preset_can_be_unset(tmp_path):
    assert load_config(preset="cpu-32x64").camera.prior.quantize_bits == 8
    for spelling in ("none", "None"):
        assert load_config(preset="cpu-32x64", overrides=[f"camera.quantize_bits={spelling}"]).camera.prior.quantize_bits is None
    file = tmp_path / "c.toml"
    file.write_text('[camera]\nquantize_bits = "none"\n')
    assert load_config(preset="cpu-32x64", config_file=file).camera.prior.quantize_bits is None


def test_unknown_preset_and_bad_toml(tmp_path):
    with pytest.raises(ValueError, match="available presets"):
        load_config(preset="nope")
    bad = tmp_path / "bad.toml"
    bad.write_text("[train\nbatch=")
    with pytest.raises(ValueError, match="not valid TOML"):
        load_config(config_file=bad)
    with pytest.raises(ValueError, match="not found"):
        load_config(config_file=tmp_path / "missing.toml")


def test_camera_mixture_from_overrides_round_trips_through_the_saved_config():
    config = load_config(overrides=["camera.crf=srgb:2,filmic,pca", "camera.pca_spread=0.5"])
    assert config.camera.prior.mixture == (("srgb", 0.5), ("filmic", 0.25), ("pca", 0.25))
    assert config.camera.prior.gamma_mean is None
    again = Config.from_dict(config.to_dict())
    assert again.camera.prior == config.camera.prior
    with pytest.raises(ValueError, match="mixture"):
        load_config(overrides=["camera.crf=srgb,filmic", "camera.gamma_mean=2.2"])
