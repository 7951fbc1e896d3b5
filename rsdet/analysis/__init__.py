"""Analyses of trained networks: parameter and feature-map sparsity (``rsdet analyze``)."""
