"""Bag of Visual Words: dense SIFT -> k-means codebook -> spatial-pyramid histograms -> SVM.

The report's pipeline (arXiv 2105.04895 §IV; ``../shared/research/wave2_anchors.md`` §1.3):
SIFT descriptors on a dense grid (OpenCV), a ``MiniBatchKMeans`` codebook (k = 512,
``batch_size = 20 k``, ``reassignment_ratio = 1e-4``), L1-normalised word histograms of the
whole image and of ``strips`` horizontal strips (level 1: 1 + 3 histograms), standard
scaling, PCA (64 components; 0 = none; neither for the intersection kernel, which needs the
raw histograms) and an SVM (RBF, linear or histogram intersection).

Codebook, scaler and PCA are kept as plain arrays; the fitted scikit-learn SVM is kept as
joblib bytes (a pickle: load only classifier files you trust).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any, Literal

import cv2
import joblib
import numpy as np

__all__ = ["BoVW", "BoVWConfig", "dense_sift", "intersection_kernel"]

Kernel = Literal["rbf", "linear", "intersection"]


@dataclass(frozen=True)
class BoVWConfig:
    """BoVW settings (defaults: the report's best).

    Attributes:
        k: codebook size (visual words).
        step: grid spacing of the dense keypoints, px; the keypoint diameter is the same.
        strips: horizontal strips of the pyramid's second level (0: whole image only).
        pca: PCA components (0: no PCA; capped by the number of training images).
        kernel: SVM kernel.
        c: SVM regularisation C.
        seed: k-means seed.
    """

    k: int = 512
    step: int = 8
    strips: int = 3
    pca: int = 64
    kernel: Kernel = "rbf"
    c: float = 1.0
    seed: int = 42


def intersection_kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Histogram intersection K(A, B) = sum_i min(a_i, b_i): (N, D), (M, D) -> (N, M)."""
    out = np.empty((len(a), len(b)), np.float64)
    for i in range(0, len(a), 256):
        out[i : i + 256] = np.minimum(a[i : i + 256, None, :], b[None]).sum(axis=2)
    return out


def dense_sift(image: np.ndarray, step: int) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 3) uint8 -> descriptors (n, 128) float32 and keypoint rows (n,) in [0, 1)."""
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    h, w = gray.shape
    half = step // 2
    kps = [
        cv2.KeyPoint(float(x), float(y), float(step))
        for y in range(half, h - half + 1, step)
        for x in range(half, w - half + 1, step)
    ]
    _, desc = cv2.SIFT_create().compute(gray, kps)  # type: ignore[attr-defined]
    rows = np.asarray([kp.pt[1] / h for kp in kps], np.float32)
    return np.asarray(desc, np.float32).reshape(-1, 128), rows


class BoVW:
    """A fitted BoVW classifier: :meth:`fit` on images, then :meth:`scores`."""

    def __init__(self, config: BoVWConfig) -> None:
        self.config = config
        self.arrays: dict[str, np.ndarray] = {}
        self.svm: Any = None

    def histograms(self, images: np.ndarray) -> np.ndarray:
        """(N, S, S, 3) uint8 -> (N, k (1 + strips)) L1-normalised word histograms."""
        centers = self.arrays["codebook"]
        k, strips = len(centers), self.config.strips
        out = np.zeros((len(images), k * (1 + strips)), np.float32)
        for i, image in enumerate(images):
            desc, rows = dense_sift(image, self.config.step)
            d2 = (desc**2).sum(1)[:, None] - 2 * desc @ centers.T + (centers**2).sum(1)[None]
            words = d2.argmin(axis=1)
            parts = [np.bincount(words, minlength=k)]
            band = np.minimum((rows * strips).astype(int), strips - 1) if strips else rows
            parts += [np.bincount(words[band == s], minlength=k) for s in range(strips)]
            out[i] = np.concatenate([p / max(p.sum(), 1) for p in parts])
        return out

    def fit(self, images: np.ndarray, labels: np.ndarray) -> None:
        """Learn the codebook, scaler, PCA and SVM from (N, S, S, 3) images, (N,) labels."""
        from sklearn.cluster import MiniBatchKMeans
        from sklearn.svm import SVC

        cfg = self.config
        desc = np.concatenate([dense_sift(im, cfg.step)[0] for im in images])
        km = MiniBatchKMeans(
            n_clusters=min(cfg.k, len(desc)),
            batch_size=20 * cfg.k,
            reassignment_ratio=1e-4,
            random_state=cfg.seed,
            n_init=3,
        ).fit(desc)
        self.arrays = {"codebook": km.cluster_centers_.astype(np.float32)}
        feats = self.histograms(images)
        if cfg.kernel == "intersection":  # works on the raw histograms
            self.svm = SVC(kernel=intersection_kernel, C=cfg.c).fit(feats, labels)
            return
        mean, scale = feats.mean(axis=0), feats.std(axis=0)
        self.arrays |= {"mean": mean, "scale": np.where(scale > 0, scale, 1.0)}
        feats = (feats - mean) / self.arrays["scale"]
        n_pca = min(cfg.pca, len(feats), feats.shape[1])
        if n_pca > 0:
            centre = feats.mean(axis=0)
            _, _, vt = np.linalg.svd(feats - centre, full_matrices=False)
            self.arrays |= {"pca_mean": centre, "pca": vt[:n_pca].astype(np.float32)}
            feats = (feats - centre) @ self.arrays["pca"].T
        self.svm = SVC(kernel=cfg.kernel, C=cfg.c, gamma="scale").fit(feats, labels)

    def features(self, images: np.ndarray) -> np.ndarray:
        """(N, S, S, 3) uint8 -> (N, D) the SVM's input (scaled, PCA-projected)."""
        feats = self.histograms(images)
        if "mean" in self.arrays:
            feats = (feats - self.arrays["mean"]) / self.arrays["scale"]
        if "pca" in self.arrays:
            feats = (feats - self.arrays["pca_mean"]) @ self.arrays["pca"].T
        return feats

    def scores(self, images: np.ndarray) -> np.ndarray:
        """(N, S, S, 3) uint8 -> (N, C) softmax of the one-vs-rest SVM decision values.

        Scores rank classes; they are not calibrated probabilities.
        """
        d = np.asarray(self.svm.decision_function(self.features(images)), np.float64)
        if d.ndim == 1:  # two classes: one signed margin
            d = np.stack([-d, d], axis=1)
        e = np.exp(d - d.max(axis=1, keepdims=True))
        out: np.ndarray = e / e.sum(axis=1, keepdims=True)
        return out

    def to_state(self) -> dict[str, Any]:
        """Plain data for ``torch.save``: arrays as lists-free numpy, the SVM as joblib bytes."""
        buf = io.BytesIO()
        joblib.dump(self.svm, buf)
        return {"arrays": dict(self.arrays), "svm_joblib": buf.getvalue()}

    @classmethod
    def from_state(cls, config: BoVWConfig, state: dict[str, Any]) -> BoVW:
        """Inverse of :meth:`to_state` (unpickles the SVM)."""
        model = cls(config)
        model.arrays = {k: np.asarray(v) for k, v in state["arrays"].items()}
        model.svm = joblib.load(io.BytesIO(state["svm_joblib"]))
        return model
