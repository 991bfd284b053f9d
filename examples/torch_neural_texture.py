"""A neural texture trained through the renderer with PyTorch: a learnable feature grid
(16 x 16 x 8, bilinearly upsampled to the 128 x 128 texels of `scenes/textured-plane`) decoded per
texel by a small MLP (8 -> 32 -> 32 -> 3, sigmoid) is the plane's albedo; torch.optim.Adam fits it
so that renders match target renders of a patterned plane (the "unknown" material, defined
below). Gradients flow render -> texels (diffrender.torch.render, Renderer.vjp) -> MLP -> grid.

    python examples/torch_neural_texture.py [--res 64] [--iterations 300] [--plot docs/interop_neural_texture.png]

Prints the loss and the PSNR of a render (--eval-spp) against the target render every 25
iterations and at the end; writes a figure (target | start | result renders, PSNR curve).
"""
import argparse
import os

import numpy as np
import torch

import diffrender as dr
import diffrender.torch as drt

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCENE = os.path.join(ROOT, "scenes", "textured-plane", "scene.xml")
NAME = "plane_bsdf.reflectance.data"
GRID = 16         # feature grid resolution
FEATURES = 8      # features per grid cell
HIDDEN = 32       # MLP width
TARGET_SPP = 512  # target renders (near noise-free)


def pattern(h, w):
    """The material to recover: rings and stripes in colour, texel values in [0.05, 0.95]."""
    v, u = np.meshgrid(np.linspace(0, 1, h), np.linspace(0, 1, w), indexing="ij")
    r = np.hypot(u - 0.4, v - 0.55)
    red = 0.5 + 0.45 * np.cos(18 * r)
    green = 0.5 + 0.45 * np.sin(7 * u + 3 * v)
    blue = 0.5 + 0.45 * np.cos(9 * v) * np.sin(5 * u + 1)
    return np.clip(np.stack([red, green, blue], axis=2), 0.05, 0.95)


class NeuralTexture(torch.nn.Module):
    def __init__(self, h, w):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.size = (h, w)
        self.grid = torch.nn.Parameter(0.1 * torch.randn(1, FEATURES, GRID, GRID, generator=g))
        self.mlp = torch.nn.Sequential(torch.nn.Linear(FEATURES, HIDDEN), torch.nn.ReLU(),
                                       torch.nn.Linear(HIDDEN, HIDDEN), torch.nn.ReLU(),
                                       torch.nn.Linear(HIDDEN, 3))

    def forward(self):
        f = torch.nn.functional.interpolate(self.grid, size=self.size, mode="bilinear",
                                            align_corners=True)[0].permute(1, 2, 0)
        return torch.sigmoid(self.mlp(f))  # (H, W, 3) texels


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--res", type=int, default=64)
    ap.add_argument("--iterations", type=int, default=300)
    ap.add_argument("--spp", type=int, default=8, help="primal and adjoint samples per pixel")
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--eval-spp", type=int, default=512)
    ap.add_argument("--plot", default="neural_texture.png")
    a = ap.parse_args()
    torch.manual_seed(0)

    scene = dr.load_scene(SCENE, res=a.res)
    h, w, _ = np.shape(scene.parameters()[NAME])
    true_tex = torch.from_numpy(pattern(h, w)).float()
    with torch.no_grad():
        target = drt.render(scene, {NAME: true_tex}, spp=TARGET_SPP, seed=1)

    model = NeuralTexture(h, w)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)

    def evaluate():
        with torch.no_grad():
            img = drt.render(scene, {NAME: model()}, spp=a.eval_spp, seed=2)
        return img, dr.psnr(img.numpy(), target.numpy())

    start, p0 = evaluate()
    curve = [(0, p0)]
    print(f"iteration    0: PSNR {p0:.2f} dB")
    for it in range(a.iterations):
        opt.zero_grad()
        img = drt.render(scene, {NAME: model()}, spp=a.spp, seed=10 + it)
        loss = torch.mean((img - target) ** 2)
        loss.backward()
        opt.step()
        if (it + 1) % 25 == 0 or it + 1 == a.iterations:
            _, p = evaluate()
            curve.append((it + 1, p))
            print(f"iteration {it + 1:4d}: loss {loss.item():.3e}, PSNR {p:.2f} dB")
    final, pf = evaluate()
    with torch.no_grad():
        seen = model()
    print(f"final PSNR against the target render: {pf:.2f} dB (start {p0:.2f} dB; "
          f"{a.eval_spp} spp renders, res {a.res}, {a.iterations} iterations)")
    plot(a.plot, target.numpy(), start.numpy(), final.numpy(), seen.numpy(), true_tex.numpy(),
         curve, pf)
    print(f"figure -> {a.plot}")


def plot(path, target, start, final, tex, true_tex, curve, pf):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def srgb(x):
        x = np.clip(x, 0, 1)
        return np.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055)

    fig, ax = plt.subplots(1, 6, figsize=(18, 3.6))
    for k, (im, title) in enumerate([(target, "target render"), (start, "start"),
                                     (final, f"result ({pf:.1f} dB)"), (true_tex, "true texture"),
                                     (tex, "neural texture")]):
        ax[k].imshow(srgb(im) if k < 3 else im)
        ax[k].set_title(title)
        ax[k].axis("off")
    it, p = zip(*curve)
    ax[5].plot(it, p, "o-")
    ax[5].set_xlabel("iteration")
    ax[5].set_ylabel("PSNR (dB)")
    ax[5].grid(True, alpha=0.3)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=80, bbox_inches="tight")


if __name__ == "__main__":
    main()
