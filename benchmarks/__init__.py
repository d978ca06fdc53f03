"""Speed of helpers.explain, as ratios against plain baselines and tf-keras-vis."""

# First, before any benchmark imports TensorFlow: helpers imports it without its start-up
# lines (oneDNN, absl) on stderr.
import helpers  # noqa: F401
