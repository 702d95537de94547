"""Measurements of HDR and LDR images: dynamic range, fidelity against ground truth, distribution distances.

- :mod:`~glowgan.metrics.dynamic_range`: luminance, dynamic range in stops, highlight share (a leaf module).
- :mod:`~glowgan.metrics.pu21`: the PU21 perceptually uniform encoding of absolute luminance (Mantiuk & Azimi 2021).
- :mod:`~glowgan.metrics.fidelity`: PU21-PSNR, PU21-SSIM and log-PSNR against ground truth, exposure
  alignment, relative radiance -> cd/m².
- :mod:`~glowgan.metrics.swd`: sliced Wasserstein distance on Laplacian-pyramid patches (Karras et al. 2018)
  between image sets, in PU21 space or as LDR photos at fixed exposures, and its real-vs-real floor.
- :mod:`~glowgan.metrics.fid`: FID and KID on Inception-v3 features (optional weights package).
- :mod:`~glowgan.metrics.light`: the light a reconstruction restores, in stops: the energy of the clipped
  region, and the diffuse irradiance of a panorama at the 6 axis normals.

Submodules are imported explicitly (``from glowgan.metrics.swd import swd``) so that importing the
leaf ``dynamic_range`` pulls in nothing else.
"""
