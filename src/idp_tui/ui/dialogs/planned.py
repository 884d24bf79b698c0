"""What the dialogs of an action in one environment share (one service's deploy, rollback, scale or
restart; a preview environment's extend or delete; a workflow's run, in the environment its
inputs name): the plan asked for again as the form changes, and the form locked once the
request is sent."""

from __future__ import annotations

import asyncio

from textual import on
from textual.widgets import Input

from ...actions import ActionRun, PlanResult
from ...api.actions import ActionRequest
from ...hub import classify
from .base import ConfirmedDialog
from .widgets import ConfirmBox

#: The class of the inputs whose change asks for a new plan (Enter in one goes to the next field).
REPLANS = "replans"


class PlannedDialog(ConfirmedDialog):
    """A confirmed dialog on one ``environment`` whose plan is asked for again when the form
    changes (an input of class ``REPLANS``, or ``_schedule_plan`` called by the dialog)."""

    #: Seconds a moving version cursor or a value being typed must rest before the source is
    #: asked for a plan (the first plan of a form, with nothing moved or typed, is asked at once).
    settle_delay = 0.05
    #: What the plan panel says while the form does not make a request yet.
    incomplete = "Fill in the form to see what changes."

    environment: str

    def _schedule_plan(self, *, settle: bool = True) -> None:
        """Ask for the plan of what the form says now (after ``settle_delay`` when ``settle``: a
        cursor or a number on the move); a plan still on its way is dropped."""
        self.plan_result = None
        self._show_plan(None)
        self._refresh_confirm()
        self.run_worker(self._plan(self.settle_delay if settle else 0.0), group="plan",
                        exclusive=True, exit_on_error=False)

    async def _plan(self, delay: float) -> None:
        if delay > 0:
            await asyncio.sleep(delay)  # let a fast cursor settle before asking the source
        request = self._plan_request()
        if request is None:
            self._show_plan(None, self.incomplete)
            return
        try:
            result = await self.manager.plan(request)
        except Exception as exc:  # noqa: BLE001 - plan reports failures itself; just in case
            result = PlanResult(None, None, failure=classify("hub", exc))
        current = self._plan_request()
        if current is None or not _same_form(current, request):
            return  # the form changed meanwhile; another plan is on its way
        self.plan_result = result
        self._took_plan(result)
        self._show_plan(result)
        needed = result.decision is not None and result.decision.needs_confirmation
        self.query_one(ConfirmBox).setup(self.environment, needed)
        self._refresh_confirm()
        self._planned(needed)

    def _plan_request(self) -> ActionRequest | None:
        """The request whose plan is asked for (None: the form makes none yet): the form's."""
        return self._request()

    def _took_plan(self, result: PlanResult) -> None:
        """What the dialog takes from a plan before it is shown (the environment a workflow's
        inputs name). Override."""

    def _planned(self, needs_confirmation: bool) -> None:
        """After a plan is shown (``needs_confirmation``: the environment's name is to be
        typed). Override."""

    def _lock_form(self) -> None:
        for widget in self.query("#action-fields, #action-confirm-box"):
            widget.disabled = True

    def _denied(self, run: ActionRun) -> None:
        self.query_one(ConfirmBox).setup(self.environment, run.decision.needs_confirmation)

    @on(Input.Changed, f".{REPLANS}")
    def _replanning_input_changed(self) -> None:
        if not self.started:
            self._schedule_plan()

    @on(Input.Submitted, f"#confirm-name, #confirm-reason, .{REPLANS}")
    def _input_submitted(self) -> None:
        self.focus_next()


def _same_form(a: ActionRequest, b: ActionRequest) -> bool:
    """Whether two requests made of the form ask for the same (a denied request's id is
    renewed meanwhile)."""
    return a.model_dump(exclude={"id"}) == b.model_dump(exclude={"id"})
