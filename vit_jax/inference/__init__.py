"""Using trained weights: predictions on image files, a checkpoint's metrics."""
