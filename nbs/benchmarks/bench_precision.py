"""fp32 against bf16 autocast on the CPU for phase 1 (the VQ-VAE step): speed and the quality it reaches.

Both runs train the same VQ-VAE (same seed, same batches) for the same number of steps on 32x32 shapes, then report
images/s and validation recon MSE / PSNR / codebook usage. bf16 is worth offering where its quality matches fp32.

Run: python nbs/benchmarks/bench_precision.py [--steps 300] [--threads 2]
"""
import argparse, time

import torch

from text_vq.data import shapes_data
from text_vq.metrics import evaluate
from text_vq.config import LiveParams, TrainConfig, VQVAEConfig, build_vqvae
from text_vq.recipes import multi_phase
from text_vq.training import BatchStream, Trainer


def run(data, precision, steps, batch_size, config):
    torch.manual_seed(0)
    vqvae = build_vqvae(data, config)
    stream = BatchStream(data.train.images, data.train.texts, batch_size=batch_size, seed=0)
    trainer = Trainer(vqvae, None, stream, multi_phase(config)[0].phase, hp=LiveParams(lr=1e-3), device='cpu', precision=precision,
                      recon_variance=data.pixel_variance)
    trainer.fit(3)  # warm-up
    start = time.perf_counter()
    trainer.fit(steps - 3)
    seconds = time.perf_counter() - start
    result = evaluate(vqvae, None, data.dataloader('valid', 256))
    return (steps - 3) * batch_size / seconds, result


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--steps', type=int, default=300)
    p.add_argument('--batch_size', type=int, default=32)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--small', action='store_true', help='64 hidden channels, 128 codes (else the anchors: 128, 512x64)')
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    data = shapes_data(n_train=4000, n_valid=500, n_test=0, n_heldout=0)
    # the anchors are the VQ-VAE's own defaults
    config = TrainConfig(vqvae=VQVAEConfig(n_hiddens=64, n_embeddings=128) if args.small else VQVAEConfig())
    rows = {precision: run(data, precision, args.steps, args.batch_size, config) for precision in ('fp32', 'bf16')}
    base = rows['fp32'][0]
    print(f"phase 1 on 32x32 shapes, {args.steps} steps of batch {args.batch_size}, {args.threads} threads, "
          f"{'small' if args.small else 'anchor'} VQ-VAE")
    print(f"{'precision':<10}{'images/s':>10}{'speed':>8}{'val MSE':>10}{'PSNR dB':>9}{'usage':>8}")
    for precision, (ips, r) in rows.items():
        print(f"{precision:<10}{ips:>10.0f}{ips / base:>8.2f}{r['recon_mse']:>10.4f}{r['recon_psnr']:>9.2f}{r['codebook_usage']:>8.1%}")


if __name__ == '__main__':
    main()
