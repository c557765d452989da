"""Getting each appliance's key and profile into devices.json.

Owns: the cloud login and downloads (`cloud`) and the import of profile zips
and XML files (`importer`); `hc_login.py` drives both.

May import: `hcpy.appliance` and the shared foundations.
"""
