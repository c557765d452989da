import json

import pytest

from hcpy.errors import ProtocolError
from hcpy.protocol.message import Action, Message


def test_compact_json_in_appliance_key_order():
    m = Message(123, 456, "/ro/values", 1, Action.POST, [{"uid": 539, "value": 2}])
    assert m.to_json() == (
        '{"sID":123,"msgID":456,"resource":"/ro/values","version":1,"action":"POST",'
        '"data":[{"uid":539,"value":2}]}'
    )


@pytest.mark.parametrize(
    "value",
    ["it's", 'say "hi"', "l'été ✓", "back\\slash", "'", "\u0000\u001f", "日本語"],
)
def test_awkward_strings_survive_a_round_trip(value):
    m = Message(1, 2, "/ro/values", 2, Action.NOTIFY, [{"uid": 1, "value": value}])
    text = m.to_json()
    assert json.loads(text)["data"][0]["value"] == value
    assert Message.from_json(text) == m
    assert Message.from_json(text.encode()) == m


def test_error_reply_echoes_the_request():
    request = Message(9, 77, "/ro/activeProgram", 1, Action.POST, [{"program": 8192}])
    reply = request.reply(code=403)
    assert (reply.sID, reply.msgID, reply.resource, reply.version) == (9, 77, "/ro/activeProgram", 1)
    assert reply.action == Action.RESPONSE
    assert json.loads(reply.to_json()) == {
        "sID": 9, "msgID": 77, "resource": "/ro/activeProgram", "version": 1, "action": "RESPONSE", "code": 403,
    }


def test_service_is_the_first_path_segment():
    assert Message(1, 1, "/ni/info").service == "ni"
    assert Message(1, 1, "/ro/allMandatoryValues").service == "ro"


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[1,2]",
        '{"sID":1,"msgID":2,"resource":"/x","version":1}',
        '{"sID":1,"msgID":2,"resource":"/x","version":1,"action":"DANCE"}',
        '{"sID":"1","msgID":2,"resource":"/x","version":1,"action":"GET"}',
        '{"sID":1,"msgID":2,"resource":"/x","version":1,"action":"GET","data":{"uid":1}}',
        '{"sID":1,"msgID":2,"resource":"/x","version":1,"action":"GET","data":[1]}',
        b"\xff\xfe",
    ],
)
def test_invalid_messages_raise_protocol_error(text):
    with pytest.raises(ProtocolError):
        Message.from_json(text)


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_numbers_json_cannot_hold_are_refused(number):
    text = '{"sID":1,"msgID":2,"resource":"/ro/values","version":1,"action":"NOTIFY","data":[{"uid":544,"value":%s}]}'
    with pytest.raises(ProtocolError):
        Message.from_json(text % number)


def test_whitespace_around_the_json_is_allowed_and_extra_data_is_not():
    text = '{"sID":1,"msgID":2,"resource":"/ro/values","version":1,"action":"NOTIFY","data":[{"uid":1,"value":true}]}'
    assert Message.from_json(f" \n{text}\r\n ") == Message.from_json(text)
    with pytest.raises(ProtocolError, match="extra data"):
        Message.from_json(text + text)
    with pytest.raises(ProtocolError, match="not an integer"):
        Message.from_json(text.replace('"sID":1', '"sID":true'))
    with pytest.raises(ProtocolError, match="not JSON"):
        Message.from_json("")
