"""A convolution layer's forward pass in plain NumPy, exactly as ``tf.nn.conv2d`` computes it.

Derived in chapter 01 (``notebooks/01_convolution.ipynb``), where it is checked against
TensorFlow; later chapters call it to compute a filter's response without building a model.
"""

from __future__ import annotations

import numpy as np

from helpers._validate import check_pair

__all__ = ["conv2d", "conv_output_size", "same_padding"]

PADDING_CHOICES = ("valid", "same")


def same_padding(size: int, kernel_size: int, stride: int = 1) -> tuple[int, int]:
    """The zeros TensorFlow adds before and after one axis for ``padding="SAME"``.

    ``SAME`` makes the output ``ceil(size / stride)`` long. When the padding needed for that
    is odd, the extra zero goes after (at the bottom or the right), as in TensorFlow.

    Parameters
    ----------
    size
        Input length along the axis.
    kernel_size
        Kernel length along the axis.
    stride
        Step between two windows.

    Returns
    -------
    tuple of int
        ``(before, after)``.

    Examples
    --------
    A 3 x 3 kernel needs one zero on each side to keep 5 pixels 5:

    >>> same_padding(5, 3)
    (1, 1)

    With stride 2, 6 pixels give ``ceil(6 / 2) = 3`` outputs; that takes one zero, after:

    >>> same_padding(6, 3, stride=2)
    (0, 1)
    """
    out = -(-size // stride)  # ceil
    total = max((out - 1) * stride + kernel_size - size, 0)
    return total // 2, total - total // 2


def conv_output_size(size: int, kernel_size: int, padding: int = 0, stride: int = 1) -> int:
    """Output length of a convolution (or pooling) along one axis.

    :math:`\\lfloor (n + 2p - k) / s \\rfloor + 1`, for input length ``n``, kernel ``k``,
    ``p`` zeros on each side and stride ``s``. Derived in chapter 01.

    Parameters
    ----------
    size
        Input length ``n``.
    kernel_size
        Kernel length ``k``.
    padding
        Zeros added on each side ``p``.
    stride
        Step between two windows ``s``.

    Returns
    -------
    int

    Examples
    --------
    A 3 x 3 convolution shrinks a 28-pixel side by 2; one zero on each side keeps it; a
    2 x 2 pooling with stride 2 halves it:

    >>> conv_output_size(28, 3)
    26
    >>> conv_output_size(28, 3, padding=1)
    28
    >>> conv_output_size(28, 2, stride=2)
    14
    """
    if size + 2 * padding < kernel_size:
        raise ValueError(f"the kernel ({kernel_size}) is larger than the padded input "
                         f"({size} + 2 * {padding})")
    return (size + 2 * padding - kernel_size) // stride + 1


def conv2d(
    images: np.ndarray,
    kernel: np.ndarray,
    strides: int | tuple[int, int] = 1,
    padding: str | int | tuple[int, int] = "valid",
) -> np.ndarray:
    """Cross-correlate a batch of images with a bank of filters, like ``tf.nn.conv2d``.

    Each output value is the dot product of one filter with one window of the (padded)
    input, over every input channel: the kernel is not flipped, as in every deep learning
    library. Derived in chapter 01.

    Parameters
    ----------
    images
        ``(N, H, W, C_in)``, or one image ``(H, W, C_in)``.
    kernel
        ``(k_h, k_w, C_in, C_out)``: one ``(k_h, k_w, C_in)`` filter per output channel.
    strides
        Step between two windows: an int, or ``(s_h, s_w)``.
    padding
        ``"valid"`` (no padding), ``"same"`` (TensorFlow's: the output is
        ``ceil(H / s_h)`` by ``ceil(W / s_w)``), or an int or ``(p_h, p_w)``: that many
        zeros on each side. Strings are case-insensitive.

    Returns
    -------
    numpy.ndarray
        ``(N, H_out, W_out, C_out)``, or ``(H_out, W_out, C_out)`` for one image, with
        ``H_out = (H + 2 p_h - k_h) // s_h + 1`` (likewise ``W_out``). float32 unless an
        input is float64.

    Raises
    ------
    ValueError
        If a shape, the strides or the padding is not one of the forms above, or the
        channels of ``images`` and ``kernel`` differ.

    Examples
    --------
    >>> image = np.arange(16, dtype=np.float32).reshape(4, 4, 1)
    >>> conv2d(image, np.ones((3, 3, 1, 1)))[..., 0]
    array([[45., 54.],
           [81., 90.]])
    """
    images = np.asarray(images)
    kernel = np.asarray(kernel)
    single = images.ndim == 3
    if single:
        images = images[None]
    if images.ndim != 4:
        raise ValueError(f"images must be (N, H, W, C) or (H, W, C), got shape {images.shape}")
    if kernel.ndim != 4:
        raise ValueError(f"kernel must be (k_h, k_w, C_in, C_out), got shape {kernel.shape}")
    if kernel.shape[2] != images.shape[3]:
        raise ValueError(f"the kernel expects {kernel.shape[2]} input channels, the images "
                         f"have {images.shape[3]}")
    k_h, k_w = kernel.shape[:2]
    s_h, s_w = check_pair(strides, "strides", minimum=1)

    if isinstance(padding, str):
        if padding.lower() not in PADDING_CHOICES:
            raise ValueError(f"padding must be one of {PADDING_CHOICES}, an int or a pair of "
                             f"ints; got {padding!r}")
        if padding.lower() == "same":
            pad_h = same_padding(images.shape[1], k_h, s_h)
            pad_w = same_padding(images.shape[2], k_w, s_w)
        else:
            pad_h = pad_w = (0, 0)
    else:
        p_h, p_w = check_pair(padding, "padding", minimum=0)
        pad_h, pad_w = (p_h, p_h), (p_w, p_w)
    padded = np.pad(images, ((0, 0), pad_h, pad_w, (0, 0)))
    if padded.shape[1] < k_h or padded.shape[2] < k_w:
        raise ValueError(f"the kernel ({k_h}x{k_w}) is larger than the padded images "
                         f"({padded.shape[1]}x{padded.shape[2]})")

    dtype = np.result_type(images.dtype, kernel.dtype, np.float32)
    # Every k_h x k_w window at once, as a view: (N, H', W', C_in, k_h, k_w); no copy yet.
    windows = np.lib.stride_tricks.sliding_window_view(padded, (k_h, k_w), axis=(1, 2))
    windows = windows[:, ::s_h, ::s_w]
    # One dot product per (window, filter), summed over the channels and the kernel's area.
    output = np.tensordot(windows.astype(dtype, copy=False), kernel.astype(dtype, copy=False),
                          axes=([3, 4, 5], [2, 0, 1]))
    return output[0] if single else output
