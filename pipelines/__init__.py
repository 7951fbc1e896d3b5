"""End-to-end flows that compose the library: detect a scene, train, evaluate, split.

Installed as ``rsdet.pipelines``. Each module is a "tool" in rasterio's sense: the guts of a
command, minus argument parsing. Read them top to bottom to follow the data.
"""
