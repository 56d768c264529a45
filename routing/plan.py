"""``plan(problem, time_limit, seed) -> Plan``: the planner's one entry point and its result."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from routing import elimination, portfolio, recombination
from routing.consolidation import Consolidated, consolidate
from routing.model import Compiled, SearchLog, Settings, Solution, Visit, seconds_left
from routing.pool import RoutePool
from routing.problem import Problem, Request
from routing.screen import unservable
from routing.travel import Matrix, StraightLine, TravelError, TravelTimeProvider

Action = Literal["pickup", "delivery"]
Found = tuple[Compiled, Solution | None]


@dataclass(frozen=True)
class Handling:
    """One request handled at a stop: its start and end in minutes since midnight."""

    request: str
    action: Action
    start: float
    end: float


@dataclass(frozen=True)
class Stop:
    """A visit to a site. The first stop of a route is its start place (``arrival`` =
    ``departure`` = leaving time), the last its end place (arrival only)."""

    site: str
    arrival: float
    departure: float
    handling: tuple[Handling, ...] = ()
    load: Mapping[str, int] = field(default_factory=dict, hash=False)

    @property
    def pickups(self) -> tuple[str, ...]:
        return tuple(h.request for h in self.handling if h.action == "pickup")

    @property
    def deliveries(self) -> tuple[str, ...]:
        return tuple(h.request for h in self.handling if h.action == "delivery")


@dataclass(frozen=True)
class Route:
    """One courier's day: stops in order, with ``load`` on board when leaving each."""

    vehicle: str
    stops: tuple[Stop, ...]
    travel_minutes: float

    @property
    def start(self) -> float:
        return self.stops[0].departure

    @property
    def end(self) -> float:
        return self.stops[-1].arrival

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def requests(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(h.request for stop in self.stops for h in stop.handling))


@dataclass(frozen=True)
class Unserved:
    """A request left out of the plan and why."""

    request: str
    reason: str


@dataclass(frozen=True)
class Stats:
    """How the search went; times in seconds of wall clock since ``plan()`` was called.

    ``searches`` independent searches ran; the plan is from search number ``best_search``
    (from 0); ``solutions`` and ``improvements`` count over all of them, an improvement being
    a new best of the whole call. ``eliminated`` couriers were taken out of the plan by route
    elimination (:mod:`routing.elimination`). ``processes`` searches ran at once (``plan(...,
    workers=)``) and the plan is from number ``best_process`` (0: the calling process; the
    other figures but ``seconds`` are that process's own). ``recombined`` is what choosing
    among the routes already seen saved (:mod:`routing.recombination`), in the objective's
    minutes.
    """

    seconds: float
    first_solution_seconds: float | None
    best_found_seconds: float | None
    solutions: int
    improvements: int
    status: str
    nodes: int
    screened_out: int
    searches: int = 1
    best_search: int = 0
    eliminated: int = 0
    processes: int = 1
    best_process: int = 0
    recombined: float = 0.0


@dataclass(frozen=True)
class Plan:
    """The routes of the couriers that are used, what was left out, and the objective.

    ``objective`` is in minutes of driving: travel time + fixed costs of the couriers used +
    penalties of optional requests left out (required ones have no price).
    """

    routes: tuple[Route, ...]
    unserved: tuple[Unserved, ...]
    objective: float
    stats: Stats

    @property
    def served_all(self) -> bool:
        return not self.unserved

    @property
    def travel_minutes(self) -> float:
        return sum(route.travel_minutes for route in self.routes)

    def route_of(self, vehicle: str) -> Route | None:
        return next((route for route in self.routes if route.vehicle == vehicle), None)


def travel_matrix(problem: Problem) -> list[list[float]]:
    """The problem's travel minutes between its sites, checked."""
    provider: TravelTimeProvider = problem.travel or StraightLine()
    rows = provider.matrix(problem.sites)
    ids = [site.id for site in problem.sites]
    checked = Matrix.of(ids, [list(row) for row in rows])
    return [list(row) for row in checked.minutes]


def plan(
    problem: Problem,
    time_limit: float = 10.0,
    seed: int = 0,
    *,
    settings: Settings | None = None,
    workers: int = 1,
) -> Plan:
    """Plan the couriers' routes.

    The search uses all of ``time_limit`` seconds (wall clock, one thread). OR-Tools 9.15's
    iterated local search draws its ruins from a generator of its own with a fixed seed
    (``ReSeed`` does not reach it), so ``seed`` acts through the model instead: any seed but 0
    numbers the requests in an order shuffled by it, which sends the search down a different
    path. With ``settings.restarts`` > 1 the time is split over up to that many independent
    searches of at least ``settings.search_seconds`` each (run i with seed + i) and the best
    plan is kept; by default one search (three 10 s searches measured no better than one of 30 s
    on Solomon, docs/benchmarks.md 2026-12-06). Plans of 2 s or more whose couriers have a fixed
    cost, or whose visits are mostly pickup-and-delivery pairs, also try to do the work with a
    courier fewer (:mod:`routing.elimination`). Other plans of 1 s or more whose couriers are
    interchangeable and whose requests are all required run one search per 10 s and end
    with the cheapest plan made of the routes those searches saw
    (:mod:`routing.recombination`). ``workers`` > 1 runs that many such searches at
    once, the others in worker processes with seeds far from ``seed``
    (:mod:`routing.portfolio`), and returns the cheapest plan; give it no more than the
    machine's free cores. A search stopped by a solution count (``Settings.extra``) is
    reproducible for a seed; one stopped by the clock is not quite: the annealing temperature
    follows the elapsed time, so the machine's speed and load steer which moves are accepted.
    ``settings`` is for benchmarking; the defaults are the measured best.
    """
    began = time.perf_counter()
    if not isinstance(problem, Problem):
        raise TypeError(f"plan() needs a Problem, got {type(problem).__name__}")
    if isinstance(time_limit, bool) or not time_limit > 0 or time_limit == float("inf"):
        raise ValueError(f"time_limit must be a finite number of seconds > 0, got {time_limit}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**31:
        raise ValueError(f"seed must be an integer in [0, 2**31), got {seed!r}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
    problem.validate()
    try:
        minutes = travel_matrix(problem)
    except TravelError as error:
        raise TravelError(f"travel times: {error}") from error
    settings = settings or Settings()
    _check_settings(settings)
    # Judged once, on the plan's own time limit: the other searches get a moment less.
    eliminate = elimination.applies(problem, settings, time_limit)
    if workers == 1:
        return _search(problem, minutes, time_limit, seed, settings, began, eliminate)
    deadline = time.monotonic() + seconds_left(began, time_limit)
    helpers = portfolio.start(problem, minutes, deadline, seed, workers, settings, eliminate)
    own = _search(problem, minutes, time_limit, seed, settings, began, eliminate)
    plans = [own, *portfolio.collect(helpers, deadline)]
    number, best = min(
        ((number, found) for number, found in enumerate(plans) if found is not None),
        key=lambda item: (_unserved_required(problem, item[1]), item[1].objective, item[0]),
    )
    stats = replace(
        best.stats,
        seconds=time.perf_counter() - began,
        processes=1 + len(helpers),
        best_process=number,
    )
    return replace(best, stats=stats)


def timed(problem: Problem, orders: Mapping[str, Sequence[tuple[str, Action]]]) -> Plan | None:
    """The plan whose couriers make exactly the handlings in ``orders`` (courier id →
    ``(request id, "pickup" or "delivery")`` in order), timed as :func:`plan` times its
    routes; requests on no route are unserved. ``None`` when that order breaks a rule of
    the problem (a window, a ride limit, a load, a shift). For orders made elsewhere: another
    solver's, or a route put in order by hand."""
    problem.validate()
    unknown = set(orders) - {vehicle.id for vehicle in problem.vehicles}
    if unknown:
        raise ValueError(f"no courier {', '.join(sorted(unknown))}")
    minutes = travel_matrix(problem)
    requests = list(problem.requests)
    compiled = Compiled(problem, minutes, requests, Settings(consolidate=False).with_drops())
    number = {request.id: position for position, request in enumerate(requests)}
    routes: list[list[Visit]] = []
    for courier, vehicle in enumerate(problem.vehicles):
        visits = [Visit(compiled.vehicle_start[courier], 0)]
        for request_id, action in orders.get(vehicle.id, ()):
            if request_id not in number:
                raise ValueError(f"courier {vehicle.id}: no request {request_id!r}")
            ends = compiled.pickup_node if action == "pickup" else compiled.delivery_node
            if action not in ("pickup", "delivery") or number[request_id] not in ends:
                raise ValueError(f"courier {vehicle.id}: request {request_id} has no {action}")
            visits.append(Visit(ends[number[request_id]], 0))
        visits.append(Visit(compiled.vehicle_end[courier], 0))
        routes.append(visits)
    solution = compiled.timed(routes, SearchLog())
    if solution is None:
        return None
    return _result(problem, compiled, solution, {}, Consolidated.alone(requests), 0.0)


def _unserved_required(problem: Problem, result: Plan) -> int:
    required = {request.id for request in problem.requests if request.penalty is None}
    return sum(1 for item in result.unserved if item.request in required)


def search_for(
    problem: Problem, time_limit: float, seed: int, settings: Settings, eliminate: bool
) -> Plan:
    """One search of a plan in another process (:mod:`routing.portfolio`): the problem
    comes checked and with its travel times; ``eliminate`` is the plan's decision."""
    began = time.perf_counter()
    return _search(problem, travel_matrix(problem), time_limit, seed, settings, began, eliminate)


def _search(
    problem: Problem,
    minutes: list[list[float]],
    time_limit: float,
    seed: int,
    settings: Settings,
    began: float,
    eliminate: bool,
) -> Plan:
    """The search in this process: ``plan()`` without its argument checks; ``eliminate``
    tries route elimination (:mod:`routing.elimination`) when it is one search. Identical
    requests are planned as consignments (:mod:`routing.consolidation`)."""
    reasons = unservable(problem, minutes)
    screened = [request for request in problem.requests if request.id not in reasons]
    if settings.consolidate:
        consolidated = consolidate(problem, screened, minutes)
    else:
        consolidated = Consolidated.alone(screened)
    modelled = list(consolidated.requests)
    log = SearchLog(started=began)
    compiled = Compiled.numbered(problem, minutes, modelled, settings, seed)
    searches = _searches(settings, time_limit, compiled.paired)
    eliminating = searches == 1 and eliminate
    # With route elimination the first search gets only its share of the time.
    first_share = settings.elimination_shares[0] if eliminating else 1.0
    # Independent searches whose routes are recombined at the end (routing.recombination);
    # ``reserve`` seconds are kept for that.
    pool: RoutePool | None = None
    reserve = 0.0
    if not eliminating and recombination.applies(problem, modelled, settings, time_limit):
        pool = RoutePool()
        searches = max(searches, recombination.searches(settings, time_limit))
        reserve = settings.recombine_share * time_limit
        recombination.watch(compiled, pool, modelled)

    def search(searching: Settings, numbering: int, seconds: float, solve_seed: int) -> Found:
        """One search in a model numbered by ``numbering``."""
        model = Compiled.numbered(problem, minutes, modelled, searching, numbering)
        if pool is not None:
            recombination.watch(model, pool, modelled)
        return model, model.solve(max(0.01, seconds), solve_seed, log)

    def share(run: int) -> float:
        """Search ``run``'s part of the time left."""
        return (seconds_left(began, time_limit) - reserve) / (searches - run) * first_share

    best: tuple[Compiled, Solution | None, str, int] | None = None
    for run in range(searches):
        # Search i starts from the order shuffled by seed + i (seed 0: the given order first).
        run_seed = (seed + run) % 2**31
        if run:
            compiled, solution = search(settings, run_seed, share(run), run_seed)
        else:
            solution = compiled.solve(max(0.01, share(run)), run_seed, log)
        if solution is None and compiled.has_mandatory:
            # The required requests cannot all be served together (or no first plan was found
            # with all of them): fall back to drop options so that whatever can be served is,
            # and the rest is reported.
            settings = settings.with_drops()
            compiled, solution = search(settings, run_seed, share(run), run_seed)
        if best is None or (
            solution is not None and (best[1] is None or solution.objective < best[1].objective)
        ):
            best = (compiled, solution, log.status, run)
    assert best is not None
    compiled, solution, log.status, run = best
    if pool is not None and solution is not None and compiled.serves_required(solution):
        stage = recombination.recombined(
            elimination.Stage(compiled, solution), modelled, log, seconds_left(began, time_limit)
        )
        compiled, solution = stage.compiled, stage.solution
    eliminated = 0
    if eliminating and solution is None:
        # No plan at all in the first search's share: the rest of the time searches afresh.
        rest = seconds_left(began, time_limit)
        compiled, solution = search(settings, (seed + 1) % 2**31, rest, seed)
    elif eliminating and solution is not None:
        stage = elimination.search_on(
            elimination.Stage(compiled, solution), minutes, modelled, seed, log, began, time_limit
        )
        compiled, solution, eliminated = stage.compiled, stage.solution, stage.eliminated
    result = _result(
        problem, compiled, solution, reasons, consolidated, time.perf_counter() - began
    )
    stats = replace(result.stats, searches=searches, best_search=run, eliminated=eliminated)
    return replace(result, stats=stats)


# Operators OR-Tools 9.15 mishandles: its path LNS, inside the iterated local search, hands
# back plans that deliver a request before picking it up (three of four county days at 0.5 s,
# measured 2026-12-08; its full-path, TSP and inactive LNS were sound there).
UNSOUND_OPERATORS = ("use_path_lns",)


def _check_settings(settings: Settings) -> None:
    """Refuse search settings that OR-Tools would take in some other sense."""
    unsound = sorted(set(settings.enabled_operators) & set(UNSOUND_OPERATORS))
    if unsound:
        raise ValueError(
            f"{', '.join(unsound)}: OR-Tools returns plans that break pickup-before-delivery "
            "with it; not allowed"
        )
    if settings.temperatures is not None:
        start, end = settings.temperatures
        if not start >= end > 0:
            raise ValueError(
                f"temperatures must be (start, end) with start >= end > 0, "
                f"got {settings.temperatures!r}"
            )
    restarts = settings.restarts
    if isinstance(restarts, bool) or not isinstance(restarts, int) or restarts < 1:
        raise ValueError(f"restarts must be an integer >= 1, got {restarts!r}")
    if not settings.search_seconds > 0:
        raise ValueError(f"search_seconds must be > 0, got {settings.search_seconds!r}")


def _searches(settings: Settings, time_limit: float, paired: bool) -> int:
    """How many searches share ``time_limit``: up to ``restarts``, each of at least
    ``search_seconds``; one on a paired problem (:meth:`Settings.paired`)."""
    if paired:
        # Measured: on Li & Lim one 30 s search beats the best of 10 s ones, and at 2 s a
        # county day does worse split.
        return 1
    limit = math.floor(time_limit / settings.search_seconds + 1e-9)
    return max(1, min(settings.restarts, limit))


def _result(
    problem: Problem,
    compiled: Compiled,
    solution: Solution | None,
    reasons: dict[str, str],
    consolidated: Consolidated,
    seconds: float,
) -> Plan:
    routes: list[Route] = []
    served: set[int] = set()
    fixed = 0.0
    if solution is not None:
        # The couriers of the model that planned: route elimination leaves some out.
        for vehicle, visits in zip(compiled.problem.vehicles, solution.routes, strict=True):
            if len(visits) <= 2:
                continue
            visited = [(v.node, v.tick) for v in visits]
            route = _route(problem, compiled, consolidated, vehicle.id, visited)
            routes.append(route)
            fixed += vehicle.fixed_cost
        served = compiled.served(solution.routes)
    unserved = [Unserved(request_id, reason) for request_id, reason in reasons.items()]
    for number, request in enumerate(compiled.requests):
        if number not in served:
            unserved.extend(
                Unserved(part.id, _dropped_reason(part, solution is None))
                for part in consolidated.expand(request.id)
            )
    order = {request.id: position for position, request in enumerate(problem.requests)}
    unserved.sort(key=lambda item: order[item.request])
    penalties = sum(
        request.penalty or 0.0
        for request in problem.requests
        if request.id in {item.request for item in unserved}
    )
    log = solution.log if solution is not None else SearchLog()
    best = log.improvements[-1][0] if log.improvements else None
    stats = Stats(
        seconds=seconds,
        first_solution_seconds=log.first_solution_seconds,
        best_found_seconds=best,
        solutions=log.solutions,
        improvements=len(log.improvements),
        status=log.status,
        nodes=len(compiled.nodes),
        screened_out=len(reasons),
        recombined=log.recombined / problem.ticks_per_minute,
    )
    travel = sum(route.travel_minutes for route in routes)
    return Plan(tuple(routes), tuple(unserved), travel + fixed + penalties, stats)


def _dropped_reason(request: Request, no_solution: bool) -> str:
    if no_solution:
        return "not served: the search found no plan within the time limit"
    if request.penalty is None:
        return "not served within the time limit (required, but no route found that fits it)"
    return f"not served within the time limit (penalty {request.penalty:g})"


def _route(
    problem: Problem,
    compiled: Compiled,
    consolidated: Consolidated,
    vehicle: str,
    visits: Sequence[tuple[int, int]],
) -> Route:
    scale = problem.ticks_per_minute
    nodes = compiled.nodes
    requests = compiled.requests
    load = dict.fromkeys(problem.dimensions, 0)
    for node, _ in visits:
        item = nodes[node]
        if item.request is not None and requests[item.request].pickup is None:
            for dimension, amount in requests[item.request].load.items():
                load[dimension] += amount
    first_node, first_tick = visits[0]
    stops = [
        Stop(
            problem.sites[nodes[first_node].site].id,
            first_tick / scale,
            first_tick / scale,
            (),
            dict(load),
        )
    ]
    travel_ticks = 0
    previous_site, departure = nodes[first_node].site, first_tick
    position = 1
    while position < len(visits):
        node, tick = visits[position]
        site = nodes[node].site
        leg = compiled.cost[previous_site][site]
        travel_ticks += leg
        arrival = departure + compiled.travel[previous_site][site]
        if nodes[node].request is None:
            stops.append(Stop(problem.sites[site].id, arrival / scale, arrival / scale, (), {}))
            break
        handling: list[Handling] = []
        while position < len(visits) and nodes[visits[position][0]].site == site:
            node, tick = visits[position]
            item = nodes[node]
            if item.request is None:
                break
            request = requests[item.request]
            action: Literal["pickup", "delivery"] = "pickup" if item.is_pickup else "delivery"
            sign = 1 if item.is_pickup else -1
            for dimension, amount in request.load.items():
                load[dimension] += sign * amount
            # A consignment's parts are handled one after the other.
            start = tick / scale
            for part in consolidated.expand(request.id):
                took = part.pickup_service if item.is_pickup else part.delivery_service
                handling.append(Handling(part.id, action, start, start + took))
                start += took
            departure = tick + item.service
            position += 1
        stops.append(
            Stop(
                problem.sites[site].id,
                arrival / scale,
                departure / scale,
                tuple(handling),
                dict(load),
            )
        )
        previous_site = site
    return Route(vehicle, tuple(stops), travel_ticks / scale)
