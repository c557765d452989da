"""Per-run consumption: each program an appliance runs, with its energy and water.

A run starts when the appliance reports a program running and ends when it
finishes, is aborted or the appliance is switched off (`detector`). Energy
and water come from meters the user names per appliance (`config`): an MQTT
topic hc2mqtt already reads (`meters.MqttMeters`) or an HTTP JSON endpoint
polled at the start and the end of the run (`meters.read_http`), and from the
appliance's own forecasts. `record` builds the run record, and `store` keeps
the run under way, the totals and the history beside devices.json.

On MQTT (`hcpy.mqtt.run_topics`: the topics; `hcpy.mqtt.run_recorder`: the
glue for one appliance) and in Home Assistant (`hcpy.homeassistant.run_entities`)
are the layers above.

Pure: `detector`, `config`, `readings`, `record`. The package exports
nothing itself, so that importing a pure module loads no I/O.

May import: `hcpy.appliance` and the shared foundations.
"""
