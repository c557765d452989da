"""The resources of the Home Connect protocol (PROTOCOL.md §3–§4), named once.

The first path segment is the service whose advertised version a request
carries.
"""

INITIAL_VALUES = "/ei/initialValues"
DEVICE_READY = "/ei/deviceReady"
SERVICES = "/ci/services"
CI_AUTHENTICATION = "/ci/authentication"
CI_INFO = "/ci/info"
IZ_INFO = "/iz/info"
NI_INFO = "/ni/info"
ALL_MANDATORY_VALUES = "/ro/allMandatoryValues"
ALL_DESCRIPTION_CHANGES = "/ro/allDescriptionChanges"
VALUES = "/ro/values"
DESCRIPTION_CHANGE = "/ro/descriptionChange"
SELECTED_PROGRAM = "/ro/selectedProgram"
ACTIVE_PROGRAM = "/ro/activeProgram"
