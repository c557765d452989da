"""hc-login: get every appliance's key and profile into devices.json.

`python hc_login.py login|import|scan …` (or the older `python hc_login.py
[--import PATH…|--scan]`); the command itself is hcpy.app.login_cli.
"""

from hcpy.app.login_cli import main

if __name__ == "__main__":
    main()
