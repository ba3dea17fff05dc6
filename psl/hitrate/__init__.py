"""Hit rates of subsequences against a knowledge base (paper eqs. 4-5), the null model, and
the plain-loop reference the vectorised scorer is tested against. No torch import.
"""

from psl.hitrate.scorer import HitRates, score

__all__ = ["HitRates", "score"]
