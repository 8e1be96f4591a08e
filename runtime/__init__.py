"""The composition root: builds the Faust app and the worker from Settings and owns lifecycles.

`streams/` (write side) and `projections/` (read side) never import this package; it imports
both and wires them together (`python -m runtime worker`).
"""
