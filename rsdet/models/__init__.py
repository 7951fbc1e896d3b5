"""Detectors in plain PyTorch, their parts, and the metadata that travels with them.

Import submodules directly (``from rsdet.models.rs_tinynet import RSTinyNet``); this package
``__init__`` stays empty so that importing one model does not import all of them.
"""
