"""Using a trained model: find and align faces in photos, verify pairs, identify against a
gallery, export for deployment: one module each, imported from where it is defined
(``siamface.inference.verifier.Verifier``); ``siamface`` itself offers the everyday names
(``siamface.load_verifier``, ``siamface.Gallery``; see ``siamface.api``)."""
