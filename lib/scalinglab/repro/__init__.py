"""Reproduction machinery: profiles, claims and scorecards, provenance, plot style,
the notebook session object and the papermill runner."""
from scalinglab.repro.claims import (
    Alternative, Claim, Criterion, Scorecard, agrees, contains_paper, greater_than, in_range,
    less_than, matches, within,
)
from scalinglab.repro.profiles import PROFILES, ParameterError, profile_rank, resolve_device

__all__ = [
    "Alternative", "Claim", "Criterion", "Scorecard", "agrees", "matches", "contains_paper", "greater_than", "in_range",
    "less_than", "within", "PROFILES", "ParameterError", "profile_rank", "resolve_device",
]
