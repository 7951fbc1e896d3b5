"""Dataset readers: DOTA, AI-TOD, DIOR / DIOR-R and GeoTIFF scenes with vector labels.

All readers produce :class:`~rsdet.datasets.sample.Sample` objects.
"""
