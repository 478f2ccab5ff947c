"""Market packs: the folder an analyst edits, loaded into typed objects."""

from .load import PACK_FILES, load
from .model import Assumptions, Claim, Definition, Dimension, Market, Member, Source, Where, Years

__all__ = ["load", "PACK_FILES", "Market", "Claim", "Definition", "Dimension", "Member", "Source", "Where", "Years", "Assumptions"]
