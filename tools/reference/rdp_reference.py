#!/usr/bin/env python3
"""Reference values for the RDP accountant (src/Learning/Privacy/RenyiDp.cs and PrivacyAccountant.cs).

An independent reimplementation, with numpy/scipy, of the Renyi-DP bound of the Poisson-subsampled
Gaussian mechanism (Mironov, Talwar, Zhang 2019, "Renyi Differential Privacy of the Sampled
Gaussian Mechanism", Sections 3.3 integer orders and 3.4 fractional orders) and of the two
conversions to (epsilon, delta):

- "classic": epsilon = RDP(a) + log(1/delta) / (a - 1) (Mironov 2017, Proposition 3), the
  conversion the TensorFlow Privacy tutorials of 2019 reported with;
- "improved": epsilon = RDP(a) + log((a - 1) / a) - (log(delta) + log(a)) / (a - 1) (Balle et
  al. 2020, "Hypothesis testing interpretations and Renyi differential privacy", Theorem 21), the
  conversion Opacus' RDP accountant reports with.

Prints the epsilon of the published DP-SGD settings the C# tests check:
    python3 tools/reference/rdp_reference.py
"""
import math

import numpy as np
from scipy import special

ORDERS = [1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64))


def log_add(x, y):
    a, b = min(x, y), max(x, y)
    if a == -np.inf:
        return b
    return math.log1p(math.exp(a - b)) + b


def log_sub(x, y):
    if y == -np.inf:
        return x
    if x == y:
        return -np.inf
    return math.log(math.expm1(x - y)) + y


def log_erfc(x):
    return math.log(2) + special.log_ndtr(-x * math.sqrt(2))


def log_a_int(q, sigma, alpha):
    total = -np.inf
    for i in range(alpha + 1):
        term = (math.log(special.binom(alpha, i)) + i * math.log(q) + (alpha - i) * math.log(1 - q)
                + (i * i - i) / (2 * sigma ** 2))
        total = log_add(total, term)
    return total


def log_a_frac(q, sigma, alpha):
    a0, a1 = -np.inf, -np.inf
    z0 = sigma ** 2 * math.log(1 / q - 1) + 0.5
    i = 0
    while True:
        coef = special.binom(alpha, i)
        log_coef = math.log(abs(coef))
        j = alpha - i
        t0 = log_coef + i * math.log(q) + j * math.log(1 - q)
        t1 = log_coef + j * math.log(q) + i * math.log(1 - q)
        e0 = math.log(0.5) + log_erfc((i - z0) / (math.sqrt(2) * sigma))
        e1 = math.log(0.5) + log_erfc((z0 - j) / (math.sqrt(2) * sigma))
        s0 = t0 + (i * i - i) / (2 * sigma ** 2) + e0
        s1 = t1 + (j * j - j) / (2 * sigma ** 2) + e1
        if coef > 0:
            a0, a1 = log_add(a0, s0), log_add(a1, s1)
        else:
            a0, a1 = log_sub(a0, s0), log_sub(a1, s1)
        i += 1
        if max(s0, s1) < -30:
            break
    return log_add(a0, a1)


def rdp(q, sigma, alpha):
    if q == 1.0:
        return alpha / (2 * sigma ** 2)
    log_a = log_a_int(q, sigma, int(alpha)) if float(alpha).is_integer() else log_a_frac(q, sigma, alpha)
    return log_a / (alpha - 1)


def epsilon(q, sigma, steps, delta, conversion, orders=ORDERS):
    best = math.inf
    for a in orders:
        r = steps * rdp(q, sigma, a)
        if conversion == "classic":
            e = r - math.log(delta) / (a - 1)
        else:
            e = r + math.log1p(-1 / a) - (math.log(delta) + math.log(a)) / (a - 1)
        best = min(best, e)
    return best


if __name__ == "__main__":
    # TensorFlow Privacy tutorials/README.md: MNIST, N = 60000, batch 256, delta = 1e-5,
    # steps = epochs * N // batch; published epsilon 2.92 (sigma 1.1, 60 epochs), 9.74 (0.6, 30), 1.20 (1.2, 10).
    for sigma, epochs in [(1.1, 60), (0.6, 30), (1.2, 10), (1.1, 1), (1.1, 2)]:
        steps = epochs * 60000 // 256
        q = 256 / 60000
        print(f"mnist sigma={sigma} epochs={epochs} steps={steps}: "
              f"classic {epsilon(q, sigma, steps, 1e-5, 'classic'):.4f} "
              f"improved {epsilon(q, sigma, steps, 1e-5, 'improved'):.4f}")
    # Single orders, to check the per-order RDP itself.
    for q, sigma, a in [(0.01, 1.0, 2), (0.01, 1.0, 8), (0.01, 1.0, 2.5), (0.05, 0.8, 5.5), (256 / 60000, 1.1, 13)]:
        print(f"rdp q={q} sigma={sigma} alpha={a}: {rdp(q, sigma, a):.10e}")
    # Plain Gaussian mechanism (q = 1): sigma = 5, 10 releases, delta = 1e-5.
    print(f"gaussian sigma=5 x10: improved {epsilon(1.0, 5.0, 10, 1e-5, 'improved'):.4f}")
