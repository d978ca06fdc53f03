"""Self-checks for chapter 01 (notebooks/01_convolution.ipynb)."""

__all__: list[str] = []
