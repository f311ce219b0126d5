"""claims subpackage."""
