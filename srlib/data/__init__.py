"""The data layer: the dataset manifest (`manifest`), fetching and verifying sets (`prepare`), decoding image
files (`images`), the embedded Demo set (`demo`), sets as (name, image) pairs (`benchmark`), and the training
cache and patch Dataset (`patches`, `dataset`). See docs/data.md. Submodules are imported on demand."""
