"""paho-mqtt's client module, loaded without what hcpy never asks of it.

paho.mqtt.client imports urllib.request at the top, for one thing: reading
an ``mqtt_proxy`` environment variable when PySocks is installed. That
import brings http.client, email and their kin, 3.8 MB of a daemon whose
whole budget for one appliance is 26 MB. So, before paho is loaded,
urllib.request is put in place as a stand-in that imports the real module
the first time anything is read from it and from then on is that module:
paho's proxy support (and anyone else's use of urllib.request) works as
before, and a run that never needs it never loads it. The same for hashlib,
which paho needs only for MQTT over websockets and which loads OpenSSL's
digests (0.5 MB).

(importlib.util.LazyLoader does not do here: an import statement reads the
module's __spec__, which makes it load at once.)

The daemon's modules take paho's client from here, never directly, so that
the first import of paho in the process finds the stand-in.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types
import urllib
from typing import Any


class _OnFirstUse(types.ModuleType):
    """Stands in for a module not imported yet; the first attribute read imports it."""

    _lock = threading.Lock()

    def __getattr__(self, attr: str) -> Any:  # only called for what the stand-in lacks
        with _OnFirstUse._lock:
            if sys.modules.get(self.__name__) is self:
                del sys.modules[self.__name__]
                real = importlib.import_module(self.__name__)  # sets the package's attribute to it too
                self.__dict__.update(real.__dict__)  # for whoever kept the stand-in itself
        return object.__getattribute__(self, attr)


def _defer(name: str) -> None:
    """Put a stand-in for module `name` in place, unless it is imported already."""
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None:
        return
    module = _OnFirstUse(name)
    module.__spec__ = spec  # what an import statement checks, so that it does not load it
    sys.modules[name] = module
    if name.startswith("urllib."):
        setattr(urllib, name.rpartition(".")[2], module)


_defer("urllib.request")
_defer("hashlib")

import paho.mqtt.client as paho  # noqa: E402 - after the stand-in is in place
from paho.mqtt.client import topic_matches_sub  # noqa: E402

__all__ = ["paho", "topic_matches_sub"]
