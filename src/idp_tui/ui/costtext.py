"""Cost in the panes: the Catalog detail's lines of one service, the Insights rows' monthly cost.

What the app holds (the platform's deployments, the catalog, the advisor's use series and
recommendations, the ``[cost]`` prices or OpenCost's) goes to the Textual-free
:mod:`idp_tui.advisor.costview`; the lines come back as plain strings, drawn through ``render``.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text

from .. import render

__all__ = ["cost_detail", "cost_inputs_of", "scope_costs_of"]


def cost_inputs_of(app: Any, service: str | None = None) -> Any:
    """The cost inputs of what ``app`` holds now (None before the environments are known);
    only ``service``'s when given."""
    from ..advisor.costview import cost_inputs, prices_of  # noqa: PLC0415 - not at start-up

    platform = getattr(app, "platform", None)
    config = getattr(app, "config", None)
    if platform is None or config is None:
        return None
    advisor = getattr(app, "advisor", None)
    advice = getattr(app, "advice", None)
    prices = prices_of(config.cost, _node_prices(app))
    return cost_inputs(platform.deployments, getattr(app, "services", ()), prices,
                       advisor.usage(service) if advisor is not None else None,
                       advice.recommendations if advice is not None else (), service=service)


def _node_prices(app: Any) -> Any:
    """A metrics source's prices (OpenCost's node prices) as the hub last had them; asked for
    once (in the background) when the hub has none yet. None: the configured ones."""
    from ..hub import Topic  # noqa: PLC0415

    hub = getattr(app, "hub", None)
    if hub is None:
        return None
    topic = Topic.cost_prices()
    snapshot = hub.cached(topic)
    if snapshot is None and not getattr(app, "_cost_prices_asked", False):
        app._cost_prices_asked = True

        async def ask() -> None:
            try:
                await hub.fetch(topic)
            except Exception:  # noqa: BLE001 - then the configured prices stay
                return
            for pane in app._live_panes():
                pane.shared_data_changed()

        app.run_worker(ask(), exit_on_error=False, group="cost-prices")
    return snapshot.data if snapshot is not None else None


def cost_detail(app: Any, service: str) -> Text | None:
    """The Catalog detail's "Cost" part for ``service`` (None when nothing of it is costed)."""
    from ..advisor.costview import service_cost  # noqa: PLC0415

    inputs = cost_inputs_of(app, service)
    lines = service_cost(inputs, service, app.environment_names()) if inputs is not None \
        else []
    if not lines:
        return None
    out = Text("\nCost\n", "bold", end="")
    for label, value in lines:
        out.append_text(render.label(f"  {label}", 13, max_len=40))
        out.append_text(render.text(value, max_len=300))
        out.append("\n")
    return out


def scope_costs_of(app: Any) -> dict[str, str]:
    """Monthly cost by the Insights rows' keys (``organisation``, ``team:NAME``…)."""
    from ..advisor.costview import scope_costs  # noqa: PLC0415

    inputs = cost_inputs_of(app)
    return scope_costs(inputs) if inputs is not None else {}
