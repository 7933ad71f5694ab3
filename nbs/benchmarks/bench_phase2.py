"""Phase 2 offline vs online: seconds per epoch of Transformer training on 32x32 shapes, default model sizes.

Run: python nbs/benchmarks/bench_phase2.py [--n_train 4000] [--threads 2]
Both variants run in this process on the same data and models; the script prints the ratio.
"""
import argparse, time

import torch

from text_vq.data import shapes_data
from text_vq.multi_phase import PHASE2_OFFLINE, PHASE2_ONLINE, extract_codes
from text_vq.training import BatchStream, LiveParams, Trainer, build_models


def epoch_seconds(trainer, n_batches):
    trainer.fit(2)  # warm-up: first-call allocations and kernels
    start = time.perf_counter()
    trainer.fit(n_batches)
    return time.perf_counter() - start


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--n_train', type=int, default=4000)
    p.add_argument('--batch_size', type=int, default=64)
    p.add_argument('--threads', type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    data = shapes_data(n_train=args.n_train, n_valid=0, n_test=0, n_heldout=0)
    torch.manual_seed(0)
    vqvae, transformer = build_models(data)
    n_batches = args.n_train // args.batch_size

    online = Trainer(vqvae, transformer, BatchStream(data.train.images, data.train.texts, batch_size=args.batch_size),
                     PHASE2_ONLINE, hp=LiveParams(lr=1e-3), device='cpu')
    t_online = epoch_seconds(online, n_batches)

    start = time.perf_counter()
    codes = extract_codes(vqvae, data.train, device='cpu')
    t_extract = time.perf_counter() - start
    offline = Trainer(vqvae, transformer, BatchStream(codes['texts'], codes['indices'].long(), batch_size=args.batch_size),
                      PHASE2_OFFLINE, hp=LiveParams(lr=1e-3), device='cpu')
    t_offline = epoch_seconds(offline, n_batches)

    print(f"phase 2, one epoch of {args.n_train} shapes, batch {args.batch_size}, {args.threads} threads, default sizes")
    print(f"{'variant':<26}{'s/epoch':>10}{'ratio':>10}")
    print(f"{'online (encoder per batch)':<26}{t_online:>10.2f}{1.0:>10.2f}")
    print(f"{'offline (codes from file)':<26}{t_offline:>10.2f}{t_online / t_offline:>10.2f}")
    print(f"one-off extraction: {t_extract:.2f} s (pays for itself after {t_extract / max(t_online - t_offline, 1e-9):.2f} epochs)")


if __name__ == '__main__':
    main()
