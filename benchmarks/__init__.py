"""Speed of helpers.explain, as ratios against plain baselines and tf-keras-vis."""
