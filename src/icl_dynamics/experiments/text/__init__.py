"""Attention-only transformers trained on real code (the standard library source): rows N1-text to N3-text,
figure S5."""
