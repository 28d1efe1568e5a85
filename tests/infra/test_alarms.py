"""infra/alarms.yaml: the deployed stack tells someone when calls die, wait, or the worker fails."""

from __future__ import annotations

from typing import Any

import pytest

from fnq.packaging import load_merge_template
from tests.infra.conftest import stage_setting, stages

TEMPLATE = load_merge_template()
ALARMS = {
    name: r["Properties"]
    for name, r in TEMPLATE["Resources"].items()
    if r.get("Type") == "AWS::CloudWatch::Alarm"
}


def watched(alarm: dict[str, Any]) -> tuple[str, str, str]:
    """(namespace, metric, the stack resource whose metric it is)."""
    (dimension,) = alarm["Dimensions"]
    value = dimension["Value"]
    resource = value["Ref"] if "Ref" in value else value["Fn::GetAtt"][0]
    return alarm["Namespace"], alarm["MetricName"], resource


def test_the_dead_letter_queue_the_oldest_call_message_and_the_workers_errors_each_have_an_alarm() -> None:
    metrics = {watched(alarm) for alarm in ALARMS.values()}

    assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "DeadLetterQueue") in metrics
    assert ("AWS/SQS", "NumberOfMessagesReceived", "DeadLetterQueue") in metrics
    assert ("AWS/SQS", "ApproximateAgeOfOldestMessage", "CallsQueue") in metrics
    assert ("AWS/Lambda", "Errors", "HandleCalls") in metrics


def test_every_alarm_watches_a_resource_of_the_stack_and_notifies_the_topic_only_when_one_is_given() -> None:
    for name, alarm in ALARMS.items():
        assert watched(alarm)[2] in TEMPLATE["Resources"], name
        topic_if_given = {"Fn::If": ["NotifyTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}
        assert alarm["AlarmActions"] == alarm["OKActions"] == topic_if_given, name
        assert alarm["TreatMissingData"] == "notBreaching", name  # an idle stack is a healthy one
    assert TEMPLATE["Parameters"]["AlarmTopicArn"]["Default"] == ""


@pytest.mark.parametrize("stage", stages())
def test_a_call_running_for_as_long_as_allowed_does_not_raise_the_oldest_message_alarm(stage: str) -> None:
    # A call's message stays (in flight) until the call ends: the longest async call must not alarm.
    longest = int(stage_setting(stage, "environment_variables")["FNQ_MAX_ASYNC_TIMEOUT"])

    assert TEMPLATE["Parameters"]["OldestMessageAlarmSeconds"]["Default"] > 2 * longest
