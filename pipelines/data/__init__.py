"""Datasets: finding utterances on disk, splitting them, mixing noise, and the manifest that lists them."""
