"""Which Home Assistant component a feature becomes, as tables. Pure.

As Zigbee2MQTT maps what a device exposes to components, hcpy maps what a
profile says of a feature: its role (read, written, or a command pressed),
the shape of its value (`Shape`) and, for sensors, its unit (`UNITS`, by
content type). `DEFAULTS` is hcpy's choice; `RECIPES` is every component
hcpy can build for a shape, with its own fields and what it needs of the
feature: a discovery.yaml may ask for any of them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from ..appliance.model import CID_TIME_SPAN, NUMERIC_CONTENT, Feature, Limits
from ..appliance.state import ApplianceState


class Shape(Enum):
    """What a feature's value looks like to Home Assistant."""

    BOOLEAN = "boolean"
    ON_OFF = "on_off"  # an enum of exactly On and Off
    OPEN_CLOSED = "open_closed"  # exactly Open and Closed: Home Assistant's door and window
    ENUM = "enum"
    NUMBER = "number"  # a numeric content type
    OTHER = "other"


class Role(Enum):
    READ = "read"  # a sensor
    WRITE = "write"  # a control that sets a value
    COMMAND = "command"  # a control that is pressed


@dataclass(frozen=True)
class Unit:
    unit: str
    device_class: str | None = None
    state_class: str | None = None  # sensors only; numbers have none


# By content type (refCID). Only types whose unit the protocol fixes; weight,
# volume, rpm, flow rate and water hardness are left unitless rather than guessed.
UNITS: dict[int, Unit] = {
    0x07: Unit("°C", "temperature", "measurement"),
    0x08: Unit("°F", "temperature", "measurement"),
    0x10: Unit("s", "duration"),
    0x11: Unit("%", None, "measurement"),
    0x12: Unit("dBm", "signal_strength", "measurement"),
    0x23: Unit("W", "power", "measurement"),
    # No state class: whether an appliance's energy value is a meter, a per-run
    # counter or a forecast is not in the profile, and each needs another one.
    0x24: Unit("kWh", "energy"),
}

# Structured values (a timezone {"tz", "tzName"}, a list {"length", "list"})
# are published as JSON. Their sensor shows one short word of them (a state
# is at most 255 characters): a list's length, a timezone's name, otherwise
# how many entries it has; the whole value is the sensor's attributes. A
# payload that is no JSON object (an appliance that sends a plain value
# after all) shows as it is, and leaves the attributes empty rather than
# making Home Assistant warn.
STRUCTURE_TEMPLATE = (
    "{% set v = value_json if value_json is defined else value %}"
    "{% if v is mapping %}"
    '{{ v["length"] if "length" in v else v["tzName"] if "tzName" in v else v["tz"] if "tz" in v else v | count }}'
    "{% elif v is string %}{{ v[:255] }}"
    "{% elif v is iterable %}{{ v | count }}"
    "{% else %}{{ v }}{% endif %}"
)
ATTRIBUTES_TEMPLATE = (
    "{% if value_json is defined and value_json is mapping %}{{ value_json | tojson }}"
    '{% elif value_json is defined and value_json is iterable and value_json is not string %}'
    '{{ {"list": value_json} | tojson }}'
    "{% else %}{}{% endif %}"
)
# Date-times come as ISO 8601 strings, from real appliances without a zone
# (their local time, which Home Assistant's is too); a timestamp sensor
# needs one. Anything unreadable clears the value instead of a warning.
TIMESTAMP_TEMPLATE = '{% set t = as_datetime(value) %}{{ (t | as_local).isoformat() if t is not none else "None" }}'
DATE_TEMPLATE = '{% set t = as_datetime(value) %}{{ t.date().isoformat() if t is not none else "None" }}'

# A binary sensor's (payload_on, payload_off), as the bridge publishes the values.
TWO_STATES: dict[Shape, tuple[str, str]] = {
    Shape.BOOLEAN: ("True", "False"),
    Shape.ON_OFF: ("On", "Off"),
    Shape.OPEN_CLOSED: ("Open", "Closed"),  # on means open
}
_ENUM_SHAPES = {("Off", "On"): Shape.ON_OFF, ("Closed", "Open"): Shape.OPEN_CLOSED}

# Time spans (a delayed start, a duration) are set in minutes: a slider of
# 86400 seconds is no way to pick "in 2 hours".
MINUTE = 60


def members(feature: Feature) -> list[str]:
    return list(dict.fromkeys(feature.enum.members.values())) if feature.enum else []


# Home Assistant reads some payloads as "no value" instead of as a state. Facts
# from Home Assistant 2025.4.4 (the version .ci/home_assistant runs), its
# homeassistant/components/mqtt/ package:
# - sensor.py (MqttSensor._update_state): a payload that is, after the
#   value_template, exactly "None" (const.py PAYLOAD_NONE) clears the value: the
#   state becomes unknown (reported as home-assistant/core#142662, kept as is);
#   an enum sensor ignores, with a warning, a payload not among its options.
# - select.py (MqttSelect._message_received): a rendered payload that is blank
#   is ignored, one that is "none" in any case clears the option (added by
#   home-assistant/core#53227 so that Zigbee2MQTT could say "unknown").
# - binary_sensor.py compares payload_on and payload_off before "None", so
#   hcpy's binary sensors (True/False, On/Off, Open/Closed) are not affected.
# - helpers/template.py strips what a value_template renders, so padding a
#   word with white space cannot keep it apart.
# - "unknown" and "unavailable" are Home Assistant's own states for no value
#   (homeassistant/const.py STATE_UNKNOWN, STATE_UNAVAILABLE).
# A member with such a name is shown in quotes (“None”): sensors and selects
# get it through value_template and options, a select sends the member itself
# through its command_template; the payload on T/state stays the member name,
# as hcpy2-0 published it.
_NO_VALUE_STATES = frozenset({"unknown", "unavailable"})


def shown(member: str) -> str:
    """How Home Assistant shows an enum member: as itself, unless it would read it as no value."""
    if member.lower() == "none" or member in _NO_VALUE_STATES or member != member.strip() or not member:
        return f"“{member}”"
    return member


def renamed_members(feature: Feature) -> dict[str, str]:
    """The feature's members Home Assistant must be shown otherwise (`shown`), member -> shown."""
    return {member: shown(member) for member in members(feature) if shown(member) != member}


def lookup_template(mapping: dict[str, str], expression: str, around: str = "{}") -> str:
    """A Jinja template rendering `expression` through `mapping` (anything else as it is), placed in `around`."""
    # A Jinja dict literal with JSON-quoted strings is valid Jinja.
    table = json.dumps(mapping, ensure_ascii=False)
    return f"{{% set shown = {table} %}}" + around.format(f"{{{{ shown.get({expression}, {expression}) }}}}")


def enum_fields(feature: Feature, expression: str = "value", template: str | None = None) -> dict[str, Any]:
    """An enum entity's options, and a value_template where some member would read as no value.

    `template` is the entity's own value_template (rendering `expression`), kept where no member is renamed.
    """
    renamed = renamed_members(feature)
    fields: dict[str, Any] = {"options": [shown(member) for member in members(feature)]}
    if renamed:
        fields["value_template"] = lookup_template(renamed, expression)
    elif template is not None:
        fields["value_template"] = template
    return fields


def shape_of(feature: Feature) -> Shape:
    if feature.is_boolean:
        return Shape.BOOLEAN
    if feature.enum is not None:
        return _ENUM_SHAPES.get(tuple(sorted(members(feature))), Shape.ENUM)  # type: ignore[arg-type]
    return Shape.NUMBER if feature.content_type in NUMERIC_CONTENT else Shape.OTHER


@dataclass(frozen=True)
class Wiring:
    """What an entity's own fields refer to."""

    state_topic: str
    set_topic: str  # T/set, where a control's command goes
    usable: dict[str, Any]  # a control's availability: the appliance's and its own "works now"
    state: ApplianceState  # live limits: an option's bounds are those of the program in charge


# A component's own fields for a feature, or None: not for this one (a number without bounds).
Fields = Callable[[Feature, Wiring], "dict[str, Any] | None"]


@dataclass(frozen=True)
class Recipe:
    fields: Fields
    sends: bool = False  # a control: only for a feature users may write
    stateful: bool = False  # shows the state it sets: never for a command
    read_back: bool = False  # shows a value: only where one is ever readable


def _set(uid: int, value: Any) -> str:
    return json.dumps({"uid": uid, "value": value}, separators=(",", ":"))


def _set_template(uid: int, quoted: bool) -> str:
    value = '"{{ value }}"' if quoted else "{{ value }}"
    return f'{{"uid":{uid},"value":{value}}}'


def _button(feature: Feature, wiring: Wiring) -> dict[str, Any]:
    # A setting's button sets it on.
    return {"command_topic": wiring.set_topic, "payload_press": _set(feature.uid, True), **wiring.usable}


def _switch(feature: Feature, wiring: Wiring) -> dict[str, Any]:
    on, off = TWO_STATES[shape_of(feature)]
    # A boolean's payloads carry JSON booleans, an On/Off enum's its member names.
    values = (True, False) if feature.is_boolean else (on, off)
    return {
        "state_topic": wiring.state_topic,
        "command_topic": wiring.set_topic,
        "state_on": on,
        "state_off": off,
        "payload_on": _set(feature.uid, values[0]),
        "payload_off": _set(feature.uid, values[1]),
        **wiring.usable,
    }


def _select(feature: Feature, wiring: Wiring) -> dict[str, Any]:
    config: dict[str, Any] = {
        "state_topic": wiring.state_topic,
        "command_topic": wiring.set_topic,
        "options": members(feature),
        "command_template": _set_template(feature.uid, quoted=True),
        **wiring.usable,
    }
    renamed = renamed_members(feature)
    if renamed:
        # Shown quoted, sent as the member the appliance knows.
        sent = {shown: member for member, shown in renamed.items()}
        config.update(enum_fields(feature))
        config["command_template"] = lookup_template(sent, "value", f'{{{{"uid":{feature.uid},"value":"{{}}"}}}}')
    return config


def _number(feature: Feature, wiring: Wiring) -> dict[str, Any] | None:
    # Live: an option's bounds are those of the program in charge, and
    # change with it (the bridge republishes this config then).
    _, limits = wiring.state.option_limits(feature)
    bounds = _bounds(feature.bounded(limits))
    if bounds is None:
        return None
    low, high = bounds
    step = _step(limits)
    config: dict[str, Any] = {"state_topic": wiring.state_topic, "command_topic": wiring.set_topic}
    unit = UNITS.get(feature.content_type) if feature.content_type is not None else None
    if feature.content_type == CID_TIME_SPAN and (step % MINUTE == 0 or step == 1):
        # Shown and set in whole minutes; the appliance gets seconds.
        step = max(1, step // MINUTE)
        low, high = -(-low // MINUTE), high // MINUTE
        config.update(
            unit_of_measurement="min",
            device_class="duration",
            mode="box",
            value_template="{{ (value | int(0) / 60) | round(0) | int }}",
            command_template=f'{{"uid":{feature.uid},"value":{{{{ (value | int) * 60 }}}}}}',
        )
    else:
        config["command_template"] = _set_template(feature.uid, quoted=False)
        if unit is not None:
            config["unit_of_measurement"] = unit.unit
            if unit.device_class:
                config["device_class"] = unit.device_class
    config.update(min=low, max=high, step=step, **wiring.usable)
    return config


def _sensor(feature: Feature, wiring: Wiring) -> dict[str, Any]:
    config: dict[str, Any] = {"state_topic": wiring.state_topic}
    if feature.enum is not None:
        config.update(device_class="enum", **enum_fields(feature))
    elif feature.holds_structure:
        config.update(
            value_template=STRUCTURE_TEMPLATE,
            json_attributes_topic=wiring.state_topic,
            json_attributes_template=ATTRIBUTES_TEMPLATE,
        )
    elif feature.holds_date_time:
        config.update(device_class="timestamp", value_template=TIMESTAMP_TEMPLATE)
    elif feature.holds_date:
        config.update(device_class="date", value_template=DATE_TEMPLATE)
    elif feature.content_type in UNITS:
        unit = UNITS[feature.content_type]
        config["unit_of_measurement"] = unit.unit
        if unit.device_class:
            config["device_class"] = unit.device_class
        if unit.state_class:
            config["state_class"] = unit.state_class
    return config


def _plain_sensor(feature: Feature, wiring: Wiring) -> dict[str, Any]:
    return {"state_topic": wiring.state_topic}


def _binary_sensor(feature: Feature, wiring: Wiring) -> dict[str, Any]:
    on, off = TWO_STATES[shape_of(feature)]
    return {"state_topic": wiring.state_topic, "payload_on": on, "payload_off": off}


# A light's switch setting and the setting of its brightness, by name (Home
# Connect API key catalogue): one `light` entity stands for both.
LIGHTS: dict[str, str] = {
    "Cooking.Common.Setting.Lighting": "Cooking.Common.Setting.LightingBrightness",
    "BSH.Common.Setting.AmbientLightEnabled": "BSH.Common.Setting.AmbientLightBrightness",
}


def light_fields(
    switch: Feature, brightness: Feature | None, wiring: Wiring, brightness_topic: str | None
) -> dict[str, Any]:
    """A light of Home Assistant's MQTT default schema: on/off through `switch`, dimmed through `brightness`.

    Its payload_on/off are hcpy's set payloads; the state a switch publishes
    (True/False, On/Off) is turned into them by state_value_template, since
    the default schema compares the state with the payloads it sends.
    """
    on, off = TWO_STATES[shape_of(switch)]
    values = (True, False) if switch.is_boolean else (on, off)
    payload_on, payload_off = _set(switch.uid, values[0]), _set(switch.uid, values[1])
    config: dict[str, Any] = {
        "command_topic": wiring.set_topic,
        "state_topic": wiring.state_topic,
        "payload_on": payload_on,
        "payload_off": payload_off,
        "state_value_template": (
            f'{{% if value == "{on}" %}}{payload_on}{{% elif value == "{off}" %}}{payload_off}'
            "{% else %}None{% endif %}"
        ),
    }
    if brightness is not None and brightness_topic is not None:
        _, limits = wiring.state.option_limits(brightness)
        bounds = _bounds(brightness.bounded(limits))
        if bounds is not None and bounds[1] > 0:
            low, high = bounds
            # Home Assistant scales its 0..255 to 0..brightness_scale; the
            # appliance refuses a value under its minimum, so that is raised to it.
            config.update(
                brightness_command_topic=wiring.set_topic,
                brightness_command_template=(
                    f'{{"uid":{brightness.uid},"value":{{{{ [value | int(0), {low}] | max }}}}}}'
                ),
                brightness_state_topic=brightness_topic,
                brightness_scale=high,
            )
    config.update(wiring.usable)
    return config


@dataclass(frozen=True)
class Fan:
    """A program that runs a fan, the option of its speed stages, and the option of its boost stages."""

    program: str
    level: str
    boost: str | None = None


# By the option of its speed stages (Home Connect API key catalogue): a hood
# vents at FanStage01.. and boosts at IntensiveStage1.. on top.
FANS: dict[str, Fan] = {
    "Cooking.Common.Option.Hood.VentingLevel": Fan(
        "Cooking.Common.Program.Hood.Venting",
        "Cooking.Common.Option.Hood.VentingLevel",
        "Cooking.Common.Option.Hood.IntensiveLevel",
    ),
}
RUNNING = "Run"  # the OperationState member of a program under way


def fan_fields(
    program: Feature,
    level: Feature,
    boost: Feature | None,
    topics: dict[str, str],
) -> dict[str, Any] | None:
    """A fan of Home Assistant's MQTT fan: on/off starts and stops `program`, speeds are `level`'s stages.

    Speed n (1..stages) is `level`'s n-th member after its first (its off); Home
    Assistant renders percentage_command_template with n, its percentage
    scaled to speed_range_min..speed_range_max. `boost`'s stages are preset
    modes; its first member (off) resets the preset. `topics`: "run" (where
    OperationState is), "level", "boost", "set", "program" (where a program is started).
    """
    stages = members(level)[1:]
    if not stages:
        return None
    started = json.dumps({"program": program.name}, separators=(",", ":"))
    stopped = json.dumps({"program": "stop"}, separators=(",", ":"))
    config: dict[str, Any] = {
        "command_topic": topics["program"],
        "payload_on": started,
        "payload_off": stopped,
        "state_topic": topics["run"],
        "state_value_template": f'{{% if value == "{RUNNING}" %}}{started}{{% else %}}{stopped}{{% endif %}}',
        "percentage_command_topic": topics["set"],
        "percentage_command_template": (
            f'{{"uid":{level.uid},"value":"{{{{ {json.dumps(stages)}[(value | int(1)) - 1] }}}}"}}'
        ),
        "percentage_state_topic": topics["level"],
        # Any other member (off) is speed 0.
        "percentage_value_template": (
            f"{{% set speeds = {json.dumps({m: n for n, m in enumerate(stages, 1)})} %}}{{{{ speeds.get(value, 0) }}}}"
        ),
        "speed_range_min": 1,
        "speed_range_max": len(stages),
    }
    boosts = members(boost)[1:] if boost is not None else []
    if boost is not None and boosts and "boost" in topics:
        config.update(
            preset_modes=boosts,
            preset_mode_command_topic=topics["set"],
            preset_mode_command_template=_set_template(boost.uid, quoted=True),
            preset_mode_state_topic=topics["boost"],
            preset_mode_value_template=(
                f'{{% if value in {json.dumps(boosts)} %}}{{{{ value }}}}{{% else %}}None{{% endif %}}'
            ),
        )
    return config


_BUTTON = Recipe(_button, sends=True)
_STATE_SWITCH = Recipe(_switch, sends=True, stateful=True)
_VALUE_SWITCH = Recipe(_switch, sends=True, stateful=True, read_back=True)
_SELECT = Recipe(_select, sends=True, stateful=True, read_back=True)
_NUMBER = Recipe(_number, sends=True, stateful=True, read_back=True)
_SENSOR = Recipe(_sensor, read_back=True)
_BINARY_SENSOR = Recipe(_binary_sensor, read_back=True)

# Every component hcpy can build, by shape. What is not here it cannot build
# (a select of a boolean, a number of a text).
RECIPES: dict[tuple[str, Shape], Recipe] = {
    ("button", Shape.BOOLEAN): _BUTTON,
    ("switch", Shape.BOOLEAN): _STATE_SWITCH,
    ("switch", Shape.ON_OFF): _VALUE_SWITCH,
    **{("select", shape): _SELECT for shape in (Shape.ON_OFF, Shape.OPEN_CLOSED, Shape.ENUM)},
    ("number", Shape.NUMBER): _NUMBER,
    # A boolean asked to be a sensor shows True or False as text.
    ("sensor", Shape.BOOLEAN): Recipe(_plain_sensor, read_back=True),
    **{("sensor", shape): _SENSOR for shape in Shape if shape is not Shape.BOOLEAN},
    **{("binary_sensor", shape): _BINARY_SENSOR for shape in TWO_STATES},
}

# hcpy's own choice, by role and shape. A control without a row here, or
# whose recipe turns the feature down (a number without bounds), is shown
# as its READ row instead.
DEFAULTS: dict[tuple[Role, Shape], str] = {
    (Role.COMMAND, Shape.BOOLEAN): "button",
    (Role.WRITE, Shape.BOOLEAN): "switch",
    (Role.WRITE, Shape.ON_OFF): "switch",
    (Role.WRITE, Shape.OPEN_CLOSED): "select",
    (Role.WRITE, Shape.ENUM): "select",
    (Role.WRITE, Shape.NUMBER): "number",
    (Role.READ, Shape.BOOLEAN): "binary_sensor",
    **{(Role.READ, shape): "sensor" for shape in Shape if shape is not Shape.BOOLEAN},
}

# Every component hcpy (or hcpy2-0 before it) may have used for a feature.
COMPONENTS = ("binary_sensor", "sensor", "event", "switch", "button", "select", "number", "light", "fan")
# Those that send commands: a discovery.yaml may ask for them for a writable feature.
CONTROL_COMPONENTS = tuple(dict.fromkeys(component for (component, _), recipe in RECIPES.items() if recipe.sends))


def _bounds(limits: Limits) -> tuple[int | float, int | float] | None:
    # Integer widths by refDID are unproven (0x81 carries 25500), so a number
    # without bounds (its own, or its content type's) stays a sensor.
    low, high = _as_number(limits.min), _as_number(limits.max)
    if low is None or high is None or low > high:
        return None
    return low, high


def _step(limits: Limits) -> int | float:
    step = _as_number(limits.step)
    return step if step is not None and step > 0 else 1


def _as_number(value: Any) -> int | float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if number != number or number in (float("inf"), float("-inf")):
        return None
    return int(number) if number.is_integer() else number
