"""Named training settings shipped with the package: one TOML file per preset, each overriding defaults.

Listing them imports nothing heavy, so the command line can show them in ``--help`` quickly.
"""

from importlib import resources


def preset_names() -> list[str]:
    return sorted(p.name[: -len(".toml")] for p in resources.files(__name__).iterdir() if p.name.endswith(".toml"))
