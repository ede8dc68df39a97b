"""Generated artefacts: JSON Schemas (:mod:`.schema`) and the spec's field tables (:mod:`.tables`).

Both are generated from the models and drift-checked by tests and by ``synthmark schema
check``; they sit on top of everything they describe.
"""
