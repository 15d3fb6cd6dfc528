"""The peers `make bench` measures Switchboard against: Open WebUI and a Chainlit app on the Agents SDK.

Each peer lives in its own virtualenv under bench/.peers/ (`bench.peers.install`), never in the project's.
"""
