"""The case workflow as a pure state machine: (state, action, incident active) -> next state.

::

    open ──acknowledge──► acknowledged
    open | acknowledged | assigned | escalated ──assign(owner, deadline)──► assigned
    assigned ──deadline passed (system)──► escalated
    assigned | escalated ──rectify(note, photos)──► rectified
    rectified ──close (verify; the incident must have ended)──► closed
    rectified | closed | false_positive ──reopen(reason)──► open
    open | acknowledged | assigned | escalated ──false_positive(reason)──► false_positive
    any state ──comment──► same state;   any state but closed/false_positive ──attach_photo──► same
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from core.errors import SitewatchError
from core.vocabulary import CaseState


class Action(StrEnum):
    """What an operator (or the escalation check) does to a case."""

    ACKNOWLEDGE = "acknowledge"
    ASSIGN = "assign"
    COMMENT = "comment"
    ATTACH_PHOTO = "attach_photo"
    RECTIFY = "rectify"
    CLOSE = "close"
    REOPEN = "reopen"
    FALSE_POSITIVE = "false_positive"
    ESCALATE = "escalate"


S = CaseState
ALL_STATES = frozenset(CaseState)
TERMINAL = frozenset({S.CLOSED, S.FALSE_POSITIVE})
WORKABLE = frozenset({S.OPEN, S.ACKNOWLEDGED, S.ASSIGNED, S.ESCALATED})


@dataclass(frozen=True, slots=True)
class Rule:
    """From which states an action is allowed, where it leads (None: stays) and why it may not."""

    allowed_from: frozenset[CaseState]
    to: CaseState | None
    hint: str
    verb: str = ""


RULES: dict[Action, Rule] = {
    Action.ACKNOWLEDGE: Rule(frozenset({S.OPEN}), S.ACKNOWLEDGED, "only an open case"),
    Action.ASSIGN: Rule(WORKABLE, S.ASSIGNED, "a closed or rectified case must be reopened first"),
    Action.COMMENT: Rule(ALL_STATES, None, ""),
    Action.ATTACH_PHOTO: Rule(ALL_STATES - TERMINAL, None, "reopen it first", "attach a photo to"),
    Action.RECTIFY: Rule(
        frozenset({S.ASSIGNED, S.ESCALATED}),
        S.RECTIFIED,
        "assign it to a responsible person first",
        "mark rectified",
    ),
    Action.CLOSE: Rule(
        frozenset({S.RECTIFIED}), S.CLOSED, "it must be marked rectified first", "verify and close"
    ),
    Action.REOPEN: Rule(
        frozenset({S.RECTIFIED, S.CLOSED, S.FALSE_POSITIVE}), S.OPEN, "it is not closed"
    ),
    Action.FALSE_POSITIVE: Rule(
        WORKABLE,
        S.FALSE_POSITIVE,
        "it was already rectified or closed",
        "mark as false positive",
    ),
    Action.ESCALATE: Rule(frozenset({S.ASSIGNED}), S.ESCALATED, "only an assigned case"),
}


class TransitionError(SitewatchError, ValueError):
    """An action that the case's state does not allow; the message says why, ``code`` and
    ``params`` name it for machines (``transition_not_allowed`` with the state and action,
    ``still_detected``)."""

    def __init__(self, message: str, code: str = "conflict", **params: str) -> None:
        super().__init__(message)
        self.code = code
        self.params = params


def next_state(state: CaseState, action: Action, incident_active: bool) -> CaseState:
    """The state after ``action``, or TransitionError with the reason."""
    rule = RULES[action]
    if state not in rule.allowed_from:
        raise TransitionError(
            f"cannot {rule.verb or action.value} a case that is {state.value.replace('_', ' ')}:"
            f" {rule.hint}",
            "transition_not_allowed",
            state=state.value,
            action=action.value,
        )
    if action is Action.CLOSE and incident_active:
        raise TransitionError(
            "cannot close: the hazard is still detected on camera (the incident has not ended)",
            "still_detected",
        )
    return state if rule.to is None else rule.to
