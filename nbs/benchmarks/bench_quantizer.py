"""Forward + backward time of `text_vq.quantizer.VectorQuantizer` against the one-hot formulation of
MishaLaskin/vqvae, and of its rotation trick and of FSQ at the same K against it, side by side in one process.

    python nbs/benchmarks/bench_quantizer.py [--threads 2] [--repeats 21]

The one-hot baseline builds the full N x K distance matrix including ||z||^2, scatters a one-hot N x K matrix and
gathers the codes with a one-hot matmul (whose backward is another N x K x D matmul). Both quantizers see the same
z_e (B, D, 8, 8) and the same codebook; the script checks that they choose the same codes before timing.
The two are timed interleaved, repeat by repeat, so that load from other processes hits both alike; the table
reports medians. "GEMM share" is the time of the distance matrix products alone (same chunks and buffers as
`nearest_code`) divided by the quantizer's forward + backward time; "assignment" is `nearest_code` whole (GEMMs plus
the row-wise argmax), which needs no backward.

A second table sets the rotation trick (`VectorQuantizer(rotation_trick=True)`, the same codebook; target: at most
1.3x straight-through) and FSQ (`FSQ`, levels whose product is K, with its projections from and to D; target: faster
than the learned codebook) against the same straight-through quantizer, timed in the same interleaved repeats.
"""
import argparse
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from text_vq.quantizer import VectorQuantizer, nearest_code
from text_vq.fsq import FSQ

FSQ_LEVELS = {512: [8, 8, 8], 1024: [8, 8, 4, 4]}  # K codes each


class OneHotQuantizer(nn.Module):
    "The MishaLaskin/vqvae quantizer (loss as there, beta on the codebook term), for timing only."
    def __init__(self, n_embeddings, embedding_dim, beta=0.25):
        super().__init__()
        self.n_embeddings, self.embedding_dim, self.beta = n_embeddings, embedding_dim, beta
        self.embedding = nn.Embedding(n_embeddings, embedding_dim)

    def forward(self, z):
        z = z.permute(0, 2, 3, 1).contiguous()
        z_flattened = z.view(-1, self.embedding_dim)
        weight = self.embedding.weight
        d = (torch.sum(z_flattened ** 2, dim=1, keepdim=True) + torch.sum(weight ** 2, dim=1)
             - 2 * torch.matmul(z_flattened, weight.t()))
        min_encoding_indices = torch.argmin(d, dim=1).unsqueeze(1)
        min_encodings = torch.zeros(min_encoding_indices.shape[0], self.n_embeddings, device=z.device)
        min_encodings.scatter_(1, min_encoding_indices, 1)
        z_q = torch.matmul(min_encodings, weight).view(z.shape)
        loss = torch.mean((z_q.detach() - z) ** 2) + self.beta * torch.mean((z_q - z.detach()) ** 2)
        z_q = z + (z_q - z).detach()
        e_mean = torch.mean(min_encodings, dim=0)
        perplexity = torch.exp(-torch.sum(e_mean * torch.log(e_mean + 1e-10)))
        z_q = z_q.permute(0, 3, 1, 2).contiguous()
        return loss, z_q, perplexity, min_encodings, min_encoding_indices


def forward_backward(quantizer, z_e, grad_z_q):
    "One training step's worth: forward, then backward of the VQ loss and of a decoder's gradient on z_q."
    loss, z_q, *_ = quantizer(z_e.detach().requires_grad_())
    outputs = [(o, g) for o, g in ((loss, torch.ones_like(loss)), (z_q, grad_z_q)) if o.requires_grad]  # FSQ's loss is a constant
    torch.autograd.backward(*zip(*outputs))
    quantizer.zero_grad(set_to_none=True)


def distance_gemms(quantizer, z_e):
    "A closure running the distance matrix products of `nearest_code` alone: same chunks, same buffers."
    rows = z_e.permute(0, 2, 3, 1).reshape(-1, quantizer.embedding_dim)
    codebook = quantizer.embedding.weight.detach()
    codes = torch.cat([codebook, -0.5 * codebook.pow(2).sum(1, keepdim=True)], 1).t()
    rows = torch.cat([rows, torch.ones(len(rows), 1)], 1)
    chunk = quantizer.chunk_size
    def run():
        scores = rows.new_empty(min(len(rows), chunk), codebook.shape[0])
        for start in range(0, len(rows), chunk):
            torch.mm(rows[start:start + chunk], codes, out=scores[:len(rows[start:start + chunk])])
    return run


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench(n_rows, dim, n_codes, repeats):
    torch.manual_seed(0)
    z_e = torch.randn(n_rows // 64, dim, 8, 8)
    grad_z_q = torch.randn_like(z_e)
    ours = VectorQuantizer(n_codes, dim)
    one_hot = OneHotQuantizer(n_codes, dim)
    with torch.no_grad():
        ours.embedding.weight.normal_()  # codes among the data, so the argmin is not trivial
        one_hot.embedding.weight.copy_(ours.embedding.weight)
    assert torch.equal(ours(z_e).indices.flatten(), one_hot(z_e)[4].flatten()), 'the two quantizers disagree'
    rotating = VectorQuantizer(n_codes, dim, rotation_trick=True)
    rotating.load_state_dict(ours.state_dict())
    fsq = FSQ(FSQ_LEVELS[n_codes], dim)
    assert fsq.n_embeddings == n_codes
    rows = z_e.permute(0, 2, 3, 1).reshape(-1, dim)
    runs = {'one-hot': lambda: forward_backward(one_hot, z_e, grad_z_q),
            'ours': lambda: forward_backward(ours, z_e, grad_z_q),
            'rotation': lambda: forward_backward(rotating, z_e, grad_z_q),
            'fsq': lambda: forward_backward(fsq, z_e, grad_z_q),
            'gemm': distance_gemms(ours, z_e),
            'assign': lambda: nearest_code(rows, ours.embedding.weight.detach(), ours.chunk_size)}
    for fn in runs.values(): fn(); fn()  # warm-up: allocator, thread pool, kernels
    times = {name: [] for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items(): times[name].append(timed(fn))
    medians = {name: statistics.median(t) * 1e3 for name, t in times.items()}
    chunks = -(-n_rows // ours.chunk_size)
    return dict(N=n_rows, D=dim, K=n_codes, chunks=chunks, **medians)


def oracle_check():
    "The rotation trick's gradient against vector-quantize-pytorch's `rotate_to`, when that library is installed (not a dependency)."
    try: from vector_quantize_pytorch.vector_quantize_pytorch import rotate_to
    except ImportError: return print('oracle: vector-quantize-pytorch not installed, rotation-trick gradient not compared')
    from text_vq.quantizer import rotate_onto_codes
    torch.manual_seed(0)
    z, codes, g = torch.randn(4096, 64, requires_grad=True), torch.randn(4096, 64), torch.randn(4096, 64)
    (rotate_to(z, codes) * g).sum().backward()
    ours = z.detach().clone().requires_grad_()
    (rotate_onto_codes(ours, codes) * g).sum().backward()
    gap = (ours.grad - z.grad).abs().max().item() / z.grad.abs().max().item()
    print(f"oracle: rotation-trick gradient vs vector-quantize-pytorch rotate_to, largest relative difference {gap:.1e} "
          f"({'PASS' if gap < 1e-5 else 'FAIL'})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--repeats', type=int, default=21)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    oracle_check()
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads, median of {args.repeats} repeats, '
          f'forward + backward')
    header = ('| N | D | K | row chunks | one-hot (ms) | ours (ms) | speed-up | distance GEMM (ms) | GEMM share of ours '
              '| assignment: GEMM + argmax (ms) |')
    print(header)
    print('|' + '---|' * header.count(' | ') + '---|')
    results = [bench(n_rows, 64, n_codes, args.repeats) for n_rows, n_codes in [(4096, 512), (32768, 1024)]]
    for r in results:
        print(f"| {r['N']} | {r['D']} | {r['K']} | {r['chunks']} | {r['one-hot']:.2f} | {r['ours']:.2f} | "
              f"{r['one-hot'] / r['ours']:.2f}x | {r['gemm']:.2f} | {r['gemm'] / r['ours']:.0%} | {r['assign']:.2f} |")
    print('\n| N | K | straight-through (ms) | rotation trick (ms) | ratio (target <= 1.3x) | FSQ levels | FSQ (ms) | ratio (target < 1x) |')
    print('|---|---|---|---|---|---|---|---|')
    for r in results:
        rot, fsq = r['rotation'] / r['ours'], r['fsq'] / r['ours']
        print(f"| {r['N']} | {r['K']} | {r['ours']:.2f} | {r['rotation']:.2f} | {rot:.2f}x {'PASS' if rot <= 1.3 else 'FAIL'} | "
              f"{FSQ_LEVELS[r['K']]} | {r['fsq']:.2f} | {fsq:.2f}x {'PASS' if fsq < 1 else 'FAIL'} |")


if __name__ == '__main__':
    main()
