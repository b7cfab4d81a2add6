"""The local rules engine: one incoming publish -> every matching rule -> its actions.

Behaviour follows the AWS IoT developer guide:
- a rule runs when its FROM filter matches the topic; a Basic Ingest topic
  `$aws/rules/<rule>/...` runs that rule alone, whatever its FROM;
- WHERE is evaluated first and the actions run only when it is Boolean true;
- substitution templates `${...}` in action fields are evaluated on the original payload, so
  SELECT aliases are not visible to them;
- when actions fail, the error action receives one message per rule and message, listing every
  failure, with the original payload in base64.

A statement that cannot shape the payload (e.g. `SELECT *, x` on a binary payload) runs no
action; it is counted and reported in the RuleRun, where AWS would log it.
"""

from __future__ import annotations

import base64
import json
import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cloud.iot_sql import (
    BinaryPayloadError,
    EvaluationError,
    Message,
    Query,
    Template,
    parse,
    parse_template,
)
from cloud.iot_sql.message import BASIC_INGEST_PREFIX
from cloud.rules.definitions import Action, TopicRule
from cloud.rules.handlers import ActionCall, ActionFailed, ActionHandler

log = logging.getLogger(__name__)


class UnknownActionType(ValueError):
    """A rule uses an action type no handler was given for."""


@dataclass(frozen=True)
class ActionResult:
    type: str
    ok: bool
    error: str = ""


@dataclass
class RuleRun:
    """What one rule did with one message."""

    rule_name: str
    fired: bool = False  # WHERE was true
    payload: bytes | None = None
    actions: list[ActionResult] = field(default_factory=list)
    evaluation_error: str = ""
    error_action: ActionResult | None = None


@dataclass(frozen=True)
class _CompiledAction:
    spec: Action
    templates: dict[str, Template]


@dataclass(frozen=True)
class _CompiledRule:
    definition: TopicRule
    query: Query
    actions: tuple[_CompiledAction, ...]
    error_action: _CompiledAction


def _compile_action(spec: Action) -> _CompiledAction:
    templates = {
        name: parse_template(value) for name, value in spec.params.items() if isinstance(value, str)
    }
    return _CompiledAction(spec, templates)


class RulesEngine:
    """Evaluates `rules` on each publish and calls `handlers[action.type]` for each action.

    All SQL and templates are parsed up front: a bad rule fails at construction with
    SqlSyntaxError, as CreateTopicRule would refuse it.
    """

    def __init__(
        self,
        rules: Sequence[TopicRule],
        handlers: Mapping[str, ActionHandler],
        *,
        accountid: str = "000000000000",
        newuuid: Callable[[], str] | None = None,
    ) -> None:
        self.handlers = dict(handlers)
        self.accountid = accountid
        self.newuuid = newuuid
        self.stats: Counter[str] = Counter()
        compiled = []
        for definition in rules:
            for spec in (*definition.actions, definition.error_action):
                if spec.type not in self.handlers:
                    raise UnknownActionType(
                        f"rule {definition.name}: no handler for action type {spec.type!r}"
                    )
            compiled.append(
                _CompiledRule(
                    definition,
                    parse(definition.sql),
                    tuple(_compile_action(spec) for spec in definition.actions),
                    _compile_action(definition.error_action),
                )
            )
        self._rules = tuple(compiled)

    def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        clientid: str = "n/a",
        principal: str | None = None,
        timestamp_ms: int,
        traceid: str | None = None,
    ) -> list[RuleRun]:
        extra: dict[str, Any] = {} if self.newuuid is None else {"newuuid": self.newuuid}
        message = Message(
            topic=topic,
            payload=payload,
            timestamp_ms=timestamp_ms,
            clientid=clientid,
            principal=principal,
            accountid=self.accountid,
            traceid=traceid,
            **extra,
        )
        self.stats["messages"] += 1
        runs = [self._run(rule, message) for rule in self._selected(topic)]
        if not runs:
            self.stats["messages_unmatched"] += 1
        return runs

    def _selected(self, topic: str) -> list[_CompiledRule]:
        if topic.startswith(BASIC_INGEST_PREFIX):
            parts = topic.split("/", 3)
            name = parts[2] if len(parts) > 2 else ""
            return [rule for rule in self._rules if rule.definition.name == name]
        return [rule for rule in self._rules if rule.query.matches(topic)]

    def _run(self, rule: _CompiledRule, message: Message) -> RuleRun:
        name = rule.definition.name
        run = RuleRun(name)
        self.stats[f"{name}.matched"] += 1
        try:
            if not rule.query.where(message):
                self.stats[f"{name}.where_not_true"] += 1
                return run
            output = rule.query.project(message)
        except (BinaryPayloadError, EvaluationError) as exc:
            run.evaluation_error = f"{type(exc).__name__}: {exc}"
            self.stats[f"{name}.evaluation_errors"] += 1
            log.warning(
                "event=rule_evaluation_error rule=%s topic=%s error=%r",
                name, message.topic, run.evaluation_error[:200],
            )  # fmt: skip
            return run
        run.fired = True
        run.payload = output.payload_bytes()
        failures = []
        for action in rule.actions:
            result = self._call(name, action, run.payload, output.value, message)
            run.actions.append(result)
            self.stats[f"{name}.actions_{'ok' if result.ok else 'failed'}"] += 1
            if not result.ok:
                failures.append((action, result))
                log.warning(
                    "event=rule_action_failed rule=%s action=%s topic=%s error=%r",
                    name, result.type, message.topic, result.error[:200],
                )  # fmt: skip
        if failures:
            run.error_action = self._error_action(rule, message, failures)
        return run

    def _call(
        self, rule_name: str, action: _CompiledAction, payload: bytes, value: Any, msg: Message
    ) -> ActionResult:
        params: dict[str, Any] = dict(action.spec.params)
        params.update({key: template.render(msg) for key, template in action.templates.items()})
        call = ActionCall(rule_name, action.spec, params, payload, value, msg)
        try:
            self.handlers[action.spec.type](call)
        except ActionFailed as exc:
            return ActionResult(action.spec.type, False, f"{exc} (resource {exc.resource})")
        except Exception as exc:  # noqa: BLE001 - any handler failure goes to the error action
            return ActionResult(action.spec.type, False, f"{type(exc).__name__}: {exc}")
        return ActionResult(action.spec.type, True)

    def _error_action(
        self,
        rule: _CompiledRule,
        message: Message,
        failures: list[tuple[_CompiledAction, ActionResult]],
    ) -> ActionResult:
        """One error message per rule and message, in the guide's error-action format."""
        body = {
            "ruleName": rule.definition.name,
            "topic": message.topic,
            "cloudwatchTraceId": message.traceid or "",
            "clientId": message.clientid,
            "base64OriginalPayload": base64.b64encode(message.payload).decode("ascii"),
            "failures": [
                {
                    "failedAction": f"{action.spec.type[:1].upper()}{action.spec.type[1:]}Action",
                    "failedResource": action.spec.target or "",
                    "errorMessage": result.error,
                }
                for action, result in failures
            ],
        }
        payload = json.dumps(body, separators=(",", ":")).encode()
        result = self._call(rule.definition.name, rule.error_action, payload, body, message)
        name = rule.definition.name
        self.stats[f"{name}.error_action_{'ok' if result.ok else 'failed'}"] += 1
        if not result.ok:
            log.error("event=rule_error_action_failed rule=%s error=%r", name, result.error[:200])
        return result
