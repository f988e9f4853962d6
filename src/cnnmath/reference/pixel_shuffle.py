"""Pixel shuffle and unshuffle as literal loops over every index.

For an upscale factor r (0-based, 0 ≤ i, j < r), pixel_shuffle copies

    Y[β, c, h·r + i, w·r + j] = X[β, c·r² + i·r + j, h, w]

for every β of the axes before the channels (flattened to one here), every output channel c
and every input pixel (h, w); pixel_unshuffle copies the other way,
Y[β, c·r² + i·r + j, h, w] = X[β, c, h·r + i, w·r + j]. Each backward is the adjoint of its
copy written out: every G value added to the gradient of the one input it was copied from,
∂ℓ/∂X[source] += G[destination], over every destination.

channel_shuffle with g groups of k = C/g channels copies Y[n, j·g + i, …] = X[n, i·k + j, …]
for every i < g, j < k and every n and position; its backward is the same adjoint.
"""

from __future__ import annotations

import math

import numpy as np


def _planes(a):
    """a as (B, C, H, W), B the product of the axes before C (0 for an empty batch)."""
    return a.reshape(math.prod(a.shape[:-3]), *a.shape[-3:])


def _moves(B, C, H, W, r):
    """Every (β, c_in, h, w, c_out, p, q) of pixel_shuffle from (B, C·r², H, W): input
    element (β, c_in, h, w) lands at output (β, c_out, p, q)."""
    for b in range(B):
        for c in range(C):
            for h in range(H):
                for w in range(W):
                    for i in range(r):
                        for j in range(r):
                            yield b, c * r * r + i * r + j, h, w, c, h * r + i, w * r + j


def pixel_shuffle(x, upscale_factor):
    """Rearrange channels into space, as ``torch.nn.functional.pixel_shuffle``.

    With r = ``upscale_factor``, 0-based, for every leading index β, output channel c, input
    pixel (h, w) and 0 ≤ i, j < r:

        Y[β, c, h·r + i, w·r + j] = X[β, c·r² + i·r + j, h, w]

    Parameters
    ----------
    x : (*, C·r², H, W) array, at least 3-D
    upscale_factor : int r >= 1

    Returns
    -------
    (*, C, H·r, W·r) array of ``x``'s dtype.
    """
    r = upscale_factor
    x4 = _planes(x)
    B, C_in, H, W = x4.shape
    C = C_in // (r * r)
    y = np.zeros((B, C, H * r, W * r))
    for b, c_in, h, w, c, p, q in _moves(B, C, H, W, r):
        y[b, c, p, q] = float(x4[b, c_in, h, w])
    return y.reshape(*x.shape[:-3], C, H * r, W * r).astype(x.dtype)


def pixel_shuffle_backward(grad_output, upscale_factor):
    """Gradient of :func:`pixel_shuffle`: each G value handed back to the one input it
    was copied from,

        ∂ℓ/∂X[β, c·r² + i·r + j, h, w] = G[β, c, h·r + i, w·r + j]   (0-based, 0 ≤ i, j < r)

    Parameters
    ----------
    grad_output : (*, C, H·r, W·r) array
    upscale_factor : int r

    Returns
    -------
    (*, C·r², H, W) array of ``grad_output``'s dtype.
    """
    r = upscale_factor
    g4 = _planes(grad_output)
    B, C, H_out, W_out = g4.shape
    H, W = H_out // r, W_out // r
    gx = np.zeros((B, C * r * r, H, W))
    for b, c_in, h, w, c, p, q in _moves(B, C, H, W, r):
        gx[b, c_in, h, w] += float(g4[b, c, p, q])
    return gx.reshape(*grad_output.shape[:-3], C * r * r, H, W).astype(grad_output.dtype)


def pixel_unshuffle(x, downscale_factor):
    """Rearrange space into channels, as ``torch.nn.functional.pixel_unshuffle``, the
    inverse of :func:`pixel_shuffle`.

    With r = ``downscale_factor``, 0-based, for every leading index β, input channel c, output
    pixel (h, w) and 0 ≤ i, j < r:

        Y[β, c·r² + i·r + j, h, w] = X[β, c, h·r + i, w·r + j]

    Parameters
    ----------
    x : (*, C, H·r, W·r) array, at least 3-D
    downscale_factor : int r >= 1

    Returns
    -------
    (*, C·r², H, W) array of ``x``'s dtype.
    """
    r = downscale_factor
    x4 = _planes(x)
    B, C, H_in, W_in = x4.shape
    H, W = H_in // r, W_in // r
    y = np.zeros((B, C * r * r, H, W))
    for b, c_out, h, w, c, p, q in _moves(B, C, H, W, r):
        y[b, c_out, h, w] = float(x4[b, c, p, q])
    return y.reshape(*x.shape[:-3], C * r * r, H, W).astype(x.dtype)


def pixel_unshuffle_backward(grad_output, downscale_factor):
    """Gradient of :func:`pixel_unshuffle`: each G value handed back to the one input
    it was copied from,

        ∂ℓ/∂X[β, c, h·r + i, w·r + j] = G[β, c·r² + i·r + j, h, w]   (0-based, 0 ≤ i, j < r)

    Parameters
    ----------
    grad_output : (*, C·r², H, W) array
    downscale_factor : int r

    Returns
    -------
    (*, C, H·r, W·r) array of ``grad_output``'s dtype.
    """
    r = downscale_factor
    g4 = _planes(grad_output)
    B, C_out, H, W = g4.shape
    C = C_out // (r * r)
    gx = np.zeros((B, C, H * r, W * r))
    for b, c_out, h, w, c, p, q in _moves(B, C, H, W, r):
        gx[b, c, p, q] += float(g4[b, c_out, h, w])
    return gx.reshape(*grad_output.shape[:-3], C, H * r, W * r).astype(grad_output.dtype)


def _channel_moves(C, groups):
    """Every (source, destination) channel pair of channel_shuffle with C channels."""
    k = C // groups
    for i in range(groups):
        for j in range(k):
            yield i * k + j, j * groups + i


def channel_shuffle(x, groups):
    """Interleave the channels of g groups, as ``torch.nn.functional.channel_shuffle``.

    With g = ``groups`` and k = C/g channels a group, 0-based, for every i < g, j < k, sample n
    and position (the axes after the channels):

        Y[n, j·g + i, …] = X[n, i·k + j, …]

    Parameters
    ----------
    x : (N, C, *) array, C divisible by ``groups``
    groups : int g >= 1

    Returns
    -------
    array of ``x``'s shape and dtype.
    """
    y = np.zeros(x.shape)
    for n in range(x.shape[0]):
        for source, destination in _channel_moves(x.shape[1], groups):
            for position in np.ndindex(*x.shape[2:]):
                y[(n, destination) + position] = float(x[(n, source) + position])
    return y.astype(x.dtype)


def channel_shuffle_backward(grad_output, groups):
    """Gradient of :func:`channel_shuffle`: the copy read backwards,

        ∂ℓ/∂X[n, i·k + j, …] = G[n, j·g + i, …]   (0-based, i < g, j < k = C/g)

    Parameters
    ----------
    grad_output : (N, C, *) array
    groups : int g

    Returns
    -------
    array of ``grad_output``'s shape and dtype.
    """
    g = grad_output
    gx = np.zeros(g.shape)
    for n in range(g.shape[0]):
        for source, destination in _channel_moves(g.shape[1], groups):
            for position in np.ndindex(*g.shape[2:]):
                gx[(n, source) + position] += float(g[(n, destination) + position])
    return gx.astype(g.dtype)
