"""Small problems for the routing tests: named tiny cases and Hypothesis strategies."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st

from routing import Matrix, Problem, Request, Site, Vehicle, Window

DIMENSIONS = ("boxes", "cold_boxes", "crates")


def matrix_problem(
    minutes: Sequence[Sequence[float]],
    vehicles: Sequence[Vehicle],
    requests: Sequence[Request],
    *,
    ids: Sequence[str] | None = None,
    services: Sequence[float] | None = None,
    openings: Sequence[Window] | None = None,
) -> Problem:
    """A problem over sites named ``ids`` (default H, A, B, …) with a given matrix."""
    names = list(ids or ["H", *[chr(ord("A") + i) for i in range(len(minutes) - 1)]])
    sites = tuple(
        Site(
            name,
            0.0,
            0.0,
            opening=openings[i] if openings else Window(0, 24 * 60),
            service=services[i] if services else 0.0,
        )
        for i, name in enumerate(names)
    )
    return Problem(sites, tuple(vehicles), tuple(requests), travel=Matrix.of(names, minutes))


def courier(
    name: str = "v1",
    capacity: int = 10,
    shift: Window = Window(0, 24 * 60),
    home: str = "H",
    **more: object,
) -> Vehicle:
    return Vehicle(name, home, home, shift, {"boxes": capacity}, **more)  # type: ignore[arg-type]


@st.composite
def small_problems(draw: st.DrawFn, max_requests: int = 6) -> Problem:
    """Random small days: 3-6 sites, 1-3 couriers, 1-6 requests of every kind."""
    size = draw(st.integers(3, 6))
    names = ["H", *[f"S{i}" for i in range(1, size)]]
    minutes = [
        [0 if i == j else draw(st.integers(1, 40)) for j in range(size)] for i in range(size)
    ]
    services = [0.0, *[float(draw(st.integers(0, 5))) for _ in range(size - 1)]]
    openings = [Window(0, 24 * 60)] + [
        Window(draw(st.sampled_from([0, 420, 480])), draw(st.sampled_from([1020, 1440])))
        for _ in range(size - 1)
    ]
    vehicles = []
    for number in range(draw(st.integers(1, 3))):
        start = draw(st.sampled_from([420, 480]))
        vehicles.append(
            Vehicle(
                f"v{number}",
                draw(st.sampled_from(names[:2])),
                draw(st.sampled_from(names[:2])),
                Window(start, start + draw(st.sampled_from([180, 300, 600]))),
                {
                    "boxes": draw(st.integers(0, 6)),
                    "cold_boxes": draw(st.integers(0, 2)),
                    "crates": draw(st.integers(0, 4)),
                },
                max_duration=draw(st.sampled_from([None, 150, 240])),
                fixed_cost=draw(st.sampled_from([0, 30])),
            )
        )
    requests = []
    for number in range(draw(st.integers(1, max_requests))):
        kind = draw(st.sampled_from(["pair", "pair", "from-start", "to-end"]))
        pickup = None if kind == "from-start" else draw(st.sampled_from(names))
        delivery = None if kind == "to-end" else draw(st.sampled_from(names))
        if pickup is not None and pickup == delivery:
            delivery = names[(names.index(pickup) + 1) % size]
        load = {dim: draw(st.integers(0, 3)) for dim in draw(st.sets(st.sampled_from(DIMENSIONS)))}

        def window() -> Window | None:
            if not draw(st.booleans()):
                return None
            start = draw(st.integers(420, 700))
            return Window(start, start + draw(st.integers(0, 240)))

        requests.append(
            Request(
                f"r{number}",
                pickup,
                delivery,
                load,
                pickup_window=window() if pickup else None,
                delivery_window=window() if delivery else None,
                pickup_service=float(draw(st.integers(0, 5))),
                delivery_service=float(draw(st.integers(0, 5))),
                max_ride=(
                    float(draw(st.integers(20, 120)))
                    if pickup and delivery and draw(st.booleans())
                    else None
                ),
                penalty=draw(st.sampled_from([None, None, 5.0, 500.0])),
                vehicles=draw(st.sampled_from([(), (), (vehicles[-1].id,)])),
            )
        )
    return Problem(
        tuple(Site(n, 0.0, 0.0, openings[i], services[i]) for i, n in enumerate(names)),
        tuple(vehicles),
        tuple(requests),
        travel=Matrix.of(names, minutes),
    )
