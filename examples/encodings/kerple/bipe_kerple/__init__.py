"""bipe-kerple: the KERPLE-log positional encoding (and its bilevel form) as a bipe plug-in."""

from .kerple import BIPE_KERPLE_LOG, KERPLE_LOG, KerpleLog

__all__ = ["BIPE_KERPLE_LOG", "KERPLE_LOG", "KerpleLog"]
