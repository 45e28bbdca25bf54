"""Reproduction machinery: profiles, claims and scorecards, provenance, plot style,
the notebook session object and the papermill runner."""
from scalinglab.repro.claims import (
    Claim, Criterion, Scorecard, contains_paper, greater_than, in_range, less_than, within,
)
from scalinglab.repro.profiles import PROFILES, ParameterError, profile_rank, resolve_device

__all__ = [
    "Claim", "Criterion", "Scorecard", "contains_paper", "greater_than", "in_range",
    "less_than", "within", "PROFILES", "ParameterError", "profile_rank", "resolve_device",
]
