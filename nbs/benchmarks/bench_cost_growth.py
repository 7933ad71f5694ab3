"""Cost growth of the kit's train steps with image size, codebook size and data-set size: step time and peak memory.

Every row trains the main job's models (the `'main'` preset: a 64-channel VQ-VAE, a Transformer of width 64), batch 64,
at the kit's default precision per phase (`--precision`; on a CPU with native bf16 phase 1 runs under bf16 autocast
and the Transformer in fp32, see `default_precision`), changing one thing against the first row (32 px, K = 512 codes, 4k images):
- image size 64 and 128 px (4x and 16x the pixels; the latent grid grows alike, 8x8 -> 16x16 -> 32x32);
- K = 8192 codes;
- 100k images instead of 4k (the data pipeline: the same step, drawing batches from 25x as many rows);
- 128 px with 4 stride-2 stages instead of 2, so that the code grid stays 8x8 (the Transformer's self-attention
  over the grid costs the square of its positions: this row shows what a coarser grid saves at 128 px).
Columns: one phase-1 step (`Trainer.one_step` of the VQ-VAE: encoder, quantizer, decoder, AdamW) and one offline
phase-2 step (the Transformer on codes, masked objective with caption dropout, the main job's), each its time (the
fastest of `--rounds`, the rows taking turns; on a shared CPU the fastest is the least disturbed) and its peak memory:
parameters, gradients and optimizer state plus the largest total of the step's own live tensors (from the profiler's
allocation and free events). The last columns time one batch draw (`next` on the `BatchStream`) and give the memory
the training images take. The ratios beside each column are against the first row; the pixels ratio is what the
cost may grow by.

Run: python nbs/benchmarks/bench_cost_growth.py [--rounds 5] [--threads 2] [--precision default|fp32|bf16]
(On a CPU shared with other jobs, `--threads 1` gives steadier ratios: two OpenMP threads that wait for each other at
every operation turn a busy core into erratic steps.)
"""
import argparse, time

import torch
from torch.profiler import ProfilerActivity, profile

from text_vq.config import LiveParams, Phase, build_transformer, build_vqvae, preset
from text_vq.training import PRECISIONS, BatchStream, Trainer

BATCH = 64
ROWS = {  # name -> (image size, codebook size, training images, stride-2 stages)
    '32 px, K 512, 4k images': (32, 512, 4_000, 2),
    '64 px': (64, 512, 4_000, 2),
    '128 px': (128, 512, 4_000, 2),
    'K 8192': (32, 8192, 4_000, 2),
    '100k images': (32, 512, 100_000, 2),
    '128 px, 4 stages (8x8 codes)': (128, 512, 4_000, 4),
}


class Data:
    "What `build_vqvae` and `build_transformer` read of a data set: random images in [-1, 1] and captions of 5 tokens."
    def __init__(self, size, n):
        self.image_shape = (3, size, size)
        self.images = torch.rand(n, *self.image_shape) * 2 - 1
        self.texts = torch.randint(2, 40, (n, 5))
        self.tokenizer = type('Tokenizer', (), {'max_len': 5, '__len__': lambda self: 40})()


def live_bytes(fn) -> int:
    "The largest total size of the tensors `fn` allocates that are alive at once (from the profiler's allocation events)."
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof: fn()
    # an op's own allocations are booked at its start, frees outside any op as '[memory]' events
    events = sorted((e.time_range.start, e.self_cpu_memory_usage) for e in prof.events() if e.self_cpu_memory_usage)
    total = peak = 0
    for _, change in events:
        total += change
        peak = max(peak, total)
    return peak


def state_bytes(trainer) -> int:
    "Parameters, buffers, gradients and optimizer state of `trainer`'s models."
    tensors = [t for m in (trainer.vqvae, trainer.transformer) if m is not None for t in (*m.parameters(), *m.buffers())]
    tensors += [p.grad for p in tensors if isinstance(p, torch.nn.Parameter) and p.grad is not None]
    tensors += [v for s in trainer.opt.state.values() for v in s.values() if torch.is_tensor(v)]
    return sum(t.numel() * t.element_size() for t in tensors)


def trainers(size, k, n, n_downsamples, precision=None):
    "The phase-1 and phase-2 trainers of one row, warmed up (first-call allocations, optimizer state)."
    torch.manual_seed(0)
    config = preset('main', n_embeddings=k, n_downsamples=n_downsamples)
    data = Data(size, n)
    vqvae = build_vqvae(data, config)
    stream = BatchStream(data.images, data.texts, batch_size=BATCH)
    phase1 = Trainer(vqvae, None, stream, Phase('phase1', parts=('encoder', 'codebook', 'decoder'), losses=('recon', 'vq')),
                     hp=LiveParams(lr=1e-3), device='cpu', precision=precision)
    transformer = build_transformer(data, vqvae, config)
    grid = vqvae.latent_shape(size)
    codes = BatchStream(data.texts, torch.randint(0, k, (n, *grid)), batch_size=BATCH)
    phase2 = Trainer(None, transformer, codes, Phase('phase2', parts=('transformer',), losses=('xent',), inputs='codes',
                                                      masked=config.masked, caption_dropout=config.caption_dropout),
                     hp=LiveParams(lr=1e-3), device='cpu', precision=precision)
    for trainer in (phase1, phase2): trainer.fit(2)
    return {'phase 1': phase1, 'phase 2': phase2, 'stream': stream, 'data MB': data.images.numel() * data.images.element_size() / 2**20}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--rounds', type=int, default=5)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--precision', choices=('default', *PRECISIONS), default='default',
                   help="'default': each phase's default on this device (default_precision)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    precision = None if args.precision == 'default' else args.precision
    rows = {name: trainers(*spec, precision) for name, spec in ROWS.items()}
    times = {(name, part): [] for name in rows for part in ('phase 1', 'phase 2', 'stream')}
    for _ in range(args.rounds):
        for name, row in rows.items():
            for part in ('phase 1', 'phase 2'):
                start = time.perf_counter(); row[part].fit(1); times[name, part].append(time.perf_counter() - start)
            for _ in range(10):
                start = time.perf_counter(); next(row['stream']); times[name, 'stream'].append(time.perf_counter() - start)
    memory = {(name, part): (state_bytes(row[part]) + live_bytes(lambda: row[part].fit(1))) / 2**20
              for name, row in rows.items() for part in ('phase 1', 'phase 2')}
    best = {key: min(t) for key, t in times.items()}
    base = next(iter(rows))
    precisions = {part: row[part].precision for row in rows.values() for part in ('phase 1', 'phase 2')}
    print(f"Cost growth of one train step: the main preset's models, batch {BATCH}, VQ-VAE in {precisions['phase 1']}, "
          f"Transformer in {precisions['phase 2']}, {args.threads} threads, "
          f"fastest of {args.rounds} interleaved rounds; ratios against the first row\n")
    print("| row | pixels | VQ-VAE step | VQ-VAE peak memory | Transformer step | Transformer peak memory | batch draw | training images |")
    print("|---|---|---|---|---|---|---|---|")
    for name, (size, *_) in ROWS.items():
        cells = [name, f"{(size / ROWS[base][0]) ** 2:.0f}x"]
        for part in ('phase 1', 'phase 2'):
            t, m = best[name, part], memory[name, part]
            cells += [f"{t * 1e3:.0f} ms ({t / best[base, part]:.1f}x)", f"{m:.0f} MB ({m / memory[base, part]:.1f}x)"]
        cells += [f"{best[name, 'stream'] * 1e6:.0f} µs", f"{rows[name]['data MB']:.0f} MB"]
        print('| ' + ' | '.join(cells) + ' |')


if __name__ == '__main__':
    main()
