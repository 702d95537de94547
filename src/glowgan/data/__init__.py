"""Data: the procedural HDR world and its photographs, real photo preparation, data sets, statistics.

- :mod:`glowgan.data.world`: scene families rendered in linear HDR (the ground truth).
- :mod:`glowgan.data.synth`: photograph the world into an LDR collection (``glowgan data synth``).
- :mod:`glowgan.data.prepare`: crop and resize real photos into a training set (``glowgan data prepare``).
- :mod:`glowgan.data.dataset`: :class:`~glowgan.data.dataset.ImageFolderDataset`, lazily read LDR images.
- :mod:`glowgan.data.stats`: over/under-exposure and brightness statistics (``glowgan data stats``).
- :mod:`glowgan.data.batches`: the training loop's deterministic batch order.

Submodules are imported where they are used, so importing this package stays cheap.
"""
