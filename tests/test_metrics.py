import math

import numpy as np

from lab import metrics as M


def test_psnr_known_value():
    a = np.zeros((4, 4, 3), np.uint8)
    b = a.copy()
    b[0, 0, 0] = 255  # mse = 255^2/48
    assert abs(M.psnr(a, b) - 10 * math.log10(48)) < 1e-9
    assert M.psnr(a, a) == float("inf")


def test_ms_ssim_identity_and_order():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (192, 192, 3)).astype(np.uint8)
    assert abs(M.ms_ssim(a, a) - 1) < 1e-9
    b1 = np.clip(a + rng.normal(0, 5, a.shape), 0, 255)
    b2 = np.clip(a + rng.normal(0, 30, a.shape), 0, 255)
    assert 1 > M.ms_ssim(a, b1) > M.ms_ssim(a, b2)


def test_bd_rate_identical_and_halved():
    r = np.array([0.1, 0.2, 0.4, 0.8, 1.6])
    d = np.array([26.0, 29.0, 32.0, 35.0, 38.0])
    assert abs(M.bd_rate(r, d, r, d)) < 1e-9
    assert abs(M.bd_rate(r, d, r / 2, d) + 50) < 1e-6
    assert math.isnan(M.bd_rate(r, d, r, d + 100))


def test_rates():
    assert M.bpp(3, (2, 3)) == 4.0
    assert M.bpc(1, 8) == 1.0
    assert M.ratio(10, 5) == 2.0
