"""Self-organizing map (Kohonen, 1982), vectorized in PyTorch — CPU or GPU.

A grid of ``rows x cols`` units, each with a weight vector in the input space. Training pulls the
best-matching unit (BMU) of an input, and its grid neighbours, towards the input:

- online rule (Kohonen 1982; MiniSom's ``train``): one input at a time,
  ``w_j += lr(t) * h(c, j; sigma(t)) * (x - w_j)``. With MiniSom's initial weights, order and
  schedules it gives MiniSom's weights (tests/test_som.py), in about half MiniSom's time
  (benchmarks/som_speed.py).
- batch rule (Kohonen, "Essentials of the self-organizing map", Neural Networks 37, 2013): once per
  epoch every unit moves to the neighbourhood-weighted mean of all inputs,
  ``w_j = sum_i h(c_i, j) x_i / sum_i h(c_i, j)`` — two matrix products, no learning rate, no Python
  loop over inputs: a different algorithm from the online rule, far faster (benchmarks/som_speed.py
  measures both against MiniSom's online rule).

Schedules decay ``lr`` and ``sigma`` with the step ``t`` out of ``T`` (MiniSom's three functions).
Quality: quantization error (mean distance of an input to its BMU) and topographic error (share of
inputs whose best and second-best units are not grid neighbours, diagonals included, as MiniSom).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

NEIGHBORHOODS = ("gaussian", "bubble")
DECAYS = ("asymptotic", "linear", "inverse")
INITS = ("sample", "pca")


def decay(kind: str, start: float, t: float, total: float, *, sigma: bool) -> float:
    """MiniSom's schedules: 'asymptotic' -> start/3 at the end (both); 'linear' and 'inverse' end at 0 for
    the learning rate and at 1 for sigma (a neighbourhood narrower than one unit stops ordering the map)."""
    if kind == "asymptotic":
        return start / (1 + t / (total / 2))
    if kind == "linear":
        return start + t * (1 - start) / total if sigma else start * (1 - t / total)
    if kind == "inverse":
        return start / (1 + t * (start - 1) / total) if sigma else start * (total / 100) / (total / 100 + t)
    raise ValueError(f"decay must be one of {', '.join(DECAYS)}, got '{kind}'")


class SOM(nn.Module):
    def __init__(self, rows: int, cols: int, in_features: int, neighborhood: str = "gaussian"):
        super().__init__()
        if neighborhood not in NEIGHBORHOODS:
            raise ValueError(f"neighborhood must be one of {', '.join(NEIGHBORHOODS)}, got '{neighborhood}'")
        if rows < 1 or cols < 1 or rows * cols < 2:
            raise ValueError(f"a map needs at least 2 units, got {rows} x {cols}")
        self.rows, self.cols, self.neighborhood = rows, cols, neighborhood
        self.register_buffer("weight", torch.zeros(rows * cols, in_features))  # (U, F), unit u = (u // cols, u % cols)
        r, c = torch.meshgrid(torch.arange(rows), torch.arange(cols), indexing="ij")
        self.register_buffer("grid", torch.stack([r.flatten(), c.flatten()], 1).float(), persistent=False)  # (U, 2)

    # ------------------------------------------------------------------ initialization
    def init_sample(self, x: torch.Tensor, generator: torch.Generator) -> None:
        """Each unit starts at a random input (MiniSom's random_weights_init)."""
        idx = torch.randint(len(x), (len(self.weight),), generator=generator)
        self.weight.copy_(x[idx.to(x.device)])

    def init_pca(self, x: torch.Tensor) -> None:
        """Units spread over the plane of the first two principal components, +-2 standard deviations along
        each (the SOM Toolbox's linear initialization; MiniSom spans +-1 unit vector): deterministic."""
        x = x.double()
        mean = x.mean(0)
        cov = torch.cov((x - mean).T)
        vals, vecs = torch.linalg.eigh(cov)  # ascending
        pcs = [vecs[:, -k] * vals[-k].clamp_min(0).sqrt() for k in (1, 2)]
        a = torch.linspace(-2, 2, self.rows, dtype=x.dtype, device=x.device)
        b = torch.linspace(-2, 2, self.cols, dtype=x.dtype, device=x.device)
        w = mean + a[:, None, None] * pcs[0] + b[None, :, None] * pcs[1]  # (rows, cols, F)
        self.weight.copy_(w.reshape(len(self.weight), -1))

    # ------------------------------------------------------------------ the map
    def distances(self, x: torch.Tensor) -> torch.Tensor:
        """(N, F) -> (N, U) squared Euclidean distances to every unit."""
        d = (x * x).sum(1, keepdim=True) - 2 * x @ self.weight.T + (self.weight * self.weight).sum(1)
        return d.clamp_min(0)

    def bmu(self, x: torch.Tensor, chunk: int = 8192) -> torch.Tensor:
        """(N, F) -> (N,) index of each input's best-matching unit (|x|^2 is the same for every unit: left out)."""
        w2 = (self.weight * self.weight).sum(1)
        return torch.cat([torch.addmm(w2, part, self.weight.T, alpha=-2).argmin(1) for part in x.split(chunk)])

    def neighbourhood(self, units: torch.Tensor, sigma: float) -> torch.Tensor:
        """(N,) unit indices -> (N, U) neighbourhood weights h(c, j) on the grid."""
        diff = self.grid[units][:, None, :] - self.grid[None, :, :]  # (N, U, 2)
        if self.neighborhood == "gaussian":  # separable, as MiniSom: exp(-dr^2/2s^2) * exp(-dc^2/2s^2)
            return torch.exp(-(diff * diff).sum(-1) / (2 * sigma * sigma))
        return (diff.abs() < sigma).all(-1).to(self.weight.dtype)  # bubble: a square of side 2*sigma

    # ------------------------------------------------------------------ training rules
    @torch.no_grad()
    def online_epoch(self, x: torch.Tensor, order: torch.Tensor, t0: int, total: int, lr: float, sigma: float,
                     lr_decay: str = "asymptotic", sigma_decay: str = "asymptotic") -> int:
        """One pass of the online rule over ``x[order]``; steps continue from ``t0``; returns the next step.

        The rule is sequential (each step's BMU depends on the step before), so its cost is per-step overhead:
        the loop runs on NumPy views of the weights (an op ~1 us, a torch op ~3 us) with every buffer, the
        schedules and the grid distances made once. Each step does the arithmetic the plain form
        ``w += lr_t * h * (x_i - w)`` does, op for op, so the weights are the same to the bit (and MiniSom's to
        1e-12, tests/test_som.py); ``exp`` stays torch's (NumPy's float32 exp rounds differently) and so does the
        row sum of the BMU search (its summation order). A map on a GPU is trained on the CPU and copied back:
        one input at a time, a GPU would wait on every step's BMU."""
        n = len(order)
        steps = range(t0, t0 + n)
        lrs = [decay(lr_decay, lr, t, total, sigma=False) for t in steps]
        sigmas = [decay(sigma_decay, sigma, t, total, sigma=True) for t in steps]
        weight = self.weight.detach().cpu()  # a view of the buffer on the CPU: updated in place
        w = weight.numpy()  # (U, F)
        xs = x[order].to("cpu", weight.dtype).numpy()  # (n, F) the inputs in visiting order
        grid = self.grid.to("cpu", weight.dtype)
        gap = grid[:, None, :] - grid[None, :, :]  # (U, U, 2) grid offsets between units
        diff, prod = np.empty_like(w), np.empty_like(w)  # (U, F): w - x_i, then its square / its update
        prod_t, dist_t = torch.from_numpy(prod), torch.empty(len(w), dtype=weight.dtype)
        h_t = torch.empty(len(w), dtype=weight.dtype)  # (U,) neighbourhood of this step's BMU
        dist, h = dist_t.numpy(), h_t.numpy()
        if self.neighborhood == "gaussian":
            minus_d2 = (-(gap * gap).sum(-1)).numpy()  # (U, U) -squared grid distance, as neighbourhood() has it
            widths = [2 * s * s for s in sigmas]
        else:
            reach = gap.abs().amax(-1).numpy()  # (U, U) both offsets < sigma <=> the larger one is
            inside = np.empty(len(w), dtype=bool)
        for i in range(n):
            np.subtract(w, xs[i], out=diff)
            np.multiply(diff, diff, out=prod)
            torch.sum(prod_t, 1, out=dist_t)  # (U,) squared distances to x_i
            c = dist.argmin()  # the BMU (the first of equals, as torch and MiniSom)
            if self.neighborhood == "gaussian":
                np.divide(minus_d2[c], widths[i], out=h)
                torch.exp(h_t, out=h_t)
            else:
                np.less(reach[c], sigmas[i], out=inside)
                h[:] = inside
            h *= lrs[i]
            np.multiply(diff, h[:, None], out=prod)
            w -= prod  # w + lr h (x - w) == w - lr h (w - x), exactly: negation is exact
        if weight.data_ptr() != self.weight.data_ptr():
            self.weight.copy_(weight)
        return t0 + n

    @torch.no_grad()
    def batch_epoch(self, x: torch.Tensor, sigma: float, chunk: int = 8192) -> None:
        """One update of the batch rule; units no input reaches keep their weights. Inputs are first summed
        per BMU (Voronoi sums), so the neighbourhood is a (U, U) matrix, never (N, U)."""
        units = self.bmu(x, chunk)
        sums = torch.zeros_like(self.weight).index_add_(0, units, x)  # (U, F) sum of the inputs each unit wins
        wins = torch.bincount(units, minlength=len(self.weight)).to(self.weight.dtype)  # (U,)
        h = self.neighbourhood(torch.arange(len(self.weight), device=self.weight.device), sigma)  # (U, U), symmetric
        num, den = h @ sums, h @ wins
        reached = den > 1e-12
        self.weight[reached] = num[reached] / den[reached, None]

    # ------------------------------------------------------------------ quality and maps
    @torch.no_grad()
    def quantization_error(self, x: torch.Tensor) -> float:
        """Mean Euclidean distance from each input to its BMU (in input units)."""
        return float(self.sample_errors(x).mean())

    @torch.no_grad()
    def topographic_error(self, x: torch.Tensor) -> float:
        """Share of inputs whose two best units are not adjacent on the grid (8-neighbourhood)."""
        two = torch.cat([self.distances(p).topk(2, largest=False).indices for p in x.split(8192)])
        gap = (self.grid[two[:, 0]] - self.grid[two[:, 1]]).norm(dim=1)
        return float((gap > math.sqrt(2) + 1e-6).double().mean())

    @torch.no_grad()
    def sample_errors(self, x: torch.Tensor) -> torch.Tensor:
        """(N,) distance of each input to its BMU — an outlier score in input units."""
        return torch.cat([self.distances(p).min(1).values for p in x.split(8192)]).sqrt()

    @torch.no_grad()
    def u_matrix(self, reduce: str = "mean") -> torch.Tensor:
        """(rows, cols) distance of each unit's weights to its 8 grid neighbours, averaged ('mean', the
        mean interneuron distance) or summed ('sum', MiniSom's distance_map before its division by the max)."""
        w = self.weight.reshape(self.rows, self.cols, -1)
        total = torch.zeros(self.rows, self.cols, dtype=w.dtype, device=w.device)
        count = torch.zeros_like(total)
        for dr in (-1, 0, 1):
            for dc in (-1, 0, 1):
                if dr == dc == 0:
                    continue
                r0, r1 = max(dr, 0), self.rows + min(dr, 0)  # rows whose neighbour (r + dr) exists
                c0, c1 = max(dc, 0), self.cols + min(dc, 0)
                d = (w[r0:r1, c0:c1] - w[r0 - dr:r1 - dr, c0 - dc:c1 - dc]).norm(dim=-1)
                total[r0 - dr:r1 - dr, c0 - dc:c1 - dc] += d
                count[r0 - dr:r1 - dr, c0 - dc:c1 - dc] += 1
        return total / count if reduce == "mean" else total

    @torch.no_grad()
    def hits(self, x: torch.Tensor) -> torch.Tensor:
        """(rows, cols) how many inputs each unit wins."""
        return torch.bincount(self.bmu(x), minlength=len(self.weight)).reshape(self.rows, self.cols)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, F) -> (N,) BMU indices."""
        return self.bmu(x)
