"""measures subpackage."""
