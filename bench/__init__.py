"""Benchmarks run by hand or by ``make bench-*``; not tests, they never fail on timing."""
