"""Phase 2 offline vs online: seconds per epoch of Transformer training, at the models' own default sizes.

Run: python nbs/benchmarks/bench_phase2.py [--data shapes|digits] [--n_train 4000] [--threads 2] [--masked] [--dropout 0.1]
     [--rounds 5] [--batches 3]
Online runs the frozen encoder on every batch; offline reads codes extracted once, one image per row or grouped by
caption (`group_captions=True`: one Transformer pass per distinct caption, the same loss). With --masked the
three variants also run with the masked objective, where each image reads its own revealed codes: grouped batches
then encode each caption once and run the code decoder once per image. All variants run in this process on the same
data and models, taking turns (`--rounds` rounds of `--batches` steps each); an epoch's time is the median step times
the epoch's steps. The script prints each one's speed-up over online with the seed's objective.

Grouping runs the Transformer once per distinct caption instead of once per image, so an epoch of grouped batches
can be at most `images / distinct captions` times cheaper than one row per image; the script prints that bound times
offline's own gain (online / offline one row per image), the most any offline variant can reach on this data.
`--dropout` sets the Transformer's dropout (the default, 0, is `TextToCodes`'; 0.1 was the default before).
"""
import argparse, time

import torch

from text_vq.data import digits_data, shapes_data
from text_vq.config import LiveParams, TrainConfig, TransformerConfig, VQVAEConfig, build_models
from text_vq.recipes import CaptionGroups, GroupedCodeStream, extract_codes, multi_phase
from text_vq.training import BatchStream, Trainer

# the models' own defaults (a 128-channel VQ-VAE with 512 codes, a Transformer of width 128, 2 layers), the sizes the
# chapter-10 table was measured at
ANCHOR = TrainConfig(vqvae=VQVAEConfig(), transformer=TransformerConfig(), caption_dropout=0.)

def phase2(config, codes, masked):
    "The multi-phase recipe's phase 2 of `config`, reading `codes` ('online' or 'offline'), with or without the masked objective."
    return multi_phase(config.updated(codes=codes, masked=masked))[1].phase


def epoch_seconds(variants, rounds, batches):
    "Seconds per epoch of each `(trainer, batches per epoch)`: the variants take turns, `batches` steps each per round."
    for trainer, _ in variants.values(): trainer.fit(2)  # warm-up: first-call allocations and kernels
    times = {name: [] for name in variants}
    for _ in range(rounds):
        for name, (trainer, _) in variants.items():
            for _ in range(batches):
                start = time.perf_counter(); trainer.fit(1); times[name].append(time.perf_counter() - start)
    # the median step, times the epoch's steps: on a CPU shared with other jobs one slow step does not count
    return {name: sorted(times[name])[len(times[name]) // 2] * n for name, (_, n) in variants.items()}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--data', choices=('shapes', 'digits'), default='shapes')
    p.add_argument('--n_train', type=int, default=4000, help='shapes only (digits has 1439)')
    p.add_argument('--batch_size', type=int, default=64)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--masked', action='store_true', help='also time the masked objective (MaskGIT)')
    p.add_argument('--dropout', type=float, default=TransformerConfig().dropout, help="the Transformer's dropout")
    p.add_argument('--rounds', type=int, default=5, help='rounds in which the variants take turns')
    p.add_argument('--batches', type=int, default=3, help='steps of each variant per round')
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    data = (shapes_data(n_train=args.n_train, n_valid=0, n_test=0, n_heldout=0) if args.data == 'shapes'
            else digits_data())
    n_train = len(data.train)
    config = ANCHOR.updated(dropout=args.dropout)
    torch.manual_seed(0)
    vqvae, transformer = build_models(data, config)
    n_batches = n_train // args.batch_size

    def trainer(stream, phase): return Trainer(vqvae, transformer, stream, phase, hp=LiveParams(lr=1e-3), device='cpu')
    start = time.perf_counter()
    codes = extract_codes(vqvae, data.train, device='cpu')
    t_extract = time.perf_counter() - start
    texts, indices = codes['texts'], codes['indices'].long()
    variants = {}
    for masked in (False, True) if args.masked else (False,):
        tag = ', masked' if masked else ''
        online, offline = phase2(config, 'online', masked), phase2(config, 'offline', masked)
        variants[f'online (encoder per batch){tag}'] = (
            trainer(BatchStream(data.train.images, data.train.texts, batch_size=args.batch_size), online), n_batches)
        variants[f'offline, one row per image{tag}'] = (trainer(BatchStream(texts, indices, batch_size=args.batch_size), offline), n_batches)
        grouped = GroupedCodeStream(CaptionGroups.from_codes(texts, indices), batch_size=args.batch_size)
        variants[f'offline, grouped by caption{tag}'] = (trainer(grouped, offline), grouped.batches_per_epoch)
    seconds = epoch_seconds(variants, args.rounds, args.batches)

    print(f"phase 2, one epoch of {n_train} {args.data} ({len(grouped.groups)} distinct captions), "
          f"batch {args.batch_size}, {args.threads} threads, the models' default sizes, Transformer dropout {args.dropout}; "
          f"median of {args.rounds} interleaved rounds x {args.batches} steps, times the epoch's steps")
    print(f"{'variant':<38}{'s/epoch':>10}{'speed-up':>10}")
    online = seconds['online (encoder per batch)']
    for name, s in seconds.items(): print(f"{name:<38}{s:>10.2f}{online / s:>10.2f}")
    per_image = online / seconds['offline, one row per image']
    print(f"bound on offline's speed-up: {n_train} images / {len(grouped.groups)} captions x {per_image:.2f} "
          f"(offline one row per image) = {n_train / len(grouped.groups) * per_image:.1f}")
    print(f"one-off extraction: {t_extract:.2f} s")


if __name__ == '__main__':
    main()
