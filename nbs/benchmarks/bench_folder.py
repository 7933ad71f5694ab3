"""A folder of 100k tiny images: load time and peak memory, held as uint8 or streamed from disk.

Run: python nbs/benchmarks/bench_folder.py [--n 100000] [--side 16] [--root /tmp/text_vq_bench_folder] [--workers 2]
Builds (once; it is reused while its size matches) a folder of `--n` noise PNGs of `--side`² pixels with a
captions.csv, then measures each case in a fresh process: wall time and the peak resident memory above the process's
memory after its imports. The float sizes beside them are what the same pixels take as float32 (`N·C·S·S·4`): the old
loader's floor, which held every image as floats and then stacked them, a second copy. Also timed: one streamed
epoch through `DataLoader` workers, and the cost of the fingerprint's per-file digests against `os.stat` alone.
"""
import argparse, json, os, subprocess, sys, time
from multiprocessing import Pool
from pathlib import Path

import numpy as np


def _write(args):
    root, start, stop, side = args
    from PIL import Image
    rng = np.random.default_rng(start)
    for i in range(start, stop):
        Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(root/f"{i:06d}.png")


def build(root:Path, n:int, side:int, workers:int) -> float:
    "The folder at `root` (built unless it already holds `n` images of `side`); seconds spent building."
    stamp = root/'built.json'
    if stamp.exists() and json.loads(stamp.read_text()) == {'n': n, 'side': side}: return 0.
    start = time.perf_counter()
    root.mkdir(parents=True, exist_ok=True)
    chunks = [(root, a, min(a + 5000, n), side) for a in range(0, n, 5000)]
    with Pool(workers) as pool: pool.map(_write, chunks)
    words = ('red', 'green', 'blue', 'small', 'large', 'noise', 'square', 'patch')
    rows = ["file,caption"] + [f"{i:06d}.png,{words[i % 8]} {words[(i // 8) % 8]} noise" for i in range(n)]
    (root/'captions.csv').write_text('\n'.join(rows) + '\n')
    stamp.write_text(json.dumps({'n': n, 'side': side}))
    return time.perf_counter() - start


CASE = r'''
import json, resource, sys, time, os
import torch
from text_vq.folders import folder_data
root, case, image_size, workers = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
def rss_mb(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
base, start = rss_mb(), time.perf_counter()
out = {}
if case == 'digest':
    import hashlib
    names = sorted(p for p in os.listdir(root) if p.endswith('.png'))
    t = time.perf_counter(); [os.stat(os.path.join(root, p)) for p in names]; out['stat_s'] = time.perf_counter() - t
    t = time.perf_counter()
    for p in names:
        with open(os.path.join(root, p), 'rb') as f: hashlib.blake2b(f.read(1 << 20), digest_size=8).hexdigest()
    out['digest_s'] = time.perf_counter() - t
else:
    data = folder_data(root, image_size=image_size, stream=case == 'stream')
    out['load_s'] = time.perf_counter() - start
    out['peak_mb'] = rss_mb() - base
    out['pixels_mb'] = sum(len(s) for s in data.splits.values()) * 3 * image_size ** 2 / 2 ** 20
    if case == 'stream':
        t = time.perf_counter()
        n = sum(len(b[0]) for b in data.dataloader('train', 256, shuffle=False, num_workers=workers))
        out['epoch_s'], out['epoch_images'] = time.perf_counter() - t, n
        out['peak_epoch_mb'] = rss_mb() - base
print(json.dumps(out))
'''


def measure(root, case, image_size, workers) -> dict:
    "One case in a fresh process, so that its peak memory is its own."
    done = subprocess.run([sys.executable, '-c', CASE, str(root), case, str(image_size), str(workers)],
                          capture_output=True, text=True, check=True, env={**os.environ, 'OMP_NUM_THREADS': '1'})
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--n', type=int, default=100_000)
    p.add_argument('--side', type=int, default=16, help='side of the PNGs written')
    p.add_argument('--root', default='/tmp/text_vq_bench_folder')
    p.add_argument('--workers', type=int, default=2, help='processes that build the folder and stream the epoch')
    args = p.parse_args()
    root = Path(args.root)
    built = build(root, args.n, args.side, args.workers)
    print(f"folder: {args.n} PNGs of {args.side}x{args.side} in {root}" + (f" (built in {built:.0f} s)" if built else " (reused)"))
    digest = measure(root, 'digest', 0, args.workers)
    print(f"per-file digests (first MiB, blake2b): {digest['digest_s']:.1f} s; os.stat alone: {digest['stat_s']:.1f} s")
    print(f"{'case':<28}{'load s':>8}{'peak MB':>9}{'uint8 MB':>10}{'float MB':>10}{'peak/float':>12}")
    for case, image_size in (('uint8', args.side), ('uint8', 2 * args.side), ('stream', args.side)):
        r = measure(root, case, image_size, args.workers)
        floats = 4 * r['pixels_mb']
        print(f"{f'{case}, image_size {image_size}':<28}{r['load_s']:>8.1f}{r['peak_mb']:>9.0f}{r['pixels_mb']:>10.0f}{floats:>10.0f}{r['peak_mb'] / floats:>12.2f}")
        if case == 'stream':
            print(f"  one streamed epoch ({r['epoch_images']} images, {args.workers} workers, batches of 256): {r['epoch_s']:.1f} s "
                  f"({r['epoch_images'] / r['epoch_s']:.0f} images/s), peak {r['peak_epoch_mb']:.0f} MB")


if __name__ == '__main__':
    main()
