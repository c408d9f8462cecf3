"""One run on disk: the Zarr run store, its spec, the writer lock, warm-up frames, counts and integrity."""
