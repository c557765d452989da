"""Getting each appliance's key and profile into devices.json.

Owns: the cloud login and downloads (`cloud`), reading what users paste
from the browser (`pasted`) and the region the access token names
(`token_claims`), and the import of profile zips and XML files
(`importer`); `hcpy.app.login_cli` (hc-login) drives them.

May import: `hcpy.appliance` and the shared foundations.
"""
