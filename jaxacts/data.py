"""Datasets that need no download (scikit-learn digits, MNIST-1D, synthetic spirals) and loaders for
files the user already has (MNIST / Fashion-MNIST IDX files, CIFAR-10 batches), validated at load time."""

from jaxacts._src.data import BUILTIN_DATASETS, DATASETS, Dataset, DataError, epoch_indices, load_dataset, read_idx

__all__ = ["BUILTIN_DATASETS", "DATASETS", "DataError", "Dataset", "epoch_indices", "load_dataset", "read_idx"]
