"""The advisor: recommendations with evidence and a remedy, from rules over the hub's snapshots.

Textual-free. :class:`Advisor` evaluates the rules (built in, and the ``idp_tui.advisor_rules``
entry points) over an :class:`AdvisorView`; :mod:`.stats` holds the tests that judge a
regression; :class:`Dismissals` remembers what was dismissed or snoozed.
"""

from .dismissals import Dismissals
from .engine import Advice, Advisor, gather
from .model import Evidence, Figure, Recommendation, RunLog, Severity, stable_id
from .rules import GROUP, AdvisorView, Rule, load_rules
from .settings import AdvisorConfig

__all__ = [
    "GROUP", "Advice", "Advisor", "AdvisorConfig", "AdvisorView", "Dismissals", "Evidence",
    "Figure", "Recommendation", "Rule", "RunLog", "Severity", "gather", "load_rules", "stable_id",
]
