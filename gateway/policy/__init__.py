"""Council policy packs (docs/policy-packs.md): rules as data, an evaluator and its timer.

`definitions` holds the rule kinds a pack may use and `packs` loads and validates
`mappings/policies/*.yaml` into them; `facts` is what the rules read of an episode; `rules`
decides, purely, which rules are due for a council in its role at a moment and when the next
one falls due; `calendar` holds UK local time, calendar days and months and working days;
`engine` ties them to the database: flags raised on each event and on the timer, once per
episode, council, rule and period; `timer` runs it in the worker.
"""
