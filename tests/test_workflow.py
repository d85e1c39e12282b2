"""Case workflow: the state machine table, and actions stored with their event and audit entry."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import jsonschema
import numpy as np
import pytest

from alerts.cases import CaseInputError, CaseNotFoundError, CaseRequest
from alerts.contract import load_schema
from alerts.integrity import verify_ledger
from alerts.workflow import RULES, Action, TransitionError, next_state
from core.vocabulary import CaseState, Hazard
from detect.observations import Observation, Phase
from tests.api_site import T0, Site, make_site

JPEG = cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))[1].tobytes()

S, A = CaseState, Action


@pytest.mark.parametrize(
    ("state", "action", "active", "expected", "error"),
    [
        (S.OPEN, A.ACKNOWLEDGE, True, S.ACKNOWLEDGED, None),
        (S.OPEN, A.ASSIGN, True, S.ASSIGNED, None),
        (S.ACKNOWLEDGED, A.ASSIGN, True, S.ASSIGNED, None),
        (S.ASSIGNED, A.ASSIGN, True, S.ASSIGNED, None),  # reassign / new deadline
        (S.ESCALATED, A.ASSIGN, True, S.ASSIGNED, None),
        (S.ASSIGNED, A.ESCALATE, True, S.ESCALATED, None),
        (S.ASSIGNED, A.RECTIFY, True, S.RECTIFIED, None),
        (S.ESCALATED, A.RECTIFY, False, S.RECTIFIED, None),
        (S.RECTIFIED, A.CLOSE, False, S.CLOSED, None),
        (S.RECTIFIED, A.REOPEN, False, S.OPEN, None),  # verification failed
        (S.CLOSED, A.REOPEN, False, S.OPEN, None),
        (S.FALSE_POSITIVE, A.REOPEN, False, S.OPEN, None),
        (S.OPEN, A.FALSE_POSITIVE, True, S.FALSE_POSITIVE, None),
        (S.ESCALATED, A.FALSE_POSITIVE, True, S.FALSE_POSITIVE, None),
        (S.CLOSED, A.COMMENT, False, S.CLOSED, None),
        (S.RECTIFIED, A.ATTACH_PHOTO, False, S.RECTIFIED, None),
        (S.ACKNOWLEDGED, A.ACKNOWLEDGE, True, None, "only an open case"),
        (S.OPEN, A.RECTIFY, True, None, "assign it to a responsible person first"),
        (S.ACKNOWLEDGED, A.CLOSE, False, None, "it must be marked rectified first"),
        (S.RECTIFIED, A.CLOSE, True, None, "the hazard is still detected on camera"),
        (S.CLOSED, A.ASSIGN, False, None, "must be reopened first"),
        (S.RECTIFIED, A.ASSIGN, False, None, "must be reopened first"),
        (S.OPEN, A.REOPEN, True, None, "it is not closed"),
        (S.CLOSED, A.FALSE_POSITIVE, False, None, "already rectified or closed"),
        (S.FALSE_POSITIVE, A.ATTACH_PHOTO, False, None, "reopen it first"),
        (S.OPEN, A.ESCALATE, True, None, "only an assigned case"),
        (S.ESCALATED, A.ESCALATE, True, None, "only an assigned case"),
    ],
)
def test_transition_table(
    state: CaseState,
    action: Action,
    active: bool,
    expected: CaseState | None,
    error: str | None,
) -> None:
    if error is None:
        assert next_state(state, action, active) is expected
    else:
        with pytest.raises(TransitionError, match=error) as raised:
            next_state(state, action, active)
        if "still detected" not in error:  # the message names the state it was in
            assert f"is {state.value.replace('_', ' ')}:" in str(raised.value)


def test_every_state_has_a_way_forward_and_terminal_states_only_reopen() -> None:
    for state in CaseState:
        moves = {a for a, rule in RULES.items() if state in rule.allowed_from and rule.to}
        assert moves, state
    for state in (S.CLOSED, S.FALSE_POSITIVE):
        moves = {a for a, rule in RULES.items() if state in rule.allowed_from and rule.to}
        assert moves == {A.REOPEN}


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return make_site(tmp_path)


def request(action: Action, **fields: object) -> CaseRequest:
    return CaseRequest(action, "night-shift", "operator", **fields)  # type: ignore[arg-type]


def state_events(site: Site, alert_id: str) -> list[dict[str, object]]:
    return [e for e in site.ledger.events(alert_id) if e["type"] == "state"]


def test_full_case_to_closure_publishes_and_audits_each_step(site: Site) -> None:
    alert_id = site.ended_id
    cases = site.cases
    cases.apply(alert_id, request(A.ACKNOWLEDGE))
    cases.apply(alert_id, request(A.ASSIGN, owner="J. Ruiz", deadline=T0 + 3600))
    photo = np.zeros((8, 8, 3), np.uint8)
    ok, jpeg = cv2.imencode(".jpg", photo)
    assert ok
    attached = cases.attach_photo(alert_id, "J. Ruiz", "operator", jpeg.tobytes(), "image/jpeg")
    cases.apply(alert_id, request(A.RECTIFY, note="pallet moved", photos=("rectification-1.jpg",)))
    closed = cases.apply(alert_id, request(A.CLOSE, note="checked on camera"))

    assert closed.case.state is S.CLOSED and closed.case.owner == "J. Ruiz"
    events = state_events(site, alert_id)
    actions = [e["case"]["action"] for e in events]  # type: ignore[index]
    assert actions == ["acknowledge", "assign", "attach_photo", "rectify", "close"]
    schema = load_schema()
    for item in site.ledger.pending(1000):  # every MQTT payload, state events included
        jsonschema.validate(json.loads(item.payload), schema)
    with site.ledger.reading() as db:
        trail = [
            row[0]
            for row in db.execute(
                "SELECT action FROM audit WHERE alert_id = ? ORDER BY seq", (alert_id,)
            )
        ]
    assert trail[-5:] == [
        "case.acknowledge",
        "case.assign",
        "case.attach_photo",
        "case.rectify",
        "case.close",
    ]
    assert trail[0] == "alert.created" and "evidence.added" in trail and "alert.ended" in trail
    stored = site.ledger.alert(alert_id)
    assert stored is not None and stored.workflow_state == "closed"
    assert attached.audit.details["photo_sha256"] in {e.sha256 for e in stored.evidence}
    assert verify_ledger(site.ledger, site.tmp, evidence=True).ok


@pytest.mark.parametrize(
    ("action", "fields", "error"),
    [
        (A.ASSIGN, {"deadline": T0 + 3600}, "responsible person"),
        (A.ASSIGN, {"owner": "J. Ruiz", "deadline": T0}, "deadline in the future"),
        (A.COMMENT, {"note": "  "}, "a comment needs text"),
        (A.FALSE_POSITIVE, {}, "needs a reason"),
    ],
)
def test_bad_input_changes_nothing(
    site: Site, action: Action, fields: dict[str, object], error: str
) -> None:
    before = site.ledger.pending_count()
    with pytest.raises(CaseInputError, match=error):
        site.cases.apply(site.ended_id, request(action, **fields))
    assert site.ledger.pending_count() == before
    case = site.cases.case(site.ended_id)
    assert case is not None and case.state is S.OPEN and case.updated_by is None


def test_unknown_alert_and_unknown_photo(site: Site) -> None:
    with pytest.raises(CaseNotFoundError):
        site.cases.apply("01J0000000000000000000000X", request(A.ACKNOWLEDGE))
    site.cases.apply(site.ended_id, request(A.ASSIGN, owner="x", deadline=T0 + 600))
    with pytest.raises(CaseInputError, match=r"no attached photo named nope\.jpg"):
        site.cases.apply(site.ended_id, request(A.RECTIFY, note="done", photos=("nope.jpg",)))


def test_photo_types_are_checked(site: Site) -> None:
    with pytest.raises(CaseInputError, match="image/jpeg or image/png"):
        site.cases.attach_photo(site.ended_id, "x", "operator", b"GIF89a...", "image/gif")
    with pytest.raises(CaseInputError, match="not a PNG image"):
        site.cases.attach_photo(site.ended_id, "x", "operator", b"\xff\xd8\xff...", "image/png")
    assert not list((site.tmp / "evidence" / site.ended_id).glob("rectification*"))


def test_photo_refused_by_the_state_leaves_no_file(site: Site) -> None:
    site.cases.apply(site.ended_id, request(A.FALSE_POSITIVE, note="a poster of a fire"))
    with pytest.raises(TransitionError, match="reopen it first"):
        site.cases.attach_photo(site.ended_id, "x", "operator", JPEG, "image/jpeg")
    assert not list((site.tmp / "evidence" / site.ended_id).glob("rectification*"))


def test_overdue_cases_escalate_once(site: Site) -> None:
    cases = site.cases
    cases.apply(site.ended_id, request(A.ASSIGN, owner="J. Ruiz", deadline=T0 + 200))
    cases.apply(site.active_id, request(A.ASSIGN, owner="K. Obi", deadline=T0 + 5000))
    site.clock.now = T0 + 199
    assert cases.escalate_overdue() == []
    site.clock.now = T0 + 201
    escalated = cases.escalate_overdue()
    assert [o.alert.alert_id for o in escalated] == [site.ended_id]
    assert escalated[0].audit.actor == "sitewatch" and escalated[0].audit.action == "case.escalate"
    assert cases.escalate_overdue() == []  # once
    last = state_events(site, site.ended_id)[-1]
    assert last["case"]["to"] == "escalated"  # type: ignore[index]
    assert "passed" in last["case"]["note"]  # type: ignore[index]
    # a new deadline puts the case back to assigned
    cases.apply(site.ended_id, request(A.ASSIGN, owner="J. Ruiz", deadline=T0 + 9000))
    case = cases.case(site.ended_id)
    assert case is not None and case.state is S.ASSIGNED and case.escalated_at is None


def test_detection_updates_keep_the_workflow_state(site: Site) -> None:
    site.cases.apply(site.active_id, request(A.ACKNOWLEDGE))
    change = site.alerts.handle(
        Observation("dock", "bay-2", Hazard.FLAME, Phase.UPDATE, T0 + 50, 0.95), None
    )
    assert change is not None and change.after.workflow_state == "acknowledged"
    stored = site.ledger.alert(site.active_id)
    assert stored is not None and stored.workflow_state == "acknowledged"
    last = site.ledger.events(site.active_id)[-1]
    assert last["type"] == "update" and last["after"]["workflow_state"] == "acknowledged"
