"""The demo county (示范县) and its history generator (``manage.py demo_county``).

This room holds the deterministic demo county — its layout (``layout``: towns, villages and
irregular non-overlapping grids), names (``names``), organisation, units and accounts, and the
case configuration (``county``, ``catalog``: categories, routing rules, time limits, the work
calendar) — and the fabricated case history for demos and benchmarks (``history``:
``demo_county --history N``). It sits on top of every other app and nothing imports it: it
builds data through their models and services, so the product never depends on demo data.
"""
