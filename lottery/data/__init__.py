"""Datasets by name (`registry.load_dataset`: `digits`, `cifar10`, `cinic10`, `svhn`, each a module), each as
uint8 tensors on the training device (`dataset`) and batched by index slicing (`batches`, `datamodule`). The
official files are fetched once (`download`, `archive`), decoded once into a cache (`official`, `cache`);
`filesystem` makes a dataset's folder under DATA_DIR or names what went wrong there (light:
`registry.data_folder` refuses a bad DATA_DIR before torch loads). Imports only the foundations."""
