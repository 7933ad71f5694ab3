"""VQ-VAE train step: images/s against a MishaLaskin/vqvae-style reference, and FLOP/s against the CPU's FP32 peak, in one run.

Anchors' configuration: 3x32x32 images, batch 32, 128 hidden channels, 32 residual channels, 2 residual layers,
512 codes of dim 64, Adam(amsgrad) at 3e-4, loss = MSE / pixel variance + VQ loss. The reference model is written
here from that repository's description (conv encoder, weight-shared residual stack, 1x1 pre-quantization conv,
one-hot quantizer, transposed-conv decoder) so that every variant runs in one process on the same inputs.

Timing: the variants take turns, `--steps` steps each per round, for `--rounds` rounds; each reports its fastest
step and its median one (on a CPU shared with other jobs the fastest is the least disturbed). Rows:
- the reference, and text_vq's `VQVAE` with the reference's own step (same optimizer), in fp32 and bf16 autocast;
- the kit's `Trainer.one_step` (AdamW, gradient clipping, the history row) in fp32 and bf16;
- with `--compile`, the model step with the encoder and decoder under `torch.compile` (inductor; skipped, with the
  reason, where no C++ compiler is on the PATH).

FLOP/s: the step's FLOPs are counted on the model by `torch.utils.flop_counter.FlopCounterMode` (forward and
backward, the same count in bf16); the peak is derived from lscpu: cores x GHz x fp32 lanes per FMA x 2 FMA units
x 2 FLOPs per FMA. A 1024^2 fp32 matrix product and the model's convolutions alone (forward and backward, each layer
on its own) are timed in the same rounds, to show how much of the peak the step's parts can reach at all.

Run: python nbs/benchmarks/bench_train_step.py [--rounds 15] [--steps 2] [--threads 2] [--compile]
"""
import argparse, re, shutil, subprocess, time

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from text_vq.config import LiveParams, Phase
from text_vq.training import BatchStream, Trainer, default_precision
from text_vq.vqvae import VQVAE


class RefResidualStack(nn.Module):
    "The reference's residual stack: one layer object repeated, so all layers share weights."
    def __init__(self, h, res_h, n):
        super().__init__()
        layer = nn.Sequential(nn.ReLU(), nn.Conv2d(h, res_h, 3, 1, 1, bias=False), nn.ReLU(), nn.Conv2d(res_h, h, 1, bias=False))
        self.layers = nn.ModuleList([layer] * n)
    def forward(self, x):
        for layer in self.layers: x = x + layer(x)
        return F.relu(x)


class RefQuantizer(nn.Module):
    "One-hot formulation: full distance matrix, scatter into a one-hot matrix, matmul lookup (beta on the codebook term, as there)."
    def __init__(self, k, d, beta):
        super().__init__()
        self.embedding = nn.Embedding(k, d); self.embedding.weight.data.uniform_(-1 / k, 1 / k)
        self.k, self.d, self.beta = k, d, beta
    def forward(self, z):
        z = z.permute(0, 2, 3, 1).contiguous()
        flat = z.view(-1, self.d)
        dist = (flat ** 2).sum(1, keepdim=True) + (self.embedding.weight ** 2).sum(1) - 2 * flat @ self.embedding.weight.t()
        idx = dist.argmin(1).unsqueeze(1)
        onehot = torch.zeros(idx.shape[0], self.k, device=z.device).scatter_(1, idx, 1)
        z_q = (onehot @ self.embedding.weight).view(z.shape)
        loss = ((z_q.detach() - z) ** 2).mean() + self.beta * ((z_q - z.detach()) ** 2).mean()
        z_q = z + (z_q - z).detach()
        e_mean = onehot.mean(0)
        perplexity = torch.exp(-(e_mean * torch.log(e_mean + 1e-10)).sum())
        return loss, z_q.permute(0, 3, 1, 2).contiguous(), perplexity


class RefVQVAE(nn.Module):
    def __init__(self, h=128, res_h=32, n_res=2, k=512, d=64, beta=0.25):
        super().__init__()
        self.encoder = nn.Sequential(nn.Conv2d(3, h // 2, 4, 2, 1), nn.ReLU(), nn.Conv2d(h // 2, h, 4, 2, 1), nn.ReLU(),
                                     nn.Conv2d(h, h, 3, 1, 1), RefResidualStack(h, res_h, n_res))
        self.pre_quantization_conv = nn.Conv2d(h, d, 1)
        self.vector_quantization = RefQuantizer(k, d, beta)
        self.decoder = nn.Sequential(nn.ConvTranspose2d(d, h, 3, 1, 1), RefResidualStack(h, res_h, n_res),
                                     nn.ConvTranspose2d(h, h // 2, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(h // 2, 3, 4, 2, 1))
    def forward(self, x):
        loss, z_q, perplexity = self.vector_quantization(self.pre_quantization_conv(self.encoder(x)))
        return loss, self.decoder(z_q), perplexity


def model_step(model, x, variance, bf16=False):
    "The reference's train step on `model`: Adam(amsgrad) at 3e-4 on MSE / variance + the VQ loss."
    opt = torch.optim.Adam(model.parameters(), lr=3e-4, amsgrad=True)
    def step():
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
            embedding_loss, x_hat, _ = model(x)
            loss = F.mse_loss(x_hat.float(), x) / variance + embedding_loss.float()
        opt.zero_grad(); loss.backward(); opt.step()
    return step


PHASE1 = Phase('phase1', parts=('encoder', 'codebook', 'decoder'), losses=('recon', 'vq'))

def trainer_step(x, variance, precision):
    "The kit's step: `Trainer.one_step` of phase 1 (encoder, codebook, decoder; recon + vq) on batches of `x`'s size."
    phase = PHASE1
    stream = BatchStream(x.repeat(4, 1, 1, 1), torch.zeros(4 * len(x), 1, dtype=torch.long), batch_size=len(x))
    trainer = Trainer(VQVAE(), None, stream, phase, hp=LiveParams(lr=3e-4), device='cpu', precision=precision,
                      recon_variance=variance)
    return lambda: trainer.one_step(next(stream))


def step_flops(model, x):
    "FLOPs of one forward and backward pass of `model` on `x` (the quantity the FLOP/s rows divide)."
    with FlopCounterMode(display=False) as counter:
        embedding_loss, x_hat, _ = model(x)
        (F.mse_loss(x_hat, x) + embedding_loss).backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def conv_layers_step(model, x):
    "Every convolution of `model` alone, forward and backward on inputs of the shapes it sees in `model(x)`, and their FLOPs."
    shapes = {}
    convs = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    def record(m, args, out): shapes[m] = args[0].shape, out.shape
    hooks = [m.register_forward_hook(record) for m in convs]
    with torch.no_grad(): model(x)
    for h in hooks: h.remove()
    work = []
    for m in convs:
        inp_shape, out_shape = shapes[m]
        # the first layer reads the images, which need no gradient; every other layer passes one back
        inp = torch.randn(inp_shape).contiguous(memory_format=torch.channels_last).requires_grad_(m is not convs[0])
        work.append((m, inp, torch.randn(out_shape).contiguous(memory_format=torch.channels_last)))
    def step():
        for m, inp, grad in work: m(inp).backward(grad)
    with FlopCounterMode(display=False) as counter: step()
    return step, counter.get_total_flops()


def fp32_peak(threads:int) -> tuple[float, str]:
    "FP32 peak FLOP/s of the cores `threads` threads use, from lscpu (cores x GHz x lanes x 2 FMA units x 2), and how it was derived."
    info = subprocess.run(['lscpu'], capture_output=True, text=True).stdout
    field = lambda name: (re.search(rf'^{name}:\s*(.+)$', info, re.M) or [None, None])[1]
    cores = min(threads, int(field(r'Core\(s\) per socket') or 1) * int(field(r'Socket\(s\)') or 1))
    mhz = field('CPU max MHz') or field('CPU MHz')
    if mhz is None:  # lscpu of a VM often omits the clock; the kernel reports it
        mhz = re.search(r'cpu MHz\s*:\s*([\d.]+)', open('/proc/cpuinfo').read())[1]
    ghz = float(mhz) / 1000
    flags = field('Flags') or ''
    lanes = 16 if 'avx512f' in flags else 8 if 'fma' in flags else 4
    return cores * ghz * lanes * 2 * 2 * 1e9, f"{cores} cores x {ghz:.2f} GHz x {lanes} fp32 lanes x 2 FMA units x 2"


def compiler_missing() -> str | None:
    "Why inductor cannot build CPU kernels here, or None."
    if not any(shutil.which(c) for c in ('g++', 'c++', 'clang++')): return "no C++ compiler (g++, c++, clang++) on the PATH"
    return None


def compiled(model):
    "`model` with its encoder and decoder compiled in place (the quantizer, with its data-dependent steps, stays eager)."
    model.encoder.compile(); model.decoder.compile()
    return model


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--rounds', type=int, default=15)
    p.add_argument('--steps', type=int, default=2, help='steps per variant per round')
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--batch_size', type=int, default=32)
    p.add_argument('--compile', action='store_true', help='also time torch.compile (inductor) variants; compiling takes a minute')
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.rand(args.batch_size, 3, 32, 32) * 2 - 1
    variance = x.var().item()
    flops = step_flops(VQVAE(), x)
    ref_flops = step_flops(RefVQVAE(), x)
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    convs, conv_flops = conv_layers_step(VQVAE(), x)
    variants = {  # name -> (step, FLOPs per step, images per step)
        'reference (MishaLaskin-style) fp32': (model_step(RefVQVAE(), x, variance), ref_flops, len(x)),
        'text_vq VQVAE fp32': (model_step(VQVAE(), x, variance), flops, len(x)),
        'text_vq VQVAE bf16 autocast': (model_step(VQVAE(), x, variance, bf16=True), flops, len(x)),
        **{f"text_vq Trainer.one_step {p}{' (default)' if p == default_precision('cpu', PHASE1) else ''}":
           (trainer_step(x, variance, p), flops, len(x)) for p in ('fp32', 'bf16')},
    }
    skipped = None
    if args.compile:
        skipped = compiler_missing()
        if skipped is None:
            variants['text_vq VQVAE fp32, compiled'] = (model_step(compiled(VQVAE()), x, variance), flops, len(x))
            variants['text_vq VQVAE bf16, compiled'] = (model_step(compiled(VQVAE()), x, variance, bf16=True), flops, len(x))
    parts = {'fp32 matmul 1024^2': (lambda: torch.mm(a, b), 2 * 1024 ** 3, 0),
             "text_vq's convolutions alone, fp32": (convs, conv_flops, 0)}
    timed = {**variants, **parts}
    for step, _, _ in timed.values():  # warm-up: first-call allocations, oneDNN primitives, compilation
        for _ in range(3): step()
    times = {name: [] for name in timed}
    for _ in range(args.rounds):
        for name, (step, _, _) in timed.items():
            for _ in range(args.steps):
                start = time.perf_counter(); step(); times[name].append(time.perf_counter() - start)
    best = {name: min(t) for name, t in times.items()}
    median = {name: sorted(t)[len(t) // 2] for name, t in times.items()}
    peak, derivation = fp32_peak(args.threads)
    ref = 'reference (MishaLaskin-style) fp32'
    print(f"VQ-VAE train step, 3x32x32, batch {args.batch_size}, {args.threads} threads (torch.get_num_threads() = "
          f"{torch.get_num_threads()}), {args.rounds} rounds x {args.steps} steps per variant, interleaved")
    print(f"FLOPs per step (FlopCounterMode, forward + backward): text_vq {flops / 1e9:.2f} G, reference {ref_flops / 1e9:.2f} G")
    print(f"FP32 peak {peak / 1e9:.0f} GFLOP/s = {derivation}\n")
    print(f"{'variant':<38}{'images/s':>10}{'median':>8}{'x reference':>13}{'GFLOP/s':>9}{'of peak':>9}")
    for name, (_, f, n) in variants.items():
        print(f"{name:<38}{n / best[name]:>10.0f}{n / median[name]:>8.0f}{best[ref] / best[name]:>13.2f}"
              f"{f / best[name] / 1e9:>9.0f}{f / best[name] / peak:>9.0%}")
    for name, (_, f, _) in parts.items():
        print(f"{name:<38}{'':>10}{'':>8}{'':>13}{f / best[name] / 1e9:>9.0f}{f / best[name] / peak:>9.0%}")
    if skipped: print(f"compiled variants skipped: {skipped}")


if __name__ == '__main__':
    main()
