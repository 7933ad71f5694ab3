"""VQ-VAE train-step throughput (images/s): text_vq's VQVAE against a MishaLaskin/vqvae-style reference step.

Anchors' configuration: 3x32x32 images, batch 32, 128 hidden channels, 32 residual channels, 2 residual layers,
512 codes of dim 64, Adam(amsgrad) at 3e-4, loss = MSE / pixel variance + VQ loss. The reference model is written
here from that repository's description (conv encoder, weight-shared residual stack, 1x1 pre-quantization conv,
one-hot quantizer, transposed-conv decoder) so both run in one process on the same inputs; the script prints the
ratio. text_vq's step also runs under bf16 autocast on the CPU for comparison.

Run: python nbs/benchmarks/bench_train_step.py [--steps 30] [--threads 2]
"""
import argparse, time

import torch
import torch.nn as nn
import torch.nn.functional as F

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


def images_per_second(model, x, variance, steps, autocast=False):
    opt = torch.optim.Adam(model.parameters(), lr=3e-4, amsgrad=True)
    def step():
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=autocast):
            embedding_loss, x_hat, _ = model(x)
            loss = F.mse_loss(x_hat.float(), x) / variance + embedding_loss.float()
        opt.zero_grad(); loss.backward(); opt.step()
    for _ in range(3): step()
    times = []
    for _ in range(steps):
        start = time.perf_counter(); step(); times.append(time.perf_counter() - start)
    times.sort()
    return len(x) / times[len(times) // 2]  # median step


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--steps', type=int, default=30)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--batch_size', type=int, default=32)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.rand(args.batch_size, 3, 32, 32) * 2 - 1
    variance = x.var().item()
    ref = images_per_second(RefVQVAE(), x, variance, args.steps)
    ours = images_per_second(VQVAE(), x, variance, args.steps)
    ours_bf16 = images_per_second(VQVAE(), x, variance, args.steps, autocast=True)
    print(f"VQ-VAE train step, 3x32x32, batch {args.batch_size}, {args.threads} threads, median of {args.steps} steps")
    print(f"{'model':<34}{'images/s':>10}{'ratio':>8}")
    print(f"{'reference (MishaLaskin-style) fp32':<34}{ref:>10.0f}{1.0:>8.2f}")
    print(f"{'text_vq VQVAE fp32':<34}{ours:>10.0f}{ours / ref:>8.2f}")
    print(f"{'text_vq VQVAE bf16 autocast':<34}{ours_bf16:>10.0f}{ours_bf16 / ref:>8.2f}")


if __name__ == '__main__':
    main()
