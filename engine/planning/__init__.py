"""The planner's parts; `engine.planner.plan` assembles them into a plan.

- `options`: what a person chooses for a run (`PlanOptions`) and the history of past runs.
- `policy`: what each kind of run is, as data (`KindPolicy`, one per `Kind`).
- `facts`: what one planning found of the two sites (`PlanFacts`), read by every check.
- `records`: where the VMs' records come from, and which metadata VDIs the run reads.
- `targets`: what a person's target names (vApps whole, standalone VMs).
- `rules`: every check, as small functions in ordered lists (site, source, records, VM, LUN,
  assembled plan).
- `rto`: the plan's RTO estimate.
"""
