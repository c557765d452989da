"""Every limit on a command, tested at its edge: the limit passes, one more is refused.

Through the public functions (`screen_payload`, `build_set`, `encode_value`,
`Command.received`), with the limits spelled out here as numbers: a limit
that moves, in either direction, fails a test. One case goes end to end
through a real broker and the bridge to a simulated appliance.
"""

from __future__ import annotations

import json

import pytest
from support import COFFEE, DISHWASHER, bridged, posts, profile_files, simulated

from hcpy.appliance.commands import CommandError, build_set, encode_value
from hcpy.appliance.model import Access, Limits
from hcpy.appliance.profile_xml import parse_profile
from hcpy.appliance.state import ApplianceState
from hcpy.mqtt.command import ACCEPTED, Command, refused, response
from hcpy.mqtt.screening import screen_payload
from hcpy.mqtt.topics import CommandTopic
from hcpy.protocol.resources import RO_VALUES

MAX_BYTES = 4096  # a payload, in bytes of UTF-8
MAX_DEPTH = 6  # brackets, [ and { alike
MAX_ITEMS = 64  # entries of one list or object
MAX_DIGITS = 20  # characters of one integer literal, its sign included
MAX_STRING = 1024  # characters of a string value
ECHO_REQUEST = 1024  # bytes of a payload the answer echoes as read
ECHO_LIMIT = 200  # characters of a refused payload the answer quotes
P = "homeconnect/"
ANY_TYPE = "BSH.Common.Setting.ApplianceTime"  # a setting the profile gives no type


def refused_with(payload, words: str) -> None:
    with pytest.raises(CommandError) as caught:
        screen_payload(payload)
    assert caught.value.code == 400 and words in str(caught.value), caught.value


def string_payload(size: int, char: str = "x") -> bytes:
    """A JSON string of exactly `size` bytes."""
    width = len(char.encode())
    assert (size - 2) % width == 0
    return json.dumps(char * ((size - 2) // width), ensure_ascii=False).encode()


# -- size ------------------------------------------------------------------------------


@pytest.mark.parametrize("char", ["x", "é", "€"])
def test_the_size_limit_is_4096_bytes(char):
    # The multi-byte characters fit fewer in the same bytes: the unit is the byte.
    width = len(char.encode())
    size = MAX_BYTES - (MAX_BYTES - 2) % width  # as many bytes of `char` as fit
    at = string_payload(size, char)
    assert len(at) == size and screen_payload(at) == at.decode()[1:-1]
    assert screen_payload(at.decode()) == at.decode()[1:-1]  # a str is measured in UTF-8 as well
    over = string_payload(size + width, char)  # one character more
    assert MAX_BYTES < len(over) <= MAX_BYTES + width
    refused_with(over, "at most 4,096")
    refused_with(over.decode(), "at most 4,096")
    refused_with(b" " * (MAX_BYTES - 1) + b"11", "at most 4,096")  # 4,097 bytes of white space and a number
    assert screen_payload(b" " * (MAX_BYTES - 1) + b"1") == 1


# -- depth -----------------------------------------------------------------------------


def nested(depth: int, opening: str) -> str:
    """`depth` brackets around 1, cycling through `opening` ("[" or "{" or both)."""
    text = "1"
    for level in reversed(range(depth)):
        bracket = opening[level % len(opening)]
        text = f"[{text}]" if bracket == "[" else f'{{"k": {text}}}'
    return text


@pytest.mark.parametrize("opening", ["[", "{", "[{", "{["])
def test_the_depth_limit_is_6(opening):
    assert screen_payload(nested(MAX_DEPTH, opening)) is not None
    refused_with(nested(MAX_DEPTH + 1, opening), "nests deeper than 6 levels")


def test_depth_counts_brackets_outside_strings_only_and_every_branch():
    # Brackets in strings, escaped quotes included, are text.
    assert screen_payload(json.dumps([["[[[[[[[[", '"]]]]{{{{"'] * 2])) is not None
    # Six deep after a closed branch is still six deep; seven anywhere is refused.
    assert screen_payload("[" + nested(5, "[") + ", " + nested(5, "{") + "]") is not None
    refused_with("[" + nested(5, "[") + ", " + nested(6, "{") + "]", "nests deeper than 6")


# -- entries ---------------------------------------------------------------------------


def test_the_entry_limit_is_64_for_lists_and_objects_at_any_depth():
    assert len(screen_payload(json.dumps(list(range(MAX_ITEMS))))) == MAX_ITEMS
    refused_with(json.dumps(list(range(MAX_ITEMS + 1))), "a list in the payload has 65 entries; at most 64")
    keys = {f"k{n}": n for n in range(MAX_ITEMS)}
    assert len(screen_payload(json.dumps(keys))) == MAX_ITEMS
    refused_with(json.dumps({**keys, "one more": 0}), "an object in the payload has 65 entries; at most 64")
    inner = {"options": [{"uid": 1, "value": n} for n in range(MAX_ITEMS)]}
    assert len(screen_payload(json.dumps(inner))["options"]) == MAX_ITEMS
    inner["options"].append({"uid": 1, "value": 0})
    refused_with(json.dumps(inner), "65 entries")


# -- numbers ---------------------------------------------------------------------------


@pytest.mark.parametrize("sign", ["", "-"])
def test_an_integer_may_have_20_characters(sign):
    at = sign + "9" * (MAX_DIGITS - len(sign))
    assert screen_payload(f'{{"value": {at}}}') == {"value": int(at)}
    over = sign + "9" * (MAX_DIGITS + 1 - len(sign))
    refused_with(f'{{"value": {over}}}', "out of range")


def test_an_open_type_takes_the_integers_the_wire_holds(dishwasher):
    for value in (2**64 - 1, -(2**63)):
        assert build_set(dishwasher, {"name": ANY_TYPE, "value": value}).data[0]["value"] == value
    for value in (2**64, -(2**63) - 1):
        with pytest.raises(CommandError, match="out of range"):
            build_set(dishwasher, {"name": ANY_TYPE, "value": value})


# -- strings ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dishwasher():
    return ApplianceState(parse_profile(*profile_files(DISHWASHER)), "dishwasher")


@pytest.fixture(scope="module")
def coffee():
    return ApplianceState(parse_profile(*profile_files(COFFEE)), "coffee")


def test_a_string_value_may_have_1024_characters(dishwasher, coffee):
    # Characters, not bytes: "é" is two bytes and still one of the 1,024.
    for char in ("x", "é"):
        at, over = char * MAX_STRING, char * (MAX_STRING + 1)
        assert build_set(dishwasher, {"name": ANY_TYPE, "value": at}).data[0]["value"] == at
        with pytest.raises(CommandError, match="at most 1024 characters"):
            build_set(dishwasher, {"name": ANY_TYPE, "value": over})
        # A string type whose profile sets no maximum has the same limit.
        name = coffee.profile.by_name("ConsumerProducts.CoffeeMaker.Option.DisplayName")
        open_ended = Limits(Access.READ_WRITE)
        assert encode_value(name, open_ended, at) == at
        with pytest.raises(CommandError, match="at most 1024 characters"):
            encode_value(name, open_ended, over)


def test_a_profiles_own_maximum_length_counts_at_its_edge(coffee):
    name = coffee.profile.by_name("ConsumerProducts.CoffeeMaker.Option.DisplayName")
    assert name.limits.max == 30
    assert encode_value(name, name.limits, "é" * 30) == "é" * 30
    with pytest.raises(CommandError, match="at most 30 characters"):
        encode_value(name, name.limits, "é" * 31)


# -- what the answer echoes ----------------------------------------------------------------


def padded(size: int) -> bytes:
    """A valid command of exactly `size` bytes."""
    head = json.dumps({"name": ANY_TYPE, "value": "", "note": ""}).encode()
    payload = json.dumps({"name": ANY_TYPE, "value": "", "note": "n" * (size - len(head))}).encode()
    assert len(payload) == size
    return payload


def test_a_request_of_1024_bytes_is_echoed_as_read_and_a_longer_one_in_part():
    at = Command.received(CommandTopic.SET, padded(ECHO_REQUEST))
    assert at.echo is None and json.loads(response(at, ACCEPTED))["request"]["note"].startswith("n")
    over = Command.received(CommandTopic.SET, padded(ECHO_REQUEST + 1))
    assert over.problem is None and over.request["name"] == ANY_TYPE  # read in full
    echoed = json.loads(response(over, ACCEPTED))["request"]
    assert isinstance(echoed, str) and len(echoed) == ECHO_LIMIT + 1 and echoed.endswith("…")


def test_a_refused_payload_is_quoted_up_to_200_characters():
    for char in ("x", "é"):
        at = Command.received(CommandTopic.SET, (char * ECHO_LIMIT).encode())
        assert at.problem is not None and at.request == char * ECHO_LIMIT
        over = Command.received(CommandTopic.SET, (char * (ECHO_LIMIT + 1)).encode())
        assert over.request == char * ECHO_LIMIT + "…"
    assert "x" * (ECHO_LIMIT + 1) not in response(over, refused("no", 400))


# -- end to end -------------------------------------------------------------------------


def test_through_the_broker_6_levels_reach_the_appliances_rules_and_7_are_refused(broker, subscriber):
    sim, entry = simulated(parse_profile(*profile_files(DISHWASHER)), "dishwasher")
    try:
        with bridged(broker.port, [(sim, entry)]):
            subscriber.wait(f"{P}dishwasher/LWT", "online")
            topic = f"{P}dishwasher/set"
            deep = '{"name": "BSH.Common.Setting.PowerState", "value": %s}'
            six = subscriber.response(topic, deep % nested(MAX_DEPTH - 1, "["))
            assert six["code"] == 400 and "nests" not in six["error"], six  # screened through; the value is wrong
            seven = subscriber.response(topic, deep % nested(MAX_DEPTH, "["))
            assert seven["code"] == 400 and "nests deeper than 6 levels" in seven["error"], seven
            ok = subscriber.response(topic, {"name": "BSH.Common.Setting.PowerState", "value": "On"})
            assert ok["status"] == "ok", ok
        assert [m.data for m in posts(sim) if m.resource == RO_VALUES] == [[{"uid": 539, "value": 2}]]
    finally:
        sim.stop()
