"""Helpers shared by the HF peer scripts (benchmarks only, never at product run time)."""

import torch


class Rows(torch.utils.data.Dataset):
    """A list of already-encoded feature dicts as a torch Dataset for `Trainer`."""

    def __init__(self, rows):
        self.rows = rows

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        return self.rows[i]
