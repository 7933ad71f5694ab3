"""Decoding speed: one-pass generation against 8-step iterative (MaskGIT) decoding, and guided against unguided 8-step.

The Transformer has the main job's size (`text_vq_train`'s defaults: width 64, one encoder and two decoder layers,
4 heads, 128 codes on the 8x8 grid of 32x32 shapes) with random weights: decoding time does not depend on what the
weights say. All variants run in this process on the same captions, taking turns so that a busy machine slows all
alike; the script prints the median of `--repeats` timed calls after one warm-up call each, and the ratios against
the baseline measured in the same run.
Targets: 8-step / one-pass <= 8.8x; guided 8-step / unguided 8-step <= 2x. The kit's default sampled decoding
(`SAMPLED_DECODING`) is timed too, its ratio to one pass printed for information.

Run: python nbs/benchmarks/bench_decoding.py [--batches 64 256] [--repeats 7] [--threads N] [--profile]
(--threads: torch's default when omitted; --profile: where the time of the guided 8-step call goes.)
"""
import argparse, statistics, time

import torch

from text_vq.data import shapes_data
from text_vq.config import build_models, preset
from text_vq.transformer import SAMPLED_DECODING

TARGETS = {'8 steps / one pass': 8.8, 'guided / unguided (8 steps)': 2.0}


def seconds(fns, repeats):
    "Median seconds of each of `fns` (name -> callable), timed round-robin so that a busy machine slows all alike."
    for fn in fns.values(): fn()  # warm-up: first-call allocations
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--batches', type=int, nargs='+', default=[64, 256], help='captions per generate call')
    p.add_argument('--repeats', type=int, default=7)
    p.add_argument('--threads', type=int, default=None, help="torch threads (default: torch's own)")
    p.add_argument('--d_model', type=int, default=64)
    p.add_argument('--n_layers', type=int, default=1)
    p.add_argument('--profile', action='store_true')
    args = p.parse_args()
    if args.threads: torch.set_num_threads(args.threads)
    data = shapes_data(n_train=512, n_valid=0, n_test=0, n_heldout=0)
    torch.manual_seed(0)
    _, transformer = build_models(data, preset('main', d_model=args.d_model, n_layers=args.n_layers))  # 8x8 grid
    transformer.eval()
    transformer.code_reading_steps.fill_(1)  # as if trained with the masked objective and caption dropout (no warnings)
    if hasattr(transformer, 'null_caption_steps'): transformer.null_caption_steps.fill_(1)
    variants = {'one pass (t=1)': dict(steps=1, temperature=1.0),
                '8 steps (t=1)': dict(steps=8, temperature=1.0),
                '8 steps, guided (t=1, w=1)': dict(steps=8, temperature=1.0, guidance=1.0),
                'SAMPLED_DECODING': SAMPLED_DECODING}
    print(f"generate on a Transformer of width {args.d_model}, {args.n_layers} layer(s), {transformer.n_embeddings} codes "
          f"on {transformer.latent_shape}, {torch.get_num_threads()} torch threads, median of {args.repeats}")
    verdicts = []
    for batch in args.batches:
        texts = data.train.texts[torch.arange(batch) % len(data.train)]
        g = torch.Generator().manual_seed(0)
        s = seconds({name: lambda kw=kw: transformer.generate(texts, generator=g, **kw) for name, kw in variants.items()}, args.repeats)
        one, eight, guided, default = s.values()
        ratios = {'8 steps / one pass': eight / one, 'guided / unguided (8 steps)': guided / eight}
        print(f"\nbatch {batch}  (SAMPLED_DECODING: {SAMPLED_DECODING}, {default / one:.2f}x one pass)")
        for name, t in s.items(): print(f"  {name:<28}{1e3 * t:>9.2f} ms{1e3 * t / batch * 100:>9.2f} ms per 100 captions")
        for name, r in ratios.items():
            ok = r <= TARGETS[name]
            verdicts.append(ok)
            print(f"  {name:<28}{r:>9.2f}x  (target <= {TARGETS[name]}x)  {'PASS' if ok else 'FAIL'}")
    if args.profile:
        from torch.profiler import ProfilerActivity, profile
        texts = data.train.texts[torch.arange(args.batches[-1]) % len(data.train)]
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(3): transformer.generate(texts, generator=torch.Generator().manual_seed(0), **variants['8 steps, guided (t=1, w=1)'])
        print(prof.key_averages().table(sort_by='self_cpu_time_total', row_limit=15))
    print(f"\n{'ALL PASS' if all(verdicts) else 'SOME FAIL'}")


if __name__ == '__main__':
    main()
