"""The Fast-DL network: a small noise-level-normalised residual U-Net (PyTorch; training only).

Inference never imports this module: it runs the exported ONNX file through onnxruntime
(:mod:`recon.denoiser.inference`). Importing it needs the ``train`` extra (torch).

Architecture (``FastDLNet``), in the spirit of FFDNet (Zhang et al. 2018) and DRUNet (Zhang et al.
2021), scaled down so a 384×384 slice costs a few GFLOP:

* the magnitude slice ``x`` is divided by its noise level ``sigma`` (the caller knows or estimates
  it), so the network always sees noise of unit SD whatever the noise level and intensity scale:
  ``z = x / sigma``; ``z`` is split into its 4 polyphase sub-images (pixel-unshuffle by 2);
* a three-level U-Net with additive skips (widths ``c, 2c, 4c``; strided 2×2 convolutions down,
  transposed 2×2 convolutions up; two 3×3 conv + ReLU per level, plain convolutions in residual
  blocks at the bottleneck);
* pixel-shuffle back to full resolution gives the predicted noise ``n̂`` in units of σ; the output
  is ``x − σ·n̂``.

Because the input is divided by σ and the output multiplied back, the network is exactly
equivariant to intensity scale (``f(a·x, a·σ) = a·f(x, σ)``) and is trained on one noise
distribution (unit-σ magnitude noise) at every signal-to-noise ratio; the biases are kept because
the Rician bias of magnitude data is a fixed function of the signal in units of σ.

Input height and width must be multiples of 8; :mod:`recon.denoiser.inference` pads.

References
----------
Zhang K, Zuo W, Zhang L. FFDNet: Toward a fast and flexible solution for CNN-based image
denoising. IEEE Trans Image Process 2018;27(9):4608–4622.
Zhang K, Li Y, Zuo W, Zhang L, Van Gool L, Timofte R. Plug-and-play image restoration with deep
denoiser prior. IEEE Trans Pattern Anal Mach Intell 2021;44(10):6360–6376.
"""

from __future__ import annotations

import torch
from torch import nn

#: Input height/width must be multiples of this (pixel-unshuffle by 2, then two 2× downsamplings).
SIZE_MULTIPLE = 8
#: The σ-normalised input (signal-to-noise units, up to ~100) is multiplied by this fixed gain
#: before the first convolution (keeps early activations O(1) at initialisation).
INPUT_GAIN = 0.1
#: σ below this (in the input's units) is treated as this (no division by zero).
SIGMA_FLOOR = 1e-6


def _conv_block(channels: int, n_convs: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for _ in range(n_convs):
        layers += [nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class _ResBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class FastDLNet(nn.Module):
    """Noise-level-normalised residual U-Net for MR magnitude denoising.

    Parameters
    ----------
    width : int
        Channels at the first (half-resolution) level; the next levels use 2× and 4×.
    n_res_blocks : int
        Residual blocks at the bottleneck (1/8 resolution).

    Notes
    -----
    ``forward(image, sigma)`` takes ``image`` of shape (N, 1, H, W) and ``sigma`` of shape (N, 1)
    (noise standard deviation in the same units as ``image``) and returns the denoised image,
    shape (N, 1, H, W): ``image − sigma · n̂(image / sigma)``.
    """

    def __init__(self, width: int = 24, n_res_blocks: int = 2):
        super().__init__()
        c1, c2, c3 = width, 2 * width, 4 * width
        self.width = width
        self.n_res_blocks = n_res_blocks
        self.unshuffle = nn.PixelUnshuffle(2)
        self.head = nn.Sequential(nn.Conv2d(4, c1, 3, padding=1), nn.ReLU(inplace=True))
        self.enc1 = _conv_block(c1, 1)
        self.down1 = nn.Sequential(nn.Conv2d(c1, c2, 2, stride=2), nn.ReLU(inplace=True))
        self.enc2 = _conv_block(c2, 2)
        self.down2 = nn.Sequential(nn.Conv2d(c2, c3, 2, stride=2), nn.ReLU(inplace=True))
        self.body = nn.Sequential(*[_ResBlock(c3) for _ in range(n_res_blocks)])
        self.up2 = nn.ConvTranspose2d(c3, c2, 2, stride=2)
        self.dec2 = _conv_block(c2, 2)
        self.up1 = nn.ConvTranspose2d(c2, c1, 2, stride=2)
        self.dec1 = _conv_block(c1, 2)
        self.tail = nn.Conv2d(c1, 4, 3, padding=1)
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, image: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        s = torch.clamp(sigma.reshape(-1, 1, 1, 1), min=SIGMA_FLOOR)
        x = self.unshuffle(image / s) * INPUT_GAIN
        h1 = self.enc1(self.head(x))
        h2 = self.enc2(self.down1(h1))
        h3 = self.body(self.down2(h2))
        d2 = self.dec2(self.up2(h3) + h2)
        d1 = self.dec1(self.up1(d2) + h1)
        noise = self.shuffle(self.tail(d1))
        return image - s * noise


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
