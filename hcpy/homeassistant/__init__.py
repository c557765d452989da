"""Home Assistant's MQTT discovery: the entities each appliance and its runs get.

Owns: the envelope every entity config shares (`entity`), the device block
(`device`), readable names (`labels`), which component a feature becomes
(`components`: tables), what hcpy knows of particular features
(`catalogue`), each feature's entities (`entities`), the configs of one
appliance and the removal of stale ones (`discovery`), its runs' entities
(`run_entities`), the user's hcpy2-0
discovery.yaml (`discovery_file`), and what the bridge is handed to
announce them (`announcer.HomeAssistant`, a `hcpy.mqtt.discovery_port.DiscoveryPort`).

Pure apart from reading discovery.yaml. May import: `hcpy.appliance`,
`hcpy.mqtt` (topics, naming, outgoing messages), `hcpy.runs` and the shared
foundations; never `hcpy.app` or `hcpy.web`.
"""

# Where hcpy2-0's discovery.yaml lives unless discovery_file says otherwise.
# Here, not in `discovery_file`: hc2mqtt's option defaults name it, and a run
# without discovery loads nothing else of this package.
DISCOVERY_FILE = "config/discovery.yaml"
