"""Run an exported file: ONNX Runtime runs the network, the architecture's own code decodes.

::

    the file's metadata (rsdet.export.metadata) -> ModelSpec, architecture and config, layout
      -> a decode-only network: the architecture built on torch's "meta" device, so it holds
         no weights (decode needs strides, priors and the box coder, never a parameter)
      -> per batch: pad to size_divisor -> session.run -> the raw NamedTuple again
         (rsdet.export.graph.unflatten_raw) -> network.decode -> HBoxes clipped to the tile

The steps after ``session.run`` are those of :meth:`rsdet.models.detector.Detector.predict_batch`,
so a file gives the objects its checkpoint gives. Torch is still needed, without weights:
decoding, NMS (rotated NMS included) and rsdet's box structures are torch code.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rsdet.config import ConfigError
from rsdet.errors import InputError, RsdetError
from rsdet.export.errors import optional_module
from rsdet.export.graph import raw_type, unflatten_raw
from rsdet.export.metadata import OnnxMetadata, read_props
from rsdet.models.contract import DetectorNetwork
from rsdet.models.spec import ModelSpec, Postprocess
from rsdet.models.zoo import build_network
from rsdet.structures import Detections, HBoxes

__all__ = ["OnnxModel", "load_onnx", "open_session"]


def open_session(path: str | Path, device: str = "cpu", threads: int | None = None) -> Any:
    """An ``onnxruntime.InferenceSession`` of ``path``.

    Args:
        path: the ONNX file.
        device: ``cpu``, ``auto`` (both the CPU) or ``cuda`` (onnxruntime-gpu's provider).
        threads: intra-op threads; None follows torch's thread count (``OMP_NUM_THREADS``).

    Raises:
        InputError: no CUDA provider for ``cuda``, an opset newer than this onnxruntime
            runs (the message names the fix), or a file it cannot load.
    """
    ort = optional_module("onnxruntime")
    providers = ["CPUExecutionProvider"]
    if str(device).startswith("cuda"):
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise InputError(
                f"--device {device}: onnxruntime has no CUDA provider (onnxruntime-gpu)"
            )
        providers.insert(0, "CUDAExecutionProvider")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or torch.get_num_threads()
    options.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(str(path), options, providers=providers)
    except Exception as err:  # onnxruntime raises its own pybind types
        raise InputError(_load_error(path, str(err), ort.__version__)) from err


def _load_error(path: str | Path, message: str, version: str) -> str:
    """One line for a file onnxruntime refused, naming the fix when it is the opset."""
    newest = re.search(r"support for domain ai\.onnx is till opset (\d+)", message)
    if newest:
        n = int(newest.group(1))
        return (
            f"{path}: its ONNX opset is newer than onnxruntime {version} runs (up to {n}); "
            f"pip install -U onnxruntime, or re-export with rsdet export --opset {n}"
        )
    if "opset" in message.lower() or "ir version" in message.lower():
        first = message.strip().splitlines()[0]
        return (
            f"{path}: onnxruntime {version} cannot run this ONNX version ({first}); "
            "pip install -U onnxruntime, or re-export with a lower rsdet export --opset"
        )
    return f"{path}: onnxruntime {version} cannot load it ({message.strip().splitlines()[0]})"


class OnnxModel:
    """An exported file behind the same batch interface as :class:`Detector` (see module doc).

    Attributes:
        path: the file.
        metadata: what it says about itself.
        network: the decode-only network (no weights).
        session: the ONNX Runtime session.
    """

    def __init__(
        self, path: Path, metadata: OnnxMetadata, network: DetectorNetwork[Any], session: Any
    ) -> None:
        self.path, self.metadata, self.network, self.session = path, metadata, network, session
        self._raw_cls = raw_type(network)
        self._input = session.get_inputs()[0].name
        self._outputs = metadata.output_names()

    @property
    def spec(self) -> ModelSpec:
        """The model's ModelSpec, as exported."""
        return self.metadata.spec

    @property
    def postprocess(self) -> Postprocess:
        """The model's default post-processing."""
        return self.metadata.spec.postprocess()

    def predict_batch(
        self, images: np.ndarray, postprocess: Postprocess | None = None
    ) -> list[Detections]:
        """Detect on a batch of standardised images.

        Args:
            images: (B, C, H, W) float32, range-scaled and standardised as the ModelSpec says
                (what ``network(images)`` takes).
            postprocess: thresholds; None uses the model's.

        Returns:
            One :class:`Detections` per image, on the CPU, in that image's pixels.
        """
        height, width = images.shape[-2:]
        d = self.network.size_divisor
        pad = ((0, 0), (0, 0), (0, -height % d), (0, -width % d))  # zeros = the mean colour
        padded = np.ascontiguousarray(np.pad(images, pad), dtype=np.float32)
        arrays = self.session.run(self._outputs, {self._input: padded})
        raw = unflatten_raw(
            [torch.from_numpy(a) for a in arrays], self.metadata.outputs, self._raw_cls
        )
        hw = (int(padded.shape[-2]), int(padded.shape[-1]))
        with torch.inference_mode():
            results = self.network.decode(raw, hw, postprocess or self.postprocess)
        return [_clipped(dets, height, width) for dets in results]


def _clipped(dets: Detections, height: int, width: int) -> Detections:
    """Horizontal boxes clipped to the unpadded image, as Detector.predict_batch does."""
    if isinstance(dets.boxes, HBoxes):
        return Detections(dets.boxes.clip(height, width), dets.scores, dets.labels)
    return dets


def load_onnx(path: str | Path, device: str = "cpu") -> OnnxModel:
    """Open an ONNX file written by ``rsdet export`` (target ``rsdet``) to run it.

    Raises:
        RsdetError: onnxruntime missing or unable to load the file, no or bad rsdet metadata,
            a Deepness-target file, or an architecture this rsdet cannot build; one line
            naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such model file")
    session = open_session(path, device)
    metadata = read_props(session.get_modelmeta().custom_metadata_map, path)
    if metadata.target != "rsdet":
        raise InputError(
            f"{path}: exported for Deepness (--target deepness), whose outputs only the QGIS "
            "plugin decodes; export again without --target to run it with rsdet"
        )
    return OnnxModel(path, metadata, _decoder(path, metadata), session)


def _decoder(path: Path, metadata: OnnxMetadata) -> DetectorNetwork[Any]:
    """The architecture built on the meta device: its decode, without weights in memory."""
    try:
        with torch.device("meta"):
            network = build_network(metadata.spec.arch, metadata.arch_config)
    except (ConfigError, RsdetError) as err:
        raise InputError(f"{path}: cannot rebuild its decoding ({err})") from err
    return network.deploy().eval()
