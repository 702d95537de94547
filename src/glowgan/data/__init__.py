"""Data: the procedural HDR world and its photographs, real photo preparation, data sets, statistics.

- :mod:`glowgan.data.world`: scene families rendered in linear HDR (the ground truth), by world version:
  :mod:`~glowgan.data.sky` (the physically based sky of version 2), :mod:`~glowgan.data.sky_v1`,
  :mod:`~glowgan.data.interior` (``window``), :mod:`~glowgan.data.night`, on the shared helpers of
  :mod:`~glowgan.data.procedural`.
- :mod:`glowgan.data.synth`: photograph the world into an LDR collection (``glowgan data synth``).
- :mod:`glowgan.data.prepare`: crop and resize real photos into a training set (``glowgan data prepare``).
- :mod:`glowgan.data.dataset`: :class:`~glowgan.data.dataset.ImageFolderDataset`, lazily read LDR images.
- :mod:`glowgan.data.stats`: over/under-exposure and brightness statistics (``glowgan data stats``).
- :mod:`glowgan.data.batches`: the training loop's deterministic batch order.

Submodules are imported where they are used, so importing this package stays cheap.
"""
