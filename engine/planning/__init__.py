"""The planner's parts; `engine.planner.plan` assembles them into a plan.

- `options`: what a person chooses for a run (`PlanOptions`) and the history of past runs.
- `policy`: what each kind of run is, as data (`KindPolicy`, one per `Kind`).
- `facts`: what one planning found of the two sites (`PlanFacts`), read by every check.
- `rules`: every check, as small functions in ordered lists (site, VM, LUN, assembled plan).
"""
