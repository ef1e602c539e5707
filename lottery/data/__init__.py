"""Datasets by name (`registry.load_dataset`), each as uint8 tensors on the training device."""
