"""Council policy packs (DESIGN.md §5, councils.md): rules as data, an evaluator and its timer.

`packs` loads and validates `mappings/policies/*.yaml`; `rules` decides, purely, which rules
are due for an episode at a moment and when the next one falls due; `calendar` holds UK local
time and working days; `engine` ties them to the database: flags raised on each event and on
the timer, once per episode, rule and period.
"""
