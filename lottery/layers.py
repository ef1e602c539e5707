"""The five prunable weight layers of Conv-2, named in forward order everywhere (parameters, artifacts,
metrics). Free of torch, so the analysis can import it cheaply."""

LAYER_NAMES: tuple[str, ...] = ("conv1", "conv2", "dense1", "dense2", "output")
CONV_LAYERS: tuple[str, ...] = ("conv1", "conv2")
DENSE_LAYERS: tuple[str, ...] = ("dense1", "dense2")
