"""The automation example of the README: valid for Prefect, and its trigger matches the
event the nightly emits."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from prefect.events.schemas.automations import AutomationCore

from flows.regression import EVENT

AUTOMATION = Path(__file__).resolve().parents[2] / "deployments" / "automations" / "regression-alert.yaml"


def test_the_example_validates_and_listens_for_the_regression_event():
    automation = AutomationCore.model_validate(yaml.safe_load(AUTOMATION.read_text()))
    assert automation.trigger.expect == {EVENT}
    assert automation.trigger.match.model_dump()["prefect.resource.id"] == "llmeter.endpoint.*"
    (action,) = automation.actions
    assert action.type == "send-notification" and "event.payload.summary" in action.body


@pytest.mark.usefixtures("prefect_harness")
async def test_the_server_accepts_it_with_a_real_notification_block():
    from prefect.blocks.notifications import SlackWebhook
    from prefect.client.orchestration import get_client

    block_id = await SlackWebhook(url="http://127.0.0.1:9/hook").save("llmeter-test-alerts", overwrite=True)
    data = yaml.safe_load(AUTOMATION.read_text())
    data["actions"][0]["block_document_id"] = str(block_id)
    async with get_client() as client:
        automation_id = await client.create_automation(AutomationCore.model_validate(data))
        stored = await client.read_automation(automation_id)
        await client.delete_automation(automation_id)
    assert stored.name == "llmeter regression alert" and stored.trigger.expect == {EVENT}
