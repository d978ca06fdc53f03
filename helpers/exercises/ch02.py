"""Self-checks for chapter 02 (notebooks/02_pooling_and_activations.ipynb)."""

__all__: list[str] = []
