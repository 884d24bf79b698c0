"""The action dialogs' old home: they live in the package :mod:`idp_tui.ui.dialogs` now.

Kept so that ``from idp_tui.ui.actions import ActionModal`` (and the app's ``from .actions import
open_action``) go on working; new code imports from ``idp_tui.ui.dialogs``.
"""

from __future__ import annotations

from .action_access import (
    ACTION_KINDS,
    VERBS,
    binding_state,
    manager_of,
    read_only_notice,
    read_only_reason,
)
from .dialogs import *  # noqa: F403 - the same names as before
from .dialogs import __all__ as _dialogs_all

__all__ = ["ACTION_KINDS", "VERBS", "binding_state", "manager_of", "read_only_notice",
           "read_only_reason", *_dialogs_all]
