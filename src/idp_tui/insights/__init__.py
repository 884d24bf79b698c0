"""Insights computed from what the sources know: DORA's four keys (:mod:`.dora`), the delivery
history of idp-tui's own audit log (:mod:`.audit_history`) and the cache of fetched history
(:mod:`.cache`), and scorecards (:mod:`.scorecards`: rules in :mod:`.rules`, facts in
:mod:`.facts`). Textual-free: the CLI and (later) a pane use the same functions."""
