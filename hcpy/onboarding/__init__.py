"""Getting each appliance's key and profile into devices.json.

Owns: the cloud login and downloads, one idea a module: the OAuth client
and its PKCE challenge (`oauth`), where each region's cloud lives
(`regions`), one login attempt between URL and pasted code
(`pending_login`), the HTTP calls (`client`), the paired appliances and their
keys (`paired`), the whole fetch (`download`) and the profile zips kept for
later (`profile_zips`); reading what users paste from the browser (`pasted`)
and the region the access token names (`token_claims`); and the import of
profile zips and XML files (`importer`). `hcpy.app.login_cli` (hc-login)
drives them.

May import: `hcpy.appliance` and the shared foundations.
"""
