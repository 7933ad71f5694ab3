"""TensorBoard logging's cost: the main job's training with `TensorBoardLog` against `MetricsLog`, min-of-N wall times.

Run: python nbs/benchmarks/bench_tensorboard.py [--steps 500] [--phase2_steps 500] [--repeats 3] [--threads 2]
Both variants train the main preset with what `text_vq_train` hands the recipe (the metrics log every 10 steps, sample
grids at every evaluation, checkpoints, the offline codes file) in a fresh folder, in turns (ABBA order, so a drift in
the machine's load falls on both), and log a final row. `--steps 1500 --phase2_steps 1500` is the main job itself
(about 4 minutes a run on 2 cores); the default is a third of it with the same evaluation, checkpoint and logging
intervals, so it holds the same share of each. Prints each run, the min-of-N of each variant and their ratio, the
sum over segments of 50 steps of the fastest repeat of each, the min-of-N CPU seconds, and the seconds spent inside
the log callback (its hooks and the final row): the last three are blurred less than whole wall times by other jobs
on a shared machine. Making the first `TensorBoardLog` of the
process imports TensorBoard (once), outside the timed training.
"""
import argparse, tempfile, time
from pathlib import Path

import torch

from text_vq.data import shapes_data
from text_vq.config import preset
from text_vq.recipes import train
from text_vq.reports import MetricsLog, SampleGridCallback
from text_vq.tensorboard import TensorBoardLog
from text_vq.training import Callback

LAP = 50  # steps per timed segment


class Laps(Callback):
    "The time at every `LAP`-th step and at each phase's end, after every other callback: `laps[(phase, step)]`."
    order = 1000
    def __init__(self): self.laps = {}
    def after_step(self, trainer):
        if trainer.step % LAP == 0: self.laps[(trainer.phase.name, trainer.step)] = time.perf_counter()
    def after_fit(self, trainer): self.laps[(trainer.phase.name, 'end')] = time.perf_counter()


def hook_timed(cls):
    "`cls` adding up in `inside` the seconds the Trainer spends in its hooks (their `log` calls included)."
    def timed(hook):
        def run(self, trainer):
            start = time.perf_counter()
            try: return hook(self, trainer)
            finally: self.inside += time.perf_counter() - start
        return run
    return type(cls.__name__, (cls,), {'inside': 0., **{name: timed(getattr(cls, name)) for name in ('before_fit', 'after_step', 'after_fit')}})


def timed_run(data, config, log_class, folder:Path) -> tuple[float, float, float, float, dict]:
    """Seconds to train `config` with `log_class` as the metrics log, the grids and the checkpoints of `text_vq_train`; the
    process's CPU seconds meanwhile (all its threads); the seconds spent in the log's hooks and its final row; the seconds
    making the log took (TensorBoard's import); the seconds of each segment of `LAP` steps (and of the final row)."""
    texts, captions = data.test.texts[:16], data.test.captions[:16]
    made = time.perf_counter()
    log = hook_timed(log_class)(folder/'metrics.jsonl', every=10)
    made = time.perf_counter() - made
    laps = Laps()
    cbs = [log, SampleGridCallback(folder/'samples', texts, captions, config.eval_every), laps]
    torch.manual_seed(0)
    start, cpu = time.perf_counter(), time.process_time()
    train(data, config, cbs=cbs, checkpoint_dir=folder/'checkpoints', codes_path=folder/'codes.pt', progress=False, device='cpu')
    logged = time.perf_counter()
    log.log({'kind': 'final', 'seconds': logged - start})
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    if isinstance(log, TensorBoardLog): log.close()
    marks = [('start', start), *laps.laps.items(), ('final', start + seconds)]
    segments = {name: end - begin for (_, begin), (name, end) in zip(marks, marks[1:])}
    return seconds, cpu, log.inside + seconds - (logged - start), made, segments


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--steps', type=int, default=500, help="phase 1's steps (the main job: 1500); phase 3 is a tenth of it")
    p.add_argument('--phase2_steps', type=int, default=500, help="phase 2's steps (the main job: 1500)")
    p.add_argument('--repeats', type=int, default=3, help='runs of each variant')
    p.add_argument('--threads', type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    data = shapes_data()
    config = preset('main', steps=args.steps, phase2_steps=args.phase2_steps)
    variants = {'MetricsLog': MetricsLog, 'TensorBoardLog': TensorBoardLog}
    seconds, cpu, inside, segments = ({name: [] for name in variants} for _ in range(4))
    root = Path(tempfile.mkdtemp())
    timed_run(data, config.updated(steps=10, phase2_steps=10), MetricsLog, root/'warm-up')  # a process's first run is slower
    for repeat in range(args.repeats):
        for name in (list(variants) if repeat % 2 == 0 else list(variants)[::-1]):
            total, processor, hooks, made, laps = timed_run(data, config, variants[name], root/f'{name}-{repeat}')
            seconds[name].append(total); cpu[name].append(processor); inside[name].append(hooks); segments[name].append(laps)
            print(f"run {repeat + 1}/{args.repeats} {name:>14}: {total:.2f} s ({processor:.2f} CPU s), {hooks:.3f} s of it in "
                  f"the log's hooks; making the log {made:.3f} s", flush=True)
    plain, logged = min(seconds['MetricsLog']), min(seconds['TensorBoardLog'])
    extra = min(inside['TensorBoardLog']) - min(inside['MetricsLog'])
    print(f"\nmain preset, {args.steps} + {args.phase2_steps} + {round(config.phase3_frac * args.steps)} steps, "
          f"{args.threads} threads, min of {args.repeats}: MetricsLog {plain:.2f} s, TensorBoardLog {logged:.2f} s, "
          f"ratio {logged / plain:.4f} (overhead {100 * (logged / plain - 1):+.2f}%; target <= +2%)")
    # a burst of other work on the machine slows a part of a run: the fastest repeat of each segment sees through it
    fastest = {name: sum(min(run[key] for run in runs) for key in runs[0]) for name, runs in segments.items()}
    print(f"sum over {LAP}-step segments of the fastest repeat: MetricsLog {fastest['MetricsLog']:.2f} s, TensorBoardLog "
          f"{fastest['TensorBoardLog']:.2f} s, ratio {fastest['TensorBoardLog'] / fastest['MetricsLog']:.4f}")
    print(f"CPU seconds, min of {args.repeats}: MetricsLog {min(cpu['MetricsLog']):.2f}, TensorBoardLog {min(cpu['TensorBoardLog']):.2f}, "
          f"ratio {min(cpu['TensorBoardLog']) / min(cpu['MetricsLog']):.4f}")
    print(f"in the log's hooks, min of {args.repeats}: MetricsLog {min(inside['MetricsLog']):.3f} s, TensorBoardLog "
          f"{min(inside['TensorBoardLog']):.3f} s: {extra:.3f} s more, {100 * extra / fastest['MetricsLog']:.2f}% of the fastest segments' sum")


if __name__ == '__main__':
    main()
