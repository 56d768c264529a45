"""Courier route planning: problems, travel times, the OR-Tools planner and its checker.

A library with no web or database imports: the server loads a day's work into a
:class:`Problem`, calls :func:`plan` and stores the :class:`Plan` it returns.
"""

from routing.check import Violation, check
from routing.plan import Handling, Plan, Route, Stats, Stop, Unserved, plan, timed
from routing.problem import (
    Problem,
    ProblemError,
    Request,
    Site,
    Vehicle,
    Window,
    at_minutes,
    clock,
    minutes_since_midnight,
)
from routing.travel import (
    Learned,
    Leg,
    Matrix,
    MatrixFile,
    OsrmTable,
    Scan,
    StraightLine,
    TravelError,
    TravelTimeProvider,
    legs_from_scans,
)

__all__ = [
    "Handling",
    "Learned",
    "Leg",
    "Matrix",
    "MatrixFile",
    "OsrmTable",
    "Plan",
    "Problem",
    "ProblemError",
    "Request",
    "Route",
    "Scan",
    "Site",
    "Stats",
    "Stop",
    "StraightLine",
    "TravelError",
    "TravelTimeProvider",
    "Unserved",
    "Vehicle",
    "Violation",
    "Window",
    "at_minutes",
    "check",
    "clock",
    "legs_from_scans",
    "minutes_since_midnight",
    "plan",
    "timed",
]
