"""Reports: Table 1 / Table 2 files and figures, built from evaluation results."""
