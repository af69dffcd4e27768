"""The demo's client companies: who they are, what their customers talk about, and how much."""

from __future__ import annotations

from tenants.demo.listening import ListeningSeed
from tenants.demo.mentions import Company

# What each client's customers talk about, and how much: Acme (the IT company whose outage the demo
# replays) has three months of history, the others a month. About 6,000 mentions in all, which the
# worker enriches within a few minutes of `make run` (the dashboards fill up as it goes).
LISTENING = {
    "acme": ListeningSeed(
        Company(
            name="Acme Cloud",
            handle="acmecloud",
            products=("Acme Compute", "Acme Storage", "Acme Console"),
            competitors=("Nimbus Hosting", "Stratus Cloud"),
            status_url="https://status.acme.example",
        ),
        days=90,
        per_day=50,
    ),
    "globex": ListeningSeed(
        Company(
            name="Globex Software",
            handle="globexdev",
            products=("Globex CI", "Globex IDE"),
            competitors=("Hooli Build", "Vandelay Code"),
            status_url="https://status.globex.example",
        ),
        days=30,
        per_day=25,
    ),
    "initech": ListeningSeed(
        Company(
            name="Initech Security",
            handle="initechsec",
            products=("Initech Shield", "Initech SOC"),
            competitors=("Umbrella Secure", "Cyberdyne Defense"),
            status_url="https://status.initech.example",
        ),
        days=30,
        per_day=25,
    ),
}
