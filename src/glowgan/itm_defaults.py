"""The step counts, learning rate and fill colours of inverse tone mapping, defined once and free of torch, so that
``glowgan itm --help`` can state them without importing the library (:class:`glowgan.invert.InversionOptions`
takes its defaults from here)."""

LATENT_STEPS = 1000  # official GlowGAN recipe
LATENT_LR = 0.1  # official (Adam, ramped)
TUNE_STEPS = 350  # official
# Weight of the hinge that asks a photo's clipped region for the generator's typical level above the clip
# (glowgan.itm_levels; ours). Chosen on validation photos (scene seeds 10000+), docs/itm/README.md.
CLIP_LEVEL_WEIGHT = 3e-3
# The fast mode: an encoder's guess (glowgan.encoder.guesser) followed by this many steps.
FAST_LATENT_STEPS = 100
FAST_TUNE_STEPS = 50
# How the clipped regions are coloured (glowgan.itm_photo.blend); the first is the default. On 50 held-out
# sky photos "white" gave the best PU21 in the clipped regions and a hue error of 9.5 degrees against the
# generator colour's 12.5 (docs/itm/README.md, 2026-12-02).
FILL_COLOURS = ("white", "generator", "photo", "surround")
# Photos of a folder inverted side by side (glowgan.invert.invert_photos); measured in docs/itm/README.md.
BATCH = 8
