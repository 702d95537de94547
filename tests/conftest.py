"""Test-suite settings.

Tests use tiny tensors, for which torch's intra-op threads cost more than they give, and on a
loaded 2-core machine extra threads thrash (inversion tests ran 8x slower with 2 threads under load).
"""

import torch

torch.set_num_threads(1)
