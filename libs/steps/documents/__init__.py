"""Documents: fields of scanned documents read by their labels and checked against records."""
