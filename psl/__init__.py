"""psl: protein subcellular localization models, explanations and hit rates."""

__all__: list[str] = []
