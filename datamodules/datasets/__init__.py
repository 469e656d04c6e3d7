"""Datasets: render-backed (virtual: item i is rendered from (seed, i)), on-disk sets through the readers,
and FAN crops. Each yields a typed batch of :mod:`datamodules.batches`."""
