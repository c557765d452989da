"""Well-known features: what a profile from an older hc-login leaves out.

A devices.json written by an older hc-login (hcpy2-0's, osresearch's) names
some features without any of their XML attributes: no refCID, no access, no
bounds. Such a feature decodes, but shows in Home Assistant as a unitless
read-only sensor. For the features every appliance of a kind shares, the
public Home Connect API documentation says what the values are; `complete`
fills in those facts, and only where the profile says nothing, so that an
old file gets the entities a new one would.

Sources (facts only):
- [P] https://api-docs.home-connect.com/programs-and-options : option keys,
  value types (Int/Double/Boolean/Enumeration) and units (seconds, percent,
  °C).
- [S] https://api-docs.home-connect.com/states : status keys and types.
- [T] https://api-docs.home-connect.com/settings : setting keys and types.
- [E] Enumeration members, name and wire number: the union of the real
  FeatureMappings in hcpy/simulator/profiles, which never disagree on a
  number. The public API speaks in key strings and gives no numbers.

The content types are the local protocol's (PROTOCOL.md §5) for the API's
unit: seconds -> timeSpan, percent -> percent, °C -> temperatureCelsius. The
public API gives temperatures in °C or °F by the appliance's unit setting;
°C is the default it documents. Access is the API's: writable where it
documents the key as one a client sets (a delayed start, a setpoint, the
power state), read otherwise. A model may be stricter (one washer's profile
makes its PowerState read-only); the appliance then refuses the write, as
it refuses any other. Bounds and steps differ from model to model (a
Duration's range is per program), so the table leaves them to the profile,
except those the documented unit fixes (a percentage: 0-100).

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .model import CID_BOOLEAN, CID_ENUMERATION, CID_PERCENT, CID_TIME_SPAN, Access, EnumType, Feature, Profile

CID_CELSIUS = 0x07


@dataclass(frozen=True)
class KnownFeature:
    content_type: int  # refCID the API's value type and unit amount to
    access: Access = Access.READ
    min: int | None = None
    max: int | None = None
    members: Mapping[int, str] = field(default_factory=dict)  # enumerations: wire value -> name


_SECONDS = KnownFeature(CID_TIME_SPAN)  # [P] Int, seconds
_SET_SECONDS = KnownFeature(CID_TIME_SPAN, Access.READ_WRITE)  # [P] Int, seconds, set by a client
_PERCENT = KnownFeature(CID_PERCENT, min=0, max=100)  # [P] Int, percent
_CELSIUS = KnownFeature(CID_CELSIUS)  # [P]/[S] Int or Double, °C
_SET_CELSIUS = KnownFeature(CID_CELSIUS, Access.READ_WRITE)  # [P]/[T] Int or Double, °C, set by a client
_BOOLEAN = KnownFeature(CID_BOOLEAN)  # [S]/[P] Boolean
_SET_BOOLEAN = KnownFeature(CID_BOOLEAN, Access.READ_WRITE)  # [T]/[P] Boolean, set by a client

KNOWN_FEATURES: dict[str, KnownFeature] = {
    # Options of a running program [P].
    "BSH.Common.Option.RemainingProgramTime": _SECONDS,
    "BSH.Common.Option.ElapsedProgramTime": _SECONDS,
    "BSH.Common.Option.Duration": _SET_SECONDS,
    "BSH.Common.Option.StartInRelative": _SET_SECONDS,
    "BSH.Common.Option.FinishInRelative": _SET_SECONDS,
    "BSH.Common.Option.EstimatedTotalProgramTime": _SECONDS,
    "BSH.Common.Option.ProgramProgress": _PERCENT,
    "BSH.Common.Option.EnergyForecast": _PERCENT,
    "BSH.Common.Option.WaterForecast": _PERCENT,
    "BSH.Common.Option.RemainingProgramTimeIsEstimated": _BOOLEAN,
    # Statuses [S].
    "BSH.Common.Status.RemoteControlActive": _BOOLEAN,
    "BSH.Common.Status.RemoteControlStartAllowed": _BOOLEAN,
    "BSH.Common.Status.LocalControlActive": _BOOLEAN,
    "BSH.Common.Status.DoorState": KnownFeature(
        CID_ENUMERATION, members={0: "Open", 1: "Closed", 2: "Locked", 3: "Ajar"}  # [E]
    ),
    "BSH.Common.Status.OperationState": KnownFeature(
        CID_ENUMERATION,
        members={  # [E]
            0: "Inactive", 1: "Ready", 2: "DelayedStart", 3: "Run", 4: "Pause",
            5: "ActionRequired", 6: "Finished", 7: "Error", 8: "Aborting",
        },
    ),  # fmt: skip
    # Settings [T].
    "BSH.Common.Setting.PowerState": KnownFeature(
        CID_ENUMERATION, Access.READ_WRITE, members={0: "MainsOff", 1: "Off", 2: "On", 3: "Standby"}  # [E]
    ),
    "BSH.Common.Setting.ChildLock": _SET_BOOLEAN,
    # Temperatures: ovens [P]/[S], fridges and freezers [T].
    "Cooking.Oven.Option.SetpointTemperature": _SET_CELSIUS,
    "Cooking.Oven.Status.CurrentCavityTemperature": _CELSIUS,
    "Cooking.Oven.Option.FastPreHeat": _SET_BOOLEAN,
    "Refrigeration.FridgeFreezer.Setting.SetpointTemperatureRefrigerator": _SET_CELSIUS,
    "Refrigeration.FridgeFreezer.Setting.SetpointTemperatureFreezer": _SET_CELSIUS,
    "Refrigeration.Common.Setting.Refrigerator.SetpointTemperature": _SET_CELSIUS,
    "Refrigeration.Common.Setting.Freezer.SetpointTemperature": _SET_CELSIUS,
    "Refrigeration.Common.Setting.ChillerLeft.SetpointTemperature": _SET_CELSIUS,
    "Refrigeration.Common.Setting.ChillerRight.SetpointTemperature": _SET_CELSIUS,
    "Refrigeration.Common.Setting.ChillerCommon.SetpointTemperature": _SET_CELSIUS,
    "Refrigeration.Common.Setting.WineCompartment.SetpointTemperature": _SET_CELSIUS,
    "Refrigeration.Common.Setting.WineCompartment2.SetpointTemperature": _SET_CELSIUS,
    "Refrigeration.Common.Setting.WineCompartment3.SetpointTemperature": _SET_CELSIUS,
    "Refrigeration.FridgeFreezer.Setting.SuperModeRefrigerator": _SET_BOOLEAN,
    "Refrigeration.FridgeFreezer.Setting.SuperModeFreezer": _SET_BOOLEAN,
    "Refrigeration.Common.Setting.BottleCooler.SetpointTemperature": _SET_CELSIUS,
    "Refrigeration.Common.Setting.EcoMode": _SET_BOOLEAN,
    "Refrigeration.Common.Setting.VacationMode": _SET_BOOLEAN,
    # Dishwasher options a client sets before the start [P].
    "Dishcare.Dishwasher.Option.IntensivZone": _SET_BOOLEAN,
    "Dishcare.Dishwasher.Option.VarioSpeedPlus": _SET_BOOLEAN,
    "Dishcare.Dishwasher.Option.BrillianceDry": _SET_BOOLEAN,
    "Dishcare.Dishwasher.Option.HalfLoad": _SET_BOOLEAN,
    "Dishcare.Dishwasher.Option.ExtraDry": _SET_BOOLEAN,
    "Dishcare.Dishwasher.Option.HygienePlus": _SET_BOOLEAN,
    "Dishcare.Dishwasher.Option.SilenceOnDemand": _SET_BOOLEAN,
    # Hoods and ovens [T]: the light, and the kitchen timer.
    "Cooking.Common.Setting.Lighting": _SET_BOOLEAN,
    "Cooking.Common.Setting.LightingBrightness": KnownFeature(CID_PERCENT, Access.READ_WRITE, min=0, max=100),
    "BSH.Common.Setting.AlarmClock": _SET_SECONDS,
    # Battery-powered appliances [S]: Double, percent.
    "BSH.Common.Status.BatteryLevel": _PERCENT,
}

# The attributes whose absence marks a feature untyped: a profile that gives
# any of them has said what the feature is, and the table stays out.
_TYPE_ATTRIBUTES = ("refCID", "refDID", "enumerationType")


def untyped(feature: Feature) -> bool:
    return feature.content_type is None and feature.data_type is None and not any(
        key in feature.attributes for key in _TYPE_ATTRIBUTES
    )


def complete(profile: Profile) -> list[str]:
    """Fill in what the table knows of `profile`'s untyped features; their names.

    Only fields the profile leaves empty are set: the enumeration where it
    lists no names, access and bounds it does not give. Features the profile types are
    left exactly as they are.
    """
    completed: list[str] = []
    for feature in profile.features.values():
        known = KNOWN_FEATURES.get(feature.name)
        if known is None or not untyped(feature):
            continue
        feature.content_type = known.content_type
        if feature.enum is None and known.members:
            feature.enum = EnumType(0, dict(known.members))
        limits = feature.limits
        if "access" not in feature.attributes:
            limits.access = known.access
        if limits.min is None and "min" not in feature.attributes:
            limits.min = known.min
        if limits.max is None and "max" not in feature.attributes:
            limits.max = known.max
        completed.append(feature.name)
    return completed
