"""glowgan: learn HDR image generators from collections of ordinary LDR photos.

After GlowGAN (Wang et al., ICCV 2023, arXiv 2211.12352).
"""

__version__ = "0.1.0"
