"""The cyclic garbage collector's settings while the dashboard runs (imports nothing)."""

#: Cyclic GC thresholds while the dashboard runs (CPython's default is 700, 10, 10): it allocates
#: many short-lived objects (log records, strips, table cells), nearly all freed by refcounting.
GC_THRESHOLDS = (1_000_000, 10, 100)
