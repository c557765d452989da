"""The resources of the Home Connect protocol (PROTOCOL.md §3–§4), named once.

Each name starts with its service, the first path segment, whose advertised
version a request carries: RO_ACTIVE_PROGRAM is a resource, never a topic
(`hcpy.mqtt.topics.CommandTopic`) or a feature name (`model.ROOT_*`).
"""

EI_INITIAL_VALUES = "/ei/initialValues"
EI_DEVICE_READY = "/ei/deviceReady"
CI_SERVICES = "/ci/services"
CI_AUTHENTICATION = "/ci/authentication"
CI_INFO = "/ci/info"
IZ_INFO = "/iz/info"
NI_INFO = "/ni/info"
RO_ALL_MANDATORY_VALUES = "/ro/allMandatoryValues"
RO_ALL_DESCRIPTION_CHANGES = "/ro/allDescriptionChanges"
RO_VALUES = "/ro/values"
RO_DESCRIPTION_CHANGE = "/ro/descriptionChange"
RO_SELECTED_PROGRAM = "/ro/selectedProgram"
RO_ACTIVE_PROGRAM = "/ro/activeProgram"
