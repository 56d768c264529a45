"""The OR-Tools model behind :func:`routing.plan`; nothing here is public API.

Node layout: one node per end of each modelled request (a pickup node and/or a delivery
node), then one node per distinct start/end place of the couriers. Everything OR-Tools calls an
index stays in this module; callers get routes as lists of :class:`Visit` records.
"""

from __future__ import annotations

import math
import random
import time
import weakref
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from itertools import pairwise
from typing import Any

from ortools.constraint_solver import (
    pywrapcp,
    routing_enums_pb2,
    routing_heuristic_parameters_pb2,
    routing_ils_pb2,
)
from ortools.util import optional_boolean_pb2

from routing.pool import RoutePool
from routing.problem import DAY, Problem, Request, Window, paired_share, within_opening

STATUS = routing_enums_pb2.RoutingSearchStatus.Value
FIRST_SOLUTIONS = routing_enums_pb2.FirstSolutionStrategy.Value
METAHEURISTICS = routing_enums_pb2.LocalSearchMetaheuristic.Value
PAIR_INSERTION = (
    routing_heuristic_parameters_pb2.LocalCheapestInsertionParameters.PairInsertionStrategy
)
SORTING = routing_heuristic_parameters_pb2.LocalCheapestInsertionParameters.InsertionSortingProperty

# Local-search operators left out of the descent that follows every ruin-and-recreate. The
# path LNS operators re-insert whole routes by cheapest insertion and the chain operators
# walk long chains: together they cost half to two thirds of each descent. Without them the
# search makes two to three times the iterations in the same time and ends closer to the
# best known (docs/benchmarks.md, runs of 2026-12-05).
SLOW_OPERATORS = (
    "use_global_cheapest_insertion_path_lns",
    "use_local_cheapest_insertion_path_lns",
    "use_relocate_path_global_cheapest_insertion_insert_unperformed",
    "use_global_cheapest_insertion_visit_types_lns",
    "use_local_cheapest_insertion_visit_types_lns",
    "use_make_chain_inactive",
    "use_swap_active_chain",
    "use_shortest_path_swap_active",
    "use_shortest_path_two_opt",
    "use_relocate_expensive_chain",
)

# Left out as well when most visits belong to pickup-and-delivery pairs (Li & Lim, the county
# day). Moving one visit of a pair to another route, or reversing or swapping across routes,
# breaks the pair, so these operators mostly generate moves the filters reject; PairRelocate
# tries every pickup position against every delivery position. The light pair relocation,
# the subtrip and pair-exchange operators and the ruin-and-recreate still move pairs. On
# the county day the descent runs about three times as often and the 2 s plans end closer
# to the best (docs/benchmarks.md, runs of 2026-12-05).
PAIRED_SLOW_OPERATORS = (
    "use_relocate_pair",
    "use_exchange",
    "use_or_opt",
    "use_cross",
    "use_two_opt",
    "use_exchange_subtrip",
    "use_lin_kernighan",
    "use_swap_active",
)


@dataclass(frozen=True)
class Settings:
    """Search settings; the defaults are the measured best (see docs/benchmarks.md).

    ``first_solution`` and ``metaheuristic`` are OR-Tools enum names. ``required_as_mandatory``
    models required requests without a drop option: the same search, about a fifth faster
    (Solomon and county days at a fixed number of solutions, 2026-12-06); when they cannot
    all be served the planner retries with drop options.
    ``temperatures`` are the simulated-annealing start and end temperatures of the iterated
    local search as fractions of the mean travel cost between two stops (``None``: OR-Tools'
    automatic ones, 0.1 and 0.001 of a sampled mean arc cost). ``polish`` is the share of the
    time given at the end to a guided local search from the best plan. When at least
    ``paired_share`` of the visits belong to pickup-and-delivery pairs,
    ``paired_disabled_operators`` are left out as well, and each ruin-and-recreate is judged
    without a descent after it unless ``paired_improve_perturbed`` (measured on county days and
    Li & Lim; Solomon is far worse without the descent). With ``restarts`` > 1 the time limit
    is split into up to that many independent searches of at least ``search_seconds`` each,
    every one from its own request order, and the best plan is kept (measured no better than
    one search on Solomon at 30 s, so off). From ``elimination_from`` seconds, when couriers
    have a fixed cost or at least ``paired_share`` of the visits are in pairs, the first
    search gets the first of ``elimination_shares`` of the time, each attempt to do its
    plan's work with one courier fewer the second, and at least the third is kept for
    searching on from the result once an attempt has worked (while none has, attempts go on
    until a twentieth is left: :mod:`routing.elimination`).
    ``consolidate`` plans identical requests as one consignment each
    (:mod:`routing.consolidation`). From ``recombine_from`` seconds, on days whose couriers
    are interchangeable and whose requests are all required, the time is split into
    independent searches of about ``recombine_search`` seconds, and at the end up to
    ``recombine_share`` of it goes to choosing the cheapest plan made of the routes they saw
    (:mod:`routing.recombination`).
    """

    scheme: str = "ils"
    first_solution: str = "PARALLEL_CHEAPEST_INSERTION"
    metaheuristic: str = "GUIDED_LOCAL_SEARCH"
    ruin_sequence: int = 10
    ruin_visits: int = 10
    ruin_bypass: float = 0.01
    recreate: str = "LOCAL_CHEAPEST_INSERTION"
    ruins: tuple[str, ...] = ("sisr",)
    ruined_routes: int = 2
    walk_visits: int = 10
    pair_insertion: str = ""
    recreate_sorting: tuple[str, ...] = ("SORTING_PROPERTY_RANDOM",)
    improve_perturbed: bool = True
    temperatures: tuple[float, float] | None = (0.5, 0.005)
    polish: float = 0.0
    ils_min_visits: int = 2
    gls_lambda: float = 0.1
    required_as_mandatory: bool = True
    disabled_operators: tuple[str, ...] = SLOW_OPERATORS
    paired_disabled_operators: tuple[str, ...] = PAIRED_SLOW_OPERATORS
    paired_share: float = 0.5
    paired_improve_perturbed: bool = False
    bandit_operator_order: bool = True
    enabled_operators: tuple[str, ...] = ()
    restarts: int = 1
    search_seconds: float = 10.0
    # From 2 s since consignments (routing.consolidation) made the model smaller: county
    # days at 2 s with two searches, excess over the best seen 0.56 / 0.52 % against 0.71 /
    # 0.62 % from 10 s; one search unchanged (docs/benchmarks.md, 2026-12-07).
    elimination_from: float = 2.0
    elimination_shares: tuple[float, float, float] = (0.3, 0.2, 0.2)
    consolidate: bool = True
    recombine_share: float = 0.05
    recombine_search: float = 10.0
    recombine_from: float = 1.0
    extra: tuple[tuple[str, Any], ...] = ()

    def paired(self, requests: Sequence[Request]) -> bool:
        """Whether ``requests`` make a paired problem: at least ``paired_share`` of their
        visits are ends of pickup-and-delivery pairs."""
        return paired_share(requests) >= self.paired_share

    def with_drops(self) -> Settings:
        """These settings with every request given a drop option (the fallback when the
        required ones cannot all be served, and route elimination's attempts)."""
        return replace(self, required_as_mandatory=False)


@dataclass(frozen=True)
class Node:
    """What a model node stands for."""

    site: int
    request: int | None
    is_pickup: bool
    service: int
    window: tuple[int, int]
    demand: tuple[int, ...]


@dataclass(frozen=True)
class Visit:
    """A node on a solved route with its start-of-service tick."""

    node: int
    tick: int


def seconds_left(began: float, time_limit: float) -> float:
    """What is left of ``time_limit`` seconds started at ``began`` (``time.perf_counter``)."""
    return time_limit - (time.perf_counter() - began)


@dataclass
class SearchLog:
    """What the search did: when solutions improved and how the run ended."""

    started: float = field(default_factory=time.perf_counter)
    improvements: list[tuple[float, int]] = field(default_factory=list)
    solutions: int = 0
    status: str = ""
    first_solution_seconds: float | None = None
    recombined: int = 0

    def seen(self, objective: int) -> None:
        self.solutions += 1
        now = time.perf_counter() - self.started
        if self.first_solution_seconds is None:
            self.first_solution_seconds = now
        if not self.improvements or objective < self.improvements[-1][1]:
            self.improvements.append((now, objective))


@dataclass(frozen=True)
class Solution:
    """Solved routes (one list of visits per vehicle, depots included) and the objective."""

    routes: tuple[tuple[Visit, ...], ...]
    objective: int
    log: SearchLog


class Compiled:
    """A problem turned into integer nodes, matrices and an OR-Tools routing model."""

    def __init__(
        self,
        problem: Problem,
        minutes: Sequence[Sequence[float]],
        requests: Sequence[Request],
        settings: Settings,
    ) -> None:
        self.problem = problem
        self.requests = list(requests)
        self.settings = settings
        scale = problem.ticks_per_minute
        site_index = {site.id: index for index, site in enumerate(problem.sites)}
        self.travel = [[math.ceil(value * scale - 1e-9) for value in row] for row in minutes]
        self.cost = [[round(value * scale) for value in row] for row in minutes]
        self.site_service = [round(site.service * scale) for site in problem.sites]
        dims = problem.dimensions
        self.nodes: list[Node] = []
        self.pickup_node: dict[int, int] = {}
        self.delivery_node: dict[int, int] = {}
        for number, request in enumerate(self.requests):
            amounts = tuple(request.load.get(dimension, 0) for dimension in dims)
            if request.pickup is not None:
                place = problem.sites[site_index[request.pickup]]
                self.pickup_node[number] = len(self.nodes)
                self.nodes.append(
                    Node(
                        site_index[request.pickup],
                        number,
                        True,
                        round(request.pickup_service * scale),
                        ticks_window(request.pickup_window, place.opening, scale),
                        amounts,
                    )
                )
            if request.delivery is not None:
                place = problem.sites[site_index[request.delivery]]
                self.delivery_node[number] = len(self.nodes)
                self.nodes.append(
                    Node(
                        site_index[request.delivery],
                        number,
                        False,
                        round(request.delivery_service * scale),
                        ticks_window(request.delivery_window, place.opening, scale),
                        tuple(-amount for amount in amounts),
                    )
                )
        # The couriers' places come after the request nodes. OR-Tools 9.15's ruin step
        # (PickRandomPerformedVisit) draws its seed visit from the first Size() - vehicles
        # indices, which holds every visit only when the depots are numbered last; with
        # two depots numbered first it never drew the last visit, and looped forever
        # (holding the GIL) once that was the only one performed.
        self.visits = len(self.nodes)
        self.depot_node: dict[int, int] = {}
        for vehicle in problem.vehicles:
            for site_id in (vehicle.start, vehicle.end):
                site = site_index[site_id]
                if site not in self.depot_node:
                    self.depot_node[site] = len(self.nodes)
                    self.nodes.append(Node(site, None, False, 0, (0, 0), (0,) * len(dims)))
        self.vehicle_number = {v.id: number for number, v in enumerate(problem.vehicles)}
        self.vehicle_start = [self.depot_node[site_index[v.start]] for v in problem.vehicles]
        self.vehicle_end = [self.depot_node[site_index[v.end]] for v in problem.vehicles]
        # The time dimension ends with the last shift, or later where a visit's window opens
        # after every courier's shift has ended (a late courier left out by route
        # elimination): such a visit cannot be made in this model, which must still build.
        self.horizon = max(
            [round(v.shift.end * scale) for v in problem.vehicles]
            + [node.window[0] for node in self.nodes[: self.visits]]
        )
        # What the at-solution callback reports to (see solve()).
        self.log = SearchLog()
        self.watching = False
        # Whether the OR-Tools model is closed (a solve closes it; closing it again only
        # logs a warning to stderr).
        self.closed = False
        self.keep_order = False
        self.best_order: tuple[int, list[int]] | None = None
        # Filled from the at-solution callback when set (routing.pool).
        self.pool: RoutePool | None = None
        self._next_vars: list[Any] = []
        self._index_key: list[int] = []
        self._index_site: list[int] = []
        self._starts: list[int] = []
        # Each courier's fixed cost in ticks: the model's, the drop penalty's and the pool's.
        self._fixed_ticks = [round(v.fixed_cost * scale) for v in problem.vehicles]
        self._build()

    @classmethod
    def numbered(
        cls,
        problem: Problem,
        minutes: Sequence[Sequence[float]],
        requests: Sequence[Request],
        settings: Settings,
        seed: int,
    ) -> Compiled:
        """The model of ``requests`` for ``problem``'s couriers, numbered in the order ``seed``
        shuffles them into (0: as given). OR-Tools' iterated local search draws its ruins
        from a generator with a fixed seed; the numbering is what sends a search down its
        own path."""
        modelled = list(requests)
        if seed:
            random.Random(seed).shuffle(modelled)
        return cls(problem, minutes, modelled, settings)

    def carried(
        self, source: Compiled, routes: Sequence[Sequence[Visit]], vehicles: Sequence[int]
    ) -> list[list[Visit]]:
        """``source``'s routes of its couriers ``vehicles`` (one for each of this model's
        couriers, in order) as routes of this model, for :meth:`solve`'s ``start``.

        Both models hold the same requests, numbered perhaps in another order; only the
        visits between the start and end place are carried over (ticks are left at 0).
        """
        number = {request.id: position for position, request in enumerate(self.requests)}
        carried: list[list[Visit]] = []
        for courier, vehicle in enumerate(vehicles):
            visits = [Visit(self.vehicle_start[courier], 0)]
            for visit in routes[vehicle][1:-1]:
                node = source.nodes[visit.node]
                assert node.request is not None
                request = number[source.requests[node.request].id]
                ends = self.pickup_node if node.is_pickup else self.delivery_node
                visits.append(Visit(ends[request], 0))
            visits.append(Visit(self.vehicle_end[courier], 0))
            carried.append(visits)
        return carried

    def served(self, routes: Sequence[Sequence[Visit]]) -> set[int]:
        """The numbers of the requests visited on ``routes``."""
        return {
            node.request
            for route in routes
            for visit in route
            if (node := self.nodes[visit.node]).request is not None
        }

    def serves_required(self, solution: Solution) -> bool:
        """Whether every required request (no penalty) is on a route of ``solution``."""
        served = self.served(solution.routes)
        return all(
            number in served
            for number, request in enumerate(self.requests)
            if request.penalty is None
        )

    def route_cost(self, visits: Sequence[int], vehicle: int = 0) -> int:
        """What courier ``vehicle``'s route making ``visits`` (nodes, in order) adds to the
        objective: its travel cost and the courier's fixed cost."""
        sites = [self.nodes[self.vehicle_start[vehicle]].site]
        sites += [self.nodes[node].site for node in visits]
        sites.append(self.nodes[self.vehicle_end[vehicle]].site)
        travel = sum(self.cost[a][b] for a, b in pairwise(sites))
        return self._fixed_ticks[vehicle] + travel

    def busy(self, route: Sequence[Visit]) -> int:
        """Ticks of driving and handling along a route: its length without waiting."""
        return sum(self.transit(a.node, b.node) for a, b in pairwise(route))

    def transit(self, a: int, b: int) -> int:
        """Ticks from the start of service at node ``a`` to the earliest start at node ``b``."""
        first, second = self.nodes[a], self.nodes[b]
        ticks = first.service + self.travel[first.site][second.site]
        if first.site != second.site and second.request is not None:
            ticks += self.site_service[second.site]
        return ticks

    def _build(self) -> None:
        problem, nodes = self.problem, self.nodes
        count = len(nodes)
        self.manager = pywrapcp.RoutingIndexManager(
            count, len(problem.vehicles), self.vehicle_start, self.vehicle_end
        )
        self.model = pywrapcp.RoutingModel(self.manager)
        model, manager = self.model, self.manager
        cost = self.model.RegisterTransitMatrix(
            [[self.cost[nodes[a].site][nodes[b].site] for b in range(count)] for a in range(count)]
        )
        model.SetArcCostEvaluatorOfAllVehicles(cost)
        scale = problem.ticks_per_minute
        for number, fixed in enumerate(self._fixed_ticks):
            if fixed:
                model.SetFixedCostOfVehicle(fixed, number)

        transit = model.RegisterTransitMatrix(
            [[self.transit(a, b) for b in range(count)] for a in range(count)]
        )
        model.AddDimension(transit, self.horizon, self.horizon, False, "time")
        self.time = model.GetDimensionOrDie("time")
        for node in range(self.visits):
            low, high = nodes[node].window
            self.time.CumulVar(manager.NodeToIndex(node)).SetRange(low, min(high, self.horizon))
        for number, vehicle in enumerate(problem.vehicles):
            low, high = round(vehicle.shift.start * scale), round(vehicle.shift.end * scale)
            self.time.CumulVar(model.Start(number)).SetRange(low, high)
            self.time.CumulVar(model.End(number)).SetRange(low, high)
            if vehicle.max_duration is not None:
                self.time.SetSpanUpperBoundForVehicle(
                    math.floor(vehicle.max_duration * scale), number
                )
        # Finish each route as early as possible, then leave as late as that allows: no
        # courier waits at the start of a route for nothing.
        for number in range(len(problem.vehicles)):
            model.AddVariableMinimizedByFinalizer(self.time.CumulVar(model.End(number)))
        for number in range(len(problem.vehicles)):
            model.AddVariableMaximizedByFinalizer(self.time.CumulVar(model.Start(number)))

        self._add_loads()
        self._add_requests()

    def _add_loads(self) -> None:
        problem, model, nodes = self.problem, self.model, self.nodes
        solver = model.solver()
        for position, dimension in enumerate(problem.dimensions):
            demand = [node.demand[position] for node in nodes]
            if not any(demand):
                continue
            capacity = [vehicle.capacity.get(dimension, 0) for vehicle in problem.vehicles]
            if sum(r.load.get(dimension, 0) for r in self.requests) <= min(capacity, default=0):
                # Every courier could carry all of it at once: the dimension cannot bind, and
                # leaving it out spares its filter on every move (about 14 % of the search
                # time on a county day, measured 2026-12-06).
                continue
            loaded_at_start = [
                -demand[self.delivery_node[n]]
                for n, r in enumerate(self.requests)
                if r.pickup is None and r.load.get(dimension, 0)
            ]
            collected = any(r.load.get(dimension, 0) for r in self.requests if r.pickup is not None)
            callback = model.RegisterUnaryTransitVector(demand)
            model.AddDimensionWithVehicleCapacity(callback, 0, capacity, False, dimension)
            load = model.GetDimensionOrDie(dimension)
            if not loaded_at_start:
                for number in range(len(problem.vehicles)):
                    load.CumulVar(model.Start(number)).SetValue(0)
                continue
            if not collected:
                # Only deliveries from the start place: the load can only fall, and a cumul
                # kept >= 0 makes the start load at least what the route delivers.
                continue
            # Deliveries from the start mixed with collections: a second dimension counts
            # what is still to be delivered from the start, ends at 0, and so pins the
            # start load to exactly what the route delivers.
            stock_demand = [
                value
                if node.request is not None
                and not node.is_pickup
                and self.requests[node.request].pickup is None
                else 0
                for value, node in zip(demand, nodes, strict=True)
            ]
            stock_callback = model.RegisterUnaryTransitVector(stock_demand)
            name = f"{dimension}:from-start"
            model.AddDimensionWithVehicleCapacity(stock_callback, 0, capacity, False, name)
            stock = model.GetDimensionOrDie(name)
            for number in range(len(problem.vehicles)):
                stock.CumulVar(model.End(number)).SetValue(0)
                solver.Add(
                    load.CumulVar(model.Start(number)) == stock.CumulVar(model.Start(number))
                )

    def _add_requests(self) -> None:
        model, manager = self.model, self.manager
        scale = self.problem.ticks_per_minute
        required_penalty = self.required_penalty()
        self.has_mandatory = False
        for number, request in enumerate(self.requests):
            pickup = self.pickup_node.get(number)
            delivery = self.delivery_node.get(number)
            indices = [manager.NodeToIndex(n) for n in (pickup, delivery) if n is not None]
            if pickup is not None and delivery is not None:
                p, d = indices
                # AddPickupAndDelivery already keeps both ends on one vehicle, pickup first;
                # stating that again as solver constraints cost about 12 % of the search time
                # on a county day (measured 2026-12-06).
                model.AddPickupAndDelivery(p, d)
                if request.max_ride is not None:
                    ride = math.floor(request.max_ride * scale)
                    # time(delivery) - time(pickup) <= ride + service, stated as the node
                    # precedence time(pickup) >= time(delivery) - ride - service: the local
                    # search filters check it, so ruin-and-recreate inserts within the ride
                    # limit instead of building plans the solver rejects afterwards. Measured
                    # 2026-12-06 against a solver constraint: county days 15 % faster at a
                    # fixed solution count, and at 2 s 24/60 plans equal to the best seen
                    # against 12/60.
                    self.time.AddNodePrecedence(d, p, -(ride + self.nodes[pickup].service))
            if request.vehicles:
                # A model of fewer couriers (route elimination) may leave some of them out.
                allowed = [
                    self.vehicle_number[vehicle]
                    for vehicle in request.vehicles
                    if vehicle in self.vehicle_number
                ]
                for index in indices:
                    # -1 (unperformed) stays allowed so a drop option keeps working.
                    model.VehicleVar(index).SetValues([-1, *allowed])
            if request.penalty is None and self.settings.required_as_mandatory:
                self.has_mandatory = True
                continue
            penalty = (
                required_penalty if request.penalty is None else round(request.penalty * scale)
            )
            share = -(-penalty // len(indices))
            for index in indices:
                model.AddDisjunction([index], share)
            if len(indices) == 2:
                # With drop options AddPickupAndDelivery alone is not enough: OR-Tools 9.15
                # returned plans with a pickup made and its delivery dropped (found by
                # Hypothesis, 2026-12-07). Both ends are made, on one vehicle, or neither.
                solver = model.solver()
                p, d = indices
                solver.Add(model.ActiveVar(p) == model.ActiveVar(d))
                solver.Add(model.VehicleVar(p) == model.VehicleVar(d))

    def required_penalty(self) -> int:
        """A drop penalty above any cost that serving one more request could add."""
        longest = max((max(row) for row in self.cost), default=0)
        fixed = sum(self._fixed_ticks)
        optional = sum(
            round(r.penalty * self.problem.ticks_per_minute)
            for r in self.requests
            if r.penalty is not None
        )
        return 4 * (longest + 1) * (len(self.nodes) + 2) + fixed + optional

    def mean_arc_cost(self) -> float:
        """The mean cost of travel between two visits (pairs drawn with repetition)."""
        visits = Counter(self.nodes[node].site for node in range(self.visits))
        total = sum(
            count_a * count_b * self.cost[a][b]
            for a, count_a in visits.items()
            for b, count_b in visits.items()
        )
        return total / max(1, self.visits) ** 2

    @property
    def paired(self) -> bool:
        """Whether the paired-problem settings apply (see :class:`Settings`)."""
        return self.settings.paired(self.requests)

    def parameters(
        self, time_limit: float, scheme: str | None = None, cooling: tuple[float, float] = (0, 1)
    ) -> Any:
        settings = self.settings
        scheme = scheme or settings.scheme
        params = pywrapcp.DefaultRoutingSearchParameters()
        params.first_solution_strategy = FIRST_SOLUTIONS.Value(settings.first_solution)
        params.local_search_metaheuristic = METAHEURISTICS.Value(settings.metaheuristic)
        params.guided_local_search_lambda_coefficient = settings.gls_lambda
        # Measured at 10 s on all 34 Solomon (3 seeds) and 34 Li & Lim (1 seed): mean gap
        # 1.31 -> 0.97 % and 1.20 -> 0.73 %; the county day at 2 s unchanged within noise
        # (docs/benchmarks.md, runs of 2026-12-05).
        params.use_multi_armed_bandit_concatenate_operators = settings.bandit_operator_order
        # No neighbour lists (ls_operator_neighbors_ratio < 1): in OR-Tools 9.14 and 9.15 the
        # first descent then never ends (20 million Relocate moves in 10 s, none accepted,
        # even on a plain 100-customer CVRP; measured 2026-12-05).
        operators = params.local_search_operators
        disabled = list(settings.disabled_operators)
        if self.paired:
            disabled += settings.paired_disabled_operators
        for name in disabled:
            setattr(operators, name, optional_boolean_pb2.BOOL_FALSE)
        for name in settings.enabled_operators:
            setattr(operators, name, optional_boolean_pb2.BOOL_TRUE)
        if scheme == "ils":
            params.local_search_metaheuristic = METAHEURISTICS.Value("GREEDY_DESCENT")
            params.use_iterated_local_search = True
            ils = params.iterated_local_search_parameters
            ils.perturbation_strategy = routing_ils_pb2.PerturbationStrategy.RUIN_AND_RECREATE
            ruin_recreate = ils.ruin_recreate_parameters
            for ruin in settings.ruins:
                strategy = ruin_recreate.ruin_strategies.add()
                if ruin == "sisr":
                    strategy.sisr.max_removed_sequence_size = settings.ruin_sequence
                    strategy.sisr.avg_num_removed_visits = settings.ruin_visits
                    strategy.sisr.bypass_factor = settings.ruin_bypass
                elif ruin == "routes":
                    strategy.spatially_close_routes.num_ruined_routes = settings.ruined_routes
                else:
                    strategy.random_walk.num_removed_visits = settings.walk_visits
            ruin_recreate.ruin_composition_strategy = (
                routing_ils_pb2.RuinCompositionStrategy.RUN_ONE_RANDOMLY
            )
            ruin_recreate.recreate_strategy.heuristic = FIRST_SOLUTIONS.Value(settings.recreate)
            insertion = ruin_recreate.recreate_strategy.parameters.local_cheapest_insertion
            if settings.pair_insertion:
                insertion.pickup_delivery_strategy = PAIR_INSERTION.Value(settings.pair_insertion)
            for name in settings.recreate_sorting:
                insertion.insertion_sorting_properties.append(SORTING.Value(name))
            ils.improve_perturbed_solution = (
                settings.paired_improve_perturbed if self.paired else settings.improve_perturbed
            )
            annealing = ils.reference_solution_acceptance_strategy.simulated_annealing
            if settings.temperatures is None:
                annealing.automatic_temperatures = True
            else:
                start, end = settings.temperatures
                mean = self.mean_arc_cost()
                # A search that covers only part of the schedule (a continuation) anneals
                # over that part of the exponential cooling from ``start`` to ``end``.
                first, last = (start * (end / start) ** share for share in cooling)
                annealing.initial_temperature = max(1e-6, first * mean)
                annealing.final_temperature = max(1e-6, last * mean)
        for name, value in settings.extra:
            target: Any = params
            *path, last = name.split(".")
            for part in path:
                target = getattr(target, part)
            setattr(target, last, value)
        params.time_limit.FromMilliseconds(max(1, round(time_limit * 1000)))
        return params

    def solve(
        self,
        time_limit: float,
        seed: int,
        log: SearchLog | None = None,
        start: Sequence[Sequence[Visit]] | None = None,
        cooling: tuple[float, float] = (0, 1),
    ) -> Solution | None:
        """Search for ``time_limit`` seconds; ``log`` carries on the log of earlier runs.

        ``start`` (routes as :meth:`read_routes` gives them, one per vehicle) is the first plan
        of the iterated local search instead of a constructed one; ``cooling`` is the part of
        the annealing schedule this search covers (a continuation of an earlier search at 40 %
        of the time passes ``(0.4, 1)``). Measured 2026-12-06: a continuation in the same
        model replays OR-Tools' fixed-seed ruin sequence and ends worse than one search; in a
        model whose requests are numbered in another order it does as well as one search.
        """
        log = log if log is not None else SearchLog()
        model = self.model
        solver = model.solver()
        solver.ReSeed(seed)

        self.log = log
        self.best_order = None
        self.keep_order = start is not None
        if not self.watching:
            # Once per model: a second solve of the same model must not count its solutions
            # twice. OR-Tools keeps the callback in C++, out of sight of Python's garbage
            # collector: a callback holding the model strongly would keep the model, and
            # every model solved before it, alive for good (about 9 MB per county day). It
            # holds a weak reference.
            compiled_ref = weakref.ref(self)

            def on_solution() -> None:
                compiled = compiled_ref()
                if compiled is not None:
                    compiled.seen()

            model.AddAtSolutionCallback(on_solution)
            self.watching = True
        if self.settings.scheme != "ils" or self.visits < self.settings.ils_min_visits:
            # Tiny models need no ruin-and-recreate: guided local search there.
            self.closed = True  # by the solve
            assignment = model.SolveWithParameters(self.parameters(time_limit, "gls"))
            if assignment is None:
                log.status = STATUS.Name(model.status())
                return None
            log.status = STATUS.Name(model.status())
            return Solution(self.read_routes(assignment), assignment.ObjectiveValue(), log)
        ils_time = time_limit * (1 - self.settings.polish)
        params = self.parameters(ils_time, cooling=cooling)
        if start is not None and not self.warm_start(start, params):
            raise ValueError("the starting routes are not a plan of this model")
        self.closed = True  # by the solve, if not by the start
        assignment = model.SolveWithIteratedLocalSearch(params)
        if assignment is None:
            log.status = STATUS.Name(model.status())
            return None
        # SolveWithIteratedLocalSearch leaves the status at ROUTING_NOT_SOLVED even when it
        # returns a solution.
        log.status = "ROUTING_SUCCESS"
        best = Solution(self.read_routes(assignment), assignment.ObjectiveValue(), log)
        if self.best_order is not None and self.best_order[0] < best.objective:
            # From a start, OR-Tools 9.15 can hand back the start although the search found
            # better (seen on a plain delivery day): re-time the best order it reported.
            best = self.retime(self.best_order[1], log) or best
        if self.settings.polish > 0:
            polished = model.SolveFromAssignmentWithParameters(
                assignment, self.parameters(time_limit - ils_time, "gls")
            )
            if polished is not None and polished.ObjectiveValue() < best.objective:
                best = Solution(self.read_routes(polished), polished.ObjectiveValue(), log)
        return best

    def seen(self) -> None:
        """At each solution: log it and, when searching from a start, keep its order."""
        objective = self.model.CostVar().Max()
        self.log.seen(objective)
        if self.pool is not None:
            self._pool_routes(objective)
        if self.keep_order and (self.best_order is None or objective < self.best_order[0]):
            model = self.model
            nexts = [model.NextVar(index).Value() for index in range(model.Size())]
            self.best_order = (objective, nexts)

    def collect(self, pool: RoutePool, keys: Sequence[int]) -> None:
        """Offer the routes of every plan this model's search reports to ``pool``, each as
        the ``keys`` of its visit nodes (:mod:`routing.recombination`)."""
        model, manager = self.model, self.manager
        self.pool = pool
        self._next_vars = [model.NextVar(index) for index in range(model.Size())]
        ends = range(model.Size() + len(self.problem.vehicles))
        self._index_key = [
            keys[node] if (node := manager.IndexToNode(index)) < self.visits else -1
            for index in ends
        ]
        self._index_site = [self.nodes[manager.IndexToNode(index)].site for index in ends]
        self._starts = [model.Start(vehicle) for vehicle in range(len(self.problem.vehicles))]

    def _pool_routes(self, objective: int) -> None:
        """Offer the routes of the plan at hand, costing ``objective``, to the pool."""
        pool = self.pool
        assert pool is not None
        if not pool.wants(objective):
            # Reading a plan costs about 0.1 ms; routes of plans far above the best are not
            # combined anyway (routing.pool.TIERS).
            return
        nexts = [var.Value() for var in self._next_vars]
        size = len(nexts)
        index_key, index_site, cost = self._index_key, self._index_site, self.cost
        for vehicle, index in enumerate(self._starts):
            previous = index_site[index]
            index = nexts[index]
            if index >= size:
                continue
            visits = []
            total = self._fixed_ticks[vehicle]
            while index < size:
                site = index_site[index]
                total += cost[previous][site]
                visits.append(index_key[index])
                previous = site
                index = nexts[index]
            total += cost[previous][index_site[index]]
            pool.add(tuple(visits), total, objective)

    def retime(self, nexts: Sequence[int], log: SearchLog) -> Solution | None:
        """The plan that follows ``nexts`` (successor of each index), timed by a search."""
        return self.timed(self._walk(nexts.__getitem__, lambda index: 0), log)

    def timed(self, routes: Sequence[Sequence[Visit]], log: SearchLog) -> Solution | None:
        """The plan that makes exactly the visits of ``routes`` in their order, timed (None
        when they are not a plan of this model)."""
        params = self.parameters(1.0)
        params.solution_limit = 1
        self.keep_order = False
        if not self.warm_start(routes, params):
            return None
        assignment = self.model.SolveWithParameters(params)
        if assignment is None:
            return None
        return Solution(self.read_routes(assignment), assignment.ObjectiveValue(), log)

    def warm_start(self, routes: Sequence[Sequence[Visit]], params: Any) -> bool:
        """Make ``routes`` the first plan of the next search (visits not on them unperformed).

        OR-Tools 9.15's iterated local search ignores ``SetFirstSolutionHint`` and cannot be
        continued by ``SolveFromAssignmentWithParameters``, but it does build its first plan
        on the locks of a closed model: the search starts from ``routes`` and then moves
        freely (measured 2026-12-06: a county day locked to a 950-minute plan started there
        and ended at 871).
        """
        model, manager = self.model, self.manager
        if not self.closed:
            model.CloseModelWithParameters(params)
            self.closed = True
        locks = [[manager.NodeToIndex(visit.node) for visit in route[1:-1]] for route in routes]
        return bool(model.ApplyLocksToAllVehicles(locks, True))

    def read_routes(self, assignment: Any) -> tuple[tuple[Visit, ...], ...]:
        model, time_dimension = self.model, self.time
        return self._walk(
            lambda index: assignment.Value(model.NextVar(index)),
            lambda index: assignment.Value(time_dimension.CumulVar(index)),
        )

    def _walk(
        self, next_of: Callable[[int], int], tick_of: Callable[[int], int]
    ) -> tuple[tuple[Visit, ...], ...]:
        """Each vehicle's route from its start, following ``next_of``, with ``tick_of``."""
        model, manager = self.model, self.manager
        routes = []
        for vehicle in range(len(self.problem.vehicles)):
            index = model.Start(vehicle)
            visits = []
            while True:
                visits.append(Visit(manager.IndexToNode(index), tick_of(index)))
                if model.IsEnd(index):
                    break
                index = next_of(index)
            routes.append(tuple(visits))
        return tuple(routes)


def ticks_window(window: Window | None, opening: Window, scale: int) -> tuple[int, int]:
    """The ticks in which handling may start: the request's window within opening hours."""
    allowed = within_opening(window, opening)
    return math.ceil(allowed.start * scale - 1e-9), math.floor(allowed.end * scale + 1e-9)


__all__ = [
    "DAY",
    "PAIRED_SLOW_OPERATORS",
    "SLOW_OPERATORS",
    "Compiled",
    "Settings",
    "Solution",
    "Visit",
]
