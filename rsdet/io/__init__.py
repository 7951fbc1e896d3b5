"""Raster and vector I/O: windowed GeoTIFF reading, georeferencing, vector layer writing."""
