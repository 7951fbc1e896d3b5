"""ONNX files of rsdet models: writing them, and reading them back to run.

* :mod:`~rsdet.export.metadata`: the keys an exported file carries (the ModelSpec, the
  architecture and the layout of its outputs), so that the file alone is a runnable model;
* :mod:`~rsdet.export.graph`: the network as export traces it (raw outputs as a flat tuple);
* :mod:`~rsdet.export.deepness`: the QGIS Deepness plugin's input, output and metadata;
* :mod:`~rsdet.export.onnx_export`: tracing, metadata, one file written atomically, checked
  in ONNX Runtime against the network;
* :mod:`~rsdet.export.runtime`: an exported file run by ONNX Runtime and decoded by the
  architecture's own ``decode``.

onnx, onnxruntime and onnxscript are optional (``pip install 'rsdet[onnx]'``) and imported
only when a function here needs them (:mod:`~rsdet.export.errors`).
"""
