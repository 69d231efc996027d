"""Using a trained model: find and align faces in photos, verify pairs, identify against a
gallery, export for deployment (one module each; ``siamface.api`` gathers the public names)."""
