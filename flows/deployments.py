"""The deployments of ``deployments/prefect.yaml``, as objects ``flow.serve`` can run.

One source of truth: ``prefect deploy`` reads the YAML for work pools, and ``llmeter-flows
serve`` turns the same entries into ``RunnerDeployment``s served from one machine (for users
without a work pool). Nothing here talks to a server, so the tests validate the file offline:
entrypoints import, parameters validate against the flows, cron expressions parse.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "REPO_ROOT",
    "PREFECT_YAML",
    "load_deployment_entries",
    "load_entrypoint",
    "schedules_of",
    "runner_deployments",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
PREFECT_YAML = REPO_ROOT / "deployments" / "prefect.yaml"


def load_deployment_entries(path: Path = PREFECT_YAML) -> list[dict[str, Any]]:
    """The ``deployments:`` list of a prefect.yaml (anchors resolved by the YAML loader)."""
    data = yaml.safe_load(Path(path).read_text())
    entries = data.get("deployments") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{path}: no deployments")
    return entries


def load_entrypoint(entrypoint: str, root: Path = REPO_ROOT) -> Any:
    """Import the flow an entrypoint (``flows/sweep.py:load_test_sweep``) names."""
    from prefect.flows import load_flow_from_entrypoint

    file_part, _, name = entrypoint.partition(":")
    return load_flow_from_entrypoint(f"{root / file_part}:{name}")


def schedules_of(entry: dict[str, Any]) -> list[Any]:
    """The entry's cron schedules as Prefect ``Schedule`` objects (raises on a bad cron)."""
    from prefect.schedules import Cron

    out = []
    for item in entry.get("schedules") or []:
        if "cron" not in item:
            raise ValueError(f"deployment {entry.get('name')}: only cron schedules are used here, got {item}")
        out.append(Cron(item["cron"], timezone=item.get("timezone"), active=item.get("active", True)))
    return out


def runner_deployments(path: Path = PREFECT_YAML, root: Path = REPO_ROOT) -> list[Any]:
    """Every deployment of the file as a ``RunnerDeployment`` (for ``prefect.serve``).

    Each keeps the file's own entrypoint (``flows/sweep.py:load_test_sweep``, relative to the
    project root) and the project root as its path: ``to_deployment`` would write the flow's
    file relative to the directory ``serve`` ran in (``../../srv/llmeter/flows/sweep.py``
    from elsewhere), so the UI showed a different entrypoint for each place it was served
    from. A served run does not read it (the runner holds the flow in memory): it is what the
    UI shows and what ``prefect deploy`` uses for a work pool, the same either way.
    """
    deployments = []
    for entry in load_deployment_entries(path):
        flow = load_entrypoint(entry["entrypoint"], root)
        deployment = flow.to_deployment(
            name=entry["name"],
            description=entry.get("description"),
            tags=entry.get("tags"),
            parameters=entry.get("parameters") or {},
            schedules=schedules_of(entry),
            concurrency_limit=entry.get("concurrency_limit"),
        )
        deployment.entrypoint = entry["entrypoint"]
        deployment._path = str(root)
        deployments.append(deployment)
    return deployments
