"""What hcpy knows of particular features and info keys beyond their descriptions. Pure data."""

from __future__ import annotations

from typing import Any

from ..mqtt.publishing import PROGRAM_END_KEY
from ..mqtt.topics import START_SELECTED_KEY

# Entities of no feature of their own: their unique_id suffixes.
SYNTHETIC_IDS = (START_SELECTED_KEY, PROGRAM_END_KEY)
WIFI_SIGNAL = "BSH.Common.Status.WiFiSignalStrength"
# About the link to the appliance rather than about the appliance.
DIAGNOSTIC = frozenset(
    {
        "BSH.Common.Status.WiFiSignalStrength",
        "BSH.Common.Status.BackendConnected",
        "BSH.Common.Setting.AllowBackendConnection",
        "BSH.Common.Status.CustomerServiceConnectionAllowed",
        "BSH.Common.Command.DeactivateWiFi",
        "BSH.Common.Command.ApplyNetworkReset",
    }
)
# One tap on these cuts the appliance off or wipes it: present, but off until
# the user enables them.
DISABLED_BY_DEFAULT = frozenset(
    {
        "BSH.Common.Command.DeactivateWiFi",
        "BSH.Common.Command.ApplyNetworkReset",
        "BSH.Common.Command.ApplyFactoryReset",
        "BSH.Common.Command.DepairCustomerEnergyManager",
        "BSH.Common.Command.MainsPowerOff",  # nothing switches it back on remotely
        "ConsumerProducts.CoffeeMaker.Command.DeleteAllProfiles",
    }
)

# Network facts from /ni/info that hcpy2-0 offered as diagnostic sensors
# (same unique_ids: <appliance>_ipv4 …).
INFO_SENSORS: dict[str, dict[str, Any]] = {
    "ipV4": {"name": "IPv4 address", "value_template": "{{ value_json.ipAddress }}"},
    "ipV6": {"name": "IPv6 address", "value_template": "{{ value_json.ipAddress }}"},
    "rssi": {
        "name": "Wi-Fi signal",
        "unit_of_measurement": "dBm",
        "device_class": "signal_strength",
        "state_class": "measurement",
    },
    "euiAddress": {"name": "EUI address"},
}
