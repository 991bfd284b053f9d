"""Spectra given as ``wavelength:value`` pairs -> linear sRGB, as Mitsuba 3's RGB variants do.

Mitsuba's RGB variants integrate a piecewise-linear spectrum against the CIE 1931 2-degree
colour matching functions (1000 evenly spaced wavelengths over 360-830 nm; zero outside the given
wavelengths), weighted by the D65 illuminant except for emitters, then convert XYZ to linear sRGB
(``spectrum_list_to_srgb`` in Mitsuba 3's ``src/core/spectrum.cpp``). Reflectance-like values are
clipped to [0, 1]; emitter values and unbounded parameters (``eta``, ``k``, ``alpha``...) only
have negative values clipped to 0. A uniform spectrum on an emitter (``<spectrum value="v">``)
is ``v * xyz_to_srgb(1, 1, 1)`` (equal energy is not white in sRGB), as in Mitsuba.

The tables are the CIE standard data at 5 nm (CIE 1931 2-degree observer, ISO/CIE 11664-1; the
D65 relative spectral power, ISO/CIE 11664-2) that Mitsuba 3 interpolates linearly.
"""
from __future__ import annotations

import numpy as np

CIE_MIN_NM = 360.0
CIE_MAX_NM = 830.0
CIE_STEP_NM = 5.0
#: Mitsuba's integration: this many evenly spaced wavelengths over [CIE_MIN_NM, CIE_MAX_NM]
INTEGRATION_STEPS = 1000
#: 1 / integral of y-bar: a unit spectrum has luminance 1
CIE_Y_NORMALIZATION = 1.0 / 106.7502593994140625
#: scale of the D65 table below (relative power 100 at 560 nm) that Mitsuba 3 applies
CIE_D65_NORMALIZATION = 0.010101273599490354
#: XYZ -> linear sRGB (D65 white), row-major, Mitsuba's matrix
XYZ_TO_SRGB = np.array([[3.240479, -1.537150, -0.498535],
                        [-0.969256, 1.875991, 0.041556],
                        [0.055648, -0.204043, 1.057311]])
#: parameters Mitsuba reads as unbounded textures (not clipped to 1)
UNBOUNDED_PARAMS = frozenset({"eta", "k", "sigma_a", "theta", "delta", "alpha", "alpha_u",
                              "alpha_v"})

CIE1931_X = np.array([
    0.0001299, 0.0002321, 0.0004149, 0.0007416, 0.001368, 0.002236, 0.004243, 0.00765, 0.01431,
    0.02319, 0.04351, 0.07763, 0.13438, 0.21477, 0.2839, 0.3285, 0.34828, 0.34806, 0.3362, 0.3187,
    0.2908, 0.2511, 0.19536, 0.1421, 0.09564, 0.05795001, 0.03201, 0.0147, 0.0049, 0.0024, 0.0093,
    0.0291, 0.06327, 0.1096, 0.1655, 0.2257499, 0.2904, 0.3597, 0.4334499, 0.5120501, 0.5945,
    0.6784, 0.7621, 0.8425, 0.9163, 0.9786, 1.0263, 1.0567, 1.0622, 1.0456, 1.0026, 0.9384,
    0.8544499, 0.7514, 0.6424, 0.5419, 0.4479, 0.3608, 0.2835, 0.2187, 0.1649, 0.1212, 0.0874,
    0.0636, 0.04677, 0.0329, 0.0227, 0.01584, 0.01135916, 0.008110916, 0.005790346, 0.004109457,
    0.002899327, 0.00204919, 0.001439971, 0.0009999493, 0.0006900786, 0.0004760213, 0.0003323011,
    0.0002348261, 0.0001661505, 0.000117413, 8.307527e-05, 5.870652e-05, 4.150994e-05,
    2.935326e-05, 2.067383e-05, 1.455977e-05, 1.025398e-05, 7.221456e-06, 5.085868e-06,
    3.581652e-06, 2.522525e-06, 1.776509e-06, 1.251141e-06,
])

CIE1931_Y = np.array([
    3.917e-06, 6.965e-06, 1.239e-05, 2.202e-05, 3.9e-05, 6.4e-05, 0.00012, 0.000217, 0.000396,
    0.00064, 0.00121, 0.00218, 0.004, 0.0073, 0.0116, 0.01684, 0.023, 0.0298, 0.038, 0.048, 0.06,
    0.0739, 0.09098, 0.1126, 0.13902, 0.1693, 0.20802, 0.2586, 0.323, 0.4073, 0.503, 0.6082, 0.71,
    0.7932, 0.862, 0.9148501, 0.954, 0.9803, 0.9949501, 1, 0.995, 0.9786, 0.952, 0.9154, 0.87,
    0.8163, 0.757, 0.6949, 0.631, 0.5668, 0.503, 0.4412, 0.381, 0.321, 0.265, 0.217, 0.175,
    0.1382, 0.107, 0.0816, 0.061, 0.04458, 0.032, 0.0232, 0.017, 0.01192, 0.00821, 0.005723,
    0.004102, 0.002929, 0.002091, 0.001484, 0.001047, 0.00074, 0.00052, 0.0003611, 0.0002492,
    0.0001719, 0.00012, 8.48e-05, 6e-05, 4.24e-05, 3e-05, 2.12e-05, 1.499e-05, 1.06e-05,
    7.4657e-06, 5.2578e-06, 3.7029e-06, 2.6078e-06, 1.8366e-06, 1.2934e-06, 9.1093e-07,
    6.4153e-07, 4.5181e-07,
])

CIE1931_Z = np.array([
    0.0006061, 0.001086, 0.001946, 0.003486, 0.006450001, 0.01054999, 0.02005001, 0.03621,
    0.06785001, 0.1102, 0.2074, 0.3713, 0.6456, 1.0390501, 1.3856, 1.62296, 1.74706, 1.7826,
    1.77211, 1.7441, 1.6692, 1.5281, 1.28764, 1.0419, 0.8129501, 0.6162, 0.46518, 0.3533, 0.272,
    0.2123, 0.1582, 0.1117, 0.07824999, 0.05725001, 0.04216, 0.02984, 0.0203, 0.0134, 0.008749999,
    0.005749999, 0.0039, 0.002749999, 0.0021, 0.0018, 0.001650001, 0.0014, 0.0011, 0.001, 0.0008,
    0.0006, 0.00034, 0.00024, 0.00019, 1e-04, 4.999999e-05, 3e-05, 2e-05, 1e-05, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
])

CIE_D65 = np.array([
    46.6383, 49.3637, 52.0891, 51.0323, 49.9755, 52.3118, 54.6482, 68.7015, 82.7549, 87.1204,
    91.486, 92.4589, 93.4318, 90.057, 86.6823, 95.7736, 104.865, 110.936, 117.008, 117.41,
    117.812, 116.336, 114.861, 115.392, 115.923, 112.367, 108.811, 109.082, 109.354, 108.578,
    107.802, 106.296, 104.79, 106.239, 107.689, 106.047, 104.405, 104.225, 104.046, 102.023, 100,
    98.1671, 96.3342, 96.0611, 95.788, 92.2368, 88.6856, 89.3459, 90.0062, 89.8026, 89.5991,
    88.6489, 87.6987, 85.4936, 83.2886, 83.4939, 83.6992, 81.863, 80.0268, 80.1207, 80.2146,
    81.2462, 82.2778, 80.281, 78.2842, 74.0027, 69.7213, 70.6652, 71.6091, 72.979, 74.349,
    67.9765, 61.604, 65.7448, 69.8856, 72.4863, 75.087, 69.3398, 63.5927, 55.0054, 46.4182,
    56.6118, 66.8054, 65.0941, 63.3828, 63.8434, 64.304, 61.8779, 59.4519, 55.7054, 51.959,
    54.6998, 57.4406, 58.8765, 60.3125,
])


def cie_xyz(wavelengths) -> np.ndarray:
    """The colour matching functions at ``wavelengths`` (nm), linearly interpolated; (n, 3)."""
    grid = CIE_MIN_NM + CIE_STEP_NM * np.arange(CIE1931_X.size)
    w = np.asarray(wavelengths, np.float64)
    return np.stack([np.interp(w, grid, t, left=0.0, right=0.0)
                     for t in (CIE1931_X, CIE1931_Y, CIE1931_Z)], axis=-1)


def cie_d65(wavelengths) -> np.ndarray:
    grid = CIE_MIN_NM + CIE_STEP_NM * np.arange(CIE_D65.size)
    return np.interp(np.asarray(wavelengths, np.float64), grid, CIE_D65, left=0.0,
                     right=0.0) * CIE_D65_NORMALIZATION


def xyz_to_srgb(xyz) -> np.ndarray:
    return XYZ_TO_SRGB @ np.asarray(xyz, np.float64)


def pairs_to_rgb(pairs, emitter: bool = False, unbounded: bool = False) -> np.ndarray:
    """Linear sRGB of the piecewise-linear spectrum ``[(wavelength_nm, value), ...]``.

    Raises ``ValueError`` (with the reason) for fewer than two pairs or wavelengths that do not
    increase."""
    wl = np.asarray([float(w) for w, _ in pairs], np.float64)
    vals = np.asarray([float(v) for _, v in pairs], np.float64)
    if wl.size < 2:
        raise ValueError("a spectrum needs at least two wavelength:value pairs (or one value)")
    if np.any(np.diff(wl) <= 0):
        raise ValueError("wavelengths must increase")
    w = CIE_MIN_NM + np.arange(INTEGRATION_STEPS) / (INTEGRATION_STEPS - 1.0) * (
        CIE_MAX_NM - CIE_MIN_NM)
    w = w[(w >= wl[0]) & (w <= wl[-1])]
    v = np.interp(w, wl, vals)
    weight = v if emitter else v * cie_d65(w)
    xyz = (cie_xyz(w) * weight[:, None]).sum(axis=0)
    xyz *= (CIE_MAX_NM - CIE_MIN_NM) * CIE_Y_NORMALIZATION / INTEGRATION_STEPS
    rgb = xyz_to_srgb(xyz)
    if emitter or unbounded:
        return np.maximum(rgb, 0.0)
    return np.clip(rgb, 0.0, 1.0)


def uniform_emitter_rgb(value: float) -> np.ndarray:
    """What Mitsuba's RGB variants make of a one-value ``<spectrum>`` on an emitter."""
    return float(value) * xyz_to_srgb(np.ones(3))
