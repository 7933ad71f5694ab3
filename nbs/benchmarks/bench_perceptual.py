"""The perceptual term's cost: phase-1 step time with `perceptual_weight` 1 against 0, and its feature net's one-off fit, in one run.

The main job's multi-phase phase 1 on shapes (the default `TrainConfig`: its models, batch size and step count), built by
the recipe itself, so the phase counts 'perceptual' exactly when a run with `--perceptual_weight` does. The variants
take turns (`--rounds` rounds of `--batches` steps each) at the default precision and in fp32; a variant's step time
is its median step. The feature net's weights do not change the term's cost, but the one-off fit `train` runs before
a phase counting the term (`perceptual_loss(data)`) is timed too, and put against the phase's whole step budget.

Run: python nbs/benchmarks/bench_perceptual.py [--threads 2] [--rounds 5] [--batches 4]
"""
import argparse, copy, time

import torch

from text_vq.config import LiveParams, TrainConfig, build_models
from text_vq.data import shapes_data
from text_vq.recipes import multi_phase, perceptual_loss
from text_vq.training import BatchStream, Trainer, default_precision


def phase1_trainer(data, config:TrainConfig, vqvae, perceptual, precision:str) -> Trainer:
    "The recipe's phase 1 of `config` on a copy of `vqvae`, measuring the term with `perceptual` where the phase counts it."
    phase = multi_phase(config)[0].phase
    stream = BatchStream(data.train.images, data.train.texts, batch_size=config.batch_size)
    return Trainer(copy.deepcopy(vqvae), None, stream, phase, hp=LiveParams.from_config(config), device='cpu', precision=precision,
                   recon_variance=data.pixel_variance, perceptual=perceptual if 'perceptual' in phase.losses else None)


def median_step_seconds(trainers:dict, rounds:int, batches:int) -> dict:
    "The median seconds of one step of each trainer, the trainers taking turns `batches` steps at a time for `rounds` rounds."
    for trainer in trainers.values(): trainer.fit(2)  # warm-up: first-call allocations and oneDNN primitives
    times = {name: [] for name in trainers}
    for _ in range(rounds):
        for name, trainer in trainers.items():
            for _ in range(batches):
                start = time.perf_counter(); trainer.fit(1); times[name].append(time.perf_counter() - start)
    return {name: sorted(t)[len(t) // 2] for name, t in times.items()}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--rounds', type=int, default=5, help='rounds in which the variants take turns')
    p.add_argument('--batches', type=int, default=4, help='steps of each variant per round')
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    data = shapes_data()
    config = TrainConfig()  # the main job: multi-phase
    torch.manual_seed(0)
    vqvae, _ = build_models(data, config)
    start = time.perf_counter()
    perceptual = perceptual_loss(data)
    fit_seconds = time.perf_counter() - start
    default = default_precision('cpu', multi_phase(config)[0].phase)
    trainers = {(precision, weight): phase1_trainer(data, config.updated(perceptual_weight=weight), vqvae, perceptual, precision)
                for precision in dict.fromkeys((default, 'fp32')) for weight in (0.0, 1.0)}
    seconds = median_step_seconds(trainers, args.rounds, args.batches)

    print(f"phase 1 of the main job (multi-phase, shapes, batch {config.batch_size}, {args.threads} threads); "
          f"median of {args.rounds} interleaved rounds x {args.batches} steps")
    print(f"{'precision':<22}{'weight 0 ms':>12}{'weight 1 ms':>12}{'ratio':>8}{'term ms':>9}")
    for precision in dict.fromkeys(p for p, _ in trainers):
        plain, with_term = seconds[(precision, 0.0)], seconds[(precision, 1.0)]
        label = precision + (' (default)' if precision == default else '')
        print(f"{label:<22}{1e3 * plain:>12.1f}{1e3 * with_term:>12.1f}{with_term / plain:>8.2f}{1e3 * (with_term - plain):>9.1f}")
    phase_seconds = config.steps * seconds[(default, 1.0)]
    print(f"one-off feature-net fit (perceptual_loss(data)): {fit_seconds:.1f} s, "
          f"{fit_seconds / phase_seconds:.1%} of phase 1's {config.steps} steps with the term ({phase_seconds:.0f} s)")


if __name__ == '__main__':
    main()
