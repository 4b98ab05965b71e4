import numpy as np

from lab import df


def test_flat_spectrum_gives_n():
    assert df.effective_dim(np.ones(7)) == 7.0


def test_single_spike_gives_one():
    assert df.effective_dim([5.0, 0, 0, 0]) == 1.0


def test_two_to_one_spectrum():
    # (2+1)^2 / (4+1) = 1.8
    assert abs(df.effective_dim([2.0, 1.0]) - 1.8) < 1e-12


def test_empty_and_scale_invariance():
    assert df.effective_dim([]) == 0.0
    lam = np.array([3.0, 2.0, 0.5])
    assert abs(df.effective_dim(lam) - df.effective_dim(10 * lam)) < 1e-12


def test_patch_df_of_white_noise_is_near_full():
    g = np.random.default_rng(0).normal(size=(256, 256))
    d, lam = df.patch_df(g, 8)
    assert lam.shape == (64,)
    assert 55 < d <= 64


def test_patch_df_of_rank_one_image_is_one():
    g = np.outer(np.ones(64), np.arange(64.0))  # every 8x8 block is a ramp plus a constant: rank-2 set
    d, _ = df.patch_df(g, 8)
    assert d < 2.01


def test_components_for_energy():
    assert df.components_for_energy([1, 1, 1, 1], 0.5) == 2
