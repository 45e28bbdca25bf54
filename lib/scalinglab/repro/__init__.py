"""Reproduction machinery: claims and scorecards, the notebook session object, the
papermill runner, records and stability checks. Profiles, paths, provenance and the
plot style it uses live in :mod:`scalinglab.base` (``PROFILES`` and friends are
re-exported here)."""
from scalinglab.base.profiles import PROFILES, ParameterError, profile_rank, resolve_device
from scalinglab.repro.claims import (
    Alternative, Claim, Criterion, Scorecard, agrees, contains_paper, greater_than, in_range,
    less_than, matches, within,
)

__all__ = [
    "Alternative", "Claim", "Criterion", "Scorecard", "agrees", "matches", "contains_paper", "greater_than", "in_range",
    "less_than", "within", "PROFILES", "ParameterError", "profile_rank", "resolve_device",
]
