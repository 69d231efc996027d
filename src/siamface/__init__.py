"""siamface: one-shot face verification with Siamese neural networks on LFW."""

__version__ = "0.1.0"
