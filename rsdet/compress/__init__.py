"""Deep Compression for any rsdet detector: pruning, weight sharing, Huffman-coded files.

Han, Mao and Dally (arXiv 1510.00149): magnitude pruning with fine-tuning
(:mod:`~rsdet.compress.prune`), per-layer k-means weight sharing with centroid fine-tuning
(:mod:`~rsdet.compress.kmeans`), both fine-tuned by :mod:`~rsdet.compress.finetune` on the
engine's data and validation, then Huffman coding into an ``.rsdz`` file
(:mod:`rsdet.models.rsdz`, which every model loader reads). The flow is
``pipelines/compress.py``; the per-stage table is :mod:`~rsdet.compress.report`.
"""
