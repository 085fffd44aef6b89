"""What a config reads from the hub, brought here once: `gift fetch` (models, datasets and evaluator files,
pinned) and `gift build mirror` (a local hub cache of small models of the paper's architectures).

Resolving a model reference to a local path, offline or not, is `gift.pretrained`.
"""
