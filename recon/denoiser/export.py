"""Export a trained :class:`~recon.denoiser.network.FastDLNet` to ONNX (needs torch)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

ONNX_OPSET = 17


def export_onnx(model, path: str | os.PathLike, *, metadata: dict[str, str] | None = None) -> Path:
    """Write ``model`` as ONNX with dynamic batch, height and width; return the path.

    Inputs: ``image`` float32 (N, 1, H, W) with H, W multiples of 8, and ``sigma`` float32 (N, 1).
    Output: ``denoised`` float32 (N, 1, H, W). ``metadata`` goes into the model's metadata_props.
    """
    import onnx
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    example = (torch.rand(1, 1, 64, 64), torch.full((1, 1), 0.05))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            example,
            str(path),
            input_names=["image", "sigma"],
            output_names=["denoised"],
            dynamic_axes={
                "image": {0: "batch", 2: "height", 3: "width"},
                "sigma": {0: "batch"},
                "denoised": {0: "batch", 2: "height", 3: "width"},
            },
            opset_version=ONNX_OPSET,
            dynamo=False,
        )
    proto = onnx.load(str(path))
    for key, value in (metadata or {}).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, str(value)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))
    return path


def max_abs_difference_torch_vs_onnx(model, onnx_path: str | os.PathLike, *, seed: int = 0) -> float:
    """Largest |PyTorch − onnxruntime| over a few random inputs of odd-multiple sizes (agreement check)."""
    import onnxruntime as ort
    import torch

    rng = np.random.default_rng(seed)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    worst = 0.0
    for n, h, w in ((1, 64, 64), (2, 96, 136), (1, 384, 384)):
        image = rng.random((n, 1, h, w), dtype=np.float32)
        sigma = rng.uniform(0.01, 0.2, (n, 1)).astype(np.float32)
        with torch.no_grad():
            expected = model.eval()(torch.from_numpy(image), torch.from_numpy(sigma)).numpy()
        (got,) = session.run(None, {"image": image, "sigma": sigma})
        worst = max(worst, float(np.max(np.abs(got - expected))))
    return worst


def read_metadata(onnx_path: str | os.PathLike) -> dict[str, str]:
    """The model's metadata_props (architecture, seed, training figures) as a dict."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    return dict(session.get_modelmeta().custom_metadata_map)


def load_torch_from_onnx(onnx_path: str | os.PathLike):
    """Rebuild the PyTorch :class:`FastDLNet` whose weights an exported ONNX file holds.

    The architecture comes from the metadata (``width``, ``n_res_blocks``); the weights from the
    initializers, which the exporter names after the ``state_dict`` keys.
    """
    import onnx
    import torch
    from onnx import numpy_helper

    from recon.denoiser.network import FastDLNet

    meta = read_metadata(onnx_path)
    model = FastDLNet(int(meta["width"]), int(meta["n_res_blocks"]))
    proto = onnx.load(str(onnx_path))
    weights = {init.name: torch.from_numpy(numpy_helper.to_array(init).copy()) for init in proto.graph.initializer}
    state = model.state_dict()
    missing = [k for k in state if k not in weights]
    if missing:
        raise ValueError(f"{onnx_path} lacks weights for {missing[:3]}… (not a FastDLNet export?)")
    model.load_state_dict({k: weights[k] for k in state})
    return model.eval()
