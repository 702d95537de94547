"""Images per second of the FID Inception network (``glowgan.metrics.fid.inception_features``), by memory layout.

FID dominates ``glowgan eval`` and the quality benchmark's scoring on the CPU (Inception-v3 at 299x299,
about 5.7 GFLOPs per image). This times the network on one batch of 299x299 inputs in the plain (NCHW)
and the channels-last layout, alternating, and prints images per second of each and the largest
difference of their features. Run it on an otherwise idle machine.

    python benchmarks/fid_speed.py --threads 2 --batch 16 --repeats 5
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from glowgan.metrics.fid import INCEPTION_SIZE, load_inception


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=16, help="images per forward pass (inception_features' default)")
    parser.add_argument("--repeats", type=int, default=5, help="timed passes per layout")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    network = load_inception()
    inputs = torch.rand(args.batch, 3, *INCEPTION_SIZE, generator=torch.Generator().manual_seed(0)) * 1.99 - 1.0
    layouts = {"nchw": inputs.contiguous(), "channels_last": inputs.contiguous(memory_format=torch.channels_last)}
    rates: dict[str, list[float]] = {name: [] for name in layouts}
    with torch.inference_mode(), torch.jit.optimized_execution(False):
        outputs = {name: network(batch) for name, batch in layouts.items()}  # warm-up, and the features compared
        for _ in range(args.repeats):
            for name, batch in layouts.items():
                start = time.perf_counter()
                network(batch)
                rates[name].append(args.batch / (time.perf_counter() - start))
    difference = float((outputs["nchw"] - outputs["channels_last"]).abs().max())
    result = {
        "threads": args.threads,
        "batch": args.batch,
        "images_per_s": {name: sorted(values)[len(values) // 2] for name, values in rates.items()},
        "all_images_per_s": rates,
        "max_feature_difference": difference,
        "max_feature": float(outputs["nchw"].abs().max()),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
